#!/usr/bin/env node
"use strict";
// The rsync pipeline against raw rsync, through a real embedded Node-RED 4 runtime that loads
// this package from a userDir/node_modules link, with the flow inject → backup-job → rsync-run
// → function. Prints, in one run:
//   1. median wall time pipeline / raw rsync (same argv, taken from the run's log) for the
//      first full copy of a tree of small files, and for a no-op sync of the unchanged tree;
//   2. the Node-RED process's RSS growth and event-loop delay p99 while rsync lists a large
//      tree verbosely (--itemize-changes from the product, -v from the node's extra args).
//
//   node bench/rsync/run.js [--files 20000] [--big 200000] [--repeat 21] [--noop-repeat 63] [--quick] [--profile]
//                         [--decompose] [--tree-dir DIR]
//
// The trees go to /dev/shm (tmpfs) unless --tree-dir says otherwise: on VM disks where creating
// a file costs a millisecond, 200,000 files would take minutes, and a faster disk makes raw
// rsync faster, so the pipeline's share of the time is larger (a stricter ratio).
// --decompose adds, after part 1, the first copy run in this process without Node-RED, piece by
// piece (raw, pipe drained only, the engine's stream path, and prototypes of two fixes).
// --profile records a V8 CPU profile of the Node-RED process during part 1's measured runs (one
// .cpuprofile per scenario, kept in the OS temp folder) and prints its top functions by self time.
// --quick is a smoke run: 2,000 files, 20,000 for part 2, 3 repetitions.
// Uses the built package: run `npm run build` first.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn, spawnSync, fork } = require("node:child_process");
const { performance, monitorEventLoopDelay } = require("node:perf_hooks");

const ROOT = path.resolve(__dirname, "..", "..");
const PKG = require(path.join(ROOT, "package.json"));
const RESULT_FN = "highballBenchResult";

// ---------------------------------------------------------------- options

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith("--") ? true : v;
}

// ---------------------------------------------------------------- shared helpers

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const MB = 1024 * 1024;

/** The Node-RED process's spawner, whose children the tools are (set in the Node-RED process). */
let spawnerPid = null;

/** CPU time (ms) of a process's reaped children, from /proc: clock ticks are 10 ms. */
function reapedCpuMs(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[13]) + Number(f[14])) * 10; // cutime + cstime (fields 16, 17)
}

/** CPU time of this process's tools: its own children's and its spawner's. */
function childrenCpuMs() {
  let ms = reapedCpuMs("self");
  if (spawnerPid) { try { ms += reapedCpuMs(spawnerPid); } catch { /* restarted: counted from the next run */ } }
  return ms;
}

// ================================================================ child: the Node-RED process

