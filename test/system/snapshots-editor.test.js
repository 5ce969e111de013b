"use strict";
// The "Snapshots" sidebar tab in a real editor: headless Chromium against a real Node-RED 4.1
// and 5.x (the latter behind adminAuth, so downloads must carry the user's token) with a
// restic profile over a real repository. It lists the snapshots, browses one level by level,
// views a text file, downloads a file and a folder (as a zip), compares two snapshots, shows
// restore refusals and restores, and keeps a file named like markup as plain text.
// Screenshots go to test/artifacts/ (ignored by git).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { startNodeRed, root } = require("../support/node-red-process");
const { launchBrowser } = require("../support/browser");

const artifacts = path.join(root, "test", "artifacts");
const XSS = "<img src=x onerror=alert(1)>";
const PLUGIN = "highball-snapshots";

after(async function () {
  await util.stopAll();
});


/** A user dir of its own: the package (linked by startNodeRed) brings the plugin, as package.json lists it. */
function userDirWithPlugin(major) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  assert.ok(pkg["node-red"].plugins && pkg["node-red"].plugins[PLUGIN], `package.json does not list the ${PLUGIN} plugin`);
  return util.tmpDir(`node-red-${major}-snap`);
}

function zipNames(buf) {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, "not a zip");
  let p = buf.readUInt32LE(eocd + 16);
  const names = [];
  for (let i = 0, n = buf.readUInt16LE(eocd + 10); i < n; i++) {
    const len = buf.readUInt16LE(p + 28);
    names.push(buf.toString("utf8", p + 46, p + 46 + len));
    p += 46 + len + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return names;
}

