"use strict";
// Repository actions and restores as runs (lib/operations), against real restic repositories:
// each is a history record with a log under its profile's repository job; forget's dry run says
// which snapshots would go and removes none; a restore's file list is paged and names what it
// would overwrite; the run that made a snapshot is found from history. Holds on every supported
// restic version (nothing here is version-gated except the restore's --json progress, 0.16+).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const u = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { Engine } = require("../../dist/lib/runs/engine");
const { resolveProfile } = require("../../dist/lib/profile");
const ops = require("../../dist/lib/operations/repository");
const { restoreFiles } = require("../../dist/lib/operations/restore");
const { initAsRun, unlockAsRun, restoreAsRun } = require("../../dist/lib/operations/actions");
const { SnapshotBrowser } = require("../../dist/lib/snapshots");

describe("repository actions and restores as runs", function () {
  this.timeout(240000);
  let repo, src, engine, profile, snaps;

  before(async function () {
    repo = await initResticRepo();
    src = path.join(u.tmpDir("ops"), "data");
    fs.mkdirSync(path.join(src, "sub"), { recursive: true });
    for (let i = 0; i < 25; i++) fs.writeFileSync(path.join(src, "sub", `f${String(i).padStart(2, "0")}.txt`), `file ${i}\n`);
    for (let i = 0; i < 3; i++) {
      fs.writeFileSync(path.join(src, "top.txt"), `version ${i}\n`);
      const r = await restic(repo, ["backup", "--tag", "t1", src]);
      assert.equal(r.code, 0, r.stderr);
    }
    snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).sort((a, b) => (a.time < b.time ? 1 : -1));
    engine = Engine.get(u.tmpDir("home"));
    await engine.ready;
    engine.profiles.set("cfg-ops", { name: "ops", def: { options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } } });
    profile = resolveProfile("ops", engine.profileSet());
  });
  after(() => u.stopAll());

  it("runs check with --read-data-subset as a run of the profile's repository job, with its log", async function () {
    const run = await ops.startRepositoryRun(engine, profile, "check", { readDataSubset: "10%" });
    const rec = await run.result;
    await run.saved;
    assert.equal(rec.status, "success", rec.error);
    assert.equal(rec.command, "check");
    assert.equal(rec.jobId, "repository:ops");
    assert.equal(rec.job, "ops · repository");
    const log = fs.readFileSync(path.join(engine.history.logsDir, rec.logFile), "utf8");
    assert.match(log, /--read-data-subset=10%/);
    assert.match(log, /no errors were found/);
    const hist = await engine.history.list("repository:ops");
    assert.equal(hist[0].runId, rec.runId);
  });

  it("refuses a second action while one runs on the same repository", async function () {
    const first = await ops.startRepositoryRun(engine, profile, "check");
    await assert.rejects(ops.startRepositoryRun(engine, profile, "prune"), (e) => e instanceof ops.BusyError && e.runId === first.runId);
    await first.result;
  });

  it("forget's dry run lists what would go and removes nothing; the real forget removes exactly those", async function () {
    const dry = await (await ops.startRepositoryRun(engine, profile, "forget", { keep: { last: 1 }, dryRun: true })).result;
    assert.equal(dry.status, "success", dry.error);
    const plan = ops.forgetPlan(dry);
    assert.deepEqual(plan.keep.map((s) => s.id), [snaps[0].id]);
    assert.deepEqual(plan.remove.map((s) => s.id).sort(), [snaps[1].id, snaps[2].id].sort());
    assert.ok(plan.remove.every((s) => s.tags.includes("t1") && s.host && s.paths[0] === src));
    assert.equal(JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).length, 3, "a dry run removes nothing");
    const real = await (await ops.startRepositoryRun(engine, profile, "forget", { keep: { last: 2 } })).result;
    assert.equal(real.status, "success", real.error);
    const left = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).map((s) => s.id).sort();
    assert.deepEqual(left, [snaps[0].id, snaps[1].id].sort());
    const pruned = await (await ops.startRepositoryRun(engine, profile, "prune")).result;
    assert.equal(pruned.status, "success", pruned.error);
  });

  it("records a profile whose password cannot be read as a failed run, nothing started", async function () {
    const broken = resolveProfile("broken", new Map([["broken", { options: { repository: repo.repository, "password-file": "/nonexistent/pw" } }]]));
    const rec = await (await ops.startRepositoryRun(engine, broken, "check")).result;
    assert.equal(rec.status, "failed");
    assert.equal(rec.exitCode, null);
    assert.match(rec.error, /password/);
    assert.equal((await engine.history.list("repository:broken"))[0].runId, rec.runId);
  });

  it("init and unlock are runs too: init of an existing repository is refused (409) and recorded", async function () {
    await assert.rejects(initAsRun(engine, profile), (e) => e.status === 409 && /already exists/.test(e.message));
    const last = (await engine.history.list("repository:ops"))[0];
    assert.equal(last.command, "init");
    assert.equal(last.status, "failed");
    const fresh = path.join(u.tmpDir("newrepo"), "repo");
    engine.profiles.set("cfg-new", { name: "new", def: { options: { repository: fresh, "password-file": repo.passwordFile } } });
    const made = await initAsRun(engine, resolveProfile("new", engine.profileSet()));
    assert.equal(made.created, true);
    assert.ok(fs.existsSync(path.join(fresh, "config")));
    // A stale lock (its holder's PID is gone) is removed, and counted.
    const lock = await restic(repo, ["list", "locks", "--no-lock"]);
    assert.equal(lock.stdout.trim(), "");
    const un = await unlockAsRun(engine, profile);
    assert.equal(un.removed, 0);
    assert.equal((await engine.history.list("repository:ops"))[0].command, "unlock");
  });

  it("lists a restore's files a page at a time and names those it would overwrite", async function () {
    const target = u.tmpDir("target");
    const all = await restoreFiles(profile, { snapshot: snaps[0].id, paths: [src], target, offset: 0, limit: 10 });
    // The snapshot holds src's parents, src, sub, top.txt and 25 files below src.
    assert.equal(all.entries.length, 10);
    assert.equal(all.total, 28, "src, sub, top.txt and its 25 files: every entry counted once");
    assert.equal(all.existing, 0);
    const next = await restoreFiles(profile, { snapshot: snaps[0].id, paths: [src], target, offset: 10, limit: 10 });
    assert.equal(next.offset, 10);
    assert.ok(next.entries.every((e) => !all.entries.some((x) => x.path === e.path)), "pages do not repeat");
    // In place: every file is there, so each would be overwritten.
    const inPlace = await restoreFiles(profile, { snapshot: snaps[0].id, paths: [path.join(src, "sub")], target: "original", existingOnly: true, limit: 5 });
    assert.equal(inPlace.existing, 25);
    assert.equal(inPlace.total, 25);
    assert.equal(inPlace.entries.length, 5);
    assert.ok(inPlace.entries.every((e) => e.exists && e.destination === e.path));
  });

  it("a real restore is a run of the profile's restore job, in history with its log", async function () {
    const target = path.join(u.tmpDir("restore"), "into");
    const s = await restoreAsRun(engine, new SnapshotBrowser(), profile, { snapshot: snaps[0].id, paths: [path.join(src, "top.txt")], target });
    assert.equal(s.restored, true);
    assert.equal(fs.readFileSync(path.join(target, src, "top.txt"), "utf8"), "version 2\n");
    const rec = (await engine.history.list("restore:ops"))[0];
    assert.equal(rec.runId, s.runId);
    assert.equal(rec.command, "restore");
    assert.equal(rec.status, "success", rec.error);
    // Overwrite protection still holds: the folder is not empty now.
    await assert.rejects(restoreAsRun(engine, new SnapshotBrowser(), profile, { snapshot: snaps[0].id, paths: [path.join(src, "top.txt")], target }), (e) => e.status === 409);
  });

  it("a restore reports its progress while it runs, on every version (0.16+ from restic's JSON, before from what restic has written)", async function () {
    // 12 MiB of random data in 4 MiB packs, read at 4 MiB/s (restic's own --limit-download): a
    // few seconds of restore, written pack by pack (restic 0.16+ counts what it wrote, too).
    const MiB = 1024 * 1024;
    const big = path.join(u.tmpDir("big"), "data");
    fs.mkdirSync(big, { recursive: true });
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(big, `blob${i}.bin`), require("node:crypto").randomBytes(4 * MiB));
    assert.equal((await restic(repo, ["backup", "--pack-size=4", big])).code, 0);
    const snap = JSON.parse((await restic(repo, ["snapshots", "--json", "--path", big])).stdout)[0];
    engine.profiles.set("cfg-slow", { name: "slow", def: { options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, "limit-download": "4M" } } });
    const slow = resolveProfile("slow", engine.profileSet());
    const seen = [];
    const watch = (run) => { if (run.key === "restore:slow") run.on("progress", (p) => seen.push(p)); };
    engine.on("start", watch);
    try {
      const target = path.join(u.tmpDir("restore-slow"), "into");
      const s = await restoreAsRun(engine, new SnapshotBrowser(), slow, { snapshot: snap.id, paths: [big], target });
      assert.equal(s.restored, true);
      for (let i = 0; i < 3; i++) assert.equal(fs.statSync(path.join(target, big, `blob${i}.bin`)).size, 4 * MiB);
    } finally {
      engine.off("start", watch);
    }
    assert.ok(seen.length >= 2, `progress while restoring: ${JSON.stringify(seen)}`);
    const mid = seen.filter((p) => typeof p.percent === "number" && p.percent > 0 && p.percent < 100 && p.bytesDone > 0 && p.bytesDone < p.bytesTotal);
    assert.ok(mid.length >= 1, `a share between 0 and 100 %: ${JSON.stringify(seen)}`);
    for (const p of seen) if (p.bytesTotal !== null) assert.ok(p.bytesTotal >= 12 * MiB && p.bytesTotal < 13 * MiB, `the selection's size: ${p.bytesTotal}`);
    const done = seen.map((p) => p.bytesDone ?? 0);
    assert.ok(done.every((d, i) => i === 0 || d >= done[i - 1]), `bytes done only grow: ${done}`);
  });

  it("finds the run that made a snapshot from the history of restic jobs", async function () {
    const now = Date.now();
    await engine.history.add({
      job: "nightly", jobId: "job-1", runId: "20260101T000000-abcdef", engine: "restic", command: "backup", status: "success", ok: true,
      startedAt: now, finishedAt: now, durationMs: 1, exitCode: 0, filesTotal: 1, filesChanged: 1, bytesTotal: 1, bytesTransferred: 1,
      snapshotId: snaps[0].id, error: null, logFile: "x.log",
    });
    const o = await ops.snapshotOrigins(engine, repo.repository);
    assert.equal(o[snaps[0].id].job, "nightly");
    assert.equal(o[snaps[0].id.slice(0, 8)].runId, "20260101T000000-abcdef");
  });

  it("reads a job's history for origins only when a run of it was recorded since", async function () {
    // Every look at the Snapshots tab asks for origins: an unchanged history is not read again.
    const read = [];
    const list = engine.history.list.bind(engine.history);
    engine.history.list = (key, opts) => { read.push(key); return list(key, opts); };
    try {
      const first = await ops.snapshotOrigins(engine, repo.repository);
      assert.equal(first[snaps[0].id].runId, "20260101T000000-abcdef");
      read.length = 0;
      const again = await ops.snapshotOrigins(engine, repo.repository);
      assert.deepEqual(again, first);
      assert.deepEqual(read, [], "no history was read for an unchanged job");
      // A new run of the job replaces its summary: that job's history, and only it, is read again.
      const now = Date.now();
      await engine.history.add({
        job: "nightly", jobId: "job-1", runId: "20260102T000000-abcdef", engine: "restic", command: "backup", status: "success", ok: true,
        startedAt: now, finishedAt: now, durationMs: 1, exitCode: 0, filesTotal: 1, filesChanged: 1, bytesTotal: 1, bytesTransferred: 1,
        snapshotId: snaps[1].id, error: null, logFile: "y.log",
      });
      const after = await ops.snapshotOrigins(engine, repo.repository);
      assert.deepEqual(read, ["job-1"]);
      assert.equal(after[snaps[1].id].runId, "20260102T000000-abcdef");
      assert.equal(after[snaps[0].id].runId, "20260101T000000-abcdef");
    } finally {
      delete engine.history.list;
    }
  });
});
