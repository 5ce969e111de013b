"use strict";
// Live run state over RED.comms (lib/http/comms.ts): first the batcher against a real engine
// and a real child process that writes on cue, then a real Node-RED's websocket while rsync runs.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { Engine } = require("../../dist/lib/runs/engine.js");
const { CommsBridge, MAX_LINES } = require("../../dist/lib/http/comms.js");
const { startNodeRed, waitForJob, root } = require("../support/node-red-process");

const SECRET = "S3CR3T-PASS-9f2";

// Writes on cue (a file appearing in its folder), so the test knows what each batch must hold.
const SCRIPT = `
const fs = require("fs"), dir = process.argv[1];
const cue = (f) => new Promise((r) => { const t = setInterval(() => { if (fs.existsSync(dir + "/" + f)) { clearInterval(t); r(); } }, 10); });
(async () => {
  console.log("before follow");
  await cue("go");
  process.stdout.write("progress 10%\\rprogress 20%\\r");
  console.log("the password is ${SECRET} here");
  process.stderr.write("a warning\\n");
  await cue("burst");
  let s = ""; for (let i = 1; i <= 3000; i++) s += "line " + i + "\\n";
  process.stdout.write(s);
  await cue("end");
  console.log("last line");
})();
`;

function parser() {
  return {
    stdout() {}, stderr() {}, takeProgress: () => null,
    finish: (code) => ({ status: code === 0 ? "success" : "failed", error: null, stats: { filesTotal: null, filesChanged: null, bytesTotal: null, bytesTransferred: null, snapshotId: null } }),
  };
}

