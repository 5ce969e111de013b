"use strict";
// The run machinery without Node-RED: history and retention, logs, the registry after a crash.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { Engine } = require("../../dist/lib/runs/engine");
const { History } = require("../../dist/lib/runs/history");
const { tailLines, tailLinesSync, resultTail, readRange, searchLines } = require("../../dist/lib/runs/logread");
const { rsyncSteps, RsyncParser } = require("../../dist/lib/engines/rsync");
const { validateJob } = require("../../dist/lib/job/validate");
const { tmpDir, makeTree, stopAll, waitFor, processesMatching } = require("../fixtures/util");

const DAY = 24 * 3600 * 1000;

function record(over) {
  return {
    job: "j", jobId: "k", runId: `r${Math.random().toString(36).slice(2, 10)}`, engine: "rsync", command: "sync",
    status: "success", ok: true, startedAt: 0, finishedAt: 0, durationMs: 0, exitCode: 0,
    filesTotal: null, filesChanged: null, bytesTotal: null, bytesTransferred: null, snapshotId: null, error: null,
    logFile: "", ...over,
  };
}

describe("run history and retention", function () {
  after(stopAll);

  it("keeps failed runs' logs longer than successful ones, and drops records past the limits", async function () {
    const home = tmpDir("home");
    const h = new History(home, { maxRuns: 3, maxDays: 100, logDays: 10, failedLogDays: 60 });
    fs.mkdirSync(h.logsDir, { recursive: true });
    const now = Date.now();
    const add = async (status, ageDays) => {
      const logFile = `${status}-${ageDays}.log`;
      fs.writeFileSync(path.join(h.logsDir, logFile), "x\n");
      await h.add(record({ status, ok: status !== "failed", startedAt: now - ageDays * DAY, finishedAt: now - ageDays * DAY, logFile }), now);
    };
    await add("failed", 30);
    await add("success", 20);
    await add("success", 5);
    let runs = await h.list("k");
    assert.deepEqual(runs.map((r) => r.status), ["success", "success", "failed"]);
    assert.equal(fs.existsSync(path.join(h.logsDir, "failed-30.log")), true, "a 30-day-old failed log is kept (60 days)");
    assert.equal(fs.existsSync(path.join(h.logsDir, "success-20.log")), false, "a 20-day-old success log is gone (10 days)");
    assert.equal(runs[1].logFile, "", "its record says so");
    assert.equal(fs.existsSync(path.join(h.logsDir, "success-5.log")), true);
    await add("success", 1);
    runs = await h.list("k");
    assert.equal(runs.length, 3, "maxRuns");
    assert.equal(fs.existsSync(path.join(h.logsDir, "failed-30.log")), false, "a dropped record takes its log along");
    assert.equal(await h.find(runs[0].runId).then((r) => r.runId), runs[0].runId);
    assert.equal(await h.find("../../etc/passwd"), null);
  });

  it("history files are owner-only and named by a hash, whatever the job key", async function () {
    const home = tmpDir("home");
    const h = new History(home);
    await h.add(record({ jobId: "../../evil name", finishedAt: Date.now() }));
    const files = fs.readdirSync(h.dir);
    assert.equal(files.length, 1);
    assert.match(files[0], /^[0-9a-f]{32}\.json$/);
    assert.equal(fs.statSync(path.join(h.dir, files[0])).mode & 0o777, 0o600);
    assert.equal(fs.statSync(h.dir).mode & 0o777, 0o700);
  });
});

