"use strict";
// The restic releases this checkout can test and bench with: the machine's own restic (Debian
// 12: 0.14) and the newer ones scripts/newer-restic.sh keeps in the tool cache (.tools by
// default; HIGHBALL_TOOLS names another). A version is chosen by putting its folder first on
// PATH, so the product, the fixtures and every child process (Node-RED, restic's own helpers)
// all start that one as plain "restic".
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const root = path.resolve(__dirname, "../..");
const toolsDir = () => process.env.HIGHBALL_TOOLS || path.join(root, ".tools");
/** Cache folders newer-restic.sh fills, oldest release first. */
const CACHED = ["restic-trixie", "restic-sid"];

function versionOf(exe) {
  const r = spawnSync(exe, ["version"], { encoding: "utf8", timeout: 20000 });
  const m = /restic (\d+)\.(\d+)\.(\d+)/.exec(r.stdout || "");
  return r.status === 0 && m ? { version: `${m[1]}.${m[2]}.${m[3]}`, minor: Number(m[2]), major: Number(m[1]) } : null;
}

/** "restic" as PATH finds it now, or null. */
function systemRestic(env = process.env) {
  for (const dir of (env.PATH || "").split(path.delimiter)) {
    if (!dir || path.resolve(dir).startsWith(toolsDir())) continue;
    const exe = path.join(dir, "restic");
    try { fs.accessSync(exe, fs.constants.X_OK); } catch { continue; }
    return exe;
  }
  return null;
}

/**
 * Every restic available, oldest first: {version, exe, dir (null: the system's, as PATH has it),
 * env(base) → an environment with this restic first on PATH}.
 */
function resticVersions() {
  const out = [];
  const sys = systemRestic();
  const add = (exe, dir) => {
    const v = exe && versionOf(exe);
    if (!v || out.some((o) => o.version === v.version)) return;
    out.push({
      ...v, exe, dir,
      env: (base = process.env) => (dir ? { ...base, PATH: `${dir}${path.delimiter}${base.PATH || ""}` } : { ...base }),
    });
  };
  add(sys, null);
  for (const name of CACHED) add(path.join(toolsDir(), name, "restic"), path.join(toolsDir(), name));
  out.sort((a, b) => a.major - b.major || a.minor - b.minor || a.version.localeCompare(b.version, undefined, { numeric: true }));
  return out;
}

/** The newest restic available (the benches default to it). */
function newestRestic() {
  const all = resticVersions();
  return all[all.length - 1] || null;
}

/** restic's REST server from the tool cache, or null. */
function restServer() {
  const exe = path.join(toolsDir(), "rest-server", "rest-server");
  try { fs.accessSync(exe, fs.constants.X_OK); return exe; } catch { return null; }
}

/**
 * For the benches: the restic to measure, put first on this process's PATH (children inherit
 * it). The newest available by default (what users run); `--restic VERSION` (say 0.14) or
 * HIGHBALL_BENCH_RESTIC picks another. Prints which one, and returns it.
 */
function benchRestic(argv = process.argv) {
  const i = argv.indexOf("--restic");
  const want = (i >= 0 ? argv[i + 1] : undefined) || process.env.HIGHBALL_BENCH_RESTIC || "";
  const all = resticVersions();
  const chosen = want ? all.find((v) => v.version === want || v.version.startsWith(`${want}.`)) : all[all.length - 1];
  if (!chosen) throw new Error(want ? `restic ${want} is not available (have ${all.map((v) => v.version).join(", ") || "none"}; run: bash scripts/newer-restic.sh)` : "restic is not installed");
  if (chosen.dir) process.env.PATH = `${chosen.dir}${path.delimiter}${process.env.PATH || ""}`;
  console.log(`restic under test: ${chosen.version} (${chosen.exe}${want ? "" : "; the newest available, --restic VERSION picks another"})`);
  return chosen;
}

module.exports = { resticVersions, newestRestic, restServer, toolsDir, versionOf, benchRestic };
