#!/usr/bin/env node
"use strict";
// The README's pictures, taken from a real Node-RED 4.1 in headless Chromium (Debian's chromium,
// driven by playwright-core): the demo flow and the "Backups" tab after real runs, a running
// run's log in the editor's tray (followed live, searched, downloadable), the "Snapshots" tab
// browsing a real restic snapshot, its forget dry run from the profile's keep policy, a
// restore's confirmation, and the NAS example (gate + notify).
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

/**
 * The part of the page the boxes of `selectors` cover together, widened by `pad` px and kept
 * within the page: a picture narrow enough to be shown at its own size in the README.
 */
async function clipOf(page, selectors, pad = 6) {
  const boxes = [];
  for (const sel of selectors) boxes.push(await page.locator(sel).first().boundingBox());
  const view = page.viewportSize();
  const x = Math.max(0, Math.floor(Math.min(...boxes.map((b) => b.x)) - pad));
  const y = Math.max(0, Math.floor(Math.min(...boxes.map((b) => b.y)) - pad));
  const right = Math.min(view.width, Math.ceil(Math.max(...boxes.map((b) => b.x + b.width)) + pad));
  const bottom = Math.min(view.height, Math.ceil(Math.max(...boxes.map((b) => b.y + b.height)) + pad));
  return { x, y, width: right - x, height: bottom - y };
}

