"use strict";
// The snapshot index's figures for bench/browse/run.js (section 5), against raw restic:
//   a. indexing time / raw `restic ls --json SNAP` (the same argv: nice 19, ionice idle), with this process's RSS
//      growth and event-loop p99 while it indexes;
//   b. listing one folder cold from the index after a restart (a fresh Node process: nothing in
//      memory, the index's tables checked once) / raw `restic ls SNAP DIR`;
//   c. the diff of two indexed snapshots / the same diff without indexes (restic ls for sizes);
//   d. a file view's first byte from an indexed snapshot / raw `restic dump` (and the old way);
//   e. the index's size on disk per million files.
const fs = require("node:fs");
const path = require("node:path");
const { spawn, spawnSync } = require("node:child_process");
const { performance, monitorEventLoopDelay } = require("node:perf_hooks");

const MB = 1024 * 1024;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ratio = (a, b) => median(a.map((x, i) => x / b[i]));

/** Runs `first` and `second` back to back, in alternating order by `i`; answers [first, second]. */
async function pair(i, first, second) {
  if (i % 2) return [await first(), await second()];
  const b = await second();
  return [await first(), b];
}

/** Time to restic's first byte of stdout (the process is stopped then). */
function rawFirstByte(plan) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(plan.command, plan.args, { env: { ...process.env, ...plan.env }, stdio: ["ignore", "pipe", "ignore"] });
    let stopped = false;
    child.once("error", reject);
    child.stdout.once("data", () => {
      const ms = performance.now() - t0;
      stopped = true;
      child.kill("SIGTERM");
      child.once("close", () => resolve(ms));
    });
    // Stopped by us, restic 0.19 exits 130 (it catches the signal) where older ones die by it.
    child.once("close", (code) => { if (!stopped && code !== 0) reject(new Error(`raw restic dump exited ${code}`)); });
  });
}

