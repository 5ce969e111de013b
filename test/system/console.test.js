"use strict";
// The sidebar as the operations console, in a real editor (headless Chromium against real
// Node-RED 4 and 5, restic over a real repository): from a failed run's card to its sentence and
// its log (opened wide in the editor's tray, searched, downloaded), from a run to its snapshot,
// from a snapshot to the job that made it, its size and files; repository actions (check,
// forget with a dry run first, unlock) as runs with their logs; a restore that asks first,
// lists the files it would write page by page and which it would overwrite, and ends as a run.
// Holds on every supported restic version. Screenshots go to test/artifacts/.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { startNodeRed, root } = require("../support/node-red-process");
const { launchBrowser } = require("../support/browser");

const artifacts = path.join(root, "test", "artifacts");
const LONG = "demo photos of the whole family, every holiday since 2019";

after(async function () {
  await util.stopAll();
});

for (const major of [4, 5]) {
  describe(`the sidebar as the operations console, Node-RED ${major}`, function () {
    this.timeout(300000);
    let red, browser, page, repo, src, token = null;
    const errors = [];
    const auth = major === 5;

    before(async function () {
      repo = await initResticRepo();
      src = path.join(util.tmpDir("console"), "photos");
      fs.mkdirSync(path.join(src, "album"), { recursive: true });
      for (let i = 0; i < 130; i++) fs.writeFileSync(path.join(src, "album", `p${String(i).padStart(3, "0")}.txt`), `photo ${i}\n`);
      // Two snapshots made outside, so forget has something to remove.
      for (let i = 0; i < 2; i++) assert.equal((await restic(repo, ["backup", "--tag", "old", src])).code, 0);
      const tab = "console";
      const job = (id, name, profile) => ({
        id, z: tab, type: "highball-backup-job", name, engine: "restic", enabled: true, profile,
        source: { type: "local", paths: [{ path: src }] }, restic: { command: "backup", args: [], tags: ["nightly"] }, timeoutSeconds: 0, wires: [["rr"]],
      });
      const wrongPw = path.join(util.tmpDir("pw"), "wrong");
      fs.writeFileSync(wrongPw, "not the password", { mode: 0o600 });
      const flows = [
        { id: tab, type: "tab", label: "console" },
        // Its keep policy (keep-last 1) is where the Snapshots tab's forget starts.
        { id: "cfg-nas", type: "highball-profile-config", name: "nas", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, "keep-last": "1" } },
        { id: "cfg-bad", type: "highball-profile-config", name: "bad", options: { repository: repo.repository, "password-file": wrongPw, "cache-dir": repo.cacheDir } },
        job("job-long", LONG, "cfg-nas"),
        job("job-broken", "broken", "cfg-bad"),
        { id: "rr", z: tab, type: "highball-restic-run", name: "restic", logTail: 5, wires: [[], []] },
      ];
      const settings = { highball: { restoreRoots: [path.dirname(util.tmpDir("bound"))] } };
      if (auth) settings.adminAuth = { type: "credentials", users: [{ username: "admin", password: "admin-pass-1", permissions: "*" }] };
      red = await startNodeRed({ major, flows, settings, userDir: util.tmpDir(`node-red-${major}-console`) });
      if (auth) token = await red.token("admin", "admin-pass-1");
      for (const id of ["job-long", "job-broken"]) {
        await util.waitFor(async () => (await red.get("highball/jobs", { token })).json.some((j) => j.id === id), { timeout: 30000, what: `job ${id}` }).catch((e) => { throw new Error(`${e.message}\n${red.log().slice(-3000)}`); });
        assert.equal((await red.post(`highball/jobs/${id}/run`, undefined, { token })).status, 202);
        await util.waitFor(async () => {
          const j = (await red.get("highball/jobs", { token })).json.find((x) => x.id === id);
          return j && !j.running && j.last ? j : null;
        }, { timeout: 60000, what: `the run of ${id}` });
      }
      fs.mkdirSync(artifacts, { recursive: true });
      browser = await launchBrowser({ viewport: { width: 1500, height: 950 }, acceptDownloads: true });
      page = browser.pages()[0] || await browser.newPage();
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(token ? `${red.url}?access_token=${token}` : red.url);
      await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
      await page.waitForFunction(() => window.RED && RED.sidebar && RED.sidebar.containsTab && RED.sidebar.containsTab("highball-backups") && RED.sidebar.containsTab("highball-snapshots"), null, { timeout: 30000 });
      await page.evaluate(() => RED.sidebar.show("highball-backups"));
    });
    after(async function () {
      if (browser) await browser.close().catch(() => undefined);
      if (red) await red.stop();
    });

    const shot = (name) => page.screenshot({ path: path.join(artifacts, `console-${major}-${name}.png`) });
    const card = (id) => page.locator(`.highball-sb-job[data-job-id="${id}"]`);

    it("shows a job's whole name and a failed run's sentence on its card and under its row", async function () {
      await card("job-long").waitFor({ state: "visible", timeout: 30000 });
      const name = card("job-long").locator(".highball-sb-name");
      assert.equal(await name.textContent(), LONG);
      assert.ok(await name.evaluate((el) => el.scrollWidth <= el.clientWidth + 1), "the name is cut");
      await card("job-broken").locator(".highball-sb-why").waitFor({ state: "visible", timeout: 15000 });
      assert.match(await card("job-broken").locator(".highball-sb-why").textContent(), /wrong repository password/);
      await card("job-broken").locator(".highball-sb-name").click();
      await card("job-broken").locator(".highball-sb-errtext").first().waitFor({ state: "visible", timeout: 15000 });
      assert.match(await card("job-broken").locator(".highball-sb-errtext").first().textContent(), /wrong repository password/);
      await card("job-broken").locator(".highball-sb-name").click();
    });

    it("labels each run's command and charts bytes sent; a restic run links to its snapshot", async function () {
      await card("job-long").locator(".highball-sb-name").click();
      const row = card("job-long").locator(".highball-sb-runs tr[data-run-id]").first();
      await row.waitFor({ state: "visible", timeout: 15000 });
      assert.equal(await row.locator(".highball-sb-cmd").textContent(), "backup");
      const snap = (await red.get("highball/jobs/job-long/runs", { token })).json[0].snapshotId;
      assert.ok(snap, "the backup recorded no snapshot");
      await shot("backups");
      await row.locator(".highball-sb-snap").click();
      // The Snapshots tab opens that snapshot's browser.
      await page.locator(".highball-snap-browser.highball-snap-open").waitFor({ state: "visible", timeout: 30000 });
      await page.waitForFunction((id) => (document.querySelector(".highball-snap-title") || {}).textContent && document.querySelector(".highball-snap-title").textContent.includes(id.slice(0, 8)), snap, { timeout: 30000 });
      assert.equal(await page.locator(".highball-snap-profile").inputValue(), "cfg-nas");
      await page.locator(".highball-snap-back").click();
    });

    it("says which job made each snapshot, with its size and files; the job's run log opens from there", async function () {
      const made = page.locator(".highball-snap-snapshot .highball-snap-origin");
      await made.first().waitFor({ state: "visible", timeout: 30000 });
      assert.equal(await made.count(), 1, "only the job's snapshot has a maker");
      assert.equal(await made.textContent(), `made by ${LONG}`);
      await page.waitForFunction(() => Array.from(document.querySelectorAll(".highball-snap-size")).filter((e) => /files$/.test(e.textContent)).length === 3, null, { timeout: 60000 });
      assert.match(await page.locator(".highball-snap-size").first().textContent(), /^\d+(\.\d)? (B|KB) · \d+ files$/);
      await shot("snapshots");
      await made.click();
      // The log of the run that made it, wide in the editor's tray.
      await page.locator(".red-ui-tray .highball-sb-log.highball-sb-open").waitFor({ state: "visible", timeout: 20000 });
      await page.waitForFunction(() => /# finished .*: success/.test(document.querySelector(".red-ui-tray pre.highball-sb-text").textContent), null, { timeout: 20000 });
      const width = await page.locator(".red-ui-tray pre.highball-sb-text").evaluate((el) => el.clientWidth);
      assert.ok(width > 600, `the log is only ${width} px wide`);
      await page.locator(".red-ui-tray .highball-sb-search").fill("snapshot");
      await page.locator(".red-ui-tray .highball-sb-search").press("Enter");
      await page.locator(".red-ui-tray .highball-sb-hits mark").first().waitFor({ state: "visible", timeout: 15000 });
      const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), page.locator(".red-ui-tray .highball-sb-log-download").click()]);
      const text = fs.readFileSync(await dl.path(), "utf8");
      assert.match(text, /^# run \S+ of job "demo photos/);
      assert.match(text, /# finished .*: success/);
      await shot("log-tray");
      await page.locator(".highball-sb-log-close").click();
      await page.locator(".red-ui-tray .highball-sb-log").waitFor({ state: "detached", timeout: 15000 });
      await page.evaluate(() => RED.sidebar.show("highball-snapshots"));
    });

    it("runs check with --read-data-subset and unlock as runs, each with its log", async function () {
      await page.locator(".highball-snap-check").click();
      await page.waitForFunction(() => /Check finished: success/.test((document.querySelector(".highball-snap-action-out") || {}).textContent || ""), null, { timeout: 60000 });
      const runs = (await red.get("highball/jobs/repository:nas/runs", { token })).json;
      assert.equal(runs[0].command, "check");
      const log = await red.get(`highball/runs/${runs[0].runId}/log?q=read-data-subset`, { token });
      assert.equal(log.json.length, 1);
      await page.locator(".highball-snap-unlock").click();
      await page.waitForFunction(() => /Unlock finished: 0 stale locks removed/.test((document.querySelector(".highball-snap-action-out") || {}).textContent || ""), null, { timeout: 60000 });
      const jobs = (await red.get("highball/jobs", { token })).json;
      assert.equal(jobs.find((j) => j.id === "repository:nas").last.command, "unlock");
    });

    it("forget starts from the profile's keep policy, shows what it would remove, removes nothing until confirmed, then exactly that", async function () {
      const before = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
      assert.equal(before.length, 3);
      await page.locator(".highball-snap-forget-open").click();
      await page.waitForFunction(() => /keep policy of profile nas/.test((document.querySelector(".highball-snap-keep-source") || {}).textContent || ""), null, { timeout: 30000 });
      assert.equal(await page.locator(".highball-snap-keep-last").inputValue(), "1");
      for (const k of ["hourly", "daily", "weekly", "monthly", "yearly", "within"]) assert.equal(await page.locator(`.highball-snap-keep-${k}`).inputValue(), "", `keep ${k} is not the profile's`);
      await page.locator(".highball-snap-forget-dry").click();
      await page.locator(".highball-snap-forget-plan").waitFor({ state: "visible", timeout: 60000 });
      assert.match(await page.locator(".highball-snap-forget-plan").textContent(), /would remove 2 snapshots and keep 1/);
      const gone = await page.locator(".highball-snap-forget-list tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-snap")));
      const newest = before.sort((a, b) => (a.time < b.time ? 1 : -1))[0].id;
      assert.deepEqual(gone.sort(), before.filter((s) => s.id !== newest).map((s) => s.id).sort());
      assert.equal(JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).length, 3, "the dry run removed something");
      await shot("forget");
      await page.locator(".highball-snap-forget-run").click();
      await page.waitForFunction(() => /Forget finished: success/.test((document.querySelector(".highball-snap-action-out") || {}).textContent || ""), null, { timeout: 60000 });
      assert.deepEqual(JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).map((s) => s.id), [newest]);
      await page.waitForFunction(() => document.querySelectorAll(".highball-snap-snapshot").length === 1, null, { timeout: 30000 });
    });

    it("a restore asks first, lists its files page by page with those it would overwrite, and ends as a run", async function () {
      await page.locator(".highball-snap-snapshot .highball-snap-time").first().click();
      await page.locator(".highball-snap-entry").first().waitFor({ state: "visible", timeout: 30000 });
      // In place, everything exists: the dry run's list marks each file as overwritten.
      await page.locator(".highball-snap-dryrun").click();
      await page.locator(".highball-snap-files-count").waitFor({ state: "visible", timeout: 60000 });
      assert.match(await page.locator(".highball-snap-files-count").textContent(), /^1–100 of 13[23] \(130 would be overwritten\)$/);
      await page.locator(".highball-snap-files-next").click();
      await page.waitForFunction(() => /^101–13[23] of/.test(document.querySelector(".highball-snap-files-count").textContent), null, { timeout: 60000 });
      await page.locator(".highball-snap-only-existing").check();
      await page.waitForFunction(() => /^1–100 of 130 \(130/.test(document.querySelector(".highball-snap-files-count").textContent), null, { timeout: 60000 });
      assert.equal(await page.locator(".highball-snap-file-list .highball-snap-over").count(), 100);
      await shot("restore-dry-run");
      // A real restore into a new folder: the confirmation names what goes where.
      const target = path.join(util.tmpDir("restore-target"), "into");
      await page.locator(".highball-snap-target").fill(target);
      await page.locator(".highball-snap-restore-run").click();
      const dialog = page.locator(".highball-snap-confirm");
      await dialog.waitFor({ state: "visible", timeout: 10000 });
      const said = await dialog.textContent();
      assert.ok(said.includes(target) && said.includes(src), said);
      assert.match(said, /Restore 1 path of snapshot /, "one path, in the singular");
      await shot("restore-confirm");
      assert.ok(!fs.existsSync(target), "the restore started before the confirmation");
      await page.locator(".highball-snap-confirm-ok").click();
      await page.waitForFunction(() => /^Restored 13[01] files/.test((document.querySelector(".highball-snap-restore-summary") || {}).textContent || ""), null, { timeout: 60000 });
      assert.equal(fs.readFileSync(path.join(target, src, "album", "p007.txt"), "utf8"), "photo 7\n");
      const runs = (await red.get("highball/jobs/restore:nas/runs", { token })).json;
      assert.equal(runs[0].command, "restore");
      assert.equal(runs[0].status, "success");
      assert.deepEqual(errors, [], "script errors in the editor");
    });

    it("a failure alert's log link (the notify node's #highball/runs/<runId>) opens that run's log in the editor, on load and in an open editor", async function () {
      const failed = (await red.get("highball/jobs", { token })).json.find((j) => j.id === "job-broken").last;
      assert.equal(failed.status, "failed");
      const link = `${red.url}${token ? `?access_token=${token}` : ""}#highball/runs/${failed.runId}`;
      // A fresh editor opened from the link.
      const fresh = await browser.newPage();
      try {
        fresh.on("pageerror", (e) => errors.push(e.message));
        await fresh.goto(link);
        await fresh.locator(".red-ui-tray .highball-sb-log.highball-sb-open").waitFor({ state: "visible", timeout: 60000 });
        await fresh.waitForFunction(() => /wrong repository password/.test((document.querySelector(".red-ui-tray pre.highball-sb-text") || {}).textContent || ""), null, { timeout: 30000 });
        assert.match(await fresh.locator(".red-ui-tray .highball-sb-log-title, .red-ui-tray-header").first().textContent(), /broken/);
      } finally {
        await fresh.close();
      }
      // The editor already open: only the address changes.
      await page.evaluate((r) => { window.location.hash = `#highball/runs/${r}`; }, failed.runId);
      await page.locator(".red-ui-tray .highball-sb-log.highball-sb-open").waitFor({ state: "visible", timeout: 30000 });
      await page.waitForFunction(() => /wrong repository password/.test((document.querySelector(".red-ui-tray pre.highball-sb-text") || {}).textContent || ""), null, { timeout: 30000 });
      await page.locator(".highball-sb-log-close").click();
      await page.locator(".red-ui-tray .highball-sb-log").waitFor({ state: "detached", timeout: 15000 });
      assert.deepEqual(errors, [], "script errors in the editor");
    });

    it("marks a browsed snapshot as indexed, and offers no comparison with a single snapshot", async function () {
      // The restore above browsed the one snapshot forget left: its index is written in the background.
      await util.waitFor(async () => {
        const list = (await red.get("highball/profiles/cfg-nas/snapshots", { token })).json;
        return list.length === 1 && list[0].indexed === true;
      }, { timeout: 60000, what: "the browsed snapshot indexed" }).catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify((await red.get("highball/profiles/cfg-nas/snapshots", { token })).json)}\n${red.log().slice(-2500)}`); });
      // The log link above brought the Backups tab forward.
      await page.evaluate(() => RED.sidebar.show("highball-snapshots"));
      await page.locator(".highball-snap-back").click({ timeout: 5000 }).catch(() => undefined);
      await page.locator(".highball-snap-refresh").click();
      await page.locator(".highball-snap-snapshot .highball-snap-indexed").waitFor({ state: "visible", timeout: 30000 });
      assert.match(await page.locator(".highball-snap-indexed").getAttribute("title"), /Indexed/);
      assert.equal(await page.locator(".highball-snap-diff-form").isVisible(), false, "Compare offered with one snapshot");
      assert.deepEqual(errors, [], "script errors in the editor");
    });
  });
}
