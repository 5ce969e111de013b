"use strict";
// highball-notify through node-red-node-test-helper (Node-RED 4 or 5, by NODE_RED_MAJOR),
// delivering to real SMTP and Telegram stand-ins on 127.0.0.1.
const assert = require("node:assert/strict");
const net = require("node:net");
const helper = require("../support/red");
const notifyNode = require("../../dist/nodes/highball-notify/highball-notify.js");
const { startSmtp } = require("../fixtures/smtp");
const { startTelegram } = require("../fixtures/telegram");

const TOKEN = "987654321:AAFnodeTokenSecret-abcdefghijklmnop";
const PASSWORD = "N0de-SMTP-pa55word";

function result(job, status, extra = {}) {
  return {
    topic: job,
    payload: {
      job, jobId: `id-${job}`, runId: `run-${job}-1`, engine: "rsync", command: "backup", status, ok: status === "success",
      startedAt: 1000, finishedAt: 124000, durationMs: 123000, exitCode: status === "failed" ? 23 : 0,
      filesTotal: 10, filesChanged: 2, bytesTotal: 1.2e9, bytesTransferred: 35e6, snapshotId: null,
      error: status === "failed" ? "rsync: connection unexpectedly closed" : null,
      ...extra,
    },
    run: { logTail: ["sending incremental file list", "rsync error: 12"], logUrl: `#highball/runs/run-${job}-1` },
  };
}

