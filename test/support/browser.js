"use strict";
// Headless Chromium (Debian's chromium, driven by playwright-core) for the editor tests and
// scripts/screenshots.js: a profile in a tracked temp dir, removed afterwards, and the
// browser's PID stopped by the fixtures' stopAll even if the test dies.
const fs = require("node:fs");
const util = require("../fixtures/util");

const CHROMIUM = "/usr/bin/chromium";

async function launchBrowser({ viewport = { width: 1400, height: 900 }, acceptDownloads = false } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install chromium (scripts/install-tools.sh)`);
  const { chromium } = require("playwright-core");
  const profile = util.tmpDir("chromium-profile");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads,
    viewport,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // The browser's own process is the one whose parent is not a chromium of this profile.
  const mine = util.processesMatching((p) => p.cmdline.some((a) => a === `--user-data-dir=${profile}`));
  const pids = new Set(mine.map((p) => p.pid));
  for (const p of mine) if (!pids.has(p.ppid)) util.track(p.pid, "chromium");
  return context;
}

module.exports = { launchBrowser, CHROMIUM };
