"use strict";
// backup-job → conflict gate → rsync-run with real rsync (local and over a real sshd).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun, next, copying, collect, knownHosts } = require("../support/flow");
const { tmpDir, stopAll, waitFor } = require("../fixtures/util");
const { startSshd } = require("../fixtures/sshd");
const { parseInput } = require("../../dist/lib/notify");
const gateNode = require("../../dist/nodes/highball-conflict-gate/highball-conflict-gate.js");

const nodes = [backupJob, rsyncRun, gateNode];

/** Files that take rsync about `seconds` to copy at `bwlimit` KiB/s. */
function slowTree(dir, seconds, kib = 512) {
  const files = 4;
  const size = Math.ceil((seconds * kib * 1024) / files);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `f${i}.bin`), Buffer.alloc(size, i + 1));
}

/**
 * Two backup jobs (j1, j2); each goes through the gate unless `ungated` names it, then to one
 * rsync node. Gate outputs: run, "delayed", "timedout".
 */
function gateFlow(job1, job2, { gate = {}, ungated = null } = {}) {
  return [
    { id: "tab", type: "tab", label: "t" },
    { id: "j1", z: "tab", type: "highball-backup-job", engine: "rsync", ...job1, wires: [[ungated === "j1" ? "run" : "gate"]] },
    { id: "j2", z: "tab", type: "highball-backup-job", engine: "rsync", ...job2, wires: [[ungated === "j2" ? "run" : "gate"]] },
    { id: "gate", z: "tab", type: "highball-conflict-gate", name: "", delay: 10, maxWait: 0, ...gate, wires: [["run"], ["delayed"], ["timedout"]] },
    { id: "run", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [["result"], ["progress"]] },
    { id: "result", z: "tab", type: "helper" },
    { id: "progress", z: "tab", type: "helper" },
    { id: "delayed", z: "tab", type: "helper" },
    { id: "timedout", z: "tab", type: "helper" },
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  ];
}

/** The gate alone, its outputs on helpers: control messages and admissions without runs. */
function bareGate(gate = {}) {
  return [
    { id: "tab", type: "tab", label: "t" },
    { id: "gate", z: "tab", type: "highball-conflict-gate", delay: 10, maxWait: 0, ...gate, wires: [["out"], ["delayed"], ["timedout"]] },
    { id: "out", z: "tab", type: "helper" },
    { id: "delayed", z: "tab", type: "helper" },
    { id: "timedout", z: "tab", type: "helper" },
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  ];
}

const localJob = (name, src, dst, extra = {}) => ({ name, engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, ...extra });

/** Arguments of one node's calls of a Node method (the helper spies on the shared prototype). */
function callsOf(id, method) {
  const node = helper.getNode(id);
  return node[method].getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
}
const statusTexts = (id) => callsOf(id, "status").map((a) => a[0]);

