"use strict";
// Where the tools start (the spawner process), what a run costs Node-RED while a tool writes
// its own log (only the newest bytes are read), and that a run's record is there for readers
// before it is on disk, which it reaches right after.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { Engine } = require("../../dist/lib/runs/engine");
const { Spawner } = require("../../dist/lib/runs/spawner");
const { rsyncSteps, RsyncParser } = require("../../dist/lib/engines/rsync");
const { validateJob } = require("../../dist/lib/job/validate");
const { tmpDir, makeTree, stopAll, waitFor, processesMatching, alive } = require("../fixtures/util");

const ROOT = path.resolve(__dirname, "..", "..");
const job = (name) => validateJob({ name, engine: "rsync", source: { type: "local", paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "/tmp/x" } });
const shell = (script, extra = {}) => ({ plan: { command: "sh", args: ["-c", script], ...extra }, parser: new RsyncParser([]) });
const logOf = (e, r) => fs.readFileSync(path.join(e.history.logsDir, r.logFile), "utf8");

describe("the spawner: tools start from a small process, not from Node-RED", function () {
  after(stopAll);

  it("starts each tool as its child, in a process group of the tool's own, with output, stdin and exit code intact", async function () {
    if (process.env.HIGHBALL_SPAWNER === "off") this.skip();
    const e = Engine.get(tmpDir("home"));
    // A UTF-8 character split over two writes, stdout and stderr, stdin, an exit code.
    const script = 'echo "ppid=$PPID pgid=$(ps -o pgid= -p $$ | tr -d " ") pid=$$"; printf "caf\\303"; sleep 0.1; printf "\\251\\n"; read pw; echo "stdin=$pw"; echo oops >&2; exit 3';
    const r = await e.start({ job: job("sp"), key: "sp", command: "sync", steps: [shell(script, { stdin: "s3cret\n", secrets: ["s3cret"] })] }).result;
    const spawner = Spawner.shared();
    assert.ok(spawner && spawner.pid, "a spawner runs");
    const log = logOf(e, r);
    const m = /ppid=(\d+) pgid=(\d+) pid=(\d+)/.exec(log);
    assert.ok(m, log);
    assert.equal(Number(m[1]), spawner.pid, "the tool's parent is the spawner");
    assert.notEqual(Number(m[1]), process.pid);
    assert.equal(m[2], m[3], "the tool leads its own process group");
    assert.match(log, /^café$/m, "a character split between two chunks arrives whole");
    assert.match(log, /^stdin=\*\*\*$/m, "stdin reached the tool (and the secret is masked in the log)");
    assert.match(log, /^! oops$/m);
    assert.equal(r.exitCode, 3);
    assert.equal(r.status, "failed");
  });

  it("passes a long output through whole, in order, while the log holds the tool back", async function () {
    const e = Engine.get(tmpDir("home"));
    // 300,000 numbered lines (~4 MB) through the spawner's channel and the log's backpressure.
    const r = await e.start({ job: job("long output"), key: "long output", command: "sync", steps: [shell("seq 1 300000")] }).result;
    assert.equal(r.status, "success");
    const lines = logOf(e, r).split("\n").filter((l) => /^\d+$/.test(l));
    assert.equal(lines.length, 300000);
    assert.ok(lines.every((l, i) => Number(l) === i + 1), "every line, in order");
  });

  it("a spawner killed mid-run ends the run failed with a sentence and stops its tool; the next run gets a new spawner", async function () {
    if (process.env.HIGHBALL_SPAWNER === "off") this.skip();
    const e = Engine.get(tmpDir("home"));
    const marker = `highball-spawner-test-${process.pid}-${Date.now()}`;
    const run = e.start({ job: job("long"), key: "long", command: "sync", steps: [shell(`exec sleep 300 # ${marker}`)] });
    await waitFor(() => run.pid, { timeout: 10000, what: "the tool's PID" });
    const first = Spawner.shared().pid;
    const tool = run.pid;
    process.kill(first, "SIGKILL");
    const r = await run.result;
    assert.equal(r.status, "failed");
    assert.match(r.error, /spawner\) ended unexpectedly/);
    await waitFor(() => !alive(tool) || processesMatching((p) => p.pid === tool && p.state === "Z").length, { timeout: 5000, what: "the tool stopped" });
    assert.deepEqual(processesMatching((p) => p.cmdline.join(" ").includes(marker)).filter((p) => p.state !== "Z"), [], "no tool left behind");
    const again = await e.start({ job: job("again"), key: "again", command: "sync", steps: [shell("echo ppid=$PPID")] }).result;
    assert.equal(again.status, "success");
    const second = Number(/ppid=(\d+)/.exec(logOf(e, again))[1]);
    assert.equal(second, Spawner.shared().pid);
    assert.notEqual(second, first, "a new spawner");
  });

  it("a cancel that comes before the tool's PID is known still stops it", async function () {
    const e = Engine.get(tmpDir("home"));
    const marker = `highball-early-cancel-${process.pid}-${Date.now()}`;
    const run = e.start({ job: job("early"), key: "early", command: "sync", steps: [shell(`exec sleep 300 # ${marker}`)] });
    setImmediate(() => run.cancel());
    const r = await run.result;
    assert.equal(r.status, "cancelled");
    await waitFor(() => processesMatching((p) => p.cmdline.join(" ").includes(marker) && p.state !== "Z").length === 0, { timeout: 5000, what: "no sleep left" });
  });

  it("with HIGHBALL_SPAWNER=off tools start from Node-RED's process itself; either way an idle process exits on its own", function () {
    const script = `
      const { Engine } = require(${JSON.stringify(path.join(ROOT, "dist/lib/runs/engine"))});
      const { RsyncParser } = require(${JSON.stringify(path.join(ROOT, "dist/lib/engines/rsync"))});
      const { validateJob } = require(${JSON.stringify(path.join(ROOT, "dist/lib/job/validate"))});
      const fs = require("fs");
      const e = Engine.get(process.argv[1]);
      const job = validateJob({ name: "x", engine: "rsync", source: { type: "local", paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "/tmp/x" } });
      e.start({ job, key: "x", command: "sync", steps: [{ plan: { command: "sh", args: ["-c", "echo ppid=$PPID"] }, parser: new RsyncParser([]) }] }).result
        .then((r) => console.log(process.pid, /ppid=(\\d+)/.exec(fs.readFileSync(e.history.logsDir + "/" + r.logFile, "utf8"))[1]));`;
    for (const mode of ["off", "on"]) {
      const out = spawnSync(process.execPath, ["-e", script, tmpDir("home")], { env: { ...process.env, HIGHBALL_SPAWNER: mode }, encoding: "utf8", timeout: 20000 });
      assert.equal(out.status, 0, `the process ended by itself (${mode}): ${out.stderr}`);
      const [self, parent] = out.stdout.trim().split(" ").map(Number);
      if (mode === "off") assert.equal(parent, self, "the tool is Node-RED's child");
      else assert.notEqual(parent, self, "the tool is the spawner's child");
    }
  });

  it("a Node-RED that exits while its spawner is starting leaves no spawner and no crash report behind", function () {
    if (process.env.HIGHBALL_SPAWNER === "off") this.skip();
    // The spawner's first message meets a closed channel (EPIPE): it must end quietly.
    for (const ms of [0, 5, 15, 30]) {
      const script = `const { Spawner } = require(${JSON.stringify(path.join(ROOT, "dist/lib/runs/spawner"))});
        const s = Spawner.shared(); s.warm(); console.log(s.pid); setTimeout(() => process.exit(0), ${ms});`;
      // stderr is a pipe the spawner inherits: spawnSync returns once the spawner has closed it too.
      const out = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20000 });
      assert.equal(out.status, 0);
      assert.equal(out.stderr, "", `exit after ${ms} ms: nothing on stderr`);
      const pid = Number(out.stdout.trim());
      assert.ok(pid > 0);
      assert.equal(alive(pid), false, `exit after ${ms} ms: the spawner is gone`);
    }
  });
});