describe("the jobs' summaries", function () {
  const { keyFile } = require("../../dist/lib/runs/history");

  it("keep each job's last result, last success and counts as runs end, and a new process reads no history file", async function () {
    const home = tmpDir("home");
    const h = new History(home, { maxRuns: 3, maxDays: 365, logDays: 30, failedLogDays: 180 });
    await h.ready();
    const now = Date.now();
    const ok = record({ jobId: "a", job: "A", status: "success", finishedAt: now - 5000 });
    await h.add(ok, now);
    await h.add(record({ jobId: "a", job: "A", status: "failed", ok: false, finishedAt: now - 4000, error: "boom" }), now);
    await h.add(record({ jobId: "b", job: "B", engine: "restic", status: "warning", finishedAt: now - 3000 }), now);
    const a = h.summary("a");
    assert.equal(a.last.status, "failed");
    assert.equal(a.last.error, "boom");
    assert.deepEqual(a.counts, { success: 1, failed: 1 });
    assert.deepEqual(a.lastSuccess, { runId: ok.runId, finishedAt: ok.finishedAt });
    assert.equal(h.summary("b").lastSuccess.finishedAt, now - 3000, "a warning is a success");
    // Three failures push the only success out of the kept records: it is still the last success.
    for (let i = 0; i < 3; i++) await h.add(record({ jobId: "a", job: "A", status: "failed", ok: false, finishedAt: now - 1000 + i }), now);
    assert.deepEqual(h.summary("a").counts, { failed: 3 });
    assert.equal(h.summary("a").runs, 3);
    assert.deepEqual(h.summary("a").lastSuccess, { runId: ok.runId, finishedAt: ok.finishedAt });
    await h.settled();

    // A new process knows every job from the summary alone: no history file is read.
    const again = new History(home);
    assert.deepEqual(await again.ready(), { read: 0 });
    assert.deepEqual((await again.keys()).map((k) => k.key).sort(), ["a", "b"]);
    assert.equal(again.summary("a").last.runId, h.summary("a").last.runId);
    assert.deepEqual(again.summary("a").lastSuccess, { runId: ok.runId, finishedAt: ok.finishedAt });
    assert.equal(again.summary("b").engine, "restic");
  });

  it("are built once from the history when missing or unreadable, and read again only the file that changed behind them", async function () {
    const home = tmpDir("home");
    const h = new History(home);
    const now = Date.now();
    for (const key of ["a", "b", "c"]) for (let i = 0; i < 4; i++) await h.add(record({ jobId: key, job: key.toUpperCase(), finishedAt: now - 100 + i }), now);
    await h.settled();
    const summaryFile = path.join(home, "summary.json");

    // An upgrade: history, no summary yet.
    fs.rmSync(summaryFile);
    let again = new History(home);
    assert.deepEqual(await again.ready(), { read: 3 });
    assert.deepEqual(again.summary("c").counts, { success: 4 });
    assert.ok(fs.existsSync(summaryFile), "written once built");
    assert.deepEqual(await new History(home).ready(), { read: 0 }, "and not built again");

    // Node-RED stopped after a history file was written and before the summary was.
    const file = path.join(h.dir, `${keyFile("b")}.json`);
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    doc.runs.unshift(record({ jobId: "b", job: "B", status: "failed", ok: false, finishedAt: now + 1 }));
    fs.writeFileSync(file, JSON.stringify(doc));
    again = new History(home);
    assert.deepEqual(await again.ready(), { read: 1 });
    assert.equal(again.summary("b").last.status, "failed");
    assert.deepEqual(again.summary("b").counts, { success: 4, failed: 1 });

    // A summary that does not parse is rebuilt, never trusted.
    fs.writeFileSync(summaryFile, "{ not json");
    again = new History(home);
    assert.deepEqual(await again.ready(), { read: 3 });
    assert.equal(again.summary("b").last.status, "failed");
    assert.doesNotThrow(() => JSON.parse(fs.readFileSync(summaryFile, "utf8")));
    assert.equal(fs.readdirSync(home).filter((f) => f.startsWith("summary.json.corrupt-")).length, 1, "the broken one is kept aside");
  });
});