async function until(cond, ms = 8000, what = "condition") {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function closedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function statuses(node) {
  return node.status.getCalls().filter((c) => c.thisValue === node).map((c) => c.args[0]);
}

function lastStatus(node) {
  return statuses(node).at(-1) || {};
}

function errorsOf(node) {
  return node.error.getCalls().filter((c) => c.thisValue === node).map((c) => {
    const e = c.args[0];
    return e instanceof Error ? e.message : String(e);
  });
}

describe(`highball-notify node (Node-RED ${helper.major})`, function () {
  let tg;
  let smtp;
  before(async () => {
    tg = await startTelegram();
    smtp = await startSmtp({ starttls: true, auth: true, users: { "hb@nas.test": PASSWORD } });
  });
  after(async () => {
    await tg.stop();
    await smtp.stop();
  });
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    tg.respond(null);
    tg.requests.length = 0;
    smtp.messages.length = 0;
  });

  function flow(props = {}) {
    return [
      { id: "n1", type: "highball-notify", name: "alerts", chatId: "4711", apiRoot: tg.apiRoot, wires: [["out"]], ...props },
      { id: "out", type: "helper" },
    ];
  }

  async function load(props, creds = { n1: { botToken: TOKEN } }) {
    await helper.load(notifyNode, flow(props), creds);
    const n1 = helper.getNode("n1");
    const outs = [];
    helper.getNode("out").on("input", (m) => outs.push(m));
    return { n1, outs };
  }

  it("sends a failure to Telegram and emits the short text on its output", async () => {
    const { n1, outs } = await load();
    n1.receive(result("photos", "failed"));
    await until(() => outs.length === 1, 8000, "output");
    const [req] = tg.requests;
    assert.equal(req.path, `/bot${TOKEN}/sendMessage`);
    assert.equal(req.body.chat_id, 4711);
    assert.equal(req.body.parse_mode, "HTML");
    assert.match(req.body.text, /^✖ <b>photos<\/b> failed\n<b>Error:<\/b> rsync: connection unexpectedly closed\n/);
    assert.match(req.body.text, /<pre>sending incremental file list\nrsync error: 12<\/pre>\nFull log: #highball\/runs\/run-photos-1$/);
    assert.equal(outs[0].payload, "✖ photos: failed after 2m 3s: rsync: connection unexpectedly closed");
    assert.equal(outs[0].topic, "photos");
    assert.deepEqual(outs[0].notification.channels, ["telegram"]);
    await until(() => lastStatus(n1).text === "sent 1", 2000, "status sent 1");
    assert.equal(lastStatus(n1).fill, "green");
  });

  it("mails through STARTTLS with the credential login, and skips successes by default", async () => {
    const { n1, outs } = await load({
      chatId: "", smtpHost: smtp.host, smtpPort: smtp.port, smtpSecurity: "starttls", allowSelfSigned: true,
      smtpFrom: "hb@nas.test", smtpTo: "ops@example.test",
    }, { n1: { user: "hb@nas.test", password: PASSWORD } });
    n1.receive(result("docs", "success"));
    n1.receive(result("photos", "cancelled"));
    n1.receive(result("photos", "failed"));
    await smtp.waitForMessages(1, 8000);
    await until(() => outs.length === 1, 8000, "output");
    const m = smtp.messages[0];
    assert.equal(m.user, "hb@nas.test");
    assert.equal(m.tls, true);
    assert.equal(m.from, "hb@nas.test");
    assert.deepEqual(m.to, ["ops@example.test"]);
    assert.equal(m.subject, "[Highball] ✖ photos failed");
    assert.match(m.text, /Error: rsync: connection unexpectedly closed\n/);
    assert.equal(smtp.messages.length, 1);
    assert.equal(outs.length, 1);
    assert.match(outs[0].payload, /^✖ photos: failed/);
  });

  it("waits for Telegram's retry_after on 429, retries and succeeds", async () => {
    let calls = 0;
    tg.respond(() => (++calls === 1
      ? { status: 429, body: { ok: false, error_code: 429, description: "Too Many Requests: retry after 1", parameters: { retry_after: 1 } } }
      : undefined));
    const { n1, outs } = await load();
    const t0 = Date.now();
    n1.receive(result("photos", "failed"));
    await until(() => outs.length === 1, 8000, "output");
    assert.ok(Date.now() - t0 >= 950, "retried before retry_after");
    assert.equal(tg.requests.length, 2);
    assert.deepEqual(errorsOf(n1), []);
  });

  it("reports 400 chat not found through done(err), once, with a red status", async () => {
    tg.respond(() => ({ status: 400, body: { ok: false, error_code: 400, description: "Bad Request: chat not found" } }));
    const { n1, outs } = await load();
    n1.receive(result("photos", "failed"));
    await until(() => errorsOf(n1).length === 1, 8000, "error");
    assert.equal(errorsOf(n1)[0],
      'The notification "[Highball] ✖ photos failed" was not sent: Telegram could not deliver to chat 4711: Bad Request: chat not found.');
    const call = n1.error.getCalls().find((c) => c.thisValue === n1);
    assert.equal(call.args[1].topic, "photos", "the msg goes with the error, so Catch nodes get it");
    assert.equal(tg.requests.length, 1);
    assert.equal(outs.length, 0);
    await until(() => lastStatus(n1).fill === "red", 2000, "red status");
    assert.equal(lastStatus(n1).text, "delivery failed");
  });

  it("still outputs when one channel delivered, and reports the other", async () => {
    const { n1, outs } = await load({ smtpHost: smtp.host, smtpPort: smtp.port, smtpSecurity: "starttls", allowSelfSigned: true, smtpTo: "ops@example.test" },
      { n1: { botToken: TOKEN, user: "hb@nas.test", password: "wrong-password" } });
    n1.receive(result("photos", "interrupted"));
    await until(() => errorsOf(n1).length === 1, 8000, "error");
    assert.match(errorsOf(n1)[0], /^The notification "\[Highball\] ⚡ photos was interrupted" was not sent by email: The SMTP server 127\.0\.0\.1:\d+ refused the login \(535 Invalid username or password\): check the user and password\.$/);
    assert.equal(outs.length, 1);
    assert.deepEqual(outs[0].notification.channels, ["telegram"]);
    assert.equal(outs[0].notification.failures[0].channel, "email");
    assert.equal(outs[0].payload, "⚡ photos: interrupted after 2m 3s");
    assert.equal(smtp.messages.length, 0);
  });

  it("batches a storm of 100 failures into two messages, counting the repeats", async () => {
    const { n1, outs } = await load({ windowSeconds: 1 });
    for (let i = 0; i < 100; i++) n1.receive(result("photos", "failed"));
    await until(() => lastStatus(n1).text === "batching 99", 4000, "status batching 99");
    assert.equal(lastStatus(n1).fill, "yellow");
    await until(() => outs.length === 2, 8000, "two outputs");
    assert.equal(outs[1].payload, "✖ photos failed ×99");
    assert.equal(outs[1].notification.kind, "digest");
    assert.equal(outs[1].notification.count, 99);
    assert.equal(tg.requests.length, 2);
    assert.match(tg.requests[1].body.text, /<b>photos<\/b> failed ×99: rsync: connection unexpectedly closed/);
    await until(() => lastStatus(n1).text === "sent 2", 2000, "status sent 2");
  });

  it("holds successes when asked for them, and sends the batch at once on msg.action flush", async () => {
    const { n1, outs } = await load({ onSuccess: true });
    n1.receive(result("photos", "success"));
    n1.receive(result("docs", "success"));
    await until(() => lastStatus(n1).text === "batching 2", 2000, "status batching 2");
    assert.equal(tg.requests.length, 0);
    n1.receive({ action: "flush" });
    await until(() => outs.length === 1, 8000, "output");
    assert.equal(outs[0].payload, "✔ docs success ×1, ✔ photos success ×1");
    assert.equal(outs[0].topic, "highball");
    assert.match(tg.requests[0].body.text, /^<b>Highball: 2 notifications in the last 1m<\/b>\n✔ <b>docs<\/b> success ×1\n✔ <b>photos<\/b> success ×1$/);
  });

  it("alerts when a job has had no successful backup for the configured time", async () => {
    const { n1, outs } = await load({ staleHours: 1.5 / 3600 }); // 1.5 s
    n1.receive(result("photos", "success"));
    await until(() => outs.length === 1, 6000, "stale alert");
    assert.match(outs[0].payload, /^⏰ photos: stale, no successful backup for \d(\.\d)?s$/);
    assert.match(tg.requests[0].body.text, /^⏰ <b>photos<\/b> has no successful backup for /);
    assert.equal(outs.length, 1);
  });

  it("never blocks the flow while the SMTP server is down", async () => {
    const port = await closedPort();
    const { n1 } = await load({ chatId: "", smtpHost: "127.0.0.1", smtpPort: port, smtpSecurity: "none", smtpTo: "ops@example.test" },
      { n1: { user: "u", password: PASSWORD } });
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      n1.receive(result("photos", "failed"));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.ok(ms < 250, `receive took ${ms} ms`);
    }
    // The first delivery is still being retried; the repeats were taken in meanwhile.
    await until(() => lastStatus(n1).text === "batching 4", 2000, "status batching 4");
  });

  it("keeps the bot token and SMTP password out of logs, errors, status and output", async () => {
    tg.respond(() => ({ status: 401, body: { ok: false, error_code: 401, description: "Unauthorized" } }));
    const bad = await startSmtp({ auth: true, users: { u: "other" } });
    try {
      const { n1, outs } = await load({ smtpHost: bad.host, smtpPort: bad.port, smtpSecurity: "none", smtpTo: "ops@example.test", windowSeconds: 0 },
        { n1: { botToken: TOKEN, user: "u", password: PASSWORD } });
      n1.receive(result("photos", "failed"));
      n1.receive(result("docs", "delayed", { waitedMs: 60000 }));
      await until(() => errorsOf(n1).length === 2, 8000, "two errors");
      const seen = JSON.stringify({
        errors: errorsOf(n1),
        warns: n1.warn.getCalls().map((c) => String(c.args[0])),
        logs: helper.log().getCalls().map((c) => c.args.map((a) => (a && a.msg !== undefined ? String(a.msg) : String(a)))),
        status: statuses(n1),
        outs: outs.map((m) => ({ payload: m.payload, notification: m.notification })),
      });
      for (const secret of [TOKEN, PASSWORD, TOKEN.split(":")[1]]) assert.ok(!seen.includes(secret), `secret leaked: ${seen}`);
      assert.match(errorsOf(n1)[0], /^The notification "\[Highball\] ✖ photos failed" was not sent: Telegram rejected the bot token \(401 Unauthorized\): check the token in the node's settings\. The SMTP server 127\.0\.0\.1:\d+ refused the login \(535 Invalid username or password\): check the user and password\.$/);
      assert.match(errorsOf(n1)[1], /^The notification "\[Highball\] ⏳ docs is delayed" was not sent: /);
      assert.equal(outs.length, 0);
    } finally {
      await bad.stop();
    }
  });

  it("refuses a message that is not a run result, through done(err)", async () => {
    const { n1 } = await load();
    n1.receive({ payload: "hello" });
    await until(() => errorsOf(n1).length === 1, 2000, "error");
    assert.equal(errorsOf(n1)[0], "msg.payload is not a run result: expected an object with job and status.");
    assert.equal(tg.requests.length, 0);
  });

  it("warns about incomplete settings and shows them in the status", async () => {
    const { n1 } = await load({}, {});
    await until(() => n1.warn.getCalls().some((c) => c.thisValue === n1), 2000, "warning");
    assert.equal(String(n1.warn.getCalls().find((c) => c.thisValue === n1).args[0]), "A Telegram chat is set but the bot token is missing.");
    assert.deepEqual(lastStatus(n1), { fill: "red", shape: "ring", text: "check settings" });
  });

  it("sends a test message through the admin route with the deployed settings", async () => {
    await load();
    const res = await helper.request().post("/highball/notify/n1/test").expect(200);
    assert.deepEqual(res.body, { ok: true, results: [{ channel: "telegram", ok: true }] });
    assert.equal(tg.requests[0].path, `/bot${TOKEN}/sendMessage`);
    assert.match(tg.requests[0].body.text, /Highball test message<\/b>\nFrom the Highball notify node "alerts"/);
    const missing = await helper.request().post("/highball/notify/nope/test").expect(404);
    assert.match(missing.body.error, /^No deployed notify node has this id/);
    tg.respond(() => ({ status: 400, body: { ok: false, error_code: 400, description: "Bad Request: chat not found" } }));
    const failed = await helper.request().post("/highball/notify/n1/test").expect(502);
    assert.equal(failed.body.error, "Telegram could not deliver to chat 4711: Bad Request: chat not found.");
    assert.ok(!JSON.stringify(failed.body).includes(TOKEN));
  });

  it("mounts the test route once, and forgets a node once it is removed", async () => {
    await load();
    // A second initialisation of the module on the same admin app (as after a reload) adds no route.
    const app = helper._httpAdmin;
    notifyNode({
      nodes: { registerType() {}, createNode() {}, getNode: () => null },
      httpAdmin: app,
      auth: { needsPermission: () => (req, res, next) => next() },
    });
    const router = app._router || app.router;
    const routes = router.stack.filter((l) => l.route && l.route.path === "/highball/notify/:id/test");
    assert.equal(routes.length, 1);
    await helper.setFlows([{ id: "out", type: "helper" }], "full");
    await helper.request().post("/highball/notify/n1/test").expect(404);
  });
});
