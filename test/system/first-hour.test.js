"use strict";
// A new user's first hour, in a real editor (headless Chromium against a real Node-RED 4.1 and
// 5.x): nothing that ships is flagged invalid (the demo's flows and every example), a setting is
// judged while it is typed (outlined field, sentence, red triangle), the first restic flow is
// built from the palette (drag, wire, create a profile, initialise its repository, deploy, run,
// see the result and the snapshot), and a job whose profile has no password fails visibly: in
// its history, on its card in the Backups tab and in a notify node's output, and, once the editor
// knows the profile has none, with a red triangle.
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

/**
 * Every node that the editor shows invalid (its red triangle), with its reasons: [{id, type,
 * name, errors}]. What the editor holds, not a fresh judgement, so a stale triangle counts.
 */
async function invalidNodes(page, ids) {
  await page.waitForTimeout(300); // the editor's own re-check after wiring runs on a timer
  return page.evaluate((only) => {
    const out = [];
    const look = (n) => {
      if (only && !only.includes(n.id)) return;
      if (n.valid === undefined) RED.editor.validateNode(n);
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

    describe("the first restic flow, built from the palette", function () {
      let red, page, errors, src, repoPath;
      before(async function () {
        const dir = util.tmpDir("first-restic");
        src = path.join(dir, "documents");
        fs.mkdirSync(src);
        fs.writeFileSync(path.join(src, "letter.txt"), "Dear restic,\nplease keep this.\n");
        fs.writeFileSync(path.join(src, "notes.md"), "# notes\n");
        repoPath = path.join(dir, "repository");
        red = await startNodeRed({ major, flows: [{ id: "hb-first-tab", type: "tab", label: "Flow 1" }] });
        ({ page, errors } = await openEditor(red, browser));
      });
      after(async function () {
        if (page) await page.close().catch(() => undefined);
        if (red) await red.stop();
      });

      /** Drags a palette node onto the workspace at (x, y) of the chart, as a user does. */
      async function dropFromPalette(type, x, y) {
        await page.locator("#red-ui-palette-search input").fill("");
        const item = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).first();
        await item.scrollIntoViewIfNeeded();
        const from = await item.boundingBox();
        const chart = await page.locator("#red-ui-workspace-chart").boundingBox();
        await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
        await page.mouse.down();
        await page.mouse.move(from.x + 40, from.y + 10, { steps: 5 });
        await page.mouse.move(chart.x + x, chart.y + y, { steps: 10 });
        await page.mouse.up();
        await page.waitForFunction((t) => RED.nodes.filterNodes({ type: t }).length > 0, type);
        return page.evaluate((t) => RED.nodes.filterNodes({ type: t }).slice(-1)[0].id, type);
      }

      /** Wires output `port` of one node to the input of another by dragging between the ports. */
      async function wire(fromId, toId, port = 0) {
        const out = await page.locator(`g.red-ui-flow-node-group[id="${fromId}"] .red-ui-flow-port-output`).nth(port).boundingBox();
        const inp = await page.locator(`g.red-ui-flow-node-group[id="${toId}"] .red-ui-flow-port-input`).first().boundingBox();
        await page.mouse.move(out.x + out.width / 2, out.y + out.height / 2);
        await page.mouse.down();
        await page.mouse.move(inp.x - 20, inp.y + inp.height / 2, { steps: 10 });
        await page.mouse.move(inp.x + inp.width / 2, inp.y + inp.height / 2, { steps: 5 });
        await page.mouse.up();
        await page.waitForFunction(([a, b]) => RED.nodes.filterLinks({ source: RED.nodes.node(a), target: RED.nodes.node(b) }).length === 1, [fromId, toId]);
      }

      async function openTab(id) {
        // Node-RED 5 shows the debug tab in a section of its own, where its button toggles it.
        if (major === 5 && id === "debug") return page.evaluate(() => RED.sidebar.show("debug"));
        if (major === 5) {
          await page.locator(`button[data-tab-id="${id}"]`).click();
        } else {
          await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
          await page.locator(`#red-ui-tabs-menu-option-${id}`).click();
        }
      }

      it("drags a backup job, a restic node and a debug node, wires them, and creates a profile from the job's picker", async function () {
        const job = await dropFromPalette("highball-backup-job", 200, 150);
        const run = await dropFromPalette("highball-restic-run", 420, 150);
        const debug = await dropFromPalette("debug", 640, 150);
        await wire(job, run);
        await wire(run, debug);
        await page.locator(`g.red-ui-flow-node-group[id="${job}"]`).dblclick();
        await page.locator("#node-input-name").waitFor({ state: "visible" });
        await page.locator("#node-input-name").fill("documents");
        await page.locator("#node-input-engine").selectOption("restic");
        await page.locator("#node-input-paths-container .hb-path").first().fill(src);
        // No profile yet: the field says so while the dialog is open.
        await page.waitForFunction(() => $("#node-input-profile").hasClass("input-error"));
        assert.match(await page.locator("#hb-job-problems").textContent(), /Choose a restic profile/);
        await page.locator("#node-input-btn-profile-add").click();
        await page.locator("#hb-repository").waitFor({ state: "visible" });
        // The dialog names the node in the editor's words, with repository and password first.
        const title = await page.locator(".red-ui-tray-titlebar").last().textContent();
        assert.match(title, /restic profile/);
        assert.doesNotMatch(title, /highball-profile-config/);
        await page.locator("#node-config-input-name").fill("documents-repo");
        await page.locator("#hb-repository").fill(repoPath);
        await page.locator("#node-config-input-password").fill("correct horse battery staple");
        await page.waitForFunction(() => /password: password/.test($("#hb-effective").text()), null, { timeout: 10000 });
        // A profile that inherits nothing does not say it inherits (from itself).
        assert.doesNotMatch(await page.locator("#hb-effective").textContent(), /inherits/);
        await shot(page, "new-profile");
        await page.locator("#node-config-dialog-ok").click();
        await page.waitForFunction(() => $("#node-input-profile option:selected").text() === "documents-repo");
        await page.waitForFunction(() => !$("#node-input-profile").hasClass("input-error") && !$("#hb-job-problems").is(":visible"));
        await page.locator("#node-dialog-ok").click();
        assert.deepEqual(await invalidNodes(page), []);
        const profileId = await page.evaluate(() => { let id = null; RED.nodes.eachConfig((c) => { if (c.type === "highball-profile-config") id = c.id; }); return id; });
        assert.equal(await page.evaluate((id) => RED.nodes.node(id).profile, job), profileId, "the job stores the profile's id");
        assert.equal(await page.evaluate((id) => RED.nodes.node(id).users.length, profileId), 1, "Node-RED counts the profile as used");
        await shot(page, "first-flow");
      });

      it("deploys, initialises the repository from the profile dialog, runs the job and sees the result and the snapshot", async function () {
        await page.locator("#red-ui-header-button-deploy").click();
        await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 30000 });
        const job = await page.evaluate(() => RED.nodes.filterNodes({ type: "highball-backup-job" })[0].id);
        await util.waitFor(async () => ((await red.get("highball/jobs")).json || []).some((j) => j.id === job), { what: "the job deployed" });
        // Open the profile from the job's picker (the pencil) and initialise its repository.
        await page.locator(`g.red-ui-flow-node-group[id="${job}"]`).dblclick();
        await page.locator("#node-input-btn-profile-edit").click();
        await page.locator("#hb-repo-init").waitFor({ state: "visible" });
        await page.locator("#hb-repo-init").click();
        await page.waitForFunction(() => /created/.test($("#hb-repo-status").text()), null, { timeout: 60000 });
        assert.equal(await page.locator("#hb-repo-status").textContent(), `Repository ${repoPath} created.`);
        assert.ok(fs.existsSync(path.join(repoPath, "config")));
        await shot(page, "initialised");
        await page.locator("#node-config-dialog-cancel").click();
        await page.locator("#node-dialog-cancel").click();
        // Run it from the Backups tab and see it succeed.
        await openTab("highball-backups");
        const card = page.locator(`.highball-sb-job[data-job-id="${job}"]`);
        await card.waitFor({ state: "visible", timeout: 15000 });
        await card.locator(".highball-sb-run").click();
        await page.waitForFunction((id) => {
          const el = document.querySelector(`.highball-sb-job[data-job-id="${id}"] .highball-sb-last .highball-sb-status`);
          return el && el.textContent === "success";
        }, job, { timeout: 60000 });
        const runs = (await red.get(`highball/jobs/${job}/runs`)).json;
        assert.equal(runs[0].status, "success", runs[0].error);
        assert.match(runs[0].snapshotId, /^[0-9a-f]{8,}$/);
        // The result in the debug sidebar: the run's payload with its snapshot.
        await openTab("debug");
        await page.waitForFunction(() => [...document.querySelectorAll(".red-ui-debug-msg")].some((m) => /documents/.test(m.textContent)), null, { timeout: 15000 });
        // Opened, the payload shows the snapshot the run made.
        await page.locator(".red-ui-debug-msg .red-ui-debug-msg-element").first().click();
        await page.waitForFunction((snap) => [...document.querySelectorAll(".red-ui-debug-msg")].some((m) => m.textContent.includes(snap) && m.textContent.includes("success")), runs[0].snapshotId, { timeout: 15000 });
        await shot(page, "result");
        // The snapshot in the Snapshots tab.
        await openTab("highball-snapshots");
        await page.locator(".highball-snap-profile").waitFor({ state: "visible" });
        const profileId = await page.evaluate(() => { let id = null; RED.nodes.eachConfig((c) => { if (c.type === "highball-profile-config") id = c.id; }); return id; });
        await page.waitForFunction((id) => [...document.querySelectorAll(".highball-snap-profile option")].some((o) => o.value === id), profileId, { timeout: 15000 });
        if (await page.locator(".highball-snap-profile").inputValue() !== profileId) await page.locator(".highball-snap-profile").selectOption(profileId);
        await page.locator(".highball-snap-snapshot").first().waitFor({ state: "visible", timeout: 30000 });
        assert.equal(await page.locator(".highball-snap-snapshot").count(), 1);
        assert.equal(await page.locator(".highball-snap-snapshot .highball-snap-id").first().textContent(), runs[0].snapshotId.slice(0, 8));
        await shot(page, "snapshot");
        assert.deepEqual(errors, []);
      });
    });

    describe("hooks typed in the job's dialog", function () {
      let red, page, errors, dir;
      before(async function () {
        dir = util.tmpDir("hooks-dialog");
        fs.mkdirSync(path.join(dir, "src"));
        fs.writeFileSync(path.join(dir, "src", "a.txt"), "a\n");
        const tab = "hb-hk";
        const flows = [
          { id: tab, type: "tab", label: "Hooks" },
          { id: "hb-hk-job", type: "highball-backup-job", z: tab, name: "with hooks", engine: "rsync", enabled: true, source: { type: "local", paths: [{ path: path.join(dir, "src") }] }, destination: { type: "local", path: path.join(dir, "dst") }, x: 200, y: 100, wires: [["hb-hk-rsync"]] },
          { id: "hb-hk-rsync", type: "highball-rsync-run", z: tab, name: "rsync", x: 400, y: 100, wires: [[], []] },
        ];
        red = await startNodeRed({ major, flows });
        ({ page, errors } = await openEditor(red, browser));
      });
      after(async function () {
        if (page) await page.close().catch(() => undefined);
        if (red) await red.stop();
      });

      it("are rows of words, kept as argument arrays; shell syntax is named and outlined; deployed, they run around the backup", async function () {
        await page.evaluate(() => RED.editor.edit(RED.nodes.node("hb-hk-job")));
        const add = page.locator(".red-ui-editableList", { has: page.locator("#node-input-hooks-container") }).locator(".red-ui-editableList-addButton");
        await add.waitFor({ state: "visible" });
        const rows = page.locator("#node-input-hooks-container > li");
        const marker = path.join(dir, "stopped db");
        const status = path.join(dir, "status.txt");
        // A before hook, typed as a user would, with a shell's redirection: named and outlined.
        await add.click();
        await rows.nth(0).locator(".hb-hook-run").fill(`echo stopped > '${marker}'`);
        await page.waitForFunction(() => $(".hb-hook-run").first().hasClass("input-error"), null, { timeout: 5000 });
        assert.match(await page.locator("#hb-job-problems").textContent(), /^Before hook command: the shell character ">" is not allowed, because the command runs directly, without a shell/);
        await shot(page, "hook-shell");
        // Mended: touch the file, a path with a space in quotes.
        await rows.nth(0).locator(".hb-hook-run").fill(`touch '${marker}'`);
        await page.waitForFunction(() => !$("#hb-job-problems").is(":visible"), null, { timeout: 5000 });
        // A finally hook that uses a shell knowingly, carries on if it fails, with a timeout.
        await add.click();
        await rows.nth(1).locator(".hb-hook-when").selectOption("finally");
        await rows.nth(1).locator(".hb-hook-run").fill(`sh -c 'echo "$HIGHBALL_STATUS" > "$1"' hook '${status}'`);
        await rows.nth(1).locator(".hb-hook-timeout").fill("30");
        await rows.nth(1).locator(".hb-hook-onerror").selectOption("ignore");
        // On the source host, with a local source: refused, the row's "where" outlined.
        await rows.nth(1).locator(".hb-hook-on").selectOption("source");
        await page.waitForFunction(() => $(".hb-hook-on").eq(1).hasClass("input-error"), null, { timeout: 5000 });
        assert.match(await page.locator("#hb-job-problems").textContent(), /runs on the source host, but the source is local/);
        await rows.nth(1).locator(".hb-hook-on").selectOption("local");
        await shot(page, "hooks");
        await page.locator("#node-dialog-ok").click();
        await page.waitForFunction(() => !document.querySelector(".red-ui-tray"), null, { timeout: 10000 });
        const hooks = await page.evaluate(() => ({ hooks: RED.nodes.node("hb-hk-job").hooks, valid: RED.nodes.node("hb-hk-job").valid }));
        assert.deepEqual(hooks, {
          valid: true,
          hooks: {
            before: [{ run: ["touch", marker] }],
            finally: [{ run: ["sh", "-c", 'echo "$HIGHBALL_STATUS" > "$1"', "hook", status], timeoutSeconds: 30, onError: "ignore" }],
          },
        });
        // Opened again, the rows read back as typed.
        await page.evaluate(() => RED.editor.edit(RED.nodes.node("hb-hk-job")));
        await rows.nth(1).waitFor({ state: "visible" });
        assert.equal(await rows.nth(0).locator(".hb-hook-run").inputValue(), `touch '${marker}'`);
        // Quotes only where a word needs them.
        assert.equal(await rows.nth(1).locator(".hb-hook-run").inputValue(), `sh -c 'echo "$HIGHBALL_STATUS" > "$1"' hook ${status}`);
        assert.equal(await rows.nth(1).locator(".hb-hook-when").inputValue(), "finally");
        await page.locator("#node-dialog-cancel").click();
        await page.waitForFunction(() => !document.querySelector(".red-ui-tray"), null, { timeout: 10000 });
        // Deployed and run: the hooks ran around rsync, and the run lists them.
        await page.locator("#red-ui-header-button-deploy").click();
        await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 30000 });
        await util.waitFor(async () => {
          const jobs = (await red.get("highball/jobs")).json || [];
          return jobs.some((j) => j.id === "hb-hk-job");
        }, { what: "the job deployed" });
        const started = await red.post("highball/jobs/hb-hk-job/run", {});
        assert.equal(started.status, 202);
        const run = await util.waitFor(async () => {
          const runs = (await red.get("highball/jobs/hb-hk-job/runs")).json || [];
          return runs[0] && runs[0].status !== "running" ? runs[0] : null;
        }, { what: "the run's end", timeout: 60000 });
        assert.equal(run.status, "success", run.error);
        assert.ok(fs.existsSync(marker), "the before hook ran");
        assert.equal(fs.readFileSync(status, "utf8"), "success\n");
        assert.ok(fs.existsSync(path.join(dir, "dst", "a.txt")));
        // Written by hand with what the rows cannot show (a phase and a setting the schema does
        // not know, a "where" not offered): opened and saved, all of it stays, and is named.
        const handWritten = { after: [{ run: ["true"] }], before: [{ run: ["touch", marker], timeout: 5, on: "nas" }] };
        await page.evaluate((h) => { const n = RED.nodes.node("hb-hk-job"); n.hooks = h; RED.editor.validateNode(n); }, handWritten);
        await page.evaluate(() => RED.editor.edit(RED.nodes.node("hb-hk-job")));
        await rows.nth(0).waitFor({ state: "visible" });
        await page.locator("#node-dialog-ok").click();
        await page.waitForFunction(() => !document.querySelector(".red-ui-tray"), null, { timeout: 10000 });
        const kept = await page.evaluate(() => ({ hooks: RED.nodes.node("hb-hk-job").hooks, errors: RED.nodes.node("hb-hk-job").validationErrors }));
        assert.deepEqual(kept.hooks, handWritten);
        assert.ok(kept.errors.length > 0 && kept.errors.some((e) => /after/.test(e)), JSON.stringify(kept.errors));
        assert.deepEqual(errors, []);
      });
    });

    describe("a job whose profile has no password", function () {
      let red, page, errors;
      before(async function () {
        const dir = util.tmpDir("no-password");
        const src = path.join(dir, "src");
        fs.mkdirSync(src);
        fs.writeFileSync(path.join(src, "a.txt"), "a\n");
        const tab = "hb-nopw";
        const flows = [
          { id: tab, type: "tab", label: "No password" },
          { id: "hb-nopw-profile", type: "highball-profile-config", name: "forgotten", options: { repository: path.join(dir, "repo") } },
          { id: "hb-nopw-job", type: "highball-backup-job", z: tab, name: "forgetful", engine: "restic", enabled: true, source: { type: "local", paths: [{ path: src }] }, profile: "hb-nopw-profile", x: 200, y: 100, wires: [["hb-nopw-run"]] },
          { id: "hb-nopw-run", type: "highball-restic-run", z: tab, name: "restic", x: 400, y: 100, wires: [["hb-nopw-notify"], []] },
          { id: "hb-nopw-notify", type: "highball-notify", z: tab, name: "alerts", onFailure: true, onWarning: true, onSuccess: false, windowSeconds: 60, burst: 3, staleHours: 0, logLines: 20, x: 600, y: 100, wires: [["hb-nopw-debug"]] },
          { id: "hb-nopw-debug", type: "debug", z: tab, name: "alert", active: true, tosidebar: true, console: false, complete: "payload", targetType: "msg", x: 800, y: 100, wires: [] },
        ];
        red = await startNodeRed({ major, flows });
        ({ page, errors } = await openEditor(red, browser));
      });
      after(async function () {
        if (page) await page.close().catch(() => undefined);
        if (red) await red.stop();
      });

      it("fails visibly: history, the Backups tab's card and the notify node's output", async function () {
        // Written by hand, with only the settings it needs: nothing is flagged (the job is valid;
        // its missing password is a run-time fact).
        assert.deepEqual(await invalidNodes(page), []);
        await util.waitFor(async () => ((await red.get("highball/jobs")).json || []).some((j) => j.id === "hb-nopw-job"), { what: "the job deployed" });
        if (major === 5) await page.locator('button[data-tab-id="highball-backups"]').click();
        else {
          await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
          await page.locator("#red-ui-tabs-menu-option-highball-backups").click();
        }
        const card = page.locator('.highball-sb-job[data-job-id="hb-nopw-job"]');
        await card.waitFor({ state: "visible", timeout: 15000 });
        await card.locator(".highball-sb-run").click();
        await page.waitForFunction(() => {
          const el = document.querySelector('.highball-sb-job[data-job-id="hb-nopw-job"] .highball-sb-last .highball-sb-status');
          return el && el.textContent === "failed";
        }, null, { timeout: 30000 });
        const why = /profile "forgotten" has no password/;
        assert.match(await card.locator(".highball-sb-why").textContent(), why);
        assert.ok(await card.locator(".highball-sb-why").isVisible());
        assert.ok(await card.locator(".highball-sb-dot.highball-sb-s-failed").isVisible());
        const runs = (await red.get("highball/jobs/hb-nopw-job/runs")).json;
        assert.equal(runs.length, 1);
        assert.equal(runs[0].status, "failed");
        assert.equal(runs[0].exitCode, null);
        assert.match(runs[0].error, why);
        const log = await red.get(`highball/runs/${runs[0].runId}/log`);
        assert.match(log.text ?? String(log.body ?? ""), why);
        // Its history row in the tab.
        await card.locator(".highball-sb-name").click();
        await card.locator(".highball-sb-runs tr").first().waitFor({ timeout: 15000 });
        assert.equal(await card.locator(".highball-sb-runs tr").first().locator(".highball-sb-status").textContent(), "failed");
        await shot(page, "no-password-card");
        // The notify node's alert, in the debug sidebar.
        if (major === 5) await page.evaluate(() => RED.sidebar.show("debug"));
        else {
          await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
          await page.locator("#red-ui-tabs-menu-option-debug").click();
        }
        await page.waitForFunction(() => [...document.querySelectorAll(".red-ui-debug-msg")].some((m) => /✖ forgetful: failed/.test(m.textContent) && /has no password/.test(m.textContent)), null, { timeout: 15000 });
        await shot(page, "no-password-alert");
        assert.deepEqual(errors, []);
      });

      it("once its dialog shows no password, the profile and its job get a red triangle with the sentence; a password mends it", async function () {
        const profileOf = () => page.evaluate(() => {
          const p = RED.nodes.node("hb-nopw-profile");
          const j = RED.nodes.node("hb-nopw-job");
          return { valid: p.valid, errors: p.validationErrors, job: j.valid };
        });
        const openProfile = async () => {
          await page.evaluate(() => RED.editor.edit(RED.nodes.node("hb-nopw-job")));
          await page.locator("#node-input-btn-profile-edit").click();
          await page.locator("#hb-repository").waitFor({ state: "visible" });
          await page.waitForFunction(() => $("#hb-effective").text() !== "", null, { timeout: 10000 });
        };
        const done = async () => {
          await page.locator("#node-config-dialog-ok").click();
          await page.locator("#node-dialog-ok").click();
          await page.locator("#hb-repository").waitFor({ state: "detached" });
          await page.waitForFunction(() => !document.querySelector(".red-ui-tray"), null, { timeout: 10000 });
        };
        // Loaded, the editor does not know the credentials: no triangle (above). Opened, it knows.
        await openProfile();
        assert.match(await page.locator("#hb-effective").textContent(), /password: none/);
        await done();
        const sentence = 'profile "forgotten" has no password (set a password, a password file or a password command)';
        assert.deepEqual(await profileOf(), { valid: false, errors: [sentence], job: false });
        assert.deepEqual(await page.evaluate(() => RED.nodes.node("hb-nopw-job").validationErrors), [`The chosen profile is not ready: ${sentence}`]);
        await page.locator('#red-ui-workspace-chart g.red-ui-flow-node-group[id="hb-nopw-job"] .red-ui-flow-node-error:not(.hide)').waitFor({ timeout: 5000 });
        await shot(page, "no-password-triangle");
        // A value the runtime would refuse is flagged with the runtime's sentence too.
        await openProfile();
        await page.locator("#node-config-input-password").fill("now I have one");
        await page.locator(".red-ui-editableList", { has: page.locator("#node-config-input-options-list") }).locator(".red-ui-editableList-addButton").click();
        const row = page.locator("#node-config-input-options-list li").last();
        await row.locator(".hb-key").selectOption("keep-daily");
        assert.equal(await row.locator(".hb-value").getAttribute("placeholder"), "a whole number");
        await row.locator(".hb-value").fill("many");
        await done();
        assert.deepEqual(await profileOf(), { valid: false, errors: ['profile "forgotten": option "keep-daily" must be a whole number from 0 to 100000, not "many"'], job: false });
        // Mended: the password stays (kept as a credential), the value is a number.
        await openProfile();
        await page.locator("#node-config-input-options-list li").last().locator(".hb-value").fill("7");
        await done();
        assert.deepEqual(await profileOf(), { valid: true, errors: [], job: true });
        assert.deepEqual(errors, []);
      });
    });
  });
}
