"use strict";
// Hooks on a real restic backup: the success hook sees the snapshot restic just made in
// HIGHBALL_SNAPSHOT_ID, on every restic release the suite runs (0.14, 0.18, 0.19).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { next } = require("../support/flow");
const { tmpDir, makeTree, stopAll } = require("../fixtures/util");
const { initResticRepo, resticVersion } = require("../fixtures/restic");

const nodes = [
  require("../../dist/nodes/highball-profile-config/highball-profile-config.js"),
  require("../../dist/nodes/highball-backup-job/highball-backup-job.js"),
  require("../../dist/nodes/highball-restic-run/highball-restic-run.js"),
];

describe(`hooks on restic jobs (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });
  after(stopAll);

  it("the success and finally hooks see the new snapshot's id, the engine and the status", async function () {
    helper.settings({ highball: { dir: tmpDir("home") } });
    const repo = await initResticRepo();
    const src = tmpDir("src");
    makeTree(src, { files: 5, size: 512 });
    const out = path.join(tmpDir("marks"), "env");
    const hook = { run: ["sh", "-c", "echo \"$HIGHBALL_ENGINE $HIGHBALL_STATUS $HIGHBALL_SNAPSHOT_ID\" >> \"$0\"", out] };
    const flow = [
      { id: "tab", type: "tab", label: "t" },
      { id: "cfg-p", type: "highball-profile-config", name: "p", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } },
      { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "restic", profile: "cfg-p", source: { type: "local", paths: [{ path: src }] }, restic: { command: "backup", args: [], tags: [] }, hooks: { success: [hook], finally: [hook] }, wires: [["run"]] },
      { id: "run", z: "tab", type: "highball-restic-run", name: "restic", wires: [["result"], []] },
      { id: "result", z: "tab", type: "helper" },
    ];
    await helper.load(nodes, flow);
    const result = next(helper, "result", 90000);
    helper.getNode("j1").receive({});
    const msg = await result;
    assert.equal(msg.payload.status, "success", `restic ${await resticVersion()}: ${msg.payload.error}`);
    assert.match(msg.payload.snapshotId, /^[0-9a-f]{8,64}$/);
    assert.deepEqual(fs.readFileSync(out, "utf8").trim().split("\n"), [
      `restic success ${msg.payload.snapshotId}`,
      `restic success ${msg.payload.snapshotId}`,
    ]);
    assert.deepEqual(msg.run.hooks.map((h) => h.when), ["success", "finally"]);
  });
});
