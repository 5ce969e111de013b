#!/usr/bin/env node
"use strict";
// The snapshot browser and the log reader against their raw tools. Prints, in one run:
//   1. listing one folder (1,000 entries) of a 200,000-file snapshot, cold (nothing cached):
//      the browser / raw `restic ls` of that folder (same argv and environment), medians of
//      paired alternating runs, through the library and through the HTTP route;
//   2. the same folder warm (from the browser's cache), library and HTTP route;
//   3. the last 100 and 1,000 lines of a 1 GiB log (lib/runs/logread.ts tailLines);
//   4. this process's RSS while browsing --browse folders of the snapshot (cold, four restic
//      processes at a time, then warm from the cache), with the cache's size at the end.
// Targets: cold ≤ 1.1 × raw restic, warm ≤ 20 ms, log tail ≤ 50 ms.
//
//   5. the snapshot index (bench/browse/index.js): indexing / raw `restic ls --json SNAP` with
//      RSS growth and event-loop p99, one folder cold from the index in a fresh process / raw
//      `restic ls SNAP DIR`, a diff of two indexed snapshots / without indexes, a file view's
//      first byte / raw `restic dump`, the index's size per million files.
// Targets: index ≤ 1.5 × raw, ≤ 50 MB, p99 ≤ 50 ms; cold from the index ≤ 0.05 × raw; view ≤ 1.1.
//
//   node bench/browse/run.js [--files 200000] [--per-dir 1000] [--repeat 7] [--browse 100] [--big-mb 100] [--quick] [--keep] [--restic 0.14]
//   node bench/browse/run.js --files 1000000 --only-index     # the index's figures alone
//
// The tree, the repository and the log go to /dev/shm (tmpfs) and are removed at the end
// (--keep leaves them and prints where). Uses the built package: run `npm run build` first.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const http = require("node:http");
const { spawn, spawnSync } = require("node:child_process");
const { performance } = require("node:perf_hooks");

const ROOT = path.resolve(__dirname, "..", "..");
// The newest restic available (the project's cached 0.19 when present), first on PATH for both sides.
require(path.join(ROOT, "scripts", "lib", "restic-versions")).benchRestic();
const dist = (p) => require(path.join(ROOT, "dist", p));
const { SnapshotBrowser } = dist("lib/snapshots");
const { resolveProfile, profileToRestic } = dist("lib/profile");
const { tailLines } = dist("lib/runs/logread");
const { Engine } = dist("lib/runs/engine");
const { mountSnapshotRoutes, snapshotBrowser } = dist("lib/http/snapshot-routes");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith("--") ? true : v;
}
const QUICK = arg("quick", false) === true;
const FILES = Number(arg("files", QUICK ? 20000 : 200000));
const PER_DIR = Number(arg("per-dir", 1000));
const REPEAT = Number(arg("repeat", QUICK ? 3 : 7));
const KEEP = arg("keep", false) === true;
const BROWSE = Number(arg("browse", QUICK ? 20 : 100));
const LOG_BYTES = QUICK ? 64 * 1024 * 1024 : 1024 * 1024 * 1024;
/** Only the snapshot index's figures (section 5): for the million-file run. */
const ONLY_INDEX = arg("only-index", false) === true;
const BIG_MB = Number(arg("big-mb", QUICK ? 8 : 100));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => `${x.toFixed(1)} ms`;
const MB = 1024 * 1024;

const base = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "highball-bench-browse-"));
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  if (KEEP) console.log(`kept: ${base}`);
  else fs.rmSync(base, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { cleanup(); process.exit(130); });

function resticSync(env, args) {
  const r = spawnSync("restic", args, { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 64 * MB });
  if (r.status !== 0) throw new Error(`restic ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
}

/** The plan's process, run raw: stdout drained and discarded, as fast as restic can write it. */
function raw(plan) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(plan.command, plan.args, { env: { ...process.env, ...plan.env }, stdio: ["ignore", "pipe", "ignore"] });
    child.stdout.resume();
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`raw restic exited ${code}`))));
  });
}

function get(port, url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get({ host: "127.0.0.1", port, path: url, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode} ${body}`));
        else resolve({ ms: performance.now() - t0, json: JSON.parse(body) });
      });
    }).once("error", reject);
  });
}

