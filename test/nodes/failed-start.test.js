"use strict";
// Every failure is a run (SPEC "Every failure is a run"): a run that cannot start (no password,
// an unreadable password file, a failing password command, a missing profile, an invalid
// msg.job) is recorded like any run, sent on output 1, caught, and alerted by a notify node.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { next, collect } = require("../support/flow");
const { tmpDir, stopAll, waitFor } = require("../fixtures/util");
const { initResticRepo } = require("../fixtures/restic");
const { startTelegram } = require("../fixtures/telegram");

const nodes = [
  require("../../dist/nodes/highball-profile-config/highball-profile-config.js"),
  require("../../dist/nodes/highball-backup-job/highball-backup-job.js"),
  require("../../dist/nodes/highball-restic-run/highball-restic-run.js"),
  require("../../dist/nodes/highball-rsync-run/highball-rsync-run.js"),
  require("../../dist/nodes/highball-notify/highball-notify.js"),
];
const TOKEN = "123456789:AAFfailedStartToken-abcdefghijklmnop";

describe(`a run that cannot start is still a run (Node-RED ${helper.major})`, function () {
  this.timeout(60000);
  let repo, tg, home;

  before(async function () {
    [repo, tg] = await Promise.all([initResticRepo(), startTelegram()]);
  });
  after(async function () {
    await tg.stop();
    await stopAll();
  });
  beforeEach(function () {
    home = tmpDir("home");
    helper.settings({ highball: { dir: home } });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  /** profile options (no password credential unless given) → backup job → restic → notify. */
  function flow({ options, password, job = {}, run = {} }) {
    const f = [
      { id: "tab", type: "tab", label: "t" },
      { id: "cfg-nas", type: "highball-profile-config", name: "nas", options: { repository: repo.repository, "cache-dir": repo.cacheDir, ...options } },
      { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "restic", profile: "nas", source: { type: "local", paths: [{ path: repo.dir }] }, ...job, wires: [["run"]] },
      { id: "run", z: "tab", type: "highball-restic-run", name: "restic", ...run, wires: [["result", "alert"], ["progress"]] },
      { id: "alert", z: "tab", type: "highball-notify", name: "alerts", chatId: "4711", apiRoot: tg.apiRoot, wires: [["told"]] },
      { id: "result", z: "tab", type: "helper" },
      { id: "progress", z: "tab", type: "helper" },
      { id: "told", z: "tab", type: "helper" },
      { id: "catcher", z: "tab", type: "catch", scope: ["run"], uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "tab", type: "helper" },
    ];
    const creds = { alert: { botToken: TOKEN } };
    if (password) creds["cfg-nas"] = { password };
    return { f, creds };
  }

  /** Triggers `target` and returns the result, the caught error and the notify node's output. */
  async function fails(target, msg = {}, { alerted = true } = {}) {
    tg.requests.length = 0;
    const result = next(helper, "result");
    const caught = next(helper, "caught");
    // The notify node batches a repeat of the same job's failure: the first one is told at once.
    const told = alerted ? next(helper, "told", 15000) : null;
    const progress = collect(helper, "progress");
    helper.getNode(target).receive(msg);
    const [r, c, t] = await Promise.all([result, caught, told]);
    assert.equal(progress.length, 0);
    return { result: r, caught: c, told: t };
  }

  /** What must hold of every failed start: payload, catch, status, history, log, notify. */
  async function expectRecorded({ result, caught, told }, { key, name, why }) {
    const p = result.payload;
    assert.equal(p.status, "failed");
    assert.equal(p.ok, false);
    assert.equal(p.exitCode, null);
    assert.equal(p.job, name);
    assert.equal(p.jobId, key);
    assert.match(p.error, why);
    for (const field of ["runId", "engine", "command", "startedAt", "finishedAt", "durationMs", "filesTotal", "filesChanged", "bytesTotal", "bytesTransferred", "snapshotId"]) {
      assert.ok(field in p, `payload has ${field}`);
    }
    assert.equal(result.topic, name);
    assert.equal(typeof result.run.runId, "string");
    assert.match(caught.error.message, why);
    const run = helper.getNode("run");
    assert.equal(run.status.lastCall.args[0].fill, "red");

    const jobs = (await helper.request().get("/highball/jobs").expect(200)).body;
    const listed = jobs.find((j) => j.id === key);
    assert.ok(listed, `GET highball/jobs lists ${key}: ${JSON.stringify(jobs.map((j) => j.id))}`);
    assert.equal(listed.last.runId, p.runId);
    assert.equal(listed.last.status, "failed");
    assert.equal(listed.last.exitCode, null);
    assert.match(listed.last.error, why);
    const runs = (await helper.request().get(`/highball/jobs/${encodeURIComponent(key)}/runs`).expect(200)).body;
    assert.equal(runs[0].runId, p.runId);
    assert.equal(runs[0].status, "failed");
    const log = (await helper.request().get(`/highball/runs/${p.runId}/log`).expect(200)).text;
    assert.match(log, why);

    if (!told) return;
    assert.match(told.payload, new RegExp(`✖ ${name}: failed`));
    assert.match(told.payload, why);
    const sent = tg.requests.find((r) => r.method === "sendMessage");
    assert.ok(sent, "the notify node alerted through Telegram");
    assert.match(sent.body.text, why);
  }

  it("a profile with no password", async function () {
    const { f, creds } = flow({ options: {} });
    await helper.load(nodes, f, creds);
    // Said at deploy, before any run.
    const profile = helper.getNode("cfg-nas");
    await waitFor(() => profile.error.getCalls().some((c) => /^profile "nas" has no password .*: every run of this profile fails until it is set$/.test(String(c.args[0]))), { what: "the profile's error at deploy", timeout: 5000 });
    const got = await fails("j1");
    await expectRecorded(got, { key: "j1", name: "photos", why: /profile "nas" has no password/ });
    // The backup job's own status shows the failure too (the Backups tab reads the same history).
    assert.equal(helper.getNode("j1").status.lastCall.args[0].fill, "red");
  });

  it("a password file that cannot be read (missing, or a folder)", async function () {
    for (const [file, code] of [[path.join(repo.dir, "no-such-file"), "ENOENT"], [repo.dir, "EISDIR"]]) {
      const { f, creds } = flow({ options: { "password-file": file } });
      await helper.load(nodes, f, creds);
      const got = await fails("j1");
      await expectRecorded(got, { key: "j1", name: "photos", why: new RegExp(`password file .* cannot be read \\(${code}\\)`) });
      await helper.unload();
      }
  });

  it("a password command that fails", async function () {
    const { f, creds } = flow({ options: { "password-command": "false" } });
    await helper.load(nodes, f, creds);
    await expectRecorded(await fails("j1"), { key: "j1", name: "photos", why: /the password command failed \(exit code 1\)/ });
  });

  it("a profile that is not deployed, named by the job or by msg.job", async function () {
    const { f, creds } = flow({ password: repo.password, job: { profile: "gone" }, run: { acceptJobs: true } });
    await helper.load(nodes, f, creds);
    await expectRecorded(await fails("j1"), { key: "j1", name: "photos", why: /profile "gone" is not a deployed restic profile/ });
    const msgJob = { name: "from http", engine: "restic", profile: "elsewhere", source: { paths: [{ path: repo.dir }] } };
    await expectRecorded(await fails("run", { job: msgJob }), { key: "from http", name: "from http", why: /profile "elsewhere" is not a deployed restic profile/ });
  });

  it("an invalid msg.job is recorded under its name, or under the node's own job when it has none", async function () {
    const { f, creds } = flow({ password: repo.password, run: { profile: "cfg-nas", acceptJobs: true } });
    await helper.load(nodes, f, creds);
    await expectRecorded(await fails("run", { job: { name: "from http", engine: "restic", source: { paths: [{ path: "relative" }] } } }),
      { key: "from http", name: "from http", why: /must be an absolute path/ });
    // A string names a deployed job; naming none is refused, under the node's own job.
    await expectRecorded(await fails("run", { job: "not an object" }), { key: "restic", name: "restic", why: /msg.job names "not an object", which is no deployed job's id or name/ });
  });

  it("a msg.job that claims a deployed job's id under another name never writes into that job's history", async function () {
    const { f, creds } = flow({ password: repo.password, run: { profile: "cfg-nas" } });
    await helper.load(nodes, f, creds);
    const forged = { id: "j1", name: "not photos", engine: "restic", source: { paths: [{ path: "relative" }] } };
    await expectRecorded(await fails("run", { job: forged }), { key: "restic", name: "restic", why: /carries the id of deployed job "photos" but not its settings/ });
    // A name that is a deployed job's id is no way in either.
    await expectRecorded(await fails("run", { job: { name: "j1", engine: "restic", source: { paths: [{ path: "relative" }] } } }, { alerted: false }),
      { key: "restic", name: "restic", why: /carries the id of deployed job "photos"/ });
    const j1 = (await helper.request().get("/highball/jobs/j1/runs").expect(200)).body;
    assert.deepEqual(j1, []);
  });

  it("a restic job that names no profile takes its restic node's, through a conflict gate (SPEC: profiles, chosen once)", async function () {
    const gate = require("../../dist/nodes/highball-conflict-gate/highball-conflict-gate.js");
    const { f, creds } = flow({ password: repo.password, job: { profile: "" }, run: { profile: "cfg-nas" } });
    f.find((n) => n.id === "j1").wires = [["gate"]];
    f.push({ id: "gate", z: "tab", type: "highball-conflict-gate", name: "one at a time", delay: 0, maxWait: 0, destinations: "host", tags: "", wires: [["run"], [], []] });
    await helper.load([...nodes, gate], f, creds);
    assert.ok(!helper.getNode("j1").status.getCalls().some((c) => c.args[0]?.text === "invalid job"), "the job is not marked invalid");
    const result = next(helper, "result", 60000);
    helper.getNode("j1").receive({});
    const r = await result;
    assert.equal(r.payload.status, "success", r.payload.error);
    assert.match(r.payload.snapshotId, /^[0-9a-f]{8,}$/);
    assert.equal(r.payload.jobId, "j1");
  });

  it("an rsync node given an invalid msg.job, and one whose own settings are broken", async function () {
    const f = [
      { id: "tab", type: "tab", label: "t" },
      { id: "run", z: "tab", type: "highball-rsync-run", name: "mirror", args: "-e sh", wires: [["result", "alert"], ["progress"]] },
      { id: "alert", z: "tab", type: "highball-notify", name: "alerts", chatId: "4711", apiRoot: tg.apiRoot, wires: [["told"]] },
      { id: "result", z: "tab", type: "helper" },
      { id: "progress", z: "tab", type: "helper" },
      { id: "told", z: "tab", type: "helper" },
      { id: "catcher", z: "tab", type: "catch", scope: ["run"], uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "tab", type: "helper" },
    ];
    await helper.load(nodes, f, { alert: { botToken: TOKEN } });
    // The node's settings are broken (an argument off the allow-list): every input fails, recorded
    // under the node (it accepts no job from messages, so none may name a history).
    const got = await fails("run", { job: { name: "nightly", engine: "rsync", source: { paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "/tmp/x" } } });
    assert.equal(got.result.payload.engine, "rsync");
    assert.equal(got.result.payload.command, "sync");
    await expectRecorded(got, { key: "run", name: "mirror", why: /not allowed/ });
    await helper.unload();
    f[1].args = "";
    f[1].acceptJobs = true;
    await helper.load(nodes, f, { alert: { botToken: TOKEN } });
    await expectRecorded(await fails("run", { job: { name: "nightly", engine: "rsync", source: { paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "x/../../etc" } } }),
      { key: "nightly", name: "nightly", why: /destination.path must be an absolute path/ });
    await expectRecorded(await fails("run", {}), { key: "run", name: "mirror", why: /no job to run/ });
  });
});
