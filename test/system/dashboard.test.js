"use strict";
// The dashboard example (examples/dashboard.json) in a real FlowFuse Dashboard 2.0 (issue 18
// item 5): a real Node-RED with @flowfuse/node-red-dashboard installed beside this package, the
// example's backup job pointed at temp folders (real rsync), run a few times; after a restart of
// Node-RED the page's table shows those runs, filled from the job's history on start, with a
// time, a human duration and a human size, and the chart draws their durations, before any new
// run; the page's "Run now" button starts a run that then appears on top of the table and at the
// end of the line. Its nodes are valid in the editor with the dashboard installed.
// Dashboard 2.0 is no dependency of the package: it is installed once into the tool cache
// (.tools/dashboard/<version>, git-ignored) and linked into each test's user dir.
// Screenshots go to test/artifacts/.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { startNodeRed, waitForJob, root } = require("../support/node-red-process");
const { launchBrowser } = require("../support/browser");

const DASHBOARD = "@flowfuse/node-red-dashboard";
const VERSION = "1.31.0"; // the version this test was written against; a new pin installs anew
const cache = path.join(root, ".tools", "dashboard");
const artifacts = path.join(root, "test", "artifacts");
const example = JSON.parse(fs.readFileSync(path.join(root, "examples", "dashboard.json"), "utf8"));
const JOB = "hb-dash-job";

/**
 * The dashboard's package folder in the tool cache, installed by npm on first use. The install
 * goes to a folder of its own and is renamed into place once complete, so a killed install
 * leaves nothing that looks installed.
 */
async function installDashboard() {
  const dir = path.join(cache, VERSION);
  const pkg = path.join(dir, "node_modules", ...DASHBOARD.split("/"));
  const installed = () => {
    try { return JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version === VERSION; } catch { return false; }
  };
  if (installed()) return pkg;
  fs.mkdirSync(cache, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cache, `.installing-${VERSION}-`));
  try {
    const r = await util.run("npm", ["install", "--prefix", tmp, "--no-audit", "--no-fund", "--no-save", "--no-package-lock", "--loglevel=error", `${DASHBOARD}@${VERSION}`], { timeout: 10 * 60 * 1000 });
    if (r.code !== 0) throw new Error(`npm install ${DASHBOARD}@${VERSION} failed (exit ${r.code}):\n${(r.stderr || r.stdout).slice(-3000)}`);
    if (!installed()) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!installed()) throw new Error(`${DASHBOARD}@${VERSION} is not in ${dir} after npm install`);
  return pkg;
}

/** A user dir whose node_modules holds the dashboard (a link into the tool cache), as after Manage palette. */
function userDirWithDashboard(pkg, major) {
  const dir = util.tmpDir(`node-red-${major}-dashboard`);
  const link = path.join(dir, "node_modules", ...DASHBOARD.split("/"));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(pkg, link, "dir");
  return dir;
}

/**
 * The time the example shows for a run: Node-RED runs with this process's locale and zone (its
 * Node may be another version, whose ICU may put another kind of space before "AM").
 */
