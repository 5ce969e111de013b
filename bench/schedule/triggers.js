#!/usr/bin/env node
"use strict";
// 1,000 schedule triggers on the real clock: CPU of one core, timer wakeups and fire jitter
// (how long after the intended instant each callback ran). With --compare, the same triggers
// as 1,000 separate croner jobs, the obvious alternative, for a ratio.
//
//   node bench/schedule/triggers.js [--seconds 60] [--triggers 1000] [--compare]
//
// Uses the built engine: run `npm run build` first.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { performance } = require("node:perf_hooks");
const { Cron } = require("croner");
const { Scheduler, parseSchedule } = require("../../dist/lib/schedule");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith("--") ? true : v;
}
const seconds = Number(arg("seconds", 60));
const total = Number(arg("triggers", 1000));
const compare = arg("compare", false) === true;
if (!(seconds > 0) || !(total > 0)) {
  console.error("usage: node bench/schedule/triggers.js [--seconds N] [--triggers N] [--compare]");
  process.exit(2);
}

// Half fire every minute at :00 (the worst case: all at one instant); the rest are spread over
// second-level patterns and zones, plus some that never fire during the run.
const MIX = [
  [0.5, "* * * * *", "UTC"],
  [0.2, "*/10 * * * * *", "Europe/Berlin"],
  [0.1, "*/15 * * * * *", "America/New_York"],
  [0.1, "30 * * * * *", "Asia/Tokyo"],
  [0.1, "daily at 02:00", "Europe/Berlin"],
];

function triggers() {
  const out = [];
  for (const [share, text, timezone] of MIX) {
    const schedule = parseSchedule(text, { timezone });
    for (let i = 0; i < Math.round(share * total); i++) out.push(schedule);
  }
  return out.slice(0, total);
}

// Epoch milliseconds with sub-millisecond resolution, on the same wall clock as Date.now():
// performance.timeOrigin alone can be several ms off it, so align on a Date.now() tick edge.
const base = (() => {
  const t = Date.now();
  while (Date.now() === t) { /* spin to the edge of the next millisecond */ }
  return Date.now() - performance.now();
})();
const preciseNow = () => base + performance.now();

// Count every timer callback the process runs, whoever set it.
let timerRuns = 0;
const realSetTimeout = global.setTimeout;
global.setTimeout = function (fn, ms, ...rest) {
  return realSetTimeout((...a) => { timerRuns++; fn(...a); }, ms, ...rest);
};

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measure(label, start) {
  const jitter = [];
  const fired = (intended) => jitter.push(preciseNow() - intended);
  const setupStart = performance.now();
  const stop = start(fired);
  const setupMs = performance.now() - setupStart;
  // Start measuring after set-up, on a clean slate.
  const runsBefore = timerRuns;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => realSetTimeout(r, seconds * 1000));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const wakeups = timerRuns - runsBefore;
  await stop();
  jitter.sort((a, b) => a - b);
  const cpuPct = ((cpu.user + cpu.system) / 1000 / wallMs) * 100;
  return { label, setupMs, wallMs, cpuPct, wakeups, fires: jitter.length, p50: pct(jitter, 50), p99: pct(jitter, 99), max: jitter.at(-1) ?? NaN, min: jitter[0] ?? NaN };
}

function ours(fired) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hb-bench-sched-"));
  const s = new Scheduler({ stateFile: path.join(dir, "schedule", "state.json") });
  triggers().forEach((schedule, i) => s.add(`t${i}`, { schedule, onFire: (ev) => fired(ev.scheduledAt) }));
  return async () => {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

function croner(fired) {
  const jobs = triggers().map((schedule) => new Cron(schedule.cron, { timezone: schedule.timezone, mode: "5-or-6-parts" }, () => {
    // croner does not say which instant it meant; its patterns here fire on whole seconds.
    const now = preciseNow();
    fired(Math.floor(now / 1000) * 1000);
  }));
  return async () => jobs.forEach((j) => j.stop());
}

function show(r) {
  const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
  console.log(`${r.label}`);
  console.log(`  set-up               ${f(r.setupMs, 1)} ms`);
  console.log(`  CPU (one core)       ${f(r.cpuPct, 3)} %   over ${f(r.wallMs / 1000, 1)} s`);
  console.log(`  timer wakeups        ${r.wakeups}   (${f(r.wakeups / (r.wallMs / 1000), 2)} /s)`);
  console.log(`  fires                ${r.fires}`);
  console.log(`  jitter p50 / p99     ${f(r.p50)} / ${f(r.p99)} ms   (min ${f(r.min)}, max ${f(r.max)})`);
}

(async () => {
  console.log(`schedule bench: ${total} triggers, ${seconds} s, node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"}`);
  const a = await measure("highball Scheduler (one timer, min-heap)", ours);
  show(a);
  const ok = a.cpuPct < 1 && a.p99 <= 25;
  if (compare) {
    const b = await measure(`croner, ${total} separate jobs`, croner);
    show(b);
    console.log(`ratio croner/highball: CPU ${(b.cpuPct / a.cpuPct).toFixed(1)}x, wakeups ${(b.wakeups / Math.max(1, a.wakeups)).toFixed(1)}x, jitter p99 ${(b.p99 / a.p99).toFixed(1)}x`);
  }
  console.log(`targets: CPU < 1 %, jitter p99 <= 25 ms: ${ok ? "met" : "NOT met"}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
