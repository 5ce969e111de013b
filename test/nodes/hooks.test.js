"use strict";
// Hooks (SPEC "Hooks") on a real rsync job: before / success / failure / finally commands, each
// an argument array run through the helper runner (own process group, output in the run's log),
// with HIGHBALL_* in their environment; on the ssh source host through a real sshd on loopback
// with the job's own key and host-key check. A failing before hook is a recorded failed run that
// names it; a failing success hook makes a warning; cancel stops a hook's whole process tree;
// a message cannot bring hooks of its own; bad hooks are clear sentences of the one schema.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun, rsyncFlow, next, knownHosts } = require("../support/flow");
const { tmpDir, makeTree, waitFor, processesMatching, stopAll } = require("../fixtures/util");
const { startSshd } = require("../fixtures/sshd");
const { jobProblems } = require("../../dist/lib/job/validate");

describe(`hooks (Node-RED ${helper.major})`, function () {
  this.timeout(90000);
  let home, src, dst, marks, sshd;
  before(async function () { sshd = await startSshd(); });
  after(async function () { await stopAll(); });
  beforeEach(function () {
    home = tmpDir("home");
    helper.settings({ highball: { dir: home } });
    knownHosts(home, sshd.knownHostsLine);
    src = tmpDir("src");
    makeTree(src, { files: 4, size: 1024 });
    dst = path.join(tmpDir("dst"), "out");
    marks = tmpDir("marks");
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  /** A hook that appends its name and environment to a marker file. */
  const mark = (name, extra = {}) => ({ run: ["sh", "-c", `echo "${name} $HIGHBALL_JOB $HIGHBALL_RUN_ID $HIGHBALL_ENGINE [$HIGHBALL_STATUS] [$HIGHBALL_ERROR]" >> "$0"; echo "${name} says hello"`, path.join(marks, "log")], ...extra });
  const marked = () => (fs.existsSync(path.join(marks, "log")) ? fs.readFileSync(path.join(marks, "log"), "utf8").trim().split("\n") : []);

  async function run(hooks, job = {}, msg = {}) {
    const { flow } = rsyncFlow({ name: "photos", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, hooks, ...job });
    await helper.load([backupJob, rsyncRun], flow);
    const result = next(helper, "result");
    helper.getNode("j1").receive(msg);
    return result;
  }
  const logOf = (msg) => fs.readFileSync(path.join(home, "logs", msg.run.logFile), "utf8");

  it("runs before, success and finally hooks in order around the backup, with the HIGHBALL_* environment, their output in the run's log", async function () {
    const msg = await run({ before: [mark("before")], success: [mark("success")], failure: [mark("failure")], finally: [mark("finally")] });
    assert.equal(msg.payload.status, "success", msg.payload.error);
    const id = msg.payload.runId;
    assert.deepEqual(marked(), [
      `before photos ${id} rsync [] []`,
      `success photos ${id} rsync [success] []`,
      `finally photos ${id} rsync [success] []`,
    ]);
    assert.deepEqual(msg.run.hooks.map((h) => [h.when, h.exitCode]), [["before", 0], ["success", 0], ["finally", 0]]);
    for (const h of msg.run.hooks) assert.ok(Number.isInteger(h.durationMs) && h.durationMs >= 0);
    assert.deepEqual(msg.run.hooks[0].run, mark("before").run);
    const log = logOf(msg);
    assert.match(log, /# before hook: sh -c /);
    assert.match(log, /\nbefore says hello\n/);
    assert.ok(log.indexOf("before says hello") < log.indexOf("Number of files"), "the before hook ran before rsync");
    assert.ok(log.indexOf("finally says hello") > log.indexOf("Number of files"));
    assert.ok(fs.existsSync(dst), "the backup ran");
  });

  it("a failing before hook stops the run: a recorded failed run naming the hook, rsync never started, failure and finally hooks still run", async function () {
    const msg = await run({ before: [{ run: ["sh", "-c", "echo db is busy >&2; exit 3"] }], failure: [mark("failure")], finally: [mark("finally")] });
    assert.equal(msg.payload.status, "failed");
    assert.equal(msg.payload.ok, false);
    assert.match(msg.payload.error, /the before hook sh -c "echo db is busy >&2; exit 3" failed \(exit 3: db is busy\); the backup did not run/);
    assert.ok(!fs.existsSync(dst), "rsync did not run");
    assert.equal(marked().length, 2);
    assert.match(marked()[0], /^failure photos \S+ rsync \[failed\] \[the before hook .* failed/);
    const runs = (await helper.request().get("/highball/jobs/j1/runs").expect(200)).body;
    assert.equal(runs[0].status, "failed");
    assert.equal(runs[0].runId, msg.payload.runId);
  });

  it("onError ignore lets the run go on; a missing program is a sentence", async function () {
    const msg = await run({ before: [{ run: ["highball-no-such-program-4711"], onError: "ignore" }] });
    assert.equal(msg.payload.status, "success", msg.payload.error);
    assert.equal(msg.run.hooks[0].exitCode, null);
    assert.match(msg.run.hooks[0].error, /highball-no-such-program-4711 is not installed/);
  });

  it("a failing success hook turns success into a warning; a failing finally hook hides nothing", async function () {
    const msg = await run({ success: [{ run: ["false"] }], finally: [{ run: ["false"] }] });
    assert.equal(msg.payload.status, "warning");
    assert.match(msg.payload.error, /the success hook false failed \(exit 1\)/);
    assert.deepEqual(msg.run.hooks.map((h) => [h.when, h.exitCode]), [["success", 1], ["finally", 1]]);
  });

  it("a hook's timeout stops its whole process tree", async function () {
    // Durations no other test uses: the check looks at every process of the machine.
    const msg = await run({ before: [{ run: ["sh", "-c", "sleep 347 & sleep 349; wait"], timeoutSeconds: 1 }] });
    assert.equal(msg.payload.status, "failed");
    assert.match(msg.payload.error, /took longer than its limit of 1 s and was stopped/);
    await waitFor(() => processesMatching((p) => /^sleep 34[79]$/.test(p.cmdline.join(" ").trim())).length === 0, { timeout: 10000, what: "both sleeps gone" });
  });

  it("cancel during a before hook kills its process group and ends the run cancelled", async function () {
    const { flow } = rsyncFlow({ name: "photos", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, hooks: { before: [{ run: ["sh", "-c", "sleep 302 & sleep 303; wait"] }] } });
    await helper.load([backupJob, rsyncRun], flow);
    const result = next(helper, "result");
    helper.getNode("j1").receive({});
    await waitFor(() => processesMatching((p) => /sleep 303/.test(p.cmdline.join(" "))).length > 0, { timeout: 10000, what: "the hook running" });
    helper.getNode("j1").receive({ action: "cancel" });
    const msg = await result;
    assert.equal(msg.payload.status, "cancelled");
    await waitFor(() => processesMatching((p) => /sleep 30[23]/.test(p.cmdline.join(" "))).length === 0, { timeout: 10000, what: "both sleeps gone" });
    assert.ok(!fs.existsSync(dst));
  });

  it("on: source runs the hook on the ssh source host, with the job's key and host-key check, and the environment", async function () {
    const remoteMark = path.join(marks, "remote");
    const ssh = { type: "ssh", host: "127.0.0.1", port: sshd.port, user: "root", identityFile: sshd.clientKey, paths: [{ path: src }] };
    const msg = await run({ before: [{ run: ["sh", "-c", "echo \"on $(hostname) $HIGHBALL_JOB $HIGHBALL_ENGINE\" > \"$0\"", remoteMark], on: "source" }] }, { source: ssh });
    assert.equal(msg.payload.status, "success", msg.payload.error);
    assert.match(fs.readFileSync(remoteMark, "utf8"), /^on \S+ photos rsync\n$/);
    assert.equal(msg.run.hooks[0].on, "source");
    assert.match(logOf(msg), /# before hook: sh -c .* \(on 127\.0\.0\.1\)/);
  });

  it("on: source with a host key that is not known fails the run with ssh's sentence", async function () {
    knownHosts(home, "");
    const ssh = { type: "ssh", host: "127.0.0.1", port: sshd.port, user: "root", identityFile: sshd.clientKey, paths: [{ path: src }] };
    const msg = await run({ before: [{ run: ["true"], on: "source" }] }, { source: ssh });
    assert.equal(msg.payload.status, "failed");
    assert.match(msg.payload.error, /the before hook true failed \(the server's host key is not known/);
  });

  it("a message cannot bring hooks: only the deployed backup job's hooks run", async function () {
    const flow = [
      { id: "tab", type: "tab", label: "t" },
      // The node accepts whole jobs from messages (issue 19's opt-in), the most a message can
      // get: even then its hooks do not run, since a hook runs a program.
      // A deployed job (no hooks) backs up to the same destination: the only place a message's job may send data.
      { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, wires: [[]] },
      { id: "run", z: "tab", type: "highball-rsync-run", name: "rsync", acceptJobs: true, wires: [["result"], []] },
      { id: "result", z: "tab", type: "helper" },
    ];
    await helper.load([backupJob, rsyncRun], flow);
    const result = next(helper, "result");
    helper.getNode("run").receive({ job: { name: "from-http", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, hooks: { before: [mark("injected")] } } });
    const msg = await result;
    assert.equal(msg.payload.status, "success", msg.payload.error);
    assert.deepEqual(marked(), [], "the message's hook did not run");
    assert.deepEqual(msg.run.hooks, []);
  });

  it("bad hooks are clear sentences from the one schema (the editor's and the runtime's)", function () {
    const job = (hooks, source = { type: "local", paths: [{ path: "/srv" }] }) => ({ name: "j", engine: "rsync", source, destination: { type: "local", path: "/b" }, hooks });
    assert.deepEqual(jobProblems(job({ before: [{ run: "systemctl stop db" }] })), [
      'hooks.before.0.run must be an argument array such as ["systemctl", "stop", "db"] (a shell string is not run; write ["sh", "-c", "..."] knowingly)',
    ]);
    assert.deepEqual(jobProblems(job({ before: [{ run: [] }] })), ["hooks.before.0.run must NOT have fewer than 1 items"]);
    assert.deepEqual(jobProblems(job({ success: [{ run: ["", "x"] }] })), ["hooks.success[0] has an empty command: its first word is the program to run"]);
    assert.deepEqual(jobProblems(job({ finally: [{ run: ["true"], on: "source" }] })), ["hooks.finally[0] runs on the source host, but the source is local: set on to local, or make the source ssh"]);
    assert.deepEqual(jobProblems(job({ after: [{ run: ["true"] }] })), ['hooks has an unknown field "after"']);
    assert.deepEqual(jobProblems(job({ before: [{ run: ["true"], onError: "maybe" }] })), ["hooks.before.0.onError must be one of fail, ignore"]);
    assert.deepEqual(jobProblems(job({ before: [{ run: ["true"], on: "local", timeoutSeconds: 5, onError: "ignore" }] })), []);
  });
});