describe("log reading", function () {
  after(stopAll);
  it("tails, pages and searches a large log without reading it whole", async function () {
    const file = path.join(tmpDir("log"), "big.log");
    const out = fs.createWriteStream(file);
    for (let i = 1; i <= 200000; i++) out.write(`line ${i}${i % 50000 === 0 ? " needle" : ""}\n`);
    await new Promise((r) => out.end(r));
    assert.deepEqual(await tailLines(file, 3), ["line 199998", "line 199999", "line 200000 needle"]);
    const r = await readRange(file, 0, 14);
    assert.equal(r.text, "line 1\nline 2\n");
    assert.equal(r.size, fs.statSync(file).size);
    assert.deepEqual((await searchLines(file, "NEEDLE")).map((m) => m.line), [50000, 100000, 150000, 200000]);
  });

  it("gives a result the same tail at once, across block edges and progress redraws, and nothing for a missing log", async function () {
    const file = path.join(tmpDir("log"), "result.log");
    const lines = [];
    for (let i = 1; i <= 3000; i++) lines.push(i % 7 ? `line ${i} ${"x".repeat(i % 90)}` : `  ${i}%\r  ${i + 1}%`);
    fs.writeFileSync(file, lines.join("\n") + "\n");
    for (const n of [1, 20, 999, 1000]) {
      const sync = tailLinesSync(file, n);
      assert.equal(sync.length, n);
      assert.deepEqual(sync, await tailLines(file, n));
      assert.deepEqual(await resultTail(file, n), sync);
    }
    assert.deepEqual(await resultTail(file, 2500), await tailLines(file, 2500));
    assert.deepEqual(await resultTail(path.join(tmpDir("log"), "gone.log"), 20), []);
  });
});

describe("rsync output parsing", function () {
  it("reads progress2 lines, stats, and classifies exit codes with plain sentences", function () {
    const p = new RsyncParser(["/src"]);
    p.stdout("     20,000,000   5%  380.84MB/s    0:00:10 (xfr#1, to-chk=19/21)");
    const prog = p.takeProgress();
    assert.equal(prog.percent, 5);
    assert.equal(prog.bytesDone, 20000000);
    assert.equal(prog.filesTotal, 21);
    assert.equal(prog.filesDone, 2);
    assert.equal(prog.etaSeconds, 10);
    assert.ok(prog.rate > 380e6 && prog.rate < 400e6);
    assert.equal(p.takeProgress(), null);
    p.stdout("Number of files: 21 (reg: 20, dir: 1)");
    p.stdout("Number of regular files transferred: 20");
    p.stdout("Total file size: 400,000,000 bytes");
    p.stdout("Total transferred file size: 400,000,000 bytes");
    const ok = p.finish(0, null);
    assert.deepEqual([ok.status, ok.stats.filesTotal, ok.stats.filesChanged, ok.stats.bytesTotal, ok.stats.bytesTransferred], ["success", 20, 20, 400000000, 400000000]);

    const cases = [
      [23, ['rsync: [sender] link_stat "/src" failed: No such file or directory (2)'], "failed", /source path \/src does not exist/],
      [23, ['rsync: [sender] send_files failed to open "/src/x": Permission denied (13)'], "warning", /could not be transferred/],
      [24, ['file has vanished: "/src/a"'], "warning", /vanished/],
      [5, ["@ERROR: auth failed on module secure"], "failed", /refused the login/],
      [10, ["rsync: failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)"], "failed", /could not connect to the rsync daemon at 127.0.0.1: Connection refused/],
      [255, ["root@127.0.0.1: Permission denied (publickey).", "rsync: connection unexpectedly closed (0 bytes received so far) [sender]"], "failed", /ssh failed: ssh authentication failed/],
      [12, ["rsync: connection unexpectedly closed"], "failed", /data stream broke/],
      [20, [], "failed", /stopped by a signal/],
      [30, [], "failed", /timed out/],
      [99, [], "failed", /exit code 99/],
    ];
    for (const [code, errs, status, sentence] of cases) {
      const q = new RsyncParser(["/src"]);
      for (const e of errs) q.stderr(e);
      const o = q.finish(code, null);
      assert.equal(o.status, status, `exit ${code}`);
      assert.match(o.error, sentence, `exit ${code}`);
    }
  });
});

