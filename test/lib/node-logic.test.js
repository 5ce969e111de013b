"use strict";
// What the node wrappers decide, tested without Node-RED: a schedule trigger (lib/schedule/trigger.ts),
// a conflict gate's door (lib/conflict/door.ts) and the notify node's settings (lib/notify/settings.ts).
// The wrappers' own tests (test/nodes/) prove the same through Node-RED.
const assert = require("node:assert/strict");
const { Scheduler, ManualClock } = require("../../dist/lib/schedule");
const { ScheduleTrigger, presetsOf } = require("../../dist/lib/schedule/trigger");
const { Door } = require("../../dist/lib/conflict/door");
const { Gate } = require("../../dist/lib/conflict/gate");
const { Engine } = require("../../dist/lib/runs/engine");
const { ManualClock: GateClock } = require("../../dist/lib/notify/clock");
const { notifyConfig, notifyLook, forgetTarget, submitError } = require("../../dist/lib/notify/settings");
const { tmpDir, stopAll } = require("../fixtures/util");

function trigger(cfg = {}, start = "2025-06-04T00:00:00Z") {
  const clock = new ManualClock(start);
  const scheduler = new Scheduler({ clock, onError: (err) => { throw err; } });
  const seen = { fired: [], looks: [], next: [] };
  const t = new ScheduleTrigger(scheduler, {
    id: "t1", name: "", schedule: "daily at 02:00", timezone: "UTC", presets: presetsOf({}), missed: "skip", missedHours: "", passthrough: false, ...cfg,
  }, {
    fire: (out, via) => (via ? via(out) : seen.fired.push(out)),
    look: (l) => seen.looks.push(l),
    next: (at) => seen.next.push(at),
  });
  return { t, clock, scheduler, seen };
}

describe("ScheduleTrigger (the schedule-trigger node's decisions)", function () {
  it("schedules, shows the next run, fires on time with the SPEC's message", async function () {
    const { t, clock, scheduler, seen } = trigger({ name: "nightly" });
    assert.equal(t.begin(), null);
    assert.equal(seen.next.at(-1), Date.parse("2025-06-04T02:00:00Z"));
    assert.equal(seen.looks.at(-1).fill, "blue");
    assert.match(seen.looks.at(-1).text, /^next: /);
    clock.advance(2 * 3600_000);
    assert.equal(seen.fired.length, 1);
    const out = seen.fired[0];
    assert.equal(out.topic, "nightly");
    assert.equal(out.payload.reason, "schedule");
    assert.equal(out.payload.scheduledAt, Date.parse("2025-06-04T02:00:00Z"));
    assert.equal(out.trigger.next, Date.parse("2025-06-05T02:00:00Z"));
    assert.equal(out.trigger.cron, "0 2 * * *");
    await t.close();
    assert.equal(scheduler.has("t1"), false);
  });

  it("pause, resume, status and a new schedule by message; bad input is a sentence and changes nothing", async function () {
    const { t, seen } = trigger();
    t.begin();
    const paused = t.act({ action: "pause" }, () => assert.fail("pause fires nothing"));
    assert.equal(paused.action, "pause");
    assert.equal(paused.payload.paused, true);
    assert.deepEqual(seen.looks.at(-1), { fill: "grey", shape: "ring", text: "paused" });
    assert.equal(seen.next.at(-1), null);
    assert.equal(t.act({ action: "RESUME " }, () => undefined).payload.paused, false);
    assert.throws(() => t.act({ action: "explode" }, () => undefined), /unknown action "explode": expected trigger, pause, resume, status, schedule/);
    assert.throws(() => t.act({ action: "schedule", payload: "every blue moon" }, () => undefined));
    assert.equal(t.status().schedule, "daily at 02:00", "an invalid new schedule leaves the running one");
    const changed = t.act({ action: "schedule", payload: { schedule: "hourly at :15", missed: "within:6" } }, () => undefined);
    assert.equal(changed.payload.cron, "15 * * * *");
    assert.equal(changed.payload.missed, "within:6");
    await t.close();
  });

  it("a manual fire answers through the input's send, carrying the input when passthrough is on", async function () {
    const { t, seen } = trigger({ passthrough: true });
    t.begin();
    const sent = [];
    assert.equal(t.act({ payload: 42, action: "trigger", keep: "me" }, (out) => sent.push(out)), null);
    assert.equal(seen.fired.length, 0);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].keep, "me");
    assert.equal(sent[0].action, undefined);
    assert.equal(sent[0].payload.reason, "manual");
    assert.equal(sent[0].trigger.input, 42);
    await t.close();
  });

  it("an invalid schedule is a sentence and a red status, yet a manual fire still works", async function () {
    const { t, seen } = trigger({ schedule: "whenever" });
    const problem = t.begin();
    assert.ok(problem && problem.length > 10, problem);
    assert.deepEqual(seen.looks.at(-1), { fill: "red", shape: "ring", text: "invalid schedule" });
    assert.throws(() => t.act({ action: "pause" }, () => undefined), /^Error: cannot pause: /);
    const ev = t.fireNow();
    assert.equal(ev.reason, "manual");
    assert.equal(seen.fired.length, 1);
    assert.equal(t.status().error, problem);
    await t.close();
  });
});

