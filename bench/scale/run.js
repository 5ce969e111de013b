#!/usr/bin/env node
"use strict";
// Costs that must not grow with the history: two real Node-RED 4 processes (red.js, the package
// linked into the userDir) with the same 200 deployed backup jobs, one with 500 runs of history
// each (100,000 records), one with none. Prints, for GET highball/jobs (what the Backups tab
// polls), asked as a browser asks (gzip accepted): median time with ÷ without history (target
// ≤ 1.2) and Node-RED's CPU per request; the same without compression and for the tab's poll
// that finds nothing new (304), both reported;
// Node-RED's RSS with ÷ without history after the requests (target ≤ 1.2); and what the start
// with history cost (the jobs' summary built once from the history files, then not again).
//
//   node bench/scale/run.js [--jobs 200] [--runs 500] [--requests 300] [--quick]
//
// How the history is made: by real runs, multiplied. A first Node-RED runs each of the 200
// jobs once through the admin API (POST highball/jobs/:id/run: real rsync of a small tree), so
// every history file, record and log is the product's own; then, with Node-RED stopped, each
// job's one real record is repeated 500 times back in time (new run ids, hourly times, a mix of
// statuses), as a year of hourly runs leaves it (100,000 real runs would take hours), and the
// summary is removed: the next start builds it from the history files once, as after an upgrade,
// and is timed apart; the measured process is the start after that.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const http = require("node:http");
const zlib = require("node:zlib");
const { performance } = require("node:perf_hooks");

const ROOT = path.resolve(__dirname, "..", "..");
const { startNodeRed } = require(path.join(ROOT, "test/support/node-red-process"));
const util = require(path.join(ROOT, "test/fixtures/util"));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith("--") ? true : v;
}
const QUICK = arg("quick", false) === true;
const JOBS = Number(arg("jobs", QUICK ? 20 : 200));
const RUNS = Number(arg("runs", QUICK ? 50 : 500));
const REQUESTS = Number(arg("requests", QUICK ? 20 : 300));
const MB = 1024 * 1024;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function flows(src, dst) {
  const f = [{ id: "tab", type: "tab", label: "scale" }];
  for (let i = 0; i < JOBS; i++) {
    f.push({
      id: `job${i}`, z: "tab", type: "highball-backup-job", name: `job ${i}`, engine: "rsync",
      source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: path.join(dst, String(i)) }, wires: [["run-rsync"]],
    });
  }
  // Its id is not "rsync": Node-RED would take the jobs' engine: "rsync" for a reference to it.
  f.push({ id: "run-rsync", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [[], []] });
  return f;
}

/** Each job run once for real (the admin API's run now), a few at a time. */
async function runEach(red) {
  const ids = Array.from({ length: JOBS }, (_, i) => `job${i}`);
  for (let i = 0; i < ids.length; i += 8) {
    for (const id of ids.slice(i, i + 8)) {
      const r = await red.post(`highball/jobs/${id}/run`);
      if (r.status !== 202) throw new Error(`run ${id}: ${r.status} ${r.text}`);
    }
    await util.waitFor(async () => {
      const list = (await red.get("highball/jobs")).json;
      return ids.slice(i, i + 8).every((id) => { const j = list.find((x) => x.id === id); return j && !j.running && j.last; });
    }, { timeout: 120000, what: `jobs ${i}-${i + 7} to run` });
  }
}

/** Each job's real record, repeated RUNS times back in time, newest first, in the product's own file. */
function multiplyHistory(home) {
  const dir = path.join(home, "history");
  const statuses = ["success", "success", "success", "warning", "failed"];
  let n = 0;
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".json"))) {
    const file = path.join(dir, f);
    const h = JSON.parse(fs.readFileSync(file, "utf8"));
    if (!Array.isArray(h.runs) || h.runs.length !== 1) throw new Error(`${f}: expected one real run, found ${h.runs && h.runs.length}`);
    const real = h.runs[0];
    h.runs = [real];
    for (let r = 1; r < RUNS; r++) {
      const status = statuses[(r + n) % statuses.length];
      const shift = r * 3600e3;
      h.runs.push({
        ...real, runId: `${real.runId.slice(0, 16)}${r.toString(16).padStart(5, "0")}${n.toString(16).padStart(3, "0")}`,
        startedAt: real.startedAt - shift, finishedAt: real.finishedAt - shift, status, ok: status !== "failed",
        exitCode: status === "failed" ? 23 : real.exitCode, error: status === "failed" ? "rsync could not read some files (exit code 23)" : real.error,
      });
    }
    fs.writeFileSync(file, JSON.stringify(h) + "\n", { mode: 0o600 });
    n++;
  }
  if (n !== JOBS) throw new Error(`${n} history files for ${JOBS} jobs`);
  fs.rmSync(path.join(home, "summary.json"), { force: true });
}

