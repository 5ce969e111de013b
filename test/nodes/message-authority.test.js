"use strict";
// What a message may ask of a run node, with real restic and rsync (lib/job/authority.ts): a
// cancel stops only what its node started or could start, and a job from a message keeps off
// the console's runs.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
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
});
