"use strict";
// The conflict gate's engine: what a job holds, which jobs conflict, and the admission queue
// on a real Engine (real processes for the runs that hold resources), with a manual clock.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const {
  jobResources, claimsOf, conflicts, conflictsOn, normalizeKey, repositoryId, parseTags,
} = require("../../dist/lib/conflict/resources");
const { Gate, gaveUpText, waitText } = require("../../dist/lib/conflict/gate");
const { Engine } = require("../../dist/lib/runs/engine");
const { ManualClock } = require("../../dist/lib/notify/clock");
const { tmpDir, stopAll, waitFor, processesMatching } = require("../fixtures/util");

// ---- job builders ----

let n = 0;
function rsync(name, { src = { type: "local" }, dst = { type: "local", path: `/backup/${name}` }, resources } = {}) {
  return { id: `id-${name}-${++n}`, name, engine: "rsync", source: { ...src, paths: [{ path: "/data" }] }, destination: dst, ...(resources ? { resources } : {}) };
}
function restic(name, profile, extra = {}) {
  return { id: `id-${name}-${++n}`, name, engine: "restic", profile, source: { type: "local", paths: [{ path: "/data" }] }, ...extra };
}
const sshSrc = (host) => ({ type: "ssh", host, user: "backup" });
const sshDst = (host, p = "/backup") => ({ type: "ssh", host, user: "backup", path: p });
const rsyncd = (host, module, p) => ({ type: "rsyncd", host, module, ...(p ? { path: p } : {}) });

/** A process that runs until cancelled, as the engine runs any tool. */
function holdStep(tag) {
  return {
    plan: { command: "sleep", args: ["300"], env: { HB_GATE_TEST: tag } },
    parser: {
      stdout() {}, stderr() {}, takeProgress: () => null,
      finish: (code) => ({ status: code === 0 ? "success" : "failed", error: null, stats: { filesTotal: null, filesChanged: null, bytesTotal: null, bytesTransferred: null, snapshotId: null } }),
    },
  };
}

