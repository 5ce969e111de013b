"use strict";
// The package in a real Node-RED 4.1 (this Node) and 5.x (Node ≥ 22.9), installed as a user
// installs it: every node type, the sidebar plugin, icons and examples load, and the demo flow
// of `npm start` really backs up when its job is run from the admin API.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { startNodeRed, waitForJob, demoSetup, PACKAGE, root } = require("../support/node-red-process");

const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const types = Object.keys(pkg["node-red"].nodes);
const plugins = Object.keys(pkg["node-red"].plugins || {});
const icons = fs.readdirSync(path.join(root, "icons")).filter((f) => /\.(svg|png)$/.test(f));
const examples = fs.existsSync(path.join(root, "examples"))
  ? fs.readdirSync(path.join(root, "examples")).filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, ""))
  : [];

after(async function () {
  await util.stopAll();
});

for (const major of [4, 5]) {
  describe(`the package in a real Node-RED ${major}`, function () {
    this.timeout(180000);
    let red, demo;

    before(async function () {
      demo = demoSetup();
      red = await startNodeRed({ major, flows: demo.flows });
      await waitForJob(red, "hb-demo-job");
    });
    after(async function () {
      if (red) await red.stop();
    });

    it(`runs Node-RED ${major}.x`, function () {
      assert.equal(Number(red.version.split(".")[0]), major);
    });

    it("loads every node type of package.json, without an error", async function () {
      const r = await red.get("nodes");
      assert.equal(r.status, 200);
      const ours = r.json.filter((s) => s.module === PACKAGE);
      for (const t of types) {
        const set = ours.find((s) => s.types.includes(t));
        assert.ok(set, `node type ${t} is not listed by GET /nodes`);
        assert.equal(set.err, undefined, `${t}: ${set.err}`);
        assert.equal(set.enabled, true, `${t} is not enabled`);
      }
      // And their editor halves: each type's registerType reaches the editor.
      const html = await red.get("nodes", { accept: "text/html" });
      assert.equal(html.status, 200);
      for (const t of types) assert.match(html.text, new RegExp(`registerType\\(\\s*['"]${t}['"]`), `the editor gets no definition of ${t}`);
    });

    it("loads the sidebar plugin on both halves", async function () {
      const r = await red.get("plugins");
      assert.equal(r.status, 200);
      for (const id of plugins) {
        const set = r.json.find((s) => s.id === `${PACKAGE}/${id}`);
        assert.ok(set, `plugin ${id} is not listed by GET /plugins: ${r.text}`);
        assert.equal(set.enabled, true);
        assert.equal(set.err, undefined, set.err);
        assert.ok(set.plugins.some((p) => p.id === id), JSON.stringify(set));
      }
      const html = await red.get("plugins", { accept: "text/html" });
      assert.equal(html.status, 200);
      assert.match(html.text, /RED\.plugins\.registerPlugin\("highball-sidebar"/);
      assert.match(html.text, /RED\.sidebar\.addTab\(/);
      // The runtime half is there too: its follow route answers (a run that is not running).
      const follow = await red.post("highball/runs/20260101T000000-abcdef/follow", { client: "boot" });
      assert.equal(follow.status, 200, follow.text);
      assert.deepEqual(follow.json, { running: false, offset: null, leaseMs: 0 });
    });

    it("serves every icon", async function () {
      for (const icon of icons) {
        const r = await red.get(`icons/${PACKAGE}/${icon}`, { accept: "*/*" });
        assert.equal(r.status, 200, `icon ${icon}`);
        if (icon.endsWith(".svg")) assert.match(r.text, /<svg/);
      }
    });

    it("offers the examples under Import", async function () {
      const list = await red.get("library/examples/flows/");
      assert.equal(list.status, 200, list.text);
      assert.match(list.text, /node-red-backup/);
      assert.ok(examples.length > 0, "the package has no examples");
      for (const name of examples) {
        const r = await red.get(`library/examples/flows/${PACKAGE}/${name}`);
        assert.equal(r.status, 200, `${name}: ${r.status} ${r.text.slice(0, 200)}`);
        assert.ok(Array.isArray(r.json) && r.json.length > 0, `${name} is not a flow`);
      }
    });

    it("backs up with the demo flow when its job is run from the admin API", async function () {
      const t0 = Date.now();
      const run = await red.post("highball/jobs/hb-demo-job/run");
      assert.equal(run.status, 202, run.text);
      const job = await util.waitFor(async () => {
        const r = await red.get("highball/jobs");
        const j = r.json.find((x) => x.id === "hb-demo-job");
        return j && !j.running && j.last && j.last.startedAt >= t0 - 1000 ? j : null;
      }, { timeout: 60000, what: "the demo run to end" });
      assert.equal(job.last.status, "success", job.last.error);
      assert.equal(job.name, "demo photos");
      assert.equal(job.last.filesChanged, demo.made.files);
      assert.equal(job.last.bytesTransferred, demo.made.bytes);

      const expected = util.readTree(demo.source).filter((e) => !e.path.startsWith("cache"));
      assert.deepEqual(util.readTree(demo.dest), expected);

      const runs = await red.get("highball/jobs/hb-demo-job/runs?limit=5");
      assert.equal(runs.status, 200);
      assert.equal(runs.json[0].runId, job.last.runId);
      const tail = await red.get(`highball/runs/${job.last.runId}/log?tail=3`, { accept: "text/plain" });
      assert.equal(tail.status, 200);
      assert.match(tail.text, /# finished .*: success/);
    });
  });
}
