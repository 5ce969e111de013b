"use strict";
// The persistent snapshot index against real restic repositories (every supported version:
// 0.14 prints struct_type only, 0.17+ message_type too; the parser takes both): the index
// equals restic's own listing folder by folder, and once a snapshot is indexed, listing,
// finding a file, a file's view and a diff's sizes start no `restic ls` (a wrapper records
// every restic command the browser starts), also after a restart; damaged indexes are refused
// and rebuilt, forgotten snapshots' indexes go, and the folder keeps to its bound.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const u = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { SnapshotBrowser, SnapshotIndexes, IndexReader, IndexWriter, IndexCorrupt, SnapshotError } = require("../../dist/lib/snapshots");
const { resolveProfile } = require("../../dist/lib/profile");

describe("snapshot index", function () {
  this.timeout(120000);
  let repo, src, snaps, log, profile;

  /** The restic command lines ("nice=N args...") the browser started since the last call. */
  function startedLines() {
    const lines = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
    fs.writeFileSync(log, "");
    return lines;
  }
  /** The restic commands (first word after the global options) the browser started since the last call. */
  function started() {
    return startedLines().map((l) => l.split(" ").find((w) => /^[a-z]+$/.test(w)));
  }

  async function backup() {
    const r = await restic(repo, ["backup", "--json", src]);
    assert.equal(r.code, 0, r.stderr);
    // restic 0.14's summary names the snapshot by its short id: the full one from the list.
    const short = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((o) => o.message_type === "summary").snapshot_id;
    const list = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
    return list.find((s) => s.id.startsWith(short)).id;
  }

  before(async function () {
    repo = await initResticRepo();
    src = u.tmpDir("src");
    fs.mkdirSync(path.join(src, "many"), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(src, "many", `f${i}.txt`), "x".repeat(i + 1));
    fs.mkdirSync(path.join(src, "deep", "er", "est"), { recursive: true });
    fs.writeFileSync(path.join(src, "deep", "er", "est", "bottom.bin"), Buffer.alloc(4096, 7));
    fs.writeFileSync(path.join(src, "deep", "top.txt"), "top\n");
    fs.writeFileSync(path.join(src, "grüße mit leerzeichen.txt"), "ü\n");
    fs.writeFileSync(path.join(src, "changes.txt"), "one\n");
    fs.symlinkSync("changes.txt", path.join(src, "link"));
    fs.mkdirSync(path.join(src, "empty"));
    const first = await backup();
    fs.writeFileSync(path.join(src, "changes.txt"), "one and two\n");
    fs.writeFileSync(path.join(src, "many", "new.txt"), "new file\n");
    fs.rmSync(path.join(src, "deep", "top.txt"));
    const second = await backup();
    snaps = [first, second];
    log = path.join(u.tmpDir("log"), "restic.log");
    const wrapper = path.join(u.tmpDir("bin"), "restic");
    // Each line: the nice value restic runs at (field 19 of /proc/self/stat), then its arguments.
    fs.writeFileSync(wrapper, `#!/bin/sh\necho "nice=$(cut -d' ' -f19 /proc/$$/stat) $*" >> '${log}'\nexec restic "$@"\n`, { mode: 0o755 });
    profile = resolveProfile("idx", new Map([["idx", { options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, executable: wrapper } }]]));
  });

  /** Every folder of the snapshot, from restic itself. */
  async function resticFolders(snap) {
    const r = await restic(repo, ["ls", "--json", snap]);
    assert.equal(r.code, 0, r.stderr);
    const nodes = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((o) => (o.message_type ?? o.struct_type) === "node");
    const folders = new Map([["/", []]]);
    for (const n of nodes) {
      const parent = n.path.slice(0, n.path.lastIndexOf("/")) || "/";
      if (!folders.has(parent)) folders.set(parent, []);
      folders.get(parent).push(n);
      if (n.type === "dir" && !folders.has(n.path)) folders.set(n.path, []);
    }
    return folders;
  }

  it("holds what restic lists, folder by folder (several chunks a folder), and its readers answer pages", async function () {
    const idx = new SnapshotIndexes(u.tmpDir("home"), { chunk: 3 });
    const browser = new SnapshotBrowser();
    const meta = await browser.index(profile, snaps[0], idx);
    assert.equal(meta.snapshot, snaps[0]);
    const folders = await resticFolders(snaps[0]);
    assert.equal(meta.folders, folders.size);
    assert.equal(meta.entries, [...folders.values()].reduce((n, l) => n + l.length, 0));
    const r = await IndexReader.open(path.join(idx.dir, require("../../dist/lib/snapshots").repoKey(profile), `${snaps[0]}.hbx`));
    try {
      for (const [dir, nodes] of folders) {
        const page = await r.list(dir);
        assert.ok(page, `${dir} is in the index`);
        assert.equal(page.total, nodes.length, dir);
        assert.deepEqual(page.entries.map((e) => [e.name, e.type, e.size, e.mtime, e.mode, e.permissions]),
          nodes.map((n) => [n.name, n.type, n.type === "file" ? n.size : n.size ?? null, Date.parse(n.mtime), n.mode, n.permissions]), dir);
      }
      const many = `${src}/many`;
      assert.deepEqual((await r.list(many, { offset: 4, limit: 3 })).entries.map((e) => e.name), ["f4.txt", "f5.txt", "f6.txt"]);
      assert.equal(await r.list(`${src}/nothing`), null);
      assert.equal((await r.stat(`${src}/link`)).type, "symlink");
      assert.equal(await r.stat(`${src}/many/f99.txt`), null);
    } finally {
      await r.close();
    }
  });

  it("once indexed, listing, finding a file, its view and a diff's sizes start no restic ls, also after a restart", async function () {
    const home = u.tmpDir("home");
    let idx = new SnapshotIndexes(home);
    let browser = new SnapshotBrowser();
    started();
    assert.deepEqual((await browser.snapshots(profile, idx)).map((s) => s.indexed), [false, false]);
    // The first browse answers from restic and indexes the snapshot in the background.
    const cold = await browser.ls(profile, snaps[1].slice(0, 8), src, {}, idx);
    assert.equal(cold.indexed, undefined);
    await idx.settled();
    // The listing at normal priority; the index's whole-snapshot listing gives way (nice 19).
    const lines = startedLines();
    const listing = lines.find((l) => / ls /.test(l) && l.endsWith(`-- ${snaps[1].slice(0, 8)} ${src}`));
    assert.ok(listing && Number(/^nice=(\d+)/.exec(listing)[1]) < 19, lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("nice=19 ") && / ls /.test(l) && l.endsWith(`-- ${snaps[1]}`)), lines.join("\n"));
    await browser.index(profile, snaps[0], idx);
    assert.deepEqual((await browser.snapshots(profile, idx)).map((s) => s.indexed), [true, true]);
    started();

    // Node-RED restarts: a new store and a new browser, nothing in memory.
    idx = new SnapshotIndexes(home);
    browser = new SnapshotBrowser();
    const l = await browser.ls(profile, snaps[1].slice(0, 8), src, {}, idx);
    assert.equal(l.indexed, true);
    assert.equal(l.snapshot, snaps[1]);
    assert.deepEqual(l.entries.map((e) => e.name), cold.entries.map((e) => e.name));
    assert.deepEqual(l.entries, cold.entries);
    assert.deepEqual((await browser.ls(profile, snaps[1], `${src}/many`, { offset: 10, limit: 5 }, idx)).entries.map((e) => e.name), ["new.txt"]);
    await assert.rejects(browser.ls(profile, snaps[1], `${src}/changes.txt`, {}, idx), (e) => e instanceof SnapshotError && e.status === 400);
    await assert.rejects(browser.ls(profile, snaps[1], `${src}/gone`, {}, idx), (e) => e instanceof SnapshotError && e.status === 404);
    const st = await browser.stat(profile, snaps[1], `${src}/changes.txt`, idx);
    assert.equal(st.size, "one and two\n".length);
    await assert.rejects(browser.stat(profile, snaps[1], `${src}/deep/top.txt`, idx), (e) => e instanceof SnapshotError && e.status === 404);
    assert.deepEqual(started(), [], "no restic at all so far");

    const d = await browser.open(profile, snaps[1], `${src}/changes.txt`, idx);
    const chunks = [d.head];
    if (!d.ended) await new Promise((resolve) => { d.stream.on("data", (b) => chunks.push(b)); d.stream.once("end", resolve); d.stream.resume(); });
    await d.done;
    assert.equal(Buffer.concat(chunks).toString(), "one and two\n");
    assert.deepEqual(started(), ["dump"], "a file view goes straight to restic dump");

    const diff = await browser.diff(profile, snaps[0], snaps[1], { index: idx });
    const changed = Object.fromEntries(diff.changes.map((c) => [c.path.slice(src.length), [c.change, c.sizeBefore, c.sizeAfter]]));
    assert.deepEqual(changed["/changes.txt"], ["modified", 4, 12]);
    assert.deepEqual(changed["/many/new.txt"], ["added", null, 9]);
    assert.deepEqual(changed["/deep/top.txt"], ["removed", 4, null]);
    const commands = started();
    assert.ok(!commands.includes("ls"), `no restic ls for the diff: ${commands}`);
    // The same diff without indexes (restic ls for the sizes) agrees.
    const plain = await new SnapshotBrowser().diff(profile, snaps[0], snaps[1]);
    assert.ok(started().includes("ls"));
    assert.deepEqual(plain.changes, diff.changes);
  });

  it("a damaged or partial index is refused, never served, and built again", async function () {
    const home = u.tmpDir("home");
    const idx = new SnapshotIndexes(home);
    const browser = new SnapshotBrowser();
    await browser.index(profile, snaps[1], idx);
    const file = path.join(idx.dir, require("../../dist/lib/snapshots").repoKey(profile), `${snaps[1]}.hbx`);
    const good = fs.readFileSync(file);
    const expected = await browser.ls(profile, snaps[1], `${src}/many`, {}, idx);
    assert.equal(expected.indexed, true);

    // A flipped byte inside the folder's entries: the chunk's check finds it.
    const bad = Buffer.from(good);
    const at = good.indexOf("f3.txt");
    assert.ok(at > 0);
    bad[at] ^= 0x01;
    fs.writeFileSync(file, bad);
    const fresh = new SnapshotIndexes(home);
    started();
    const again = await browser.ls(profile, snaps[1], `${src}/many`, {}, fresh);
    assert.equal(again.indexed, undefined, "answered by restic");
    assert.deepEqual(again.entries, expected.entries);
    assert.ok(started().includes("ls"));
    await fresh.settled();
    assert.equal((await browser.ls(profile, snaps[1], `${src}/many`, {}, fresh)).indexed, true, "and indexed again");
    assert.deepEqual(fs.readFileSync(file).length, good.length);

    // Cut short, a flipped byte in the tables, or another snapshot's index under this name.
    for (const damage of [(b) => b.subarray(0, b.length - 30), (b) => { const c = Buffer.from(b); c[c.length - 100] ^= 1; return c; }]) {
      fs.writeFileSync(file, damage(good));
      await assert.rejects(IndexReader.open(file), IndexCorrupt);
      const s = new SnapshotIndexes(home);
      assert.equal(await s.open(require("../../dist/lib/snapshots").repoKey(profile), snaps[1]), null);
      assert.equal(fs.existsSync(file), false, "a damaged index is removed");
      fs.writeFileSync(file, good);
    }
    fs.copyFileSync(file, file.replace(snaps[1], snaps[0]));
    const s = new SnapshotIndexes(home);
    assert.equal(await s.open(require("../../dist/lib/snapshots").repoKey(profile), snaps[0]), null, "an index names its snapshot");
  });

  it("indexes of forgotten snapshots go with them, and the folder keeps to its bound", async function () {
    const home = u.tmpDir("home");
    const browser = new SnapshotBrowser();
    const extra = await backup();
    let idx = new SnapshotIndexes(home);
    for (const s of [...snaps, extra]) await browser.index(profile, s, idx);
    const one = fs.statSync(path.join(idx.dir, require("../../dist/lib/snapshots").repoKey(profile), `${extra}.hbx`)).size;
    assert.deepEqual((await browser.snapshots(profile, idx)).map((s) => s.indexed), [true, true, true]);
    assert.equal((await restic(repo, ["forget", extra])).code, 0);
    const after = await browser.snapshots(profile, idx);
    assert.equal(after.length, 2);
    assert.equal((await idx.indexed(require("../../dist/lib/snapshots").repoKey(profile))).has(extra), false);
    assert.equal(fs.existsSync(path.join(idx.dir, require("../../dist/lib/snapshots").repoKey(profile), `${extra}.hbx`)), false);

    // Room for one and a half indexes: the least recently used goes when another is built.
    const home2 = u.tmpDir("home");
    idx = new SnapshotIndexes(home2, { maxMB: (one * 1.5) / (1024 * 1024) });
    await browser.index(profile, snaps[0], idx);
    await browser.index(profile, snaps[1], idx);
    const kept = [...await idx.indexed(require("../../dist/lib/snapshots").repoKey(profile))];
    assert.deepEqual(kept, [snaps[1]]);
    assert.ok(await idx.size() <= one * 1.5);

    // restic ls --json runs (the wrapper logs each restic start) while indexing is bounded away.
    const lsRuns = () => fs.readFileSync(log, "utf8").split("\n").filter((l) => / ls .*--json -- [0-9a-f]{8,64}$/.test(l)).length;
    // snapshotIndexMB 0: indexing is off, and no restic is started for an index thrown away.
    const off = new SnapshotIndexes(u.tmpDir("home"), { maxMB: 0 });
    let before = lsRuns();
    assert.equal(await browser.index(profile, snaps[0], off), null);
    assert.equal(await browser.ls(profile, snaps[0], src, {}, off).then((r) => r.total > 0), true, "browsing still works, from restic");
    await off.settled();
    assert.equal(lsRuns(), before, "indexing ran restic with the index folder bounded to 0");
    // An index that alone is over the bound: built once, dropped, and not listed again for it.
    const tiny = new SnapshotIndexes(u.tmpDir("home"), { maxMB: (one * 0.5) / (1024 * 1024) });
    before = lsRuns();
    assert.equal(await browser.index(profile, snaps[1], tiny), null);
    assert.equal(lsRuns(), before + 1);
    assert.equal(await browser.index(profile, snaps[1], tiny), null);
    await browser.ls(profile, snaps[1], src, {}, tiny);
    await tiny.settled();
    assert.equal(lsRuns(), before + 1, "the too-big index was listed again");
    assert.equal(await tiny.size(), 0);
  });

  it("writes an index in bounded pieces whatever order the entries come in", async function () {
    const file = path.join(u.tmpDir("idx"), "x.hbx");
    const w = await IndexWriter.create(file, { chunk: 2 });
    const e = (name, type = "file") => ({ name, type, size: type === "file" ? 1 : null, mtime: 0, mode: 420, permissions: "-rw-r--r--" });
    // Not depth-first: /a's entries come back after /b's.
    w.add("/a", e("a", "dir"));
    w.add("/a/1", e("1"));
    w.add("/b", e("b", "dir"));
    w.add("/b/1", e("1"));
    w.add("/a/2", e("2"));
    w.add("/a/3", e("3"));
    w.add("/weird type", e("weird type", "fifo"));
    await w.finish("a".repeat(64));
    const r = await IndexReader.open(file);
    try {
      assert.deepEqual((await r.list("/a")).entries.map((x) => x.name), ["1", "2", "3"]);
      assert.deepEqual((await r.list("/")).entries.map((x) => [x.name, x.type]), [["a", "dir"], ["b", "dir"], ["weird type", "fifo"]]);
      assert.equal((await r.list("/b")).total, 1);
    } finally {
      await r.close();
    }
  });
});