describe("conflict resources", function () {
  it("a job holds itself, its ssh source host, its destination and its tags", () => {
    assert.deepEqual(jobResources(rsync("a")), [`job:id-a-${n}`, "path:/backup/a"]);
    const j = rsync("b", { src: sshSrc("NAS.lan."), dst: sshDst("Backup-Host", "/srv/b/"), resources: ["usb", "dest:Other"] });
    assert.deepEqual(jobResources(j), [`job:${j.id}`, "source:nas.lan", "dest:backup-host", "tag:usb", "dest:other"]);
    assert.deepEqual(jobResources(j, { destinations: "share", tags: ["link"] }).slice(2), ["dest:backup-host:/srv/b", "tag:usb", "dest:other", "tag:link"]);
    const d = rsync("c", { dst: rsyncd("NAS", "photos", "sub") });
    assert.deepEqual(jobResources(d).slice(1), ["dest:nas"]);
    assert.deepEqual(jobResources(d, { destinations: "share" }).slice(1), ["dest:nas::photos"]);
    const noId = { name: "plain", engine: "rsync", source: { paths: [{ path: "/x" }] }, destination: { type: "local", path: "/y/" } };
    assert.deepEqual(jobResources(noId), ["job:plain", "path:/y"]);
    assert.deepEqual(jobResources(rsync("v6", { src: sshSrc("[FE80::1]") })).slice(1, 2), ["source:[fe80::1]"]);
  });

  it("a restic job holds its repository (when given) and its profile; its destination field means nothing", () => {
    const r = restic("r", "nas-repo", { destination: { type: "ssh", host: "ignored", path: "/x" } });
    assert.deepEqual(jobResources(r).slice(1), ["profile:nas-repo"]);
    assert.deepEqual(jobResources(r, { repository: "sftp:backup@nas:/srv/restic/" }).slice(1), ["repo:sftp:backup@nas:/srv/restic", "profile:nas-repo"]);
    assert.deepEqual(jobResources(r, { repository: ["/a/repo", "local:/b/repo/"] }).slice(1), ["repo:/a/repo", "repo:/b/repo", "profile:nas-repo"]);
    // A password inside a repository URL never becomes part of a key that people see.
    assert.equal(repositoryId("rest:https://user:s3cret@host:8000/repo/"), "rest:https://user@host:8000/repo");
    assert.ok(!JSON.stringify(jobResources(r, { repository: "rest:https://u:s3cret@h/r" })).includes("s3cret"));
    const ssh = restic("rs", "p", { source: { type: "ssh", host: "web1", paths: [{ path: "/var/www" }] } });
    assert.ok(jobResources(ssh).includes("source:web1"));
  });

  it("keys imply shared holds on their parents", () => {
    assert.deepEqual([...claimsOf(["path:/backup/a/b"])], [["path:/backup/a/b", false], ["path:/backup/a", true], ["path:/backup", true], ["path:/", true]]);
    assert.deepEqual([...claimsOf(["dest:nas:/srv/x"])], [["dest:nas:/srv/x", false], ["dest:nas", true], ["dest:nas:/srv", true], ["dest:nas:/", true]]);
    assert.deepEqual([...claimsOf(["dest:nas::photos", "dest:nas"])], [["dest:nas::photos", false], ["dest:nas", false]]);
    assert.equal(normalizeKey("dest:[::1]:/a/../b/"), "dest:[::1]:/b");
    assert.equal(normalizeKey(" usb "), "tag:usb");
    assert.deepEqual(parseTags("a, b\n c,,"), ["a", "b", "c"]);
  });

  it("restic jobs on one repository conflict; on different repositories they do not", () => {
    const a = jobResources(restic("a", "p1"), { repository: "/srv/repo" });
    const b = jobResources(restic("b", "p2"), { repository: "/srv/repo/" });
    const c = jobResources(restic("c", "p3"), { repository: "/srv/other" });
    assert.deepEqual(conflictsOn(a, b), ["repo:/srv/repo"]);
    assert.equal(conflicts(a, c), false);
    // The same profile is the same repository, known or not.
    assert.deepEqual(conflictsOn(jobResources(restic("d", "p1")), a), ["profile:p1"]);
    assert.equal(conflicts(jobResources(restic("e", "p4")), a), false);
  });

  it("jobs sharing an ssh source host or a destination host conflict; other hosts do not", () => {
    const res = (j, o) => jobResources(j, o);
    assert.deepEqual(conflictsOn(res(rsync("a", { src: sshSrc("web1") })), res(rsync("b", { src: sshSrc("WEB1") }))), ["source:web1"]);
    assert.equal(conflicts(res(rsync("a", { src: sshSrc("web1") })), res(rsync("b", { src: sshSrc("web2") }))), false);
    assert.deepEqual(conflictsOn(res(rsync("a", { dst: sshDst("nas", "/a") })), res(rsync("b", { dst: rsyncd("nas", "m") }))), ["dest:nas"]);
    assert.equal(conflicts(res(rsync("a", { dst: sshDst("nas") })), res(rsync("b", { dst: sshDst("nas2") }))), false);
    // Highball's rule: a source host is not a destination host.
    assert.equal(conflicts(res(rsync("a", { src: sshSrc("nas") })), res(rsync("b", { dst: sshDst("nas") }))), false);
    // Local sources are nothing by themselves; local destinations conflict by folder.
    assert.equal(conflicts(res(rsync("a")), res(rsync("b"))), false);
    assert.deepEqual(conflictsOn(res(rsync("a", { dst: { type: "local", path: "/backup" } })), res(rsync("b", { dst: { type: "local", path: "/backup/x/" } }))), ["path:/backup"]);
    assert.deepEqual(conflictsOn(res(rsync("a", { dst: { type: "local", path: "/b/x" } })), res(rsync("b", { dst: { type: "local", path: "/b/x" } }))), ["path:/b/x"]);
    // A tag is a resource like any other; one job's tag may name another's host.
    assert.deepEqual(conflictsOn(res(rsync("a", { resources: ["usb"] })), res(rsync("b"), { tags: ["usb"] })), ["tag:usb"]);
    assert.deepEqual(conflictsOn(res(rsync("a", { resources: ["dest:NAS"] })), res(rsync("b", { dst: sshDst("nas") }))), ["dest:nas"]);
  });

  it("share granularity: folders and modules of one host run together, nested folders do not, a host-wide job waits for all", () => {
    const share = (j) => jobResources(j, { destinations: "share" });
    const a = share(rsync("a", { dst: sshDst("nas", "/srv/a") }));
    const b = share(rsync("b", { dst: sshDst("nas", "/srv/b") }));
    const inner = share(rsync("c", { dst: sshDst("nas", "/srv/a/deep") }));
    const m1 = share(rsync("m1", { dst: rsyncd("nas", "photos") }));
    const m2 = share(rsync("m2", { dst: rsyncd("nas", "music") }));
    const wide = jobResources(rsync("w", { dst: sshDst("nas") }));
    assert.equal(conflicts(a, b), false);
    assert.equal(conflicts(m1, m2), false);
    assert.equal(conflicts(a, m1), false);
    assert.deepEqual(conflictsOn(a, inner), ["dest:nas:/srv/a"]);
    for (const x of [a, b, m1, m2]) assert.deepEqual(conflictsOn(x, wide), ["dest:nas"]);
  });
});