function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime in clock ticks of 10 ms (CLK_TCK 100 on Linux)
}

function rssMB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function ready(red) {
  await util.waitFor(async () => {
    const r = await red.get("highball/jobs");
    return r.status === 200 && r.json.length === JOBS;
  }, { timeout: 120000, what: "every job deployed" });
  // Warm-up: the route and the HTTP paths compiled by V8 before anything is timed.
  for (let i = 0; i < 50; i++) await red.get("highball/jobs");
}

// What a browser sends with every request, and what a client without compression sends.
const BROWSER = { Accept: "application/json", "Accept-Encoding": "gzip, deflate, br" };
const PLAIN = { Accept: "application/json", "Accept-Encoding": "identity" };

/**
 * One GET highball/jobs, timed until its last byte and, when it came compressed, until it is
 * inflated (a browser inflates too); the bench's own JSON parse is not timed. A 304 (the answer
 * to If-None-Match with the list's tag) counts as a poll that found nothing new.
 */
function one(red, headers) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(`${red.url}highball/jobs`, { agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        let buf = Buffer.concat(chunks);
        if (res.headers["content-encoding"] === "gzip") buf = zlib.gunzipSync(buf);
        const ms = performance.now() - t0;
        if (res.statusCode !== 200 && !(res.statusCode === 304 && headers["If-None-Match"])) return reject(new Error(`GET highball/jobs: ${res.statusCode}`));
        resolve({ ms, bytes: buf.length, wire: Buffer.concat(chunks).length, tag: res.headers.etag, body: () => JSON.parse(buf.toString("utf8")) });
      });
    }).once("error", reject);
  });
}

/**
 * Requests to both runtimes in alternating pairs, so the machine's drift hits both alike, with
 * the given headers (a function of the runtime, for If-None-Match).
 */
async function measure(a, b, headersOf) {
  const ta = [], tb = [];
  const cpu0 = [cpuMs(a.pid), cpuMs(b.pid)];
  let last = null, lastB = null;
  for (let i = 0; i < REQUESTS; i++) {
    const runA = async () => { last = await one(a, headersOf(a)); ta.push(last.ms); };
    const runB = async () => { lastB = await one(b, headersOf(b)); tb.push(lastB.ms); };
    if (i % 2) { await runA(); await runB(); } else { await runB(); await runA(); }
  }
  const cpu = [(cpuMs(a.pid) - cpu0[0]) / REQUESTS, (cpuMs(b.pid) - cpu0[1]) / REQUESTS];
  await new Promise((r) => setTimeout(r, 1000));
  const stat = (t, c, red, x) => ({ ms: median(t), max: Math.max(...t), cpu: c, rss: rssMB(red.pid), bytes: x.bytes, wire: x.wire });
  return { with_: { ...stat(ta, cpu[0], a, last), body: last.body }, without: stat(tb, cpu[1], b, lastB), ratio: median(ta.map((x, i) => x / tb[i])) };
}

