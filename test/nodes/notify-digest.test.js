"use strict";
// notify's digest: real rsync runs of two jobs (one succeeds, one fails), one digest per channel
// (a Telegram Bot API stand-in on 127.0.0.1) and on the output, on msg.action "digest" and on
// its schedule; the count survives a redeploy; a digest time that passed while Node-RED was down
// is sent at start, and never twice; batching and the digest together lose no alert.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun } = require("../support/flow");
const notifyNode = require("../../dist/nodes/highball-notify/highball-notify.js");
const { startTelegram } = require("../fixtures/telegram");
const { tmpDir, makeTree, waitFor } = require("../fixtures/util");

const TOKEN = "123456:AAdigestTokenSecret-abcdefghijklmno";

describe(`notify's digest (Node-RED ${helper.major})`, function () {
  this.timeout(60000);
  let tg, home, good, bad;
  before(async () => { tg = await startTelegram(); });
  after(async () => { await tg.stop(); });
  beforeEach(() => {
    home = tmpDir("home");
    helper.settings({ highball: { dir: home } });
    tg.requests.length = 0;
    const src = tmpDir("src");
    makeTree(src, { files: 3, size: 512 });
    good = { source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: tmpDir("dst") } };
    bad = { source: { type: "local", paths: [{ path: "/nonexistent/highball-digest" }] }, destination: { type: "local", path: tmpDir("dst") } };
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
  });

  function flow(notifyProps = {}, wired = false) {
    return [
      { id: "tab", type: "tab", label: "t" },
      { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "rsync", ...good, wires: [["r1"]] },
      { id: "r1", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [["res"], []] },
      { id: "j2", z: "tab", type: "highball-backup-job", name: "docs", engine: "rsync", ...bad, wires: [["r2"]] },
      { id: "r2", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [wired ? ["res", "n1"] : ["res"], []] },
      { id: "j3", z: "tab", type: "highball-backup-job", name: "music", engine: "rsync", ...good, wires: [["r3"]] },
      { id: "r3", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [["res"], []] },
      { id: "res", z: "tab", type: "helper" },
      // Not wired to the run nodes: the digest counts every run of this Node-RED all the same.
      { id: "n1", z: "tab", type: "highball-notify", name: "digest", chatId: "4711", apiRoot: tg.apiRoot, onFailure: false, onWarning: false, onInterrupted: false, staleHours: 0.0005, ...notifyProps, wires: [["out"]] },
      { id: "out", z: "tab", type: "helper" },
    ];
  }

  async function load(notifyProps, wired) {
    await helper.load([backupJob, rsyncRun, notifyNode], flow(notifyProps, wired), { n1: { botToken: TOKEN } });
    const outs = [];
    helper.getNode("out").on("input", (m) => outs.push(m));
    return outs;
  }

  async function run(id) {
    const got = new Promise((resolve) => {
      const on = (m) => { if (m.payload.jobId === id) { helper.getNode("res").off("input", on); resolve(m); } };
      helper.getNode("res").on("input", on);
    });
    helper.getNode(id).receive({});
    return got;
  }

  it("msg.action digest: one message per channel and on the output, with counts, the last error and stale jobs; the next starts from zero", async function () {
    const outs = await load();
    await run("j1");
    await run("j1");
    const failed = await run("j2");
    assert.equal(failed.payload.status, "failed");
    await new Promise((r) => setTimeout(r, 50));
    helper.getNode("n1").receive({ action: "digest" });
    const out = await waitFor(() => outs.find((m) => m.notification.report), { timeout: 10000, what: "the digest on the output" });
    const text = out.payload;
    assert.match(text, /^Highball digest /);
    assert.match(text, /Runs: 1 failed, 2 succeeded\./);
    assert.ok(text.includes(`- docs: failed at `) && text.includes(failed.payload.error), text);
    assert.match(text, /No successful backup within the stale limit:\n- docs: no success known/);
    assert.ok(!/- photos: (last|no success)/.test(text), "photos succeeded just now: not stale");
    assert.match(text, /By job:\n- docs: 1 failed\n- photos: 2 succeeded/);
    assert.match(text, /No runs: music/);
    assert.deepEqual(out.notification.report.totals, { success: 2, failed: 1 });
    const digests = tg.requests.filter((r) => r.method === "sendMessage");
    assert.equal(digests.length, 1, "one Telegram message");
    assert.match(digests[0].body.text, /Runs: 1 failed, 2 succeeded/);
    assert.ok(!JSON.stringify(out).includes(TOKEN));

    // Counting starts again: the next digest has no runs, and says so.
    helper.getNode("n1").receive({ action: "digest" });
    const again = await waitFor(() => outs.filter((m) => m.notification.report)[1], { timeout: 10000, what: "the second digest" });
    assert.match(again.payload, /Runs: no runs\./);
    assert.match(again.payload, /No runs: docs, music, photos/);
  });

  it("what was counted survives a redeploy, and the digest time is kept in Highball's folder", async function () {
    await load();
    await run("j2");
    await helper.unload();
    const file = path.join(home, "notify", "digest-n1.json");
    assert.ok(fs.existsSync(file), "the count is on disk");
    assert.equal((fs.statSync(file).mode & 0o777).toString(8), "600");
    const outs = await load();
    helper.getNode("n1").receive({ action: "digest" });
    const out = await waitFor(() => outs.find((m) => m.notification.report), { timeout: 10000, what: "the digest" });
    assert.match(out.payload, /Runs: 1 failed\./);
    const saved = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.ok(saved.since >= Date.now() - 10000, "the last digest's time is saved");
  });

  it("a digest time that passed while Node-RED was down is sent at start, once", async function () {
    const file = path.join(home, "notify", "digest-n1.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const twoDays = Date.now() - 2 * 86400_000;
    fs.writeFileSync(file, JSON.stringify({ version: 1, since: twoDays, jobs: { j2: { jobId: "j2", job: "docs", counts: { failed: 4 }, lastError: { status: "failed", error: "disk on fire", at: twoDays + 1000 } } }, seen: [] }));
    const outs = await load({ digestSchedule: "daily at 00:00" });
    const out = await waitFor(() => outs.find((m) => m.notification.report), { timeout: 10000, what: "the missed digest" });
    assert.match(out.payload, /Runs: 4 failed\./);
    assert.match(out.payload, /- docs: failed at .*: disk on fire/);
    await helper.unload();
    // Started again: that digest went out already, so none now.
    const outs2 = await load({ digestSchedule: "daily at 00:00" });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(outs2.filter((m) => m.notification.report).length, 0);
  });

  it("a digest schedule that is not one is a sentence at deploy", async function () {
    await load({ digestSchedule: "every blue moon" });
    const warned = helper.getNode("n1").warn.getCalls().map((c) => String(c.args[0]));
    assert.ok(warned.some((w) => /^The digest schedule is not valid: invalid schedule "every blue moon"/.test(w)), warned.join(" | "));
  });

  it("batching and the digest together lose no alert: what is held goes out before the digest", async function () {
    // docs' results reach the notify node too: counted once each all the same (by run id).
    const outs = await load({ onFailure: true, windowSeconds: 600 }, true);
    const r = helper.getNode("r2");
    await run("j2");
    await run("j2");
    await run("j2");
    // The first failure went out at once; repeats of it are held for the batch (a window of 10 minutes).
    await waitFor(() => outs.length >= 1, { timeout: 10000, what: "the first alert" });
    await waitFor(() => helper.getNode("n1").status.getCalls().some((c) => c.args[0]?.text === "batching 2"), { timeout: 10000, what: "two alerts held" });
    assert.equal(r.type, "highball-rsync-run");
    helper.getNode("n1").receive({ action: "digest" });
    const digest = await waitFor(() => outs.find((m) => m.notification.report), { timeout: 10000, what: "the digest" });
    const alerts = outs.slice(0, outs.indexOf(digest));
    assert.equal(outs.indexOf(digest), outs.length - 1, "what batching held went out before the digest");
    assert.equal(alerts.reduce((n, m) => n + m.notification.count, 0), 3, "all three failures were alerted");
    assert.equal(alerts.length, 2, "the first at once, the two held ones as one batch");
    assert.equal(helper.getNode("n1").status.lastCall.args[0].text.startsWith("batching"), false);
    assert.match(digest.payload, /Runs: 3 failed\./);
  });
});