async function child() {
  const cfg = JSON.parse(process.env.HIGHBALL_BENCH_CFG);
  const express = require(require.resolve("express", { paths: [path.dirname(require.resolve("node-red/package.json", { paths: [ROOT] }))] }));
  const RED = require(require.resolve("node-red", { paths: [ROOT] }));
  const http = require("node:http");

  let pending = null; // { resolve } of the run waiting for its result message
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

  // Where a run's time goes, from the engine's own events: the package's engine module is the
  // one loaded here too (the userDir link resolves to this checkout), so Engine.get is the same.
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
      // The run's process handle is set when the spawn is asked for; its `started` settles with
      // the PID, its `done` when the tool has exited and its output has been read.
      Object.defineProperty(run, "proc", {
        configurable: true, enumerable: true, get: () => proc,
        set: (v) => {
          proc = v;
          if (!v || ph.spawning) return;
          ph.spawning = true;
          // The tool has started when its PID is known (the spawner reports it after its spawn()).
          const spawned = () => { ph.spawned = performance.now(); };
          if (v.started) v.started.then(spawned); else spawned();
          v.done.then(() => { ph.exited = performance.now(); });
        },
      });
    });
    engine.on("end", () => { if (phase) phase.end = performance.now(); });
    try {
      const { Spawner } = require(path.join(ROOT, "dist", "lib", "runs", "spawner.js"));
      spawnerPid = Spawner.shared()?.pid ?? null;
    } catch { /* no spawner in this version */ }
    // Time of the run bookkeeping on disk: the registry's synchronous saves, the history's add.
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
        ms: t1 - t0, cpuMs: (cpu.user + cpu.system) / 1000, rsyncCpuMs: childrenCpuMs() - kids0, phases,
        payload: msg.payload, logFile: msg.run && msg.run.logFile, details: msg.run && msg.run.details,
      };
    });
  }

  const rss = () => process.memoryUsage.rss();
  function hwm() {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  }

  async function measure(inject) {
    // Baseline: one second of 50 ms samples of the idle runtime, right before the run.
    const before = [];
    await new Promise((resolve) => {
      const t = setInterval(() => { before.push(rss()); if (before.length >= 20) { clearInterval(t); resolve(); } }, 50);
    });
    const baseline = median(before);
    // Reset the kernel's peak-RSS mark, so VmHWM afterwards is this run's true peak (a check
    // on the 50 ms sampling, which cannot see a peak between two samples).
    let hwmReset = false;
    try { fs.writeFileSync("/proc/self/clear_refs", "5"); hwmReset = true; } catch { /* older kernel or not allowed */ }
    let peak = rss();
    let samples = 0;
    const sampler = setInterval(() => { const r = rss(); samples++; if (r > peak) peak = r; }, 50);
    const eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
    const run = await trigger(inject);
    eld.disable();
    clearInterval(sampler);
    const last = rss();
    if (last > peak) peak = last;
    return {
      ...run, baseline, peak, samples, hwm: hwmReset ? hwm() : null,
      eld: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6, count: eld.count },
    };
  }

  // CPU profile of the runs only (not of Node-RED's start), through the inspector.
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
    else if (m.cmd === "measure") reply(measure(m.inject));
    else if (m.cmd === "stop") {
      reply((async () => {
        await RED.stop();
        await new Promise((resolve) => server.close(() => resolve()));
        return true;
      })().finally(() => setImmediate(() => process.exit(0))));
    }
  });
  process.on("disconnect", () => process.exit(0)); // the bench died: do not linger
  process.on("SIGINT", () => undefined); // Ctrl-C: the bench stops this runtime, which cancels its runs
  process.send({ ready: true, nodeRed: RED.version(), pid: process.pid, spawner: spawnerPid });
}

// ================================================================ parent: trees, raw runs, report

const started = new Set(); // PIDs of processes this script started and has not yet seen end
const groups = new Set(); // process groups (leader PIDs) of tools this script started detached
const temps = []; // temp dirs of this run, removed at the end
const dirs = { tmp: null, trees: null };
let redChild = null;

function mkTmp(parent) {
  const dir = fs.mkdtempSync(path.join(parent, "highball-bench-rsync-"));
  temps.push(dir);
  return dir;
}

/** Where the trees go: tmpfs when there is one, because creating a file costs ~1 ms on some VM disks. */
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
  // rm(1) drops hundreds of thousands of entries several times faster than fs.rmSync.
  const r = spawnSync("rm", ["-rf", "--", dir], { stdio: "inherit" });
  if (r.status !== 0) fs.rmSync(dir, { recursive: true, force: true });
}

/** Deterministic small files (xorshift32): `files` files of 1–8 KiB in folders of 200. */
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

