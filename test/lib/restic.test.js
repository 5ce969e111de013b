"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const u = require("../fixtures/util");
const { initResticRepo, restic, resticVersion } = require("../fixtures/restic");
const { startSshd } = require("../fixtures/sshd");
const P = require("../../dist/lib/profile");
const R = require("../../dist/lib/engines/restic");

// ---- a plan runner: argument array, plan env over a RESTIC_-free parent env, stdin then EOF ----
function cleanEnv(extra) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("RESTIC_")) delete env[k];
  return { ...env, ...extra };
}
function runPlan(plan, parser, { onSpawn } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(plan.command, plan.args, { env: cleanEnv(plan.env), stdio: ["pipe", "pipe", "pipe"] });
    if (child.pid) u.track(child, path.basename(plan.command));
    if (onSpawn) onSpawn(child);
    const out = { stdout: [], stderr: [] };
    for (const s of ["stdout", "stderr"]) {
      let rest = "";
      child[s].setEncoding("utf8").on("data", (d) => {
        const parts = (rest + d).split(/\r?\n/);
        rest = parts.pop();
        for (const l of parts) { out[s].push(l); parser?.[s](l); }
      });
      child[s].on("end", () => { if (rest) { out[s].push(rest); parser?.[s](rest); } });
    }
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, ...out, outcome: parser ? parser.finish(code, signal) : null }));
    child.stdin.on("error", () => {});
    child.stdin.end(plan.stdin ?? "");
  });
}
const commandLine = (plan) => [plan.command, ...plan.args].join(" ");

const V14 = { version: "0.14.0", major: 0, minor: 14, patch: 0 };
const V13 = { version: "0.13.1", major: 0, minor: 13, patch: 1 };
const V16 = { version: "0.16.4", major: 0, minor: 16, patch: 4 };
const V171 = { version: "0.17.1", major: 0, minor: 17, patch: 1 };
const V18 = { version: "0.18.0", major: 0, minor: 18, patch: 0 };

/** A profile for repo (a fixture repo): its password file unless told otherwise. */
function profileFor(repo, options = {}, password) {
  const defs = new Map([["p", { options: { repository: repo.repository, "cache-dir": repo.cacheDir, ...(password ? {} : { "password-file": repo.passwordFile }), ...options }, password }]]);
  return P.resolveProfile("p", defs);
}
function job(fields = {}) {
  return { name: "photos", engine: "restic", profile: "p", ...fields };
}
/** The restic on PATH (the test runner puts each tested version first), detected once. */
let live;
async function resticRun(jobDesc, profile, opts) {
  const step = R.resticStep(jobDesc, profile, live, opts);
  const r = await runPlan(step.plan, step.parser);
  return { ...r, plan: step.plan, parser: step.parser };
}

describe("restic: version and features", function () {
  it("detects the installed restic once per executable", async function () {
    const a = R.detectResticVersion("restic");
    const b = R.detectResticVersion(["restic"]);
    assert.equal(a, b, "the probe is cached per executable");
    const v = await a;
    const [major, minor, patch] = (await resticVersion()).split(".").map(Number);
    assert.deepEqual(v, { version: `${major}.${minor}.${patch}`, major, minor, patch }, "the restic PATH gives, as restic version tells it");
    await assert.rejects(R.detectResticVersion("/nonexistent/restic"), /\/nonexistent\/restic is not installed \(command not found\)/);
  });

  it("parses release and development version strings", function () {
    assert.deepEqual(R.parseResticVersion("restic 0.18.1 compiled with go1.24.1 on linux/amd64"), { version: "0.18.1", major: 0, minor: 18, patch: 1 });
    assert.equal(R.parseResticVersion("restic 0.16.4-dev (compiled manually) compiled with go1.22").version, "0.16.4");
    assert.equal(R.parseResticVersion("command not found"), null);
  });

  it("gates features by version", function () {
    assert.deepEqual(R.resticFeatures(V14), { retryLock: false, exitCodesRepoLock: false, exitCodeWrongPassword: false, fromRepo: true, fullSnapshotId: false, jsonExitError: false });
    assert.equal(R.resticFeatures(V13).fromRepo, false);
    assert.equal(R.resticFeatures(V16).retryLock, true);
    assert.equal(R.resticFeatures({ version: "0.17.0", major: 0, minor: 17, patch: 0 }).exitCodesRepoLock, true);
    assert.equal(R.resticFeatures({ version: "0.17.0", major: 0, minor: 17, patch: 0 }).exitCodeWrongPassword, false);
    assert.equal(R.resticFeatures(V171).exitCodeWrongPassword, true);
    assert.equal(R.resticFeatures(V18).jsonExitError, true);
  });
});

