"use strict";
// profile-config + backup-job + restic-run with real restic repositories, local and over sftp.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawn, execFileSync } = require("node:child_process");
const helper = require("../support/red");
const { next, collect } = require("../support/flow");
const { tmpDir, makeTree, stopAll, waitFor, processesMatching, track } = require("../fixtures/util");
const { initResticRepo, restic, resticVersion } = require("../fixtures/restic");
const { startSshd } = require("../fixtures/sshd");

const nodes = [
  require("../../dist/nodes/highball-profile-config/highball-profile-config.js"),
  require("../../dist/nodes/highball-backup-job/highball-backup-job.js"),
  require("../../dist/nodes/highball-restic-run/highball-restic-run.js"),
];

/** profiles: [{id, name, options, password?}]; job: backup-job props or null (the run node runs alone). */
function flow({ profiles, job, run = {} }) {
  const f = [{ id: "tab", type: "tab", label: "t" }];
  const creds = {};
  // Config node ids never equal a property value elsewhere (Node-RED would take it for a reference).
  const id = (name) => `cfg-${name}`;
  for (const p of profiles) {
    f.push({ id: id(p.name), type: "highball-profile-config", name: p.name, options: p.options });
    if (p.password) creds[id(p.name)] = { password: p.password };
  }
  run = { ...run };
  if (run.profile) run.profile = id(run.profile);
  if (run.copyTo) run.copyTo = id(run.copyTo);
  if (job) f.push({ id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "restic", ...job, wires: [["run"]] });
  f.push(
    { id: "run", z: "tab", type: "highball-restic-run", name: "restic", ...run, wires: [["result"], ["progress"]] },
    { id: "result", z: "tab", type: "helper" },
    { id: "progress", z: "tab", type: "helper" },
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  );
  return { f, creds };
}

/**
 * A restic process holding a lock on the repository for as long as the test wants: a backup
 * from stdin that waits for its data. Ending its stdin releases the lock; SIGKILL leaves it stale.
 */
async function lockHolder(repo) {
  const holder = spawn("restic", ["backup", "--stdin", "--stdin-filename", "held"], { env: { ...process.env, ...repo.env }, stdio: ["pipe", "ignore", "ignore"] });
  track(holder, "lock holder");
  const exited = new Promise((resolve) => holder.once("exit", resolve));
  const locks = path.join(repo.path, "locks");
  // restic creates the lock file, then writes it, and ignores a lock it cannot read: wait until
  // the lock reads back as the holder's (a half-written one, killed, would not count as a lock).
  await waitFor(async () => {
    const files = fs.existsSync(locks) ? fs.readdirSync(locks).filter((f) => fs.statSync(path.join(locks, f)).size > 0) : [];
    if (!files.length) return false;
    const cat = await restic(repo, ["cat", "lock", files[0], "--no-lock"]);
    try { return cat.code === 0 && JSON.parse(cat.stdout).pid === holder.pid; } catch { return false; }
  }, { what: "the holder's lock, written", timeout: 20000 });
  return { holder, exited, release: () => holder.stdin.end("data\n") };
}

/** The next result; a node error before it (seen by the catch node) fails at once, with its words. */
async function trigger(target, msg = {}) {
  const result = next(helper, "result", 120000);
  const caught = next(helper, "caught", 120000).then((m) => { throw new Error(`caught before a result: ${m.error.message}`); });
  caught.catch(() => undefined);
  helper.getNode(target).receive(msg);
  return Promise.race([result, new Promise((resolve, reject) => { caught.catch(reject); result.then(resolve); })]);
}

