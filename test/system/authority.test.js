"use strict";
// Messages from outside through real `http in` endpoints of a real Node-RED (4 and 5), with real
// rsync and restic: a message never exceeds the flow's authority. Each refused probe must end as
// a failed result with a sentence, run no program, touch no file, send nothing anywhere, write
// into no deployed job's history, and leave Node-RED answering.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { startNodeRed } = require("../support/node-red-process");
const { tmpDir, stopAll, waitFor } = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");


/** http in → (body.job, body.overrides, body.command, body.args onto msg) → run node → http response. */
function endpoint(tab, id, url, run) {
  return [
    { id: `${id}-in`, z: tab, type: "http in", url, method: "post", upload: false, wires: [[`${id}-map`]] },
    { id: `${id}-map`, z: tab, type: "change", rules: [
      { t: "set", p: "job", pt: "msg", to: "payload.job", tot: "msg" },
      { t: "set", p: "overrides", pt: "msg", to: "payload.overrides", tot: "msg" },
      { t: "set", p: "command", pt: "msg", to: "payload.command", tot: "msg" },
      { t: "set", p: "args", pt: "msg", to: "payload.args", tot: "msg" },
    ], wires: [[`${id}-run`]] },
    { id: `${id}-run`, z: tab, ...run, wires: [[`${id}-code`], []] },
    { id: `${id}-code`, z: tab, type: "change", rules: [{ t: "set", p: "statusCode", pt: "msg", to: "payload.ok ? 200 : 500", tot: "jsonata" }], wires: [[`${id}-out`]] },
    { id: `${id}-out`, z: tab, type: "http response", statusCode: "", headers: {}, wires: [] },
  ];
}

