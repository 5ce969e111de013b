"use strict";
// backup-job → rsync-run with real rsync, sshd and rsync daemon on loopback.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun, rsyncFlow, next, copying, collect, knownHosts } = require("../support/flow");
const { tmpDir, makeTree, readTree, stopAll, waitFor, processesMatching } = require("../fixtures/util");
const { startSshd, rotateHostKey } = require("../fixtures/sshd");
const { startRsyncd } = require("../fixtures/rsyncd");

const nodes = [backupJob, rsyncRun];

/** Files (relative path → content) below dir, for comparing two trees. */
function tree(dir) {
  return readTree(dir);
}
const names = (dir) => readTree(dir).filter((e) => e.type === "file").map((e) => e.path).sort();

describe(`rsync jobs (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  let sshd, rsyncd, home;

  before(async function () {
    [sshd, rsyncd] = await Promise.all([startSshd(), startRsyncd()]);
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

  async function runJob(job, opts = {}) {
    const { flow, creds } = rsyncFlow({ name: "job", engine: "rsync", ...job }, opts);
    await helper.load(nodes, flow, creds);
    const result = next(helper, "result");
    // A node error before any result (an invalid job) fails the test at once, with its words.
    const caught = next(helper, "caught").then((m) => { throw new Error(`caught before a result: ${m.error.message}`); });
    caught.catch(() => undefined);
    helper.getNode("j1").receive({ payload: "go" });
    return Promise.race([result, new Promise((resolve, reject) => { caught.catch(reject); result.then(resolve); })]);
  }

  const ssh = () => ({ host: "127.0.0.1", port: sshd.port, user: "root", identityFile: sshd.clientKey });

  function expectCopy(msg, src, dst, made) {
    assert.equal(msg.payload.status, "success", msg.payload.error);
    assert.equal(msg.payload.ok, true);
    assert.equal(msg.payload.filesChanged, made.files);
    assert.equal(msg.payload.bytesTransferred, made.bytes);
    assert.equal(msg.payload.bytesTotal, made.bytes);
    assert.deepEqual(tree(dst), tree(src));
  }

  it("local → local copies the tree, and the payload counts what rsync moved", async function () {
    const src = tmpDir("src"), dst = path.join(tmpDir("dst"), "out");
    const made = makeTree(src, { files: 25, size: 4096 });
    const msg = await runJob({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    expectCopy(msg, src, dst, made);
    assert.equal(msg.topic, "job");
    assert.match(msg.payload.runId, /^[A-Za-z0-9_-]+$/);
    assert.equal(msg.payload.jobId, "j1");
    assert.equal(msg.payload.engine, "rsync");
    assert.equal(msg.payload.exitCode, 0);
    assert.equal(typeof msg.payload.startedAt, "number");
    assert.ok(msg.payload.finishedAt >= msg.payload.startedAt);
    assert.ok(msg.run.logTail.some((l) => l.includes("Number of regular files transferred: 25")));
    const log = fs.readFileSync(path.join(home, "logs", msg.run.logFile), "utf8");
    assert.match(log, /# finished .*: success \(exit 0\)/);
    assert.match(msg.run.logFile, /^\d{4}\.\d\d\.\d\d_\d\d\.\d\d-job\./);
    // A second, unchanged run moves nothing.
    const again = next(helper, "result");
    helper.getNode("j1").receive({});
    const second = await again;
    assert.equal(second.payload.filesChanged, 0);
    assert.equal(second.payload.bytesTransferred, 0);
    assert.equal(second.payload.filesTotal, made.files);
  });

  it("each path keeps its own include and exclude rules", async function () {
    const a = tmpDir("a"), b = tmpDir("b"), dst = tmpDir("dst");
    fs.writeFileSync(path.join(a, "keep.jpg"), "jpg");
    fs.writeFileSync(path.join(a, "skip.tmp"), "tmp");
    fs.mkdirSync(path.join(b, "cache"));
    fs.writeFileSync(path.join(b, "cache", "x"), "cache");
    fs.writeFileSync(path.join(b, "skip.tmp"), "b tmp is kept: the rule is a's");
    const msg = await runJob({
      source: { type: "local", paths: [{ path: a, exclude: ["*.tmp"] }, { path: b, exclude: ["cache/"] }] },
      destination: { type: "local", path: dst },
    });
    assert.equal(msg.payload.status, "success", msg.payload.error);
    assert.deepEqual(names(dst), [`${path.basename(a)}/keep.jpg`, `${path.basename(b)}/skip.tmp`].sort());
  });

  it("local → ssh", async function () {
    const src = tmpDir("src"), dst = path.join(tmpDir("dst"), "remote copy");
    const made = makeTree(src, { files: 12, size: 3000 });
    const msg = await runJob({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "ssh", ...ssh(), path: dst } });
    expectCopy(msg, src, dst, made);
  });

  it("ssh → local", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    const made = makeTree(src, { files: 12, size: 3000 });
    const msg = await runJob({ source: { type: "ssh", ...ssh(), paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    expectCopy(msg, src, dst, made);
  });

  it("local → rsync daemon (password from the job's credentials)", async function () {
    const src = tmpDir("src");
    const made = makeTree(src, { files: 9, size: 2000 });
    const m = rsyncd.modules.secure;
    const msg = await runJob(
      { source: { type: "local", paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: rsyncd.port, user: m.user, module: m.name, path: "/photos" } },
      { creds: { rsyncdPassword: m.password } },
    );
    expectCopy(msg, src, path.join(m.path, "photos"), made);
  });

  it("ssh → rsync daemon runs rsync on the source host (data goes host to host)", async function () {
    const src = tmpDir("src");
    const made = makeTree(src, { files: 7, size: 1500 });
    const m = rsyncd.modules.secure;
    const msg = await runJob(
      { source: { type: "ssh", ...ssh(), paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: rsyncd.port, user: m.user, module: m.name, path: "from-ssh" } },
      { creds: { rsyncdPassword: m.password } },
    );
    expectCopy(msg, src, path.join(m.path, "from-ssh"), made);
    const log = fs.readFileSync(path.join(home, "logs", msg.run.logFile), "utf8");
    assert.match(log, /^# ssh /m, "the run is an ssh to the source host");
    assert.ok(!log.includes(m.password), "the daemon password is not in the log");
  });

  it("ssh → ssh runs rsync on the source host, with host keys checked on that hop too", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    const made = makeTree(src, { files: 8, size: 1000 });
    const msg = await runJob({
      source: { type: "ssh", ...ssh(), paths: [{ path: src }] },
      destination: { type: "ssh", ...ssh(), path: dst },
    });
    expectCopy(msg, src, dst, made);
  });

  it("a missing source fails with a clear error, seen by a catch node", async function () {
    const dst = tmpDir("dst");
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: "/nonexistent/highball" }] }, destination: { type: "local", path: dst } });
    await helper.load(nodes, flow);
    const result = next(helper, "result");
    const caught = next(helper, "caught");
    helper.getNode("j1").receive({});
    const msg = await result;
    assert.equal(msg.payload.status, "failed");
    assert.equal(msg.payload.ok, false);
    assert.match(msg.payload.error, /source path \/nonexistent\/highball.* does not exist/);
    const c = await caught;
    assert.match(c.error.message, /does not exist/);
    assert.ok(helper.getNode("run").status.calledWithMatch({ fill: "red" }));
  });

  it("a file that vanishes mid-run ends as a warning", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(400 * 1024, i));
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, rsync: { bwlimit: "800K" } });
    await helper.load(nodes, flow);
    const result = next(helper, "result");
    const progress = copying(helper);
    helper.getNode("j1").receive({});
    await progress; // rsync has its file list and is copying
    fs.rmSync(path.join(src, "f5.bin"));
    const msg = await result;
    assert.equal(msg.payload.status, "warning", msg.payload.error);
    assert.equal(msg.payload.exitCode, 24);
    assert.match(msg.payload.error, /vanished/);
    assert.equal(msg.payload.ok, true);
  });

  it("progress comes on the second output at most twice a second, and in the status", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(256 * 1024, i));
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, rsync: { bwlimit: "1M" } });
    await helper.load(nodes, flow);
    const got = collect(helper, "progress");
    const result = next(helper, "result");
    helper.getNode("j1").receive({});
    const msg = await result;
    assert.equal(msg.payload.status, "success", msg.payload.error);
    // The first message says the run started (percent 0, msg.run.start); the rest are rsync's progress.
    assert.equal(got[0].run.start, true);
    assert.equal(got[0].payload.percent, 0);
    assert.equal(got[0].run.runId, msg.payload.runId);
    assert.equal(got.filter((p) => p.run.start).length, 1);
    assert.ok(got.length >= 3, `saw ${got.length} progress messages`);
    for (const p of got) {
      assert.equal(typeof p.payload.percent, "number");
      assert.ok(p.payload.percent >= 0 && p.payload.percent <= 100);
      assert.equal(typeof p.payload.bytesDone, "number");
      assert.ok("etaSeconds" in p.payload && "rate" in p.payload && "filesTotal" in p.payload);
    }
    const seconds = msg.payload.durationMs / 1000;
    assert.ok(got.length - 1 <= Math.ceil(seconds * 2) + 1, `${got.length - 1} progress messages in ${seconds} s`);
    assert.ok(helper.getNode("run").status.calledWithMatch({ fill: "blue", text: sinonLike(/running \d+%/) }));
  });

  for (const [what, job, expect] of [
    ["a bad client key", () => ({ identityFile: sshd.otherKey }), /authentication failed/],
    ["an unknown host key", () => ({ unknownHost: true }), /host key is not known/],
    ["a refused port", () => ({ port: 1 }), /refused/],
  ]) {
    it(`ssh with ${what} fails with a clear error`, async function () {
      const src = tmpDir("src");
      const j = job();
      if (j.unknownHost) { knownHosts(home, ""); delete j.unknownHost; }
      const msg = await runJob({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "ssh", ...ssh(), ...j, path: tmpDir("dst") } });
      assert.equal(msg.payload.status, "failed");
      // 255, or 12 when rsync saw the pipe close before ssh's exit status (a race rsync has).
      assert.ok([255, 12].includes(msg.payload.exitCode), `exit ${msg.payload.exitCode}`);
      assert.match(msg.payload.error, /^ssh failed: /);
      assert.match(msg.payload.error, expect);
    });
  }

  it("a changed host key is refused, even with accept-new", async function () {
    const other = await startSshd();
    try {
      knownHosts(home, other.knownHostsLine);
      const rotated = await rotateHostKey(other);
      const src = tmpDir("src");
      makeTree(src, { files: 1 });
      const msg = await runJob({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "ssh", host: "127.0.0.1", port: rotated.port, user: "root", identityFile: rotated.clientKey, acceptNewHostKey: true, path: tmpDir("dst") } });
      assert.equal(msg.payload.status, "failed");
      assert.match(msg.payload.error, /host key of the server has changed/);
    } finally {
      await other.stop();
    }
  });

  it("accept-new trusts a host seen for the first time and records its key", async function () {
    knownHosts(home, "");
    const src = tmpDir("src"), dst = tmpDir("dst");
    const made = makeTree(src, { files: 3 });
    const msg = await runJob({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "ssh", ...ssh(), acceptNewHostKey: true, path: dst } });
    expectCopy(msg, src, dst, made);
    assert.match(fs.readFileSync(path.join(home, "ssh", "known_hosts"), "utf8"), /ssh-ed25519/);
  });

  it("the rsync daemon's wrong password and unknown module fail with clear errors", async function () {
    const src = tmpDir("src");
    const m = rsyncd.modules.secure;
    let msg = await runJob(
      { source: { type: "local", paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: rsyncd.port, user: m.user, module: m.name } },
      { creds: { rsyncdPassword: "wrong" } },
    );
    assert.equal(msg.payload.status, "failed");
    assert.equal(msg.payload.exitCode, 5);
    assert.match(msg.payload.error, /refused the login: auth failed on module secure/);
    await helper.unload();
    msg = await runJob({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: rsyncd.port, module: "nosuch" } });
    assert.equal(msg.payload.status, "failed");
    assert.match(msg.payload.error, /no such module: Unknown module 'nosuch'/);
    await helper.unload();
    msg = await runJob({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: 1, module: "backup" } });
    assert.equal(msg.payload.exitCode, 10);
    assert.match(msg.payload.error, /could not connect to the rsync daemon/);
  });

  it("cancel mid-run stops rsync and ssh, records cancelled, and leaves no process behind", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(512 * 1024, i));
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "ssh", ...ssh(), path: dst }, rsync: { bwlimit: "500K" } });
    await helper.load(nodes, flow);
    const result = next(helper, "result");
    helper.getNode("j1").receive({});
    await copying(helper);
    const mine = () => processesMatching((p) => p.cmdline.join(" ").includes(dst));
    assert.ok(mine().length >= 2, "rsync and ssh are running");
    helper.getNode("j1").receive({ action: "cancel" });
    const msg = await result;
    assert.equal(msg.payload.status, "cancelled");
    assert.match(msg.payload.error, /cancelled by a message/);
    await waitFor(() => mine().length === 0, { what: "no rsync or ssh process of the run", timeout: 10000 });
    const runs = await helper.request().get("/highball/jobs/j1/runs").expect(200);
    assert.equal(runs.body[0].status, "cancelled");
  });

  it("a redeploy that removes the node cancels its run and records it", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(512 * 1024, i));
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, rsync: { bwlimit: "300K" } });
    await helper.load(nodes, flow);
    helper.getNode("j1").receive({});
    await copying(helper);
    await helper.setFlows([{ id: "tab", type: "tab", label: "t" }], "full");
    await waitFor(() => processesMatching((p) => p.cmdline.join(" ").includes(dst)).length === 0, { what: "rsync stopped" });
    const runs = await helper.request().get("/highball/jobs/j1/runs").expect(200);
    assert.equal(runs.body[0].status, "cancelled");
    assert.match(runs.body[0].error, /removed by a deploy/);
  });

  it("stopping Node-RED cancels the run's whole process tree and records it cancelled", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(512 * 1024, i));
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "ssh", ...ssh(), path: dst }, rsync: { bwlimit: "300K" } });
    await helper.load(nodes, flow);
    helper.getNode("j1").receive({});
    await copying(helper);
    await helper.unload();
    assert.equal(processesMatching((p) => p.cmdline.join(" ").includes(dst)).length, 0, "close waited until rsync and ssh were gone");
    const { Engine } = require("../../dist/lib/runs/engine");
    const [last] = await Engine.get(home).history.list("j1");
    assert.equal(last.status, "cancelled");
    assert.match(last.error, /Node-RED stopped/);
  });

  it("a job triggered while it runs is not started twice, and the second trigger is reported", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(256 * 1024, i));
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, rsync: { bwlimit: "1M" } });
    await helper.load(nodes, flow);
    const results = collect(helper, "result");
    const caught = next(helper, "caught");
    helper.getNode("j1").receive({});
    await copying(helper);
    helper.getNode("j1").receive({});
    const c = await caught;
    assert.match(c.error.message, /already running \(run [\w-]+\); this trigger did not start a second run/);
    await waitFor(() => results.length === 1, { what: "the first run's result" });
    assert.equal(results[0].payload.status, "success");
  });

  it("names and paths with spaces, quotes, a leading dash, $(...), backticks and ; are passed literally", async function () {
    const canary = path.join(tmpDir("canary"), "pwned");
    const evil = [`-rf --delete`, `a b "c" 'd'`, `$(touch ${canary})`, "`touch " + canary + "`", `x; touch ${canary}`];
    const root = tmpDir("src");
    const src = path.join(root, "-dash $(x) `y`; 'q'");
    fs.mkdirSync(src);
    for (const name of evil) fs.writeFileSync(path.join(src, name.replace(/\//g, "_")), name);
    for (const [what, destination, source] of [
      ["local", (d) => ({ type: "local", path: d }), { type: "local" }],
      ["ssh → ssh", (d) => ({ type: "ssh", ...ssh(), path: d }), { type: "ssh", ...ssh() }],
    ]) {
      const dst = path.join(tmpDir("dst"), "out; $(touch x) `y` 'z'");
      const msg = await runJob({ name: `-n $(touch ${canary}); \`id\``, source: { ...source, paths: [{ path: src }] }, destination: destination(dst) });
      assert.equal(msg.payload.status, "success", `${what}: ${msg.payload.error}`);
      assert.deepEqual(tree(dst), tree(src), what);
      assert.equal(fs.existsSync(canary), false, `${what}: nothing was executed`);
      await helper.unload();
    }
  });

  it("an invalid job is a node error seen by catch, a red status, a failed run recorded, and nothing runs", async function () {
    const dst = tmpDir("dst");
    for (const [job, why] of [
      [{ source: { type: "local", paths: [{ path: "relative/path" }] }, destination: { type: "local", path: dst } }, /absolute path/],
      [{ source: { type: "ssh", host: "-oProxyCommand=touch /tmp/x", paths: [{ path: "/a" }] }, destination: { type: "local", path: dst } }, /not a valid host/],
      [{ source: { type: "local", paths: [{ path: "/a" }] }, destination: { type: "local", path: dst }, rsync: { args: ["-e", "sh"] } }, /not allowed/],
      [{ source: { type: "local", paths: [{ path: "/a" }] }, destination: { type: "local", path: dst }, rsync: { args: ["--exclude", "/etc"] } }, /needs its value attached/],
    ]) {
      const { flow } = rsyncFlow({ name: "bad", engine: "rsync", ...job });
      await helper.load(nodes, flow);
      const caught = next(helper, "caught");
      const results = collect(helper, "result");
      helper.getNode("j1").receive({});
      const c = await caught;
      assert.match(c.error.message, why);
      assert.ok(helper.getNode("j1").status.calledWithMatch({ fill: "red" }));
      // Every failure is a run: the invalid job's failure is its result and its history.
      await waitFor(() => results.length === 1, { what: "the failed result" });
      assert.equal(results[0].payload.status, "failed");
      assert.equal(results[0].payload.exitCode, null);
      assert.equal(results[0].payload.jobId, "j1");
      assert.match(results[0].payload.error, why);
      assert.deepEqual(fs.readdirSync(dst), []);
      await helper.unload();
    }
    // msg.job straight from an http in node is checked by the run node too.
    const { flow } = rsyncFlow({ name: "x", engine: "rsync", source: { type: "local", paths: [{ path: "/tmp" }] }, destination: { type: "local", path: dst } }, { runProps: { acceptJobs: true } });
    await helper.load(nodes, flow);
    const caught = next(helper, "caught");
    helper.getNode("run").receive({ job: { name: "from http", engine: "rsync", source: { paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "x/../../etc" } } });
    assert.match((await caught).error.message, /destination.path must be an absolute path/);
  });

  it("secrets appear in no log, message, status or command line", async function () {
    const src = tmpDir("src");
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), Buffer.alloc(256 * 1024, i));
    const m = rsyncd.modules.secure;
    const { flow, creds } = rsyncFlow(
      { name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: rsyncd.port, user: m.user, module: m.name, path: "secret-test" }, rsync: { bwlimit: "1M" } },
      { creds: { rsyncdPassword: m.password } },
    );
    await helper.load(nodes, flow, creds);
    const seen = [];
    const result = next(helper, "result");
    const progress = collect(helper, "progress");
    helper.getNode("j1").receive({});
    await copying(helper);
    for (const p of processesMatching(() => true)) seen.push(p.cmdline.join(" "));
    const msg = await result;
    assert.equal(msg.payload.status, "success", msg.payload.error);
    const everything = [
      JSON.stringify(msg), JSON.stringify(progress),
      fs.readFileSync(path.join(home, "logs", msg.run.logFile), "utf8"),
      ...fs.readdirSync(home, { recursive: true }).filter((f) => fs.statSync(path.join(home, f)).isFile()).map((f) => fs.readFileSync(path.join(home, f), "utf8")),
      JSON.stringify(helper.getNode("run").status.args), JSON.stringify(helper.getNode("j1").status.args),
      ...seen,
    ].join("\n");
    assert.ok(seen.some((c) => c.includes("rsync://")), "the command lines were seen while rsync ran");
    assert.ok(!everything.includes(m.password), "the daemon password leaked");
  });

  it("history is keyed by the backup-job node, so renaming the job keeps it", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 2 });
    await runJob({ name: "old name", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    await helper.unload();
    const msg = await runJob({ name: "new name", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    assert.equal(msg.payload.job, "new name");
    const runs = await helper.request().get("/highball/jobs/j1/runs").expect(200);
    assert.deepEqual(runs.body.map((r) => r.job), ["new name", "old name"]);
    const jobs = await helper.request().get("/highball/jobs").expect(200);
    assert.equal(jobs.body.find((j) => j.id === "j1").last.runId, msg.payload.runId);
  });

  it("GET highball/jobs lists each job with its last result and the next run of the schedule wired to it", async function () {
    const schedule = require("../../dist/nodes/highball-schedule-trigger/highball-schedule-trigger.js");
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 2 });
    const { flow } = rsyncFlow({ name: "nightly", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    flow.push({ id: "sched", z: "tab", type: "highball-schedule-trigger", name: "at two", schedule: "daily at 02:00", timezone: "UTC", missed: "skip", wires: [["j1"]] });
    await helper.load([...nodes, schedule], flow);
    const result = next(helper, "result");
    helper.getNode("j1").receive({});
    const msg = await result;
    const jobs = (await helper.request().get("/highball/jobs").expect(200)).body;
    const j = jobs.find((x) => x.id === "j1");
    assert.equal(j.name, "nightly");
    assert.equal(j.engine, "rsync");
    assert.equal(j.enabled, true);
    assert.equal(j.running, null);
    assert.equal(j.last.runId, msg.payload.runId);
    assert.equal(j.lastSuccess.runId, msg.payload.runId);
    assert.deepEqual(j.counts, { success: 1 });
    assert.equal(typeof j.nextRun, "number");
    const d = new Date(j.nextRun);
    assert.equal(`${d.getUTCHours()}:${d.getUTCMinutes()}`, "2:0");
    assert.ok(j.nextRun > Date.now());
  });

  it("GET highball/jobs reads no history file: the jobs' summaries answer", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 2 });
    const msg = await runJob({ name: "summed", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    const { Engine } = require("../../dist/lib/runs/engine");
    const historyDir = Engine.get(home).history.dir;
    const opened = [];
    const fsp = fs.promises;
    const { readFile, open } = fsp;
    const { readFileSync, openSync } = fs;
    const note = (f) => { if (String(f).startsWith(historyDir)) opened.push(String(f)); };
    fsp.readFile = function (f, ...rest) { note(f); return readFile.call(this, f, ...rest); };
    fsp.open = function (f, ...rest) { note(f); return open.call(this, f, ...rest); };
    fs.readFileSync = function (f, ...rest) { note(f); return readFileSync.call(this, f, ...rest); };
    fs.openSync = function (f, ...rest) { note(f); return openSync.call(this, f, ...rest); };
    let jobs;
    try {
      jobs = (await helper.request().get("/highball/jobs").expect(200)).body;
    } finally {
      Object.assign(fsp, { readFile, open });
      Object.assign(fs, { readFileSync, openSync });
    }
    assert.equal(jobs.find((j) => j.id === "j1").last.runId, msg.payload.runId);
    assert.deepEqual(opened, []);
  });

  it("GET highball/jobs: an unchanged list is a 304 to its ETag, gzip on request, and a run that ends changes the tag", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 2 });
    const job = { name: "polled", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } };
    const { flow } = rsyncFlow(job);
    // Five more jobs (never run): a list over 1 KiB, the size from which it is worth compressing.
    for (let i = 2; i <= 6; i++) flow.push({ id: `j${i}`, z: "tab", type: "highball-backup-job", ...job, name: `polled ${i}`, wires: [[]] });
    await helper.load(nodes, flow);
    let result = next(helper, "result");
    helper.getNode("j1").receive({ payload: "go" });
    const first = await result;
    const a = await helper.request().get("/highball/jobs").set("Accept-Encoding", "identity").expect(200);
    assert.ok(a.text.length > 1024, `${a.text.length} bytes`);
    const tag = a.headers.etag;
    assert.match(tag, /^W\/"jobs-/);
    assert.equal(a.headers["cache-control"], "no-cache");
    assert.equal(a.headers["content-encoding"], undefined);
    assert.equal(a.body.find((j) => j.id === "j1").last.runId, first.payload.runId);
    // The browser's revalidation: same tag, no body.
    const b = await helper.request().get("/highball/jobs").set("If-None-Match", tag).expect(304);
    assert.equal(b.text, "");
    // A browser asks for gzip: the same list, compressed (supertest inflates it).
    const c = await helper.request().get("/highball/jobs").set("Accept-Encoding", "gzip, deflate, br").expect(200);
    assert.equal(c.headers["content-encoding"], "gzip");
    assert.equal(c.headers.etag, tag);
    assert.deepEqual(c.body, a.body);
    // Another run ends: the old tag is stale, the list has the new last result.
    result = next(helper, "result");
    helper.getNode("j1").receive({ payload: "again" });
    const second = await result;
    const d = await helper.request().get("/highball/jobs").set("If-None-Match", tag).expect(200);
    assert.notEqual(d.headers.etag, tag);
    const j = d.body.find((x) => x.id === "j1");
    assert.equal(j.last.runId, second.payload.runId);
    assert.deepEqual(j.counts, { success: 2 });
  });

  it("a job sent straight from http in (no id) keeps its history under its name and is listed", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 2 });
    // The run node accepts jobs from messages; the message's destination is the deployed job's.
    const { flow } = rsyncFlow({ name: "unused", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } }, { runProps: { acceptJobs: true } });
    await helper.load(nodes, flow);
    const result = next(helper, "result");
    helper.getNode("run").receive({ job: { name: "from http", engine: "rsync", source: { paths: [{ path: src }] }, destination: { type: "local", path: dst } } });
    const msg = await result;
    assert.equal(msg.payload.jobId, "from http");
    const jobs = (await helper.request().get("/highball/jobs").expect(200)).body;
    const j = jobs.find((x) => x.id === "from http");
    assert.equal(j.name, "from http");
    assert.equal(j.last.runId, msg.payload.runId);
    const runs = (await helper.request().get(`/highball/jobs/${encodeURIComponent("from http")}/runs`).expect(200)).body;
    assert.equal(runs[0].runId, msg.payload.runId);
  });

  it("a deleted job's last config is kept with its history", async function () {
    const src = tmpDir("src"), dst = tmpDir("dst");
    makeTree(src, { files: 2 });
    await runJob({ name: "to delete", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    await helper.setFlows([{ id: "tab", type: "tab", label: "t" }], "full");
    const { Engine } = require("../../dist/lib/runs/engine");
    const e = Engine.get(home);
    const deleted = await e.history.deleted();
    assert.equal(deleted[0].key, "j1");
    assert.equal(deleted[0].config.name, "to delete");
    assert.equal(deleted[0].config.destination.path, dst);
    assert.equal((await e.history.list("j1")).length, 1);
  });
});

/** sinon's calledWithMatch takes matchers; a RegExp works through sinon.match. */
function sinonLike(re) {
  return require("sinon").match(re);
}
