#!/usr/bin/env node
// `npm start`: a real Node-RED on 127.0.0.1:1880 with this package and demo flows that really
// back up (rsync local → local; restic into a local repository). Its user dir is .demo/ in the
// checkout (ignored by git). Node-RED 5 runs where Node is 22.9 or newer, else Node-RED 4.1.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const { spawn, spawnSync } = require("node:child_process");
const { prepare, root } = require("./lib/prepare");
const { listPackage } = require("./lib/demo-package");

const port = Number(process.env.PORT || 1880);
const userDir = path.join(root, ".demo");

function has(cmd) {
  return spawnSync("sh", ["-c", 'command -v "$1"', "sh", cmd], { stdio: "ignore" }).status === 0;
}

function ensureTools() {
  const missing = ["rsync", "restic"].filter((t) => !has(t));
  if (!missing.length) return;
  if (process.getuid && process.getuid() === 0) {
    const r = spawnSync("bash", [path.join(root, "scripts", "install-tools.sh")], { stdio: "inherit", env: { ...process.env, TOOLS: "rsync restic" } });
    if (r.status === 0) return;
  }
  console.error(`This demo needs ${missing.join(" and ")}: install ${missing.length > 1 ? "them" : "it"} (for example: sudo apt-get install ${missing.join(" ")}) and run npm start again.`);
  process.exit(1);
}

/** Some files worth backing up, made once. */
function demoData(dir) {
  if (fs.existsSync(dir)) return;
  fs.mkdirSync(path.join(dir, "albums", "summer"), { recursive: true });
  fs.mkdirSync(path.join(dir, "cache"), { recursive: true });
  for (let i = 1; i <= 40; i++) {
    fs.writeFileSync(path.join(dir, "albums", "summer", `img_${String(i).padStart(3, "0")}.jpg`), crypto.randomBytes(24 * 1024 + i * 512));
  }
  fs.writeFileSync(path.join(dir, "notes.txt"), "Highball demo data. Edit or add files, then run the job again.\n");
  fs.writeFileSync(path.join(dir, "cache", "thumbs.db"), crypto.randomBytes(4096));
}

/** A local restic repository for the demo, its password in a file of the user dir (mode 0600). */
function resticRepo(data) {
  const repo = path.join(data, "restic-repo");
  if (fs.existsSync(path.join(repo, "config"))) return;
  const pw = path.join(data, "restic-password");
  if (!fs.existsSync(pw)) fs.writeFileSync(pw, crypto.randomBytes(18).toString("base64"), { mode: 0o600 });
  const r = spawnSync("restic", ["init", "--repo", repo, "--password-file", pw, "--cache-dir", path.join(data, "restic-cache")], { stdio: "ignore" });
  if (r.status !== 0) console.error("restic init of the demo repository failed; the restic demo job will say why when it runs.");
}

function settingsFile(secret) {
  return `// Written by scripts/demo.js: the demo Node-RED's settings.
module.exports = {
  uiHost: "127.0.0.1",
  uiPort: ${port},
  flowFile: "flows.json",
  credentialSecret: ${JSON.stringify(secret)},
  editorTheme: { tours: false, projects: { enabled: false } },
  telemetry: { enabled: false },
  // The palette manager installs into this user dir (Manage palette, as the dashboard example says).
  externalModules: { autoInstall: false },
  diagnostics: { enabled: false },
  logging: { console: { level: "info", metrics: false, audit: false } },
};
`;
}

function main() {
  prepare();
  ensureTools();
  fs.mkdirSync(userDir, { recursive: true, mode: 0o700 });
  const secretFile = path.join(userDir, ".credential-secret");
  if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, crypto.randomBytes(24).toString("hex"), { mode: 0o600 });
  fs.writeFileSync(path.join(userDir, "settings.js"), settingsFile(fs.readFileSync(secretFile, "utf8").trim()));

  // Node-RED finds the package in the user dir's node_modules, as after `npm install`.
  const link = path.join(userDir, "node_modules", "@highball", "node-red-backup");
  fs.mkdirSync(path.dirname(link), { recursive: true });
  if (!fs.existsSync(link)) fs.symlinkSync(root, link, "dir");
  listPackage(userDir, root);

  const data = path.join(userDir, "data");
  demoData(path.join(data, "photos"));
  resticRepo(data);
  const flows = path.join(userDir, "flows.json");
  if (!fs.existsSync(flows)) {
    const { demoFlows } = require("./lib/demo-flows");
    fs.writeFileSync(flows, JSON.stringify(demoFlows(data), null, 2));
  }

  const [major, minor] = process.versions.node.split(".").map(Number);
  const red5 = major > 22 || (major === 22 && minor >= 9);
  const redJs = require.resolve(red5 ? "node-red-5/red.js" : "node-red/red.js", { paths: [root] });
  const version = require(path.join(path.dirname(redJs), "package.json")).version;
  console.log(`Starting Node-RED ${version} on http://127.0.0.1:${port}/ (user dir ${path.relative(process.cwd(), userDir) || "."}); Ctrl-C stops it.`);
  const child = spawn(process.execPath, [redJs, "--userDir", userDir, "--settings", path.join(userDir, "settings.js")], { stdio: "inherit", cwd: userDir });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
}

main();
