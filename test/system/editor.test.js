"use strict";
// The "Backups" sidebar tab in a real editor: headless Chromium against a real Node-RED 4.1 and
// 5.x with the demo flow. It runs a job, sees its result and history, reads its log, follows a
// running job's log live, cancels a run, shows a job named like an XSS probe as plain text, and
// speaks German when the editor's language is German.
// Screenshots go to test/artifacts/ (ignored by git).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { startNodeRed, waitForJob, demoSetup, root } = require("../support/node-red-process");
const { launchBrowser } = require("../support/browser");

const artifacts = path.join(root, "test", "artifacts");
const XSS = "<img src=x onerror=alert(1)>";

after(async function () {
  await util.stopAll();
});


for (const major of [4, 5]) {
  describe(`the Backups sidebar tab in a real Node-RED ${major} editor`, function () {
    this.timeout(180000);
    let red, demo, browser, page;
    const dialogs = [];
    const errors = [];

    before(async function () {
      demo = demoSetup();
      const slowSrc = path.join(demo.data, "slow");
      fs.mkdirSync(slowSrc);
      util.makeTree(slowSrc, { files: 16, size: 48 * 1024, subdirs: 2, seed: 5 });
      const flows = [
        ...demo.flows,
        { id: "hb-xss-job", type: "highball-backup-job", z: "hb-demo", name: XSS, engine: "rsync", enabled: true,
          source: { type: "local", paths: [{ path: demo.source, include: [], exclude: ["cache/"] }] },
          destination: { type: "local", path: path.join(demo.data, "backups", "xss") }, x: 340, y: 260, wires: [["hb-demo-rsync"]] },
        { id: "hb-slow-job", type: "highball-backup-job", z: "hb-demo", name: "slow archive", engine: "rsync", enabled: true,
          source: { type: "local", paths: [{ path: slowSrc, include: [], exclude: [] }] },
          destination: { type: "local", path: path.join(demo.data, "backups", "slow") }, x: 340, y: 320, wires: [["hb-slow-rsync"]] },
        // 768 KB at 160 KB/s: about five seconds, long enough to watch it run.
        { id: "hb-slow-rsync", type: "highball-rsync-run", z: "hb-demo", name: "rsync (slow)", bwlimit: "160", x: 560, y: 320, wires: [[], []] },
      ];
      // Many small files make a log of a few hundred KB: more than the viewer reads at once.
      const manySrc = path.join(demo.data, "many");
      fs.mkdirSync(manySrc);
      util.makeTree(manySrc, { files: 4000, size: 32, subdirs: 5, seed: 9 });
      flows.push({ id: "hb-many-job", type: "highball-backup-job", z: "hb-demo", name: "many files", engine: "rsync", enabled: true,
        source: { type: "local", paths: [{ path: manySrc, include: [], exclude: [] }] },
        destination: { type: "local", path: path.join(demo.data, "backups", "many") }, x: 340, y: 380, wires: [["hb-demo-rsync"]] });
      red = await startNodeRed({ major, flows });
      await waitForJob(red, "hb-demo-job");
      fs.mkdirSync(artifacts, { recursive: true });
      browser = await launchBrowser();
      page = browser.pages()[0] || await browser.newPage();
      page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(red.url);
      await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
      await page.waitForFunction(() => window.RED && RED.sidebar && RED.sidebar.containsTab && RED.sidebar.containsTab("highball-backups"), null, { timeout: 30000 });
    });
    after(async function () {
      if (browser) await browser.close().catch(() => undefined);
      if (red) await red.stop();
    });

    // A test that failed with the log viewer open must not leave it over the next one's jobs.
    beforeEach(async function () {
      if (page && await page.locator(".highball-sb-log.highball-sb-open").count()) await page.locator(".highball-sb-log-close").click();
    });

    const shot = (name) => page.screenshot({ path: path.join(artifacts, `editor-${major}-${name}.png`) });
    const job = (id) => page.locator(`.highball-sb-job[data-job-id="${id}"]`);
    const lastStatus = (id) => job(id).locator(".highball-sb-last .highball-sb-status");

    it("opens the Backups tab from the sidebar and lists every job", async function () {
      // 5.x: a button in the sidebars' tab bar. 4.x: the sidebar's tab menu, as for any tab
      // that is not one of the pinned icon buttons.
      if (major === 5) {
        await page.locator('button[data-tab-id="highball-backups"]').click();
      } else {
        await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
        await page.locator("#red-ui-tabs-menu-option-highball-backups").click();
      }
      await job("hb-demo-job").waitFor({ state: "visible", timeout: 15000 });
      await job("hb-slow-job").waitFor({ state: "visible" });
      assert.equal(await job("hb-demo-job").locator(".highball-sb-name").textContent(), "demo photos");
      assert.equal(await job("hb-demo-job").locator(".highball-sb-last").textContent(), "never run");
      assert.equal(await job("hb-demo-job").locator(".highball-sb-engine").textContent(), "rsync");
      assert.match(await job("hb-demo-job").locator(".highball-sb-next").textContent(), /^next: \S/);
    });

    it("shows a job named like markup as plain text, and runs no script of it", async function () {
      const name = job("hb-xss-job").locator(".highball-sb-name");
      assert.equal(await name.textContent(), XSS);
      assert.equal(await page.locator(".highball-sb img").count(), 0);
      // Through the notification, the live messages and the history too.
      await job("hb-xss-job").locator(".highball-sb-run").click();
      await page.waitForFunction(() => {
        const el = document.querySelector('.highball-sb-job[data-job-id="hb-xss-job"] .highball-sb-last .highball-sb-status');
        return el && el.textContent === "success";
      }, null, { timeout: 30000 });
      await name.click();
      await job("hb-xss-job").locator(".highball-sb-runs tr").first().waitFor();
      await job("hb-xss-job").locator(".highball-sb-runs tr").first().click();
      await page.locator(".highball-sb-log.highball-sb-open .highball-sb-log-title").waitFor();
      assert.ok((await page.locator(".highball-sb-log-title").textContent()).startsWith(XSS));
      assert.equal(await page.locator("img[src=x]").count(), 0, "the job name became an element");
      await page.locator(".highball-sb-log-close").click();
      assert.deepEqual(dialogs, []);
      assert.equal(await page.evaluate(() => window.__highballXss === undefined), true);
    });

    it("runs a job with Run now and shows its success and its history row", async function () {
      const t0 = Date.now();
      await job("hb-demo-job").locator(".highball-sb-run").click();
      await page.waitForFunction(() => {
        const el = document.querySelector('.highball-sb-job[data-job-id="hb-demo-job"] .highball-sb-last .highball-sb-status');
        return el && el.textContent === "success";
      }, null, { timeout: 30000 });
      assert.ok(await job("hb-demo-job").locator(".highball-sb-dot.highball-sb-s-success").isVisible());
      // A second run, so the history has a chart.
      await util.waitFor(async () => (await red.get("highball/jobs")).json.find((j) => j.id === "hb-demo-job").running === null, { what: "the first run to end" });
      await job("hb-demo-job").locator(".highball-sb-run").click();
      await util.waitFor(async () => (await red.get("highball/jobs/hb-demo-job/runs")).json.length === 2, { timeout: 30000, what: "two runs in the history" });
      await job("hb-demo-job").locator(".highball-sb-name").click();
      await page.waitForFunction(() => {
        const el = document.querySelector('.highball-sb-job[data-job-id="hb-demo-job"]');
        return el.querySelectorAll(".highball-sb-runs tr").length === 2 && el.querySelectorAll("svg.highball-sb-chart rect").length === 2;
      }, null, { timeout: 15000 });
      const rows = job("hb-demo-job").locator(".highball-sb-runs tr");
      assert.equal(await rows.nth(0).locator(".highball-sb-status").textContent(), "success");
      assert.equal(await rows.nth(1).locator(".highball-sb-status").textContent(), "success");
      assert.equal(await job("hb-demo-job").locator("svg.highball-sb-chart rect").count(), 2);
      assert.equal(await job("hb-demo-job").locator("svg.highball-sb-chart circle").count(), 2);
      const runs = (await red.get("highball/jobs/hb-demo-job/runs")).json;
      assert.ok(runs[0].startedAt >= t0 - 1000);
      assert.equal(await rows.nth(0).getAttribute("data-run-id"), runs[0].runId);
      await shot("history");
    });

    it("opens a run's log at its tail, and searches it", async function () {
      const runs = (await red.get("highball/jobs/hb-demo-job/runs")).json;
      await job("hb-demo-job").locator(".highball-sb-runs tr").first().click();
      const text = page.locator(".highball-sb-log.highball-sb-open pre.highball-sb-text");
      await page.waitForFunction(() => /# finished .*: success/.test((document.querySelector(".highball-sb-log pre.highball-sb-text") || {}).textContent || ""), null, { timeout: 15000 });
      const shown = await text.textContent();
      const whole = await red.get(`highball/runs/${runs[0].runId}/log?offset=0&length=10000000`, { accept: "text/plain" });
      assert.equal(shown, whole.text, "the viewer shows other text than the log");
      assert.match(shown, /^# run .* of job "demo photos"/);
      assert.match(shown, /Number of files: \d+/);
      assert.match(await page.locator(".highball-sb-log-info").textContent(), /whole log/);

      await page.locator(".highball-sb-search").fill("number of files");
      await page.locator(".highball-sb-search").press("Enter");
      await page.locator(".highball-sb-hits mark").first().waitFor();
      assert.equal((await page.locator(".highball-sb-hits mark").first().textContent()).toLowerCase(), "number of files");
      const hit = await page.locator(".highball-sb-hits > div").first().textContent();
      // The hit names its line number, then the line (the line numbers are the runtime's).
      assert.match(hit, /^\d+Number of files: \d+/);
      assert.ok(shown.split("\n").includes(hit.replace(/^\d+/, "")), hit);
      await shot("log");
      await page.locator(".highball-sb-log-close").click();
    });

    it("opens a large log at its tail, and loads the earlier parts by byte range", async function () {
      await job("hb-many-job").locator(".highball-sb-run").click();
      await page.waitForFunction(() => {
        const el = document.querySelector('.highball-sb-job[data-job-id="hb-many-job"] .highball-sb-last .highball-sb-status');
        return el && el.textContent === "success";
      }, null, { timeout: 60000 });
      const runId = (await red.get("highball/jobs/hb-many-job/runs")).json[0].runId;
      const whole = await red.get(`highball/runs/${runId}/log?offset=0&length=16000000`, { accept: "text/plain" });
      const size = Number(whole.headers.get("x-log-size"));
      assert.ok(size > 2 * 128 * 1024, `the log is only ${size} bytes`);
      await job("hb-many-job").locator(".highball-sb-name").click();
      await job("hb-many-job").locator(`.highball-sb-runs tr[data-run-id="${runId}"]`).click();
      const text = page.locator(".highball-sb-log pre.highball-sb-text");
      await page.waitForFunction(() => /# finished .*: success.*\n$/.test(document.querySelector(".highball-sb-log pre.highball-sb-text").textContent), null, { timeout: 15000 });
      const tail = await text.textContent();
      assert.ok(tail.length < whole.text.length && whole.text.endsWith(tail), "the viewer did not open at the tail");
      assert.ok(whole.text.slice(0, whole.text.length - tail.length).endsWith("\n"), "the tail starts inside a line");
      assert.match(await page.locator(".highball-sb-log-info").textContent(), /showing from byte \d+/);
      for (let i = 0; i < 10 && await page.locator(".highball-sb-earlier").isVisible(); i++) {
        const before = (await text.textContent()).length;
        await page.locator(".highball-sb-earlier").click();
        await page.waitForFunction((n) => document.querySelector(".highball-sb-log pre.highball-sb-text").textContent.length > n, before);
      }
      assert.equal(await page.locator(".highball-sb-earlier").isVisible(), false);
      assert.equal(await text.textContent(), whole.text, "the joined byte ranges differ from the log");
      assert.match(await page.locator(".highball-sb-log-info").textContent(), /whole log/);
      await page.locator(".highball-sb-log-close").click();
      await job("hb-many-job").locator(".highball-sb-name").click();
    });

    it("follows a running job's log live, with a progress bar, to its end", async function () {
      await job("hb-slow-job").locator(".highball-sb-name").click();
      await job("hb-slow-job").locator(".highball-sb-run").click();
      await job("hb-slow-job").locator(".highball-sb-progress .highball-sb-bar").waitFor({ state: "visible", timeout: 15000 });
      await job("hb-slow-job").locator(".highball-sb-cancel").waitFor({ state: "visible" });
      await page.waitForFunction(() => {
        const t = document.querySelector('.highball-sb-job[data-job-id="hb-slow-job"] .highball-sb-progress-text');
        return t && /\d+%/.test(t.textContent);
      }, null, { timeout: 15000 });
      await shot("running");
      const runId = (await red.get("highball/jobs")).json.find((j) => j.id === "hb-slow-job").running.runId;
      await job("hb-slow-job").locator(`.highball-sb-runs tr[data-run-id="${runId}"]`).click();
      await page.locator(".highball-sb-live").waitFor({ state: "visible", timeout: 10000 });
      // Lines arrive while the run is still going.
      await page.waitForFunction(() => /^>f\+{9} /m.test(document.querySelector(".highball-sb-log pre.highball-sb-text").textContent), null, { timeout: 20000 });
      const during = (await red.get("highball/jobs")).json.find((j) => j.id === "hb-slow-job");
      assert.ok(during.running, "the run had already ended: nothing was followed live");
      await shot("live-log");
      await page.waitForFunction(() => /run ended: success/.test(document.querySelector(".highball-sb-log-info").textContent), null, { timeout: 60000 });
      assert.equal(await page.locator(".highball-sb-live").isVisible(), false);
      const whole = await red.get(`highball/runs/${runId}/log?offset=0&length=10000000`, { accept: "text/plain" });
      assert.equal(await page.locator(".highball-sb-log pre.highball-sb-text").textContent(), whole.text, "the followed log differs from the file");
      await page.locator(".highball-sb-log-close").click();
      assert.equal(await lastStatus("hb-slow-job").textContent(), "success");
    });

    it("cancels a running job with Cancel", async function () {
      // A fresh destination, so rsync has the whole copy to do again.
      fs.rmSync(path.join(demo.data, "backups", "slow"), { recursive: true, force: true });
      await job("hb-slow-job").locator(".highball-sb-run").click();
      await job("hb-slow-job").locator(".highball-sb-cancel").waitFor({ state: "visible", timeout: 15000 });
      await job("hb-slow-job").locator(".highball-sb-cancel").click();
      await page.waitForFunction(() => {
        const el = document.querySelector('.highball-sb-job[data-job-id="hb-slow-job"] .highball-sb-last .highball-sb-status');
        return el && el.textContent === "cancelled";
      }, null, { timeout: 30000 });
      await page.waitForFunction(() => {
        const el = document.querySelector('.highball-sb-job[data-job-id="hb-slow-job"] .highball-sb-runs tr .highball-sb-status');
        return el && el.textContent === "cancelled";
      }, null, { timeout: 15000 });
      const runs = (await red.get("highball/jobs/hb-slow-job/runs")).json;
      assert.equal(runs[0].status, "cancelled");
      assert.equal(await job("hb-slow-job").locator(".highball-sb-runs tr").first().getAttribute("data-run-id"), runs[0].runId);
      await shot("tab");
      assert.deepEqual(dialogs, [], "a dialog opened");
      assert.deepEqual(errors.filter((e) => /highball/i.test(e)), []);
    });

    it("speaks German when the editor's language is German: the plugins' catalogues load under their ids", async function () {
      // What the editor fetches before it runs the plugins' scripts (RED.i18n.loadPluginCatalogs):
      // each plugin's catalogue keyed by its id, <module>/<plugin>.
      const de = (await red.get("plugins/messages?lng=de")).json;
      assert.equal(de["@highball/node-red-backup/highball-sidebar"].tab.label, "Sicherungen");
      assert.equal(de["@highball/node-red-backup/highball-snapshots"].restore.dryRun, "Probelauf");
      assert.equal(de["@highball/node-red-backup/highball-import"].dialog.convert, "Umwandeln");
      assert.equal((await red.get("plugins/messages?lng=en-US")).json["@highball/node-red-backup/highball-sidebar"].tab.label, "Backups");
      // The editor's own language setting (View > Language keeps it in localStorage, ahead of the
      // browser's language); Node-RED reads it as the editor loads.
      await page.evaluate(() => localStorage.setItem("editor-language", "de"));
      try {
        await page.reload();
        await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
        await page.waitForFunction(() => window.RED && RED.sidebar && RED.sidebar.containsTab && RED.sidebar.containsTab("highball-backups"), null, { timeout: 30000 });
        assert.equal(await page.evaluate(() => RED.i18n.lang()), "de");
        assert.equal((await page.locator("#menu-item-view-menu-highball-backups").textContent()).trim(), "Sicherungen");
        if (major === 5) assert.equal(await page.locator('button[data-tab-id="highball-backups"]').getAttribute("aria-label"), "Sicherungen");
        assert.equal((await page.locator("#menu-item-highball-import").textContent()).trim(), "Highball-/PRestic-Konfiguration importieren…");
        await page.evaluate(() => RED.sidebar.show("highball-backups"));
        await lastStatus("hb-demo-job").waitFor({ state: "visible", timeout: 15000 });
        assert.equal(await lastStatus("hb-demo-job").textContent(), "erfolgreich");
        assert.equal((await job("hb-demo-job").locator(".highball-sb-run").textContent()).trim(), "Jetzt ausführen");
        assert.match(await job("hb-demo-job").locator(".highball-sb-next").textContent(), /^nächster Lauf: \S/);
        await shot("german");
      } finally {
        await page.evaluate(() => localStorage.removeItem("editor-language"));
      }
      assert.deepEqual(errors.filter((e) => /highball/i.test(e)), []);
    });
  });
}

describe("the Backups sidebar tab for a read-only user, behind adminAuth (Node-RED 4)", function () {
  this.timeout(180000);
  let red, browser, page, runId;
  const refused = [];

  before(async function () {
    const demo = demoSetup({ files: 6 });
    red = await startNodeRed({
      major: 4,
      flows: demo.flows,
      settings: { adminAuth: { type: "credentials", users: [
        { username: "admin", password: "admin-pass-1", permissions: "*" },
        { username: "viewer", password: "viewer-pass-1", permissions: "read" },
      ] } },
    });
    const admin = await red.token("admin", "admin-pass-1");
    await waitForJob(red, "hb-demo-job", { token: admin });
    assert.equal((await red.post("highball/jobs/hb-demo-job/run", undefined, { token: admin })).status, 202);
    const job = await util.waitFor(async () => {
      const j = (await red.get("highball/jobs", { token: admin })).json.find((x) => x.id === "hb-demo-job");
      return j && j.last ? j : null;
    }, { timeout: 30000, what: "the admin's run to end" });
    runId = job.last.runId;
    browser = await launchBrowser();
    page = browser.pages()[0] || await browser.newPage();
    page.on("response", (r) => { if (/\/highball\//.test(r.url()) && r.status() >= 400) refused.push(`${r.status()} ${r.url()}`); });
  });
  after(async function () {
    if (browser) await browser.close().catch(() => undefined);
    if (red) await red.stop();
  });

  it("logs in, lists the jobs, opens a log, and offers no write action", async function () {
    await page.goto(red.url);
    await page.locator("#node-dialog-login-username").fill("viewer");
    await page.locator("#node-dialog-login-password").fill("viewer-pass-1");
    await page.locator("#node-dialog-login-submit").click();
    await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
    await page.waitForFunction(() => window.RED && RED.sidebar.containsTab && RED.sidebar.containsTab("highball-backups"), null, { timeout: 30000 });
    await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
    await page.locator("#red-ui-tabs-menu-option-highball-backups").click();
    const job = page.locator('.highball-sb-job[data-job-id="hb-demo-job"]');
    await job.locator(".highball-sb-last .highball-sb-status").waitFor({ timeout: 15000 });
    assert.equal(await job.locator(".highball-sb-last .highball-sb-status").textContent(), "success");
    assert.equal(await job.locator(".highball-sb-run").isDisabled(), true, "a read-only user may press Run now");
    assert.equal(await job.locator(".highball-sb-run").getAttribute("title"), "Needs the highball.write permission");
    await job.locator(".highball-sb-name").click();
    await job.locator(`.highball-sb-runs tr[data-run-id="${runId}"]`).click();
    await page.waitForFunction(() => /# finished .*: success/.test(document.querySelector(".highball-sb-log pre.highball-sb-text").textContent), null, { timeout: 15000 });
    await page.screenshot({ path: path.join(artifacts, "editor-4-viewer.png") });
    assert.deepEqual(refused, [], "the tab's requests were refused: are its URLs relative?");
  });
});
