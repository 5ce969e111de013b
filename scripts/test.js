#!/usr/bin/env node
// The test command. Engine and fixture tests run once; node tests (through
// node-red-node-test-helper) run once per supported Node-RED major, so both 4.x and 5.x are proven.
// Mocha's own summary is printed per run; the last line sums them up as "N passed, N failed".
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const { prepare, installTools, root } = require("./lib/prepare");
prepare();
installTools();
const mocha = require.resolve("mocha/bin/mocha.js");
const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith("-"));

const suites = [
  { name: "engine", globs: ["test/lib/**/*.test.js", "test/fixtures/**/*.test.js", "test/package/**/*.test.js"], env: { NODE_RED_MAJOR: "4" } },
  { name: "nodes on Node-RED 4", globs: ["test/nodes/**/*.test.js"], env: { NODE_RED_MAJOR: "4" } },
  { name: "nodes on Node-RED 5", globs: ["test/nodes/**/*.test.js"], env: { NODE_RED_MAJOR: "5" } },
  { name: "system", globs: ["test/system/**/*.test.js"], env: { NODE_RED_MAJOR: "4" } },
];

let passed = 0, failed = 0, pending = 0, status = 0;
for (const suite of suites) {
  const files = only.length ? only : suite.globs;
  if (only.length && suite.name === "nodes on Node-RED 5" && !only.some((f) => f.includes("test/nodes"))) continue;
  if (only.length && suite !== suites[0] && !only.some((f) => suite.globs.some((g) => f.startsWith(g.split("/**")[0])))) continue;
  const summary = path.join(os.tmpdir(), `highball-mocha-${process.pid}-${suite.name.replace(/\W+/g, "-")}.json`);
  fs.rmSync(summary, { force: true });
  console.log(`\n=== ${suite.name} ===`);
  const r = spawnSync(process.execPath, [mocha, "--config", path.join(root, ".mocharc.js"), ...files],
    { cwd: root, stdio: "inherit", env: { ...process.env, ...suite.env, HIGHBALL_MOCHA_SUMMARY: summary } });
  if (fs.existsSync(summary)) {
    const s = JSON.parse(fs.readFileSync(summary, "utf8"));
    passed += s.passes; failed += s.failures; pending += s.pending;
    fs.rmSync(summary, { force: true });
  } else if (r.status !== 0) {
    failed += 1; // mocha died before reporting: count it as a failure, never as silence
  }
  if (r.status !== 0) status = 1;
  if (only.length) break;
}
console.log(`\n${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ""}`);
process.exit(status);
