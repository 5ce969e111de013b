"use strict";
// POST highball/profiles/:id/restore/files pages through what a restore would write. Listing a
// restore costs the whole restore (restic ls --recursive, an lstat per entry), so the product
// lists it once and reads every later page, and the "only what it overwrites" view, from that
// list; a real restore makes it list again; two requests for one restore share one restic; and
// restic stops when every request waiting for it went away. restic is counted through a script
// that notes each call and then is the real restic (0.14, 0.18 or 0.19, whichever is first on
// PATH), and seen in /proc; a stalled repository is restic's real rest-server, stopped (SIGSTOP).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const u = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { countingRestic } = require("../fixtures/counting-restic");
const { startRestServer } = require("../fixtures/rest-server");

const nodes = [require("../../dist/nodes/highball-profile-config/highball-profile-config.js")];
const { restoreLists } = require("../../dist/lib/operations/restore");

describe(`restore file lists: listed once, paged from the list (Node-RED ${helper.major})`, function () {
  this.timeout(180000);
  let home, repo, src, snap, counting;

  /** The restic listings of restore/files started so far (the browser's dry run locks, these do not). */
  const listings = () => counting.calls().filter((c) => /^ls .*--recursive.*--no-lock/.test(c)).length;
  const files = (body) => helper.request().post("/highball/profiles/cfg-r/restore/files").send(body);

  before(async function () {
    repo = await initResticRepo();
    src = path.join(u.tmpDir("rf-src"), "data");
    for (const d of ["a", "b", "c"]) {
      fs.mkdirSync(path.join(src, d), { recursive: true });
      for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(src, d, `f${String(i).padStart(3, "0")}`), `${d}${i}`);
    }
    assert.equal((await restic(repo, ["backup", src])).code, 0);
    snap = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout)[0].id;
    counting = countingRestic();
    home = u.tmpDir("home");
  });
  after(async function () { await u.stopAll(); });
  beforeEach(async function () {
    // Restores may write beneath the test's own temporary folders (SPEC: restoreRoots).
    helper.settings({ highball: { dir: home, restoreRoots: [path.dirname(home)] } });
    await helper.load(nodes, [{ id: "tab", type: "tab", label: "t" },
      { id: "cfg-r", type: "highball-profile-config", name: "r", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, executable: counting.wrapper } }]);
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
    restoreLists(home).clear();
  });

  it("lists a restore once: every later page and the overwrite-only view come from that list, and say the same as restic", async function () {
    const target = u.tmpDir("rf-target");
    // Ten files are there already where the restore would write them.
    fs.mkdirSync(path.join(target, src, "a"), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(target, src, "a", `f${String(i).padStart(3, "0")}`), "old");
    const before = listings();
    const pages = [];
    for (let offset = 0; offset < 400; offset += 100) pages.push((await files({ snapshot: snap, paths: [src], target, offset, limit: 100 }).expect(200)).body);
    assert.equal(listings() - before, 1, "restic listed the restore once for four pages");
    assert.ok(pages.every((p) => p.total === 304 && p.existing === 10), "src, its 3 folders and 300 files; 10 there already");
    assert.deepEqual(pages.map((p) => p.entries.length), [100, 100, 100, 4]);
    assert.deepEqual(pages.map((p) => p.offset), [0, 100, 200, 300]);
    // The pages together are restic's own listing of the restore, each entry once, in its order.
    const truth = (await restic(repo, ["ls", "--json", "--recursive", snap, src])).stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l))
      .filter((o) => (o.struct_type === "node" || o.message_type === "node") && (o.path === src || o.path.startsWith(`${src}/`)));
    const got = pages.flatMap((p) => p.entries);
    assert.deepEqual(got.map((e) => e.path), truth.map((o) => o.path));
    assert.deepEqual(got.map((e) => e.size), truth.map((o) => (o.type === "file" ? o.size : null)));
    assert.ok(got.every((e) => e.destination === path.join(target, e.path)));
    assert.deepEqual(got.filter((e) => e.exists).map((e) => e.path), Array.from({ length: 10 }, (_, i) => path.join(src, "a", `f${String(i).padStart(3, "0")}`)));
    // Only what it would overwrite: the same list, no restic.
    const over = (await files({ snapshot: snap, paths: [src], target, existingOnly: true, offset: 5, limit: 100 }).expect(200)).body;
    assert.equal(over.total, 10);
    assert.deepEqual(over.entries.map((e) => e.path), got.filter((e) => e.exists).slice(5).map((e) => e.path));
    // Another selection is another restore: listed once of its own.
    const sub = (await files({ snapshot: snap, paths: [path.join(src, "b")], target, limit: 50 }).expect(200)).body;
    assert.equal(sub.total, 101);
    assert.equal(listings() - before, 2);
    assert.ok(restoreLists(home).stats().lists >= 2 && restoreLists(home).stats().bytes > 0);
  });

  it("a real restore makes the next look list again, so what it wrote shows as there", async function () {
    const target = u.tmpDir("rf-into");
    const ask = { snapshot: snap, paths: [path.join(src, "c")], target, limit: 10 };
    const first = (await files(ask).expect(200)).body;
    assert.equal(first.existing, 0);
    const before = listings();
    assert.equal((await files({ ...ask, offset: 10 }).expect(200)).body.existing, 0);
    assert.equal(listings(), before, "a second page is read from the list");
    const done = (await helper.request().post("/highball/profiles/cfg-r/restore").send({ snapshot: snap, paths: [path.join(src, "c")], target }).expect(200)).body;
    assert.equal(done.restored, true);
    const after = (await files(ask).expect(200)).body;
    assert.equal(after.existing, 100, "the restored files are there now");
    assert.equal(listings(), before + 1);
  });
});