describe("restic: plans", function () {
  const defs = new Map([
    ["nas", { options: { repository: "sftp:backup@nas.lan:/srv/restic", "wait-for-lock": "10m", "cpu-priority": "idle", "cache-dir": "/var/cache/hb" }, password: "pw-nas-0001" }],
    ["offsite", { options: { repository: "s3:s3.amazonaws.com/bucket", "password-file": "/etc/offsite.pw", "env.AWS_ACCESS_KEY_ID": "AKIA", "env.AWS_SECRET_ACCESS_KEY": "s3-secret-value" } }],
    ["task", { options: { inherit: ["nas"], command: "forget --keep-last 3", args: "--prune" } }],
  ]);
  const nas = P.resolveProfile("nas", defs);

  it("backup: --json, tags, per-path excludes scoped to their path, sources after --", function () {
    const plan = R.resticPlan(job({
      source: { type: "local", paths: [{ path: "/srv/photos", exclude: ["cache/", "*.tmp", "/thumbs"] }, { path: "/home/ann" }] },
      restic: { command: "backup", args: ["--one-file-system"], tags: ["photos", "daily"] },
    }), nas, V14);
    assert.equal(plan.command, "restic");
    assert.deepEqual(plan.args, [
      "backup", "--cache-dir=/var/cache/hb",
      "--json", "--tag=photos", "--tag=daily",
      "--exclude=/srv/photos/**/cache", "--exclude=/srv/photos/**/*.tmp", "--exclude=/srv/photos/thumbs",
      "--one-file-system", "--", "/srv/photos", "/home/ann",
    ]);
    assert.equal(plan.env.RESTIC_REPOSITORY, "sftp:backup@nas.lan:/srv/restic");
    assert.equal(plan.env.RESTIC_PASSWORD, "pw-nas-0001");
    assert.equal(plan.env.RESTIC_PROGRESS_FPS, "2");
    assert.equal(plan.cpuPriority, "idle");
    assert.ok(!commandLine(plan).includes("pw-nas-0001"));
    assert.ok(plan.secrets.includes("pw-nas-0001"));
  });

  it("backup: refuses includes (restic has none) and an empty source list", function () {
    assert.throws(() => R.resticPlan(job({ source: { paths: [{ path: "/srv", include: ["*.jpg"] }] }, restic: { command: "backup" } }), nas, V14),
      /restic has no include rules, but the source path \/srv lists some/);
    assert.throws(() => R.resticPlan(job({ restic: { command: "backup" } }), nas, V14), /a backup needs at least one source path/);
  });

  it("wait-for-lock: restic 0.16+ wait inside a retry (--retry-lock for that delay); before, the run machinery sleeps", function () {
    const b = job({ source: { paths: [{ path: "/x" }] }, restic: { command: "backup" } });
    assert.ok(!R.resticPlan(b, nas, V16).args.some((a) => a.startsWith("--retry-lock")), "the first attempt never waits: a lock is reported at once");
    assert.ok(R.resticPlan(b, nas, V16, { retryLockMs: 20000 }).args.includes("--retry-lock=20s"));
    assert.ok(!R.resticPlan(b, nas, V14, { retryLockMs: 20000 }).args.some((a) => a.startsWith("--retry-lock")), "0.14 has no --retry-lock");
    assert.deepEqual(R.lockPolicy(nas, V14), { waitMs: 600000, byRestic: false, staleAgeMs: null });
    assert.equal(R.lockPolicy(nas, V16).byRestic, true);
    assert.ok(!R.resticPlan(job({ restic: { command: "unlock" } }), nas, V16, { retryLockMs: 20000 }).args.some((a) => a.startsWith("--retry-lock")), "unlock never waits for a lock");
  });

  it("forget: keep policy from options or args, the job's tags as a filter; none at all is refused", function () {
    const f = R.resticPlan(job({ restic: { command: "forget", args: ["--prune"], tags: ["photos"] } }), nas, V14, { keep: { daily: 7, weekly: 4, monthly: 0, within: "1y" } });
    assert.deepEqual(f.args.slice(f.args.indexOf("forget")), ["forget", "--cache-dir=/var/cache/hb", "--json", "--keep-daily=7", "--keep-weekly=4", "--keep-within=1y", "--tag=photos", "--prune"]);
    const g = R.resticPlan(job({ restic: { command: "forget", args: ["--keep-last", "3"] } }), nas, V14);
    assert.deepEqual(g.args.slice(-2), ["--keep-last", "3"]);
    assert.throws(() => R.resticPlan(job({ restic: { command: "forget" } }), nas, V14), /forget needs a keep policy: set keep-daily, keep-last, \.\.\. on profile "nas"/);
    assert.throws(() => R.resticPlan(job({ restic: { command: "forget" } }), nas, V14, { keep: { daily: -1 } }), /keep daily must be a whole number/);
  });

  it("forget without a policy of its own takes the profile's keep-* options, inherited; its own policy wins whole", function () {
    const sets = new Map([
      ["base", { options: { "keep-daily": "7", "flag.keep-weekly": "4", "keep-within": "1y6m", "keep-tag": "keep forever" } }],
      ["child", { options: { inherit: ["base"], repository: "/r", "password-file": "/pw", "keep-daily": 3 } }],
    ]);
    const child = P.resolveProfile("child", sets);
    assert.deepEqual(P.keepOf(child), { daily: 3, weekly: 4, within: "1y6m", tags: ["keep", "forever"] });
    const f = R.resticPlan(job({ restic: { command: "forget", args: ["--prune"] } }), child, V14);
    assert.deepEqual(f.args.slice(f.args.indexOf("--json") + 1), ["--keep-daily=3", "--keep-weekly=4", "--keep-within=1y6m", "--keep-tag=keep", "--keep-tag=forever", "--prune"]);
    // A policy of the node's (or in the arguments, or snapshot IDs) replaces the profile's.
    const own = R.resticPlan(job({ restic: { command: "forget" } }), child, V14, { keep: { last: 2 } });
    assert.deepEqual(own.args.filter((a) => a.startsWith("--keep-")), ["--keep-last=2"]);
    const ids = R.resticPlan(job({ restic: { command: "forget", args: ["abc123"] } }), child, V14);
    assert.deepEqual(ids.args.filter((a) => a.startsWith("--keep-")), []);
    // The keep options are forget's only: a backup with the same profile carries none.
    const b = R.resticPlan(job({ source: { paths: [{ path: "/x" }] }, restic: { command: "backup" } }), child, V14);
    assert.deepEqual(b.args.filter((a) => a.startsWith("--keep")), []);
    assert.throws(() => P.resolveProfile("x", new Map([["x", { options: { "keep-within": "forever" } }]])), /option "keep-within" must be a restic duration such as 1y6m/);
    assert.throws(() => P.resolveProfile("x", new Map([["x", { options: { "keep-last": "-1" } }]])), /option "keep-last" must be a whole number from 0 to 100000/);
  });

  it("check, prune, snapshots, stats, unlock, init and any other command", function () {
    const c = R.resticPlan(job({ restic: { command: "check" } }), nas, V14, { readDataSubset: "5%" });
    assert.ok(c.args.includes("--read-data-subset=5%"));
    assert.throws(() => R.resticPlan(job({ restic: { command: "check" } }), nas, V14, { readDataSubset: "5% ; rm" }), /--read-data-subset .* must be a percentage/);
    assert.deepEqual(R.resticPlan(job({ restic: { command: "prune" } }), nas, V14).args, ["prune", "--cache-dir=/var/cache/hb"]);
    assert.ok(R.resticPlan(job({ restic: { command: "snapshots" } }), nas, V14).args.includes("--json"));
    assert.ok(R.resticPlan(job({ restic: { command: "stats", args: ["--mode", "raw-data"] } }), nas, V14).args.includes("--json"));
    assert.deepEqual(R.resticPlan(job({ restic: { command: "unlock", args: ["--remove-all"] } }), nas, V14).args, ["unlock", "--cache-dir=/var/cache/hb", "--remove-all"]);
    assert.ok(!R.resticPlan(job({ restic: { command: "init" } }), nas, V14).args.includes("--json"), "0.14 init prints no JSON");
    assert.deepEqual(R.resticPlan(job({ restic: { command: "rebuild-index" } }), nas, V14).args, ["rebuild-index", "--cache-dir=/var/cache/hb"]);
    assert.throws(() => R.resticPlan(job({ restic: { command: "backup;rm" } }), nas, V14), /"backup;rm" is not a restic command/);
  });

  it("uses the profile's default command and args (PRestic) unless the job or a one-shot gives one", function () {
    const task = P.resolveProfile("task", defs);
    assert.deepEqual(R.resticCommand(job(), task), { command: "forget", args: ["--keep-last", "3", "--prune"] });
    const p = R.resticPlan(job(), task, V14);
    assert.deepEqual(p.args.slice(-4), ["--json", "--keep-last", "3", "--prune"]);
    // PRestic one-shot: `prestic -p task snapshots --latest 1` ignores the default command and args.
    const one = R.resticPlan(job(), task, V14, { argv: ["snapshots", "--latest", "1"] });
    assert.deepEqual(one.args.slice(one.args.indexOf("snapshots")), ["snapshots", "--cache-dir=/var/cache/hb", "--json", "--latest", "1"]);
  });

  it("refuses arguments that put a password on the command line, and NUL bytes", function () {
    for (const bad of ["--password-file=/tmp/pw", "--password-command", "-p", "-p/tmp/pw", "--from-password-file=/x", "--password2", "--new-password-file=/x", "--password=hunter2"]) {
      assert.throws(() => R.resticPlan(job({ restic: { command: "snapshots", args: [bad] } }), nas, V14), /the password belongs in the profile/, bad);
    }
    assert.throws(() => R.resticPlan(job({ restic: { command: "snapshots", args: ["a\0b"] } }), nas, V14), /NUL/);
    const ok = R.resticPlan(job({ restic: { command: "backup", args: ["--", "-p", "--password-file"] } }), nas, V14);
    assert.deepEqual(ok.args.slice(-3), ["--", "-p", "--password-file"], "after -- they are file names");
    assert.throws(() => R.resticPlan(job({ restic: { command: "snapshots", args: ["--host=pw-nas-0001"] } }), nas, V14), /contains the repository password/);
  });

  it("copy (0.14+): this profile's repository is the source (RESTIC_FROM_*), copyTo's the destination", function () {
    const offsite = P.resolveProfile("offsite", defs);
    const plan = R.resticPlan(job({ restic: { command: "copy", tags: ["photos"] } }), nas, V14, { copyTo: offsite });
    assert.equal(plan.env.RESTIC_REPOSITORY, "s3:s3.amazonaws.com/bucket");
    assert.equal(plan.env.RESTIC_PASSWORD_FILE, "/etc/offsite.pw");
    assert.equal(plan.env.RESTIC_FROM_REPOSITORY, "sftp:backup@nas.lan:/srv/restic");
    assert.equal(plan.env.RESTIC_FROM_PASSWORD, "pw-nas-0001");
    assert.equal(plan.env.RESTIC_FROM_PASSWORD_FILE, "");
    assert.equal(plan.env.RESTIC_REPOSITORY2, "", "the legacy repo2 group is blanked (restic refuses both groups)");
    assert.equal(plan.env.AWS_SECRET_ACCESS_KEY, "s3-secret-value");
    assert.ok(plan.secrets.includes("pw-nas-0001") && plan.secrets.includes("s3-secret-value"));
    assert.ok(plan.args.includes("--tag=photos"));
    assert.ok(!plan.args.some((a) => /repo2|from-repo|password/.test(a)));
    assert.throws(() => R.resticPlan(job({ restic: { command: "copy" } }), nas, V14), /copy needs a destination profile/);
  });

  it("copy before 0.14: -r is the source and RESTIC_REPOSITORY2/RESTIC_PASSWORD_FILE2 the destination", function () {
    const offsite = P.resolveProfile("offsite", defs);
    const plan = R.resticPlan(job({ restic: { command: "copy" } }), nas, V13, { copyTo: offsite });
    assert.equal(plan.env.RESTIC_REPOSITORY, "sftp:backup@nas.lan:/srv/restic");
    assert.equal(plan.env.RESTIC_PASSWORD, "pw-nas-0001");
    assert.equal(plan.env.RESTIC_REPOSITORY2, "s3:s3.amazonaws.com/bucket");
    assert.equal(plan.env.RESTIC_PASSWORD_FILE2, "/etc/offsite.pw");
    assert.equal(plan.env.RESTIC_FROM_REPOSITORY, undefined);
  });
});