describe("live runs over RED.comms: the batcher", function () {
  this.timeout(60000);
  let engine, bridge, sent, dir;

  before(function () {
    engine = Engine.get(util.tmpDir("comms-home"));
    sent = [];
    bridge = new CommsBridge(engine, (topic, data) => sent.push({ topic, data: JSON.parse(JSON.stringify(data)), at: Date.now() }));
  });
  after(async function () {
    bridge.dispose();
    await engine.stopAll("test over");
    await util.stopAll();
  });

  function start(name) {
    dir = util.tmpDir("cue");
    const plan = { command: process.execPath, args: ["-e", SCRIPT, dir], secrets: [SECRET] };
    return engine.start({ job: { name, engine: "rsync" }, key: name, command: "sync", steps: [{ plan, parser: parser() }] });
  }
  const cue = (name) => fs.writeFileSync(path.join(dir, name), "");
  const logOf = (run) => fs.readFileSync(path.join(engine.history.logsDir, run.logFile));
  const of = (run, kind) => sent.filter((m) => m.topic === `highball/run/${run.runId}/${kind}`).map((m) => m.data);

  it("sends a followed run's masked log lines in capped, contiguous batches, then its end", async function () {
    const run = start("followed");
    await util.waitFor(() => logOf(run).includes("before follow"), { what: "the first line" });
    assert.equal(of(run, "start").length, 1);
    assert.deepEqual(of(run, "log"), [], "lines went out before anyone followed");

    const f = await bridge.follow(run.runId, "c1");
    assert.equal(f.running, true);
    assert.equal(f.offset, logOf(run).length, "the follow offset is the log's size");
    assert.deepEqual(bridge.followed(), [run.runId]);

    cue("go");
    await util.waitFor(() => of(run, "log").some((b) => b.lines.includes("! a warning")), { what: "the first batch" });
    const first = of(run, "log").flatMap((b) => b.lines);
    assert.ok(first.includes("the password is *** here"), JSON.stringify(first));
    assert.ok(!JSON.stringify(sent).includes(SECRET), "the secret went out");
    assert.ok(!first.some((l) => l.includes("progress 10%")), "a transient progress line went out");

    cue("burst");
    await util.waitFor(() => of(run, "log").some((b) => b.lines.includes("line 3000")), { what: "the burst" });
    cue("end");
    const record = await run.result;
    assert.equal(record.status, "success");
    await util.waitFor(() => of(run, "end").length === 1, { what: "the end message" });

    const batches = of(run, "log");
    const file = logOf(run);
    let at = f.offset;
    for (const b of batches) {
      assert.ok(b.lines.length <= MAX_LINES, `a batch of ${b.lines.length} lines`);
      assert.equal(b.after, at, "batches follow each other");
      assert.ok(b.from >= b.after && b.to > b.from);
      // What was left out is exactly `skipped` whole lines, still in the file.
      assert.equal(file.subarray(b.after, b.from).toString().split("\n").length - 1, b.skipped);
      assert.equal(file.subarray(b.from, b.to).toString(), b.lines.join("\n") + "\n");
      at = b.to;
    }
    assert.equal(at, file.length, "the last batch reaches the end of the log");
    assert.ok(batches.some((b) => b.skipped > 0), "the 3000-line burst was not capped");
    const tail = batches[batches.length - 1].lines;
    assert.ok(tail.includes("last line") && /^# finished .*: success/.test(tail[tail.length - 1]), JSON.stringify(tail));
    // The end message comes after the last lines.
    const lastLog = sent.filter((m) => m.topic.endsWith(`${run.runId}/log`)).pop();
    const end = sent.find((m) => m.topic.endsWith(`${run.runId}/end`));
    assert.ok(sent.indexOf(lastLog) < sent.indexOf(end));
    assert.equal(end.data.status, "success");
    assert.equal(end.data.details, undefined);
    assert.deepEqual(bridge.followed(), [], "an ended run is still followed");
  });

  it("sends no lines of a run nobody follows, or no longer follows", async function () {
    const run = start("unfollowed");
    await util.waitFor(() => logOf(run).includes("before follow"), { what: "the first line" });
    await bridge.follow(run.runId, "c2");
    bridge.unfollow(run.runId, "c2");
    assert.deepEqual(bridge.followed(), []);
    cue("go");
    cue("burst");
    cue("end");
    await run.result;
    await util.waitFor(() => of(run, "end").length === 1, { what: "the end message" });
    assert.ok(logOf(run).includes("line 3000"));
    assert.deepEqual(of(run, "log"), []);
    assert.equal(of(run, "start").length, 1);
    assert.equal(of(run, "start")[0].job, "unfollowed");
  });

  it("answers that a run which is not running cannot be followed", async function () {
    assert.deepEqual(await bridge.follow("20260101T000000-000000", "c3"), { running: false, offset: null, leaseMs: 0 });
    assert.deepEqual(bridge.followed(), []);
  });
});

describe("live runs over RED.comms: a real Node-RED's websocket", function () {
  this.timeout(120000);
  let red, WebSocket;

  before(async function () {
    WebSocket = require(require.resolve("ws", { paths: [path.dirname(require.resolve("node-red/package.json", { paths: [root] }))] }));
    const data = util.tmpDir("slow-data");
    const src = path.join(data, "src");
    fs.mkdirSync(src);
    util.makeTree(src, { files: 12, size: 48 * 1024, subdirs: 2, seed: 3 });
    const flows = [
      { id: "t1", type: "tab", label: "slow" },
      { id: "slow-job", type: "highball-backup-job", z: "t1", name: "slow copy", engine: "rsync", enabled: true,
        source: { type: "local", paths: [{ path: src, include: [], exclude: [] }] },
        destination: { type: "local", path: path.join(data, "dst") }, wires: [["slow-run"]] },
      // 576 KB at 192 KB/s: about three seconds of output, enough to follow.
      { id: "slow-run", type: "highball-rsync-run", z: "t1", name: "rsync", bwlimit: "192", wires: [[], []] },
    ];
    red = await startNodeRed({ major: 4, flows });
    await waitForJob(red, "slow-job");
  });
  after(async function () {
    if (red) await red.stop();
    await util.stopAll();
  });

  it("tells the editor a run's start, progress, followed lines and end", async function () {
    const ws = new WebSocket(red.url.replace(/^http/, "ws") + "comms");
    const got = [];
    await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
    ws.on("message", (raw) => { for (const m of [].concat(JSON.parse(String(raw)))) if (/^highball\//.test(m.topic)) got.push(m); });
    ws.send(JSON.stringify({ subscribe: "highball/run/#" }));
    try {
      const r = await red.post("highball/jobs/slow-job/run");
      assert.equal(r.status, 202, r.text);
      const start = await util.waitFor(() => got.find((m) => /\/start$/.test(m.topic)), { what: "the start message" });
      const runId = start.data.runId;
      assert.equal(start.data.jobId, "slow-job");
      assert.equal(start.data.job, "slow copy");
      const f = await red.post(`highball/runs/${runId}/follow`, { client: "ws-test" });
      assert.equal(f.status, 200, f.text);
      assert.equal(f.json.running, true, "the run ended before it could be followed");
      const end = await util.waitFor(() => got.find((m) => m.topic === `highball/run/${runId}/end`), { timeout: 60000, what: "the end message" });
      assert.equal(end.data.status, "success", end.data.error);

      const progress = got.filter((m) => m.topic === `highball/run/${runId}/progress`);
      assert.ok(progress.length > 0, "no progress message");
      assert.equal(typeof progress[progress.length - 1].data.progress.percent, "number");
      const batches = got.filter((m) => m.topic === `highball/run/${runId}/log`).map((m) => m.data);
      assert.ok(batches.length > 0, "no log lines were sent");
      const whole = await red.get(`highball/runs/${runId}/log?offset=0&length=10000000`, { accept: "text/plain" });
      const size = Number(whole.headers.get("x-log-size"));
      let at = f.json.offset;
      for (const b of batches) {
        assert.equal(b.after, at);
        assert.equal(b.skipped, 0);
        at = b.to;
      }
      assert.equal(at, size);
      assert.equal(whole.text.slice(f.json.offset), batches.flatMap((b) => b.lines).map((l) => l + "\n").join(""));
      assert.ok(batches.some((b) => b.lines.some((l) => /^>f\+{9} /.test(l))), "no file line of rsync was followed");
    } finally {
      ws.close();
    }
  });
});