describe(`conflict gate node (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  let sshd, home;

  before(async function () {
    sshd = await startSshd();
  });
  after(async function () {
    await stopAll();
  });
  beforeEach(function () {
    home = tmpDir("home");
    helper.settings({ highball: { dir: home } });
    knownHosts(home, sshd.knownHostsLine);
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  const sshDst = (p) => ({ type: "ssh", host: "127.0.0.1", port: sshd.port, user: "root", identityFile: sshd.clientKey, path: p });

  it("two jobs writing to one ssh host run one after the other: run 2 starts after run 1 ended", async function () {
    const src1 = tmpDir("src"), src2 = tmpDir("src");
    slowTree(src1, 1.5); slowTree(src2, 1.5);
    const dst1 = tmpDir("dst"), dst2 = tmpDir("dst");
    const flow = gateFlow(
      { name: "first", source: { type: "local", paths: [{ path: src1 }] }, destination: sshDst(dst1), rsync: { bwlimit: "512K" } },
      { name: "second", source: { type: "local", paths: [{ path: src2 }] }, destination: sshDst(dst2), rsync: { bwlimit: "512K" } },
    );
    await helper.load(nodes, flow);
    const results = collect(helper, "result");
    const caught = collect(helper, "caught");
    helper.getNode("j1").receive({});
    helper.getNode("j2").receive({});
    await waitFor(() => results.length === 2 || caught.length, { timeout: 60000, what: "both results" });
    assert.deepEqual(caught.map((c) => c.error.message), []);
    const [a, b] = results;
    assert.deepEqual(results.map((r) => r.payload.job), ["first", "second"]);
    for (const r of results) assert.equal(r.payload.status, "success", r.payload.error);
    assert.ok(b.payload.startedAt >= a.payload.finishedAt, `run 2 started ${b.payload.startedAt - a.payload.finishedAt} ms after run 1 ended`);
    // msg.gate rides along with the message to the result.
    assert.deepEqual(a.gate.queuedBehind, []);
    assert.ok(a.gate.waitedMs < 1000, "the first waits only for the engine to be ready");
    assert.deepEqual(b.gate.queuedBehind, ["first"]);
    assert.ok(b.gate.waitedMs >= a.payload.durationMs - 50, `waited ${b.gate.waitedMs} ms for a ${a.payload.durationMs} ms run`);
    assert.ok(b.gate.resources.includes("dest:127.0.0.1"));
    assert.ok(statusTexts("gate").some((s) => s.fill === "blue" && s.text === "1 waiting"));
    assert.deepEqual(statusTexts("gate").at(-1), { fill: "green", shape: "dot", text: "free" });
  });

  it("jobs named by a string (http in's way) are gated as the deployed jobs they name; an unknown name goes on to be a failed run", async function () {
    const src1 = tmpDir("src"), src2 = tmpDir("src");
    slowTree(src1, 1.5); slowTree(src2, 1.5);
    const dst1 = tmpDir("dst"), dst2 = tmpDir("dst");
    const flow = gateFlow(
      { name: "photos", source: { type: "local", paths: [{ path: src1 }] }, destination: sshDst(dst1), rsync: { bwlimit: "512K" } },
      { name: "docs", source: { type: "local", paths: [{ path: src2 }] }, destination: sshDst(dst2), rsync: { bwlimit: "512K" } },
    );
    // The backup-job nodes are deployed but wired to nothing: only the named messages reach the gate.
    for (const n of flow) if (n.id === "j1" || n.id === "j2") n.wires = [[]];
    await helper.load(nodes, flow);
    const results = collect(helper, "result");
    const caught = collect(helper, "caught");
    const gate = helper.getNode("gate");
    gate.receive({ job: "photos" });
    gate.receive({ job: "j2" });
    gate.receive({ job: "nobody" });
    await waitFor(() => results.length === 3, { timeout: 60000, what: "three results" });
    const byJob = Object.fromEntries(results.map((r) => [r.payload.job, r]));
    const [a, b] = [byJob.photos, byJob.docs];
    for (const r of [a, b]) assert.equal(r.payload.status, "success", r.payload.error);
    assert.deepEqual([a.payload.jobId, b.payload.jobId], ["j1", "j2"], "run as the deployed jobs");
    assert.ok(b.payload.startedAt >= a.payload.finishedAt, `docs started ${b.payload.startedAt - a.payload.finishedAt} ms after photos ended: both wrote to one ssh host at once`);
    assert.deepEqual(b.gate.queuedBehind, ["photos"]);
    assert.ok(b.gate.resources.includes("dest:127.0.0.1"));
    // The unknown name held nothing and is still a run: failed, with its sentence, seen by catch.
    const bad = results.find((r) => r.payload.status === "failed");
    assert.match(bad.payload.error, /msg\.job names "nobody", which is no deployed job's id or name/);
    assert.deepEqual(bad.gate, { waitedMs: 0, queuedBehind: [], resources: [] });
    await waitFor(() => caught.length === 1, { what: "the failure caught" });
    // A cancel by name reaches a job waiting in the gate, as a job object's does.
    gate.receive({ job: "photos" });
    gate.receive({ job: "docs" });
    await waitFor(() => statusTexts("gate").at(-1).text === "1 waiting", { what: "docs waiting" });
    gate.receive({ action: "cancel", job: "docs" });
    await waitFor(() => callsOf("gate", "log").some(([t]) => /job "docs" left the queue without running: cancelled by a message/.test(t)), { what: "docs dropped" });
    assert.equal(results.length, 3, "photos still runs: docs left the queue, it was not admitted");
    await waitFor(() => results.length === 4, { timeout: 60000, what: "photos ran again" });
    assert.equal(results[3].payload.job, "photos");
  });

  it("two jobs with different destinations run at the same time", async function () {
    const src1 = tmpDir("src"), src2 = tmpDir("src");
    slowTree(src1, 1.5); slowTree(src2, 1.5);
    const root = tmpDir("dst");
    const flow = gateFlow(
      localJob("left", src1, path.join(root, "left"), { rsync: { bwlimit: "512K" } }),
      localJob("right", src2, path.join(root, "right"), { rsync: { bwlimit: "512K" } }),
    );
    await helper.load(nodes, flow);
    const results = collect(helper, "result");
    helper.getNode("j1").receive({});
    helper.getNode("j2").receive({});
    await waitFor(() => results.length === 2, { timeout: 60000, what: "both results" });
    const [a, b] = results;
    for (const r of results) assert.equal(r.payload.status, "success", r.payload.error);
    assert.ok(a.payload.startedAt < b.payload.finishedAt && b.payload.startedAt < a.payload.finishedAt, "the runs overlap");
    assert.deepEqual([a.gate.queuedBehind, b.gate.queuedBehind], [[], []]);
    assert.deepEqual(statusTexts("gate").at(-1), { fill: "green", shape: "dot", text: "free" });
  });

  it("a run started without the gate holds the gated job back until it ends", async function () {
    const src1 = tmpDir("src"), src2 = tmpDir("src");
    slowTree(src1, 1.5);
    fs.writeFileSync(path.join(src2, "small"), "x");
    const dst = tmpDir("dst");
    const flow = gateFlow(
      localJob("direct", src1, dst, { rsync: { bwlimit: "512K" } }),
      localJob("gated", src2, path.join(dst, "inside")),
      { ungated: "j1" },
    );
    await helper.load(nodes, flow);
    const results = collect(helper, "result");
    helper.getNode("j1").receive({});
    await copying(helper); // the direct run is copying
    helper.getNode("j2").receive({});
    await waitFor(() => results.length === 2, { timeout: 60000, what: "both results" });
    const [a, b] = results;
    assert.deepEqual(results.map((r) => r.payload.job), ["direct", "gated"]);
    assert.ok(b.payload.startedAt >= a.payload.finishedAt);
    assert.deepEqual(b.gate.queuedBehind, ["direct"]);
  });

  it("reports the delay once on output 2, gives up on output 3, and the job never runs", async function () {
    const src1 = tmpDir("src"), src2 = tmpDir("src");
    slowTree(src1, 4);
    fs.writeFileSync(path.join(src2, "small"), "x");
    const flow = gateFlow(
      { name: "long", source: { type: "local", paths: [{ path: src1 }] }, destination: sshDst(tmpDir("dst")), rsync: { bwlimit: "512K" } },
      { name: "impatient", source: { type: "local", paths: [{ path: src2 }] }, destination: sshDst(tmpDir("dst")) },
      { gate: { delay: 0.005, maxWait: 0.02 } }, // 0.3 s and 1.2 s
    );
    await helper.load(nodes, flow);
    const results = collect(helper, "result");
    const delayed = collect(helper, "delayed");
    helper.getNode("j1").receive({});
    await copying(helper);
    const gaveUp = next(helper, "timedout");
    const caught = next(helper, "caught");
    helper.getNode("j2").receive({});
    const t = await gaveUp;
    assert.equal(delayed.length, 1, "one delay notice");
    const d = delayed[0];
    assert.equal(d.topic, "impatient");
    assert.equal(d.payload.job, "impatient");
    assert.equal(d.payload.jobId, "j2");
    assert.equal(d.payload.status, "delayed");
    assert.ok(d.payload.waitedMs >= 300 && d.payload.waitedMs < 1200, `${d.payload.waitedMs}`);
    assert.deepEqual(d.payload.blockedBy, ["long"]);
    assert.equal(d.job, undefined, "a delay notice carries no job, so it cannot start one");
    const parsed = parseInput(d, Date.now());
    assert.equal(parsed.ok, true);
    assert.equal(parsed.event.outcome, "delayed");
    assert.equal(t.topic, "impatient");
    assert.equal(t.payload.status, "failed");
    assert.equal(t.payload.ok, false);
    assert.equal(t.payload.jobId, "j2");
    assert.match(t.payload.error, /^waited 1\.\d s for "long" \(running\); gave up$/);
    assert.match((await caught).error.message, /job "impatient" waited .* gave up/);
    assert.ok(statusTexts("gate").some((s) => s.fill === "yellow" && /1 waiting, 1 delayed/.test(s.text)));
    assert.ok(statusTexts("gate").some((s) => s.fill === "red" && s.text.startsWith("gave up")));
    await waitFor(() => results.length === 1, { timeout: 60000, what: "the long run's result" });
    assert.equal(results[0].payload.job, "long");
    assert.equal(delayed.length, 1, "still one delay notice");
    const runs = await helper.request().get("/highball/jobs/j2/runs").expect(200);
    assert.deepEqual(runs.body, [], "the job that gave up never ran");
  });

  it("answers status on output 1 with no job, and serves it at GET highball/gate", async function () {
    await helper.load(nodes, bareGate());
    const out = collect(helper, "out");
    const gate = helper.getNode("gate");
    gate.receive({ job: localJob("holder", "/data", "/backup/x") });
    gate.receive({ job: localJob("waiter", "/data", "/backup/x"), repository: undefined });
    await waitFor(() => out.length === 1, { what: "the first admission" });
    const reply = next(helper, "out");
    gate.receive({ action: "status" });
    const s = await reply;
    assert.equal(s.topic, "status");
    assert.equal(s.job, undefined);
    assert.equal(s.payload.paused, false);
    assert.deepEqual(s.payload.holding.map((h) => [h.job, h.kind]), [["holder", "reservation"]]);
    assert.deepEqual(s.payload.waiting.map((w) => [w.position, w.job, w.blockedBy.map((b) => b.job)]), [[1, "waiter", ["holder"]]]);
    assert.ok(s.payload.waiting[0].resources.includes("path:/backup/x"));
    const http = await helper.request().get("/highball/gate").expect(200);
    assert.deepEqual(http.body.waiting.map((w) => w.job), ["waiter"]);
    assert.deepEqual(statusTexts("gate").at(-1), { fill: "blue", shape: "ring", text: "1 waiting" });
    // release frees the admission that no run took; the waiter goes.
    const admitted = next(helper, "out");
    gate.receive({ action: "release", payload: "holder" });
    assert.equal((await admitted).job.name, "waiter");
    assert.deepEqual(statusTexts("gate").at(-1), { fill: "green", shape: "dot", text: "free" });
  });

  it("pause holds every job until resume; flush and release drop waiting jobs", async function () {
    await helper.load(nodes, bareGate());
    const out = collect(helper, "out");
    const gate = helper.getNode("gate");
    gate.receive({ action: "pause" });
    gate.receive({ job: localJob("a", "/data", "/backup/a") });
    gate.receive({ job: localJob("b", "/data", "/backup/b") });
    gate.receive({ job: localJob("c", "/data", "/backup/c") });
    await waitFor(() => statusTexts("gate").some((s) => s.text === "paused, 3 waiting"), { what: "paused status" });
    assert.deepEqual(statusTexts("gate").at(-1), { fill: "grey", shape: "ring", text: "paused, 3 waiting" });
    gate.receive({ action: "release", job: { name: "b" } });
    await waitFor(() => statusTexts("gate").at(-1).text === "paused, 2 waiting", { what: "b released" });
    assert.equal(out.length, 0);
    gate.receive({ action: "resume" });
    await waitFor(() => out.length === 2, { what: "a and c admitted" });
    assert.deepEqual(out.map((m) => m.job.name), ["a", "c"]);
    // Two more on a's folder wait for a's admission; flush drops them.
    gate.receive({ job: localJob("d", "/data", "/backup/a") });
    gate.receive({ job: localJob("e", "/data", "/backup/a") });
    await waitFor(() => statusTexts("gate").at(-1).text === "2 waiting", { what: "two waiting" });
    gate.receive({ action: "flush" });
    await waitFor(() => statusTexts("gate").at(-1).text === "free", { what: "flushed" });
    assert.equal(out.length, 2);
  });

  it("restic jobs on the repository given in msg.repository wait for each other; extra tags join jobs", async function () {
    await helper.load(nodes, bareGate());
    let out = collect(helper, "out");
    let gate = helper.getNode("gate");
    const restic = (name, profile) => ({ name, engine: "restic", profile, source: { type: "local", paths: [{ path: "/data" }] } });
    gate.receive({ job: restic("r1", "p1"), repository: "sftp:b@nas:/srv/restic" });
    gate.receive({ job: restic("r2", "p2"), repository: "sftp:b@nas:/srv/restic/" });
    gate.receive({ job: restic("r3", "p3"), repository: "/srv/elsewhere" });
    await waitFor(() => out.length === 2, { what: "r1 and r3 admitted" });
    assert.deepEqual(out.map((m) => m.job.name), ["r1", "r3"]);
    assert.deepEqual(out[0].gate.resources, ["job:r1", "repo:sftp:b@nas:/srv/restic", "profile:p1"]);
    let s = next(helper, "out");
    gate.receive({ action: "status" });
    assert.deepEqual((await s).payload.waiting.map((w) => [w.job, w.blockedBy.map((b) => `${b.job} on ${b.on}`)]),
      [["r2", ["r1 on repo:sftp:b@nas:/srv/restic"]]]);
    await helper.unload();

    // The gate's own tag is held by every job that passes it: one USB disk, one job at a time.
    await helper.load(nodes, bareGate({ tags: "usb-disk" }));
    out = collect(helper, "out");
    gate = helper.getNode("gate");
    gate.receive({ job: localJob("u1", "/data", "/mnt/usb/one") });
    gate.receive({ job: localJob("u2", "/data", "/mnt/usb/two") });
    await waitFor(() => out.length === 1, { what: "u1 admitted" });
    s = next(helper, "out");
    gate.receive({ action: "status" });
    assert.deepEqual((await s).payload.waiting.map((w) => [w.job, w.blockedBy.map((b) => `${b.job} on ${b.on}`)]),
      [["u2", ["u1 on tag:usb-disk"]]]);
  });

  it("refuses a message without msg.job and an unknown action with clear errors; an invalid job goes straight on, holding nothing", async function () {
    await helper.load(nodes, bareGate());
    const gate = helper.getNode("gate");
    const caught = collect(helper, "caught");
    const out = collect(helper, "out");
    gate.receive({ payload: "go" });
    const bad = { name: "bad", engine: "rsync", source: { paths: [{ path: "relative" }] }, destination: { type: "local", path: "/x" } };
    gate.receive({ job: bad });
    gate.receive({ action: "explode" });
    gate.receive({ action: "release" });
    gate.receive({ job: { name: "r", engine: "restic", profile: "p" }, repository: 42 });
    await waitFor(() => caught.length === 4 && out.length === 1, { what: "four errors and the invalid job passed on" });
    const errors = caught.map((c) => c.error.message);
    assert.match(errors[0], /no job to gate: msg\.job is missing/);
    assert.match(errors[1], /unknown action "explode"/);
    assert.match(errors[2], /release needs the job/);
    assert.match(errors[3], /msg\.repository must be the restic repository/);
    // The run node after the gate refuses it and records the failure as a run (test/nodes/failed-start.test.js).
    assert.deepEqual(out[0].job, bad);
    assert.deepEqual(out[0].gate, { waitedMs: 0, queuedBehind: [], resources: [] });
  });

  it("a repeated trigger of a waiting job is merged; cancel drops a waiting job and passes on", async function () {
    await helper.load(nodes, bareGate());
    const out = collect(helper, "out");
    const gate = helper.getNode("gate");
    const job = { id: "same", ...localJob("same", "/data", "/backup/s") };
    gate.receive({ job });
    await waitFor(() => out.length === 1, { what: "first admitted" });
    gate.receive({ job });
    gate.receive({ job });
    await waitFor(() => callsOf("gate", "warn").length === 1, { what: "a warning" });
    assert.match(callsOf("gate", "warn")[0][0], /job "same" is already waiting in the conflict gate .*merged/);
    gate.receive({ action: "cancel", job });
    await waitFor(() => out.length === 2, { what: "the cancel passed on" });
    assert.equal(out[1].action, "cancel");
    gate.receive({ action: "status" });
    await waitFor(() => out.length === 3, { what: "status" });
    assert.deepEqual(out[2].payload.waiting, []);
    assert.deepEqual(out[2].payload.holding.map((h) => h.job), ["same"], "cancel does not free an admission whose run may be starting");
  });
});