/** Tiny files (a few bytes each) in folders of 1,000, as fast as node can make them. */
function makeTinyTree(dir, files) {
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `d${String(Math.floor(i / 1000)).padStart(4, "0")}`);
    if (i % 1000 === 0) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${String(i).padStart(7, "0")}`), `${i}\n`);
  }
  return { files };
}

function flowFor(chains, rsyncRunProps = {}) {
  const flow = [{ id: "tab", type: "tab", label: "bench" }];
  for (const c of chains) {
    flow.push(
      { id: `inj-${c.id}`, z: "tab", type: "inject", name: "", props: [{ p: "payload" }], payload: "", payloadType: "date", repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", wires: [[`job-${c.id}`]] },
      { id: `job-${c.id}`, z: "tab", type: "highball-backup-job", name: c.name, engine: "rsync", source: { type: "local", paths: [{ path: c.src }] }, destination: { type: "local", path: c.dst }, wires: [[`run-${c.id}`]] },
      { id: `run-${c.id}`, z: "tab", type: "highball-rsync-run", name: "", args: "", bwlimit: "", logTail: 20, ...rsyncRunProps, wires: [[`res-${c.id}`], []] },
      { id: `res-${c.id}`, z: "tab", type: "function", name: "result", func: `global.get(${JSON.stringify(RESULT_FN)})(msg);\nreturn null;`, outputs: 1, timeout: 0, noerr: 0, initialize: "", finalize: "", libs: [], wires: [[]] },
    );
  }
  return flow;
}

/** A Node-RED userDir where the package is installed as a user module (a link to this checkout). */
function makeUserDir(dir, flow) {
  fs.mkdirSync(path.join(dir, "node_modules", ...PKG.name.split("/").slice(0, -1)), { recursive: true });
  fs.symlinkSync(ROOT, path.join(dir, "node_modules", ...PKG.name.split("/")), "dir");
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "node-red-project", private: true, dependencies: { [PKG.name]: `file:${ROOT}` } }, null, 2));
  fs.writeFileSync(path.join(dir, "flows.json"), JSON.stringify(flow, null, 2));
}

/** Starts a Node-RED process; resolves with a handle once its flows run. */
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

/** The argv of the run's "# rsync ..." log line (words with specials are JSON strings there). */
function argvFromLog(file) {
  const line = fs.readFileSync(file, "utf8").split("\n").find((l) => /^# (\S*\/)?rsync /.test(l));
  if (!line) throw new Error(`no "# rsync ..." line in ${file}`);
  return line.slice(2).match(/"(?:[^"\\]|\\.)*"|\S+/g).map((w) => (w.startsWith('"') ? JSON.parse(w) : w));
}

/**
 * Like `setsid rsync ... >log 2>&1`: the tool writes its log itself, nothing in between, in a
 * session of its own as the product starts it (a run owns its process group). With the kernel's
 * autogroup scheduling a session is a CPU-share group, so both sides get the same share
 * (bench/restic found the difference measurable on a busy machine).
 */
function rawRun(argv, logFile) {
  return new Promise((resolve, reject) => {
    const fd = fs.openSync(logFile, "w");
    const kids0 = childrenCpuMs();
    const t0 = performance.now();
    const p = spawn(argv[0], argv.slice(1), { stdio: ["ignore", fd, fd], detached: true });
    fs.closeSync(fd);
    started.add(p.pid);
    groups.add(p.pid);
    p.once("error", reject);
    p.once("exit", (code, signal) => {
      const ms = performance.now() - t0;
      started.delete(p.pid);
      groups.delete(p.pid);
      if (code !== 0) reject(new Error(`raw rsync ended with ${signal || `exit ${code}`}: ${fs.readFileSync(logFile, "utf8").slice(-2000)}`));
      else resolve({ ms, rsyncCpuMs: childrenCpuMs() - kids0 });
    });
  });
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
  spawnSync("sync", [], { stdio: "ignore" }); // dirty pages of the last copy must not slow the next
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/**
 * The first copy again, in this (small) process and without Node-RED: raw, rsync into a pipe that
 * is only drained, the engine's streaming path as shipped (spawnPlan → RunLog + RsyncParser), and
 * two prototypes of fixes: the same with log writes batched, and rsync writing its stdout straight
 * into the log file while node reads that file in large bites. Says which part costs what.
 */
async function decompose(argv, dst, files, repeat, dir) {
  const { spawnPlan } = require(path.join(ROOT, "dist", "lib", "runs", "process.js"));
  const { RunLog } = require(path.join(ROOT, "dist", "lib", "runs", "log.js"));
  const { RsyncParser } = require(path.join(ROOT, "dist", "lib", "engines", "rsync.js"));
  const plan = { command: argv[0], args: argv.slice(1) };
  const log = path.join(dir, "decompose.log");
  const wait = (p) => new Promise((resolve, reject) => {
    started.add(p.pid);
    p.once("error", reject);
    p.once("close", (code) => { started.delete(p.pid); if (code === 0) resolve(); else reject(new Error(`rsync exit ${code}`)); });
  });
  // spawnPlan puts the tool in its own process group: remember it, so an interrupt can stop it.
  const ownGroup = async (sp) => {
    groups.add(sp.pid);
    try { await sp.done; } finally { groups.delete(sp.pid); }
  };
  const sinkFor = (out) => {
    const parser = new RsyncParser([argv[argv.length - 2]]);
    let last = 0;
    return (stream, line, transient) => {
      if (!transient && out) out.write(stream === "stderr" ? `! ${line}` : line);
      if (stream === "stdout") parser.stdout(line); else parser.stderr(line);
      const now = Date.now();
      if (now - last >= 500) { last = now; parser.takeProgress(); }
    };
  };
  /** RunLog with its writes gathered: one write per 64 KiB or per 100 ms. */
  class BatchedLog {
    constructor(file) { this.out = fs.createWriteStream(file, { flags: "a" }); this.parts = []; this.size = 0; this.timer = null; this.drained = null; }
    write(line) { this.parts.push(line, "\n"); this.size += line.length + 1; if (this.size >= 65536) this.flush(); else this.timer ??= setTimeout(() => this.flush(), 100); }
    flush() {
      clearTimeout(this.timer); this.timer = null;
      if (!this.size) return;
      const ok = this.out.write(this.parts.join(""));
      this.parts = []; this.size = 0;
      if (!ok && !this.drained) this.drained = new Promise((resolve) => this.out.once("drain", () => { this.drained = null; resolve(); }));
    }
    wait() { return this.drained; }
    close() { this.flush(); return new Promise((resolve) => this.out.end(resolve)); }
  }
  const variants = {
    "raw rsync > file": () => rawRun(argv, log).then(() => undefined),
    "rsync | node (drain only)": () => {
      const p = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
      p.stdout.resume(); p.stderr.resume();
      return wait(p);
    },
    "engine stream path (shipped)": async () => {
      const out = new RunLog(log);
      await ownGroup(spawnPlan(plan, sinkFor(out), out));
      await out.close();
    },
    "  + batched log writes": async () => {
      const out = new BatchedLog(log);
      await ownGroup(spawnPlan(plan, sinkFor(out), out));
      await out.close();
    },
    "rsync > log, node reads log": async () => {
      const fd = fs.openSync(log, "w");
      const p = spawn(argv[0], argv.slice(1), { stdio: ["ignore", fd, "pipe"] });
      fs.closeSync(fd);
      const sink = sinkFor(null);
      const rfd = fs.openSync(log, "r");
      const buf = Buffer.alloc(1 << 20);
      let pos = 0, rest = "";
      const pump = () => {
        for (let n; (n = fs.readSync(rfd, buf, 0, buf.length, pos)) > 0;) {
          pos += n;
          const text = rest + buf.toString("utf8", 0, n);
          let start = 0;
          for (let i = 0; i < text.length; i++) {
            const c = text.charCodeAt(i);
            if (c !== 10 && c !== 13) continue;
            sink("stdout", text.slice(start, i), c === 13);
            start = i + 1;
          }
          rest = text.slice(start);
        }
      };
      const timer = setInterval(pump, 200);
      p.stderr.resume();
      try { await wait(p); } finally { clearInterval(timer); pump(); fs.closeSync(rfd); }
    },
  };
  const names = Object.keys(variants);
  const t = Object.fromEntries(names.map((n) => [n, []]));
  const cpu = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < repeat + 1; i++) {
    for (const n of i % 2 ? [...names].reverse() : names) {
      rmTree(dst);
      syncDisks();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await variants[n]();
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i === 0) continue; // warm-up
      t[n].push(ms);
      cpu[n].push((c.user + c.system) / 1000);
    }
  }
  const rawMed = median(t[names[0]]);
  console.log(`  decomposition of the first copy (${files} files, no Node-RED, ${repeat} alternating runs each):`);
  for (const n of names) {
    console.log(`    ${n.padEnd(30)} ${median(t[n]).toFixed(0).padStart(6)} ms  ratio ${(median(t[n]) / rawMed).toFixed(3)}  node CPU ${median(cpu[n]).toFixed(0).padStart(5)} ms  (${t[n].map((x) => x.toFixed(0)).join(" ")})`);
  }
  rmTree(dst);
}

/** Top functions by self time in a .cpuprofile. */
function profileSummary(file, top = 20) {
  const prof = JSON.parse(fs.readFileSync(file, "utf8"));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id);
  // Samples inside the profiler's own start and stop (serialising the profile) are not the product's.
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
  const big = Number(arg("big", quick ? 20000 : 200000));
  const repeat = Number(arg("repeat", quick ? 3 : 21));
  // A no-op run is short (~0.2 s), so the machine's noise weighs more on each one; it is also
  // cheap, so it gets three times the pairs: the median's spread shrinks by √3.
  const noopRepeat = Number(arg("noop-repeat", repeat * 3));
  const profile = arg("profile", false) === true;
  const decomp = arg("decompose", false) === true;
  if (!(files > 0) || !(big > 0) || !(repeat > 0) || !(noopRepeat > 0)) {
    console.error("usage: node bench/rsync/run.js [--files N] [--big N] [--repeat N] [--noop-repeat N] [--quick] [--profile] [--decompose] [--tree-dir DIR]");
    process.exit(2);
  }
  check(fs.existsSync(path.join(ROOT, "dist", "nodes", "highball-rsync-run", "highball-rsync-run.js")), "the package is built (npm run build)");
  const t0 = performance.now();
  const tmp = mkTmp(os.tmpdir());
  const trees = mkTmp(treeParent(arg("tree-dir", null)));
  dirs.tmp = tmp;
  dirs.trees = trees;
  const rsyncVersion = (spawnSync("rsync", ["--version"], { encoding: "utf8" }).stdout || "").split("\n")[0].replace(/\s+/g, " ").trim();
  const redVersion = require(require.resolve("node-red/package.json", { paths: [ROOT] })).version;
  console.log("environment");
  console.log(`  ${rsyncVersion}`);
  console.log(`  node ${process.version}, Node-RED ${redVersion} (embedded, own process), ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), ${Math.round(os.totalmem() / MB / 1024)} GiB RAM, ${os.platform()} ${os.release()}`);
  console.log(`  Node-RED userDir, run logs, raw log: ${tmp} (${fsType(tmp)}); trees: ${trees} (${fsType(trees)})`);
  console.log(`  sizes: --files ${files} --big ${big} --repeat ${repeat} --noop-repeat ${noopRepeat}${profile ? " --profile" : ""}${decomp ? " --decompose" : ""}`);
  // Taken before the bench adds its own load (a tool and Node-RED: about one core of two).
  const busyAtStart = os.loadavg()[0] > os.cpus().length * 0.5;
  console.log(`  load average at start: ${loadavg()}`);
  console.log("");

  // ---------------------------------------------------------------- part 1: ratio
  const src = path.join(trees, "src");
  const dst = path.join(trees, "dst", "copy");
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  let tt = performance.now();
  const made = makeSmallTree(src, files);
  console.log(`part 1: ${files} files, ${(made.bytes / MB).toFixed(1)} MiB made in ${((performance.now() - tt) / 1000).toFixed(1)} s`);

  const userDir1 = path.join(tmp, "red1");
  fs.mkdirSync(userDir1);
  makeUserDir(userDir1, flowFor([{ id: "a", name: "bench copy", src, dst }]));
  tt = performance.now();
  redChild = await startRed(userDir1, ["inj-a", "job-a", "run-a", "res-a"]);
  console.log(`  Node-RED ${redChild.info.nodeRed} started (pid ${redChild.info.pid}) in ${((performance.now() - tt) / 1000).toFixed(1)} s; tools started by ${redChild.info.spawner ? `its spawner (pid ${redChild.info.spawner})` : "Node-RED itself (HIGHBALL_SPAWNER=off)"}`);
  const logsDir = path.join(userDir1, "highball", "logs");
  const rawLog = path.join(tmp, "raw.log");

  const pipe = async (kind) => {
    const r = await redChild.call("run", { inject: "inj-a" });
    check(r.payload && r.payload.status === "success", `pipeline run succeeded (${r.payload && r.payload.error})`);
    check(r.payload.filesChanged === (kind === "copy" ? files : 0), `pipeline ${kind} moved ${kind === "copy" ? files : 0} files (got ${r.payload.filesChanged})`);
    check(r.payload.filesTotal === files, `pipeline counted ${files} files (got ${r.payload.filesTotal})`);
    return r;
  };

  // Warm-up (not counted): page cache, JIT, the history file; it also yields the argv.
  const warm = await pipe("copy");
  const argv = argvFromLog(path.join(logsDir, warm.logFile));
  const logLines = fs.readFileSync(path.join(logsDir, warm.logFile), "utf8").split("\n").length - 1;
  const itemized = (file) => fs.readFileSync(file, "utf8").split(/\r\n|\r|\n/).filter((l) => /^[<>ch.*][fdLDS]\S{9} /.test(l)).length;
  const warmItemized = itemized(path.join(logsDir, warm.logFile));
  check(warmItemized >= files, `the log holds one itemized line per file (${warmItemized})`);
  check(/(^|\/)rsync$/.test(argv[0]) && JSON.stringify(argv.slice(-3)) === JSON.stringify(["--", `${src}/`, dst]), `the log's command ${JSON.stringify(argv)} is rsync from ${src}/ to ${dst}`);
  console.log(`  argv (from the run log): ${argv.join(" ")}`);
  console.log(`  a first copy writes ${logLines} log lines, ${warmItemized} itemized`);
  rmTree(dst);
  syncDisks();
  await rawRun(argv, rawLog);

  const scenarios = [];
  const profiles = [];
  for (const kind of ["copy", "noop"]) {
    const p = [], r = [], pCpu = [], pRsync = [], rRsync = [], phases = [];
    const before = async () => { if (kind === "copy") rmTree(dst); syncDisks(); };
    if (profile) await redChild.call("profile-start");
    const n = kind === "noop" ? noopRepeat : repeat;
    for (let i = 0; i < n; i++) {
      // Alternate which goes first, so drift (cache, writeback, thermal) hits both alike.
      for (const which of i % 2 === 0 ? ["pipe", "raw"] : ["raw", "pipe"]) {
        await before();
        if (which === "pipe") {
          const x = await pipe(kind);
          p.push(x.ms); pCpu.push(x.cpuMs); pRsync.push(x.rsyncCpuMs);
          if (x.phases) phases.push(x.phases);
        } else {
          const x = await rawRun(argv, rawLog);
          r.push(x.ms); rRsync.push(x.rsyncCpuMs);
        }
      }
    }
    if (profile) {
      const file = path.join(os.tmpdir(), `highball-bench-rsync-${process.pid}-${kind}.cpuprofile`);
      await redChild.call("profile-stop", { file });
      profiles.push({ kind, file, ...profileSummary(file) });
    }
    // Each repetition's two runs ran back to back, under the same background load.
    const paired = median(p.map((x, i) => x / r[i]));
    const s = { kind, paired, p, r, pMed: median(p), rMed: median(r), ratio: median(p) / median(r), nodeCpu: median(pCpu), pRsyncCpu: median(pRsync), rRsyncCpu: median(rRsync) };
    scenarios.push(s);
    console.log(`  ${kind === "copy" ? "first copy" : "no-op sync"}: pipeline ${p.map((x) => x.toFixed(0)).join(" ")} ms | raw ${r.map((x) => x.toFixed(0)).join(" ")} ms | median of paired ratios ${paired.toFixed(3)}`);
    if (phases.length === p.length) {
      const m = (k) => median(phases.map((x) => x[k])).toFixed(1);
      console.log(`    pipeline phases (median ms): message to run start ${m("toStart")}, start to spawn ${m("toSpawn")}, spawn to rsync done ${m("tool")}, rsync done to run end ${m("toEnd")}, run end to result message ${m("toResult")}; of these, registry saves (sync, 3 per run) ${m("registry")}, history add ${m("history")}`);
    }
    console.log(`    CPU per run (median): Node-RED process ${s.nodeCpu.toFixed(0)} ms + its rsync ${s.pRsyncCpu} ms vs raw rsync ${s.rRsyncCpu} ms (CPU ratio ${((s.nodeCpu + s.pRsyncCpu) / s.rRsyncCpu).toFixed(2)})`);
  }
  await redChild.stop();
  redChild = null;
  if (decomp) await decompose(argv, dst, files, repeat, tmp);
  rmTree(dst);
  rmTree(src);

  // ---------------------------------------------------------------- part 2: memory, event loop
  const bigSrc = path.join(trees, "big");
  const bigDst = path.join(trees, "bigdst", "copy");
  const warmSrc = path.join(trees, "warm");
  const warmDst = path.join(trees, "warmdst", "copy");
  fs.mkdirSync(path.dirname(bigDst), { recursive: true });
  fs.mkdirSync(path.dirname(warmDst), { recursive: true });
  tt = performance.now();
  makeTinyTree(bigSrc, big);
  makeTinyTree(warmSrc, 200);
  syncDisks();
  console.log(`part 2: ${big} tiny files made in ${((performance.now() - tt) / 1000).toFixed(1)} s`);
  const userDir2 = path.join(tmp, "red2");
  fs.mkdirSync(userDir2);
  makeUserDir(userDir2, flowFor([
    { id: "w", name: "bench warm-up", src: warmSrc, dst: warmDst },
    { id: "b", name: "bench big", src: bigSrc, dst: bigDst },
  ], { args: "-v" }));
  redChild = await startRed(userDir2, ["inj-b", "run-b", "res-b", "inj-w"]);
  // A tiny run first, so code loaded on a runtime's first run is not counted as the listing's.
  const w = await redChild.call("run", { inject: "inj-w" });
  check(w.payload.status === "success", `warm-up run succeeded (${w.payload.error})`);
  const m = await redChild.call("measure", { inject: "inj-b" });
  check(m.payload.status === "success", `big run succeeded (${m.payload.error})`);
  check(m.payload.filesChanged === big, `big run copied ${big} files (got ${m.payload.filesChanged})`);
  const bigLog = path.join(userDir2, "highball", "logs", m.logFile);
  const bigLines = fs.readFileSync(bigLog, "utf8").split("\n").length - 1;
  const bigLogBytes = fs.statSync(bigLog).size;
  check(bigLines >= big, `the big run's log holds every line (${bigLines} lines)`);
  console.log(`  big run: ${(m.ms / 1000).toFixed(1)} s, ${bigLines} log lines (${(bigLogBytes / MB).toFixed(1)} MiB), ${m.samples} RSS samples`);
  console.log(`  RSS baseline ${(m.baseline / MB).toFixed(1)} MB, sampled peak ${(m.peak / MB).toFixed(1)} MB, kernel peak (VmHWM) ${m.hwm ? (m.hwm / MB).toFixed(1) + " MB" : "n/a"}`);
  console.log(`  event-loop delay p50 ${m.eld.p50.toFixed(1)} ms, p99 ${m.eld.p99.toFixed(1)} ms, max ${m.eld.max.toFixed(1)} ms; Node-RED CPU ${(m.cpuMs / 1000).toFixed(1)} s, rsync CPU ${(m.rsyncCpuMs / 1000).toFixed(1)} s`);
  await redChild.stop();
  redChild = null;

  // ---------------------------------------------------------------- report
  const rows = [];
  for (const s of scenarios) {
    const label = s.kind === "copy" ? `first copy, ${files} files` : `no-op sync, ${files} files`;
    // The figure is the median of the per-pair ratios: a pair's two runs ran back to back in
    // alternating order, so each ratio cancels what the machine did meanwhile; the ratio of the
    // two medians (shown beside it) compares runs from different moments and swings with drift.
    rows.push([`${label}: pipeline / raw`, `${s.paired.toFixed(3)} (medians ${s.pMed.toFixed(0)} / ${s.rMed.toFixed(0)} ms = ${s.ratio.toFixed(3)})`, "≤ 1.03", s.paired <= 1.03]);
  }
  const growth = (m.peak - m.baseline) / MB;
  const hwmGrowth = m.hwm ? (m.hwm - m.baseline) / MB : null;
  rows.push([`RSS growth, ${big}-file verbose listing`, `${growth.toFixed(1)} MB${hwmGrowth !== null ? ` (VmHWM: ${hwmGrowth.toFixed(1)} MB)` : ""}`, "≤ 50 MB", Math.max(growth, hwmGrowth ?? 0) <= 50]);
  rows.push([`event-loop delay p99, same run`, `${m.eld.p99.toFixed(1)} ms`, "≤ 50 ms", m.eld.p99 <= 50]);
  const w0 = Math.max(...rows.map((r) => r[0].length)), w1 = Math.max(...rows.map((r) => r[1].length)), w2 = 8;
  console.log("");
  console.log(`${"figure".padEnd(w0)}  ${"measured".padEnd(w1)}  ${"target".padEnd(w2)}  result`);
  console.log(`${"-".repeat(w0)}  ${"-".repeat(w1)}  ${"-".repeat(w2)}  ------`);
  for (const [a, b, c, ok] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c.padEnd(w2)}  ${ok ? "PASS" : "FAIL"}`);
  console.log(`(ratios: median of per-pair ratios over ${repeat} alternating pairs, ${noopRepeat} for the no-op; whole bench ${((performance.now() - t0) / 1000).toFixed(0)} s; load average at end: ${loadavg()})`);
  if (profile) console.log("note: with --profile the pipeline runs carry the sampling profiler's overhead; take the ratios from a run without it");
  if (busyAtStart) console.log(`note: other processes kept this machine busy as the bench started; wall-time ratios on ${os.cpus().length} cores move with that load (see the per-run times and the CPU ratios above)`);
  for (const prof of profiles) {
    console.log("");
    console.log(`CPU profile of the Node-RED process over the ${repeat} pipeline ${prof.kind} runs (and idle gaps): ${prof.totalMs.toFixed(0)} ms busy; top self time:`);
    for (const r of prof.rows) console.log(`  ${r.ms.toFixed(0).padStart(7)} ms ${r.pct.toFixed(1).padStart(5)}%  ${r.fn}`);
    console.log(`  (kept: ${prof.file})`);
  }
  return rows.every((r) => r[3]);
}

/** rsync processes a killed Node-RED left running (each run has its own process group). */
function killLeftRuns() {
  if (!dirs.tmp || !dirs.trees) return;
  for (const red of ["red1", "red2"]) {
    let runs = [];
    try { runs = JSON.parse(fs.readFileSync(path.join(dirs.tmp, red, "highball", "running.json"), "utf8")).runs || []; } catch { continue; }
    for (const r of runs) {
      let cmd = "";
      try { cmd = fs.readFileSync(`/proc/${r.pid}/cmdline`, "utf8"); } catch { continue; }
      // Only a run of ours: rsync, on one of this bench's trees.
      if (r.pid > 1 && cmd.includes("rsync") && cmd.includes(dirs.trees)) { try { process.kill(-r.pid, "SIGKILL"); } catch { /* gone */ } }
    }
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
      console.error(`\n${sig}: stopping Node-RED and rsync, removing the temp folders`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  main().then(
    async (pass) => { await cleanup(); process.exitCode = pass ? 0 : 1; },
    async (err) => { if (!interrupted) console.error(err.stack || err); await cleanup(); process.exitCode = 2; },
  );
}