describe("Door (the conflict-gate node's decisions)", function () {
  this.timeout(30000);
  let engine, gate;
  beforeEach(async function () {
    engine = Engine.get(tmpDir("door"));
    gate = new Gate(engine, { clock: new GateClock(1_000_000), claimMs: 30_000 });
    await gate.ready;
  });
  afterEach(async function () {
    gate.close();
    await engine.stopAll("test over");
  });
  after(async function () { await stopAll(); });

  function door(settings = {}) {
    const seen = { looks: [], logs: [], warns: [] };
    const d = new Door(gate, { id: "g1", ...settings }, {
      look: (l) => seen.looks.push(l), log: (t) => seen.logs.push(t), warn: (t) => seen.warns.push(t), repositoryOf: () => undefined,
      deployed: () => [...engine.jobs.values()].map((e) => ({ id: e.nodeId, job: e.job })),
    });
    return { d, seen };
  }
  const job = (name) => ({ id: `id-${name}`, name, engine: "rsync", source: { type: "local", paths: [{ path: "/data" }] }, destination: { type: "local", path: `/backup/${name}` } });

  it("admits a free job on output 1 with what it holds, and says free", async function () {
    const { d, seen } = door();
    assert.deepEqual(seen.looks.at(-1), { fill: "green", shape: "dot", text: "free" });
    const outs = [];
    const done = await new Promise((resolve) => d.input({ job: job("a") }, (o) => outs.push(o), resolve));
    assert.equal(done, undefined);
    assert.equal(outs.length, 1);
    assert.equal(outs[0][1], null);
    assert.deepEqual(outs[0][0].gate.resources, ["job:id-a", "path:/backup/a"]);
    d.close();
  });

  it("bad settings and bad messages are sentences through done(err), never a throw", async function () {
    const bad = door({ delay: "soon" });
    assert.match(bad.d.configError, /the delay threshold must be a number of minutes/);
    assert.deepEqual(bad.seen.looks.at(-1), { fill: "red", shape: "ring", text: "invalid settings" });
    bad.d.close();
    const { d } = door();
    const err = await new Promise((resolve) => d.input({ payload: 1 }, () => assert.fail("nothing is sent"), resolve));
    assert.match(err.message, /no job to gate: msg.job is missing/);
    const act = await new Promise((resolve) => d.input({ action: "explode" }, () => undefined, resolve));
    assert.match(act.message, /unknown action "explode"/);
    const status = [];
    await new Promise((resolve) => d.input({ action: "status", job: job("x") }, (o) => status.push(o), resolve));
    assert.equal(status[0][0].topic, "status");
    assert.equal(status[0][0].job, undefined);
    assert.ok(Array.isArray(status[0][0].payload.waiting));
    d.close();
  });
});

