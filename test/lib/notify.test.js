"use strict";
// The notify engine against real SMTP and Telegram stand-ins on 127.0.0.1.
const assert = require("node:assert/strict");
const net = require("node:net");
const {
  Notifier, ManualClock, sendTest, humanDuration, humanSize, escapeHtml, escapeMarkdownV2, renderTemplate,
  parseInput, renderSingle, shortText,
} = require("../../dist/lib/notify");
const { startSmtp } = require("../fixtures/smtp");
const { startTelegram } = require("../fixtures/telegram");

const TOKEN = "123456789:AAHsecretTokenValue-0123456789abcdef";
const ODD_TOKEN = "not-a-standard-token-s3cr3t";
const PASSWORD = "sm7p-Pa55w0rd!";

function result(job, status, extra = {}) {
  return {
    topic: job,
    payload: {
      job, jobId: `id-${job}`, runId: `run-${Math.random().toString(36).slice(2, 8)}`, engine: "rsync", command: "backup",
      status, ok: status === "success", startedAt: 1000, finishedAt: 124000, durationMs: 123000, exitCode: status === "failed" ? 23 : 0,
      filesTotal: 1200, filesChanged: 34, bytesTotal: 1.2e9, bytesTransferred: 35e6, snapshotId: null,
      error: status === "failed" ? "rsync: some files could not be transferred" : null,
      ...extra,
    },
  };
}

async function closedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function sendMessages(tg) {
  return tg.requests.filter((r) => r.method === "sendMessage");
}