describe("a Node-RED process killed with kill -9 mid-run", function () {
  this.timeout(60000);
  after(stopAll);

  it("leaves a run that the next start records as interrupted, hands to its node, and whose rsync is stopped", async function () {
    const home = tmpDir("home");
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(512 * 1024, i));
    const script = `
      const { Engine } = require(${JSON.stringify(path.resolve(__dirname, "../../dist/lib/runs/engine"))});
      const { rsyncSteps } = require(${JSON.stringify(path.resolve(__dirname, "../../dist/lib/engines/rsync"))});
      const e = Engine.get(process.argv[1]);
      const job = { name: "victim", engine: "rsync", source: { type: "local", paths: [{ path: process.argv[2] }] }, destination: { type: "local", path: process.argv[3] }, rsync: { bwlimit: "300K" } };
      e.ready.then(() => { const run = e.start({ job, key: "victim-key", nodeId: "run-node", command: "sync", steps: rsyncSteps(job, { knownHostsFile: e.knownHostsFile }) });
        run.on("progress", () => console.log("progress")); });`;
    const child = spawn(process.execPath, ["-e", script, home, src, dst], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((resolve) => child.stdout.once("data", resolve));
    const running = JSON.parse(fs.readFileSync(path.join(home, "running.json"), "utf8")).runs;
    assert.equal(running.length, 1);
    assert.ok(running[0].pid > 0);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    assert.ok(processesMatching((p) => p.cmdline.join(" ").includes(dst)).length > 0, "rsync outlived Node-RED");

    const e = Engine.get(home);
    const interrupted = [];
    e.on("interrupted", (r) => interrupted.push(r));
    await e.ready;
    assert.equal(interrupted.length, 1);
    assert.equal(interrupted[0].status, "interrupted");
    assert.equal(interrupted[0].runId, running[0].runId);
    await waitFor(() => processesMatching((p) => p.cmdline.join(" ").includes(dst)).length === 0, { what: "the orphaned rsync stopped" });
    const history = await e.history.list("victim-key");
    assert.equal(history[0].status, "interrupted");
    assert.match(history[0].error, /Node-RED stopped while this run was running/);
    assert.deepEqual((await e.takeInterrupted("run-node")).map((r) => r.runId), [running[0].runId]);
    assert.deepEqual(await e.takeInterrupted("run-node"), [], "handed over once");
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(home, "running.json"), "utf8")).runs, [], "nothing stays running");
    assert.match(fs.readFileSync(path.join(home, "logs", running[0].logFile), "utf8"), /# interrupted/);
  });

  it("does not record a second time a run whose record was written before the crash took the registry's update", async function () {
    const home = tmpDir("home");
    const now = Date.now();
    const done = record({ jobId: "crashed-key", startedAt: now - 2000, finishedAt: now - 1000 });
    const h = new History(home);
    await h.add(done, now);
    await h.settled();
    const gone = spawn("true");
    await new Promise((resolve) => gone.once("exit", resolve));
    const entry = (runId) => ({ runId, key: "crashed-key", job: "j", engine: "rsync", command: "sync", nodeId: "n", startedAt: now - 2000, pid: null, ownerPid: gone.pid, logFile: "", resources: [], deadline: null });
    const open = record().runId;
    fs.writeFileSync(path.join(home, "running.json"), JSON.stringify({ runs: [entry(done.runId), entry(open)] }));

    const e = Engine.get(home);
    const interrupted = [];
    e.on("interrupted", (r) => interrupted.push(r.runId));
    await e.ready;
    assert.deepEqual(interrupted, [open], "only the run with no record is recorded interrupted");
    const runs = await e.history.list("crashed-key");
    assert.deepEqual(runs.map((r) => [r.runId, r.status]).sort(), [[done.runId, "success"], [open, "interrupted"]].sort());
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(home, "running.json"), "utf8")).runs, [], "nothing stays running");
  });
});

