"use strict";
// A real Node-RED killed with kill -9 in the middle of a run, then started again: the run is
// recorded and emitted as interrupted, its orphaned rsync is stopped, and the conflict gate
// (rebuilt from the registry) admits the next job at once.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { startNodeRed } = require("../support/node-red-process");
const { tmpDir, stopAll, waitFor, processesMatching } = require("../fixtures/util");

function flows(dir) {
  const tab = "crash";
  const job = (id, name, src, dst, bw) => ({
    id, z: tab, type: "highball-backup-job", name, engine: "rsync", enabled: true,
    source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst },
    rsync: { delete: false, checksum: false, compress: false, bwlimit: bw, exclude: [], args: [] },
    resources: ["usb-disk"], timeoutSeconds: 0, wires: [["cg"]],
  });
  return [
    { id: tab, type: "tab", label: "crash" },
    job("slowjob", "slow", path.join(dir, "src-slow"), path.join(dir, "dst-slow"), "150K"),
    job("nextjob", "next", path.join(dir, "src-next"), path.join(dir, "dst-next"), ""),
    { id: "cg", z: tab, type: "highball-conflict-gate", name: "one disk", delay: 10, maxWait: 0, destinations: "host", tags: "", wires: [["rs"], [], []] },
    { id: "rs", z: tab, type: "highball-rsync-run", name: "rsync", job: "", args: "", bwlimit: "", logTail: 5, wires: [["out"], []] },
    { id: "out", z: tab, type: "file", name: "results", filename: path.join(dir, "results.jsonl"), filenameType: "str", appendNewline: true, createDir: true, overwriteFile: "false", encoding: "none", wires: [[]] },
  ];
}

function results(dir) {
  const file = path.join(dir, "results.jsonl");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
}

describe("a real Node-RED killed with kill -9 mid-run", function () {
  this.timeout(180000);
  after(stopAll);

  it("records and emits the run as interrupted after the restart, and the gate admits the next job", async function () {
    const dir = tmpDir("crash");
    fs.mkdirSync(path.join(dir, "src-slow"));
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(dir, "src-slow", `f${i}.bin`), Buffer.alloc(512 * 1024, i));
    fs.mkdirSync(path.join(dir, "src-next"));
    fs.writeFileSync(path.join(dir, "src-next", "a.txt"), "next\n");
    const red = await startNodeRed({ major: 4, flows: flows(dir) });

    await waitFor(async () => (await red.get("highball/jobs")).json?.some((j) => j.id === "slowjob"), { what: "the flows started" });
    assert.equal((await red.post("highball/jobs/slowjob/run")).status, 202);
    await waitFor(async () => (await red.get("highball/jobs")).json.find((j) => j.id === "slowjob").running, { what: "the slow job running" });
    // The next job shares the disk: it waits at the gate.
    assert.equal((await red.post("highball/jobs/nextjob/run")).status, 202);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await red.get("highball/jobs")).json.find((j) => j.id === "nextjob").running, null, "the next job waits for the disk");
    const rsyncOf = () => processesMatching((p) => p.cmdline[0] === "rsync" && p.cmdline.join(" ").includes(path.join(dir, "dst-slow")));
    assert.ok(rsyncOf().length > 0);

    await red.kill9();
    assert.ok(rsyncOf().length > 0, "rsync outlived the killed Node-RED");
    await red.restart();

    await waitFor(() => results(dir).some((r) => r.jobId === "slowjob"), { what: "the interrupted result emitted", timeout: 30000 });
    const emitted = results(dir).find((r) => r.jobId === "slowjob");
    assert.equal(emitted.status, "interrupted");
    assert.equal(emitted.ok, false);
    assert.match(emitted.error, /Node-RED stopped while this run was running/);
    await waitFor(() => rsyncOf().length === 0, { what: "the orphaned rsync stopped" });
    const history = (await red.get("highball/jobs/slowjob/runs")).json;
    assert.equal(history[0].status, "interrupted");
    assert.equal((await red.get("highball/jobs")).json.find((j) => j.id === "slowjob").running, null, "nothing stays running");

    // The gate holds nothing for the dead run: the next job is admitted at once.
    assert.equal((await red.post("highball/jobs/nextjob/run")).status, 202);
    await waitFor(() => results(dir).some((r) => r.jobId === "nextjob"), { what: "the next job's result", timeout: 30000 });
    const next = results(dir).find((r) => r.jobId === "nextjob");
    assert.equal(next.status, "success", next.error);
    assert.equal(fs.readFileSync(path.join(dir, "dst-next", "a.txt"), "utf8"), "next\n");
    await red.stop();
  });
});