async function indexFigures(c) {
  const { ROOT, base, env, snap, tree, profile, target, plan, raw, row, repeat, perDir, files, resticSync, bigMB } = c;
  const { SnapshotBrowser, SnapshotIndexes, backgroundPlan } = require(path.join(ROOT, "dist/lib/snapshots"));
  const { profileToRestic } = require(path.join(ROOT, "dist/lib/profile"));
  const idxRepeat = Math.max(1, Math.min(repeat, 3));
  const home = path.join(base, "idx-home");

  // The machine's own noise: event-loop p99 of this process doing nothing for 3 s.
  const idle = monitorEventLoopDelay({ resolution: 10 });
  idle.enable();
  await new Promise((r) => setTimeout(r, 3000));
  idle.disable();
  const idleP99 = idle.percentile(99) / 1e6;

  // ---- a. indexing, paired with raw restic ls --json SNAP
  // The same argv as the product's: restic ls at idle priority (nice 19, ionice idle).
  const lsAll = backgroundPlan(profileToRestic(profile, "ls", ["--json", "--", snap]));
  const built = [], rawLs = [];
  let growth = 0, p99 = 0, meta = null, atPeak = null;
  for (let i = 0; i < idxRepeat; i++) {
    fs.rmSync(home, { recursive: true, force: true });
    const store = new SnapshotIndexes(home);
    const index = async () => {
      if (global.gc) global.gc();
      const before = process.memoryUsage().rss;
      let peak = before, at = null;
      const sampler = setInterval(() => { const m = process.memoryUsage(); if (m.rss > peak) { peak = m.rss; at = m; } }, 20);
      const h = monitorEventLoopDelay({ resolution: 10 });
      h.enable();
      const t0 = performance.now();
      meta = await new SnapshotBrowser().index(profile, snap, store);
      const ms = performance.now() - t0;
      h.disable();
      clearInterval(sampler);
      if (!meta) throw new Error(`indexing failed: ${JSON.stringify(store.failures)}`);
      if (peak - before >= growth) atPeak = at;
      growth = Math.max(growth, peak - before);
      p99 = Math.max(p99, h.percentile(99) / 1e6);
      return ms;
    };
    const [x, r] = await pair(i, index, () => raw(lsAll));
    built.push(x);
    rawLs.push(r);
  }
  const store = new SnapshotIndexes(home);
  const size = await store.size();
  const indexRatio = ratio(built, rawLs);
  row(`index a ${files}-file snapshot: browser / raw restic ls --json SNAP`, `${median(built).toFixed(0)} / ${median(rawLs).toFixed(0)} ms = ${indexRatio.toFixed(3)}`, "≤ 1.5", indexRatio <= 1.5);
  row("  while indexing: RSS growth (peak − before) / event-loop p99", `${(growth / MB).toFixed(1)} MB / ${p99.toFixed(1)} ms (idle: ${idleP99.toFixed(1)} ms)`, "≤ 50 MB / ≤ 50 ms", growth <= 50 * MB && p99 <= 50);
  if (atPeak) console.log(`  at the RSS peak: JS heap used ${(atPeak.heapUsed / MB).toFixed(1)} MB, Buffers (arrayBuffers) ${(atPeak.arrayBuffers / MB).toFixed(1)} MB`);
  row("index size on disk per million files", `${(size / meta.entries * 1e6 / MB).toFixed(1)} MB (${(size / MB).toFixed(1)} MB for ${meta.entries} entries)`, "reported", true);

  // ---- b. one folder cold from the index in a fresh process, paired with raw restic ls SNAP DIR
  const child = `
    const { performance } = require("node:perf_hooks");
    const { SnapshotBrowser, SnapshotIndexes } = require(${JSON.stringify(path.join(ROOT, "dist/lib/snapshots"))});
    const { resolveProfile } = require(${JSON.stringify(path.join(ROOT, "dist/lib/profile"))});
    const profile = resolveProfile("bench", new Map([["bench", { options: ${JSON.stringify(profile.options)} }]]));
    (async () => {
      const t0 = performance.now();
      const r = await new SnapshotBrowser().ls(profile, ${JSON.stringify(snap)}, ${JSON.stringify(target)}, {}, new SnapshotIndexes(${JSON.stringify(home)}));
      const ms = performance.now() - t0;
      if (!r.indexed || r.entries.length !== ${Math.min(perDir, files)}) throw new Error("not a whole listing from the index");
      process.stdout.write(String(ms));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const fresh = () => {
    const r = spawnSync(process.execPath, ["-e", child], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`the fresh process failed: ${r.stderr}`);
    return Number(r.stdout);
  };
  const cold = [], rawDir = [];
  for (let i = 0; i < repeat; i++) {
    const [x, r] = await pair(i, async () => fresh(), () => raw(plan));
    cold.push(x);
    rawDir.push(r);
  }
  const coldRatio = ratio(cold, rawDir);
  row("list one folder cold from the index after a restart / raw restic ls SNAP DIR", `${median(cold).toFixed(1)} / ${median(rawDir).toFixed(0)} ms = ${coldRatio.toFixed(4)}`, "≤ 0.05", coldRatio <= 0.05);

  // ---- c and d need a second snapshot: some files changed, some added (one big), some removed
  const dirs = fs.readdirSync(tree).sort();
  for (const d of dirs.slice(0, 5)) {
    const names = fs.readdirSync(path.join(tree, d)).sort();
    for (const n of names.slice(0, 20)) fs.appendFileSync(path.join(tree, d, n), "changed\n");
    for (const n of names.slice(-4)) fs.rmSync(path.join(tree, d, n));
  }
  fs.mkdirSync(path.join(tree, "added"));
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(tree, "added", `n${i}.txt`), `new ${i}\n`);
  const big = path.join(tree, "added", "big.bin");
  const fd = fs.openSync(big, "w");
  const block = Buffer.alloc(MB);
  for (let i = 0; i < bigMB; i++) { for (let j = 0; j < block.length; j += 4) block.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, j); fs.writeSync(fd, block); }
  fs.closeSync(fd);
  resticSync(env, ["backup", "-q", tree]);
  const list = JSON.parse(resticSync(env, ["snapshots", "--json"])).sort((a, b) => a.time.localeCompare(b.time));
  const snap2 = list[list.length - 1].id;
  if (!await new SnapshotBrowser().index(profile, snap2, store)) throw new Error("the second snapshot could not be indexed");

  const withIdx = [], without = [];
  let changes = 0;
  for (let i = 0; i < idxRepeat; i++) {
    const [x, y] = await pair(i, async () => {
      const t0 = performance.now();
      const d = await new SnapshotBrowser().diff(profile, snap, snap2, { index: store });
      changes = d.total;
      return performance.now() - t0;
    }, async () => {
      const t0 = performance.now();
      await new SnapshotBrowser().diff(profile, snap, snap2);
      return performance.now() - t0;
    });
    withIdx.push(x);
    without.push(y);
  }
  const diffRatio = ratio(withIdx, without);
  row(`diff of two indexed ${files}-file snapshots (${changes} changes): indexed / without index`, `${median(withIdx).toFixed(0)} / ${median(without).toFixed(0)} ms = ${diffRatio.toFixed(3)}`, "< 1", diffRatio < 1);

  // ---- d. a file view's first byte
  const dump = profileToRestic(profile, "dump", ["--", snap2, big]);
  const view = async (idx) => {
    const t0 = performance.now();
    const d = await new SnapshotBrowser().open(profile, snap2, big, idx);
    const ms = performance.now() - t0;
    if (d.head.length === 0) throw new Error("no first bytes");
    d.stop();
    await d.done;
    return ms;
  };
  const statMs = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await new SnapshotBrowser().stat(profile, snap2, big, store);
    statMs.push(performance.now() - t0);
  }
  const ttfb = [], rawTtfb = [], oldTtfb = [];
  for (let i = 0; i < repeat; i++) {
    const [x, r] = await pair(i, () => view(store), () => rawFirstByte(dump));
    ttfb.push(x);
    rawTtfb.push(r);
    oldTtfb.push(await view(undefined));
  }
  const viewRatio = ratio(ttfb, rawTtfb);
  row(`view a ${bigMB} MB file, first byte: indexed / raw restic dump`, `${median(ttfb).toFixed(0)} / ${median(rawTtfb).toFixed(0)} ms = ${viewRatio.toFixed(3)}`, "≤ 1.1", viewRatio <= 1.1);
  row("  the same without the index (ls of its folder first) / raw restic dump", `${median(oldTtfb).toFixed(0)} / ${median(rawTtfb).toFixed(0)} ms = ${(median(oldTtfb) / median(rawTtfb)).toFixed(3)}`, "reported", true);
  console.log(`finding the file in the index (ms): ${statMs.map((x) => x.toFixed(1)).join(" ")}`);
  console.log(`view runs (ms), indexed vs raw dump vs without index: ${ttfb.map((x) => x.toFixed(0)).join(" ")} | ${rawTtfb.map((x) => x.toFixed(0)).join(" ")} | ${oldTtfb.map((x) => x.toFixed(0)).join(" ")}`);
  console.log(`index runs (ms), browser vs raw ls --json: ${built.map((x) => x.toFixed(0)).join(" ")} | ${rawLs.map((x) => x.toFixed(0)).join(" ")}`);
  console.log(`cold-from-index runs (ms) vs raw ls DIR: ${cold.map((x) => x.toFixed(1)).join(" ")} | ${rawDir.map((x) => x.toFixed(0)).join(" ")}`);
}

module.exports = { indexFigures };