const shownTime = (record) => same(new Date(record.finishedAt).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
const same = (text) => text.replace(/\s+/g, " ");

/** The chart's data as ECharts describes it for screen readers: its series and its [x, y] points. */
async function chartData(page) {
  const label = await page.locator("#nrdb-ui-widget-hb-dash-chart [_echarts_instance_]").getAttribute("aria-label");
  const m = /named (.+?)\.\s*The data is as follows: (.*?)\.?\s*$/.exec(label || "");
  if (!m) return { series: null, points: [], label };
  const n = m[2].split(",").map((v) => Number(v.trim()));
  const points = [];
  for (let i = 0; i + 1 < n.length; i += 2) points.push([n[i], n[i + 1]]);
  return { series: m[1], points, label };
}

/** The rows of the page's table as text, cell by cell, keyed by the table's column titles. */
async function tableRows(page) {
  return page.evaluate(() => {
    const table = document.querySelector("#nrdb-ui-widget-hb-dash-table table");
    if (!table) return null;
    const titles = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
    return Array.from(table.querySelectorAll("tbody tr")).map((tr) => {
      const cells = Array.from(tr.querySelectorAll("td"));
      const row = {};
      titles.forEach((t, i) => { row[t] = cells[i] ? cells[i].textContent.trim() : undefined; });
      row.cells = cells.length;
      row.okIcon = cells[titles.indexOf("OK")] ? cells[titles.indexOf("OK")].innerHTML : "";
      return row;
    });
  });
}

after(async function () {
  await util.stopAll();
});

for (const major of [4, 5]) {
  describe(`the dashboard example in a real Dashboard 2.0 ${VERSION}, Node-RED ${major}`, function () {
    this.timeout(600000);
    let red, browser, page, src, shown;
    const errors = [];
    const shot = (name) => page.screenshot({ path: path.join(artifacts, `dashboard-${major}-${name}.png`), fullPage: true });

    async function runs() {
      const r = await red.get(`highball/jobs/${JOB}/runs`);
      assert.equal(r.status, 200, r.text);
      return r.json;
    }
    async function runNow() {
      const before = (await runs()).length;
      assert.equal((await red.post(`highball/jobs/${JOB}/run`)).status, 202);
      return util.waitFor(async () => {
        const list = await runs();
        return list.length > before && list[0].status !== "running" ? list[0] : null;
      }, { timeout: 60000, what: "the run to end" });
    }

    before(async function () {
      const pkg = await installDashboard();
      const data = util.tmpDir("dashboard-data");
      src = path.join(data, "photos");
      const dest = path.join(data, "backups", "photos");
      fs.mkdirSync(path.join(src, "cache"), { recursive: true });
      fs.writeFileSync(path.join(src, "cache", "thumbs.db"), "left out by the job's exclude rule\n");
      // The example as shipped, its job pointed at the temp folders; its schedule feeds nothing,
      // so a test crossing a sixth hour sees no run it did not start.
      const flows = example.map((n) => {
        if (n.id === JOB) return { ...n, source: { ...n.source, paths: [{ ...n.source.paths[0], path: src }] }, destination: { ...n.destination, path: dest } };
        if (n.type === "highball-schedule-trigger") return { ...n, wires: [[], []] };
        return n;
      });
      red = await startNodeRed({ major, flows, userDir: userDirWithDashboard(pkg, major) });
      await waitForJob(red, JOB).catch((e) => { throw new Error(`${e.message}\n${red.log().slice(-4000)}`); });
      // Three runs of growing sizes: some kB, then a few MB.
      const sizes = [3 * 1024, 40 * 1024, 2500 * 1024];
      for (const [i, size] of sizes.entries()) {
        util.makeTree(path.join(src, `batch-${i}`), { files: 4, size: Math.ceil(size / 4), subdirs: 1, seed: 30 + i });
        const r = await runNow();
        assert.equal(r.status, "success", r.error);
      }
      fs.mkdirSync(artifacts, { recursive: true });
    });
    after(async function () {
      if (browser) await browser.close().catch(() => undefined);
      if (red) await red.stop();
    });

    it("runs Dashboard 2.0 in this Node-RED: its nodes load and the page answers", async function () {
      const log = red.log();
      assert.doesNotMatch(log, /\[error\]|Waiting for missing types/, log.slice(-4000));
      const r = await fetch(`${red.url}dashboard/backups`);
      assert.equal(r.status, 200);
      assert.match(await r.text(), /<div id="app"/);
    });

    it("after a restart, the table shows the earlier runs from history, with times, human durations and sizes, and the chart their durations, before any new run", async function () {
      const history = await runs();
      assert.equal(history.length, 3);
      await red.restart();
      await waitForJob(red, JOB);
      browser = await launchBrowser({ viewport: { width: 1300, height: 900 } });
      page = browser.pages()[0] || await browser.newPage();
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${red.url}dashboard`);
      await page.waitForURL(/\/dashboard\/backups$/, { timeout: 60000 });
      const rows = await util.waitFor(async () => {
        const r = await tableRows(page);
        return r && r.length === history.length && r[0].Time ? r : null;
      }, { timeout: 60000, what: "the table to show the three runs of the history" });
      await shot("history");
      assert.equal((await runs()).length, history.length, "a run happened before the table was checked");
      // Newest first, each row the record it came from, as people read it.
      for (const [i, rec] of history.entries()) {
        const row = rows[i];
        assert.equal(same(row.Time), shownTime(rec));
        assert.match(row.Time, /\d{1,2}:\d{2}/);
        assert.equal(row.Job, "photos");
        assert.equal(row.Status, "success");
        assert.match(row.okIcon, /check|tick|mdi-check/i, `the OK column shows no tick: ${row.okIcon}`);
        assert.match(row.Duration, /^\d+(\.\d)? s$|^\d+ min( \d+ s)?$/);
        assert.equal(row["Files changed"], String(rec.filesChanged));
        assert.equal(row.Error, "");
      }
      // The sizes: 3 kB, 41 kB and 2.6 MB of new files sent (rsync's own count, a little above).
      assert.deepEqual(rows.map((r) => r.Sent.replace(/[\d.]+ /, "")), ["MB", "kB", "kB"]);
      for (const [i, rec] of history.entries()) {
        const [value, unit] = rows[i].Sent.split(" ");
        const factor = unit === "MB" ? 1e6 : 1e3;
        assert.ok(Math.abs(Number(value) * factor - rec.bytesTransferred) <= factor * 0.051, `${rows[i].Sent} for ${rec.bytesTransferred} bytes`);
      }
      shown = rows;
      // The chart's line is back too: one point a run, oldest first, the job's name as its series.
      const chart = await util.waitFor(async () => { const c = await chartData(page); return c.points.length ? c : null; }, { timeout: 30000, what: "the chart's points" });
      assert.equal(chart.series, "photos", chart.label);
      assert.deepEqual(chart.points, history.slice().reverse().map((r) => [r.finishedAt, r.durationMs / 1000]));
    });

    it("the Run now button starts a run that then appears on top of the table and on the chart", async function () {
      const before = await runs();
      util.makeTree(path.join(src, "batch-new"), { files: 2, size: 5000, subdirs: 0, seed: 44 });
      await page.locator("#nrdb-ui-widget-hb-dash-button button").click();
      const rec = await util.waitFor(async () => {
        const list = await runs();
        return list.length > before.length && list[0].status !== "running" ? list[0] : null;
      }, { timeout: 60000, what: "the button's run to end" });
      assert.equal(rec.status, "success", rec.error);
      const rows = await util.waitFor(async () => {
        const r = await tableRows(page);
        return r && r.length === before.length + 1 ? r : null;
      }, { timeout: 30000, what: "the new run's row" });
      assert.equal(same(rows[0].Time), shownTime(rec));
      assert.equal(rows[0].Status, "success");
      assert.equal(rows[0]["Files changed"], String(rec.filesChanged));
      assert.match(rows[0].Sent, /^\d+(\.\d)? kB$/);
      const strip = (r) => { const { okIcon, cells, ...rest } = r; return rest; };
      assert.deepEqual(rows.slice(1).map(strip), shown.map(strip), "the earlier rows changed");
      const chart = await util.waitFor(async () => { const c = await chartData(page); return c.points.length === before.length + 1 ? c : null; }, { timeout: 30000, what: "the new run's point" });
      assert.deepEqual(chart.points[chart.points.length - 1], [rec.finishedAt, rec.durationMs / 1000]);
      await shot("run-now");
      assert.deepEqual(errors, [], "script errors on the dashboard page");
    });

    it("is valid in the editor with the dashboard installed: no red triangle on any of its nodes", async function () {
      const editor = await browser.newPage();
      const editorErrors = [];
      editor.on("pageerror", (e) => editorErrors.push(e.message));
      await editor.goto(red.url);
      await editor.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
      await editor.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType("ui-table") && RED.nodes.node("hb-dash-table"), null, { timeout: 60000 });
      const invalid = await editor.evaluate(() => {
        const out = [];
        const look = (n) => {
          RED.editor.validateNode(n);
          if (n.valid === false) out.push({ id: n.id, type: n.type, errors: n.validationErrors });
        };
        RED.nodes.eachNode(look);
        RED.nodes.eachConfig(look);
        return out;
      });
      assert.deepEqual(invalid, []);
      assert.deepEqual(editorErrors, []);
      await editor.close();
    });
  });
}