for (const major of [4, 5]) {
  describe(`the Snapshots sidebar tab in a real Node-RED ${major} editor`, function () {
    this.timeout(240000);
    let red, browser, page, repo, src, s1, s2, token = null;
    const dialogs = [];
    const errors = [];
    const auth = major === 5;

    before(async function () {
      repo = await initResticRepo();
      src = path.join(util.tmpDir("snap-e2e"), "photos");
      fs.mkdirSync(path.join(src, "albums", "2026"), { recursive: true });
      fs.writeFileSync(path.join(src, "albums", "2026", "list.txt"), "beach.jpg\nmountain.jpg\n");
      fs.writeFileSync(path.join(src, "albums", "index.txt"), "the album index\n");
      fs.writeFileSync(path.join(src, "readme.txt"), "Holiday photos, version one.\n");
      fs.writeFileSync(path.join(src, XSS), "a file named like markup\n");
      let r = await restic(repo, ["backup", "--tag", "nightly", src]);
      assert.equal(r.code, 0, r.stderr);
      fs.writeFileSync(path.join(src, "readme.txt"), "Holiday photos, version two, with a longer text.\n");
      fs.writeFileSync(path.join(src, "albums", "2026", "big.bin"), Buffer.alloc(50000, 7));
      fs.rmSync(path.join(src, "albums", "index.txt"));
      r = await restic(repo, ["backup", src]);
      assert.equal(r.code, 0, r.stderr);
      [s1, s2] = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).sort((a, b) => a.time.localeCompare(b.time)).map((s) => s.id);

      const flows = [
        { id: "snap-tab", type: "tab", label: "snapshots" },
        { id: "cfg-nas", type: "highball-profile-config", name: "nas", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } },
      ];
      // The restores here write into the tests' temp folders (in place, and into a new folder).
      const bound = { highball: { restoreRoots: [path.dirname(util.tmpDir("bound"))] } };
      const settings = auth ? { ...bound, adminAuth: { type: "credentials", users: [{ username: "admin", password: "admin-pass-1", permissions: "*" }] } } : bound;
      red = await startNodeRed({ major, flows, settings, userDir: userDirWithPlugin(major) });
      if (auth) token = await red.token("admin", "admin-pass-1");
      await util.waitFor(async () => {
        const res = await red.get("highball/profiles", { token });
        return res.status === 200 && res.json.some((p) => p.id === "cfg-nas");
      }, { timeout: 30000, what: "the profile in GET highball/profiles" });
      fs.mkdirSync(artifacts, { recursive: true });
      browser = await launchBrowser({ viewport: { width: 1500, height: 950 }, acceptDownloads: true });
      page = browser.pages()[0] || await browser.newPage();
      page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
      page.on("pageerror", (e) => errors.push(e.message));
      // Node-RED's own way in with a token: ?access_token= (the editor keeps it and uses it).
      await page.goto(token ? `${red.url}?access_token=${token}` : red.url);
      await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
      await page.waitForFunction(() => window.RED && RED.sidebar && RED.sidebar.containsTab && RED.sidebar.containsTab("highball-snapshots"), null, { timeout: 30000 });
    });
    after(async function () {
      if (browser) await browser.close().catch(() => undefined);
      if (red) await red.stop();
    });

    const shot = (name) => page.screenshot({ path: path.join(artifacts, `snapshots-${major}-${name}.png`) });
    // A real restore asks first (what goes where), then starts.
    const restoreNow = async () => {
      await page.locator(".highball-snap-restore-run").click();
      await page.locator(".highball-snap-confirm").waitFor({ state: "visible", timeout: 10000 });
      await page.locator(".highball-snap-confirm-ok").click();
    };
    const entry = (name) => page.locator(".highball-snap-entry").filter({ has: page.locator(".highball-snap-entry-name", { hasText: name }) });
    const download = async (click) => {
      const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), click()]);
      const file = await dl.path();
      assert.ok(file, `the download failed: ${await dl.failure()}`);
      return { name: dl.suggestedFilename(), bytes: fs.readFileSync(file) };
    };

    /**
     * Room to look at, as a user makes it: the sidebar dragged wider and, in 5.x, the tab's
     * section dragged taller than the debug tab below it.
     */
    async function drag(selector, dx, dy) {
      const handle = page.locator(selector).first();
      if (!(await handle.count()) || !(await handle.isVisible())) return;
      const box = await handle.boundingBox();
      const x = box.x + box.width / 2;
      const y = box.y + box.height / 2;
      await page.mouse.move(x, y);
      await page.mouse.down();
      await page.mouse.move(x + dx / 2, y + dy / 2, { steps: 5 });
      await page.mouse.move(x + dx, y + dy, { steps: 5 });
      await page.mouse.up();
    }

    it("opens the Snapshots tab and lists the profile's snapshots, newest first", async function () {
      if (major === 5) {
        await page.locator('button[data-tab-id="highball-snapshots"]').click();
      } else {
        await page.locator("#red-ui-sidebar .red-ui-tab-link-button-menu").click();
        await page.locator("#red-ui-tabs-menu-option-highball-snapshots").click();
      }
      await page.locator(".highball-snap-snapshot").nth(1).waitFor({ state: "visible", timeout: 30000 });
      if (major === 5) {
        await drag("#red-ui-sidebar-separator .red-ui-sidebar-separator-handle", -260, 0);
        await drag("#red-ui-sidebar > .red-ui-sidebar-section-separator .red-ui-sidebar-separator-handle", 0, 420);
      } else {
        await drag("#red-ui-sidebar-separator", -260, 0);
      }
      assert.equal(await page.locator(".highball-snap-profile").inputValue(), "cfg-nas");
      const rows = page.locator(".highball-snap-snapshot");
      assert.equal(await rows.count(), 2);
      assert.equal(await rows.nth(0).getAttribute("data-snap"), s2);
      assert.equal(await rows.nth(1).locator(".highball-snap-id").textContent(), s1.slice(0, 8));
      assert.match(await rows.nth(1).textContent(), /nightly/);
      assert.ok((await rows.nth(1).textContent()).includes(src));
      await shot("list");
    });

    it("browses a snapshot level by level and shows a file named like markup as text", async function () {
      await page.locator(`.highball-snap-snapshot[data-snap="${s1}"]`).click();
      await entry("albums").waitFor({ state: "visible", timeout: 20000 });
      assert.equal(await page.locator(".highball-snap-crumbs a").last().textContent(), "photos");
      const names = await page.locator(".highball-snap-entry .highball-snap-entry-name").allTextContents();
      assert.deepEqual(names, ["albums", XSS, "readme.txt"]);
      assert.equal(await page.locator(".highball-snap-browser img").count(), 0);
      assert.equal(await page.locator("img[src=x]").count(), 0, "the file name became an element");
      await entry("albums").click();
      await entry("2026").waitFor({ state: "visible", timeout: 20000 });
      assert.deepEqual(await page.locator(".highball-snap-entry .highball-snap-entry-name").allTextContents(), ["2026", "index.txt"]);
      await entry("2026").click();
      await entry("list.txt").waitFor({ state: "visible", timeout: 20000 });
      await page.locator(".highball-snap-crumbs a", { hasText: "photos" }).click();
      await entry("readme.txt").waitFor({ state: "visible", timeout: 20000 });
      await shot("browse");
    });

    it("views a text file, and views the markup-named one as text too", async function () {
      await entry("readme.txt").click();
      await page.waitForFunction(() => (document.querySelector(".highball-snap-viewer pre") || {}).textContent === "Holiday photos, version one.\n", null, { timeout: 20000 });
      assert.equal(await page.locator(".highball-snap-viewer-name").textContent(), `${src}/readme.txt`);
      await entry(XSS).click();
      await page.waitForFunction(() => (document.querySelector(".highball-snap-viewer pre") || {}).textContent === "a file named like markup\n", null, { timeout: 20000 });
      assert.equal(await page.locator(".highball-snap-viewer-name").textContent(), `${src}/${XSS}`);
      assert.equal(await page.locator("img[src=x]").count(), 0);
      await entry("readme.txt").click();
      await page.waitForFunction(() => (document.querySelector(".highball-snap-viewer pre") || {}).textContent.startsWith("Holiday"), null, { timeout: 20000 });
      await shot("viewer");
    });

    it("downloads a file, and a folder as a zip", async function () {
      const f = await download(() => entry("readme.txt").locator(".highball-snap-dl").click());
      assert.equal(f.name, "readme.txt");
      assert.equal(f.bytes.toString(), "Holiday photos, version one.\n");
      const x = await download(() => entry(XSS).locator(".highball-snap-dl").click());
      assert.equal(x.bytes.toString(), "a file named like markup\n");
      const z = await download(() => entry("albums").locator(".highball-snap-dl").click());
      assert.equal(z.name, "albums.zip");
      const names = zipNames(z.bytes).filter((n) => !n.endsWith("/"));
      assert.deepEqual(names.sort(), [`${src.slice(1)}/albums/2026/list.txt`, `${src.slice(1)}/albums/index.txt`]);
      const whole = await download(() => page.locator(".highball-snap-zip").click());
      assert.equal(whole.name, "photos.zip");
      assert.equal(zipNames(whole.bytes).filter((n) => !n.endsWith("/")).length, 4);
    });

    it("shows the server's refusal of a restore, a dry run, and a real restore into a folder", async function () {
      await entry("readme.txt").locator(".highball-snap-select").check();
      assert.match(await page.locator(".highball-snap-chosen").textContent(), /1 chosen: .*readme\.txt/);
      // In place, without overwrite: readme.txt exists there, so the restore is refused.
      await restoreNow();
      await page.locator(".highball-snap-refused").waitFor({ state: "visible", timeout: 20000 });
      assert.match(await page.locator(".highball-snap-refused").textContent(), /^Restore refused: 1 file exists already at the original place; tick overwrite/);
      assert.equal(fs.readFileSync(path.join(src, "readme.txt"), "utf8"), "Holiday photos, version two, with a longer text.\n");
      // A dry run says what would happen.
      await page.locator(".highball-snap-dryrun").click();
      await page.locator(".highball-snap-restore-summary").waitFor({ state: "visible", timeout: 20000 });
      assert.match(await page.locator(".highball-snap-restore-summary").textContent(), /^Dry run, nothing written: would restore 1 file and 0 folders .* to their original place\.\n1 of them exists already and would be replaced/);
      await shot("dry-run");
      // Into a folder that holds something: refused too.
      const busy = util.tmpDir("busy-target");
      fs.writeFileSync(path.join(busy, "mine.txt"), "mine\n");
      await page.locator(".highball-snap-target").fill(busy);
      await restoreNow();
      await page.waitForFunction(() => /target folder is not empty/.test((document.querySelector(".highball-snap-refused") || {}).textContent || ""), null, { timeout: 20000 });
      // Into a new folder: restored.
      const target = path.join(util.tmpDir("target"), "restored");
      await page.locator(".highball-snap-target").fill(target);
      await restoreNow();
      await page.waitForFunction(() => /^Restored 1 file and/.test((document.querySelector(".highball-snap-restore-summary") || {}).textContent || ""), null, { timeout: 30000 });
      assert.equal(fs.readFileSync(path.join(target, src, "readme.txt"), "utf8"), "Holiday photos, version one.\n");
      assert.deepEqual(fs.readdirSync(busy), ["mine.txt"]);
      await shot("restore");
    });

    it("compares two snapshots: changes with sizes, largest growth first", async function () {
      await page.locator(".highball-snap-back").click();
      await page.locator(".highball-snap-from").selectOption(s1);
      await page.locator(".highball-snap-to").selectOption(s2);
      await page.locator(".highball-snap-compare").click();
      await page.locator(".highball-snap-change").first().waitFor({ state: "visible", timeout: 30000 });
      const rows = page.locator(".highball-snap-change");
      assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-path"))), [
        `${src}/albums/2026/big.bin`, `${src}/readme.txt`, `${src}/albums/index.txt`,
      ]);
      assert.deepEqual(await rows.nth(0).locator("td").allTextContents(), ["+", `${src}/albums/2026/big.bin`, "", "49 KB", "+49 KB"]);
      assert.deepEqual(await rows.nth(1).locator("td").allTextContents(), ["M", `${src}/readme.txt`, "29 B", "49 B", "+20 B"]);
      assert.deepEqual(await rows.nth(2).locator("td").allTextContents(), ["−", `${src}/albums/index.txt`, "16 B", "", "−16 B"]);
      assert.match(await page.locator(".highball-snap-diff-summary").textContent(), /^1 added, 1 removed, 1 modified/);
      await shot("diff");
      assert.deepEqual(dialogs, [], "a dialog opened");
      assert.deepEqual(errors, [], "script errors in the editor");
    });
  });
}
