#!/usr/bin/env node
"use strict";
// The restic pipeline against raw restic, through a real embedded Node-RED 4 runtime that loads
// this package from a userDir/node_modules link, with the flow
// inject → backup-job → restic-run → function and a highball-profile-config (repository,
// password-file, cache-dir). Prints, in one run, the median wall time pipeline / raw restic
// (the same argv, read from the run's "# restic ..." log line, and the same environment:
// RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, ... as the product's own plan builds it) for
//   (a) the first backup of a tree of small files into an empty repository, and
//   (b) a backup of the same tree, unchanged, into a repository that already has it.
//
//   node bench/restic/run.js [--files 20000] [--repeat 15] [--quick] [--profile] [--decompose] [--tree-dir DIR] [--restic 0.14]
//
// It measures the newest restic available (scripts/newer-restic.sh's 0.19 when present) unless
// --restic names another; it says which.
//
// The tree, the repositories and their caches go to /dev/shm (tmpfs) unless --tree-dir says
// otherwise: a faster disk makes raw restic faster, so the pipeline's share is larger (a
// stricter ratio), and VM disk noise stays out of the figures.
// Each first backup gets an empty repository copied from one made with `restic init` (init
// derives a key, ~3 s; copying takes milliseconds) and an empty cache folder, for both sides.
// --profile records a V8 CPU profile of the Node-RED process over the measured runs and prints
// its top functions by self time. --decompose adds, per scenario, the same backup without
// Node-RED, piece by piece (raw, pipes drained only, the engine's stream path as shipped).
// --quick is a smoke run: 2,000 files, 3 repetitions.
// Uses the built package: run `npm run build` first.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn, spawnSync, fork } = require("node:child_process");
const { performance } = require("node:perf_hooks");

const ROOT = path.resolve(__dirname, "..", "..");
const PKG = require(path.join(ROOT, "package.json"));
const RESULT_FN = "highballBenchResult";
const TARGET = 1.03;

// A developer's RESTIC_* variables would reach both sides differently (the plan sets its own): drop them.
for (const k of Object.keys(process.env)) if (k.startsWith("RESTIC_")) delete process.env[k];
// The newest restic available (the project's cached 0.19 when present), first on PATH for both sides.
if (!process.env.HIGHBALL_BENCH_CFG) require(path.join(ROOT, "scripts", "lib", "restic-versions")).benchRestic();

// ---------------------------------------------------------------- options

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith("--") ? true : v;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const MB = 1024 * 1024;