describe("restic: shellQuote", function () {
  const marker = () => path.join(os.tmpdir(), `hb-injected-${process.pid}`);
  const payloads = () => {
    const m = marker();
    return [
      `$(touch ${m})`, `\`touch ${m}\``, `; touch ${m}`, `' ; touch ${m}; '`, `" ; touch ${m} "`,
      `a\nb; touch ${m}`, `$HOME`, "*", "~", "\\", "", "it's", "'''", `"$(id)"`, "&& touch x &", "-n",
    ];
  };
  afterEach(() => fs.rmSync(marker(), { force: true }));

  it("a POSIX shell gets back every word exactly, running nothing", async function () {
    for (const p of payloads()) {
      const r = await u.run("sh", ["-c", `printf '%s' ${R.shellQuote(p)}`]);
      assert.equal(r.code, 0, p);
      assert.equal(r.stdout, p);
      assert.ok(!fs.existsSync(marker()), `payload ran: ${JSON.stringify(p)}`);
    }
    assert.equal(R.shellQuote("/srv/photos"), "/srv/photos");
    assert.equal(R.shellQuote("it's"), `'it'\\''s'`);
  });
});

describe("restic: real runs (on the restic PATH gives: 0.14, 0.18, 0.19 in turn)", function () {
  before(async function () {
    live = await R.detectResticVersion("restic");
    console.log(`      (restic ${live.version})`);
  });
  let repo;
  let src;
  let tree;
  before(async function () {
    repo = await initResticRepo();
    src = u.tmpDir("src");
    tree = u.makeTree(src, { files: 12, size: 64 * 1024, subdirs: 3, seed: 7 });
    fs.mkdirSync(path.join(src, "cache"));
    fs.writeFileSync(path.join(src, "cache", "skip.bin"), "x".repeat(1000));
    fs.writeFileSync(path.join(src, "note.tmp"), "y".repeat(500));
  });
  after(() => u.stopAll());

  it("backup --json: summary counts match the tree, excludes apply, progress is read", async function () {
    const j = job({ source: { type: "local", paths: [{ path: src, exclude: ["cache/", "*.tmp"] }] }, restic: { command: "backup", tags: ["t1"] } });
    const r = await resticRun(j, profileFor(repo));
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(r.outcome.status, "success", r.outcome.error);
    const s = r.outcome.stats;
    assert.equal(s.filesTotal, tree.files);
    assert.equal(s.filesChanged, tree.files);
    assert.equal(s.bytesTotal, tree.bytes);
    assert.ok(s.bytesTransferred >= tree.bytes, `data_added ${s.bytesTransferred}`);
    const full = R.resticFeatures(live).fullSnapshotId;
    assert.match(s.snapshotId, full ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{8}$/, "0.16+ report the full id, 0.14 the short one");
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
    assert.equal(snaps.length, 1);
    assert.equal(full ? snaps[0].id : snaps[0].short_id, s.snapshotId);
    if (R.atLeast(live, 0, 18)) {
      // 0.18+ add these to the summary; they are kept as restic sent them.
      assert.equal(typeof r.outcome.details.summary.data_added_packed, "number");
      assert.ok(Date.parse(r.outcome.details.summary.backup_end) >= Date.parse(r.outcome.details.summary.backup_start));
    }
    assert.deepEqual(snaps[0].tags, ["t1"]);
    const ls = (await restic(repo, ["ls", "latest"])).stdout;
    assert.ok(!ls.includes("skip.bin") && !ls.includes("note.tmp"), "excluded files are not in the snapshot");
    assert.ok(ls.includes(tree.paths[0]));
    // The last status line restic printed is what takeProgress reports.
    const statuses = r.stdout.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((m) => m && m.message_type === "status" && m.percent_done !== undefined && !m.action);
    const p = r.parser.takeProgress();
    if (statuses.length) {
      const last = statuses[statuses.length - 1];
      assert.equal(p.percent, Math.round(last.percent_done * 10000) / 100);
      assert.equal(p.bytesTotal, last.total_bytes ?? null);
      assert.equal(p.filesDone, last.files_done ?? 0);
    } else {
      assert.equal(p, null);
    }
    assert.equal(r.parser.takeProgress(), null, "progress is handed out once");
    // Nothing changed: a second run adds no files.
    const again = await resticRun(j, profileFor(repo));
    assert.equal(again.outcome.status, "success");
    assert.equal(again.outcome.stats.filesChanged, 0);
    assert.equal(again.outcome.stats.filesTotal, tree.files);
  });

  it("progress numbers come from real status lines of a larger backup", async function () {
    this.timeout(120000);
    const big = u.tmpDir("big");
    u.makeTree(big, { files: 6, size: 24 * 1024 * 1024, subdirs: 1, seed: 3 });
    const parser = new R.ResticParser("backup");
    const seen = [];
    const plan = R.resticPlan(job({ source: { paths: [{ path: big }] }, restic: { command: "backup" } }), profileFor(repo), live);
    const orig = parser.stdout.bind(parser);
    parser.stdout = (l) => { orig(l); const pr = parser.takeProgress(); if (pr) seen.push(pr); };
    const r = await runPlan(plan, parser);
    assert.equal(r.outcome.status, "success", r.outcome.error);
    assert.ok(seen.length >= 1, "at least one status line for 144 MB");
    const mid = seen.find((x) => x.percent !== null && x.bytesTotal) ?? seen[0];
    assert.ok(mid.percent >= 0 && mid.percent <= 100);
    if (mid.bytesTotal) assert.ok(mid.bytesDone <= mid.bytesTotal);
    assert.equal(r.outcome.stats.bytesTotal, 6 * 24 * 1024 * 1024);
  });

  it("exit 3 (a file the backup user cannot read) is a warning naming the file; the snapshot is saved", async function () {
    // root reads everything, so restic runs as nobody here, with its own repository.
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "hb-nobody-"));
    try {
      fs.chmodSync(base, 0o755);
      const data = path.join(base, "data");
      fs.mkdirSync(data);
      fs.writeFileSync(path.join(data, "ok.txt"), "readable");
      fs.writeFileSync(path.join(data, "locked.txt"), "secret");
      fs.writeFileSync(path.join(base, "pw"), "nobody-pass");
      for (const f of [base, data, path.join(data, "ok.txt"), path.join(data, "locked.txt"), path.join(base, "pw")]) fs.chownSync(f, 65534, 65534);
      fs.chmodSync(path.join(data, "locked.txt"), 0o000);
      const prof = P.resolveProfile("n", new Map([["n", { options: { repository: path.join(base, "repo"), "password-file": path.join(base, "pw"), "cache-dir": path.join(base, "cache") } }]]));
      const asNobody = (plan) => ({ ...plan, command: "setpriv", args: ["--reuid=65534", "--regid=65534", "--clear-groups", "--", plan.command, ...plan.args] });
      const init = await runPlan(asNobody(R.resticPlan(job({ restic: { command: "init" } }), prof, live)), new R.ResticParser("init"));
      assert.equal(init.outcome.status, "success", init.outcome.error);
      const r = await runPlan(asNobody(R.resticPlan(job({ source: { paths: [{ path: data }] }, restic: { command: "backup" } }), prof, live)), new R.ResticParser("backup"));
      assert.equal(r.code, 3, r.stderr.join("\n"));
      assert.equal(r.outcome.status, "warning");
      // The same words on every version (0.18+ put the path into the error; it is named once).
      assert.match(r.outcome.error, /^some source files could not be read \(1 error, e\.g\. \/.*\/locked\.txt: open: permission denied\); snapshot [0-9a-f]{8} was saved without them$/);
      assert.equal(r.outcome.stats.filesTotal, 1, "only ok.txt was read");
      assert.equal(r.outcome.details.errorCount, 1);
      assert.equal(r.outcome.details.errors[0].item, path.join(data, "locked.txt"));
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it("exit 3 as root too: a read error (EIO) from /proc/self/mem", async function () {
    const r = await resticRun(job({ source: { paths: [{ path: src, exclude: ["cache/"] }, { path: "/proc/self/mem" }] }, restic: { command: "backup" } }), profileFor(repo));
    assert.equal(r.code, 3);
    assert.equal(r.outcome.status, "warning");
    assert.match(r.outcome.error, /^some source files could not be read \(1 error, e\.g\. \/proc\/self\/mem: read: input\/output error\); snapshot [0-9a-f]{8} was saved without them$/);
    assert.ok(r.outcome.stats.snapshotId);
  });

  it("a missing source path: restic says 0 (3 from 0.19) and the outcome is a warning naming it", async function () {
    const r = await resticRun(job({ source: { paths: [{ path: src }, { path: "/nonexistent/hb-path" }] }, restic: { command: "backup" } }), profileFor(repo));
    assert.equal(r.code, R.atLeast(live, 0, 19) ? 3 : 0);
    assert.equal(r.outcome.status, "warning");
    assert.match(r.outcome.error, /^the source path \/nonexistent\/hb-path does not exist; snapshot [0-9a-f]{8} was saved without it$/);
    assert.ok(r.outcome.stats.snapshotId);
  });

  it("wrong password and missing repository are plain sentences", async function () {
    const wrong = await resticRun(job({ restic: { command: "snapshots" } }), profileFor(repo, {}, "wrong-password"));
    assert.equal(wrong.code, R.resticFeatures(live).exitCodeWrongPassword ? 12 : 1, "0.17.1+ exit 12");
    assert.equal(wrong.outcome.error, "wrong repository password: no key in the repository opens with it");
    const nowhere = path.join(u.tmpDir("empty"), "repo");
    const missing = await resticRun(job({ restic: { command: "snapshots" } }), profileFor({ ...repo, repository: nowhere }));
    assert.equal(missing.code, R.resticFeatures(live).exitCodesRepoLock ? 10 : 1, "0.17+ exit 10");
    assert.equal(missing.outcome.status, "failed");
    assert.match(missing.outcome.error, new RegExp(`^no restic repository at ${nowhere.replace(/[/.]/g, "\\$&")} `));
  });

  it("snapshots, stats, forget and check keep their parsed JSON in details", async function () {
    const prof = profileFor(repo);
    const snaps = await resticRun(job({ restic: { command: "snapshots" } }), prof);
    assert.equal(snaps.outcome.status, "success");
    assert.ok(Array.isArray(snaps.outcome.details.result) && snaps.outcome.details.result.length >= 2);
    assert.ok(snaps.outcome.details.result.every((s) => s.short_id && s.paths));
    const stats = await resticRun(job({ restic: { command: "stats" } }), prof);
    assert.equal(stats.outcome.status, "success");
    assert.ok(stats.outcome.details.result.total_file_count > 0);
    const forget = await resticRun(job({ restic: { command: "forget", args: ["--dry-run"] } }), prof, { keep: { last: 1 } });
    assert.equal(forget.outcome.status, "success", forget.outcome.error);
    const groups = forget.outcome.details.result;
    assert.ok(Array.isArray(groups) && groups.length >= 1);
    assert.ok(groups.every((g) => (g.keep ?? []).length === 1), "keep-last 1 keeps one per group");
    assert.ok(groups.some((g) => (g.remove ?? []).length >= 1), JSON.stringify(groups).slice(0, 300));
    const check = await resticRun(job({ restic: { command: "check" } }), prof, { readDataSubset: "50%" });
    assert.equal(check.outcome.status, "success", check.outcome.error);
    assert.ok(check.outcome.details.output.some((l) => /no errors were found/.test(l)));
  });

  it("init: a fresh repository, then 'already exists' as a failure", async function () {
    const dir = u.tmpDir("init");
    const prof = P.resolveProfile("i", new Map([["i", { options: { repository: path.join(dir, "repo"), "cache-dir": path.join(dir, "cache") }, password: "init-pass" }]]));
    const first = await resticRun(job({ restic: { command: "init" } }), prof);
    assert.equal(first.outcome.status, "success", first.outcome.error);
    const again = await resticRun(job({ restic: { command: "init" } }), prof);
    assert.equal(again.outcome.status, "failed");
    assert.equal(again.outcome.error, `a restic repository already exists at ${path.join(dir, "repo")}; it was left as it is`);
  });

  it("a held lock: parsed from restic's message, live then stale, removed by unlock", async function () {
    this.timeout(120000);
    const prof = profileFor(repo);
    let locker;
    const held = runPlan(R.resticPlan(job(), prof, live, { argv: ["check", "--read-data"] }), null, { onSpawn: (c) => { locker = c; } });
    // restic creates the lock file before it writes it, and ignores a lock it cannot load: stop
    // the check only once its lock reads back as its own.
    const locks = path.join(repo.path, "locks");
    await u.waitFor(async () => {
      const files = fs.readdirSync(locks).filter((f) => fs.statSync(path.join(locks, f)).size > 0);
      if (!files.length) return false;
      process.kill(locker.pid, "SIGSTOP");
      const cat = await restic(repo, ["cat", "lock", files[0], "--no-lock"]);
      if (cat.code === 0 && JSON.parse(cat.stdout).pid === locker.pid) return true;
      process.kill(locker.pid, "SIGCONT");
      return false;
    }, { interval: 5, what: "the check's lock, written" });
    try {
      const t0 = Date.now();
      const blocked = await resticRun(job({ restic: { command: "forget", args: ["--dry-run"] } }), prof, { keep: { last: 1 } });
      assert.equal(blocked.code, R.resticFeatures(live).exitCodesRepoLock ? 11 : 1, "0.17+ exit 11");
      assert.equal(blocked.outcome.status, "failed");
      const lock = blocked.outcome.details.lock;
      assert.equal(lock.pid, locker.pid);
      assert.equal(lock.host, os.hostname());
      assert.equal(lock.user, os.userInfo().username);
      assert.equal(lock.exclusive, true);
      assert.ok(lock.age >= 0 && lock.age < 60000, `age ${lock.age}`);
      assert.ok(Math.abs(lock.createdAt - (t0 - lock.age)) < 5000);
      assert.match(lock.storageId, /^[0-9a-f]{8}$/);
      assert.match(blocked.outcome.error, new RegExp(`^the repository is locked by another restic process \\(PID ${locker.pid} on ${os.hostname()} by ${lock.user}, created \\d+ s ago\\); if that process is gone, "restic unlock" removes the stale lock$`));
      assert.equal(R.isStale(lock, { maxAgeMs: 0 }), false, "the holder is alive (stopped)");
    } finally {
      process.kill(locker.pid, "SIGKILL");
    }
    await held;
    const after = await resticRun(job({ restic: { command: "forget", args: ["--dry-run"] } }), prof, { keep: { last: 1 } });
    const lock = after.outcome.details.lock;
    assert.ok(lock, "a killed process leaves its lock behind");
    assert.equal(R.isStale(lock, { maxAgeMs: 0 }), true, "same host, PID gone");
    assert.equal(R.isStale(lock, { maxAgeMs: 3600000 }), false, "but younger than the configured age");
    assert.equal(R.isStale(lock, { maxAgeMs: 0, hostname: "elsewhere" }), false, "another host's PID cannot be checked");
    const unlock = await resticRun(job({ restic: { command: "unlock" } }), prof);
    assert.equal(unlock.outcome.status, "success");
    const ok = await resticRun(job({ restic: { command: "snapshots" } }), prof);
    assert.equal(ok.outcome.status, "success");
    assert.equal(fs.readdirSync(path.join(repo.path, "locks")).length, 0);
  });

  it("copy between two real repositories (source by file password, destination by plain password)", async function () {
    const dest = await initResticRepo();
    const source = profileFor(repo);
    const made = await resticRun(job({ source: { paths: [{ path: src }] }, restic: { command: "backup", tags: ["copy-me"] } }), source);
    assert.equal(made.outcome.status, "success", made.outcome.error);
    const target = profileFor(dest, {}, dest.password);
    const r = await resticRun(job({ restic: { command: "copy", tags: ["copy-me"] } }), source, { copyTo: target });
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(r.outcome.status, "success");
    const copied = JSON.parse((await restic(dest, ["snapshots", "--json"])).stdout);
    const originals = JSON.parse((await restic(repo, ["snapshots", "--json", "--tag", "copy-me"])).stdout);
    assert.equal(originals.length, 1);
    assert.equal(copied.length, 1, "only the tagged snapshot was copied");
    assert.deepEqual(copied.map((s) => s.original).sort(), originals.map((s) => s.id).sort());
    assert.ok(!commandLine(r.plan).includes(dest.password));
  });
});

describe("restic: a backup of an ssh source runs restic on that host", function () {
  let sshd;
  let repo;
  let src;
  before(async function () {
    sshd = await startSshd();
    repo = await initResticRepo();
    src = u.tmpDir("remote-src");
    u.makeTree(src, { files: 5, size: 2048, subdirs: 1, seed: 5 });
  });
  after(() => u.stopAll());

  const sshJob = (fields = {}) => job({
    source: { type: "ssh", host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.clientKey, paths: [{ path: src }] },
    restic: { command: "backup", tags: ["remote"] },
    ...fields,
  });

  it("the password and every variable travel on stdin, never on a command line", async function () {
    const password = fs.readFileSync(repo.passwordFile, "utf8");
    const prof = profileFor(repo, { "flag.no-cache": "true", "env.HB_MARK": "unused" }, password);
    const plan = R.resticPlan(sshJob(), prof, V14, { knownHostsFile: sshd.knownHostsFile });
    assert.equal(plan.command, "ssh");
    assert.ok(!commandLine(plan).includes(password));
    assert.ok(plan.stdin.includes(`RESTIC_PASSWORD=${password}\n`));
    assert.ok(plan.stdin.includes(`RESTIC_REPOSITORY=${repo.repository}\n`));
    assert.ok(plan.stdin.endsWith("\n\n"));
    assert.ok(plan.args.includes(`UserKnownHostsFile=${sshd.knownHostsFile}`));
    assert.ok(plan.args.includes("StrictHostKeyChecking=yes"));
    assert.ok(!plan.args.some((a) => a.includes("--cache-dir")), "the local cache folder means nothing there");
    // Watch every process while it runs: none may carry the password in its argv.
    const leaks = [];
    let running = true;
    const watch = (async () => {
      while (running) {
        for (const p of u.processesMatching((x) => x.cmdline.join(" ").includes(password))) leaks.push(p.cmdline.join(" "));
        await u.sleep(10);
      }
    })();
    const r = await runPlan(plan, new R.ResticParser("backup"));
    running = false;
    await watch;
    assert.deepEqual(leaks, []);
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(r.outcome.status, "success", r.outcome.error);
    assert.equal(r.outcome.stats.filesTotal, 5);
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json", "--tag", "remote"])).stdout);
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0].short_id, r.outcome.stats.snapshotId);
  });

  it("variables with quotes, spaces and $ arrive intact (and a password file is read here first)", async function () {
    const out = path.join(u.tmpDir("probe"), "env.txt");
    const value = `a 'b' "c" $HOME \`id\` ; x`;
    // The "restic" here writes the variable it got, so the transport is checked word for word.
    const prof = profileFor(repo, { executable: ["sh", "-c", `printf '%s' "$HB_VALUE" > '${out}'`], "env.HB_VALUE": value });
    const password = await R.resolvePassword(prof);
    const plan = R.resticPlan(sshJob(), prof, V14, { knownHostsFile: sshd.knownHostsFile, password });
    const r = await runPlan(plan, null);
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(fs.readFileSync(out, "utf8"), value);
  });

  it("refuses to plan without known_hosts, or without a password it can send", function () {
    const prof = profileFor(repo);
    assert.throws(() => R.resticPlan(sshJob(), prof, V14, {}), /needs the product's known_hosts file/);
    assert.throws(() => R.resticPlan(sshJob(), prof, V14, { knownHostsFile: sshd.knownHostsFile }), /read it first \(resolvePassword\)/);
  });

  it("quoted words survive the remote shell: shellQuote against injection over ssh", async function () {
    const marker = path.join(u.tmpDir("inj"), "pwned");
    const payload = `'; touch ${marker}; echo '$(touch ${marker})\`touch ${marker}\`\n"`;
    const plan = R.remoteResticPlan(["printf", "%s", payload], { target: { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.clientKey }, knownHostsFile: sshd.knownHostsFile, env: {} });
    const r = await runPlan(plan, null);
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(r.stdout.join("\n"), payload);
    assert.ok(!fs.existsSync(marker));
  });
});