describe(`restore file lists: one restic for many requests, stopped when they all went away (Node-RED ${helper.major})`, function () {
  this.timeout(180000);
  let server, home, snap, counting;
  const repoPassword = "rf-repo-password";

  before(async function () {
    server = await startRestServer();
    home = u.tmpDir("home");
    counting = countingRestic();
    const src = path.join(u.tmpDir("rf-rest-src"), "data");
    fs.mkdirSync(src, { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, `f${i}`), `${i}`);
    const env = { RESTIC_REPOSITORY: server.url("r", { withPassword: true }), RESTIC_PASSWORD: repoPassword };
    const at = { extraArgs: [], env };
    assert.equal((await restic(at, ["init"])).code, 0);
    assert.equal((await restic(at, ["backup", src])).code, 0);
    snap = JSON.parse((await restic(at, ["snapshots", "--json"])).stdout)[0].id;
  });
  after(async function () {
    try { process.kill(server.pid, "SIGCONT"); } catch { /* gone */ }
    await u.stopAll();
  });

  it("two requests for one restore share one restic; it runs on while one waits and stops when the last one closed", async function () {
    helper.settings({ highball: { dir: home, restoreRoots: [path.dirname(home)] } });
    await helper.load(nodes, [{ id: "tab", type: "tab", label: "t" },
      { id: "cfg-s", type: "highball-profile-config", name: "s", options: { repository: server.url("r"), "cache-dir": path.join(home, "cache"), executable: counting.wrapper } }],
    { "cfg-s": { password: repoPassword, restPassword: server.password } });
    const lists = restoreLists(home);
    const target = u.tmpDir("rf-stalled");
    const listers = () => u.processesMatching((p) => /restic$/.test(p.cmdline[0] || "") && p.cmdline.includes("ls") && p.cmdline.includes(snap));
    // The server stops answering: restic waits on it for as long as the test wants.
    process.kill(server.pid, "SIGSTOP");
    try {
      const ask = (offset) => {
        const r = helper.request().post("/highball/profiles/cfg-s/restore/files").send({ snapshot: snap, paths: ["/"], target, offset, limit: 5 });
        r.end(() => undefined);
        return r;
      };
      const a = ask(0);
      const b = ask(5);
      await u.waitFor(() => lists.stats().waiting === 2, { what: "both requests waiting for the list", timeout: 20000 });
      await u.waitFor(() => listers().length === 1, { what: "restic listing the restore", timeout: 20000 });
      const [lister] = listers();
      assert.equal(lists.stats().making, 1, "one list being made for both");
      a.abort();
      await u.waitFor(() => lists.stats().waiting === 1, { what: "the first request gone", timeout: 20000 });
      assert.ok(u.processesMatching((p) => p.pid === lister.pid).length === 1, "restic runs on for the request still waiting");
      b.abort();
      await u.waitFor(() => listers().length === 0, { what: "restic stopped once nobody waits", timeout: 20000 });
      assert.deepEqual(lists.stats(), { lists: 0, bytes: 0, making: 0, waiting: 0 });
    } finally {
      process.kill(server.pid, "SIGCONT");
    }
    // Answering again, the server lists the restore: restic started anew (the stopped one left no list).
    const before = counting.calls().filter((c) => /^ls /.test(c)).length;
    const r = (await helper.request().post("/highball/profiles/cfg-s/restore/files").send({ snapshot: snap, paths: ["/"], target, offset: 5, limit: 5 }).expect(200)).body;
    assert.equal(r.entries.length, 5);
    assert.ok(r.total >= 21, `the snapshot's folders and its 20 files: ${r.total}`);
    assert.equal(counting.calls().filter((c) => /^ls /.test(c)).length, before + 1);
    await helper.unload();
    helper.settings({});
  });
});