describe("conflict gate", function () {
  this.timeout(30000);
  let engine, gate, clock;

  beforeEach(async function () {
    engine = Engine.get(tmpDir("gate"));
    clock = new ManualClock(1_000_000);
    gate = new Gate(engine, { clock, claimMs: 30_000 });
    await gate.ready;
  });
  afterEach(async function () {
    gate.close();
    await engine.stopAll("test over");
  });
  after(async function () {
    await stopAll();
  });

  /** Asks the gate for a job and records what happens to it. */
  function ask(job, opts = {}) {
    const t = { job, admitted: null, delayed: [], timedOut: null, dropped: null, order: null };
    t.ticket = gate.request({
      job, owner: opts.owner ?? "n1", delayMs: opts.delayMs, maxWaitMs: opts.maxWaitMs,
      resources: opts.resources ?? (opts.repository ? jobResources(job, { repository: opts.repository }) : undefined),
      onAdmit: (a) => { t.admitted = a; t.order = ask.seq++; opts.onAdmit?.(a); },
      onDelayed: (w) => t.delayed.push(w),
      onTimeout: (w) => { t.timedOut = w; },
      onDrop: (r) => { t.dropped = r; },
    });
    return t;
  }
  ask.seq = 0;

  /** Starts a real run of `job` on the engine, as a run node would (no gate involved). */
  function run(job) {
    return engine.start({ job, key: job.id, command: "test", steps: [holdStep(job.name)], nodeId: "runner", resources: job.resources });
  }
  async function end(r) {
    const ended = new Promise((res) => engine.once("end", res));
    r.cancel("test: end of run");
    await ended;
  }

  it("two restic jobs on one repository are serialized; the second starts when the first run ends", async () => {
    const a = ask(restic("a", "p1"), { repository: "/srv/repo" });
    const b = ask(restic("b", "p2"), { repository: "/srv/repo" });
    assert.ok(a.admitted);
    assert.equal(b.admitted, null);
    assert.equal(b.ticket.state, "waiting");
    assert.deepEqual(b.ticket.blockedBy, [{ job: "a", jobId: a.job.id, kind: "reservation", on: ["repo:/srv/repo"] }]);
    const ra = run(a.job); // claims a's reservation
    assert.deepEqual(gate.status().holding.map((h) => [h.job, h.kind, h.runId]), [["a", "run", ra.runId]]);
    assert.ok(gate.status().holding[0].resources.includes("repo:/srv/repo"), "the run keeps the repository its reservation knew");
    clock.advance(60_000); // a claimed reservation does not expire
    assert.equal(b.admitted, null);
    let admittedBeforeEnd = null;
    engine.prependOnceListener("end", () => { admittedBeforeEnd = b.admitted; });
    await end(ra);
    assert.equal(admittedBeforeEnd, null, "not admitted before the end event");
    assert.ok(b.admitted, "admitted on the end event");
    assert.deepEqual(b.admitted.queuedBehind, ["a"]);
    assert.equal(b.admitted.waitedMs, 60_000);
  });

  it("jobs on different repositories or hosts are admitted together", () => {
    const list = [
      ask(restic("r1", "p1"), { repository: "/srv/r1" }),
      ask(restic("r2", "p2"), { repository: "/srv/r2" }),
      ask(rsync("h1", { src: sshSrc("web1"), dst: sshDst("nas1") })),
      ask(rsync("h2", { src: sshSrc("web2"), dst: sshDst("nas2") })),
      ask(rsync("l1")), ask(rsync("l2")),
    ];
    for (const t of list) assert.ok(t.admitted, `${t.job.name} admitted`);
    assert.equal(gate.status().holding.length, 6);
    assert.equal(gate.status().waiting.length, 0);
  });

  it("keeps FIFO order over 200 queued jobs on one resource", () => {
    const holder = ask(rsync("first", { dst: sshDst("nas") }));
    assert.ok(holder.admitted);
    const queued = [];
    for (let i = 0; i < 200; i++) queued.push(ask(rsync(`q${i}`, { dst: sshDst("nas", `/p${i}`) })));
    assert.ok(queued.every((t) => !t.admitted));
    assert.deepEqual(gate.status().waiting.slice(0, 3).map((w) => [w.position, w.job]), [[1, "q0"], [2, "q1"], [3, "q2"]]);
    let current = holder;
    const order = [];
    for (let i = 0; i < 200; i++) {
      gate.release(current.job.name); // its reservation
      const now = queued.filter((t) => t.admitted && !order.includes(t.job.name));
      assert.equal(now.length, 1, "one at a time");
      order.push(now[0].job.name);
      current = now[0];
    }
    assert.deepEqual(order, queued.map((t) => t.job.name));
  });

  it("no starvation: a job waiting for A and B is not overtaken by later jobs needing only A", () => {
    const holdA = ask(rsync("holdA", { resources: ["A"] }));
    const holdB = ask(rsync("holdB", { resources: ["B"] }));
    const both = ask(rsync("both", { resources: ["A", "B"] }));
    const later = [];
    for (let i = 0; i < 5; i++) later.push(ask(rsync(`onlyA${i}`, { resources: ["A"] })));
    const other = ask(rsync("onlyC", { resources: ["C"] }));
    assert.ok(holdA.admitted && holdB.admitted);
    assert.ok(other.admitted, "a job conflicting with nothing waiting passes at once");
    gate.release("holdA"); // A is free, but "both" still waits for B and is ahead on A
    assert.equal(both.admitted, null);
    assert.ok(later.every((t) => !t.admitted), "later jobs on A stay behind the job that waits for A and B");
    assert.deepEqual(gate.status().waiting.find((w) => w.job === "onlyA0").blockedBy.map((b) => [b.job, b.kind]), [["both", "queued"]]);
    gate.release("holdB");
    assert.ok(both.admitted);
    assert.ok(later.every((t) => !t.admitted));
    gate.release("both");
    assert.deepEqual(later.map((t) => Boolean(t.admitted)), [true, false, false, false, false]);
  });

  it("no starvation through shared holds: a parent folder waiting is not overtaken by later sibling folders", () => {
    const a = ask(rsync("a", { dst: { type: "local", path: "/backup/a" } }));
    const parent = ask(rsync("parent", { dst: { type: "local", path: "/backup" } }));
    const b = ask(rsync("b", { dst: { type: "local", path: "/backup/b" } }));
    const elsewhere = ask(rsync("elsewhere", { dst: { type: "local", path: "/other" } }));
    assert.ok(a.admitted && elsewhere.admitted);
    assert.equal(parent.admitted, null);
    assert.equal(b.admitted, null, "a sibling that conflicts only with the waiting parent queues behind it");
    gate.release("a");
    assert.ok(parent.admitted);
    assert.equal(b.admitted, null);
    gate.release("parent");
    assert.ok(b.admitted);
  });

  it("reports a delay once, then gives up at the maximum wait; the next job moves up", () => {
    const holdB = ask(rsync("holdB", { resources: ["B"] }));
    const holdA = ask(rsync("holdA", { resources: ["A"] }));
    const w = ask(rsync("w", { resources: ["A", "B"] }), { delayMs: 5 * 60_000, maxWaitMs: 20 * 60_000 });
    const next = ask(rsync("next", { resources: ["A"] }));
    clock.advance(10_000);
    // The admissions turn into runs (otherwise they would expire after the claim time).
    run(holdA.job); run(holdB.job);
    clock.advance(5 * 60_000 - 10_000 - 1);
    assert.equal(w.delayed.length, 0);
    clock.advance(1);
    assert.equal(w.delayed.length, 1);
    assert.equal(w.delayed[0].waitedMs, 5 * 60_000);
    assert.deepEqual(w.delayed[0].blockedBy.map((b) => [b.job, b.kind, b.on.join()]).sort(), [["holdA", "run", "tag:A"], ["holdB", "run", "tag:B"]]);
    assert.equal(gate.countOf("n1").delayed, 1);
    clock.advance(10 * 60_000);
    assert.equal(w.delayed.length, 1, "once");
    assert.equal(w.timedOut, null);
    clock.advance(5 * 60_000);
    assert.ok(w.timedOut);
    assert.equal(w.timedOut.waitedMs, 20 * 60_000);
    assert.equal(gaveUpText(w.timedOut), 'waited 20 min for "holdA" (running), "holdB" (running); gave up');
    assert.equal(w.admitted, null);
    assert.equal(next.admitted, null, "A is still held by a run");
    assert.deepEqual(gate.status().waiting.map((x) => x.job), ["next"]);
    assert.equal(waitText(45_000), "45 s");
    assert.equal(waitText(90_000), "1.5 min");
  });

  it("a job that gives up frees its place for the jobs behind it", () => {
    ask(rsync("holdB", { resources: ["B"] }));
    const w = ask(rsync("w", { resources: ["A", "B"] }), { maxWaitMs: 20_000 });
    const next = ask(rsync("next", { resources: ["A"] }));
    assert.equal(next.admitted, null);
    clock.advance(20_000);
    assert.ok(w.timedOut);
    assert.equal(w.admitted, null);
    assert.ok(next.admitted, "A was free; only the job ahead held it back");
  });

  it("release drops a waiting job or frees an admission; flush drops what waits", () => {
    const h = ask(rsync("h", { resources: ["X"] }));
    const w1 = ask(rsync("w1", { resources: ["X"] }), { owner: "n1" });
    const w2 = ask(rsync("w2", { resources: ["X"] }), { owner: "n2" });
    const w3 = ask(rsync("w3", { resources: ["X"] }), { owner: "n1" });
    assert.deepEqual(gate.release("w1"), { dropped: ["w1"], released: [] });
    assert.equal(w1.dropped, "released by a message");
    assert.deepEqual(gate.release("nothing-like-it"), { dropped: [], released: [] });
    assert.deepEqual(gate.release(h.job.id), { dropped: [], released: ["h"] });
    assert.ok(w2.admitted);
    assert.deepEqual(gate.flush("n1"), ["w3"]);
    assert.ok(w3.dropped);
    const w4 = ask(rsync("w4", { resources: ["X"] }), { owner: "n3" });
    const w5 = ask(rsync("w5", { resources: ["X"] }), { owner: "n4" });
    assert.deepEqual(gate.flush(), ["w4", "w5"]);
    assert.ok(w4.dropped && w5.dropped);
    assert.equal(gate.status().waiting.length, 0);
  });

  it("an admission that no run claims expires after the claim time", () => {
    const a = ask(rsync("a", { dst: sshDst("nas") }));
    const b = ask(rsync("b", { dst: sshDst("nas") }));
    assert.ok(a.admitted);
    assert.equal(gate.status().holding[0].expiresAt, 1_000_000 + 30_000);
    clock.advance(29_999);
    assert.equal(b.admitted, null);
    clock.advance(1);
    assert.ok(b.admitted);
    assert.equal(b.admitted.waitedMs, 30_000);
  });

  it("a run started without a gate blocks a gated job until it ends", async () => {
    const job = rsync("ungated", { dst: sshDst("nas", "/a") });
    const r = run(job);
    const t = ask(rsync("gated", { dst: sshDst("nas", "/b") }));
    assert.equal(t.ticket.state, "waiting");
    assert.deepEqual(t.ticket.blockedBy, [{ job: "ungated", jobId: job.id, kind: "run", on: ["dest:nas"] }]);
    clock.advance(120_000);
    assert.equal(t.admitted, null, "a run holds until it ends, whatever the time");
    await waitFor(() => processesMatching((p) => p.cmdline.join(" ") === "sleep 300").length > 0, { what: "the run's process" });
    await end(r);
    assert.ok(t.admitted);
  });

  it("a gate made while runs are running takes them from the registry", async () => {
    gate.close();
    const job = rsync("running", { resources: ["disk"] });
    const r = run(job);
    gate = new Gate(engine, { clock });
    await gate.ready;
    const t = ask(rsync("late", { resources: ["disk"] }));
    assert.deepEqual(t.ticket.blockedBy.map((b) => [b.job, b.kind]), [["running", "run"]]);
    await end(r);
    assert.ok(t.admitted);
  });

  it("a second trigger of a waiting job is merged; a trigger of a running job waits for it", async () => {
    const job = rsync("same", { resources: ["Q"] });
    const first = ask(job);
    const r = run(job);
    const second = ask(job);
    assert.equal(second.ticket.state, "waiting", "the same job waits for its own run");
    const third = ask(job);
    assert.equal(third.ticket.state, "merged");
    assert.equal(third.ticket.waiting.job, "same");
    assert.ok(first.admitted);
    await end(r);
    assert.ok(second.admitted);
    assert.equal(third.admitted, null);
  });

  it("pause admits nothing until resume; waiting jobs keep their order", () => {
    gate.pause();
    const a = ask(rsync("a", { resources: ["P"] }));
    const b = ask(rsync("b", { resources: ["P"] }));
    const c = ask(rsync("c"));
    assert.ok(!a.admitted && !b.admitted && !c.admitted);
    assert.equal(gate.status().paused, true);
    assert.equal(gate.status().waiting[2].paused, true);
    gate.resume();
    assert.ok(a.admitted && c.admitted);
    assert.equal(b.admitted, null);
    assert.ok(a.order < c.order);
  });

  it("after a crash, runs that were running hold nothing: the next job is admitted", async () => {
    const home = tmpDir("crash");
    // A registry left by a Node-RED process that is gone.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const deadPid = Number(dead.stdout);
    fs.writeFileSync(path.join(home, "running.json"), JSON.stringify({ runs: [{
      runId: "20250101T000000-abcdef", key: "old", job: "old", engine: "rsync", command: "sync", startedAt: Date.now() - 1000,
      pid: null, ownerPid: deadPid, logFile: "x.log", resources: ["disk"], deadline: null,
    }] }));
    const fresh = Engine.get(home);
    const interrupted = new Promise((res) => fresh.once("interrupted", res));
    const g = new Gate(fresh, { clock });
    try {
      const got = [];
      g.request({ job: rsync("next", { resources: ["disk"] }), onAdmit: (a) => got.push(a) });
      assert.equal(got.length, 0, "nothing is admitted before the engine has recovered");
      assert.equal((await interrupted).status, "interrupted");
      await g.ready;
      assert.equal(got.length, 1);
      assert.deepEqual(g.status().holding.map((h) => h.job), ["next"]);
    } finally {
      g.close();
    }
  });

  it("a callback that throws does not wedge the queue", () => {
    const errors = [];
    gate.on("callbackError", (e) => errors.push(e));
    ask(rsync("h", { resources: ["Z"] }));
    ask(rsync("bad", { resources: ["Z"] }), { onAdmit: () => { throw new Error("listener bug"); } });
    const good = ask(rsync("good", { resources: ["Y"] }));
    const after = ask(rsync("after", { resources: ["Z"] }));
    assert.ok(good.admitted);
    gate.release("h");
    assert.equal(errors.length, 1);
    gate.release("bad");
    assert.ok(after.admitted);
  });
});

