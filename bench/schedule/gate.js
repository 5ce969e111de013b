#!/usr/bin/env node
"use strict";
// The conflict gate under load: 1,000 jobs queued at once on overlapping resources, and the
// latency from the moment a resource is freed to the admit callback of the job that waited
// for it. Two sources of "freed":
//   engine   every admitted job really runs (a `true` process through the Engine: log, history,
//            registry), started from the admit callback on the next turn of the event loop as
//            a Node-RED message would be; the clock starts in the engine's `end` event, before
//            the gate hears it;
//   release  the queue alone: admissions are released by `gate.release`, the clock starts
//            just before the call (what a release message or a claim expiry costs).
// Highball re-checks conflicts every 300 s, so its freed-to-start latency is up to 300 s
// (150 s on average); the ratio line says how that compares.
//
//   node bench/schedule/gate.js [--jobs 1000] [--mode engine|release|both] [--seed 1]
//
// Uses the built engine: run `npm run build` first.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { performance } = require("node:perf_hooks");
const { Engine } = require("../../dist/lib/runs/engine");
const { Gate } = require("../../dist/lib/conflict/gate");
const { jobResources } = require("../../dist/lib/conflict/resources");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith("--") ? true : v;
}
const total = Number(arg("jobs", 1000));
const mode = String(arg("mode", "both"));
const seed = Number(arg("seed", 1));
if (!(total > 0) || !["engine", "release", "both"].includes(mode)) {
  console.error("usage: node bench/schedule/gate.js [--jobs N] [--mode engine|release|both] [--seed N]");
  process.exit(2);
}

function prng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Jobs the way a home lab has them: 20 destination hosts, 10 ssh source hosts, 8 restic
 * repositories, nested local folders and a few tags, so most jobs conflict with some others.
 */
function makeJobs(n, rnd) {
  const pick = (k) => Math.floor(rnd() * k);
  const jobs = [];
  for (let i = 0; i < n; i++) {
    const name = `job${String(i).padStart(4, "0")}`;
    const r = rnd();
    let job;
    let repository;
    if (r < 0.2) {
      job = { id: name, name, engine: "restic", profile: `p${pick(8)}`, source: { type: "local", paths: [{ path: "/data" }] } };
      repository = `/srv/restic/repo${pick(8)}`;
    } else {
      const src = rnd() < 0.5 ? { type: "ssh", host: `src${pick(10)}`, user: "b" } : { type: "local" };
      const dst = r < 0.75 ? { type: "ssh", host: `nas${pick(20)}`, user: "b", path: "/backup" }
        : { type: "local", path: ["/backup", "/backup/a", "/backup/b", "/backup/a/x", "/mnt/usb"][pick(5)] + `/${pick(3)}` };
      job = { id: name, name, engine: "rsync", source: { ...src, paths: [{ path: "/data" }] }, destination: dst };
    }
    if (rnd() < 0.1) job.resources = [`tag${pick(4)}`];
    jobs.push({ job, resources: jobResources(job, { repository }) });
  }
  return jobs;
}

function stats(list) {
  const s = [...list].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, mean, p50: q(50), p90: q(90), p99: q(99), max: s[s.length - 1] };
}

const ms = (v) => `${v.toFixed(3)} ms`;

function report(title, lat, extra) {
  const st = stats(lat);
  console.log(`\n${title}`);
  console.log(`  measured admissions ${st.n}   mean ${ms(st.mean)}   p50 ${ms(st.p50)}   p90 ${ms(st.p90)}   p99 ${ms(st.p99)}   max ${ms(st.max)}`);
  for (const line of extra) console.log(`  ${line}`);
  console.log(`  target p99 <= 5 ms: ${st.p99 <= 5 ? "met" : "MISSED"}`);
  console.log(`  vs Highball's 300 s poll (150 s mean wait): ${Math.round(150_000 / st.mean).toLocaleString("en")}x faster on average`);
  return st.p99 <= 5;
}

const trueStep = {
  plan: { command: "true", args: [] },
  parser: {
    stdout() {}, stderr() {}, takeProgress: () => null,
    finish: (code) => ({ status: code === 0 ? "success" : "failed", error: null, stats: { filesTotal: null, filesChanged: null, bytesTotal: null, bytesTransferred: null, snapshotId: null } }),
  },
};

async function benchEngine(jobs) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "highball-bench-gate-"));
  try {
    const engine = Engine.get(home);
    await engine.ready;
    // Listeners in emit order: ours first (clock starts), the gate's, ours last (window closes).
    let endAt = null;
    engine.prependListener("end", () => { endAt = performance.now(); });
    const gate = new Gate(engine);
    await gate.ready;
    engine.on("end", () => { endAt = null; });
    const lat = [];
    let running = 0, peak = 0, done = 0, failed = 0;
    const t0 = performance.now();
    const finished = new Promise((resolve) => {
      engine.on("end", (r) => {
        running--;
        if (!r.ok) failed++;
        if (++done === jobs.length) resolve();
      });
    });
    for (const { job, resources } of jobs) {
      gate.request({
        job, resources,
        onAdmit: () => {
          if (endAt !== null) lat.push(performance.now() - endAt);
          running++;
          peak = Math.max(peak, running);
          // As in Node-RED: the gate node's send() delivers the message to the run node later.
          setImmediate(() => engine.start({ job, key: job.id, command: "bench", steps: [trueStep], nodeId: "bench" }));
        },
      });
    }
    const queued = gate.status().waiting.length;
    await finished;
    const wall = performance.now() - t0;
    gate.close();
    return report(`engine: ${jobs.length} jobs, each a real run; end event -> admit callback`, lat, [
      `queued at once ${queued}, admitted at once ${jobs.length - queued}, peak parallel runs ${peak}, failed runs ${failed}`,
      `all ${jobs.length} runs done in ${(wall / 1000).toFixed(2)} s`,
    ]);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

async function benchRelease(jobs, rnd) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "highball-bench-gate-"));
  try {
    const engine = Engine.get(home);
    const gate = new Gate(engine, { claimMs: 3_600_000 });
    await gate.ready;
    const lat = [];
    const held = [];
    let releasedAt = null;
    let calls = 0;
    const callTimes = [];
    for (const { job, resources } of jobs) {
      gate.request({
        job, resources,
        onAdmit: () => {
          if (releasedAt !== null) lat.push(performance.now() - releasedAt);
          held.push(job.name);
        },
      });
    }
    const queued = gate.status().waiting.length;
    while (held.length) {
      const name = held.splice(Math.floor(rnd() * held.length), 1)[0];
      releasedAt = performance.now();
      gate.release(name);
      callTimes.push(performance.now() - releasedAt);
      calls++;
    }
    gate.close();
    const c = stats(callTimes);
    return report(`release: ${jobs.length} jobs, the queue alone; release() -> admit callback`, lat, [
      `queued at once ${queued}, releases ${calls}, whole release() call p99 ${ms(c.p99)} max ${ms(c.max)}`,
    ]);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

(async () => {
  console.log(`conflict gate bench: ${total} jobs, seed ${seed}, node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"}`);
  let ok = true;
  if (mode === "engine" || mode === "both") ok = (await benchEngine(makeJobs(total, prng(seed)))) && ok;
  if (mode === "release" || mode === "both") ok = (await benchRelease(makeJobs(total, prng(seed)), prng(seed + 1))) && ok;
  process.exitCode = ok ? 0 : 1;
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