for (const major of [4, 5]) {
  describe(`messages from http in never exceed the flow's authority (Node-RED ${major})`, function () {
    this.timeout(240000);
    let red, dir, src, dst, repo, trap, connections, canary, gsrc;
    const tally = { tried: 0, survived: 0 };
    after(async () => { trap?.close(); await stopAll(); });

    before(async function () {
      dir = tmpDir("authority");
      src = path.join(dir, "src");
      dst = path.join(dir, "dst");
      fs.mkdirSync(src);
      fs.mkdirSync(dst);
      for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(src, `f${i}.txt`), `file ${i}\n`);
      canary = path.join(dir, "pwned");
      gsrc = path.join(dir, "gsrc");
      fs.mkdirSync(gsrc);
      fs.writeFileSync(path.join(gsrc, "big.bin"), Buffer.alloc(1536 * 1024, 1));
      repo = await initResticRepo();
      // The "sender's host": nothing may ever connect to it.
      connections = 0;
      trap = net.createServer((s) => { connections++; s.destroy(); });
      await new Promise((r) => trap.listen(0, "127.0.0.1", r));
      const tab = "auth";
      const flows = [
        { id: tab, type: "tab", label: "authority" },
        { id: "cfg-nas", type: "highball-profile-config", name: "nas", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } },
        { id: "jphotos", z: tab, type: "highball-backup-job", name: "photos", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, wires: [[]] },
        { id: "jnas", z: tab, type: "highball-backup-job", name: "to nas", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: 873, user: "backup", module: "photos" }, wires: [[]] },
        { id: "jsnap", z: tab, type: "highball-backup-job", name: "snap", engine: "restic", profile: "cfg-nas", source: { type: "local", paths: [{ path: src }] }, wires: [[]] },
        ...endpoint(tab, "strict", "/backup/run", { type: "highball-rsync-run", name: "strict" }),
        ...endpoint(tab, "open", "/backup/adhoc", { type: "highball-rsync-run", name: "open", acceptJobs: true }),
        ...endpoint(tab, "rst", "/restic/run", { type: "highball-restic-run", name: "restic", profile: "cfg-nas" }),
        // Two jobs that share a NAS (their resources say so), named over http in through a conflict gate.
        ...["gphotos", "gdocs"].map((name) => ({ id: `j${name}`, z: tab, type: "highball-backup-job", name, engine: "rsync", source: { type: "local", paths: [{ path: `${gsrc}/` }] }, destination: { type: "local", path: path.join(dir, name) }, rsync: { bwlimit: "512K" }, resources: ["nas"], wires: [[]] })),
        ...endpoint(tab, "gated", "/backup/gated", { type: "highball-conflict-gate", delay: 10, maxWait: 0 }).map((n) => n.id === "gated-run"
          ? { ...n, wires: [["gated-rsync"], [], []] } : n),
        { id: "gated-rsync", z: tab, type: "highball-rsync-run", name: "gated", wires: [["gated-code"], []] },
      ];
      red = await startNodeRed({ major, flows });
      await waitFor(async () => (await red.get("highball/jobs")).json?.some((j) => j.id === "jphotos"), { what: "the flows started", timeout: 60000 });
    });

    const historyOf = async (id) => (await red.get(`highball/jobs/${encodeURIComponent(id)}/runs`)).json;
    const srcFiles = () => fs.readdirSync(src).sort();

    /** A probe that must be refused: a failed result with a sentence, and nothing else happened. */
    async function refused(url, body, why) {
      tally.tried++;
      const before = { jphotos: (await historyOf("jphotos")).length, jnas: (await historyOf("jnas")).length, jsnap: (await historyOf("jsnap")).length, files: srcFiles(), dst: fs.readdirSync(dst).sort() };
      const res = await red.post(url, body);
      assert.equal(res.status, 500, `${JSON.stringify(body)} answered ${res.status}: ${res.text}`);
      assert.equal(res.json.status, "failed");
      assert.match(res.json.error, why);
      assert.equal(res.json.exitCode, null, "no tool ran");
      assert.ok(!fs.existsSync(canary), "a program of the sender's ran");
      assert.deepEqual(srcFiles(), before.files, "source files changed");
      assert.deepEqual(fs.readdirSync(dst).sort(), before.dst, "the destination changed");
      for (const id of ["jphotos", "jnas", "jsnap"]) assert.equal((await historyOf(id)).length, before[id], `a record in deployed job ${id}'s history`);
      assert.equal(connections, 0, "something connected to the sender's host");
      assert.equal((await red.get("highball/jobs")).status, 200, "Node-RED answers");
      tally.survived++;
      return res.json;
    }

    it("a whole job in a message is refused where the node does not accept jobs: --remove-source-files, -e, --rsync-path", async function () {
      const job = (args) => ({ job: { name: "x", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, rsync: { args } } });
      for (const args of [["--remove-source-files"], ["-e", `sh -c 'touch ${canary}'`], [`--rsync-path=sh -c 'touch ${canary}'`], []]) {
        await refused("backup/run", job(args), /does not accept jobs from messages/);
      }
    });

    it("a deployed job's id with the sender's own destination host: refused, its password sent nowhere, its history untouched", async function () {
      const forged = { id: "jnas", name: "to nas", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "rsyncd", host: "127.0.0.1", port: trap.address().port, user: "backup", module: "photos" } };
      await refused("backup/run", { job: forged }, /carries the id of deployed job "to nas" but not its settings/);
      await refused("backup/adhoc", { job: forged }, /carries the id of deployed job "to nas" but not its settings/);
      await refused("backup/adhoc", { job: { ...forged, id: undefined, name: "jnas" } }, /carries the id of deployed job "to nas"/);
    });

    it("naming a deployed job runs it as configured, with safe overrides only", async function () {
      const dry = await red.post("backup/run", { job: "photos", overrides: { dryRun: true } });
      assert.equal(dry.status, 200, dry.text);
      assert.equal(dry.json.jobId, "jphotos");
      assert.deepEqual(fs.readdirSync(dst), [], "a dry run copies nothing");
      const ok = await red.post("backup/run", { job: "photos" });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.filesChanged, 3);
      assert.equal((await historyOf("jphotos"))[0].runId, ok.json.runId, "recorded in the job's own history");
      await refused("backup/run", { job: "photos", overrides: { paths: ["/etc"] } }, /not one of the job's own source paths/);
      await refused("backup/run", { job: "photos", overrides: { destination: { path: "/tmp" } } }, /msg.overrides.destination is not allowed/);
      await refused("backup/run", { job: "photos", overrides: { tags: ["x"] } }, /tags applies to restic jobs only/);
      await refused("backup/run", { job: "nobody" }, /no deployed job's id or name/);
    });

    it("where the node accepts jobs: only harmless rsync options, no deletes, only the flow's destinations, no new host keys", async function () {
      const job = (extra) => ({ job: { name: "adhoc", engine: "rsync", source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: path.join(dst, "adhoc") }, ...extra } });
      for (const [extra, why] of [
        [{ rsync: { args: ["--remove-source-files"] } }, /is not allowed/],
        [{ rsync: { args: ["-e", "sh"] } }, /is not allowed/],
        [{ rsync: { args: ["--rsync-path=sh"] } }, /is not allowed/],
        [{ rsync: { args: ["--backup-dir=/etc"] } }, /is not allowed/],
        [{ rsync: { args: ["--chmod=u+s"] } }, /is not allowed/],
        [{ rsync: { args: ["--delete-after"] } }, /does not let messages delete/],
        [{ rsync: { delete: true } }, /may not delete/],
        [{ destination: { type: "local", path: "/etc/cron.d" } }, /only where a deployed job of the flow does/],
        [{ destination: { type: "local", path: `${dst}/../../etc` } }, /only where a deployed job|must be an absolute path|must not/],
        [{ destination: { type: "rsyncd", host: "127.0.0.1", port: trap.address().port, module: "m" } }, /only where a deployed job of the flow does/],
        [{ destination: { type: "ssh", host: "127.0.0.1", port: trap.address().port, path: "/x", acceptNewHostKey: true } }, /may not accept a new host key/],
      ]) await refused("backup/adhoc", job(extra), why);
      const fine = await red.post("backup/adhoc", job({ rsync: { args: ["--checksum"] } }));
      assert.equal(fine.status, 200, fine.text);
      assert.deepEqual(fs.readdirSync(path.join(dst, "adhoc")).sort(), srcFiles());
      assert.equal(fine.json.jobId, "adhoc", "its own history, under its name");
    });

    it("restic: no -o, -r, password or certificate options, no other command, from a job or a one-shot message", async function () {
      const other = path.join(dir, "their-repo");
      for (const body of [
        { job: { name: "r", engine: "restic", profile: "cfg-nas", source: { type: "local", paths: [{ path: src }] }, restic: { args: ["-o", `sftp.command=sh -c 'touch ${canary}'`] } } },
        { job: { name: "r", engine: "restic", profile: "cfg-nas", source: { type: "local", paths: [{ path: src }] }, restic: { args: [`--repo=${other}`] } } },
      ]) await refused("restic/run", body, /does not accept jobs from messages/);
      for (const [command, args, why] of [
        ["snapshots", ["-o", `sftp.command=sh -c 'touch ${canary}'`], /not allowed from a message/],
        ["snapshots", ["-r", other], /not allowed from a message/],
        ["snapshots", [`--repository-file=${repo.passwordFile}`], /not allowed from a message/],
        ["snapshots", [`--password-command=sh -c 'touch ${canary}'`], /not allowed|password belongs in the profile/],
        ["snapshots", ["--cacert=/etc/shadow"], /not allowed from a message/],
        ["backup", ["--stdin-from-command", "--", "sh", "-c", `touch ${canary}`], /not allowed from a message/],
        ["restore", ["latest", "--target=/etc"], /cannot be run from a message/],
        ["init", [], /cannot be run from a message/],
        ["forget", ["--keep-last=1", "--prune"], /does not let messages delete/],
      ]) await refused("restic/run", { command, args }, why);
      assert.ok(!fs.existsSync(other), "nothing was written to the sender's repository");
      const named = await red.post("restic/run", { job: "snap", overrides: { tags: ["from-http"] } });
      assert.equal(named.status, 200, named.text);
      const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
      assert.deepEqual(snaps.map((s) => s.tags), [["from-http"]]);
      const list = await red.post("restic/run", { command: "snapshots", args: ["--latest=1"] });
      assert.equal(list.status, 200, list.text);
    });

    it("two jobs named over http in through a conflict gate wait for the NAS they share: one after the other", async function () {
      const [a, b] = await Promise.all([red.post("backup/gated", { job: "gphotos" }), red.post("backup/gated", { job: "gdocs" })]);
      for (const r of [a, b]) assert.equal(r.status, 200, r.text);
      assert.deepEqual([a.json.jobId, b.json.jobId], ["jgphotos", "jgdocs"], "run as the deployed jobs");
      const [first, second] = [a.json, b.json].sort((x, y) => x.startedAt - y.startedAt);
      assert.ok(second.startedAt >= first.finishedAt, `the second started ${second.startedAt - first.finishedAt} ms after the first ended: both wrote to the NAS at once`);
      await refused("backup/gated", { job: "nobody" }, /no deployed job's id or name/);
    });

    after(function () {
      // The figures for the report: every refused probe is one bad input tried and survived.
      console.log(`      bad inputs through http in (Node-RED ${major}): tried ${tally.tried}, survived ${tally.survived}`);
    });
  });
}