/** CPU time (ms) of this process's reaped children, from /proc: clock ticks are 10 ms. */
function childrenCpuMs() {
  const s = fs.readFileSync("/proc/self/stat", "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[13]) + Number(f[14])) * 10; // cutime + cstime (fields 16, 17)
}

// ================================================================ child: the Node-RED process

async function child() {
  const cfg = JSON.parse(process.env.HIGHBALL_BENCH_CFG);
  const express = require(require.resolve("express", { paths: [path.dirname(require.resolve("node-red/package.json", { paths: [ROOT] }))] }));
  const RED = require(require.resolve("node-red", { paths: [ROOT] }));
  const http = require("node:http");

  let pending = null;
  const app = express();
  const server = http.createServer(app);
  const settings = {
    userDir: cfg.userDir,
    flowFile: "flows.json",
    credentialSecret: false,
    uiHost: "127.0.0.1",
    httpAdminRoot: "/",
    httpNodeRoot: "/api",
    logging: { console: { level: "warn", metrics: false, audit: false } },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
    functionGlobalContext: { [RESULT_FN]: (msg) => { const p = pending; pending = null; if (p) p.resolve(msg); } },
  };
  RED.init(server, settings);
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);
  await new Promise((resolve, reject) => { server.once("error", reject); server.listen(0, "127.0.0.1", resolve); });
  const started = new Promise((resolve) => RED.events.once("flows:started", resolve));
  await RED.start();
  await started;
  for (const id of cfg.expect) if (!RED.nodes.getNode(id)) throw new Error(`node ${id} did not start: is the package built and loadable?`);

  // Where a run's time goes, from the engine's own events (the userDir link resolves to this
  // checkout, so this Engine module is the one the nodes use).
  let phase = null;
  try {
    const { Engine } = require(path.join(ROOT, "dist", "lib", "runs", "engine.js"));
    const { highballHome } = require(path.join(ROOT, "dist", "lib", "home.js"));
    const engine = Engine.get(highballHome({ userDir: cfg.userDir }));
    engine.on("start", (run) => {
      const ph = phase;
      if (!ph) return;
      ph.start = performance.now();
      let proc = run.proc;
      Object.defineProperty(run, "proc", {
        configurable: true, enumerable: true, get: () => proc,
        set: (v) => { proc = v; if (v && !ph.spawned) { ph.spawned = performance.now(); v.done.then(() => { ph.exited = performance.now(); }); } },
      });
    });
    engine.on("end", () => { if (phase) phase.end = performance.now(); });
    const timed = (obj, name, key) => {
      const fn = obj[name];
      if (typeof fn !== "function") return;
      obj[name] = function (...a) {
        const ph = phase;
        const t = performance.now();
        const r = fn.apply(this, a);
        const add = () => { if (ph) ph[key] = (ph[key] || 0) + performance.now() - t; };
        if (r && typeof r.then === "function") r.then(add, add); else add();
        return r;
      };
    };
    timed(engine.registry, "save", "registry");
    timed(engine.history, "add", "history");
  } catch { /* no breakdown: the figures stand without it */ }

  function trigger(inject) {
    if (pending) return Promise.reject(new Error("a run is already waiting for its result"));
    const result = new Promise((resolve) => { pending = { resolve }; });
    const cpu0 = process.cpuUsage();
    const kids0 = childrenCpuMs();
    const t0 = performance.now();
    const ph = phase = { t0 };
    RED.nodes.getNode(inject).receive({});
    return result.then((msg) => {
      const t1 = performance.now();
      phase = null;
      const cpu = process.cpuUsage(cpu0);
      const phases = ph.start && ph.spawned && ph.exited && ph.end
        ? { toStart: ph.start - t0, toSpawn: ph.spawned - ph.start, tool: ph.exited - ph.spawned, toEnd: ph.end - ph.exited, toResult: t1 - ph.end, registry: ph.registry || 0, history: ph.history || 0 }
        : null;
      return {
        ms: t1 - t0, cpuMs: (cpu.user + cpu.system) / 1000, toolCpuMs: childrenCpuMs() - kids0, phases,
        payload: msg.payload, logFile: msg.run && msg.run.logFile, details: msg.run && msg.run.details,
      };
    });
  }

  let session = null;
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
  async function profileStart() {
    const inspector = require("node:inspector");
    session = new inspector.Session();
    session.connect();
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 200 });
    await post("Profiler.start");
    return true;
  }
  async function profileStop(file) {
    const { profile } = await post("Profiler.stop");
    session.disconnect();
    session = null;
    fs.writeFileSync(file, JSON.stringify(profile));
    return file;
  }

  process.on("message", (m) => {
    const reply = (p) => p.then((r) => process.send({ id: m.id, ok: true, result: r }), (err) => process.send({ id: m.id, ok: false, error: err.stack || String(err) }));
    if (m.cmd === "run") reply(trigger(m.inject));
    else if (m.cmd === "profile-start") reply(profileStart());
    else if (m.cmd === "profile-stop") reply(profileStop(m.file));
    else if (m.cmd === "stop") {
      reply((async () => {
        await RED.stop();
        await new Promise((resolve) => server.close(() => resolve()));
        return true;
      })().finally(() => setImmediate(() => process.exit(0))));
    }
  });
  process.on("disconnect", () => process.exit(0));
  process.on("SIGINT", () => undefined);
  process.send({ ready: true, nodeRed: RED.version(), pid: process.pid });
}

// ================================================================ parent: tree, repositories, raw runs, report

const started = new Set(); // PIDs of processes this script started and has not yet seen end
const groups = new Set(); // process groups (leader PIDs) of raw restic runs, started in their own session
const temps = [];
const dirs = { tmp: null, trees: null };
let redChild = null;

function mkTmp(parent) {
  const dir = fs.mkdtempSync(path.join(parent, "highball-bench-restic-"));
  temps.push(dir);
  return dir;
}

function treeParent(chosen) {
  if (typeof chosen === "string") return chosen;
  try {
    if (fs.readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === "/dev/shm" && l.split(" ")[2] === "tmpfs")) {
      fs.accessSync("/dev/shm", fs.constants.W_OK);
      return "/dev/shm";
    }
  } catch { /* no /dev/shm */ }
  return os.tmpdir();
}

