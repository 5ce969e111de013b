"use strict";
// A full disk during a run: the run ends `failed` with a sentence naming the disk (never a run
// left hanging for a log that cannot be written), and the history keeps every record.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { Engine } = require("../../dist/lib/runs/engine");
const { RsyncParser } = require("../../dist/lib/engines/rsync");
const { validateJob } = require("../../dist/lib/job/validate");
const { mountOf } = require("../../dist/lib/runs/diskfull");
const { mountTmpfs, canMount } = require("../support/tmpfs");

const job = (name) => validateJob({ name, engine: "rsync", source: { type: "local", paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "/tmp/x" } });
const shell = (script) => ({ plan: { command: "sh", args: ["-c", script] }, parser: new RsyncParser([]) });

describe("Highball's own folder on a full disk", function () {
  this.timeout(60000);
  let disk;
  before(function () { if (!canMount()) this.skip(); disk = mountTmpfs("1m"); });
  after(() => disk?.umount());

  it("a log that fills the disk mid-run lets the tool go on: the run ends failed, naming the folder; freed, the next run works at once", async function () {
    const home = path.join(disk.dir, "home");
    const e = Engine.get(home);
    await e.ready;
    const ok = await e.start({ job: job("a"), key: "a", command: "sync", steps: [shell("echo fine")] }).result;
    assert.equal(ok.status, "success");
    await e.settled();
    disk.fill(400 * 1024);
    // 2 MB of output through the log (no direct output): before, the log's "drain" never came
    // after the disk error, the tool stayed paused and the run hung until a redeploy cancelled it.
    const run = e.start({ job: job("a"), key: "a", command: "sync", steps: [shell("i=0; while [ $i -lt 40000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done")] });
    const r = await run.result;
    assert.equal(r.status, "failed");
    assert.match(r.error, new RegExp(`^the disk of Highball's own folder ${home} \\(mounted at ${disk.dir}\\) is full.*the run's log could not be written completely`));
    await assert.rejects(run.saved, /history record could not be written yet/);
    assert.deepEqual((await e.history.list("a")).map((x) => x.status), ["failed", "success"], "readers see both records");

    // Completely full: the tool is not even started.
    disk.fill(0);
    const none = await e.start({ job: job("a"), key: "a", command: "sync", steps: [shell("touch /tmp/should-not-run-$$; echo ran")] }).result;
    assert.equal(none.status, "failed");
    assert.match(none.error, /is full .*so the tool was not started/);

    disk.free();
    const again = e.start({ job: job("a"), key: "a", command: "sync", steps: [shell("echo fine again")] });
    const r2 = await again.result;
    assert.equal(r2.status, "success", r2.error);
    await again.saved;
    const onDisk = JSON.parse(fs.readFileSync(path.join(e.history.dir, fs.readdirSync(e.history.dir).find((f) => f.endsWith(".json"))), "utf8"));
    assert.deepEqual(onDisk.runs.map((x) => x.status), ["success", "failed", "failed", "success"], "history intact on disk once there is room");
  });

  it("mountOf names the mount point of a path, existing or not yet", function () {
    assert.equal(mountOf(path.join(disk.dir, "not", "yet")), disk.dir);
    assert.equal(mountOf("/"), "/");
  });
});