/** Bounded wait for a condition that an async delivery makes true. */
async function until(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms: ${cond}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function countsIn(text) {
  return [...text.matchAll(/×(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

describe("notify engine: formatting", function () {
  it("writes durations and sizes for people", () => {
    assert.equal(humanDuration(123000), "2m 3s");
    assert.equal(humanDuration(450), "450 ms");
    assert.equal(humanDuration(3400), "3.4s");
    assert.equal(humanDuration(3 * 3600e3 + 5 * 60e3), "3h 5m");
    assert.equal(humanDuration(26 * 3600e3), "1d 2h");
    assert.equal(humanSize(1.2e9), "1.2 GB");
    assert.equal(humanSize(512), "512 B");
    assert.equal(humanSize(350e6), "350 MB");
  });

  it("escapes for Telegram HTML and MarkdownV2", () => {
    assert.equal(escapeHtml("a<b> & c"), "a&lt;b&gt; &amp; c");
    assert.equal(escapeMarkdownV2("a_b*c[d](e)~f`g>h#i+j-k=l|m{n}o.p!q\\r"),
      "a\\_b\\*c\\[d\\]\\(e\\)\\~f\\`g\\>h\\#i\\+j\\-k\\=l\\|m\\{n\\}o\\.p\\!q\\\\r");
  });

  it("fills placeholders by plain lookup, drops lines left empty, keeps unknown names", () => {
    const out = renderTemplate("{{job}} {{ status }}\nError: {{error}}\n{{nope}} {{constructor}}\nx={{__proto__}}",
      { job: { text: "a<b" }, status: { text: "failed" }, error: { text: "" } }, escapeHtml);
    assert.equal(out, "a&lt;b failed\n{{nope}} {{constructor}}\nx={{__proto__}}");
  });

  it("reads run results and delay notices; refuses what is not one", () => {
    const r = parseInput(result("photos", "failed"), 5);
    assert.equal(r.ok, true);
    assert.equal(r.event.job, "photos");
    assert.equal(r.event.error, "rsync: some files could not be transferred");
    const d = parseInput({ payload: { job: "media", jobId: "j2", status: "delayed", waitedMs: 600000, blockedBy: ["photos"] } }, 5);
    assert.equal(d.event.outcome, "delayed");
    assert.equal(d.event.reason, "photos");
    assert.equal(parseInput({ payload: "hello" }, 0).ok, false);
    assert.equal(parseInput({ payload: { job: "x", status: "running" } }, 0).ignored, true);
    assert.match(parseInput({ payload: { status: "failed" } }, 0).error, /names no job/);
  });

  it("renders job, outcome, duration, size, error, bounded log tail and log link", () => {
    const msg = result("photos", "failed");
    msg.run = { logTail: Array.from({ length: 50 }, (_, i) => `line ${i + 1}\x1b[31m red\x1b[0m`), logUrl: "#highball/runs/r1" };
    const { event } = parseInput(msg, 0);
    const r = renderSingle(event, { templates: {}, parseMode: "HTML", logLines: 5, host: "nr", redact: (s) => s });
    assert.equal(r.subject, "[Highball] ✖ photos failed");
    assert.match(r.body, /Error: rsync: some files could not be transferred/);
    assert.match(r.body, /Duration: 2m 3s/);
    assert.match(r.body, /Size: 1.2 GB/);
    assert.match(r.body, /Last 5 lines of the log:\n {2}line 46 red\n/);
    assert.doesNotMatch(r.body, /line 45\b/);
    assert.match(r.body, /Full log: #highball\/runs\/r1/);
    assert.match(r.telegram.text, /<pre>line 46 red\n[^]*line 50 red<\/pre>/);
    assert.equal(shortText(parseInput(result("photos", "success"), 0).event), "✔ photos: success in 2m 3s, 1.2 GB");
  });

  it("keeps a Telegram text under 4096 characters by quoting less of the log", () => {
    const msg = result("photos", "failed");
    msg.run = { logTail: Array.from({ length: 200 }, () => "x".repeat(290)) };
    const { event } = parseInput(msg, 0);
    const r = renderSingle(event, { templates: {}, parseMode: "MarkdownV2", logLines: 200, host: "nr", redact: (s) => s });
    assert.ok(r.telegram.text.length <= 4096, `length ${r.telegram.text.length}`);
    assert.equal(r.telegram.parseMode, "MarkdownV2");
    assert.match(r.telegram.text, /```\nx+/);
  });
});

describe("notify engine: Telegram", function () {
  let tg;
  before(async () => { tg = await startTelegram(); });
  after(async () => { await tg.stop(); });
  afterEach(() => { tg.respond(null); tg.requests.length = 0; });

  function notifier(extra = {}, opts = {}) {
    const { telegram, retry, ...rest } = extra;
    return new Notifier({
      telegram: { token: TOKEN, chatId: "4711", apiRoot: tg.apiRoot, ...telegram },
      retry: { baseMs: 20, ...retry },
      host: "nr-test",
      ...rest,
    }, opts);
  }

  it("posts a failure to /bot<token>/sendMessage with the chat, HTML and escaped text", async () => {
    const n = notifier();
    const r = await n.submit(result("a<b & c>", "failed"));
    await n.close();
    assert.equal(r.state, "sent");
    assert.deepEqual(r.delivery.channels, ["telegram"]);
    const [req] = sendMessages(tg);
    assert.equal(req.path, `/bot${TOKEN}/sendMessage`);
    assert.equal(req.body.chat_id, 4711);
    assert.equal(req.body.parse_mode, "HTML");
    assert.match(req.body.text, /^✖ <b>a&lt;b &amp; c&gt;<\/b> failed\n<b>Error:<\/b> rsync: some files could not be transferred\n/);
    assert.match(req.body.text, /Duration: 2m 3s/);
    assert.equal(r.delivery.notification.short, "✖ a<b & c>: failed after 2m 3s: rsync: some files could not be transferred");
  });

  it("escapes every MarkdownV2 special character in values", async () => {
    const n = notifier({ telegram: { parseMode: "MarkdownV2" } });
    await n.submit(result("my_job.v2 (nas-1)!", "failed", { error: "exit [23] *partial* = bad." }));
    await n.close();
    const [req] = sendMessages(tg);
    assert.equal(req.body.parse_mode, "MarkdownV2");
    assert.match(req.body.text, /^✖ \*my\\_job\\\.v2 \\\(nas\\-1\\\)\\!\* failed\n\*Error:\* exit \\\[23\\\] \\\*partial\\\* \\= bad\\\.\n/);
  });

  it("waits for retry_after on 429, then retries and succeeds", async () => {
    let calls = 0;
    tg.respond(() => (++calls === 1
      ? { status: 429, body: { ok: false, error_code: 429, description: "Too Many Requests: retry after 1", parameters: { retry_after: 1 } } }
      : undefined));
    const n = notifier();
    const t0 = Date.now();
    const r = await n.submit(result("photos", "failed"));
    const waited = Date.now() - t0;
    await n.close();
    assert.equal(r.state, "sent");
    assert.equal(sendMessages(tg).length, 2);
    assert.ok(waited >= 950, `retried after ${waited} ms, before retry_after`);
  });

  it("reports 400 chat not found without retrying, with no token in the sentence", async () => {
    tg.respond(() => ({ status: 400, body: { ok: false, error_code: 400, description: "Bad Request: chat not found" } }));
    const n = notifier();
    const failures = [];
    n.on("failure", (f) => failures.push(f));
    const r = await n.submit(result("photos", "failed"));
    await n.close();
    assert.equal(r.state, "failed");
    assert.equal(sendMessages(tg).length, 1);
    assert.equal(r.error, "Telegram could not deliver to chat 4711: Bad Request: chat not found.");
    assert.equal(failures.length, 1);
    assert.equal(failures[0].awaited, true);
  });

  it("reports a rejected token (401) once, without the token", async () => {
    tg.respond(() => ({ status: 401, body: { ok: false, error_code: 401, description: "Unauthorized" } }));
    const n = notifier();
    const r = await n.submit(result("photos", "failed"));
    await n.close();
    assert.equal(sendMessages(tg).length, 1);
    assert.match(r.error, /rejected the bot token \(401 Unauthorized\)/);
    assert.ok(!r.error.includes(TOKEN));
  });

  it("retries an unreachable API with backoff, then gives up with a sentence free of the token", async () => {
    const port = await closedPort();
    for (const token of [TOKEN, ODD_TOKEN]) {
      const n = new Notifier({ telegram: { token, chatId: 1, apiRoot: `http://127.0.0.1:${port}` }, retry: { attempts: 3, baseMs: 10 } });
      const r = await n.submit(result("photos", "failed"));
      await n.close();
      assert.equal(r.state, "failed");
      assert.equal(r.error, `Could not reach the Telegram API at http://127.0.0.1:${port} (ECONNREFUSED). Gave up after 3 attempts.`);
      assert.ok(!r.error.includes(token));
    }
  });

  it("never quotes the request URL (and token) when the API answers something that is not JSON", async () => {
    tg.respond(() => ({ status: 200, body: "<html>captive portal</html>" }));
    const n = new Notifier({ telegram: { token: ODD_TOKEN, chatId: 1, apiRoot: tg.apiRoot }, retry: { attempts: 2, baseMs: 10 } });
    const r = await n.submit(result("photos", "failed"));
    await n.close();
    assert.equal(r.state, "failed");
    assert.equal(sendMessages(tg).length, 2);
    assert.ok(!r.error.includes(ODD_TOKEN), r.error);
    assert.match(r.error, /The Telegram API at http:\/\/127\.0\.0\.1:\d+ answered/);
  });

  it("resends as plain text when Telegram cannot parse a template's markup", async () => {
    tg.respond((req) => (req.body.parse_mode
      ? { status: 400, body: { ok: false, error_code: 400, description: "Bad Request: can't parse entities: Can't find end tag corresponding to start tag b" } }
      : undefined));
    const n = notifier({ templates: { telegram: "<b>{{job}} {{status}}" } });
    const r = await n.submit(result("photos", "failed"));
    await n.close();
    assert.equal(r.state, "sent");
    const reqs = sendMessages(tg);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].body.text, "<b>photos failed");
    assert.equal(reqs[1].body.parse_mode, undefined);
    assert.match(reqs[1].body.text, /^✖ photos failed\n\nError: rsync: some files could not be transferred\n/);
  });

  it("does not notify successes or cancellations by default", async () => {
    const clock = new ManualClock(0);
    const n = notifier({}, { clock });
    assert.equal((await n.submit(result("photos", "success"))).state, "ignored");
    assert.equal((await n.submit(result("photos", "cancelled"))).state, "ignored");
    clock.advance(120000);
    await n.flush();
    assert.equal(sendMessages(tg).length, 0);
    assert.equal((await n.submit(result("photos", "interrupted"))).state, "sent");
    assert.equal((await n.submit({ payload: { job: "media", jobId: "m", status: "delayed", waitedMs: 900000 } })).state, "sent");
    await n.close();
    const texts = sendMessages(tg).map((r) => r.body.text);
    assert.match(texts[0], /^⚡ <b>photos<\/b> was interrupted/);
    assert.match(texts[1], /^⏳ <b>media<\/b> is delayed\nWaited: 15m/);
  });

  it("batches a storm of 100 identical failures into two messages that keep the count", async () => {
    const clock = new ManualClock(0);
    const n = notifier({}, { clock });
    const results = [];
    for (let i = 0; i < 100; i++) {
      results.push(n.submit(result("photos", "failed", { error: `rsync error 23 at pid ${10000 + i}` })));
      clock.advance(100);
    }
    const settled = await Promise.all(results);
    assert.equal(settled.filter((r) => r.state === "sent").length, 1);
    assert.equal(settled.filter((r) => r.state === "held").length, 99);
    assert.equal(n.heldCount, 99);
    clock.advance(60000);
    await tg.waitForRequests(2, 5000);
    await n.close();
    const texts = sendMessages(tg).map((r) => r.body.text);
    assert.equal(texts.length, 2);
    assert.match(texts[1], /<b>photos<\/b> failed ×99: rsync error 23 at pid \d+/);
    assert.equal(1 + countsIn(texts[1]), 100);
  });

  it("batches a storm of 100 failures of many kinds into a few messages with each count", async () => {
    const clock = new ManualClock(0);
    const n = notifier({ burst: 3 }, { clock });
    const sent = [];
    n.on("sent", (d) => sent.push(d));
    const jobs = ["photos", "docs", "music", "mail", "vm"];
    const pending = [];
    for (let i = 0; i < 100; i++) pending.push(n.submit(result(jobs[i % 5], "failed", { error: i % 2 ? "disk full" : "host unreachable" })));
    await Promise.all(pending);
    clock.advance(60000);
    await tg.waitForRequests(4, 5000);
    await n.close();
    const texts = sendMessages(tg).map((r) => r.body.text);
    assert.equal(texts.length, 4, texts.join("\n---\n"));
    const digest = texts[3];
    assert.match(digest, /^<b>Highball: 97 notifications in the last 1m<\/b>/);
    assert.equal(3 + countsIn(digest), 100);
    assert.match(digest, /<b>photos<\/b> failed ×\d+: host unreachable/);
    const last = sent.at(-1).notification;
    assert.equal(last.kind, "digest");
    assert.equal(last.count, 97);
    assert.equal(last.groups.length, 10);
  });

  it("holds successes for one window and sends them together", async () => {
    const clock = new ManualClock(0);
    const n = notifier({ policy: { onSuccess: true } }, { clock });
    for (const job of ["photos", "docs", "photos"]) assert.equal((await n.submit(result(job, "success"))).state, "held");
    clock.advance(59999);
    assert.equal(sendMessages(tg).length, 0);
    clock.advance(1);
    await tg.waitForRequests(1, 5000);
    assert.match(sendMessages(tg)[0].body.text, /✔ <b>photos<\/b> success ×2\n✔ <b>docs<\/b> success ×1/);
    // A lone success goes out as a plain message, one window late.
    await n.submit(result("music", "success"));
    clock.advance(60000);
    await tg.waitForRequests(2, 5000);
    await n.close();
    assert.match(sendMessages(tg)[1].body.text, /^✔ <b>music<\/b> succeeded\nDuration: 2m 3s\nSize: 1.2 GB/);
  });

  it("sends everything at once when the window is 0", async () => {
    const n = notifier({ windowMs: 0 });
    const rs = await Promise.all([1, 2, 3].map(() => n.submit(result("photos", "failed"))));
    await n.close();
    assert.deepEqual(rs.map((r) => r.state), ["sent", "sent", "sent"]);
    assert.equal(sendMessages(tg).length, 3);
  });

  it("alerts once per period when a job has had no successful backup for too long", async () => {
    const clock = new ManualClock(0);
    const hour = 3600e3;
    const n = notifier({ staleMs: hour }, { clock });
    const alerts = [];
    n.on("sent", (d) => { if (d.notification.outcome === "stale") alerts.push(d.notification); });
    await n.submit(result("photos", "success")); // not notified (policy), but tracked
    await n.submit(result("docs", "failed"));
    clock.advance(30 * 60e3);
    assert.equal(alerts.length, 0);
    await n.submit(result("docs", "success"));
    clock.advance(31 * 60e3); // photos is 61 minutes without success, docs 31
    await until(() => alerts.length >= 1);
    assert.deepEqual(alerts.map((a) => a.job), ["photos"]);
    assert.match(alerts[0].short, /^⏰ photos: stale, no successful backup for 1h( 0m)?/);
    const text = sendMessages(tg)[1].body.text;
    assert.match(text, /^⏰ <b>photos<\/b> has no successful backup for 1h/);
    clock.advance(30 * 60e3); // docs stale now; photos was alerted 30 min ago: not again
    await until(() => alerts.length >= 2);
    assert.deepEqual(alerts.map((a) => a.job), ["photos", "docs"]);
    clock.advance(31 * 60e3); // a full period since photos' alert: once more
    await until(() => alerts.length >= 3);
    await n.close();
    assert.deepEqual(alerts.map((a) => a.job), ["photos", "docs", "photos"]);
    const state = n.staleEntries().find((e) => e.jobId === "id-photos");
    assert.equal(state.lastSuccessAt, 0);
  });

  it("restores staleness state, and forgets a job on request", async () => {
    const clock = new ManualClock(10 * 3600e3);
    const n = notifier({ staleMs: 3600e3 }, { clock });
    n.seedStale([{ jobId: "j1", job: "photos", firstSeenAt: 0, lastSuccessAt: 8 * 3600e3 }, { jobId: "j2", job: "docs", firstSeenAt: 0 }, { bogus: true }]);
    assert.equal(n.forget("j2"), true);
    const sent = [];
    n.on("sent", (d) => sent.push(d.notification));
    n.checkStale();
    await until(() => sent.length === 1);
    await n.close();
    assert.equal(sent[0].job, "photos");
    assert.equal(sent[0].short, "⏰ photos: stale, no successful backup for 2h");
    assert.deepEqual(n.staleEntries().map((e) => e.jobId), ["j1"]);
  });

  it("sends a test message and says what failed", async () => {
    const ok = await sendTest({ name: "alerts", telegram: { token: TOKEN, chatId: "@ops", apiRoot: tg.apiRoot }, host: "nr" });
    assert.deepEqual(ok, { ok: true, results: [{ channel: "telegram", ok: true }] });
    const req = sendMessages(tg)[0];
    assert.equal(req.body.chat_id, "@ops");
    assert.match(req.body.text, /Highball test message<\/b>\nFrom the Highball notify node "alerts" on nr/);
    tg.respond(() => ({ status: 400, body: { ok: false, error_code: 400, description: "Bad Request: chat not found" } }));
    const bad = await sendTest({ telegram: { token: TOKEN, chatId: "@ops", apiRoot: tg.apiRoot } });
    assert.equal(bad.ok, false);
    assert.equal(bad.error, "Telegram could not deliver to chat @ops: Bad Request: chat not found.");
    const none = await sendTest({ telegram: { token: "", chatId: "5" } });
    assert.deepEqual(none, { ok: false, results: [], error: "A Telegram chat is set but the bot token is missing." });
  });
});

describe("notify engine: email", function () {
  const servers = [];
  after(async () => { await Promise.all(servers.map((s) => s.stop())); });
  async function smtp(opts) {
    const s = await startSmtp(opts);
    servers.push(s);
    return s;
  }

  it("sends over plain SMTP without a login: subject, body, sender, recipients", async () => {
    const s = await smtp();
    const n = new Notifier({ email: { host: s.host, port: s.port, security: "none", from: "hb@nas.test", to: "a@x.test, b@x.test" }, host: "nr" });
    const msg = result("photos", "failed");
    msg.run = { logTail: ["one", "two", "three"], logUrl: "http://nr.lan:1880/#highball/runs/r9" };
    const r = await n.submit(msg);
    await n.close();
    assert.equal(r.state, "sent");
    const m = s.messages[0];
    assert.equal(m.from, "hb@nas.test");
    assert.deepEqual(m.to, ["a@x.test", "b@x.test"]);
    assert.equal(m.subject, "[Highball] ✖ photos failed");
    assert.equal(m.user, undefined);
    assert.equal(m.tls, false);
    assert.match(m.text, /^✖ photos failed\n\nError: rsync: some files could not be transferred\nDuration: 2m 3s\nSize: 1.2 GB\nTransferred: 35 MB\nFiles: 1,200 \(34 changed\)\n/);
    assert.match(m.text, /Last 3 lines of the log:\n {2}one\n {2}two\n {2}three\n\nFull log: http:\/\/nr\.lan:1880\/#highball\/runs\/r9/);
  });

  it("logs in after STARTTLS (self-signed allowed) and uses custom templates", async () => {
    const s = await smtp({ starttls: true, auth: true, users: { "backup@nas.test": PASSWORD } });
    const n = new Notifier({
      email: { host: s.host, port: s.port, security: "starttls", to: "ops@x.test", user: "backup@nas.test", password: PASSWORD, tlsRejectUnauthorized: false },
      templates: { subject: "{{job}}: {{status}} ({{size}})", body: "{{job}} took {{duration}}\nrun {{runId}}\nnothing: {{snapshotId}}" },
    });
    const r = await n.submit(result("photos", "failed", { runId: "r-42" }));
    await n.close();
    assert.equal(r.state, "sent");
    const m = s.messages[0];
    assert.equal(m.user, "backup@nas.test");
    assert.equal(m.tls, true);
    assert.equal(m.from, "backup@nas.test");
    assert.equal(m.subject, "photos: failed (1.2 GB)");
    assert.equal(m.text, "photos took 2m 3s\nrun r-42");
  });

  it("sends over implicit TLS with a login", async () => {
    const s = await smtp({ implicitTls: true, auth: true, users: { u: PASSWORD } });
    const n = new Notifier({ email: { host: s.host, port: s.port, security: "tls", from: "hb@x.test", to: "ops@x.test", user: "u", password: PASSWORD, tlsRejectUnauthorized: false } });
    const r = await n.submit(result("docs", "warning", { error: "some files vanished" }));
    await n.close();
    assert.equal(r.state, "sent");
    assert.equal(s.messages[0].user, "u");
    assert.equal(s.messages[0].tls, true);
    assert.equal(s.messages[0].subject, "[Highball] ⚠ docs finished with warnings");
  });

  it("refuses an untrusted certificate unless allowed, and does not retry that", async () => {
    const s = await smtp({ starttls: true });
    const n = new Notifier({ email: { host: s.host, port: s.port, security: "starttls", to: "ops@x.test" }, retry: { baseMs: 10 } });
    const r = await n.submit(result("photos", "failed"));
    await n.close();
    assert.equal(r.state, "failed");
    assert.equal(r.delivery.failures[0].attempts, 1);
    assert.match(r.error, /^The TLS certificate of the SMTP server 127\.0\.0\.1:\d+ is not trusted \(.*\): allow self-signed certificates if you expect this one\.$/);
    assert.equal(s.messages.length, 0);
  });

  it("reports bad credentials once, without the password", async () => {
    const s = await smtp({ auth: true, users: { u: "right" } });
    const n = new Notifier({ email: { host: s.host, port: s.port, security: "none", to: "ops@x.test", user: "u", password: PASSWORD }, retry: { baseMs: 10 } });
    const r = await n.submit(result("photos", "failed"));
    await n.close();
    assert.equal(r.state, "failed");
    assert.equal(r.delivery.failures[0].attempts, 1);
    assert.match(r.error, /^The SMTP server 127\.0\.0\.1:\d+ refused the login \(535 Invalid username or password\): check the user and password\.$/);
    assert.ok(!r.error.includes(PASSWORD));
  });

  it("retries a deferred message (451) and delivers it", async () => {
    const s = await smtp({ tempFail: 2 });
    const n = new Notifier({ email: { host: s.host, port: s.port, security: "none", to: "ops@x.test" }, retry: { baseMs: 10 } });
    const r = await n.submit(result("photos", "failed"));
    await n.close();
    assert.equal(r.state, "sent");
    assert.equal(s.messages.length, 1);
  });

  it("does not block the caller when the SMTP server is down, and gives up after bounded retries", async () => {
    const port = await closedPort();
    const n = new Notifier({ email: { host: "127.0.0.1", port, security: "none", to: "ops@x.test", user: "u", password: PASSWORD }, retry: { attempts: 3, baseMs: 20 } });
    const failures = [];
    n.on("failure", (f) => failures.push(f));
    const t0 = process.hrtime.bigint();
    const pending = n.submit(result("photos", "failed"));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 250, `submit took ${ms} ms`);
    const r = await pending;
    await n.close();
    assert.equal(r.state, "failed");
    assert.equal(r.error, `Could not connect to the SMTP server 127.0.0.1:${port} (ECONNREFUSED). Gave up after 3 attempts.`);
    assert.equal(failures.length, 1);
    assert.ok(!JSON.stringify(failures).includes(PASSWORD));
  });

  it("sends held notifications when closed, within the grace period even if a server is down", async () => {
    const s = await smtp();
    const port = await closedPort();
    const clock = new ManualClock(0);
    const n = new Notifier({
      policy: { onSuccess: true },
      email: { host: s.host, port: s.port, security: "none", to: "ops@x.test" },
      telegram: { token: TOKEN, chatId: 1, apiRoot: `http://127.0.0.1:${port}` },
      retry: { baseMs: 10 },
    }, { clock, closeGraceMs: 2000 });
    await n.submit(result("photos", "success"));
    await n.submit(result("docs", "success"));
    const t0 = Date.now();
    await n.close();
    assert.ok(Date.now() - t0 < 2500);
    assert.equal(s.messages.length, 1);
    assert.match(s.messages[0].text, /^Highball: 2 notifications in the last 1m\n\n✔ docs success ×1\n✔ photos success ×1\n/);
    assert.equal((await n.submit(result("x", "failed"))).state, "ignored");
  });

  it("sends a test message by email and Telegram at once", async () => {
    const s = await smtp();
    const tg = await startTelegram();
    try {
      const r = await sendTest({
        email: { host: s.host, port: s.port, security: "none", to: "ops@x.test" },
        telegram: { token: TOKEN, chatId: 9, apiRoot: tg.apiRoot },
      });
      assert.deepEqual(r, { ok: true, results: [{ channel: "telegram", ok: true }, { channel: "email", ok: true }] });
      assert.equal(s.messages[0].subject, "[Highball] Test message");
      assert.equal(tg.requests[0].path, `/bot${TOKEN}/sendMessage`);
    } finally {
      await tg.stop();
    }
  });
});
