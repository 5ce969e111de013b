"use strict";
// GET highball/metrics scraped by a real Prometheus server (Debian's `prometheus`) from a real
// Node-RED behind adminAuth, authenticated with a token from adminAuth.tokens exactly as the
// README's scrape config does it; promtool checks the text itself.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const util = require("../fixtures/util");
const { startNodeRed, waitForJob, demoSetup } = require("../support/node-red-process");

const TOKEN = "scrape-token-7f3a9c";
const have = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

describe("GET highball/metrics scraped by a real Prometheus", function () {
  this.timeout(240000);
  let red, admin, prom, promUrl;

  before(async function () {
    if (!have("prometheus") || !have("promtool")) {
      throw new Error("prometheus and promtool are needed (Debian package prometheus; scripts/install-tools.sh installs it)");
    }
    const demo = demoSetup({ files: 4 });
    // The demo's restic repository, as `npm start` makes it.
    const pw = path.join(demo.data, "restic-password");
    fs.writeFileSync(pw, "metrics-test-password\n", { mode: 0o600 });
    const init = spawnSync("restic", ["init", "--repo", path.join(demo.data, "restic-repo"), "--password-file", pw, "--cache-dir", path.join(demo.data, "restic-cache")], { encoding: "utf8" });
    assert.equal(init.status, 0, `restic init: ${init.stderr}`);
    red = await startNodeRed({
      major: 4,
      flows: demo.flows,
      settings: {
        adminAuth: {
          type: "credentials",
          users: [{ username: "admin", password: "admin-pass-1", permissions: "*" }],
          tokens: { [TOKEN]: { user: "prometheus", permissions: "read" } },
        },
      },
    });
    admin = await red.token("admin", "admin-pass-1", "*");
    await waitForJob(red, "hb-demo-job", { token: admin });
    await waitForJob(red, "hb-demo-rjob", { token: admin });
    // One rsync run and one restic run, so every per-job metric has a value to show.
    for (const id of ["hb-demo-job", "hb-demo-rjob"]) {
      const t0 = Date.now();
      const r = await red.post(`highball/jobs/${id}/run`, undefined, { token: admin });
      assert.equal(r.status, 202, r.text);
      await util.waitFor(async () => {
        const j = (await red.get("highball/jobs", { token: admin })).json.find((x) => x.id === id);
        return j && !j.running && j.last && j.last.startedAt >= t0 - 1000 ? j : null;
      }, { timeout: 90000, what: `the run of ${id} to end` });
    }
    // The repository's stats, read once through the admin API, are what the metrics report.
    const st = await red.get("highball/profiles/hb-demo-profile/stats", { token: admin });
    assert.equal(st.status, 200, st.text);

    const dir = util.tmpDir("prometheus");
    await util.withFreePort(async (port) => {
      const config = path.join(dir, "prometheus.yml");
      fs.writeFileSync(config, [
        "global:",
        "  scrape_interval: 1s",
        "scrape_configs:",
        "  - job_name: highball",
        "    honor_labels: true",
        "    metrics_path: /highball/metrics",
        "    authorization:",
        "      type: Bearer",
        `      credentials: ${TOKEN}`,
        "    static_configs:",
        `      - targets: ["127.0.0.1:${red.port}"]`,
        "  - job_name: highball-no-token",
        "    metrics_path: /highball/metrics",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${red.port}"]`,
        "",
      ].join("\n"));
      const log = path.join(dir, "prometheus.log");
      const child = util.spawnDaemon("prometheus", [
        `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn",
      ], { name: "prometheus", log, cwd: dir });
      promUrl = `http://127.0.0.1:${port}`;
      prom = child;
      try {
        await util.waitFor(async () => {
          util.assertRunning(child, "prometheus", log);
          if (/address already in use/i.test(util.readTail(log, 4000))) {
            const err = new Error(`address already in use: port ${port}`);
            err.abort = true;
            throw err;
          }
          const r = await fetch(`${promUrl}/-/ready`).catch(() => null);
          return r && r.status === 200;
        }, { timeout: 60000, what: "prometheus to be ready" });
      } catch (err) {
        await util.stopPid(child.pid);
        prom = null;
        throw err;
      }
    });
  });

  after(async function () {
    if (prom) await util.stopPid(prom.pid);
    if (red) await red.stop();
  });

  async function query(q) {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = await r.json();
    assert.equal(body.status, "success", JSON.stringify(body));
    return body.data.result;
  }

  it("Prometheus scrapes every job's last status, times, sizes and run counts under the job's own name", async function () {
    const rows = await util.waitFor(async () => {
      const r = await query("highball_job_last_status");
      return r.length >= 2 ? r : null;
    }, { timeout: 60000, what: "a scrape with highball_job_last_status" });
    const byJob = Object.fromEntries(rows.map((r) => [r.metric.job, r]));
    assert.deepEqual(Object.keys(byJob).sort(), ["demo photos", "demo photos (restic)"]);
    assert.equal(byJob["demo photos"].metric.engine, "rsync");
    assert.equal(byJob["demo photos (restic)"].metric.engine, "restic");
    for (const r of rows) assert.equal(r.value[1], "0", `${r.metric.job}: last status success (0)`);

    const jobs = (await red.get("highball/jobs", { token: admin })).json;
    const rs = jobs.find((j) => j.id === "hb-demo-job");
    const [lastRun] = await query('highball_job_last_run_timestamp_seconds{job="demo photos"}');
    assert.equal(Number(lastRun.value[1]), rs.last.finishedAt / 1000);
    const [lastOk] = await query('highball_job_last_success_timestamp_seconds{job="demo photos"}');
    assert.equal(Number(lastOk.value[1]), rs.lastSuccess.finishedAt / 1000);
    const [bytes] = await query('highball_job_last_bytes_transferred{job="demo photos"}');
    assert.equal(Number(bytes.value[1]), rs.last.bytesTransferred);
    const [files] = await query('highball_job_last_files_changed{job="demo photos"}');
    assert.equal(Number(files.value[1]), rs.last.filesChanged);
    const [dur] = await query('highball_job_last_duration_seconds{job="demo photos"}');
    assert.equal(Number(dur.value[1]), rs.last.durationMs / 1000);
    const running = await query("highball_job_running");
    assert.equal(running.length, 2);
    for (const r of running) assert.equal(r.value[1], "0");
    const runs = await query('highball_job_runs_total{job="demo photos"}');
    const byStatus = Object.fromEntries(runs.map((r) => [r.metric.status, Number(r.value[1])]));
    assert.deepEqual(byStatus, { success: 1, warning: 0, failed: 0, cancelled: 0, interrupted: 0 });

    const [snaps] = await query('highball_repository_snapshots{profile="demo-repo"}');
    assert.equal(snaps.value[1], "1");
    const [size] = await query('highball_repository_size_bytes{profile="demo-repo"}');
    assert.ok(Number(size.value[1]) > 0, "the repository has a size");
  });

  it("a scrape without a token is refused (401), and Prometheus says so for that target", async function () {
    const target = await util.waitFor(async () => {
      const r = await (await fetch(`${promUrl}/api/v1/targets`)).json();
      const t = r.data.activeTargets.find((x) => x.labels.job === "highball-no-token");
      return t && t.health === "down" ? t : null;
    }, { timeout: 30000, what: "the tokenless target to be down" });
    assert.match(target.lastError, /401/);
    const up = (await query('up{job="highball"}'))[0];
    assert.equal(up.value[1], "1");

    const r = await red.get("highball/metrics", { accept: "text/plain" });
    assert.equal(r.status, 401);
    assert.match(r.text, /needs a bearer token of a user with the permission highball\.read/);
    const bad = await red.get("highball/metrics", { token: "not-a-token", accept: "text/plain" });
    assert.equal(bad.status, 401);
  });

  it("the text passes promtool check metrics and says it is format 0.0.4", async function () {
    const r = await red.get("highball/metrics", { token: TOKEN, accept: "text/plain" });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
    const check = spawnSync("promtool", ["check", "metrics"], { input: r.text, encoding: "utf8" });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    assert.equal((check.stdout + check.stderr).trim(), "", "promtool has no remarks");
  });
});