describe("a tool that writes its own log", function () {
  after(stopAll);

  it("costs the parser the newest lines only, however long the output; progress and the summary are still read", async function () {
    const home = tmpDir("home");
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 20000, size: 16, subdirs: 100 });
    const e = Engine.get(home);
    const j = validateJob({ name: "verbose", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, rsync: { args: ["-v"] } });
    const steps = rsyncSteps(j, { knownHostsFile: e.knownHostsFile });
    assert.equal(steps[0].plan.directOutput, true);
    let seen = 0, seenBytes = 0;
    const parser = steps[0].parser;
    const stdout = parser.stdout.bind(parser);
    parser.stdout = (line) => { seen++; seenBytes += Buffer.byteLength(line) + 1; stdout(line); };
    const run = e.start({ job: j, key: "verbose", command: "sync", steps });
    const progress = [];
    run.on("progress", (p) => progress.push(p));
    const r = await run.result;
    assert.equal(r.status, "success", r.error);
    assert.equal(r.filesChanged, 20000, "the --stats summary was read");
    assert.equal(r.filesTotal, 20000);
    const logLines = logOf(e, r).split(/\r\n|\r|\n/).length;
    assert.ok(logLines > 40000, `the log holds every line (${logLines})`);
    // Each poll (two a second) reads at most the newest 16 KiB, the end at most 64 KiB: what the
    // parser sees grows with the run's duration, not with its output. The bound is that budget
    // for this run's duration (a slow, loaded machine polls more often within one run), and it
    // must stay well below the whole log.
    const logBytes = Buffer.byteLength(logOf(e, r));
    // Four polls of slack: the poll timer runs from before the run's clock starts to after it
    // stops, and on a loaded machine a late tick and the end's read can both fall in that margin.
    const polls = Math.ceil(r.durationMs / 500) + 4;
    const budget = polls * 16 * 1024 + 64 * 1024;
    assert.ok(seenBytes <= budget, `the parser read ${seenBytes} bytes (${seen} lines) in ${polls} polls: more than ${budget}`);
    assert.ok(seenBytes * 4 < logBytes, `the parser read ${seenBytes} of the log's ${logBytes} bytes`);
    assert.ok(seen < logLines, `the parser saw ${seen} of ${logLines} lines`);
    if (progress.length) assert.ok(progress.every((p) => p.percent >= 0 && p.percent <= 100));
  });
});