describe("notify settings (the notify node's translation)", function () {
  it("turns the editor's strings into a config with the defaults, credentials only where given", function () {
    const c = notifyConfig({ name: "n", windowSeconds: "30", burst: "", staleHours: "2", onSuccess: "true", chatId: " 42 ", smtpHost: "mail", smtpTo: "a@b", smtpPort: "2525", smtpSecurity: "tls" }, { botToken: "t0k", user: "u", password: "p" });
    assert.equal(c.windowMs, 30000);
    assert.equal(c.burst, 3);
    assert.equal(c.staleMs, 7200000);
    assert.equal(c.policy.onSuccess, true);
    assert.equal(c.policy.onFailure, true);
    assert.deepEqual(c.telegram, { token: "t0k", chatId: "42", parseMode: "HTML" });
    assert.deepEqual(c.email, { host: "mail", to: "a@b", security: "tls", port: 2525, user: "u", password: "p", tlsRejectUnauthorized: true });
    const bare = notifyConfig({}, undefined);
    assert.equal(bare.telegram, undefined);
    assert.equal(bare.email, undefined);
  });

  it("shows settings first, then delivery, batching and what was sent", function () {
    const base = { problems: false, failing: false, held: 0, sent: 0, channels: 1 };
    assert.equal(notifyLook({ ...base, problems: true, failing: true }).text, "check settings");
    assert.equal(notifyLook({ ...base, failing: true, held: 3 }).text, "delivery failed");
    assert.equal(notifyLook({ ...base, held: 3 }).text, "batching 3");
    assert.equal(notifyLook({ ...base, sent: 2 }).text, "sent 2");
    assert.equal(notifyLook({ ...base, channels: 0 }).text, "output only");
    assert.deepEqual(notifyLook(base), {});
  });

  it("names the job a forget message means, and the sentence of a failed delivery", function () {
    assert.equal(forgetTarget({ payload: { jobId: "j1", job: "name" } }), "j1");
    assert.equal(forgetTarget({ payload: " docs " }), "docs");
    assert.equal(forgetTarget({ topic: "t" }), "t");
    assert.equal(submitError({ state: "invalid", error: "not a run result" }), "not a run result");
    assert.equal(submitError({ state: "held", held: 1 }), null);
    const delivery = { failures: [{ channel: "telegram", error: "chat not found." }], notification: { subject: "S" } };
    assert.equal(submitError({ state: "sent", delivery }), 'The notification "S" was not sent by telegram: chat not found.');
    assert.equal(submitError({ state: "failed", delivery, error: "x" }), 'The notification "S" was not sent: chat not found.');
    assert.equal(submitError({ state: "sent", delivery: { failures: [], notification: { subject: "S" } } }), null);
  });
});

describe("which deployed jobs a run node runs (lib/job/authority.ts reaching, mayUseProfile)", function () {
  const { reaching, mayUseProfile } = require("../../dist/lib/job/authority");
  const flow = [
    { id: "j1", type: "highball-backup-job", wires: [["gate"]] },
    { id: "gate", type: "highball-conflict-gate", wires: [["run"], ["delayed"], []] },
    { id: "j2", type: "highball-backup-job", wires: [["lo"]] },
    { id: "lo", type: "link out", links: ["li"] },
    { id: "li", type: "link in", wires: [["run"]] },
    { id: "j3", type: "highball-backup-job", wires: [["other"]] },
    { id: "run", type: "highball-restic-run", wires: [["j4"]] },
    { id: "j4", type: "highball-backup-job", wires: [[]] },
    { id: "other", type: "highball-restic-run", wires: [[]] },
  ];

  it("follows wires and link nodes upstream, never downstream or into another node's jobs", function () {
    assert.deepEqual([...reaching("run", flow)].sort(), ["gate", "j1", "j2", "li", "lo"]);
    assert.deepEqual([...reaching("other", flow)], ["j3"]);
    // A loop back into the node ends.
    assert.deepEqual([...reaching("a", [{ id: "a", wires: [["b"]] }, { id: "b", wires: [["a"]] }])].sort(), ["a", "b"]);
  });

  it("a profile is the node's own or a wired restic job's, by id or by name", function () {
    const names = { "cfg-a": "a", "cfg-b": "b", "cfg-c": "c", a: "a", b: "b", c: "c" };
    const nameOf = (r) => names[r] ?? null;
    const wired = [{ id: "j1", job: { name: "x", engine: "restic", profile: "b" } }, { id: "j2", job: { name: "y", engine: "rsync", profile: "cfg-c" } }];
    for (const ref of ["a", "cfg-a", "b", "cfg-b"]) assert.equal(mayUseProfile(ref, "cfg-a", wired, nameOf), true, ref);
    for (const ref of ["c", "cfg-c"]) assert.equal(mayUseProfile(ref, "cfg-a", wired, nameOf), false, ref);
    assert.equal(mayUseProfile("a", undefined, [], nameOf), false);
    // Not deployed: nothing to open; the run node says it is no deployed profile.
    assert.equal(mayUseProfile("gone", "cfg-a", wired, nameOf), true);
  });
});