async function main() {
  console.log(`# scale bench: ${JOBS} jobs, ${RUNS} runs of history each (${JOBS * RUNS} records), ${REQUESTS} requests, node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "highball-bench-scale-"));
  const dirWith = path.join(base, "with"), dirWithout = path.join(base, "without");
  const homeWith = path.join(dirWith, "highball");
  const src = path.join(base, "src"), dst = path.join(base, "dst");
  util.makeTree(src, { files: 3, size: 1024, subdirs: 1 });
  const reds = [];
  try {
    let t = performance.now();
    const first = await startNodeRed({ flows: flows(src, dst), userDir: dirWith, name: "scale-runs" });
    reds.push(first);
    await util.waitFor(async () => (await first.get("highball/jobs")).json?.length === JOBS, { timeout: 120000, what: "every job deployed" }).catch((e) => { throw new Error(`${e.message}\n${first.log().slice(-3000)}`); });
    await runEach(first);
    await first.stop();
    console.log(`real runs: ${JOBS} (one a job, through POST highball/jobs/:id/run), ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    multiplyHistory(homeWith);
    const bytes = fs.readdirSync(path.join(homeWith, "history")).reduce((n, f) => n + fs.statSync(path.join(homeWith, "history", f)).size, 0);
    console.log(`history multiplied: ${(bytes / MB).toFixed(0)} MB in ${JOBS} files, ${JOBS * RUNS} records, ${((performance.now() - t) / 1000).toFixed(1)} s`);
    // The first start on the history: the summary is built from it once (an upgrade's migration).
    t = performance.now();
    let red = await startNodeRed({ flows: flows(src, dst), userDir: dirWith, name: "scale-migrate" });
    reds.push(red);
    await util.waitFor(async () => fs.existsSync(path.join(homeWith, "summary.json")) && (await red.get("highball/jobs")).json?.length === JOBS, { timeout: 300000, what: "the summary built" });
    const migrate = performance.now() - t;
    await red.stop();

    t = performance.now();
    red = await startNodeRed({ flows: flows(src, dst), userDir: dirWith, name: "scale-with" });
    reds.push(red);
    await ready(red);
    const startWith = performance.now() - t;
    t = performance.now();
    const plain = await startNodeRed({ flows: flows(src, dst), userDir: dirWithout, name: "scale-without" });
    reds.push(plain);
    await ready(plain);
    const startWithout = performance.now() - t;
    // As the Backups tab asks (a browser: gzip accepted), then without compression, then the
    // tab's poll when nothing changed (the browser revalidates its copy with the list's ETag).
    const { with_, without, ratio } = await measure(red, plain, () => BROWSER);
    const raw = await measure(red, plain, () => PLAIN);
    const tags = new Map([[red, (await one(red, BROWSER)).tag], [plain, (await one(plain, BROWSER)).tag]]);
    const poll = await measure(red, plain, (r) => ({ ...BROWSER, "If-None-Match": tags.get(r) }));

    const j = with_.body().find((x) => x.id === "job0");
    if (!j.last || !j.counts || !j.lastSuccess) throw new Error(`the job list lacks the history's summary: ${JSON.stringify(j)}`);
    const rows = [
      ["GET highball/jobs as a browser asks (gzip), median: with / without history", `${with_.ms.toFixed(1)} / ${without.ms.toFixed(1)} ms = ${(with_.ms / without.ms).toFixed(3)} (paired: ${ratio.toFixed(3)})`, "≤ 1.2", ratio <= 1.2],
      ["  Node-RED CPU per request: with / without", `${with_.cpu.toFixed(1)} / ${without.cpu.toFixed(1)} ms`, "reported", true],
      ["  answer size: with / without (each job's last result, last success, counts)", `${(with_.bytes / 1024).toFixed(0)} / ${(without.bytes / 1024).toFixed(0)} KiB, gzip ${(with_.wire / 1024).toFixed(1)} / ${(without.wire / 1024).toFixed(1)} KiB`, "reported", true],
      ["  slowest request: with / without", `${with_.max.toFixed(1)} / ${without.max.toFixed(1)} ms`, "reported", true],
      ["  the same without compression (a client that does not accept gzip)", `${raw.with_.ms.toFixed(1)} / ${raw.without.ms.toFixed(1)} ms = ${(raw.with_.ms / raw.without.ms).toFixed(3)} (paired: ${raw.ratio.toFixed(3)})`, "reported", true],
      ["  the tab's poll when nothing changed (304 to If-None-Match)", `${poll.with_.ms.toFixed(1)} / ${poll.without.ms.toFixed(1)} ms = ${(poll.with_.ms / poll.without.ms).toFixed(3)} (paired: ${poll.ratio.toFixed(3)})`, "reported", true],
      ["Node-RED RSS after the requests: with / without history", `${with_.rss.toFixed(0)} / ${without.rss.toFixed(0)} MB = ${(with_.rss / without.rss).toFixed(3)}`, "≤ 1.2", with_.rss / without.rss <= 1.2],
      ["start until every job is listed: with / without history", `${(startWith / 1000).toFixed(1)} / ${(startWithout / 1000).toFixed(1)} s`, "reported", true],
      [`first start on ${JOBS * RUNS} records without a summary (built once)`, `${(migrate / 1000).toFixed(1)} s`, "reported", true],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    console.log("");
    console.log(`${"figure".padEnd(w0)}  ${"value".padEnd(w1)}  target`);
    for (const [a, b, c, ok] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c} ${ok ? "ok" : "MISSED"}`);
    console.log(`job0 as listed: last ${j.last.status} at ${new Date(j.last.finishedAt).toISOString()}, counts ${JSON.stringify(j.counts)}`);
    console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  } finally {
    for (const r of reds) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