describe("conflict gate against a reference model", function () {
  this.timeout(60000);
  after(async function () {
    await stopAll();
  });

  // mulberry32, so a failure is reproducible from its seed.
  function prng(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  for (const seed of [1, 2, 3]) {
    it(`random requests, releases and expiries keep the FIFO rule and lose no wake-up (seed ${seed})`, async () => {
      const rnd = prng(seed);
      const pick = (list) => list[Math.floor(rnd() * list.length)];
      const engine = Engine.get(tmpDir("model"));
      const clock = new ManualClock(0);
      const gate = new Gate(engine, { clock, claimMs: 1000 });
      await gate.ready;
      const jobs = new Map(); // name -> {seq, resources}
      let seq = 0;
      let admissions = 0;
      const violations = [];
      const shapes = [
        () => ({ resources: [pick(["A", "B", "C", "D"])] }),
        () => ({ resources: [pick(["A", "B"]), pick(["C", "D"])] }),
        () => ({ dst: { type: "local", path: pick(["/b", "/b/x", "/b/y", "/b/x/deep", "/c"]) } }),
        () => ({ src: sshSrc(pick(["h1", "h2"])), dst: sshDst(pick(["n1", "n2"])) }),
      ];
      try {
        for (let op = 0; op < 3000; op++) {
          const r = rnd();
          const st = gate.status();
          if (r < 0.5 || (!st.holding.length && !st.waiting.length)) {
            const name = `j${++seq}`;
            const job = rsync(name, pick(shapes)());
            const resources = jobResources(job);
            jobs.set(name, { seq, resources });
            gate.request({
              job, resources, maxWaitMs: rnd() < 0.2 ? 500 + Math.floor(rnd() * 3000) : 0,
              onAdmit: () => {
                admissions++;
                const me = jobs.get(name);
                for (const w of gate.status().waiting) {
                  const other = jobs.get(w.job);
                  if (other.seq < me.seq && conflicts(other.resources, me.resources)) violations.push(`${name} overtook ${w.job}`);
                }
              },
            });
          } else if (r < 0.8 && st.holding.length) {
            gate.release(pick(st.holding).job);
          } else if (r < 0.9 && st.waiting.length) {
            gate.release(pick(st.waiting).job);
          } else {
            clock.advance(Math.floor(rnd() * 1500));
          }
          // Holders never conflict with each other, and no waiter that could go is left waiting.
          const now = gate.status();
          for (let i = 0; i < now.holding.length; i++) {
            for (let k = i + 1; k < now.holding.length; k++) {
              if (conflicts(now.holding[i].resources, now.holding[k].resources)) violations.push(`${now.holding[i].job} and ${now.holding[k].job} hold together`);
            }
          }
          for (const w of now.waiting) {
            const me = jobs.get(w.job);
            const held = now.holding.some((h) => conflicts(h.resources, me.resources));
            const ahead = now.waiting.some((o) => jobs.get(o.job).seq < me.seq && conflicts(jobs.get(o.job).resources, me.resources));
            if (!held && !ahead) violations.push(`${w.job} could go but waits (op ${op})`);
          }
          if (violations.length) break;
        }
      } finally {
        gate.close();
      }
      assert.deepEqual(violations, []);
      assert.ok(admissions > 500, `only ${admissions} admissions`);
    });
  }
});
