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
// How the history is made: the history files are written in their on-disk format before
// Node-RED starts (what a Highball that ran for a year leaves; 100,000 real runs would take
// days), with no summary file: the first start migrates them into the summary, as after an
// upgrade, and is timed apart; the measured process is a second start on the same folder.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const crypto = require("node:crypto");
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

function keyFile(key) {
  return crypto.createHash("sha256").update(key).digest("hex").slice(0, 32);
}

function flows() {
  const f = [{ id: "tab", type: "tab", label: "scale" }];
  for (let i = 0; i < JOBS; i++) {
    f.push({
      id: `job${i}`, z: "tab", type: "highball-backup-job", name: `job ${i}`, engine: "rsync",
      source: { type: "local", paths: [{ path: `/srv/data/${i}` }] }, destination: { type: "local", path: `/backup/${i}` }, wires: [[]],
    });
  }
  return f;
}

/** 500 records a job, newest first, as the engine writes them (History.add). */
function writeHistory(home) {
  const dir = path.join(home, "history");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const now = Date.now();
  const statuses = ["success", "success", "success", "warning", "failed"];
  for (let j = 0; j < JOBS; j++) {
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      const finishedAt = now - r * 3600e3 - j * 1000;
      const status = statuses[(r + j) % statuses.length];
      runs.push({
        job: `job ${j}`, jobId: `job${j}`, runId: `20260101T000000-${j.toString(16).padStart(3, "0")}${r.toString(16).padStart(3, "0")}`,
        engine: "rsync", command: "sync", status, ok: status !== "failed", startedAt: finishedAt - 60000, finishedAt, durationMs: 60000,
        exitCode: status === "failed" ? 23 : 0, filesTotal: 12000 + r, filesChanged: r % 40, bytesTotal: 4e9 + r, bytesTransferred: r * 1e5,
        snapshotId: null, error: status === "failed" ? "rsync could not read some files (exit code 23)" : null,
        logFile: "", nodeId: `job${j}`, details: { stats: { sent: r * 1e5, received: 1e4, speedup: 412.5 }, attempts: 1 },
      });
    }
    fs.writeFileSync(path.join(dir, `${keyFile(`job${j}`)}.json`), JSON.stringify({ key: `job${j}`, name: `job ${j}`, runs }) + "\n", { mode: 0o600 });
  }
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
  let t = performance.now();
  writeHistory(homeWith);
  const bytes = fs.readdirSync(path.join(homeWith, "history")).reduce((n, f) => n + fs.statSync(path.join(homeWith, "history", f)).size, 0);
  console.log(`history written: ${(bytes / MB).toFixed(0)} MB in ${JOBS} files, ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const reds = [];
  try {
    // The first start on the history: the summary is built from it once (an upgrade's migration).
    t = performance.now();
    let red = await startNodeRed({ flows: flows(), userDir: dirWith, name: "scale-migrate" });
    reds.push(red);
    await util.waitFor(async () => fs.existsSync(path.join(homeWith, "summary.json")) && (await red.get("highball/jobs")).json?.length === JOBS, { timeout: 300000, what: "the summary built" });
    const migrate = performance.now() - t;
    await red.stop();

    t = performance.now();
    red = await startNodeRed({ flows: flows(), userDir: dirWith, name: "scale-with" });
    reds.push(red);
    await ready(red);
    const startWith = performance.now() - t;
    t = performance.now();
    const plain = await startNodeRed({ flows: flows(), userDir: dirWithout, name: "scale-without" });
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
