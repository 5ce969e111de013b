"use strict";
// The dashboard example's table (issue 18 item 5): a backup job answers msg.action "history" with its
// recent runs (real rsync runs, newest first), that answer never starts a run, and the example's own
// function node (run by Node-RED's real function node) turns real records into human rows.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun, next, collect } = require("../support/flow");
const { tmpDir, makeTree, stopAll } = require("../fixtures/util");

const nodeRed = require.resolve(helper.major === "5" ? "node-red-5" : "node-red");
const coreDir = path.join(path.dirname(require.resolve("@node-red/nodes/package.json", { paths: [nodeRed] })), "core");
const functionNode = require(path.join(coreDir, "function", "10-function.js"));
const example = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "examples", "dashboard.json"), "utf8"));
const rowsNode = example.find((n) => n.id === "hb-dash-rows");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The first message in `got` (filled by collect) that `ok` accepts, waiting for it. */
async function until(got, ok, ms = 30000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
    const m = got.find(ok);
    if (m) return m;
  }
  throw new Error("no such message arrived");
}

describe(`dashboard example: history on start, human rows (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  let home, src, dst;

  beforeEach(function () {
    home = tmpDir("home");
    src = tmpDir("src");
    dst = tmpDir("dst");
    helper.settings({ highball: { dir: home } });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });
  after(async function () {
    await stopAll();
  });

  // As in examples/dashboard.json: the job feeds the run node and the rows function; the run
  // node's results feed the rows function too.
  function flow() {
    return [
      { id: "tab", type: "tab", label: "t" },
      { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "rsync", source: { type: "local", paths: [{ path: src + "/" }] }, destination: { type: "local", path: dst }, wires: [["run", "rows", "jobout"]] },
      { id: "run", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [["rows", "result"], ["progress"]] },
      { ...rowsNode, id: "rows", z: "tab", wires: [["table"]] },
      { id: "jobout", z: "tab", type: "helper" },
      { id: "result", z: "tab", type: "helper" },
      { id: "progress", z: "tab", type: "helper" },
      { id: "table", z: "tab", type: "helper" },
    ];
  }

  async function runOnce() {
    const result = next(helper, "result");
    helper.getNode("j1").receive({ payload: "run now" });
    const msg = await result;
    assert.equal(msg.payload.status, "success", msg.payload.error);
    return msg.payload;
  }

  it("a job answers history with its real runs, newest first; the answer starts no run; the table fills from it on start", async function () {
    makeTree(src, { files: 1, size: 1234567, subdirs: 0 });
    await helper.load([backupJob, rsyncRun, functionNode], flow());
    const first = await runOnce();
    fs.writeFileSync(path.join(src, "more.bin"), Buffer.alloc(2500, 7));
    const second = await runOnce();
    assert.equal(first.bytesTransferred, 1234567);

    // Node-RED restarts: the function node's rows are gone, the job's history is not.
    await helper.unload();
    await helper.load([backupJob, rsyncRun, functionNode], flow());
    const results = collect(helper, "result");
    const progress = collect(helper, "progress");
    const reply = next(helper, "jobout");
    const table = next(helper, "table");
    helper.getNode("j1").receive({ action: "history", limit: 5 });
    const msg = await reply;
    assert.equal(msg.topic, "history");
    assert.equal(msg.action, "history");
    assert.equal(msg.job, undefined, "a history reply carries no msg.job");
    assert.deepEqual(msg.payload.map((r) => r.runId), [second.runId, first.runId], "newest first");
    assert.deepEqual(msg.payload[1], first, "each row is the run node's flat result payload");

    const rows = (await table).payload;
    assert.equal(rows.length, 2);
    assert.equal(rows[1].sent, "1.2 MB");
    assert.equal(rows[1].time, new Date(first.finishedAt).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    assert.match(rows[1].time, /\d{4}/, "a date-time, not milliseconds");
    assert.match(rows[0].duration, /^\d+(\.\d)? s$|min/);
    assert.equal(rows[0].status, "success");
    assert.equal(rows[0].job, "photos");

    // The reply went to the run node as well: it must not have started a run.
    await sleep(1500);
    assert.deepEqual(results, [], "no run result after a history request");
    assert.deepEqual(progress, [], "no run started after a history request");
    const again = next(helper, "jobout");
    helper.getNode("j1").receive({ action: "history" });
    assert.equal((await again).payload.length, 2, "still two runs in the history");

    // A new result joins the table on top; the job's own message to its run node adds no row.
    const tables = collect(helper, "table");
    const third = await runOnce();
    const rows2 = (await until(tables, (m) => m.payload[0].time && m.payload.length === 3)).payload;
    assert.equal(rows2.length, 3);
    assert.equal(rows2[0].sent, third.bytesTransferred < 1000 ? `${third.bytesTransferred} B` : rows2[0].sent);
    assert.notEqual(rows2[0].time, "");
  });

  it("a history reply sent straight into a run node is ignored", async function () {
    await helper.load([backupJob, rsyncRun, functionNode], flow());
    const results = collect(helper, "result");
    const progress = collect(helper, "progress");
    helper.getNode("run").receive({ action: "history", topic: "history", payload: [] });
    await sleep(1500);
    assert.deepEqual(results, []);
    assert.deepEqual(progress, []);
  });

  it("the rows function gives human durations and sizes for real records", async function () {
    makeTree(src, { files: 1, size: 1000, subdirs: 0 });
    await helper.load([backupJob, rsyncRun, functionNode], flow());
    const real = await runOnce();
    const tables = collect(helper, "table");
    const later = { ...real, runId: "later", finishedAt: real.finishedAt + 60000, durationMs: 63000, bytesTransferred: 1234567, error: undefined };
    const slow = { ...real, runId: "slow", finishedAt: real.finishedAt + 120000, durationMs: 2 * 3600000 + 5000, bytesTransferred: 3.4e9 };
    helper.getNode("rows").receive({ action: "history", topic: "history", payload: [slow, later] });
    const rows = (await until(tables, (m) => m.payload.length === 3)).payload;
    // The rows come from the function node's own realm: compare them as plain data.
    assert.deepEqual(JSON.parse(JSON.stringify(rows.map((r) => [r.duration, r.sent]))), [["2 h 5 s", "3.4 GB"], ["1 min 3 s", "1.2 MB"], [rows[2].duration, "1 kB"]]);
    assert.match(rows[2].duration, /^\d+(\.\d)? s$/);
  });
});
