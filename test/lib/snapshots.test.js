"use strict";
// The snapshot browser's engine: validation, the bounded LRU cache, NDJSON streaming, text
// sniffing, and SnapshotBrowser against real restic repositories: one level only, bounded
// listings and cache, restic's text diff and tar archives (through a shim that reports an
// older version and then runs the real restic).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { PassThrough } = require("node:stream");
const { spawnSync } = require("node:child_process");
const u = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const {
  SnapshotBrowser, SnapshotError, snapshotId, snapshotPath, targetPath, literalPattern, LruCache, readNdjson, looksLikeText,
} = require("../../dist/lib/snapshots");
const { resolveProfile } = require("../../dist/lib/profile");
const { forgetVersionCache } = require("../../dist/lib/engines/restic");
const { contentDisposition } = require("../../dist/lib/http/snapshot-routes");

const refused = (fn, status, re) => assert.throws(fn, (err) => err instanceof SnapshotError && err.status === status && re.test(err.message));

describe("snapshot browser: validation", function () {
  it("takes 8 to 64 hex digits as a snapshot id, lower-cased, and nothing else", function () {
    assert.equal(snapshotId("DEADBEEF"), "deadbeef");
    assert.equal(snapshotId("a".repeat(64)), "a".repeat(64));
    for (const bad of ["deadbee", "a".repeat(65), "latest", "--help", "deadbeef ", "dead-beef", "", null, 12345678, ["deadbeef"]]) {
      refused(() => snapshotId(bad), 400, /8 to 64 hexadecimal digits/);
    }
  });

  it("normalises absolute paths and refuses relative ones, NULs and ..", function () {
    assert.equal(snapshotPath("/"), "/");
    assert.equal(snapshotPath("//srv///data/./x/"), "/srv/data/x");
    assert.equal(snapshotPath("/a b/<img src=x onerror=alert(1)>"), "/a b/<img src=x onerror=alert(1)>");
    assert.equal(snapshotPath("/srv/..data/x.."), "/srv/..data/x..", "dots inside a name are a name");
    refused(() => snapshotPath("srv"), 400, /absolute/);
    refused(() => snapshotPath("/srv/../etc"), 400, /\.\./);
    refused(() => snapshotPath("/.."), 400, /\.\./);
    refused(() => snapshotPath("/srv/\0x"), 400, /NUL/);
    refused(() => snapshotPath(""), 400, /absolute/);
    refused(() => snapshotPath(["/a"]), 400, /absolute/);
    refused(() => snapshotPath(`/${"x".repeat(5000)}`), 400, /longer/);
    refused(() => targetPath("tmp/x"), 400, /^target must be absolute/);
  });

  it("escapes glob characters so a restore include matches only that path", function () {
    assert.equal(literalPattern("/a/st*ar?[x]\\y"), "/a/st\\*ar\\?\\[x\\]\\\\y");
    assert.equal(literalPattern("/plain/path"), "/plain/path");
  });

  it("builds Content-Disposition with an ASCII fallback and the RFC 5987 name", function () {
    assert.equal(contentDisposition("attachment", "a.txt"), "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt");
    assert.equal(contentDisposition("inline", 'résumé "v2"; (1)*.txt'), "inline; filename=\"r_sum_ _v2__ (1)*.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22%3B%20%281%29%2A.txt");
    assert.equal(contentDisposition("attachment", "line\nbreak"), "attachment; filename=\"line_break\"; filename*=UTF-8''line%0Abreak");
    assert.equal(contentDisposition("attachment", "\u00e9\u00e9"), "attachment; filename=\"__\"; filename*=UTF-8''%C3%A9%C3%A9");
  });

  it("tells text from binary by the first bytes, even when cut inside a character", function () {
    assert.equal(looksLikeText(Buffer.from("hello\nworld\t\r\n"), true), true);
    assert.equal(looksLikeText(Buffer.alloc(0), true), true);
    assert.equal(looksLikeText(Buffer.from("a\0b"), true), false);
    const utf8 = Buffer.from("grüße ".repeat(10));
    assert.equal(looksLikeText(utf8.subarray(0, 3), false), true, "a sample cut inside ü");
    assert.equal(looksLikeText(utf8.subarray(0, 3), true), false, "a whole file ending inside ü is not UTF-8");
    assert.equal(looksLikeText(Buffer.from([0xff, 0xfe, 0x41, 0x42]), true), false);
    assert.equal(looksLikeText(Buffer.from("\x01\x02\x03\x04\x05abc"), true), false);
  });
});

