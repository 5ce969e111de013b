"use strict";
// The Prometheus text of GET highball/metrics, made from job summaries: names, labels, escaping,
// and a runs counter that never goes down when retention drops records.
const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const { renderMetrics, STATUS_CODE } = require("../../dist/lib/runs/metrics");
const { summarize } = require("../../dist/lib/runs/summary");

function run(runId, status, finishedAt, extra = {}) {
  return {
    job: "photos", jobId: "j1", runId, engine: "rsync", command: "rsync", status, ok: status === "success" || status === "warning",
    startedAt: finishedAt - 2000, finishedAt, durationMs: 2000, exitCode: 0, filesTotal: 10, filesChanged: 3,
    bytesTotal: 100, bytesTransferred: 42, snapshotId: null, error: null, logFile: `${runId}.log`, ...extra,
  };
}

function sample(text, name, labels) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${want}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("metrics text (lib/runs/metrics)", function () {
  it("states each job's last run, last success, running and next run in the SPEC's names and units", function () {
    const h = { key: "j1", name: "photos", runs: [run("r2", "failed", 1_700_000_100_000, { error: "boom" }), run("r1", "success", 1_700_000_000_000)] };
    const text = renderMetrics([{ name: "photos", engine: "rsync", summary: summarize(h, null), running: true, nextRun: 1_700_003_600_000 }]);
    const l = { job: "photos", engine: "rsync" };
    assert.equal(sample(text, "highball_job_last_status", l), STATUS_CODE.failed);
    assert.equal(STATUS_CODE.failed, 2);
    assert.equal(sample(text, "highball_job_last_run_timestamp_seconds", l), 1_700_000_100);
    assert.equal(sample(text, "highball_job_last_success_timestamp_seconds", l), 1_700_000_000);
    assert.equal(sample(text, "highball_job_last_duration_seconds", l), 2);
    assert.equal(sample(text, "highball_job_last_bytes_transferred", l), 42);
    assert.equal(sample(text, "highball_job_last_files_changed", l), 3);
    assert.equal(sample(text, "highball_job_running", l), 1);
    assert.equal(sample(text, "highball_job_next_run_timestamp_seconds", l), 1_700_003_600);
    assert.equal(sample(text, "highball_job_runs_total", { ...l, status: "failed" }), 1);
    assert.equal(sample(text, "highball_job_runs_total", { ...l, status: "success" }), 1);
    assert.equal(sample(text, "highball_job_runs_total", { ...l, status: "interrupted" }), 0);
    assert.match(text, /^# TYPE highball_job_runs_total counter$/m);
  });

  it("a job never run has running 0 and zero counters, and no last-run series", function () {
    const text = renderMetrics([{ name: "new", engine: "restic", summary: undefined, running: false, nextRun: null }]);
    assert.equal(sample(text, "highball_job_running", { job: "new", engine: "restic" }), 0);
    assert.equal(sample(text, "highball_job_runs_total", { job: "new", engine: "restic", status: "success" }), 0);
    assert.equal(sample(text, "highball_job_last_status", { job: "new", engine: "restic" }), undefined);
  });

  it("escapes quotes, backslashes and line feeds in job names, so a name cannot forge a series", function () {
    const name = 'evil"} highball_job_running{job="x\\\nz';
    const text = renderMetrics([{ name, engine: "rsync", summary: undefined, running: false, nextRun: null }]);
    assert.ok(text.includes('highball_job_running{job="evil\\"} highball_job_running{job=\\"x\\\\\\nz",engine="rsync"} 0'), text);
    assert.equal(text.split("\n").filter((l) => l.startsWith("highball_job_running")).length, 1);
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    if (check.error) this.skip();
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  it("repositories with known stats: size and snapshot count by profile", function () {
    const text = renderMetrics([], [{ profile: "nas", size: 1234, snapshots: 7 }, { profile: "cloud", size: null, snapshots: 2 }]);
    assert.equal(sample(text, "highball_repository_size_bytes", { profile: "nas" }), 1234);
    assert.equal(sample(text, "highball_repository_snapshots", { profile: "nas" }), 7);
    assert.equal(sample(text, "highball_repository_size_bytes", { profile: "cloud" }), undefined);
    assert.equal(sample(text, "highball_repository_snapshots", { profile: "cloud" }), 2);
  });

  it("highball_job_runs_total keeps counting when retention drops old records", function () {
    let runs = [run("r1", "success", 1000), run("r0", "failed", 500)];
    let s = summarize({ key: "j1", name: "photos", runs }, null);
    assert.deepEqual(s.totals, { success: 1, failed: 1 });
    // Two more runs; retention keeps two records only.
    runs = [run("r3", "success", 3000), run("r2", "failed", 2000)];
    s = summarize({ key: "j1", name: "photos", runs: [run("r3", "success", 3000), run("r2", "failed", 2000), run("r1", "success", 1000)] }, s);
    assert.deepEqual(s.totals, { success: 2, failed: 2 });
    s = summarize({ key: "j1", name: "photos", runs: [run("r4", "success", 4000), run("r3", "success", 3000)] }, s);
    assert.deepEqual(s.totals, { success: 3, failed: 2 });
    assert.deepEqual(s.counts, { success: 2 });
  });
});