function rmTree(dir) {
  if (!fs.existsSync(dir)) return;
  const r = spawnSync("rm", ["-rf", "--", dir], { stdio: "inherit" });
  if (r.status !== 0) fs.rmSync(dir, { recursive: true, force: true });
}

function copyTree(from, to) {
  const r = spawnSync("cp", ["-a", "--", from, to], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to} failed`);
}

/** Deterministic small files (xorshift32): `files` files of 1–8 KiB in folders of 200 (as bench/rsync). */
function makeSmallTree(dir, files) {
  let x = 0x9e3779b9;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const pool = Buffer.alloc(64 * 1024);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(rnd(), i);
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `d${String(Math.floor(i / 200)).padStart(4, "0")}`);
    if (i % 200 === 0) fs.mkdirSync(sub, { recursive: true });
    const size = 1024 + (rnd() % (7 * 1024 + 1));
    const off = rnd() % (pool.length - size);
    fs.writeFileSync(path.join(sub, `f${String(i).padStart(6, "0")}.bin`), pool.subarray(off, off + size));
    bytes += size;
  }
  return { files, bytes };
}

/** What the product's profile-config nodes hold, by profile name. */
function profiles(c) {
  return {
    first: { repository: c.repoFirst, "password-file": c.passwordFile, "cache-dir": c.cacheFirst },
    again: { repository: c.repoAgain, "password-file": c.passwordFile, "cache-dir": c.cacheAgain },
  };
}

function jobFor(name, profile, src) {
  return { name, engine: "restic", profile, source: { type: "local", paths: [{ path: src }] }, restic: { command: "backup", args: [], tags: [] } };
}

function flowFor(c) {
  const flow = [{ id: "tab", type: "tab", label: "bench" }];
  for (const [name, options] of Object.entries(profiles(c))) flow.push({ id: `prof-${name}`, type: "highball-profile-config", name: `bench-${name}`, options });
  for (const k of ["first", "again"]) {
    flow.push(
      { id: `inj-${k}`, z: "tab", type: "inject", name: "", props: [{ p: "payload" }], payload: "", payloadType: "date", repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", wires: [[`job-${k}`]] },
      { id: `job-${k}`, z: "tab", type: "highball-backup-job", ...jobFor(`bench ${k}`, `bench-${k}`, c.src), wires: [[`run-${k}`]] },
      { id: `run-${k}`, z: "tab", type: "highball-restic-run", name: "", logTail: 20, wires: [[`res-${k}`], []] },
      { id: `res-${k}`, z: "tab", type: "function", name: "result", func: `global.get(${JSON.stringify(RESULT_FN)})(msg);\nreturn null;`, outputs: 1, timeout: 0, noerr: 0, initialize: "", finalize: "", libs: [], wires: [[]] },
    );
  }
  return flow;
}

function makeUserDir(dir, flow) {
  fs.mkdirSync(path.join(dir, "node_modules", ...PKG.name.split("/").slice(0, -1)), { recursive: true });
  fs.symlinkSync(ROOT, path.join(dir, "node_modules", ...PKG.name.split("/")), "dir");
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "node-red-project", private: true, dependencies: { [PKG.name]: `file:${ROOT}` } }, null, 2));
  fs.writeFileSync(path.join(dir, "flows.json"), JSON.stringify(flow, null, 2));
}

function startRed(userDir, expect, execArgv = []) {
  const proc = fork(__filename, ["--child"], {
    env: { ...process.env, HIGHBALL_BENCH_CFG: JSON.stringify({ userDir, expect }) },
    execArgv,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  started.add(proc.pid);
  let output = "";
  proc.stdout.on("data", (d) => { output += d; });
  proc.stderr.on("data", (d) => { output += d; });
  let seq = 0;
  const waiting = new Map();
  const exited = new Promise((resolve) => proc.once("exit", (code, signal) => {
    started.delete(proc.pid);
    for (const w of waiting.values()) w.reject(new Error(`Node-RED exited (${signal || code}) during a request\n${output}`));
    resolve();
  }));
  const handle = {
    proc, exited, get output() { return output; },
    call(cmd, extra = {}) {
      const id = ++seq;
      return new Promise((resolve, reject) => { waiting.set(id, { resolve, reject }); proc.send({ id, cmd, ...extra }); });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const t = setTimeout(() => { try { process.kill(proc.pid, "SIGKILL"); } catch { /* gone */ } }, 15000);
      await Promise.race([handle.call("stop").catch(() => undefined), exited]);
      await exited;
      clearTimeout(t);
    },
  };
  proc.on("message", (m) => {
    if (m.ready) return;
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.ok) w.resolve(m.result); else w.reject(new Error(m.error));
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`Node-RED did not start within 90 s\n${output}`)), 90000);
    proc.on("message", (m) => { if (m.ready) { clearTimeout(t); handle.info = m; resolve(handle); } });
    exited.then(() => { clearTimeout(t); reject(new Error(`Node-RED exited before its flows started\n${output}`)); });
  });
}

/** The argv of the run's "# restic ..." log line (words with specials are JSON strings there). */
function argvFromLog(file) {
  const line = fs.readFileSync(file, "utf8").split("\n").find((l) => /^# (\S*\/)?restic /.test(l));
  if (!line) throw new Error(`no "# restic ..." line in ${file}`);
  return line.slice(2).match(/"(?:[^"\\]|\\.)*"|\S+/g).map((w) => (w.startsWith('"') ? JSON.parse(w) : w));
}

/** The plan the product builds for this job and profile: its environment is what raw restic gets. */
async function productPlan(job, options) {
  const P = require(path.join(ROOT, "dist", "lib", "profile"));
  const R = require(path.join(ROOT, "dist", "lib", "engines", "restic"));
  const { validateJob } = require(path.join(ROOT, "dist", "lib", "job", "validate"));
  const eff = P.resolveProfile(job.profile, new Map([[job.profile, { options }]]));
  return R.resticPlan(validateJob(job), eff, await R.detectResticVersion("restic"));
}

function summaryOf(text) {
  const line = text.split("\n").reverse().find((l) => l.startsWith('{"message_type":"summary"'));
  return line ? JSON.parse(line) : null;
}

/**
 * Like `setsid restic ... >log 2>&1` with the plan's environment: the tool writes its output
 * itself. In its own session, as the product starts it (a run owns its process group): with the
 * kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled) a session is also a
 * CPU-share group, and on a machine busy with other work a tool left in this script's session
 * got visibly less CPU than the product's (pipeline / raw 0.80 in a trial), a ratio that
 * measured the scheduler rather than Node-RED.
 */
function rawRun(argv, env, logFile) {
  return new Promise((resolve, reject) => {
    const fd = fs.openSync(logFile, "w");
    const kids0 = childrenCpuMs();
    const t0 = performance.now();
    const p = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", fd, fd], detached: true });
    fs.closeSync(fd);
    started.add(p.pid);
    groups.add(p.pid);
    p.once("error", reject);
    p.once("exit", (code, signal) => {
      const ms = performance.now() - t0;
      started.delete(p.pid);
      groups.delete(p.pid);
      const text = fs.readFileSync(logFile, "utf8");
      if (code !== 0) reject(new Error(`raw restic ended with ${signal || `exit ${code}`}: ${text.slice(-2000)}`));
      else resolve({ ms, toolCpuMs: childrenCpuMs() - kids0, summary: summaryOf(text) });
    });
  });
}

function resticInit(repo, passwordFile) {
  const r = spawnSync("restic", ["init"], { env: { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: passwordFile }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`restic init ${repo} failed: ${r.stderr}`);
}

function fsType(dir) {
  const r = spawnSync("stat", ["-f", "-c", "%T", dir], { encoding: "utf8" });
  return (r.stdout || "?").trim();
}

function loadavg() {
  const l = os.loadavg().map((x) => x.toFixed(2)).join(" ");
  let cpu = "";
  try { cpu = ` (CPU pressure: ${/some avg10=([\d.]+) avg60=([\d.]+)/.exec(fs.readFileSync("/proc/pressure/cpu", "utf8")).slice(1).map((x) => `${x}%`).join(" 10 s, ")} 60 s)`; } catch { /* no PSI */ }
  return l + cpu;
}

function syncDisks() {
  spawnSync("sync", [], { stdio: "ignore" });
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/**
 * The same backup again, in this (small) process and without Node-RED, piece by piece: raw
 * restic writing its output to a file, restic into pipes that are only drained, and the engine's
 * own stream path as shipped (spawnPlan: execa, own process group, line splitting, RunLog,
 * ResticParser). Says whether a difference is restic's own time under a pipe or Node-RED's.
 */
async function decompose(kind, argv, env, c, files, repeat, dir, before) {
  const { spawnPlan } = require(path.join(ROOT, "dist", "lib", "runs", "process.js"));
  const { RunLog } = require(path.join(ROOT, "dist", "lib", "runs", "log.js"));
  const { ResticParser } = require(path.join(ROOT, "dist", "lib", "engines", "restic.js"));
  const log = path.join(dir, "decompose.log");
  const variants = {
    "raw restic > file": async () => (await rawRun(argv, env, log)).summary,
    "restic | node (drain only)": () => new Promise((resolve, reject) => {
      const p = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
      started.add(p.pid); groups.add(p.pid);
      let out = "";
      p.stdout.setEncoding("utf8").on("data", (d) => { out += d; });
      p.stderr.resume();
      p.once("error", reject);
      p.once("close", (code) => { started.delete(p.pid); groups.delete(p.pid); if (code === 0) resolve(summaryOf(out)); else reject(new Error(`restic exit ${code}`)); });
    }),
    "engine stream path (shipped)": async () => {
      const out = new RunLog(log);
      const parser = new ResticParser("backup", { repository: env.RESTIC_REPOSITORY });
      let last = 0;
      const sp = spawnPlan({ command: argv[0], args: argv.slice(1), env }, (stream, line, transient) => {
        if (!transient) out.write(stream === "stderr" ? `! ${line}` : line);
        if (stream === "stdout") parser.stdout(line); else parser.stderr(line);
        const now = Date.now();
        if (now - last >= 500) { last = now; parser.takeProgress(); }
      }, out);
      if (sp.pid) groups.add(sp.pid);
      const end = await sp.done;
      if (sp.pid) groups.delete(sp.pid);
      await out.close();
      const o = parser.finish(end.code, end.signal);
      if (o.status !== "success") throw new Error(`engine path: ${o.error}`);
      return o.details.summary;
    },
  };
  const names = Object.keys(variants);
  const t = Object.fromEntries(names.map((n) => [n, []]));
  const cpu = Object.fromEntries(names.map((n) => [n, []]));
  const own = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < repeat + 1; i++) {
    for (const n of i % 2 ? [...names].reverse() : names) {
      before();
      const k0 = childrenCpuMs();
      const t0 = performance.now();
      const summary = await variants[n]();
      const ms = performance.now() - t0;
      const k = childrenCpuMs() - k0;
      check(summary && summary.total_files_processed === files, `${n}: restic counted ${files} files`);
      if (i === 0) continue; // warm-up
      t[n].push(ms);
      cpu[n].push(k);
      own[n].push(summary.total_duration * 1000);
    }
  }
  const rawMed = median(t[names[0]]);
  console.log(`  decomposition (${kind === "first" ? "first backup" : "unchanged tree"}, no Node-RED, ${repeat} alternating runs each):`);
  for (const n of names) {
    console.log(`    ${n.padEnd(30)} ${median(t[n]).toFixed(0).padStart(6)} ms  ratio ${(median(t[n]) / rawMed).toFixed(3)}  restic's own ${median(own[n]).toFixed(0).padStart(5)} ms  restic CPU ${median(cpu[n]).toFixed(0).padStart(5)} ms  (${t[n].map((x) => x.toFixed(0)).join(" ")})`);
  }
}

