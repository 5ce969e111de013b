"use strict";
// A profile's repository from the editor (SPEC "Repository lifecycle"): POST init creates it
// (409 when it exists), POST unlock removes stale locks and says how many, GET stats reports
// its size, snapshot count and each snapshot's files and size; with real restic repositories.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawn } = require("node:child_process");
const helper = require("../support/red");
const u = require("../fixtures/util");
const { initResticRepo, restic, resticVersion } = require("../fixtures/restic");
const { countingRestic } = require("../fixtures/counting-restic");

const nodes = [require("../../dist/nodes/highball-profile-config/highball-profile-config.js")];

/**
 * A restic process holding a lock on the repository for as long as the test wants: a backup
 * from stdin that waits for its data. Ending its stdin releases the lock; SIGKILL leaves it stale.
 */
async function lockHolder(repo) {
  const holder = spawn("restic", ["backup", "--stdin", "--stdin-filename", "held"], { env: { ...process.env, ...repo.env }, stdio: ["pipe", "ignore", "ignore"] });
  u.track(holder, "lock holder");
  const exited = new Promise((resolve) => holder.once("exit", resolve));
  const locks = path.join(repo.path, "locks");
  // restic creates the lock file, then writes it, and ignores a lock it cannot read: wait until
  // the lock reads back as the holder's.
  await u.waitFor(async () => {
    const files = fs.existsSync(locks) ? fs.readdirSync(locks).filter((f) => fs.statSync(path.join(locks, f)).size > 0) : [];
    if (!files.length) return false;
    const cat = await restic(repo, ["cat", "lock", files[0], "--no-lock"]);
    try { return cat.code === 0 && JSON.parse(cat.stdout).pid === holder.pid; } catch { return false; }
  }, { what: "the holder's lock, written", timeout: 20000 });
  return { holder, exited, release: () => holder.stdin.end("data\n") };
}

