"use strict";
// What a message may ask of a run node, with real restic and rsync (lib/job/authority.ts): a
// cancel stops only what its node started or could start, and a job from a message keeps off
// the console's runs.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const helper = require("../support/red");
const { next, collect } = require("../support/flow");
const { tmpDir, stopAll, waitFor } = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { Engine } = require("../../dist/lib/runs/engine");

const nodes = [
  require("../../dist/nodes/highball-profile-config/highball-profile-config.js"),
  require("../../dist/nodes/highball-backup-job/highball-backup-job.js"),
  require("../../dist/nodes/highball-restic-run/highball-restic-run.js"),
  require("../../dist/nodes/highball-rsync-run/highball-rsync-run.js"),
];

const MiB = 1024 * 1024;

describe(`message authority at the run nodes (Node-RED ${helper.major})`, function () {
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

  describe("restic: the console's runs are not a message's", function () {
    let repo, big, fresh;
    before(async function () {
      // 8 MiB of random data in 4 MiB packs: read or written at 1 MiB/s (restic's own limits),
      // a run of several seconds on every restic version.
      repo = await initResticRepo();
      big = path.join(tmpDir("big"), "data");
      fs.mkdirSync(big, { recursive: true });
      for (let i = 0; i < 2; i++) fs.writeFileSync(path.join(big, `blob${i}.bin`), crypto.randomBytes(4 * MiB));
      assert.equal((await restic(repo, ["backup", "--pack-size=4", big])).code, 0);
      // Data the repository does not hold yet: its backup uploads all of it.
      fresh = tmpDir("fresh");
      for (let i = 0; i < 2; i++) fs.writeFileSync(path.join(fresh, `new${i}.bin`), crypto.randomBytes(4 * MiB));
    });

    const flow = () => [
      { id: "tab", type: "tab", label: "t" },
      { id: "cfg-slow", type: "highball-profile-config", name: "slow", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, "limit-download": "1024", "limit-upload": "1024" } },
      { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "restic", profile: "cfg-slow", source: { type: "local", paths: [{ path: fresh }] }, wires: [["run"]] },
      { id: "run", z: "tab", type: "highball-restic-run", name: "restic", profile: "cfg-slow", acceptJobs: true, wires: [["result"], []] },
      { id: "other", z: "tab", type: "highball-restic-run", name: "other restic", profile: "cfg-slow", wires: [["result"], []] },
      { id: "result", z: "tab", type: "helper" },
      { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "tab", type: "helper" },
    ];

    it("a cancel message does not stop the console's repository check; it stops a deployed restic job, even one another node started", async function () {
      await helper.load(nodes, flow());
      const engine = Engine.get(home);
      const caught = collect(helper, "caught");
      const started = (await helper.request().post("/highball/profiles/cfg-slow/check").send({ readDataSubset: "100%" }).expect(202)).body;
      assert.equal(started.job, "repository:slow");
      const check = engine.get(started.runId);
      assert.ok(check, "the check runs");
      for (const job of ["repository:slow", { id: "repository:slow", name: "slow · repository" }]) {
        helper.getNode("run").receive({ action: "cancel", job });
      }
      await waitFor(() => caught.length === 2, { what: "both cancels refused" });
      for (const c of caught) assert.match(c.error.message, /the run of "repository:slow" was not stopped: it is one of the console's repository actions or restores, and a message stops only the runs its restic node started or could start/);
      const record = await check.result;
      assert.equal(record.status, "success", `the check ran to its end: ${record.error}`);
      assert.ok(record.durationMs > 3000, `the check read at 1 MiB/s (${record.durationMs} ms), so the cancels came while it ran`);

      // A deployed restic job is one a message may name at any restic node: "other" stops the
      // backup that "run" started for it.
      const result = next(helper, "result");
      helper.getNode("j1").receive({});
      await waitFor(() => engine.runningFor("j1"), { what: "photos running" });
      helper.getNode("other").receive({ action: "cancel", job: "photos" });
      const msg = await result;
      assert.equal(msg.payload.jobId, "j1");
      assert.equal(msg.payload.status, "cancelled", msg.payload.error);
    });

    it("a job from a message may not take the console's names: refused, recorded in the node's own history, not in the console's", async function () {
      await helper.load(nodes, flow());
      const engine = Engine.get(home);
      for (const job of [
        { name: "repository:slow", engine: "restic", source: { type: "local", paths: [{ path: big }] } },
        { id: "restore:slow", name: "x", engine: "restic", source: { type: "local", paths: [{ path: big }] } },
        { name: " restore:slow", engine: "restic", source: { type: "local", paths: [{ path: "relative" }] } },
      ]) {
        const result = next(helper, "result");
        helper.getNode("run").receive({ job });
        const msg = await result;
        assert.equal(msg.payload.status, "failed");
        assert.match(msg.payload.error, /may not be called "\s?(repository|restore):slow": ids and names starting with "repository:" or "restore:" belong to the console's repository actions and restores/);
        assert.equal(msg.payload.jobId, "restic", "recorded under the node's own name");
        assert.equal(msg.payload.exitCode, null, "restic never ran");
      }
      await engine.settled();
      for (const key of ["repository:slow", "restore:slow", " restore:slow"]) assert.deepEqual(await engine.history.list(key), [], `nothing in ${key}'s history`);
      assert.equal((await engine.history.list("restic")).length, 3);
    });
  });

  describe("jobs from messages (accept jobs from messages ticked)", function () {
    /** Every symlink under a folder. */
    const links = (dir) => fs.readdirSync(dir, { recursive: true }).filter((f) => fs.lstatSync(path.join(dir, f)).isSymbolicLink());

    it("rsync: a symlink inside a deployed destination cannot lead a message's data out of it, and a message's own symlinks that lead out are not copied", async function () {
      const root = tmpDir("dest");
      const src = path.join(root, "src"), dst = path.join(root, "dst"), outside = path.join(root, "outside");
      for (const d of [src, dst, outside]) fs.mkdirSync(d);
      fs.writeFileSync(path.join(src, "a.txt"), "a\n");
      fs.symlinkSync(outside, path.join(dst, "out"));
      fs.symlinkSync("/etc", path.join(src, "etc"));
      fs.symlinkSync("a.txt", path.join(src, "near"));
      await helper.load(nodes, [
        { id: "tab", type: "tab", label: "t" },
        { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, wires: [[]] },
        { id: "run", z: "tab", type: "highball-rsync-run", name: "open", acceptJobs: true, wires: [["result"], []] },
        { id: "result", z: "tab", type: "helper" },
      ]);
      const send = async (destination) => {
        const result = next(helper, "result");
        helper.getNode("run").receive({ job: { name: "adhoc", engine: "rsync", source: { type: "local", paths: [{ path: `${src}/` }] }, destination: { type: "local", path: destination } } });
        return (await result).payload;
      };
      for (const destination of [path.join(dst, "out"), path.join(dst, "out", "deeper", "x"), `${dst}/out/`]) {
        const r = await send(destination);
        assert.equal(r.status, "failed", `${destination}: ${JSON.stringify(r)}`);
        assert.match(r.error, /may send data only where a deployed job of the flow does: ".*" leads through a symlink to ".*outside.*", outside it/);
        assert.equal(r.exitCode, null, "rsync never ran");
      }
      assert.deepEqual(fs.readdirSync(outside), [], "nothing was written outside the deployed destination");
      const ok = await send(path.join(dst, "adhoc"));
      assert.equal(ok.status, "success", ok.error);
      assert.equal(fs.readFileSync(path.join(dst, "adhoc", "a.txt"), "utf8"), "a\n");
      assert.deepEqual(links(path.join(dst, "adhoc")), ["near"], "the link inside what it copies came, the one to /etc did not (rsync --safe-links)");
    });

    it("restic: only the node's own profile or that of a deployed job wired to it, and an ssh source only on a host a deployed job backs up", async function () {
      const [own, wired, stranger] = await Promise.all([initResticRepo(), initResticRepo(), initResticRepo()]);
      const src = tmpDir("src");
      fs.writeFileSync(path.join(src, "a.txt"), "a\n");
      let connections = 0;
      const trap = net.createServer((c) => { connections++; c.destroy(); });
      await new Promise((r) => trap.listen(0, "127.0.0.1", r));
      try {
        const profile = (name, repo) => ({ id: `cfg-${name}`, type: "highball-profile-config", name, options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } });
        await helper.load(nodes, [
          { id: "tab", type: "tab", label: "t" },
          profile("own", own), profile("wired", wired), profile("stranger", stranger),
          { id: "jw", z: "tab", type: "highball-backup-job", name: "wired job", engine: "restic", profile: "cfg-wired", source: { type: "local", paths: [{ path: src }] }, wires: [["run"]] },
          { id: "js", z: "tab", type: "highball-backup-job", name: "stranger job", engine: "restic", profile: "cfg-stranger", source: { type: "local", paths: [{ path: src }] }, wires: [["run2"]] },
          { id: "run", z: "tab", type: "highball-restic-run", name: "open", profile: "cfg-own", acceptJobs: true, wires: [["result"], []] },
          { id: "run2", z: "tab", type: "highball-restic-run", name: "second", wires: [[], []] },
          { id: "result", z: "tab", type: "helper" },
        ]);
        const send = async (job) => {
          const result = next(helper, "result");
          helper.getNode("run").receive({ job: { name: "adhoc", engine: "restic", source: { type: "local", paths: [{ path: src }] }, ...job } });
          return (await result).payload;
        };
        for (const job of [{ profile: "cfg-stranger" }, { profile: "stranger" }, { profile: "cfg-own", restic: { copyTo: "stranger" } }]) {
          const r = await send(job);
          assert.equal(r.status, "failed", JSON.stringify(job));
          assert.match(r.error, /may use only this node's profile or one that a deployed job wired to this node uses, not "(cfg-)?stranger"/);
          assert.equal(r.exitCode, null, "restic never ran");
        }
        const remote = await send({ profile: "cfg-own", source: { type: "ssh", host: "127.0.0.1", port: trap.address().port, user: "u", paths: [{ path: "/etc" }] } });
        assert.equal(remote.status, "failed");
        assert.match(remote.error, /may read over ssh only from a host that a deployed job backs up \(127\.0\.0\.1:\d+ is none\)/);
        assert.equal(connections, 0, "nothing connected to the message's host");
        for (const job of [{ profile: "own" }, { profile: "cfg-own" }, { profile: "wired" }]) {
          const r = await send(job);
          assert.equal(r.status, "success", `${JSON.stringify(job)}: ${r.error}`);
        }
        const count = async (repo) => JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).length;
        assert.deepEqual([await count(own), await count(wired), await count(stranger)], [2, 1, 0]);
      } finally {
        trap.close();
      }
    });
  });
});