describe("the run machinery", function () {
  this.timeout(60000);
  after(stopAll);

  it("a run's timeout stops it and ends it failed with a sentence", async function () {
    const home = tmpDir("home");
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(512 * 1024, i));
    const e = Engine.get(home);
    const job = validateJob({ name: "slow", engine: "rsync", timeoutSeconds: 1, source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, rsync: { bwlimit: "100K" } });
    const r = await e.start({ job, key: "slow", command: "sync", steps: rsyncSteps(job, { knownHostsFile: e.knownHostsFile }) }).result;
    assert.equal(r.status, "failed");
    assert.match(r.error, /longer than its limit of 1 s/);
    assert.ok(r.durationMs < 10000);
  });

  it("a missing program is a failed run with a sentence, not a crash", async function () {
    const e = Engine.get(tmpDir("home"));
    const job = validateJob({ name: "x", engine: "rsync", source: { type: "local", paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "/tmp/x" } });
    const r = await e.start({ job, key: "x", command: "sync", steps: rsyncSteps(job, { knownHostsFile: e.knownHostsFile, executable: "/nonexistent/rsync" }) }).result;
    assert.equal(r.status, "failed");
    assert.match(r.error, /not installed \(command not found\)/);
  });

  it("a run that cannot start is recorded like any run: start and end told, registry, history and log", async function () {
    const home = tmpDir("home");
    const e = Engine.get(home);
    const seen = [];
    e.on("start", (run) => seen.push(["start", run.key, e.registry.list().some((x) => x.runId === run.runId)]));
    e.on("end", (rec) => seen.push(["end", rec.jobId, rec.status]));
    const run = e.fail({ key: "k1", name: "photos", engine: "restic", command: "backup", error: "profile \"nas\" has no password", nodeId: "n1" });
    const r = await run.result;
    await run.saved;
    assert.deepEqual(seen, [["start", "k1", true], ["end", "k1", "failed"]]);
    assert.equal(r.status, "failed");
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, null);
    assert.equal(r.error, "profile \"nas\" has no password");
    assert.equal(r.engine, "restic");
    assert.equal(r.nodeId, "n1");
    assert.equal(e.registry.list().length, 0);
    assert.equal((await e.history.last("k1")).runId, r.runId);
    assert.match(fs.readFileSync(path.join(home, "logs", r.logFile), "utf8"), /could not start: profile "nas" has no password/);
    // Whose history it lands in: the message's job when it is usable and not forged, else the node's.
    const { failedKey } = require("../../dist/lib/runs/failure");
    const own = { key: "node", name: "node", engine: "rsync", command: "sync" };
    const deployed = (id) => (id === "j1" ? { name: "photos" } : undefined);
    assert.deepEqual(failedKey({ id: "j1", name: "photos", engine: "restic" }, own, deployed), { key: "j1", name: "photos", engine: "restic", command: "backup" });
    assert.deepEqual(failedKey({ id: "j1", name: "other" }, own, deployed), own);
    assert.deepEqual(failedKey({ id: "j1" }, own, deployed), own);
    assert.deepEqual(failedKey({ name: "j1" }, own, deployed), own);
    assert.deepEqual(failedKey({ name: "adhoc", engine: "restic", restic: { command: "check" } }, own, deployed), { key: "adhoc", name: "adhoc", engine: "restic", command: "check" });
    assert.deepEqual(failedKey({ name: " \n " }, own, deployed), own);
    assert.deepEqual(failedKey(["x"], own, deployed), own);
    assert.deepEqual(failedKey(null, own, deployed), own);
  });

  it("masks secrets in the log even when a tool prints them", async function () {
    const home = tmpDir("home");
    const e = Engine.get(home);
    const job = validateJob({ name: "echo", engine: "rsync", source: { type: "local", paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "/tmp/x" } });
    const { RsyncParser } = require("../../dist/lib/engines/rsync");
    const r = await e.start({ job, key: "echo", command: "sync", steps: [{ plan: { command: "sh", args: ["-c", 'echo "token is $T"'], env: { T: "hunter2-secret" }, secrets: ["hunter2-secret"] }, parser: new RsyncParser([]) }] }).result;
    const log = fs.readFileSync(path.join(home, "logs", r.logFile), "utf8");
    assert.match(log, /token is \*\*\*/);
    assert.ok(!log.includes("hunter2-secret"));
  });

  it("streams a long output to the log without holding it", async function () {
    const home = tmpDir("home");
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 3000, size: 16, subdirs: 30 });
    const e = Engine.get(home);
    const job = validateJob({ name: "many", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    const r = await e.start({ job, key: "many", command: "sync", steps: rsyncSteps(job, { knownHostsFile: e.knownHostsFile }) }).result;
    assert.equal(r.status, "success");
    assert.equal(r.filesChanged, 3000);
    const lines = fs.readFileSync(path.join(home, "logs", r.logFile), "utf8").split("\n").filter((l) => l.startsWith(">f+++++++++"));
    assert.equal(lines.length, 3000, "every itemized file reached the log");
  });
});