describe(`restic jobs (Node-RED ${helper.major})`, function () {
  this.timeout(180000);
  let home;

  beforeEach(function () {
    home = tmpDir("home");
    helper.settings({ highball: { dir: home } });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });
  after(stopAll);

  const repoOptions = (repo) => ({ repository: repo.repository, "cache-dir": repo.cacheDir, ...(repo.extraArgs.length ? { option: [repo.extraArgs[1]] } : {}) });

  it("inherits through a chain of profiles and backs up, the payload counting what restic saw", async function () {
    const repo = await initResticRepo();
    const src = tmpDir("src");
    const made = makeTree(src, { files: 30, size: 2048 });
    const { f, creds } = flow({
      profiles: [
        { id: "p-base", name: "base", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, "cpu-priority": "low" } },
        { id: "p-mid", name: "mid", options: { inherit: ["base"], "io-priority": "idle" } },
        { id: "p-child", name: "child", options: { inherit: ["mid"], "prune-logs-after": "7" } },
      ],
      job: { profile: "child", source: { type: "local", paths: [{ path: src }] }, restic: { command: "backup", args: [], tags: ["nightly"] } },
    });
    await helper.load(nodes, f, creds);
    const msg = await trigger("j1");
    assert.equal(msg.payload.status, "success", msg.payload.error);
    assert.equal(msg.payload.engine, "restic");
    assert.equal(msg.payload.command, "backup");
    assert.match(msg.payload.snapshotId, /^[0-9a-f]{8,64}$/);
    assert.equal(msg.payload.filesTotal, made.files);
    assert.equal(msg.payload.filesChanged, made.files);
    assert.equal(msg.payload.bytesTotal, made.bytes);
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
    assert.equal(snaps.length, 1);
    assert.deepEqual(snaps[0].tags, ["nightly"]);
    assert.match(msg.run.logFile, /^\d{4}\.\d\d\.\d\d_\d\d\.\d\d-photos\./, "PRestic's log name");
    // The release that ran is named in the log's first line, the run's details and the node's status.
    const version = await resticVersion();
    const first = fs.readFileSync(path.join(home, "logs", msg.run.logFile), "utf8").split("\n")[0];
    assert.match(first, new RegExp(`\\(restic backup, restic ${version.replace(/\./g, "\\.")}\\) started`));
    assert.equal(msg.run.details.restic.version, version);
    assert.match(helper.getNode("run").status.lastCall.args[0].text, new RegExp(`^success \\S+ · restic ${version.replace(/\./g, "\\.")}$`));
    const profiles = (await helper.request().get("/highball/profiles").expect(200)).body;
    const child = profiles.find((p) => p.name === "child");
    assert.deepEqual(child.effective.chain, ["child", "mid", "base"]);
    assert.equal(child.effective.passwordSource, "password-file");
  });

  it("indexes a backup's snapshot in the background after the result: the list says indexed, and browsing it needs no restic", async function () {
    const repo = await initResticRepo();
    const src = tmpDir("src");
    makeTree(src, { files: 12, size: 100 });
    const options = { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir };
    const { f, creds } = flow({
      // The same repository through a profile whose restic does not exist: what it lists is the index's.
      profiles: [{ id: "p-main", name: "main", options }, { id: "p-norestic", name: "norestic", options: { ...options, executable: "/nonexistent/restic" } }],
      job: { profile: "main", source: { type: "local", paths: [{ path: src }] }, restic: { command: "backup", args: [] } },
    });
    await helper.load(nodes, f, creds);
    const msg = await trigger("j1");
    assert.equal(msg.payload.status, "success", msg.payload.error);
    let list;
    await waitFor(async () => {
      list = (await helper.request().get("/highball/profiles/cfg-main/snapshots").expect(200)).body;
      return list.length === 1 && list[0].indexed === true;
    }, { what: "the snapshot to be indexed" });
    assert.ok(list[0].id.startsWith(msg.payload.snapshotId));
    const ls = (await helper.request().get(`/highball/profiles/cfg-norestic/snapshots/${list[0].shortId}/ls?path=${encodeURIComponent(src)}`).expect(200)).body;
    assert.equal(ls.indexed, true);
    assert.deepEqual(ls.entries.map((e) => e.name).sort(), fs.readdirSync(src).sort());
    const first = ls.entries.find((e) => e.type === "file");
    assert.equal(first.size, fs.statSync(path.join(src, first.name)).size);
    // Without the index the same request needs restic, which is not there.
    fs.rmSync(path.join(home, "snapshot-index"), { recursive: true });
    const { SnapshotIndexes } = require("../../dist/lib/snapshots");
    // The store of this folder still remembers the file: forget it as a forget would.
    await SnapshotIndexes.at(home).prune(require("../../dist/lib/snapshots").repoKey({ options }), []);
    await helper.request().get(`/highball/profiles/cfg-norestic/snapshots/${list[0].shortId}/ls?path=${encodeURIComponent(src)}`).expect(500);
  });

  it("a cycle or a missing parent is a clear error naming the chain, and nothing runs", async function () {
    const repo = await initResticRepo();
    for (const [profiles, why] of [
      [[{ id: "a", name: "a", options: { inherit: ["b"], repository: repo.repository } }, { id: "b", name: "b", options: { inherit: ["a"] } }], /cycle/],
      [[{ id: "a", name: "a", options: { inherit: ["ghost"], repository: repo.repository } }], /ghost/],
    ]) {
      const { f, creds } = flow({ profiles, job: { profile: "a", source: { type: "local", paths: [{ path: tmpDir("s") }] } } });
      await helper.load(nodes, f, creds);
      const caught = next(helper, "caught");
      helper.getNode("j1").receive({});
      const c = await caught;
      assert.match(c.error.message, why);
      assert.match(c.error.message, /"a"/);
      await helper.unload();
    }
  });

  it("opens the repository with each password source: credential, file, command", async function () {
    const repo = await initResticRepo();
    const base = { repository: repo.repository, "cache-dir": repo.cacheDir };
    for (const [label, options, password] of [
      ["credential", base, repo.password],
      ["password-file", { ...base, "password-file": repo.passwordFile }],
      ["password-command", { ...base, "password-command": `cat ${repo.passwordFile}` }],
    ]) {
      const { f, creds } = flow({ profiles: [{ id: "p", name: "p", options, password }], run: { profile: "p", command: "snapshots" } });
      await helper.load(nodes, f, creds);
      const msg = await trigger("run");
      assert.equal(msg.payload.status, "success", `${label}: ${msg.payload.error}`);
      assert.equal(msg.payload.command, "snapshots");
      await helper.unload();
    }
  });

  it("backup → snapshots → forget → prune → check, as one-shot commands on one node", async function () {
    const repo = await initResticRepo();
    const src = tmpDir("src");
    makeTree(src, { files: 5 });
    const { f, creds } = flow({
      profiles: [{ id: "p", name: "nas", options: { repository: repo.repository, "cache-dir": repo.cacheDir }, password: repo.password }],
      job: { profile: "nas", source: { type: "local", paths: [{ path: src }] } },
      // Jobs and deleting commands straight from messages: this node opts in to both.
      run: { readDataSubset: "50%", keepLast: "1", acceptJobs: true, allowDeletes: true },
    });
    await helper.load(nodes, f, creds);
    for (let i = 0; i < 2; i++) {
      fs.writeFileSync(path.join(src, `change-${i}`), String(i));
      assert.equal((await trigger("j1")).payload.status, "success");
    }
    const job = { name: "photos", engine: "restic", profile: "nas", source: { type: "local", paths: [{ path: src }] } };
    const snaps = await trigger("run", { job, command: "snapshots" });
    assert.equal(snaps.payload.status, "success");
    assert.equal(snaps.run.details.result.length, 2);
    const forget = await trigger("run", { job, command: "forget" });
    assert.equal(forget.payload.status, "success", forget.payload.error);
    assert.equal(JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).length, 1);
    assert.equal((await trigger("run", { job, command: "prune" })).payload.status, "success");
    const check = await trigger("run", { job, command: "check" });
    assert.equal(check.payload.status, "success", check.payload.error);
    assert.ok(check.run.logTail.join("\n").includes("no errors were found"));
    const log = fs.readFileSync(path.join(home, "logs", check.run.logFile), "utf8");
    assert.match(log, /--read-data-subset=50%/);
    const stats = await trigger("run", { job, command: "stats" });
    assert.equal(stats.payload.status, "success");
  });

  it("a wrong password and a missing repository fail with clear errors", async function () {
    const repo = await initResticRepo();
    for (const [options, password, why] of [
      [{ repository: repo.repository, "cache-dir": repo.cacheDir }, "not the password", /wrong repository password/],
      [{ repository: path.join(tmpDir("none"), "repo"), "cache-dir": repo.cacheDir }, "x", /no restic repository at/],
    ]) {
      const { f, creds } = flow({ profiles: [{ id: "p", name: "p", options, password }], run: { profile: "p", command: "snapshots" } });
      await helper.load(nodes, f, creds);
      const caught = next(helper, "caught", 60000);
      const msg = await trigger("run");
      assert.equal(msg.payload.status, "failed");
      assert.match(msg.payload.error, why);
      assert.match((await caught).error.message, why);
      await helper.unload();
    }
  });

  it("waits for a lock held by a live process, and succeeds once it is released", async function () {
    const repo = await initResticRepo();
    const { release, exited } = await lockHolder(repo);
    const { f, creds } = flow({ profiles: [{ id: "p", name: "p", options: { repository: repo.repository, "cache-dir": repo.cacheDir, "wait-for-lock": "2m" }, password: repo.password }], run: { profile: "p", command: "prune" } });
    await helper.load(nodes, f, creds);
    const result = trigger("run");
    // Release the lock once the node has met it, said so, and is waiting: restic 0.16+ wait
    // inside the retry (--retry-lock), 0.14 is started again after the delay.
    const [, minor] = (await resticVersion()).split(".").map(Number);
    const waiting = minor >= 16 ? /locked by PID \d+ on \S+; restic 0\.\d+\.\d+ waits up to \d+ s for it \(--retry-lock\)/ : /locked by PID \d+ on \S+; trying again in \d+ s/;
    await waitFor(() => {
      const logs = fs.existsSync(path.join(home, "logs")) ? fs.readdirSync(path.join(home, "logs")) : [];
      return logs.some((l) => waiting.test(fs.readFileSync(path.join(home, "logs", l), "utf8")));
    }, { what: "the node waiting for the lock", timeout: 30000 });
    release();
    await exited;
    const msg = await result;
    assert.equal(msg.payload.status, "success", msg.payload.error);
    const log = fs.readFileSync(path.join(home, "logs", msg.run.logFile), "utf8");
    assert.match(log, /locked by PID \d+/);
    assert.match(log, /# retrying step 1/);
    if (minor >= 16) assert.match(log, /prune .*--retry-lock=\d+s/, "the retry asked restic to wait");
  });

  it("removes a stale lock left by a killed process (logged), then succeeds", async function () {
    const repo = await initResticRepo();
    const { holder, exited } = await lockHolder(repo);
    holder.kill("SIGKILL");
    await exited;
    await new Promise((r) => setTimeout(r, 1100)); // older than the stale age below
    const { f, creds } = flow({ profiles: [{ id: "p", name: "p", options: { repository: repo.repository, "cache-dir": repo.cacheDir, "stale-lock-age": "1s" }, password: repo.password }], run: { profile: "p", command: "prune" } });
    await helper.load(nodes, f, creds);
    const msg = await trigger("run");
    assert.equal(msg.payload.status, "success", msg.payload.error);
    const log = fs.readFileSync(path.join(home, "logs", msg.run.logFile), "utf8");
    assert.match(log, /removed a stale lock of PID \d+/);
  });

  it("applies cpu and io priorities, observed on the running restic", async function () {
    const repo = await initResticRepo();
    const src = tmpDir("src");
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(src, `f${i}`), require("node:crypto").randomBytes(1024 * 1024));
    const { f, creds } = flow({
      profiles: [{ id: "p", name: "p", options: { repository: repo.repository, "cache-dir": repo.cacheDir, "cpu-priority": "idle", "io-priority": "idle", "limit-upload": "8M" }, password: repo.password }],
      job: { profile: "p", source: { type: "local", paths: [{ path: src }] } },
    });
    await helper.load(nodes, f, creds);
    const result = trigger("j1");
    let seen = null;
    await waitFor(() => {
      const p = processesMatching((x) => x.cmdline[0] && x.cmdline[0].endsWith("restic") && x.cmdline.includes(src))[0];
      if (p) seen = p;
      return p;
    }, { what: "the running restic", timeout: 30000 });
    const stat = fs.readFileSync(`/proc/${seen.pid}/stat`, "utf8");
    const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    const ionice = execFileSync("ionice", ["-p", String(seen.pid)], { encoding: "utf8" }).trim();
    assert.equal(nice, 19);
    assert.equal(ionice, "idle");
    assert.ok(seen.cmdline.includes("--limit-upload=8192") || seen.cmdline.join(" ").includes("--limit-upload 8192"), seen.cmdline.join(" "));
    assert.equal((await result).payload.status, "success");
  });

  it("never puts the password in a command line, a log or a message", async function () {
    const repo = await initResticRepo();
    const src = tmpDir("src");
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, `f${i}`), require("node:crypto").randomBytes(256 * 1024));
    const secret = repo.password;
    const { f, creds } = flow({
      profiles: [{ id: "p", name: "p", options: { repository: repo.repository, "cache-dir": repo.cacheDir, "limit-upload": "2M" }, password: secret }],
      job: { profile: "p", source: { type: "local", paths: [{ path: src }] } },
    });
    await helper.load(nodes, f, creds);
    const progress = collect(helper, "progress");
    const result = trigger("j1");
    const lines = [];
    await waitFor(() => {
      const ps = processesMatching((x) => x.cmdline[0] && x.cmdline[0].endsWith("restic"));
      for (const p of ps) lines.push(p.cmdline.join(" "));
      return ps.length > 0;
    }, { what: "restic running" });
    const msg = await result;
    assert.equal(msg.payload.status, "success", msg.payload.error);
    const files = fs.readdirSync(home, { recursive: true }).filter((x) => fs.statSync(path.join(home, x)).isFile());
    const all = [...lines, JSON.stringify(msg), JSON.stringify(progress), ...files.map((x) => fs.readFileSync(path.join(home, x), "utf8")),
      JSON.stringify((await helper.request().get("/highball/profiles")).body)].join("\n");
    assert.ok(!all.includes(secret), "the password leaked");
  });

  it("rejects bad option values with clear errors", async function () {
    const repo = await initResticRepo();
    for (const [options, why] of [
      [{ "cpu-priority": "fast" }, /cpu-priority/],
      [{ "limit-upload": "lots" }, /limit-upload/],
      [{ "password-command": "cat x; rm -rf /" }, /password-command|shell/],
      [{ verbose: "very" }, /verbose/],
    ]) {
      const { f, creds } = flow({ profiles: [{ id: "p", name: "p", options: { repository: repo.repository, ...options }, password: "x" }], run: { profile: "p", command: "snapshots" } });
      await helper.load(nodes, f, creds);
      const caught = next(helper, "caught");
      helper.getNode("run").receive({});
      assert.match((await caught).error.message, why);
      await helper.unload();
    }
  });

  it("copies snapshots to a second profile's repository", async function () {
    const [a, b] = await Promise.all([initResticRepo(), initResticRepo()]);
    const src = tmpDir("src");
    makeTree(src, { files: 3 });
    await restic(a, ["backup", src]);
    const { f, creds } = flow({
      profiles: [
        { id: "pa", name: "a", options: { repository: a.repository, "cache-dir": a.cacheDir }, password: a.password },
        { id: "pb", name: "b", options: { repository: b.repository, "cache-dir": b.cacheDir }, password: b.password },
      ],
      run: { profile: "a", command: "copy", copyTo: "b" },
    });
    await helper.load(nodes, f, creds);
    const msg = await trigger("run");
    assert.equal(msg.payload.status, "success", msg.payload.error);
    assert.equal(JSON.parse((await restic(b, ["snapshots", "--json"])).stdout).length, 1);
  });

  it("two jobs on one repository through a conflict gate run one after the other, the repository found from their profiles", async function () {
    const repo = await initResticRepo();
    const gate = require("../../dist/nodes/highball-conflict-gate/highball-conflict-gate.js");
    const srcs = [tmpDir("a"), tmpDir("b")];
    for (const src of srcs) for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(src, `f${i}`), require("node:crypto").randomBytes(512 * 1024));
    const opts = { repository: repo.repository, "cache-dir": repo.cacheDir, "limit-upload": "4M" };
    const f = [
      { id: "tab", type: "tab", label: "t" },
      { id: "cfg-one", type: "highball-profile-config", name: "one", options: opts },
      { id: "cfg-two", type: "highball-profile-config", name: "two", options: { inherit: ["one"] } },
      { id: "ja", z: "tab", type: "highball-backup-job", name: "job a", engine: "restic", profile: "one", source: { type: "local", paths: [{ path: srcs[0] }] }, wires: [["cg"]] },
      { id: "jb", z: "tab", type: "highball-backup-job", name: "job b", engine: "restic", profile: "two", source: { type: "local", paths: [{ path: srcs[1] }] }, wires: [["cg"]] },
      { id: "cg", z: "tab", type: "highball-conflict-gate", name: "one at a time", delay: 60, maxWait: 0, wires: [["run"], [], []] },
      { id: "run", z: "tab", type: "highball-restic-run", name: "restic", wires: [["result"], []] },
      { id: "result", z: "tab", type: "helper" },
    ];
    await helper.load([...nodes, gate], f, { "cfg-one": { password: repo.password } });
    const results = collect(helper, "result");
    helper.getNode("ja").receive({});
    helper.getNode("jb").receive({});
    await waitFor(() => results.length === 2, { what: "both results", timeout: 120000 });
    const [first, second] = results.map((m) => m.payload).sort((x, y) => x.startedAt - y.startedAt);
    assert.equal(first.status, "success", first.error);
    assert.equal(second.status, "success", second.error);
    assert.ok(second.startedAt >= first.finishedAt, `run 2 started ${first.finishedAt - second.startedAt} ms before run 1 ended`);
  });

  it("a control message that is not a run (a gate's status reply) never starts a backup", async function () {
    const repo = await initResticRepo();
    const { f, creds } = flow({ profiles: [{ id: "p", name: "p", options: { repository: repo.repository, "cache-dir": repo.cacheDir }, password: repo.password }], run: { profile: "p", command: "snapshots" } });
    await helper.load(nodes, f, creds);
    const results = collect(helper, "result");
    helper.getNode("run").receive({ action: "status", topic: "status", payload: { waiting: [] } });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(results.length, 0);
    assert.equal(fs.existsSync(path.join(home, "logs")), false, "no run was started");
  });

  describe("over ssh", function () {
    let sshd;
    before(async function () { sshd = await startSshd(); });
    after(async function () { await sshd.stop(); });

    it("backs up into an sftp repository through the sshd", async function () {
      const repo = await initResticRepo({ sshd });
      const src = tmpDir("src");
      const made = makeTree(src, { files: 6 });
      const { f, creds } = flow({
        profiles: [{ id: "p", name: "sftp", options: repoOptions(repo), password: repo.password }],
        job: { profile: "sftp", source: { type: "local", paths: [{ path: src }] } },
      });
      await helper.load(nodes, f, creds);
      const msg = await trigger("j1");
      assert.equal(msg.payload.status, "success", msg.payload.error);
      assert.equal(msg.payload.filesTotal, made.files);
    });

    it("a backup whose source is an ssh host runs restic there, the password on stdin only", async function () {
      const repo = await initResticRepo();
      const src = tmpDir("src");
      const made = makeTree(src, { files: 6 });
      fs.mkdirSync(path.join(home, "ssh"), { recursive: true });
      fs.writeFileSync(path.join(home, "ssh", "known_hosts"), sshd.knownHostsLine + "\n");
      const { f, creds } = flow({
        profiles: [{ id: "p", name: "p", options: { repository: repo.repository }, password: repo.password }],
        job: { profile: "p", source: { type: "ssh", host: "127.0.0.1", port: sshd.port, user: "root", identityFile: sshd.clientKey, paths: [{ path: src }] } },
      });
      await helper.load(nodes, f, creds);
      const lines = [];
      const result = trigger("j1");
      await waitFor(() => {
        const ps = processesMatching((x) => x.cmdline.join(" ").includes(src));
        for (const p of ps) lines.push(p.cmdline.join(" "));
        return ps.some((p) => p.cmdline[0] === "ssh");
      }, { what: "ssh running restic on the source host" });
      const msg = await result;
      assert.equal(msg.payload.status, "success", msg.payload.error);
      assert.equal(msg.payload.filesTotal, made.files);
      assert.ok(!lines.join("\n").includes(repo.password));
      assert.equal(JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).length, 1);
    });
  });
});