describe(`repository routes: init, unlock, stats (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  let dir, password, existing;

  before(async function () {
    dir = u.tmpDir("lifecycle");
    password = "lifecycle-pass-1234";
    existing = await initResticRepo();
  });
  after(async function () { await u.stopAll(); });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  async function load(profiles, creds = {}) {
    helper.settings({ highball: { dir: u.tmpDir("home") } });
    await helper.load(nodes, [{ id: "tab", type: "tab", label: "t" }, ...profiles], creds);
  }

  it("initialises a new repository once; a second init is a 409 and changes nothing", async function () {
    const repoPath = path.join(dir, "fresh");
    await load([{ id: "cfg-fresh", type: "highball-profile-config", name: "fresh", options: { repository: repoPath, "cache-dir": path.join(dir, "cache") } }], { "cfg-fresh": { password } });
    // Before: the snapshot list says there is no repository, with a reason the editor offers init for.
    const before = await helper.request().get("/highball/profiles/cfg-fresh/snapshots").expect(502);
    assert.equal(before.body.reason, "noRepository");
    const r = await helper.request().post("/highball/profiles/cfg-fresh/init").expect(200);
    // The init is a run of the profile's repository job (lib/operations): its id comes back and it is in history.
    assert.deepEqual({ ...r.body, runId: undefined }, { repository: repoPath, created: true, runId: undefined });
    const runs = (await helper.request().get("/highball/jobs/repository:fresh/runs").expect(200)).body;
    assert.equal(runs[0].runId, r.body.runId);
    assert.equal(runs[0].command, "init");
    // The Backups tab lists that repository job, but offers no Run now for it: no node runs it.
    const listed = (await helper.request().get("/highball/jobs").expect(200)).body.find((j) => j.id === "repository:fresh");
    assert.equal(listed.runnable, false);
    await helper.request().post("/highball/jobs/repository:fresh/run").expect(404);
    assert.ok(fs.existsSync(path.join(repoPath, "config")));
    const config = fs.readFileSync(path.join(repoPath, "config"));
    const again = await helper.request().post("/highball/profiles/fresh/init").expect(409);
    assert.match(again.body.error, /already exists/);
    assert.ok(fs.readFileSync(path.join(repoPath, "config")).equals(config), "the existing repository was left as it is");
    // restic itself opens it with that password.
    const opened = await restic({ extraArgs: [], env: { RESTIC_REPOSITORY: repoPath, RESTIC_PASSWORD: password, RESTIC_PASSWORD_FILE: "", RESTIC_CACHE_DIR: path.join(dir, "cache") } }, ["snapshots", "--json"]);
    assert.equal(opened.code, 0, opened.stderr);
    assert.deepEqual(JSON.parse(opened.stdout), []);
    assert.ok(!JSON.stringify(r.body).includes(password));
  });

  it("init refuses a profile without a password or repository with a sentence, and an unknown profile with 404", async function () {
    await load([
      { id: "cfg-nopw", type: "highball-profile-config", name: "nopw", options: { repository: path.join(dir, "nopw") } },
      { id: "cfg-norepo", type: "highball-profile-config", name: "norepo", options: {} },
    ], { "cfg-norepo": { password } });
    assert.match((await helper.request().post("/highball/profiles/cfg-nopw/init").expect(409)).body.error, /profile "nopw" has no password/);
    assert.match((await helper.request().post("/highball/profiles/cfg-norepo/init").expect(409)).body.error, /has no repository/);
    assert.ok(!fs.existsSync(path.join(dir, "nopw")));
    await helper.request().post("/highball/profiles/nobody/init").expect(404);
    await helper.request().post("/highball/profiles/nobody/unlock").expect(404);
    await helper.request().get("/highball/profiles/nobody/stats").expect(404);
  });

  it("unlock removes a stale lock (its restic killed) and says how many; then none", async function () {
    await load([{ id: "cfg-x", type: "highball-profile-config", name: "x", options: { repository: existing.repository, "password-file": existing.passwordFile, "cache-dir": existing.cacheDir } }]);
    const locks = path.join(existing.path, "locks");
    const count = () => (fs.existsSync(locks) ? fs.readdirSync(locks).length : 0);
    // A restic killed while it holds its lock leaves it stale. (restic may still be between
    // writing a lock and checking the others when the kill comes: then it left none; again.)
    for (let attempt = 0; attempt < 5 && count() === 0; attempt++) {
      const holder = spawn("restic", ["backup", "--stdin", "--stdin-filename", "held"], { env: { ...process.env, ...existing.env }, stdio: ["pipe", "ignore", "ignore"] });
      u.track(holder, "lock holder");
      await u.waitFor(() => fs.existsSync(locks) && fs.readdirSync(locks).some((f) => fs.statSync(path.join(locks, f)).size > 0), { what: "the holder's lock" });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const exited = new Promise((resolve) => holder.once("exit", resolve));
      holder.kill("SIGKILL");
      await exited;
    }
    assert.equal(count(), 1);
    const r = await helper.request().post("/highball/profiles/cfg-x/unlock").expect(200);
    assert.equal(r.body.removed, 1);
    assert.match(r.body.runId, /^\d{8}T\d{6}-[0-9a-f]{6}$/);
    assert.equal(fs.readdirSync(locks).length, 0);
    assert.equal((await helper.request().post("/highball/profiles/cfg-x/unlock").expect(200)).body.removed, 0);
  });

  it("stats: the repository's size, its snapshot count, and each snapshot's files and size as restic reports them", async function () {
    const src = u.tmpDir("stats-src");
    fs.writeFileSync(path.join(src, "a.txt"), "a".repeat(1000));
    fs.writeFileSync(path.join(src, "b.txt"), "b".repeat(3000));
    assert.equal((await restic(existing, ["backup", src])).code, 0);
    fs.writeFileSync(path.join(src, "c.txt"), "c".repeat(500));
    assert.equal((await restic(existing, ["backup", src])).code, 0);
    await load([{ id: "cfg-x", type: "highball-profile-config", name: "x", options: { repository: existing.repository, "password-file": existing.passwordFile, "cache-dir": existing.cacheDir } }]);
    const s = (await helper.request().get("/highball/profiles/cfg-x/stats").expect(200)).body;
    const raw = JSON.parse((await restic(existing, ["stats", "--json", "--mode", "raw-data"])).stdout);
    assert.equal(s.size, raw.total_size);
    const snaps = JSON.parse((await restic(existing, ["snapshots", "--json"])).stdout);
    assert.equal(s.snapshotCount, snaps.length);
    assert.equal(s.snapshots.length, snaps.length);
    const mine = s.snapshots.filter((x) => x.paths.includes(src));
    assert.equal(mine.length, 2);
    // Newest first; each with what `restic stats <id>` counts for it (files, folders included, and
    // their size), the same on restic 0.14, 0.18 and 0.19.
    assert.ok(mine[0].time > mine[1].time);
    for (const snap of mine) {
      const own = JSON.parse((await restic(existing, ["stats", "--json", snap.id])).stdout);
      assert.equal(snap.files, own.total_file_count);
      assert.equal(snap.size, own.total_size);
    }
    assert.equal(mine[0].size - mine[1].size, 500);
    assert.ok(!JSON.stringify(s).includes(existing.password));
  });
  it("stats: a snapshot's counts are asked of restic once; a second look runs restic for the repository and its list only", async function () {
    const repo = await initResticRepo();
    const src = u.tmpDir("stats-once-src");
    for (let i = 0; i < 3; i++) {
      fs.writeFileSync(path.join(src, `f${i}.txt`), "x".repeat(100 * (i + 1)));
      assert.equal((await restic(repo, ["backup", src])).code, 0);
    }
    // The profile's restic is the real one (first on PATH) through a script that notes each command word.
    const counting = countingRestic();
    const wrapper = counting.wrapper;
    const calls = () => counting.calls().map((c) => c.split(" ")[0]);
    await load([{ id: "cfg-s", type: "highball-profile-config", name: "s", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, executable: wrapper } }]);
    const first = (await helper.request().get("/highball/profiles/cfg-s/stats").expect(200)).body;
    assert.equal(first.snapshotCount, 3);
    assert.ok(first.snapshots.every((x) => typeof x.files === "number" && typeof x.size === "number"));
    assert.deepEqual(calls().filter((c) => c !== "version"), ["stats", "snapshots", "stats", "stats", "stats"]);
    const again = (await helper.request().get("/highball/profiles/cfg-s/stats").expect(200)).body;
    assert.deepEqual(again, first);
    assert.deepEqual(calls().filter((c) => c !== "version").slice(5), ["stats", "snapshots"], "no snapshot was counted twice");
    // A new snapshot is counted, the others are not again.
    fs.writeFileSync(path.join(src, "f9.txt"), "y".repeat(50));
    assert.equal((await restic(repo, ["backup", src])).code, 0);
    const third = (await helper.request().get("/highball/profiles/cfg-s/stats").expect(200)).body;
    assert.equal(third.snapshotCount, 4);
    assert.equal(third.snapshots[0].size - third.snapshots[1].size, 50);
    assert.deepEqual(calls().filter((c) => c !== "version").slice(7), ["stats", "snapshots", "stats"]);
  });

  it("stats: a snapshot list longer than what is read is a sentence, never 0 snapshots", async function () {
    const { repositoryStats, knownRepositoryStats } = require("../../dist/lib/profile/repository");
    const { resolveProfile } = require("../../dist/lib/profile");
    const repo = await initResticRepo();
    const src = u.tmpDir("stats-long-src");
    for (let i = 0; i < 3; i++) {
      fs.writeFileSync(path.join(src, `f${i}.txt`), `${i}`);
      assert.equal((await restic(repo, ["backup", src])).code, 0);
    }
    const p = resolveProfile("long", new Map([["long", { options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } }]]));
    // Three snapshots' JSON is well over 300 bytes: the list is cut where it is read.
    await assert.rejects(repositoryStats(p, { maxList: 300 }), (e) => e.status === 502 && /snapshot list of profile "long" is longer than/.test(e.message));
    assert.equal(knownRepositoryStats().get("long"), undefined, "nothing reached the metrics");
    const whole = await repositoryStats(p, { maxList: 1024 * 1024 });
    assert.equal(whole.snapshotCount, 3);
    assert.equal(knownRepositoryStats().get("long").snapshots, 3);
  });

  /** The run's record once it ended, through the admin API. */
  async function ended(job, runId) {
    let rec;
    await u.waitFor(async () => {
      rec = (await helper.request().get(`/highball/jobs/${job}/runs`).expect(200)).body.find((r) => r.runId === runId);
      return rec && rec.finishedAt;
    }, { what: `run ${runId} ended`, timeout: 120000, interval: 200 });
    return rec;
  }

  it("a prune from the Snapshots tab waits for a backup's lock within the profile's wait-for-lock, and succeeds once it is gone", async function () {
    const repo = await initResticRepo();
    const { release, exited } = await lockHolder(repo);
    await load([{ id: "cfg-w", type: "highball-profile-config", name: "w", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, "wait-for-lock": "2m" } }]);
    const started = (await helper.request().post("/highball/profiles/cfg-w/prune").expect(202)).body;
    // restic 0.16+ wait inside the retry (--retry-lock), 0.14 is started again after the delay.
    const [, minor] = (await resticVersion()).split(".").map(Number);
    const waiting = minor >= 16 ? /locked by PID \d+ on \S+; restic 0\.\d+\.\d+ waits up to \d+ s for it \(--retry-lock\)/ : /locked by PID \d+ on \S+; trying again in \d+ s/;
    const log = async () => (await helper.request().get(`/highball/runs/${started.runId}/log`)).text || "";
    await u.waitFor(async () => waiting.test(await log()), { what: "the prune waiting for the lock", timeout: 30000, interval: 200 });
    release();
    await exited;
    const rec = await ended("repository:w", started.runId);
    assert.equal(rec.status, "success", rec.error);
    const text = await log();
    assert.match(text, /# retrying step 1/);
    if (minor >= 16) assert.match(text, /prune .*--retry-lock=\d+s/, "the retry asked restic 0.16+ to wait");
  });

  it("a prune from the Snapshots tab without wait-for-lock fails at once on a live lock, saying who holds it", async function () {
    const repo = await initResticRepo();
    const { release, exited } = await lockHolder(repo);
    try {
      await load([{ id: "cfg-n", type: "highball-profile-config", name: "n", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } }]);
      const started = (await helper.request().post("/highball/profiles/cfg-n/prune").expect(202)).body;
      const rec = await ended("repository:n", started.runId);
      assert.equal(rec.status, "failed");
      assert.match(rec.error, /locked by another restic process \(PID \d+/);
    } finally {
      release();
      await exited;
    }
  });

  it("a prune from the Snapshots tab removes a stale lock (its restic killed) and then succeeds", async function () {
    const repo = await initResticRepo();
    const { holder, exited } = await lockHolder(repo);
    holder.kill("SIGKILL");
    await exited;
    await new Promise((r) => setTimeout(r, 1100)); // older than the stale age below
    await load([{ id: "cfg-st", type: "highball-profile-config", name: "st", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, "stale-lock-age": "1s" } }]);
    const started = (await helper.request().post("/highball/profiles/cfg-st/prune").expect(202)).body;
    const rec = await ended("repository:st", started.runId);
    assert.equal(rec.status, "success", rec.error);
    const log = (await helper.request().get(`/highball/runs/${started.runId}/log`).expect(200)).text;
    assert.match(log, /removed a stale lock of PID \d+/);
    assert.equal(fs.readdirSync(path.join(repo.path, "locks")).length, 0);
  });

  it("forget: the profile's keep policy (GET keep, inherited) is used when the request names none; without any it is a 400 and restic removes nothing", async function () {
    const repo = await initResticRepo();
    const src = u.tmpDir("keep-src");
    for (let i = 0; i < 3; i++) {
      fs.writeFileSync(path.join(src, `f${i}.txt`), `${i}`);
      assert.equal((await restic(repo, ["backup", src])).code, 0);
    }
    const at = { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir };
    await load([
      { id: "cfg-base", type: "highball-profile-config", name: "base", options: { "keep-last": "1", "keep-within": "1h" } },
      { id: "cfg-kept", type: "highball-profile-config", name: "kept", options: { inherit: ["base"], ...at, "keep-within": "" } },
      { id: "cfg-none", type: "highball-profile-config", name: "none", options: at },
    ]);
    assert.deepEqual((await helper.request().get("/highball/profiles/cfg-kept/keep").expect(200)).body, { profile: "kept", keep: { last: 1, within: "1h" } });
    assert.deepEqual((await helper.request().get("/highball/profiles/cfg-none/keep").expect(200)).body, { profile: "none", keep: null });
    const refused = await helper.request().post("/highball/profiles/cfg-none/forget").send({ dryRun: true }).expect(400);
    assert.match(refused.body.error, /profile "none" has no keep policy/);
    // keep-within 1h keeps all three (made a moment ago): the profile's policy is what ran.
    const within = (await helper.request().post("/highball/profiles/cfg-kept/forget").send({ dryRun: true }).expect(200)).body;
    assert.equal(within.remove.length, 0);
    assert.equal(within.keep.length, 3);
    // The request's own policy replaces the profile's whole (no keep-within from it).
    const own = (await helper.request().post("/highball/profiles/cfg-kept/forget").send({ dryRun: true, keep: { last: 1 } }).expect(200)).body;
    assert.equal(own.remove.length, 2);
    const log = (await helper.request().get(`/highball/runs/${own.runId}/log`).expect(200)).text;
    assert.match(log, /--keep-last=1/);
    assert.doesNotMatch(log, /--keep-within/);
    assert.equal(JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).length, 3, "a dry run removed a snapshot");
  });
});