async function main() {
  console.log(`# snapshot browser bench: ${FILES} files (${PER_DIR} per folder), ${REPEAT} paired runs, data in ${base}`);
  console.log(`restic ${resticSync({}, ["version"]).split(" ")[1]}, node ${process.version}, ${os.cpus().length} CPUs`);

  // ---- the tree and its snapshot
  let t = performance.now();
  const tree = path.join(base, "tree");
  const dirs = Math.ceil(FILES / PER_DIR);
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(tree, `d${String(d).padStart(4, "0")}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < PER_DIR && d * PER_DIR + f < FILES; f++) fs.writeFileSync(path.join(dir, `f${String(f).padStart(5, "0")}.txt`), `${d}/${f}\n`);
  }
  console.log(`tree: ${FILES} files in ${dirs} folders, ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const passwordFile = path.join(base, "password");
  fs.writeFileSync(passwordFile, "bench-password\n", { mode: 0o600 });
  const repository = path.join(base, "repo");
  const cacheDir = path.join(base, "cache");
  const env = { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: cacheDir };
  resticSync(env, ["init"]);
  t = performance.now();
  resticSync(env, ["backup", "-q", tree]);
  console.log(`restic backup: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const snap = JSON.parse(resticSync(env, ["snapshots", "--json"]))[0].id;
  const profile = resolveProfile("bench", new Map([["bench", { options: { repository, "password-file": passwordFile, "cache-dir": cacheDir } }]]));
  const dirOf = (d) => `${tree}/d${String(d).padStart(4, "0")}`;
  const target = dirOf(Math.floor(dirs / 2));
  const plan = profileToRestic(profile, "ls", ["--json", "--", snap, target]);
  await raw(plan); // restic's own cache (index, trees) warm for both sides alike
  const rows = [];
  const row = (a, b, c, ok) => { rows.push([a, b, c, ok]); console.log(`  ${a}: ${b} (target ${c}) ${ok ? "ok" : "MISSED"}`); };
  const ctx = { ROOT, base, env, snap, tree, profile, target, plan, raw, row, repeat: REPEAT, perDir: PER_DIR, files: FILES, resticSync, bigMB: BIG_MB };
  if (ONLY_INDEX) {
    await require("./index").indexFigures(ctx);
    table(rows);
    return;
  }

  // ---- the HTTP route, in a plain express app with Node-RED's admin route shape
  const express = require(require.resolve("express", { paths: [path.dirname(require.resolve("node-red/package.json", { paths: [ROOT] }))] }));
  const home = path.join(base, "home");
  const engine = Engine.get(home);
  engine.profiles.set("cfg-bench", { name: "bench", def: { options: { repository, "password-file": passwordFile, "cache-dir": cacheDir } } });
  const app = express();
  mountSnapshotRoutes({ httpAdmin: app, auth: { needsPermission: () => (_q, _s, next) => next() }, settings: { highball: { dir: home } } });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const port = server.address().port;
  const lsUrl = `/highball/profiles/cfg-bench/snapshots/${snap}/ls?path=${encodeURIComponent(target)}`;

  const indexes = dist("lib/snapshots/index-store").SnapshotIndexes.at(home);
  async function dropIndexes() {
    await indexes.settled();
    for (const repo of fs.existsSync(indexes.dir) ? fs.readdirSync(indexes.dir) : []) {
      for (const id of await indexes.indexed(repo)) await indexes.discard(repo, id);
    }
  }

  // ---- 1. cold: paired, alternating raw / browser (library) / raw / route
  const rawLib = [], lib = [], rawRoute = [], route = [];
  // One discarded round first: the JIT, execa's first spawn and the HTTP stack warm up.
  await new SnapshotBrowser().ls(profile, snap, target);
  await get(port, lsUrl);
  await dropIndexes();
  snapshotBrowser().clearCache();
  for (let i = 0; i < REPEAT; i++) {
    const fresh = new SnapshotBrowser();
    const pair = async (first, second) => (i % 2 ? [await first(), await second()] : [await second(), await first()].reverse());
    const [r1, l1] = await pair(() => raw(plan), async () => {
      const t0 = performance.now();
      const res = await fresh.ls(profile, snap, target);
      if (res.cached || res.entries.length !== Math.min(PER_DIR, FILES)) throw new Error("not a cold, whole listing");
      return performance.now() - t0;
    });
    rawLib.push(r1);
    lib.push(l1);
    snapshotBrowser().clearCache();
    const [r2, h2] = await pair(() => raw(plan), async () => {
      const r = await get(port, lsUrl);
      if (r.json.cached || r.json.indexed) throw new Error("the route answered from its cache or the snapshot index");
      return r.ms;
    });
    rawRoute.push(r2);
    route.push(h2);
    // A route's first browse indexes the snapshot in the background (section 5 measures that):
    // let it finish outside the timings, then drop it, so the next pair is a first browse again.
    await dropIndexes();
  }
  const ratio = (a, b) => median(a.map((x, i) => x / b[i]));
  console.log(`cold listings done: raw ${median(rawLib).toFixed(0)} ms, browser ${median(lib).toFixed(0)} ms, route ${median(route).toFixed(0)} ms`);

  // ---- 2. warm
  const warmBrowser = new SnapshotBrowser();
  await warmBrowser.ls(profile, snap, target);
  const warmLib = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const r = await warmBrowser.ls(profile, snap, target);
    warmLib.push(performance.now() - t0);
    if (!r.cached) throw new Error("not from the cache");
  }
  await get(port, lsUrl);
  const warmRoute = [];
  for (let i = 0; i < 50; i++) {
    const r = await get(port, lsUrl);
    // A second visit is answered from the listing cache, or from the snapshot index once the
    // first browse has built it (both start no restic).
    if (!r.json.cached && !r.json.indexed) throw new Error("the route did not use its cache or the snapshot index");
    warmRoute.push(r.ms);
  }

  // ---- 3. the tail of a 1 GiB log, written quickly from one repeated block of log lines
  const logFile = path.join(base, "big.log");
  t = performance.now();
  const lines = [];
  for (let n = 0, size = 0; size < MB; n++) {
    const line = `>f+++++++++ photos/2026/album-${String(n).padStart(6, "0")}/IMG_${n}.jpg\n`;
    lines.push(line);
    size += line.length;
  }
  const block = Buffer.from(lines.join(""));
  const fd = fs.openSync(logFile, "w");
  for (let written = 0; written < LOG_BYTES; written += block.length) fs.writeSync(fd, block);
  fs.writeSync(fd, "# finished: success\n");
  fs.closeSync(fd);
  const logSize = fs.statSync(logFile).size;
  console.log(`log: ${(logSize / MB).toFixed(0)} MiB written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const tail100 = [], tail1000 = [];
  for (let i = 0; i < 20; i++) {
    let t0 = performance.now();
    const a = await tailLines(logFile, 100);
    tail100.push(performance.now() - t0);
    t0 = performance.now();
    const b = await tailLines(logFile, 1000);
    tail1000.push(performance.now() - t0);
    if (a.length !== 100 || b.length !== 1000 || a[99] !== "# finished: success") throw new Error("wrong tail");
  }
  fs.rmSync(logFile);

  // Each figure as soon as it is known: the whole run takes minutes.
  const coldRatio = ratio(lib, rawLib);
  const routeRatio = ratio(route, rawRoute);
  row("list one folder, cold: browser / raw restic ls", `${median(lib).toFixed(0)} / ${median(rawLib).toFixed(0)} ms = ${coldRatio.toFixed(3)}`, "≤ 1.10", coldRatio <= 1.1);
  row("list one folder, cold: HTTP route / raw restic ls", `${median(route).toFixed(0)} / ${median(rawRoute).toFixed(0)} ms = ${routeRatio.toFixed(3)}`, "≤ 1.10", routeRatio <= 1.1);
  row("list one folder, warm (cache): browser, median / max", `${ms(median(warmLib))} / ${ms(Math.max(...warmLib))}`, "≤ 20 ms", median(warmLib) <= 20);
  row("list one folder, warm (cache): HTTP route, median / max", `${ms(median(warmRoute))} / ${ms(Math.max(...warmRoute))}`, "≤ 20 ms", median(warmRoute) <= 20);
  row(`tail of a ${(logSize / MB / 1024).toFixed(2)} GiB log: last 100 lines, median / max`, `${ms(median(tail100))} / ${ms(Math.max(...tail100))}`, "≤ 50 ms", median(tail100) <= 50);
  row(`tail of a ${(logSize / MB / 1024).toFixed(2)} GiB log: last 1,000 lines, median / max`, `${ms(median(tail1000))} / ${ms(Math.max(...tail1000))}`, "≤ 50 ms", median(tail1000) <= 50);

  // ---- 4. RSS while browsing BROWSE folders cold, then the same again warm
  const session = new SnapshotBrowser();
  if (global.gc) global.gc();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  t = performance.now();
  await session.ls(profile, snap, tree);
  const all = Array.from({ length: Math.min(BROWSE, dirs) }, (_, d) => dirOf(d));
  await Promise.all(all.map((d) => session.ls(profile, snap, d)));
  const coldAll = performance.now() - t;
  t = performance.now();
  for (const d of all) await session.ls(profile, snap, d);
  const warmAll = performance.now() - t;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const cache = session.cacheStats();
  server.close();

  row(`RSS browsing ${all.length + 1} folders, ${cache.entries} entries (cold ${(coldAll / 1000).toFixed(1)} s, warm ${ms(warmAll)}): peak / growth`, `${(peak / MB).toFixed(0)} MB / ${((peak - baseline) / MB).toFixed(0)} MB`, "bounded", true);
  row("cache after browsing: listings / entries / est. bytes / evictions", `${cache.items} / ${cache.entries} / ${(cache.bytes / MB).toFixed(1)} MB / ${cache.evictions}`, "≤ 200,000 entries, ≤ 48 MB", cache.entries <= 200000 && cache.bytes <= 48 * MB);

  // ---- 5. the snapshot index (bench/browse/index.js)
  await require("./index").indexFigures(ctx);
  table(rows);
  console.log(`cold runs (ms), raw vs library: ${rawLib.map((x) => x.toFixed(0)).join(" ")} | ${lib.map((x) => x.toFixed(0)).join(" ")}`);
  console.log(`cold runs (ms), raw vs route:   ${rawRoute.map((x) => x.toFixed(0)).join(" ")} | ${route.map((x) => x.toFixed(0)).join(" ")}`);
  console.log(`process maxRSS (VmHWM): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (includes the tree creation and the log)`);
}

function table(rows) {
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  console.log("");
  console.log(`${"figure".padEnd(w0)}  ${"value".padEnd(w1)}  target`);
  for (const [a, b, c, ok] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c} ${ok ? "ok" : "MISSED"}`);
  console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")} (${os.cpus().length} CPUs)`);
  console.log("");
}

main().then(() => { cleanup(); process.exit(0); }, (err) => { console.error(err); cleanup(); process.exit(1); });