describe("snapshot browser: LRU cache", function () {
  it("evicts the least recently used until both bounds hold, and never keeps one item over a bound", function () {
    const c = new LruCache(10, 1000);
    c.set("a", 1, { entries: 4, bytes: 100 });
    c.set("b", 2, { entries: 4, bytes: 100 });
    assert.equal(c.get("a"), 1); // a is now the most recent
    c.set("c", 3, { entries: 4, bytes: 100 });
    assert.equal(c.peek("b"), undefined, "b was the least recently used");
    assert.equal(c.peek("a"), 1);
    assert.equal(c.peek("c"), 3);
    assert.deepEqual({ entries: c.stats().entries, items: c.stats().items, evictions: c.stats().evictions }, { entries: 8, items: 2, evictions: 1 });
    c.set("big", 4, { entries: 1, bytes: 950 });
    assert.ok(c.stats().bytes <= 1000);
    assert.equal(c.peek("big"), 4);
    assert.equal(c.set("huge", 5, { entries: 11, bytes: 1 }), false);
    assert.equal(c.peek("huge"), undefined);
    assert.equal(c.peek("big"), 4, "an item too large to keep evicts nothing");
    c.set("big", 6, { entries: 1, bytes: 10 });
    assert.equal(c.stats().bytes, c.peek("a") ? 110 : 10, "replacing a key replaces its cost");
    assert.equal(c.deleteWhere((k) => k.startsWith("b")), 1);
  });
});

describe("snapshot browser: NDJSON stream", function () {
  it("parses objects split across chunks, skips non-objects and over-long lines, and can stop early", async function () {
    const s = new PassThrough();
    const got = [];
    const done = readNdjson(s, (o) => { got.push(o); });
    s.write('{"a":1}\n{"b"');
    s.write(':2}\nnot json\n[1,2]\n{"c":"ü');
    s.write(Buffer.from([0xc3])); // "ö" cut in half across chunks
    s.write(Buffer.from([0xb6]));
    s.write(`"}\n${"x".repeat(2 * 1024 * 1024)}\n{"d":4}`);
    s.end();
    await done;
    assert.deepEqual(got, [{ a: 1 }, { b: 2 }, { c: "üö" }, { d: 4 }]);

    const t = new PassThrough();
    const seen = [];
    const stopped = readNdjson(t, (o) => { seen.push(o.n); return o.n < 2; });
    for (let n = 0; n < 10; n++) t.write(`{"n":${n}}\n`);
    await stopped;
    assert.deepEqual(seen, [0, 1, 2]);
  });

  it("holds the stream while an asynchronous step runs", async function () {
    const s = new PassThrough();
    const order = [];
    const done = readNdjson(s, async (o) => {
      order.push(`start ${o.n}`);
      await new Promise((r) => setTimeout(r, 5));
      order.push(`end ${o.n}`);
    });
    s.end('{"n":1}\n{"n":2}\n');
    await done;
    assert.deepEqual(order, ["start 1", "end 1", "start 2", "end 2"]);
  });
});

