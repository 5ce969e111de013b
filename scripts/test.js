#!/usr/bin/env node
// The test command. Engine and fixture tests run once; node tests (through
// node-red-node-test-helper) run once per supported Node-RED major, so both 4.x and 5.x are proven.
// All of it runs with the machine's restic (Debian 12: 0.14); then every test file that starts
// restic (its text names restic) runs again with each newer restic from the tool cache (0.18,
// 0.19: scripts/newer-restic.sh), that version first on PATH. Mocha's own summary is printed per
// run; the last lines give each restic pass's time and sum everything up as "N passed, N failed".
//   node scripts/test.js [files...] [--restic=all|0.18,0.19]
// With files, they run once with the machine's restic unless --restic (or HIGHBALL_RESTIC) names
// versions; without files, the whole suite runs on every restic version (--restic=0.18,0.19: the
// files that start restic, on those versions only).
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const { prepare, installTools, root } = require("./lib/prepare");
const { resticVersions } = require("./lib/restic-versions");
prepare();
const toolsOk = installTools();
const mocha = require.resolve("mocha/bin/mocha.js");
const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith("-"));
const resticArg = (args.find((a) => a.startsWith("--restic=")) || "").slice("--restic=".length) || process.env.HIGHBALL_RESTIC || (only.length ? "" : "all");

const suites = [
  { name: "engine", dirs: ["test/lib", "test/fixtures", "test/package"], env: { NODE_RED_MAJOR: "4" } },
  { name: "nodes on Node-RED 4", dirs: ["test/nodes"], env: { NODE_RED_MAJOR: "4" } },
  { name: "nodes on Node-RED 5", dirs: ["test/nodes"], env: { NODE_RED_MAJOR: "5" } },
  { name: "system", dirs: ["test/system"], env: { NODE_RED_MAJOR: "4" } },
];

function testFiles(dir) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true }).filter((f) => f.endsWith(".test.js")).sort().map((f) => path.join(dir, f));
}
const startsRestic = (file) => /\brestic\b/.test(fs.readFileSync(path.join(root, file), "utf8"));
const inSuite = (suite, file) => suite.dirs.some((d) => path.normalize(file).startsWith(d + path.sep));

// The passes: the machine's restic runs everything, each newer one the files that start restic.
const versions = resticVersions();
const missing = [];
const filesFor = (v) => (suite) => (only.length ? only.filter((f) => inSuite(suite, f)) : suite.dirs.flatMap(testFiles)).filter((f) => v.dir === null || startsRestic(f));
let chosen;
if (resticArg === "all") {
  chosen = versions;
  if (!only.length && versions.length < 3) missing.push(`only ${versions.map((v) => v.version).join(", ") || "no restic"} found: restic 0.14, 0.18 and 0.19 must all be tested (run: bash scripts/newer-restic.sh)`);
} else {
  const wanted = resticArg ? resticArg.split(",") : [];
  const match = (v, w) => v.version === w || v.version.startsWith(`${w}.`);
  chosen = wanted.length ? versions.filter((v) => wanted.some((w) => match(v, w))) : versions.slice(0, 1);
  for (const w of wanted) if (!versions.some((v) => match(v, w))) missing.push(`restic ${w} is not available (have ${versions.map((v) => v.version).join(", ")}; run: bash scripts/newer-restic.sh)`);
}
const passes = chosen.map((v) => ({ restic: v, files: filesFor(v) }));
if (!versions.length) missing.push("restic is not installed");
if (only.length) {
  const stray = only.filter((f) => !suites.some((s) => inSuite(s, f)));
  if (stray.length) { console.error(`not a test file of test/lib, test/fixtures, test/package, test/nodes or test/system: ${stray.join(", ")}`); process.exit(2); }
}

let passed = 0, failed = 0, pending = 0, status = 0;
const timings = [], failures = [];
for (const pass of passes) {
  const v = pass.restic;
  const started = Date.now();
  let ran = false;
  for (const suite of suites) {
    const files = pass.files(suite);
    if (!files.length) continue;
    ran = true;
    const summary = path.join(os.tmpdir(), `highball-mocha-${process.pid}-${v.version}-${suite.name.replace(/\W+/g, "-")}.json`);
    fs.rmSync(summary, { force: true });
    console.log(`\n=== restic ${v.version} (${v.exe}): ${suite.name} (${files.length} file${files.length === 1 ? "" : "s"}) ===`);
    const r = spawnSync(process.execPath, [mocha, "--config", path.join(root, ".mocharc.js"), ...files],
      { cwd: root, stdio: "inherit", env: { ...v.env(), ...suite.env, HIGHBALL_MOCHA_SUMMARY: summary } });
    if (fs.existsSync(summary)) {
      const s = JSON.parse(fs.readFileSync(summary, "utf8"));
      passed += s.passes; failed += s.failures; pending += s.pending;
      for (const f of s.failed || []) failures.push(`restic ${v.version}, ${suite.name}: ${f}`);
      fs.rmSync(summary, { force: true });
    } else if (r.status !== 0) {
      failed += 1; // mocha died before reporting: count it as a failure, never as silence
      failures.push(`restic ${v.version}, ${suite.name}: mocha ended (${r.status ?? r.signal}) before reporting`);
    }
    if (r.status !== 0) status = 1;
  }
  if (ran) timings.push(`restic ${v.version}: ${((Date.now() - started) / 60000).toFixed(1)} min`);
}
if (!toolsOk) missing.push("the system tools could not all be installed (see above)");
for (const m of missing) { console.error(`\nNOT TESTED: ${m}`); failed += 1; status = 1; }
if (failures.length) console.log(`\nFailed:\n${failures.map((f) => `  - ${f}`).join("\n")}`);
if (timings.length) console.log(`\n${timings.join(" · ")}`);
console.log(`\n${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ""}`);
process.exit(status);
