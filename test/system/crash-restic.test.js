"use strict";
// A real Node-RED killed with kill -9 during a real restic backup, then started again: the lock
// that restic left in the repository is removed at start (restic's own unlock, only this host's
// locks whose process is gone), said in Node-RED's log, and the next exclusive command works
// at once. Runs on every restic version the suite runs (scripts/test.js: 0.14, 0.18, 0.19).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const { startNodeRed } = require("../support/node-red-process");
const { tmpDir, stopAll, waitFor, processesMatching } = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");

function flows(repo, src, dir) {
  const tab = "crash";
  const job = (id, name, restic) => ({
    id, z: tab, type: "highball-backup-job", name, engine: "restic", enabled: true, profile: "cfg-nas",
    source: { type: "local", paths: [{ path: src }] }, restic, timeoutSeconds: 0, wires: [["rr"]],
  });
  return [
    { id: tab, type: "tab", label: "crash" },
    // Uploads at 64 KiB/s: the backup of 6 MB holds its lock for long enough to be killed.
    { id: "cfg-nas", type: "highball-profile-config", name: "nas", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, "limit-upload": "64" } },
    job("slowjob", "slow", { command: "backup", args: [], tags: [] }),
    job("checkjob", "check", { command: "check", args: [], tags: [] }),
    { id: "rr", z: tab, type: "highball-restic-run", name: "restic", logTail: 5, wires: [["out"], []] },
    { id: "out", z: tab, type: "file", name: "results", filename: path.join(dir, "results.jsonl"), filenameType: "str", appendNewline: true, createDir: true, overwriteFile: "false", encoding: "none", wires: [[]] },
  ];
}

function results(dir) {
  const file = path.join(dir, "results.jsonl");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
}

async function lockIds(repo) {
  const r = await restic(repo, ["list", "locks", "--no-lock"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => /^[0-9a-f]{64}$/.test(l.trim()));
}

describe("a real Node-RED killed with kill -9 during a restic backup", function () {
  this.timeout(240000);
  after(stopAll);

  it("removes the lock the killed restic left when it starts again, says so, and the next exclusive command works", async function () {
    const dir = tmpDir("crashrestic");
    const repo = await initResticRepo();
    const src = path.join(dir, "src");
    fs.mkdirSync(src);
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(src, `f${i}.bin`), crypto.randomBytes(1024 * 1024));
    const red = await startNodeRed({ major: 4, flows: flows(repo, src, dir) });

    await waitFor(async () => (await red.get("highball/jobs")).json?.some((j) => j.id === "slowjob"), { what: "the flows started" });
    assert.equal((await red.post("highball/jobs/slowjob/run")).status, 202);
    const resticOf = () => processesMatching((p) => p.cmdline.some((a) => /restic$/.test(a)) && p.cmdline.includes("backup") && p.cmdline.includes(src));
    await waitFor(async () => resticOf().length > 0 && (await lockIds(repo)).length > 0, { what: "restic backing up, its lock in the repository", timeout: 60000 });

    await red.kill9();
    assert.equal((await lockIds(repo)).length, 1, "the killed run's lock is there");
    await red.restart();

    // At start, before any run: the interrupted run is recorded, its restic stopped, its lock gone.
    await waitFor(() => results(dir).some((r) => r.jobId === "slowjob"), { what: "the interrupted result emitted", timeout: 30000 });
    assert.equal(results(dir).find((r) => r.jobId === "slowjob").status, "interrupted");
    await waitFor(() => resticOf().length === 0, { what: "the orphaned restic stopped" });
    await waitFor(async () => (await lockIds(repo)).length === 0, { what: "the stale lock removed", timeout: 60000 });
    await waitFor(() => /profile "nas": run \S+ of job "slow" was interrupted when Node-RED stopped; removed 1 lock it left in the repository \(restic unlock\)/.test(red.log()), { what: "the removal in Node-RED's log" });

    // The next exclusive command runs at once: no lock to wait for.
    assert.equal((await red.post("highball/jobs/checkjob/run")).status, 202);
    await waitFor(() => results(dir).some((r) => r.jobId === "checkjob"), { what: "the check's result", timeout: 120000 });
    const check = results(dir).find((r) => r.jobId === "checkjob");
    assert.equal(check.status, "success", check.error);
    const log = (await red.get(`highball/runs/${check.runId}/log`)).text ?? "";
    assert.doesNotMatch(log, /retrying|already locked/);
    await red.stop();
  });
});