describe("a run's record", function () {
  after(stopAll);

  it("is in the history for readers when the result is out, and on disk once `saved` settles; the registry file keeps the run until then", async function () {
    const e = Engine.get(tmpDir("home"));
    const run = e.start({ job: job("rec"), key: "rec", command: "sync", steps: [shell("true")] });
    const r = await run.result;
    assert.equal((await e.history.last("rec")).runId, r.runId, "readable at once");
    assert.equal(e.registry.list().length, 0, "no longer running");
    await run.saved;
    const file = fs.readdirSync(e.history.dir).map((f) => path.join(e.history.dir, f))[0];
    assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).runs[0].runId, r.runId, "on disk");
    await e.registry.settled();
    assert.deepEqual(JSON.parse(fs.readFileSync(e.registry.file, "utf8")).runs, []);
  });

  it("a history file that is not valid JSON is moved aside and reported once; the run is recorded in a fresh one", async function () {
    const e = Engine.get(tmpDir("home"));
    const { keyFile } = require("../../dist/lib/runs/history");
    const { onQuarantine } = require("../../dist/lib/util/fsx");
    const told = [];
    const off = onQuarantine((q) => told.push(q));
    fs.mkdirSync(e.history.dir, { recursive: true });
    const file = path.join(e.history.dir, `${keyFile("bad")}.json`);
    fs.writeFileSync(file, "{ not json");
    try {
      const run = e.start({ job: job("bad"), key: "bad", command: "sync", steps: [shell("true")] });
      const r = await run.result;
      assert.equal(r.status, "success");
      await run.saved;
      assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).runs[0].runId, r.runId, "the next run is recorded");
      const aside = fs.readdirSync(e.history.dir).filter((f) => f.startsWith(`${keyFile("bad")}.json.corrupt-`));
      assert.equal(aside.length, 1, "the broken file is kept aside for a human");
      assert.equal(fs.readFileSync(path.join(e.history.dir, aside[0]), "utf8"), "{ not json");
      assert.deepEqual((await e.history.list("bad")).map((x) => x.runId), [r.runId]);
      assert.equal(told.length, 1, "reported once");
      assert.equal(told[0].file, file);
    } finally {
      off();
    }
    await e.registry.settled();
    assert.deepEqual(JSON.parse(fs.readFileSync(e.registry.file, "utf8")).runs, [], "the run is not left 'running'");
  });
});
