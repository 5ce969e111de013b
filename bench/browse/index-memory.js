#!/usr/bin/env node
"use strict";
// Indexes the oldest snapshot of an existing repository once, in this process, and prints the
// RSS growth (peak − before, 20 ms samples, after a GC), the event-loop p99 and what memory held
// at the peak (JS heap, Buffers). For the million-file figure without building the tree again:
//   node --expose-gc bench/browse/run.js --files 1000000 --only-index --keep   (prints "kept: DIR")
//   node --expose-gc bench/browse/index-memory.js DIR
// DIR holds repo/, password and cache/ as bench/browse/run.js leaves them.
const path = require("node:path");
const fs = require("node:fs");
const { execFileSync } = require("node:child_process");
const { monitorEventLoopDelay } = require("node:perf_hooks");

const ROOT = path.resolve(__dirname, "..", "..");
const { SnapshotBrowser, SnapshotIndexes } = require(path.join(ROOT, "dist/lib/snapshots"));
const { resolveProfile } = require(path.join(ROOT, "dist/lib/profile"));
const MB = 1024 * 1024;

(async () => {
  const base = process.argv[2];
  if (!base) throw new Error("usage: index-memory.js DIR (a folder bench/browse/run.js --keep left)");
  const options = { repository: `${base}/repo`, "password-file": `${base}/password`, "cache-dir": `${base}/cache` };
  const env = { ...process.env, RESTIC_REPOSITORY: options.repository, RESTIC_PASSWORD_FILE: options["password-file"], RESTIC_CACHE_DIR: options["cache-dir"] };
  const snap = JSON.parse(execFileSync("restic", ["snapshots", "--json"], { env, maxBuffer: 64 * MB })).sort((a, b) => a.time.localeCompare(b.time))[0].id;
  const profile = resolveProfile("bench", new Map([["bench", { options }]]));
  const home = fs.mkdtempSync(path.join(base, "index-memory-"));
  if (global.gc) global.gc();
  const before = process.memoryUsage().rss;
  let peak = before, at = process.memoryUsage();
  const sampler = setInterval(() => { const m = process.memoryUsage(); if (m.rss > peak) { peak = m.rss; at = m; } }, 20);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = Date.now();
  const meta = await new SnapshotBrowser().index(profile, snap, new SnapshotIndexes(home));
  clearInterval(sampler);
  loop.disable();
  fs.rmSync(home, { recursive: true, force: true });
  if (!meta) throw new Error("indexing failed");
  console.log(`indexed ${meta.entries} entries in ${((Date.now() - t0) / 1000).toFixed(1)} s: RSS growth ${((peak - before) / MB).toFixed(1)} MB (target ≤ 50), event-loop p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms (target ≤ 50); at the peak JS heap ${(at.heapUsed / MB).toFixed(1)} MB, Buffers ${(at.arrayBuffers / MB).toFixed(1)} MB; load ${require("node:os").loadavg().map((x) => x.toFixed(2)).join(" ")}`);
})().catch((err) => { console.error(err); process.exit(1); });