describe("snapshot browser against restic", function () {
  this.timeout(180000);
  let repo, src, snap, profile, shim;

  before(async function () {
    repo = await initResticRepo();
    src = path.join(u.tmpDir("browse"), "tree");
    // A wide folder, and a deep one whose lower levels a one-level listing must never read.
    fs.mkdirSync(path.join(src, "wide"), { recursive: true });
    for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(src, "wide", `f${String(i).padStart(5, "0")}.txt`), `${i}\n`);
    let deep = path.join(src, "deep");
    for (let d = 0; d < 6; d++) {
      deep = path.join(deep, `level${d}`);
      fs.mkdirSync(deep, { recursive: true });
      for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(deep, `g${i}.txt`), "g\n");
    }
    fs.writeFileSync(path.join(src, "top.txt"), "top\n");
    const r = await restic(repo, ["backup", src]);
    assert.equal(r.code, 0, r.stderr);
    snap = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout)[0].id;
    profile = resolveProfile("t", new Map([["t", { options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } }]]));
    shim = path.join(u.tmpDir("shim"), "restic-0.11");
    fs.writeFileSync(shim, '#!/bin/sh\n# The real restic, reporting an older version: the browser must fall back to text diff and tar.\nif [ "$1" = version ]; then echo "restic 0.11.0 compiled with go1.15 on linux/amd64"; exit 0; fi\nexec restic "$@"\n', { mode: 0o755 });
  });
  after(async function () { await u.stopAll(); });

  it("lists one level of a deep folder and keeps at most maxListing entries of a wide one", async function () {
    const b = new SnapshotBrowser({ maxListing: 500, prefetch: false });
    const deep = await b.ls(profile, snap, `${src}/deep`);
    assert.deepEqual(deep.entries.map((e) => e.name), ["level0"]);
    const l0 = await b.ls(profile, snap, `${src}/deep/level0`);
    assert.equal(l0.total, 51);
    const wide = await b.ls(profile, snap, `${src}/wide`, { limit: 100, offset: 50 });
    assert.equal(wide.total, 3000);
    assert.equal(wide.truncated, true);
    assert.equal(wide.entries.length, 100);
    assert.equal(wide.entries[0].name, "f00050.txt");
    const tail = await b.ls(profile, snap, `${src}/wide`, { offset: 450 });
    assert.equal(tail.entries.length, 50, "the kept listing ends at maxListing");
    assert.equal(tail.cached, true);
    assert.ok(b.cacheStats().entries <= 500 + 1 + 2 + 52);
  });

  it("keeps the cache within its bounds however many folders are browsed, and answers equal requests at once from one listing", async function () {
    const b = new SnapshotBrowser({ cacheEntries: 120 });
    let dir = `${src}/deep`;
    for (let d = 0; d < 6; d++) {
      dir = `${dir}/level${d}`;
      await b.ls(profile, snap, dir);
      assert.ok(b.cacheStats().entries <= 120, `cache holds ${b.cacheStats().entries} entries`);
    }
    assert.ok(b.cacheStats().evictions >= 3);
    const [x, y] = await Promise.all([b.ls(profile, snap, src), b.ls(profile, snap, src)]);
    assert.deepEqual(x.entries, y.entries);
    assert.equal(x.cached || y.cached, false);
    assert.equal((await b.ls(profile, snap, src)).cached, true);
  });

  it("lists a folder's sub-folders in one background run, so the next click comes from the cache", async function () {
    const b = new SnapshotBrowser();
    assert.equal((await b.ls(profile, snap, src)).cached, false);
    await b.settled();
    const deep = await b.ls(profile, snap, `${src}/deep`);
    assert.equal(deep.cached, true);
    assert.deepEqual(deep.entries.map((e) => e.name), ["level0"]);
    const wide = await b.ls(profile, snap, `${src}/wide`);
    assert.equal(wide.cached, true);
    assert.equal(wide.total, 3000);
    assert.equal(wide.entries[2999].name, "f02999.txt");
    assert.equal((await b.ls(profile, snap, `${src}/deep/level0`)).cached, false, "only one level ahead");
    await b.settled();
    // A click while the prefetch still runs waits for it and gets the whole listing.
    const c = new SnapshotBrowser();
    await c.ls(profile, snap, src);
    const early = await c.ls(profile, snap, `${src}/wide`);
    assert.equal(early.total, 3000);
    assert.equal(early.entries.length, 3000);
    await c.settled();
    // A prefetch that reaches its entry cap keeps the sub-folders it finished, and no others.
    const capped = new SnapshotBrowser({ maxPrefetchEntries: 100 });
    await capped.ls(profile, snap, src);
    await capped.settled();
    assert.equal((await capped.ls(profile, snap, `${src}/deep`)).cached, true);
    const later = await capped.ls(profile, snap, `${src}/wide`);
    assert.equal(later.cached, false);
    assert.equal(later.total, 3000);
    await capped.settled();
  });

  it("reads a file or a folder archive as a stream that starts with the bytes it sniffed", async function () {
    const b = new SnapshotBrowser();
    const d = await b.open(profile, snap, `${src}/top.txt`);
    assert.equal(d.contentType, "text/plain; charset=utf-8");
    assert.equal(d.head.toString(), "top\n");
    assert.equal(d.size, 4);
    await d.done;
    await assert.rejects(b.open(profile, snap, `${src}/missing.txt`), (err) => err.status === 404);
  });

  it("a file view stopped after its first bytes ends its restic dump on every version (0.17+ catch the signal and wait for the pipe)", async function () {
    this.timeout(60000);
    // A repository of its own: the tests around this one count the snapshots of theirs.
    const own = await initResticRepo();
    const big = path.join(u.tmpDir("view-big"), "big.bin");
    fs.writeFileSync(big, require("node:crypto").randomBytes(8 * 1024 * 1024));
    assert.equal((await restic(own, ["backup", big])).code, 0);
    const bigSnap = JSON.parse((await restic(own, ["snapshots", "--json"])).stdout)[0].id;
    const viewer = resolveProfile("v", new Map([["v", { options: { repository: own.repository, "password-file": own.passwordFile, "cache-dir": own.cacheDir } }]]));
    const d = await new SnapshotBrowser().open(viewer, bigSnap, big);
    assert.ok(d.head.length > 0);
    // The viewer went away: nobody reads the rest.
    const t0 = Date.now();
    d.stop();
    await d.done;
    assert.ok(Date.now() - t0 < 15000, `restic dump ended ${Date.now() - t0} ms after the stop`);
    const left = require("node:child_process").spawnSync("pgrep", ["-f", `dump .*${bigSnap}`], { encoding: "utf8" }).stdout.trim();
    assert.equal(left, "", "a restic dump is still running");
  });

  it("falls back to restic's text diff and to tar archives when restic is older than 0.13 and 0.12", async function () {
    fs.writeFileSync(path.join(src, "top.txt"), "top, changed and longer\n");
    fs.rmSync(path.join(src, "deep", "level0", "g1.txt"));
    fs.writeFileSync(path.join(src, "new.txt"), "new!\n");
    const r = await restic(repo, ["backup", src]);
    assert.equal(r.code, 0, r.stderr);
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).sort((a, b) => a.time.localeCompare(b.time));
    const later = snaps[1].id;
    forgetVersionCache();
    const old = resolveProfile("old", new Map([["old", { options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir, executable: shim } }]]));
    const b = new SnapshotBrowser();
    try {
      const d = await b.diff(old, snap, later);
      assert.equal(d.statistics, null, "the text diff has no JSON statistics");
      assert.deepEqual(d.changes.map((c) => [c.change, c.path, c.sizeBefore, c.sizeAfter]), [
        ["modified", `${src}/top.txt`, 4, 24],
        ["added", `${src}/new.txt`, null, 5],
        ["removed", `${src}/deep/level0/g1.txt`, 2, null],
      ]);
      const json = await new SnapshotBrowser().diff(profile, snap, later);
      assert.deepEqual(json.changes, d.changes, "text and JSON diffs agree");
      const a = await b.open(old, snap, `${src}/deep/level0/level1/level2/level3/level4`);
      assert.equal(a.format, "tar");
      assert.equal(a.contentType, "application/x-tar");
      assert.equal(a.fileName, "level4.tar");
      const chunks = [a.head];
      a.stream.on("data", (c) => chunks.push(c));
      a.stream.resume();
      assert.equal((await a.done).code, 0);
      await new Promise((r) => (a.stream.readableEnded ? r() : a.stream.once("end", r)));
      const listed = spawnSync("tar", ["-tf", "-"], { input: Buffer.concat(chunks), encoding: "utf8" });
      assert.equal(listed.status, 0, listed.stderr);
      const names = listed.stdout.split("\n").filter(Boolean);
      assert.ok(names.includes(`${src.slice(1)}/deep/level0/level1/level2/level3/level4/g0.txt`), names.slice(0, 3).join(", "));
      assert.equal(names.filter((n) => n.endsWith(".txt")).length, 100);
    } finally {
      forgetVersionCache();
    }
  });

  it("bounds a diff to maxChanges tracked changes and says so", async function () {
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).sort((a, b) => a.time.localeCompare(b.time));
    const b = new SnapshotBrowser({ maxChanges: 2 });
    const d = await b.diff(profile, snaps[0].id, snaps[1].id);
    assert.equal(d.total, 3);
    assert.equal(d.tracked, 2);
    assert.equal(d.truncated, true);
    assert.equal(d.changes.length, 2);
  });
});
