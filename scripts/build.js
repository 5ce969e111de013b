#!/usr/bin/env node
// One build: strict tsc to CommonJS in dist/, then each node's editor files beside its .js,
// because Node-RED looks for <name>.html, locales/ and icons/ next to the node's module.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const root = path.resolve(__dirname, "..");
const dist = path.join(root, "dist");
// dist/ is not wiped: tsc rewrites what changed, and a parallel test run keeps its files.

const tsc = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", root], { stdio: "inherit" });
// Editor files are copied even when tsc reports errors, so one broken file does not hide the rest.

function copy(from, to) {
  if (!fs.existsSync(from)) return;
  fs.cpSync(from, to, { recursive: true, filter: (src) => !src.endsWith(".ts") });
}

for (const group of ["nodes", "plugins"]) {
  const dir = path.join(root, group);
  if (!fs.existsSync(dir)) continue;
  for (const name of fs.readdirSync(dir)) {
    const src = path.join(dir, name);
    if (!fs.statSync(src).isDirectory() || name === "shared") continue;
    const out = path.join(dist, group, name);
    fs.mkdirSync(out, { recursive: true });
    for (const f of fs.readdirSync(src)) {
      if (f.endsWith(".html")) fs.copyFileSync(path.join(src, f), path.join(out, f));
    }
    copy(path.join(src, "locales"), path.join(out, "locales"));
    // Shared icons live once in icons/; every node directory gets them.
    copy(path.join(root, "icons"), path.join(out, "icons"));
  }
}
console.log(tsc.status === 0 ? "build: dist/ ready" : "build: dist/ written, but tsc reported errors");
process.exit(tsc.status ?? 1);
