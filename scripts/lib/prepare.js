"use strict";
// Shared by `npm start` and `npm test`: a fresh clone installs its npm packages and builds
// before anything runs, so each README command works on its own.
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const root = path.resolve(__dirname, "../..");

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`${what} failed (exit ${r.status ?? r.signal}).`);
    process.exit(r.status || 1);
  }
}

function prepare() {
  if (!fs.existsSync(path.join(root, "node_modules", "node-red", "package.json"))) {
    console.log("Installing npm packages (npm ci) ...");
    run("npm", ["ci", "--no-audit", "--no-fund"], "npm ci");
  }
  run(process.execPath, [path.join(root, "scripts", "build.js")], "The build");
}

/**
 * On Debian and Ubuntu, the system tools the tests start (rsync, restic, sshd, mosquitto,
 * Chromium) come from the distribution's packages when missing: installed as root, otherwise
 * named with the command that installs them. Then the newer restic releases and restic's REST
 * server are fetched into the tool cache (.tools) once. Elsewhere the tests say what they miss.
 * False when the newer restic releases could not be fetched (the tests then say which are untested).
 */
function installTools() {
  if (!fs.existsSync("/usr/bin/dpkg-query")) return true;
  run("bash", [path.join(root, "scripts", "install-tools.sh")], "Installing the system tools");
  const r = spawnSync("bash", [path.join(root, "scripts", "newer-restic.sh")], { cwd: root, stdio: "inherit" });
  if (r.status === 0) return true;
  console.error("Could not fetch restic 0.18/0.19 and rest-server into .tools; run `bash scripts/newer-restic.sh` (it needs Debian's package servers; as root if apt-get refuses otherwise).");
  return false;
}

module.exports = { prepare, installTools, root, run };