function profileSummary(file, top = 20) {
  const prof = JSON.parse(fs.readFileSync(file, "utf8"));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const own = (id) => { for (let k = id; k !== undefined; k = parent.get(k)) if (/^profile(Start|Stop)$/.test(byId.get(k).callFrame.functionName)) return true; return false; };
  const self = new Map();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    if (own(prof.samples[i])) continue;
    const n = byId.get(prof.samples[i]);
    const dt = prof.timeDeltas[i] || 0;
    const cf = n.callFrame;
    if (cf.functionName === "(idle)") continue;
    total += dt;
    const url = cf.url.replace(`file://${ROOT}/`, "").replace(/^.*node_modules\//, "nm/");
    const key = `${cf.functionName || "(anonymous)"} ${url ? `${url}:${cf.lineNumber + 1}` : ""}`.trim();
    self.set(key, (self.get(key) || 0) + dt);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { totalMs: total / 1000, rows: rows.map(([k, us]) => ({ fn: k, ms: us / 1000, pct: (100 * us) / total })) };
}

async function main() {
  const quick = arg("quick", false) === true;
  const files = Number(arg("files", quick ? 2000 : 20000));
  const repeat = Number(arg("repeat", quick ? 3 : 15));
  const profile = arg("profile", false) === true;
  const decomp = arg("decompose", false) === true;
  if (!(files > 0) || !(repeat > 0)) {
    console.error("usage: node bench/restic/run.js [--files N] [--repeat N] [--quick] [--profile] [--decompose] [--tree-dir DIR]");
    process.exit(2);
  }
  check(fs.existsSync(path.join(ROOT, "dist", "nodes", "highball-restic-run", "highball-restic-run.js")), "the package is built (npm run build)");
  const t0 = performance.now();
  const tmp = mkTmp(os.tmpdir());
  const trees = mkTmp(treeParent(arg("tree-dir", null)));
  dirs.tmp = tmp;
  dirs.trees = trees;
  const resticVersion = (spawnSync("restic", ["version"], { encoding: "utf8" }).stdout || "restic: not found").trim();
  const redVersion = require(require.resolve("node-red/package.json", { paths: [ROOT] })).version;
  console.log("environment");
  console.log(`  ${resticVersion}`);
  console.log(`  node ${process.version}, Node-RED ${redVersion} (embedded, own process), ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), ${Math.round(os.totalmem() / MB / 1024)} GiB RAM, ${os.platform()} ${os.release()}`);
  console.log(`  Node-RED userDir, run logs, raw log: ${tmp} (${fsType(tmp)}); tree, repositories, caches: ${trees} (${fsType(trees)})`);
  console.log(`  sizes: --files ${files} --repeat ${repeat}${profile ? " --profile" : ""}${decomp ? " --decompose" : ""}`);
  // Taken before the bench adds its own load (a tool and Node-RED: about one core of two).
  const busyAtStart = os.loadavg()[0] > os.cpus().length * 0.5;
  console.log(`  load average at start: ${loadavg()}`);
  console.log("");

  const c = {
    src: path.join(trees, "src"),
    passwordFile: path.join(tmp, "repo.password"),
    template: path.join(trees, "empty-repo"),
    repoFirst: path.join(trees, "repo-first"),
    cacheFirst: path.join(trees, "cache-first"),
    repoAgain: path.join(trees, "repo-again"),
    cacheAgain: path.join(trees, "cache-again"),
  };
  fs.writeFileSync(c.passwordFile, `bench-${process.pid}-${Date.now()}\n`, { mode: 0o600 });
  let tt = performance.now();
  const made = makeSmallTree(c.src, files);
  console.log(`tree: ${files} files, ${(made.bytes / MB).toFixed(1)} MiB made in ${((performance.now() - tt) / 1000).toFixed(1)} s`);
  tt = performance.now();
  resticInit(c.template, c.passwordFile);
  console.log(`  empty repository made with restic init in ${((performance.now() - tt) / 1000).toFixed(1)} s (copied for every first backup)`);
  const freshFirst = () => { rmTree(c.repoFirst); rmTree(c.cacheFirst); copyTree(c.template, c.repoFirst); fs.mkdirSync(c.cacheFirst); };
  freshFirst();
  copyTree(c.template, c.repoAgain);
  fs.mkdirSync(c.cacheAgain);

  const userDir = path.join(tmp, "red");
  fs.mkdirSync(userDir);
  makeUserDir(userDir, flowFor(c));
  tt = performance.now();
  redChild = await startRed(userDir, ["prof-first", "prof-again", "inj-first", "job-first", "run-first", "res-first", "inj-again", "run-again"]);
  console.log(`  Node-RED ${redChild.info.nodeRed} started (pid ${redChild.info.pid}) in ${((performance.now() - tt) / 1000).toFixed(1)} s`);
  const logsDir = path.join(userDir, "highball", "logs");
  const rawLog = path.join(tmp, "raw.log");

  const expectFor = (kind) => (kind === "first" ? { changed: files, what: "new" } : { changed: 0, what: "unchanged" });
  const pipe = async (kind) => {
    const r = await redChild.call("run", { inject: `inj-${kind}` });
    check(r.payload && r.payload.status === "success", `pipeline run succeeded (${r.payload && r.payload.error})`);
    check(r.payload.filesTotal === files, `pipeline counted ${files} files (got ${r.payload.filesTotal})`);
    check(r.payload.filesChanged === expectFor(kind).changed, `pipeline ${kind} backup found ${expectFor(kind).changed} ${expectFor(kind).what} files (got ${r.payload.filesChanged})`);
    return { ...r, resticSeconds: r.details && r.details.summary ? r.details.summary.total_duration : null };
  };
  const raw = async (kind, argv, env) => {
    const r = await rawRun(argv, env, rawLog);
    check(r.summary, "raw restic printed a summary");
    check(r.summary.total_files_processed === files, `raw restic counted ${files} files (got ${r.summary.total_files_processed})`);
    check(r.summary.files_new + r.summary.files_changed === expectFor(kind).changed, `raw ${kind} backup found ${expectFor(kind).changed} ${expectFor(kind).what} files`);
    return { ...r, resticSeconds: r.summary.total_duration };
  };

  const scenarios = [];
  const profiles_ = [];
  for (const kind of ["first", "again"]) {
    // Warm-up (not counted): page cache, JIT, the history file; it also yields the argv. The
    // unchanged scenario's warm-up is the repository's first backup, then one unchanged run each.
    if (kind === "first") freshFirst();
    const warm = await redChild.call("run", { inject: `inj-${kind}` });
    check(warm.payload && warm.payload.status === "success", `warm-up run succeeded (${warm.payload && warm.payload.error})`);
    const argv = argvFromLog(path.join(logsDir, warm.logFile));
    const job = jobFor(`bench ${kind}`, `bench-${kind}`, c.src);
    const plan = await productPlan(job, profiles(c)[kind]);
    check(JSON.stringify([plan.command, ...plan.args]) === JSON.stringify(argv), `the log's command ${JSON.stringify(argv)} is the product's plan ${JSON.stringify([plan.command, ...plan.args])}`);
    const env = plan.env;
    console.log(`${kind === "first" ? "(a) first backup into an empty repository" : "(b) backup of the unchanged tree"}`);
    console.log(`  argv (from the run log): ${argv.join(" ")}`);
    console.log(`  env (the product's plan): ${Object.entries(env).map(([k, v]) => `${k}=${v === "" ? "''" : v}`).join(" ")}`);
    if (kind === "first") freshFirst();
    else await pipe(kind);
    await raw(kind, argv, env);

    const p = [], r = [], pCpu = [], pTool = [], rTool = [], pRestic = [], rRestic = [], phases = [];
    const before = () => { if (kind === "first") freshFirst(); syncDisks(); };
    if (profile) await redChild.call("profile-start");
    for (let i = 0; i < repeat; i++) {
      for (const which of i % 2 === 0 ? ["pipe", "raw"] : ["raw", "pipe"]) {
        before();
        if (which === "pipe") {
          const x = await pipe(kind);
          p.push(x.ms); pCpu.push(x.cpuMs); pTool.push(x.toolCpuMs); pRestic.push(x.resticSeconds * 1000);
          if (x.phases) phases.push(x.phases);
        } else {
          const x = await raw(kind, argv, env);
          r.push(x.ms); rTool.push(x.toolCpuMs); rRestic.push(x.resticSeconds * 1000);
        }
      }
    }
    if (profile) {
      const file = path.join(os.tmpdir(), `highball-bench-restic-${process.pid}-${kind}.cpuprofile`);
      await redChild.call("profile-stop", { file });
      profiles_.push({ kind, file, ...profileSummary(file) });
    }
    const paired = median(p.map((x, i) => x / r[i]));
    const s = { kind, paired, p, r, pMed: median(p), rMed: median(r), ratio: median(p) / median(r), nodeCpu: median(pCpu), pTool: median(pTool), rTool: median(rTool), pRestic: median(pRestic), rRestic: median(rRestic) };
    scenarios.push(s);
    console.log(`  pipeline ${p.map((x) => x.toFixed(0)).join(" ")} ms | raw ${r.map((x) => x.toFixed(0)).join(" ")} ms | median of paired ratios ${paired.toFixed(3)}`);
    console.log(`  restic's own total_duration (median): pipeline ${s.pRestic.toFixed(0)} ms, raw ${s.rRestic.toFixed(0)} ms`);
    if (phases.length === p.length) {
      const m = (k) => median(phases.map((x) => x[k])).toFixed(1);
      console.log(`  pipeline phases (median ms): message to run start ${m("toStart")}, start to spawn ${m("toSpawn")}, spawn to restic done ${m("tool")}, restic done to run end ${m("toEnd")}, run end to result message ${m("toResult")}; of these, registry saves ${m("registry")}, history add ${m("history")}`);
    }
    console.log(`  CPU per run (median): Node-RED process ${s.nodeCpu.toFixed(0)} ms + its restic ${s.pTool} ms vs raw restic ${s.rTool} ms (CPU ratio ${((s.nodeCpu + s.pTool) / s.rTool).toFixed(2)})`);
    if (decomp) await decompose(kind, argv, env, c, files, repeat, tmp, before);
  }
  await redChild.stop();
  redChild = null;

  const rows = scenarios.map((s) => [
    `${s.kind === "first" ? "first backup" : "unchanged tree"}, ${files} files: pipeline / raw`,
    // As in bench/rsync: the median of per-pair ratios (each pair ran back to back), with the
    // ratio of the two medians beside it.
    `${s.paired.toFixed(3)} (medians ${s.pMed.toFixed(0)} / ${s.rMed.toFixed(0)} ms = ${s.ratio.toFixed(3)})`,
    `≤ ${TARGET}`,
    s.paired <= TARGET,
  ]);
  const w0 = Math.max(...rows.map((x) => x[0].length)), w1 = Math.max(...rows.map((x) => x[1].length)), w2 = 8;
  console.log("");
  console.log(`${"figure".padEnd(w0)}  ${"measured".padEnd(w1)}  ${"target".padEnd(w2)}  result`);
  console.log(`${"-".repeat(w0)}  ${"-".repeat(w1)}  ${"-".repeat(w2)}  ------`);
  for (const [a, b, cc, ok] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${cc.padEnd(w2)}  ${ok ? "PASS" : "FAIL"}`);
  console.log(`(ratios: median of per-pair ratios over ${repeat} alternating pairs; whole bench ${((performance.now() - t0) / 1000).toFixed(0)} s; load average at end: ${loadavg()})`);
  if (profile) console.log("note: with --profile the pipeline runs carry the sampling profiler's overhead; take the ratios from a run without it");
  if (busyAtStart) console.log(`note: other processes kept this machine busy as the bench started; wall-time ratios on ${os.cpus().length} cores move with that load (see the per-run times and the CPU ratios above)`);
  for (const prof of profiles_) {
    console.log("");
    console.log(`CPU profile of the Node-RED process over the ${repeat} pipeline ${prof.kind} runs (and idle gaps): ${prof.totalMs.toFixed(0)} ms busy; top self time:`);
    for (const x of prof.rows) console.log(`  ${x.ms.toFixed(0).padStart(7)} ms ${x.pct.toFixed(1).padStart(5)}%  ${x.fn}`);
    console.log(`  (kept: ${prof.file})`);
  }
  return rows.every((x) => x[3]);
}

/** restic processes a killed Node-RED left running (each run has its own process group). */
function killLeftRuns() {
  if (!dirs.tmp || !dirs.trees) return;
  let runs = [];
  try { runs = JSON.parse(fs.readFileSync(path.join(dirs.tmp, "red", "highball", "running.json"), "utf8")).runs || []; } catch { return; }
  for (const r of runs) {
    let cmd = "";
    try { cmd = fs.readFileSync(`/proc/${r.pid}/cmdline`, "utf8"); } catch { continue; }
    // Only a run of ours: restic, on this bench's tree.
    if (r.pid > 1 && cmd.includes("restic") && cmd.includes(dirs.trees)) { try { process.kill(-r.pid, "SIGKILL"); } catch { /* gone */ } }
  }
}

let cleaning = null;
function cleanup() {
  cleaning ??= cleanupOnce();
  return cleaning;
}

async function cleanupOnce() {
  if (redChild) { await redChild.stop().catch(() => undefined); redChild = null; }
  killLeftRuns();
  for (const pid of started) { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } }
  for (const pid of groups) { try { process.kill(-pid, "SIGKILL"); } catch { /* gone */ } }
  while (temps.length) rmTree(temps.pop());
  dirs.tmp = dirs.trees = null;
}

if (process.argv.includes("--child")) {
  child().catch((err) => { console.error(err.stack || err); process.exit(1); });
} else {
  let interrupted = false;
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.once(sig, () => {
      interrupted = true;
      console.error(`\n${sig}: stopping Node-RED and restic, removing the temp folders`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  main().then(
    async (pass) => { await cleanup(); process.exitCode = pass ? 0 : 1; },
    async (err) => { if (!interrupted) console.error(err.stack || err); await cleanup(); process.exitCode = 2; },
  );
}
