"use strict";
// A flow with many Highball nodes starts without Node.js's "possible EventEmitter memory leak"
// warning: the nodes wait for "flows:started" through one listener, not one each (a user with
// eleven profiles or run nodes saw that warning in Node-RED's log on every start).
const assert = require("node:assert/strict");
const helper = require("../support/red");
const u = require("../fixtures/util");

const nodes = [require("../../dist/nodes/highball-profile-config/highball-profile-config.js")];

describe(`many Highball nodes (Node-RED ${helper.major})`, function () {
  this.timeout(60000);
  after(async function () { await u.stopAll(); });
  afterEach(async function () { await helper.unload(); helper.settings({}); });

  it("start with no MaxListenersExceededWarning, and each still runs its start-up work", async function () {
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      helper.settings({ highball: { dir: u.tmpDir("home") } });
      const profiles = Array.from({ length: 25 }, (_, i) => ({ id: `hb-prof-${i}`, type: "highball-profile-config", name: `prof-${i}`, options: { repository: `/tmp/none-${i}` } }));
      await helper.load(nodes, [{ id: "tab", type: "tab", label: "t" }, ...profiles]);
      for (let i = 0; i < 25; i++) assert.ok(helper.getNode(`hb-prof-${i}`), `profile ${i} loaded`);
      await new Promise((r) => setTimeout(r, 2500));
      // warnings are emitted on the next tick; give them one
      await new Promise((r) => setImmediate(r));
    } finally {
      process.removeListener("warning", onWarning);
    }
    const leaks = warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message);
    assert.deepEqual(leaks, []);
  });
});