describe("restic: output of newer versions (synthetic, from restic's docs and source)", function () {
  const feed = (command, { stdout = [], stderr = [] }, code) => {
    const p = new R.ResticParser(command, { repository: "/srv/repo" });
    for (const l of stdout) p.stdout(l);
    for (const l of stderr) p.stderr(l);
    return p.finish(code, null);
  };

  it("0.17+: exit 10, 11, 12 without the 0.14 texts", function () {
    assert.match(feed("snapshots", { stderr: ["Fatal: repository does not exist: unable to open config file: stat /srv/repo/config: no such file or directory", "Is there a repository at the following location?", "/srv/repo"] }, 10).error, /^no restic repository at \/srv\/repo /);
    assert.equal(feed("backup", { stderr: ["some other words"] }, 11).error, "the repository is locked by another restic process");
    assert.match(feed("snapshots", { stderr: ["Fatal: wrong password or no key found"] }, 12).error, /^wrong repository password/);
    assert.match(feed("snapshots", {}, 12).error, /^wrong repository password/);
    assert.match(feed("snapshots", {}, 10).error, /^no restic repository at \/srv\/repo/);
  });

  it("0.18 --json: exit_error on stderr carries the lock report", function () {
    const msg = "unable to create lock in backend: repository is already locked by PID 4242 on nas by backup (UID 1000, GID 1000)\nlock was created at 2025-03-01 10:00:00 (2m5.5s ago)\nstorage ID 1a2b3c4d\nthe `unlock` command can be used to remove stale locks";
    const o = feed("backup", { stderr: [JSON.stringify({ message_type: "exit_error", code: 11, message: msg })] }, 11);
    assert.equal(o.status, "failed");
    assert.deepEqual({ ...o.details.lock, createdAt: typeof o.details.lock.createdAt }, {
      pid: 4242, host: "nas", user: "backup", uid: 1000, gid: 1000, exclusive: false, createdAt: "number",
      age: 125500, createdText: "2025-03-01 10:00:00", storageId: "1a2b3c4d",
    });
    assert.match(o.error, /PID 4242 on nas by backup, created 2 min ago/);
  });

  it("0.18 error objects ({error:{message}}), full snapshot ids, and exit 3", function () {
    const id = "a".repeat(64);
    const o = feed("backup", {
      stdout: [
        JSON.stringify({ message_type: "status", seconds_elapsed: 4, seconds_remaining: 6, percent_done: 0.4, total_files: 10, files_done: 4, total_bytes: 1000, bytes_done: 400, error_count: 1 }),
        JSON.stringify({ message_type: "summary", files_new: 3, files_changed: 1, files_unmodified: 5, data_added: 300, data_added_packed: 200, total_files_processed: 9, total_bytes_processed: 900, backup_start: "2025-01-01T00:00:00Z", snapshot_id: id }),
      ],
      stderr: [JSON.stringify({ message_type: "error", error: { message: "open /data/x: permission denied" }, during: "archival", item: "/data/x" }), "Warning: at least one source file could not be read"],
    }, 3);
    assert.equal(o.status, "warning");
    assert.deepEqual(o.stats, { filesTotal: 9, filesChanged: 4, bytesTotal: 900, bytesTransferred: 300, snapshotId: id });
    assert.match(o.error, /e\.g\. \/data\/x: open: permission denied\); snapshot aaaaaaaa was saved without them$/);
  });

  it("0.19: a missing source path exits 3 with no error object; the warning names the path", function () {
    const o = feed("backup", {
      stdout: [JSON.stringify({ message_type: "summary", files_new: 1, total_files_processed: 1, total_bytes_processed: 3, data_added: 705, data_added_packed: 665, snapshot_id: "c".repeat(64) })],
      stderr: ["/nonexistent does not exist, skipping", JSON.stringify({ message_type: "exit_error", code: 3, message: "Warning: at least one source file could not be read" })],
    }, 3);
    assert.equal(o.status, "warning");
    assert.equal(o.error, "the source path /nonexistent does not exist; snapshot cccccccc was saved without it");
  });

  it("a repository server that refuses, cannot be reached or is not trusted: a sentence, not 'no repository'", function () {
    const repo = "rest:https://alice:***@127.0.0.1:8000/r/";
    const f = (lines, code) => { const p = new R.ResticParser("snapshots", { repository: repo }); for (const l of lines) p.stderr(l); return p.finish(code, null).error; };
    // 0.14 (rc 1) and 0.18+ (exit_error JSON, rc 10) word a 401 differently.
    assert.match(f(["Fatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized", "Is there a repository at the following location?", repo], 1), /refused the user name or password \(401 Unauthorized\)/);
    assert.match(f([JSON.stringify({ message_type: "exit_error", code: 10, message: "Fatal: repository does not exist: unable to open config file: unexpected HTTP response (401): 401 Unauthorized\nIs there a repository at the following location?\n" + repo })], 10), /refused the user name or password/);
    assert.equal(f(["Fatal: unable to open config file: client.Head: Head \"http://127.0.0.1:1/x/config\": dial tcp 127.0.0.1:1: connect: connection refused", "Is there a repository at the following location?", "rest:http://127.0.0.1:1/x/"], 1),
      `the server of ${repo} cannot be reached (connection refused)`);
    assert.match(f(["Fatal: unable to open config file: Head \"https://127.0.0.1:8000/r/config\": tls: failed to verify certificate: x509: certificate signed by unknown authority"], 1), /presented a certificate that is not trusted; give its CA certificate in the profile's cacert option/);
  });

  it("lock reports of 0.14, 0.18 and 0.19 read alike (text, and exit_error JSON with exit 11)", function () {
    const text = (pid) => `unable to create lock in backend: repository is already locked exclusively by PID ${pid} on vm by root (UID 0, GID 0)\nlock was created at 2026-12-06 20:27:28 (7.736937155s ago)\nstorage ID 898e0c4e\nthe \`unlock\` command can be used to remove stale locks`;
    const v14 = feed("forget", { stderr: text(101).split("\n") }, 1);
    const v18 = feed("forget", { stderr: [JSON.stringify({ message_type: "exit_error", code: 11, message: text(101) })] }, 11);
    // 0.16+ in text mode say they wait (with --retry-lock) before the same report.
    const v19 = feed("forget", { stderr: ["repo already locked, waiting up to 3s for the lock", ...text(101).split("\n")] }, 11);
    for (const o of [v14, v18, v19]) {
      assert.equal(o.status, "failed");
      assert.equal(o.details.lock.pid, 101);
      assert.equal(o.details.lock.exclusive, true);
      assert.equal(o.details.lock.storageId, "898e0c4e");
      assert.equal(o.error, 'the repository is locked by another restic process (PID 101 on vm by root, created 8 s ago); if that process is gone, "restic unlock" removes the stale lock');
    }
  });

  it("status lines become Progress; rate from bytes and elapsed seconds; zero counters restic omitted", function () {
    const p = new R.ResticParser("backup");
    p.stdout(JSON.stringify({ message_type: "status", seconds_elapsed: 4, seconds_remaining: 6, percent_done: 0.4, total_files: 10, files_done: 4, total_bytes: 1000, bytes_done: 400 }));
    assert.deepEqual(p.takeProgress(), { percent: 40, bytesDone: 400, bytesTotal: 1000, filesDone: 4, filesTotal: 10, rate: 100, etaSeconds: 6 });
    p.stdout(JSON.stringify({ message_type: "status", percent_done: 0, total_files: 1 }));
    assert.deepEqual(p.takeProgress(), { percent: 0, bytesDone: 0, bytesTotal: null, filesDone: 0, filesTotal: 1, rate: null, etaSeconds: null });
    p.stdout(JSON.stringify({ message_type: "status", action: "scan_finished", item: "", duration: 0.2, data_size: 5, total_files: 1 }));
    assert.equal(p.takeProgress(), null, "0.14's scan_finished 'status' is not progress");
  });

  it("success rules: backup needs a summary (0.17 skip-if-unchanged has no snapshot id); other commands do not", function () {
    assert.deepEqual(feed("backup", {}, 0), { status: "failed", error: "restic ended without a summary", stats: { filesTotal: null, filesChanged: null, bytesTotal: null, bytesTransferred: null, snapshotId: null }, details: { restic: { command: "backup", exitCode: 0 } } });
    const skipped = feed("backup", { stdout: [JSON.stringify({ message_type: "summary", files_new: 0, files_changed: 0, total_files_processed: 3, total_bytes_processed: 30, data_added: 0 })] }, 0);
    assert.equal(skipped.status, "success");
    assert.equal(skipped.stats.snapshotId, null);
    assert.equal(feed("prune", { stdout: ["loading indexes...", "done"] }, 0).status, "success");
    assert.equal(feed("unlock", {}, 0).status, "success");
    const crash = feed("prune", { stderr: ["panic: runtime error: index out of range", "goroutine 1 [running]:"] }, 2);
    assert.match(crash.error, /^restic crashed \(Go runtime error\)/);
    const other = feed("prune", { stderr: ["Fatal: unable to load index: bad", "more context"] }, 1);
    assert.equal(other.error, "restic prune failed: unable to load index: bad");
    assert.equal(feed("backup", {}, 130).error, "restic was interrupted");
    assert.equal(new R.ResticParser("backup").finish(null, "SIGTERM").error, "restic was stopped by SIGTERM");
  });

  it("a JSON line cut by the line splitter is joined; results are bounded; text lines are a bounded ring", function () {
    const snaps = Array.from({ length: 3000 }, (_, i) => ({ id: String(i).padStart(64, "0"), short_id: String(i).padStart(8, "0"), paths: ["/srv/photos/" + "x".repeat(60)], hostname: "nas", time: "2025-01-01T00:00:00Z" }));
    const line = JSON.stringify(snaps);
    const p = new R.ResticParser("snapshots");
    for (let i = 0; i < line.length; i += 65536) p.stdout(line.slice(i, i + 65536));
    for (let i = 0; i < 120; i++) p.stderr(`noise ${i}`);
    const o = p.finish(0, null);
    assert.equal(o.status, "success");
    assert.equal(o.details.resultCount, 3000);
    assert.equal(o.details.resultTruncated, true);
    assert.ok(o.details.result.length > 0 && o.details.result.length <= 200);
    assert.equal(o.details.result[o.details.result.length - 1].short_id, "00002999", "the newest are kept");
    assert.ok(JSON.stringify(o.details.result).length <= 256 * 1024);
    assert.equal(o.details.output.length, 50);
    assert.equal(o.details.output[49], "noise 119");
  });
});