async function main() {
  const demo = demoSetup({ files: 36, size: 48 * 1024 });
  // The demo's restic repository, as `npm start` makes it.
  const pw = path.join(demo.data, "restic-password");
  fs.writeFileSync(pw, crypto.randomBytes(18).toString("base64"), { mode: 0o600 });
  const init = spawnSync("restic", ["init", "--repo", path.join(demo.data, "restic-repo"), "--password-file", pw, "--cache-dir", path.join(demo.data, "restic-cache")], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`restic init: ${init.stderr}`);
  const nas = JSON.parse(fs.readFileSync(path.join(root, "examples", "rsync-nas-nightly.json"), "utf8"));
  const flows = demo.flows.map((n) => {
    // A keep policy on the demo's profile, where the Snapshots tab's forget starts from.
    if (n.id === "hb-demo-profile") return { ...n, options: { ...n.options, "keep-last": "2" } };
    // A bandwidth limit that only the 80 MB run of the log picture feels: it lasts long enough to follow.
    if (n.id === "hb-demo-job") return { ...n, rsync: { ...n.rsync, bwlimit: "6M" } };
    return n;
  });
  const red = await startNodeRed({ major: 4, flows: [...flows, ...nas] });
  let context;
  const written = [];
  try {
    await waitForJob(red, "hb-demo-job");
    await waitForJob(red, "hb-demo-rjob");
    // A little history: four rsync runs and four restic snapshots, the tree growing between them.
    for (let i = 0; i < 4; i++) {
      util.makeTree(path.join(demo.source, `batch-${i}`), { files: 8 + 8 * i, size: 96 * 1024, subdirs: 1, seed: 20 + i });
      await runJob(red, "hb-demo-job");
      await runJob(red, "hb-demo-rjob");
    }

    context = await launchBrowser({ viewport: { width: 1440, height: 860 } });
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(red.url);
    await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
    await page.waitForFunction(() => window.RED && RED.sidebar && RED.sidebar.containsTab && RED.sidebar.containsTab("highball-backups"), null, { timeout: 30000 });
    await page.mouse.click(700, 500); // close the editor's welcome tour, if any
    const openTab = async (id) => {
      await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
      await page.locator(`#red-ui-tabs-menu-option-${id}`).click();
    };
    const save = async (file, opts) => {
      await page.screenshot({ path: path.join(out, file), ...opts });
      written.push(file);
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
    await save("backups-tab.png");

    // A run that lasts (new files under the job's bandwidth limit): its log opens in the
    // editor's tray, followed live, and is searched.
    util.makeTree(path.join(demo.source, "videos"), { files: 40, size: 2 * 1024 * 1024, subdirs: 0, seed: 90 });
    const t0 = Date.now();
    if ((await red.post("highball/jobs/hb-demo-job/run")).status !== 202) throw new Error("the long run did not start");
    await util.waitFor(async () => (await red.get("highball/jobs")).json.find((x) => x.id === "hb-demo-job" && x.running), { timeout: 20000, what: "the long run" });
    await job.locator(".highball-sb-runs tr[data-run-id]").first().click();
    const tray = page.locator(".red-ui-tray .highball-sb-log.highball-sb-open");
    await tray.waitFor({ state: "visible", timeout: 20000 });
    await page.locator(".red-ui-tray .highball-sb-live").waitFor({ state: "visible", timeout: 20000 });
    await page.waitForTimeout(6000);
    await page.locator(".red-ui-tray .highball-sb-search").fill("file01");
    await page.locator(".red-ui-tray .highball-sb-search").press("Enter");
    await page.locator(".red-ui-tray .highball-sb-hits mark").first().waitFor({ state: "visible", timeout: 15000 }).catch(async (err) => {
      throw new Error(`${err.message}\n--- the log shown ---\n${await page.locator(".red-ui-tray pre.highball-sb-text").textContent()}`);
    });
    await page.waitForTimeout(1000);
    await save("log-viewer.png", { clip: await clipOf(page, [".red-ui-tray"], 0) });
    await page.locator(".red-ui-tray .highball-sb-log-close").click();
    await util.waitFor(async () => {
      const j = (await red.get("highball/jobs")).json.find((x) => x.id === "hb-demo-job");
      return j && !j.running && j.last && j.last.startedAt >= t0 - 1000;
    }, { timeout: 120000, what: "the long run to end" });

    await openTab("highball-snapshots");
    await page.locator(".highball-snap-snapshot").nth(3).waitFor({ state: "visible", timeout: 30000 });
    // Forget's dry run, from the profile's keep policy: which snapshots would go.
    await page.locator(".highball-snap-forget-open").click();
    await page.waitForFunction(() => /demo-repo/.test((document.querySelector(".highball-snap-keep-source") || {}).textContent || ""), null, { timeout: 30000 });
    await page.locator(".highball-snap-forget-dry").click();
    await page.locator(".highball-snap-forget-list tr").first().waitFor({ state: "visible", timeout: 60000 });
    await page.waitForTimeout(800);
    await save("forget-dry-run.png", { clip: await clipOf(page, ["#red-ui-sidebar-tabs", ".highball-snap-forget", ".highball-snap-snapshot >> nth=3"]) });
    await page.locator(".highball-snap-forget-open").click();

    await page.locator(".highball-snap-snapshot").first().click();
    await page.locator(".highball-snap-entry").first().waitFor({ state: "visible", timeout: 30000 });
    await page.locator(".highball-snap-entry", { hasText: "batch-2" }).first().click().catch(() => undefined);
    await page.waitForTimeout(1500);
    await save("snapshots-tab.png");

    // A restore asks first: what will be written where.
    for (const name of ["file000.bin", "file002.bin", "sub0"]) await page.locator(`.highball-snap-entry[data-name="${name}"] .highball-snap-select`).check();
    await page.locator(".highball-snap-target").fill(path.join(demo.data, "restored"));
    await page.locator(".highball-snap-restore-run").click();
    await page.locator(".highball-snap-confirm").waitFor({ state: "visible", timeout: 10000 });
    await page.waitForTimeout(500);
    await save("restore-confirm.png", { clip: await clipOf(page, [".ui-dialog:visible", "#red-ui-sidebar"]) });
    await page.locator(".highball-snap-confirm-cancel").click();

    // A job's hooks in its dialog: typed as words, kept as argument arrays (not saved here).
    await page.evaluate(() => RED.editor.edit(RED.nodes.node("hb-demo-job")));
    const addHook = page.locator(".red-ui-editableList", { has: page.locator("#node-input-hooks-container") }).locator(".red-ui-editableList-addButton");
    await addHook.waitFor({ state: "visible", timeout: 10000 });
    const hookRows = page.locator("#node-input-hooks-container > li");
    await addHook.click();
    await hookRows.nth(0).locator(".hb-hook-run").fill("systemctl stop postgresql");
    await hookRows.nth(0).locator(".hb-hook-timeout").fill("120");
    await addHook.click();
    await hookRows.nth(1).locator(".hb-hook-when").selectOption("finally");
    await hookRows.nth(1).locator(".hb-hook-run").fill("systemctl start postgresql");
    await page.locator(".form-tips", { hasText: "without a shell" }).scrollIntoViewIfNeeded();
    await page.waitForTimeout(500);
    await save("hooks-editor.png", { clip: await clipOf(page, [".red-ui-tray"], 0) });
    await page.locator("#node-dialog-cancel").click();
    await page.waitForFunction(() => !document.querySelector(".red-ui-tray"), null, { timeout: 10000 });

    // The NAS example is wide: the flow alone, without palette and sidebar.
    await page.locator("#red-ui-workspace-tabs .red-ui-tab", { hasText: "NAS" }).first().click();
    await page.evaluate(() => {
      RED.menu.setSelected("menu-item-palette", false);
      RED.menu.setSelected("menu-item-sidebar", false);
    });
    await page.mouse.move(700, 700);
    await page.waitForTimeout(800);
    await save("flow.png", { clip: { x: 0, y: 0, width: 1440, height: 340 } });
    if (errors.length) throw new Error(`script errors in the editor: ${errors.join("; ")}`);
    for (const f of written) console.log(`${path.relative(root, path.join(out, f))}: ${fs.statSync(path.join(out, f)).size} bytes`);
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
