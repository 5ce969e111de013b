"use strict";
// "Import Highball / PRestic config…" in a real editor: headless Chromium against a real
// Node-RED 4.1 and 5.x. From the main menu (beside the editor's own Import), a PRestic
// config.ini is pasted and a Highball config.yaml uploaded; a bad file shows its line; Convert
// lists what to check; "Import into a new tab" adds the flow (RED.view.importNodes with fresh
// ids), which is deployed with the Deploy button and then backs up for real with restic and rsync.
// Screenshots go to test/artifacts/ (ignored by git).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { startNodeRed, root } = require("../support/node-red-process");
const { launchBrowser } = require("../support/browser");

const artifacts = path.join(root, "test", "artifacts");

after(async function () {
  await util.stopAll();
});



for (const major of [4, 5]) {
  describe(`importing a Highball or PRestic config in a real Node-RED ${major} editor`, function () {
    this.timeout(240000);
    let red, browser, page, repo, data;
    const errors = [];

    before(async function () {
      repo = await initResticRepo();
      data = util.tmpDir("import-data");
      const userDir = util.tmpDir(`node-red-${major}`);
      red = await startNodeRed({ major, flows: [], userDir, settings: { highball: { dir: path.join(userDir, "highball") } } });
      fs.mkdirSync(artifacts, { recursive: true });
      browser = await launchBrowser();
      page = browser.pages()[0] || await browser.newPage();
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("dialog", (d) => { errors.push(`dialog: ${d.message()}`); void d.dismiss(); });
      await page.goto(red.url);
      await page.waitForSelector("#red-ui-workspace-chart", { timeout: 60000 });
      await page.waitForFunction(() => document.getElementById("menu-item-highball-import") !== null, null, { timeout: 30000 });
    });
    after(async function () {
      if (browser) await browser.close().catch(() => undefined);
      if (red) await red.stop();
    });

    const shot = (name) => page.screenshot({ path: path.join(artifacts, `import-${major}-${name}.png`) });
    const openDialog = async () => {
      if (await page.locator("#highball-import-text").isVisible()) return;
      await page.locator("#red-ui-header-button-sidemenu").click();
      await page.locator("#menu-item-highball-import").click();
      await page.locator("#highball-import-text").waitFor({ state: "visible" });
    };
    const convert = async () => {
      await page.locator("#highball-import-convert").click();
      await page.waitForFunction(() => $(".highball-imp-error:visible").length || $(".highball-imp-result:visible").length);
    };
    const editorFlow = () => page.evaluate(() => RED.nodes.createCompleteNodeSet({ credentials: false }));
    const deploy = async () => {
      await page.locator("#red-ui-header-button-deploy").click();
      const confirm = page.locator("#red-ui-deploy-dialog-confirm-deploy-deploy");
      const warned = await Promise.race([
        confirm.waitFor({ state: "visible", timeout: 15000 }).then(() => true),
        page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 15000 }).then(() => false),
      ]);
      assert.equal(warned, false, `the deploy asked to confirm: ${warned && await page.locator(".red-ui-deploy-dialog-confirm-list").textContent()}`);
    };
    const jobNamed = async (name) => util.waitFor(async () => {
      const r = await red.get("highball/jobs");
      return r.status === 200 && r.json.find((j) => j.name === name);
    }, { timeout: 30000, what: `job "${name}" deployed` });
    const runNow = async (name) => {
      const job = await jobNamed(name);
      const r = await red.post(`highball/jobs/${job.id}/run`, {});
      assert.equal(r.status, 202, r.text);
      try {
        return await util.waitFor(async () => {
          const j = (await red.get("highball/jobs")).json.find((x) => x.id === job.id);
          return j && !j.running && j.last ? j.last : null;
        }, { timeout: 60000, what: `a result of job "${name}"` });
      } catch (err) {
        err.message += `\njobs: ${(await red.get("highball/jobs")).text}\n--- Node-RED log ---\n${red.log()}`;
        throw err;
      }
    };

    it("puts its item right after the editor's own Import in the main menu", async function () {
      await page.locator("#red-ui-header-button-sidemenu").click();
      const order = await page.evaluate(() => $("#menu-item-import").parent("li").next("li").find("a").attr("id"));
      assert.equal(order, "menu-item-highball-import");
      assert.equal((await page.locator("#menu-item-highball-import").textContent()).trim(), "Import Highball / PRestic config…");
      await page.keyboard.press("Escape");
      await page.mouse.click(700, 500);
    });

    it("shows a file it cannot read with the line, and nothing to import", async function () {
      await openDialog();
      await page.fill("#highball-import-text", "[nas]\nrepository = /srv/restic\nrepository = /srv/other\n");
      await convert();
      const error = await page.locator(".highball-imp-error").textContent();
      assert.match(error, /^PRestic's config\.ini could not be read: line 3: option "repository" appears twice in \[nas\]$/);
      assert.ok(await page.locator("#highball-import-apply").evaluate((b) => b.classList.contains("disabled")));
      await shot("error");
    });

    it("converts a pasted PRestic config.ini, lists what to check, and imports it into a new tab", async function () {
      const src = path.join(data, "documents");
      util.makeTree(src, { files: 14, size: 2000, subdirs: 2, seed: 11 });
      const ini = [
        "[base]",
        `cache-dir = ${repo.cacheDir}`,
        "prune-logs-after = 14",
        "log-level = debug",
        "",
        "[usb]",
        "inherit = base",
        `repository = ${repo.repository}`,
        `password-file = ${repo.passwordFile}`,
        "",
        "[offsite]",
        "inherit = base",
        "repository = b2:bucket:restic",
        "password = correct horse battery staple",
        "",
        "[documents]",
        "inherit = usb",
        "schedule = daily at 02:00",
        "command = backup",
        `args = ${src} --exclude-caches`,
        "flag.tag = from-editor",
        "",
      ].join("\n");
      await openDialog(); // still open after the bad file
      await page.fill("#highball-import-text", ini);
      await page.fill("#highball-import-tab", "Restic from PRestic");
      await convert();
      assert.equal(await page.locator(".highball-imp-error").isVisible(), false);
      assert.equal(await page.locator(".highball-imp-summary").textContent(), "Ready to import: 1 backup job, 4 restic profiles, 1 schedule.");
      const warnings = await page.locator(".highball-imp-warnings li").allTextContents();
      assert.ok(warnings.includes(`unknown key "log-level" in profile "base" was not imported`), warnings.join("\n"));
      assert.ok(warnings.some((w) => w.startsWith(`profile "offsite" has a plain password; it was not imported`)));
      await shot("converted");

      await page.locator("#highball-import-apply").click();
      await page.waitForFunction(() => $(".red-ui-tray").length === 0 && RED.nodes.filterNodes({ type: "highball-backup-job" }).length === 1);
      const tab = await page.evaluate(() => { const ws = RED.nodes.workspace(RED.workspaces.active()); return { label: ws.label, info: ws.info }; });
      assert.equal(tab.label, "Restic from PRestic", "the new tab is shown");
      assert.match(tab.info, /### To check after the import/);
      assert.match(tab.info, /profile "offsite" has a plain password/);
      const flow = await editorFlow();
      assert.ok(!JSON.stringify(flow).includes("correct horse battery staple"));
      const job = flow.find((n) => n.type === "highball-backup-job");
      const trigger = flow.find((n) => n.type === "highball-schedule-trigger");
      assert.deepEqual(trigger.wires[0], [job.id], "wired with the editor's fresh ids");
      assert.equal(flow.find((n) => n.id === job.wires[0][0]).type, "highball-restic-run");
      assert.equal(flow.filter((n) => n.type === "highball-profile-config").length, 4);
      await shot("imported");

      await deploy();
      const last = await runNow("documents");
      assert.equal(last.status, "success", last.error);
      const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
      assert.equal(snaps.length, 1);
      assert.deepEqual(snaps[0].tags, ["from-editor"]);
      assert.deepEqual(snaps[0].paths, [src]);
    });

    it("importing the same file again keeps the profiles already there (names are unique), and adds another tab", async function () {
      const tabs = (await editorFlow()).filter((n) => n.type === "tab").length;
      await openDialog();
      assert.equal(await page.locator("#highball-import-text").inputValue(), "", "a fresh dialog");
      const ini = `[usb]\nrepository = ${repo.repository}\npassword-file = ${repo.passwordFile}\n\n[again]\ninherit = usb\ncommand = snapshots\n`;
      await page.fill("#highball-import-text", ini);
      await convert();
      const warnings = await page.locator(".highball-imp-warnings li").allTextContents();
      assert.ok(warnings.some((w) => w.startsWith(`profile "usb" already exists in this workspace`)), warnings.join("\n"));
      await page.locator("#highball-import-apply").click();
      await page.waitForFunction(() => $(".red-ui-tray").length === 0 && RED.nodes.filterNodes({ type: "highball-backup-job" }).length === 2);
      const flow = await editorFlow();
      const names = flow.filter((n) => n.type === "highball-profile-config").map((n) => n.name).sort();
      assert.deepEqual(names, ["again", "base", "documents", "offsite", "usb"]);
      assert.equal(flow.filter((n) => n.type === "tab").length, tabs + 1);
      await deploy();
      const last = await runNow("again");
      assert.equal(last.status, "success", last.error);
    });

    it("converts an uploaded Highball config.yaml (the type follows the file name) and the imported rsync job copies the files", async function () {
      const src = path.join(data, "photos");
      const dest = path.join(data, "backups", "photos");
      util.makeTree(src, { files: 9, size: 3000, subdirs: 1, seed: 12 });
      fs.writeFileSync(path.join(src, "x.tmp"), "excluded\n");
      const yaml = `global_settings:
  scheduler_timezone: Europe/Berlin
  notification:
    telegram:
      enabled: true
      token: "123456:AAFakeTelegramTokenValue"
      chat_id: "-100123"
backup_jobs:
  photos:
    source_type: local
    source_config:
      source_paths:
        - path: ${src}/
          excludes: ["*.tmp"]
    dest_type: local
    dest_config:
      path: ${dest}
    schedule: daily
    respect_conflicts: true
deleted_jobs:
  retro:
    deleted_at: "2025-08-10T02:17:02"
    source: /srv/retro
    dest_type: local
    dest_config:
      path: /mnt/retro
`;
      await openDialog();
      await page.setInputFiles("#highball-import-file", { name: "config.yaml", mimeType: "application/yaml", buffer: Buffer.from(yaml) });
      await page.waitForFunction(() => $("#highball-import-text").val().length > 0);
      assert.equal(await page.locator("input[name=highball-import-format][value=highball]").isChecked(), true);
      await convert();
      assert.equal(await page.locator(".highball-imp-error").isVisible(), false, await page.locator(".highball-imp-error").textContent());
      const warnings = await page.locator(".highball-imp-warnings li").allTextContents();
      assert.ok(warnings.includes("the Telegram bot token was not imported; enter it in the notify node (a credential, never in the flow)"), warnings.join("\n"));
      assert.ok(warnings.some((w) => w.startsWith(`deleted job "retro" (deleted 2025-08-10T02:17:02) is not placed in the flow`)));
      await shot("highball");
      await page.locator("#highball-import-apply").click();
      await page.waitForFunction(() => $(".red-ui-tray").length === 0 && RED.nodes.filterNodes({ type: "highball-rsync-run" }).length === 1);
      const flow = await editorFlow();
      assert.ok(!JSON.stringify(flow).includes("AAFakeTelegramTokenValue"));
      assert.equal(flow.filter((n) => n.type === "highball-conflict-gate").length, 1);
      assert.equal(await page.evaluate(() => RED.nodes.workspace(RED.workspaces.active()).label), "Highball jobs");
      await deploy();
      const last = await runNow("photos");
      assert.equal(last.status, "success", last.error);
      assert.deepEqual(util.readTree(dest), util.readTree(src).filter((e) => e.path !== "x.tmp"));
      assert.deepEqual(errors, []);
    });
  });
}