describe("restic: lock helpers", function () {
  it("parses Go durations", function () {
    assert.equal(R.parseGoDuration("1.100409222s"), 1100.409222);
    assert.equal(R.parseGoDuration("2m5.5s"), 125500);
    assert.equal(R.parseGoDuration("1h0m0s"), 3600000);
    assert.equal(R.parseGoDuration("850ms"), 850);
    assert.equal(R.parseGoDuration("1.5µs"), 0.0015);
    assert.equal(R.parseGoDuration("0s"), 0);
    assert.equal(R.parseGoDuration("soon"), null);
  });

  it("parses 0.14's lock text; nothing from other text", function () {
    const text = "unable to create lock in backend: repository is already locked exclusively by PID 8428 on vm by root (UID 0, GID 0)\nlock was created at 2026-11-22 22:26:47 (1.100409222s ago)\nstorage ID 58441020\nthe `unlock` command can be used to remove stale locks";
    const l = R.parseLockInfo(text, 1_000_000);
    assert.deepEqual(l, { pid: 8428, host: "vm", user: "root", uid: 0, gid: 0, exclusive: true, createdAt: 998900, age: 1100, createdText: "2026-11-22 22:26:47", storageId: "58441020" });
    assert.equal(R.parseLockInfo("Fatal: wrong password or no key found"), null);
  });

  it("isStale: old AND this host AND PID gone; another host only after restic's 30 minutes", function () {
    const lock = { pid: 99999999, host: "nas", user: "root", uid: 0, gid: 0, exclusive: true, createdAt: 0, age: 20 * 60000, createdText: null, storageId: null };
    const dead = () => false;
    const alive = () => true;
    assert.equal(R.isStale(lock, { maxAgeMs: 600000, hostname: "nas", isAlive: dead }), true);
    assert.equal(R.isStale(lock, { maxAgeMs: 600000, hostname: "nas", isAlive: alive }), false);
    assert.equal(R.isStale(lock, { maxAgeMs: 3600000, hostname: "nas", isAlive: dead }), false);
    assert.equal(R.isStale(lock, { maxAgeMs: 600000, hostname: "other", isAlive: dead }), false);
    assert.equal(R.isStale({ ...lock, age: 31 * 60000 }, { maxAgeMs: 600000, hostname: "other", isAlive: alive }), true);
    assert.equal(R.isStale({ ...lock, age: null, createdAt: null }, { maxAgeMs: 0, hostname: "nas", isAlive: dead }), false, "an unknown age is never stale");
    assert.equal(R.pidAlive(process.pid), true);
  });

  it("nextLockDelay backs off 5, 10, 20, 40, 60 s and never passes the budget", function () {
    const budget = 10 * 60000;
    const delays = [];
    let elapsed = 0;
    for (let attempt = 0; ; attempt++) {
      const d = R.nextLockDelay(attempt, elapsed, budget);
      if (d === null) break;
      delays.push(d);
      elapsed += d;
    }
    assert.deepEqual(delays.slice(0, 6), [5000, 10000, 20000, 40000, 60000, 60000]);
    assert.equal(elapsed, budget);
    assert.equal(R.nextLockDelay(0, 0, 3000), 3000);
    assert.equal(R.nextLockDelay(3, 9000, 9000), null);
    assert.equal(R.nextLockDelay(0, 0, 0), null);
  });
});
