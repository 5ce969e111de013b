"use strict";
// Faults that must leave a working product: state files that do not parse (moved aside, told
// once in the log and in the Backups tab, the next run recorded), with real rsync runs.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun, rsyncFlow, next } = require("../support/flow");
const { tmpDir, makeTree, waitFor } = require("../fixtures/util");
const { keyFile } = require("../../dist/lib/runs/history");

const nodes = [backupJob, rsyncRun];

describe(`corrupt state files (Node-RED ${helper.major})`, function () {
  this.timeout(60000);
  let home;
  beforeEach(function () {
    home = tmpDir("home");
    helper.settings({ highball: { dir: home } });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  function warnings() {
    return helper.log().args.map((a) => a[0]).filter((e) => e && e.level === 30 && /could not be read/.test(String(e.msg)));
  }

  it("a history, registry and deleted-job file that do not parse are moved aside; the API answers, the next run is recorded, each is told once", async function () {
    const write = (rel, text) => { fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true }); fs.writeFileSync(path.join(home, rel), text); };
    write(`history/${keyFile("j1")}.json`, "{\"key\": \"j1\", \"runs\": [ {\"runId\": \"x\"");
    write(`history/${keyFile("other")}.json`, "[1, 2, 3]");
    write("running.json", "\u0000\u0000garbage");
    write(`deleted/${keyFile("gone")}.json`, "{");
    const src = tmpDir("src"), dst = path.join(tmpDir("dst"), "out");
    makeTree(src, { files: 3, size: 100 });
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    await helper.load(nodes, flow, {});

    const jobs = await helper.request().get("/highball/jobs").expect(200);
    assert.deepEqual(jobs.body.map((j) => j.id), ["j1"]);
    assert.equal(jobs.body[0].last, null, "the broken history starts afresh");
    await helper.request().get("/highball/jobs/j1/runs").expect(200, []);
    await helper.request().get("/highball/jobs/other/runs").expect(200, []);

    const result = next(helper, "result");
    helper.getNode("j1").receive({});
    const msg = await result;
    assert.equal(msg.payload.status, "success", msg.payload.error);
    const runs = await helper.request().get("/highball/jobs/j1/runs").expect(200);
    assert.deepEqual(runs.body.map((r) => r.runId), [msg.payload.runId], "the next run is recorded");
    await helper.request().get(`/highball/runs/${msg.payload.runId}/log`).expect(200);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(JSON.parse(fs.readFileSync(path.join(home, "history", `${keyFile("j1")}.json`), "utf8")).runs[0].runId, msg.payload.runId, "and on disk");

    const aside = (dir) => fs.readdirSync(path.join(home, dir)).filter((f) => /\.corrupt-\d{8}T\d{6}Z$/.test(f));
    assert.equal(aside("history").length, 2);
    assert.equal(aside("deleted").length, 1);
    assert.equal(aside(".").length, 1, "running.json");
    const notices = (await helper.request().get("/highball/notices").expect(200)).body.corrupt;
    assert.deepEqual(notices.map((n) => n.file).sort(), [`deleted/${keyFile("gone")}.json`, `history/${keyFile("j1")}.json`, `history/${keyFile("other")}.json`, "running.json"].sort());
    for (const n of notices) assert.ok(fs.existsSync(path.join(home, n.movedTo)), n.movedTo);
    // Reading again reports nothing new: each file is told once.
    await helper.request().get("/highball/jobs").expect(200);
    assert.equal(warnings().length, 4, JSON.stringify(warnings()));
  });
});

describe(`full disks with real rsync (Node-RED ${helper.major})`, function () {
  this.timeout(90000);
  const { mountTmpfs, canMount } = require("../support/tmpfs");
  let dest, own;
  before(function () {
    if (!canMount()) this.skip();
    dest = mountTmpfs("1m");
    own = mountTmpfs("2m");
  });
  after(() => { dest?.umount(); own?.umount(); });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  async function load(home, src, dst) {
    helper.settings({ highball: { dir: home } });
    const { flow } = rsyncFlow({ name: "job", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst } });
    await helper.load(nodes, flow, {});
    return async () => {
      const result = next(helper, "result");
      helper.getNode("j1").receive({});
      return (await result).payload;
    };
  }

  it("a full destination: failed, a sentence naming the disk, history intact; freed, the next run works at once", async function () {
    const src = tmpDir("src");
    makeTree(src, { files: 8, size: 300 * 1024 });
    const dst = path.join(dest.dir, "out");
    const run = await load(tmpDir("home"), src, dst);
    const r = await run();
    assert.equal(r.status, "failed");
    assert.match(r.error, new RegExp(`^the destination disk is full: ${dst} is on the disk mounted at ${dest.dir}`));
    assert.match(r.error, /No space left on device/, "rsync's own words follow");
    // Freed: what did not fit is left out of the source, the partial copy removed.
    fs.rmSync(dst, { recursive: true, force: true });
    fs.rmSync(src, { recursive: true });
    makeTree(src, { files: 4, size: 100 * 1024 });
    const again = await run();
    assert.equal(again.status, "success", again.error);
    const runs = (await helper.request().get("/highball/jobs/j1/runs").expect(200)).body;
    assert.deepEqual(runs.map((x) => x.status), ["success", "failed"]);
  });

  it("a full product folder: failed, a sentence naming Highball's own folder, earlier history intact; freed, the next run works at once", async function () {
    const home = path.join(own.dir, "home");
    const src = tmpDir("src"), dst = path.join(tmpDir("dst"), "out");
    makeTree(src, { files: 5, size: 1000 });
    const run = await load(home, src, dst);
    assert.equal((await run()).status, "success");
    await new Promise((r) => setTimeout(r, 200));
    own.fill(0);
    const r = await run();
    assert.equal(r.status, "failed");
    assert.match(r.error, new RegExp(`^the disk of Highball's own folder ${home} \\(mounted at ${own.dir}\\) is full`));
    own.free();
    const again = await run();
    assert.equal(again.status, "success", again.error);
    await waitFor(() => {
      const file = fs.readdirSync(path.join(home, "history")).find((f) => f.endsWith(".json"));
      return JSON.parse(fs.readFileSync(path.join(home, "history", file), "utf8")).runs.length === 3;
    }, { what: "three records on disk" });
    const runs = (await helper.request().get("/highball/jobs/j1/runs").expect(200)).body;
    assert.deepEqual(runs.map((x) => x.status), ["success", "failed", "success"]);
  });
});
