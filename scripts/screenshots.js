#!/usr/bin/env node
"use strict";
// The README's pictures, taken from a real Node-RED 4.1 in headless Chromium (Debian's chromium,
// driven by playwright-core): the demo flow and the "Backups" tab after real runs, the
// "Snapshots" tab browsing a real restic snapshot, and the NAS example (gate + notify).
//
//   npm run build && node scripts/screenshots.js [--out docs/images]
//
// Uses the test rig (test/support, test/fixtures): everything runs on 127.0.0.1 in temp dirs
// that are removed at the end; the Node-RED and Chromium processes are stopped by PID.
const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const { spawnSync } = require("node:child_process");

const root = path.resolve(__dirname, "..");
const util = require(path.join(root, "test", "fixtures", "util"));
const { startNodeRed, waitForJob, demoSetup } = require(path.join(root, "test", "support", "node-red-process"));
const { launchBrowser } = require(path.join(root, "test", "support", "browser"));

const outArg = process.argv.indexOf("--out");
const out = path.resolve(root, outArg > 0 ? process.argv[outArg + 1] : path.join("docs", "images"));

async function runJob(red, id) {
  const t0 = Date.now();
  const r = await red.post(`highball/jobs/${id}/run`);
  if (r.status !== 202) throw new Error(`run ${id}: ${r.status} ${r.text}`);
  return util.waitFor(async () => {
    const j = (await red.get("highball/jobs")).json.find((x) => x.id === id);
    return j && !j.running && j.last && j.last.startedAt >= t0 - 1000 ? j : null;
  }, { timeout: 120000, what: `job ${id} to end` });
}

async function main() {
  const demo = demoSetup({ files: 36, size: 48 * 1024 });
  // The demo's restic repository, as `npm start` makes it.
  const pw = path.join(demo.data, "restic-password");
  fs.writeFileSync(pw, crypto.randomBytes(18).toString("base64"), { mode: 0o600 });
  const init = spawnSync("restic", ["init", "--repo", path.join(demo.data, "restic-repo"), "--password-file", pw, "--cache-dir", path.join(demo.data, "restic-cache")], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`restic init: ${init.stderr}`);
  const nas = JSON.parse(fs.readFileSync(path.join(root, "examples", "rsync-nas-nightly.json"), "utf8"));
  const red = await startNodeRed({ major: 4, flows: [...demo.flows, ...nas] });
  let context;
  try {
    await waitForJob(red, "hb-demo-job");
    await waitForJob(red, "hb-demo-rjob");
    // A little history: three rsync runs and two restic snapshots, the tree growing between them.
    for (let i = 0; i < 3; i++) {
      util.makeTree(path.join(demo.source, `batch-${i}`), { files: 8 + 8 * i, size: 96 * 1024, subdirs: 1, seed: 20 + i });
      await runJob(red, "hb-demo-job");
      if (i > 0) await runJob(red, "hb-demo-rjob");
    }

    context = await launchBrowser({ viewport: { width: 1440, height: 860 } });
    const page = context.pages()[0] || await context.newPage();
    await page.goto(red.url);
    await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
    await page.waitForFunction(() => window.RED && RED.sidebar && RED.sidebar.containsTab && RED.sidebar.containsTab("highball-backups"), null, { timeout: 30000 });
    await page.mouse.click(700, 500); // close the editor's welcome tour, if any
    const openTab = async (id) => {
      await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
      await page.locator(`#red-ui-tabs-menu-option-${id}`).click();
    };
    // A wider sidebar, as a user drags it, so the tabs have room.
    const sep = await page.locator("#red-ui-sidebar-separator").boundingBox();
    await page.mouse.move(sep.x + sep.width / 2, sep.y + sep.height / 2);
    await page.mouse.down();
    await page.mouse.move(sep.x - 120, sep.y + sep.height / 2, { steps: 8 });
    await page.mouse.up();

    fs.mkdirSync(out, { recursive: true });
    await openTab("highball-backups");
    const job = page.locator('.highball-sb-job[data-job-id="hb-demo-job"]');
    await job.waitFor({ state: "visible", timeout: 15000 });
    await job.locator(".highball-sb-name").click();
    await job.locator(".highball-sb-runs tr").nth(2).waitFor({ timeout: 15000 });
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(out, "backups-tab.png") });

    await openTab("highball-snapshots");
    await page.locator(".highball-snap-snapshot").nth(1).waitFor({ state: "visible", timeout: 30000 });
    await page.locator(".highball-snap-snapshot").first().click();
    await page.locator(".highball-snap-entry").first().waitFor({ state: "visible", timeout: 30000 });
    await page.locator(".highball-snap-entry", { hasText: "batch-2" }).first().click().catch(() => undefined);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(out, "snapshots-tab.png") });

    // The NAS example is wide: the flow alone, without palette and sidebar.
    await page.locator("#red-ui-workspace-tabs .red-ui-tab", { hasText: "NAS" }).first().click();
    await page.evaluate(() => {
      RED.menu.setSelected("menu-item-palette", false);
      RED.menu.setSelected("menu-item-sidebar", false);
    });
    await page.mouse.move(700, 700);
    await page.waitForTimeout(800);
    await page.screenshot({ path: path.join(out, "flow.png"), clip: { x: 0, y: 0, width: 1440, height: 340 } });
    for (const f of ["backups-tab.png", "snapshots-tab.png", "flow.png"]) console.log(`${path.relative(root, path.join(out, f))}: ${fs.statSync(path.join(out, f)).size} bytes`);
  } finally {
    if (context) await context.close().catch(() => undefined);
    await red.stop();
    await util.stopAll();
  }
}

main().catch(async (err) => {
  console.error(err.stack || String(err));
  await util.stopAll().catch(() => undefined);
  process.exit(1);
});
