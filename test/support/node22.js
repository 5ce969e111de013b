"use strict";
// A Node.js binary new enough for Node-RED 5 (which refuses to start on Node < 22.9).
// This Node when it qualifies; otherwise npm's registry-shipped binary (node-linux-<arch>@22),
// installed once under node_modules/.cache/node22, so CI needs nothing beyond `npm ci`.
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const root = path.resolve(__dirname, "../..");
const prefix = path.join(root, "node_modules", ".cache", "node22");

function atLeast(version, major, minor) {
  const [a, b] = String(version).replace(/^v/, "").split(".").map(Number);
  return a > major || (a === major && b >= minor);
}

function versionOf(bin) {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 20000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Path of a Node binary ≥ 22.9: process.execPath when it is one, else the cached npm package's. */
function node22() {
  if (atLeast(process.versions.node, 22, 9)) return process.execPath;
  const pkg = `node-linux-${process.arch}`;
  const bin = path.join(prefix, "node_modules", pkg, "bin", "node");
  const ok = () => { const v = fs.existsSync(bin) && versionOf(bin); return v && atLeast(v, 22, 9) ? bin : null; };
  if (ok()) return bin;

  // Two test processes may get here at once: one installs, the other waits for it.
  fs.mkdirSync(prefix, { recursive: true });
  const lock = path.join(prefix, ".installing");
  const deadline = Date.now() + 10 * 60 * 1000;
  for (;;) {
    try { fs.mkdirSync(lock); break; } catch (err) {
      if (err.code !== "EEXIST") throw err;
      // A lock left by a killed installer is stale after 10 minutes.
      try { if (Date.now() - fs.statSync(lock).mtimeMs > 10 * 60 * 1000) fs.rmdirSync(lock); } catch { /* gone */ }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another process to install ${pkg}@22`);
      sleepSync(500);
      if (ok()) return bin;
    }
  }
  try {
    if (ok()) return bin;
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const r = spawnSync(npm, ["install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "--prefix", prefix, `${pkg}@22`],
      { cwd: prefix, encoding: "utf8", timeout: 10 * 60 * 1000 });
    if (r.status !== 0) throw new Error(`npm install ${pkg}@22 failed (exit ${r.status ?? r.signal}): ${(r.stderr || "").slice(-2000)}`);
    const found = ok();
    if (!found) throw new Error(`${pkg}@22 installed, but ${bin} is not a Node ≥ 22.9`);
    return found;
  } finally {
    try { fs.rmdirSync(lock); } catch { /* already gone */ }
  }
}

module.exports = { node22, atLeast };

if (require.main === module) console.log(node22());
