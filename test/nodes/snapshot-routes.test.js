"use strict";
// The snapshot browser's admin routes through Node-RED's admin app (the test helper), against
// real restic repositories: snapshots, one directory level, a file's bytes and download
// headers, a folder as a zip (its central directory read back), a diff with sizes, restore
// with a dry run, overwrite protection and real restores, and every refusal with its status.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const helper = require("../support/red");
const u = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");

const nodes = [require("../../dist/nodes/highball-profile-config/highball-profile-config.js")];
const XSS = "<img src=x onerror=alert(1)>";
const ODD = 'résumé "v2"; 100%.txt';

/** A zip's entries from its central directory (names and uncompressed sizes). */
function zipEntries(buf) {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, "no end of central directory record: not a zip");
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = [];
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, "central directory entry signature");
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    out.push({ name: buf.toString("utf8", p + 46, p + 46 + nameLen), size });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

const binary = (res, cb) => {
  const chunks = [];
  res.on("data", (c) => chunks.push(c));
  res.on("end", () => cb(null, Buffer.concat(chunks)));
};

describe(`snapshot routes (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  let repo, src, s1, s2, home, blob, big;

  const flow = () => [
    { id: "tab", type: "tab", label: "t" },
    // Config node ids never equal a property value elsewhere (Node-RED would take it for a reference).
    { id: "cfg-main", type: "highball-profile-config", name: "main", options: { repository: repo.repository, "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } },
    { id: "cfg-wrongpw", type: "highball-profile-config", name: "wrongpw", options: { repository: repo.repository, "cache-dir": repo.cacheDir } },
    { id: "cfg-none", type: "highball-profile-config", name: "norepo", options: { "cache-dir": repo.cacheDir } },
    { id: "cfg-gone", type: "highball-profile-config", name: "gone", options: { repository: path.join(repo.dir, "nothing-here"), "password-file": repo.passwordFile, "cache-dir": repo.cacheDir } },
  ];
  const creds = () => ({ "cfg-wrongpw": { password: "not-the-password" } });
  const api = (p) => `/highball/profiles/cfg-main${p}`;
  const ls = (snap, p) => helper.request().get(api(`/snapshots/${snap}/ls?path=${encodeURIComponent(p)}`));
  const file = (snap, p, extra = "") => helper.request().get(api(`/snapshots/${snap}/file?path=${encodeURIComponent(p)}${extra}`)).buffer(true).parse(binary);
  const restore = (body) => helper.request().post(api("/restore")).send(body);
  /** No answer may carry a stack, the password or the repository's location. */
  const clean = (res) => {
    const text = res.text ?? (Buffer.isBuffer(res.body) ? res.body.toString("utf8") : JSON.stringify(res.body));
    assert.ok(!/\n\s+at /.test(text), "a stack trace in the answer");
    assert.ok(!text.includes(repo.password), "the password in the answer");
    assert.ok(!text.includes(repo.path), "the repository's path in the answer");
  };

  before(async function () {
    repo = await initResticRepo();
    src = path.join(u.tmpDir("snapsrc"), "data");
    fs.mkdirSync(path.join(src, "docs", "notes"), { recursive: true });
    fs.mkdirSync(path.join(src, "deep", "a", "b", "c"), { recursive: true });
    fs.mkdirSync(path.join(src, "bin"));
    fs.writeFileSync(path.join(src, "docs", "readme.txt"), "hello snapshot\n");
    fs.writeFileSync(path.join(src, "docs", "notes", "n1.txt"), "note one\n");
    fs.writeFileSync(path.join(src, "deep", "a", "b", "c", "d.txt"), "deep\n");
    blob = crypto.randomBytes(3000);
    blob[10] = 0;
    fs.writeFileSync(path.join(src, "bin", "blob.bin"), blob);
    fs.writeFileSync(path.join(src, XSS), "not markup\n");
    fs.writeFileSync(path.join(src, ODD), "odd name\n");
    let r = await restic(repo, ["backup", "--tag", "first", src]);
    assert.equal(r.code, 0, r.stderr);
    fs.appendFileSync(path.join(src, "docs", "readme.txt"), "a second line, longer than the first one\n");
    fs.rmSync(path.join(src, "docs", "notes", "n1.txt"));
    big = crypto.randomBytes(10000);
    fs.writeFileSync(path.join(src, "bin", "big.bin"), big);
    fs.mkdirSync(path.join(src, "newdir"));
    fs.writeFileSync(path.join(src, "newdir", "x.txt"), "xx\n");
    fs.writeFileSync(path.join(src, "newdir", "y.txt"), "yyyy\n");
    r = await restic(repo, ["backup", src]);
    assert.equal(r.code, 0, r.stderr);
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).sort((a, b) => a.time.localeCompare(b.time));
    [s1, s2] = snaps.map((s) => s.id);
    home = u.tmpDir("home");
  });
  after(async function () { await u.stopAll(); });
  beforeEach(async function () {
    // The restores below write into the tests' own temp folders: that is the bound here.
    helper.settings({ highball: { dir: home, restoreRoots: [path.dirname(home)] } });
    await helper.load(nodes, flow(), creds());
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  it("lists the snapshots newest first, by profile id and by name, with time, host, paths, tags and short id", async function () {
    const byId = await helper.request().get(api("/snapshots")).expect(200).expect("Content-Type", /json/);
    clean(byId);
    assert.deepEqual(byId.body.map((s) => s.id), [s2, s1]);
    const first = byId.body[1];
    assert.equal(first.shortId, s1.slice(0, 8));
    assert.deepEqual(first.paths, [src]);
    assert.deepEqual(first.tags, ["first"]);
    assert.equal(typeof first.host, "string");
    assert.ok(first.host.length > 0);
    assert.ok(Number.isInteger(first.time) && first.time > Date.now() - 3600e3 && first.time <= Date.now());
    assert.equal(byId.body[0].parent, s1);
    const byName = await helper.request().get("/highball/profiles/main/snapshots").expect(200);
    assert.deepEqual(byName.body, byId.body);
  });

  it("lists one directory level: names, types, paths, sizes and times, nothing deeper", async function () {
    const res = await ls(s1, src).expect(200);
    clean(res);
    const { entries } = res.body;
    assert.equal(res.body.path, src);
    assert.equal(res.body.snapshot, s1);
    assert.deepEqual(entries.map((e) => e.name).sort(), [ODD, XSS, "bin", "deep", "docs"].sort());
    assert.equal(res.body.total, 5);
    assert.equal(res.body.truncated, false);
    const xss = entries.find((e) => e.name === XSS);
    assert.deepEqual({ ...xss, mtime: typeof xss.mtime }, { name: XSS, type: "file", path: `${src}/${XSS}`, size: 11, mtime: "number", permissions: xss.permissions });
    const deep = entries.find((e) => e.name === "deep");
    assert.equal(deep.type, "dir");
    assert.equal(deep.size, null);
    assert.ok(Math.abs(deep.mtime - fs.statSync(path.join(src, "deep")).mtimeMs) < 2000);
    // A deep folder lists only its own level.
    const one = (await ls(s1, `${src}/deep`).expect(200)).body;
    assert.deepEqual(one.entries.map((e) => [e.name, e.path, e.type]), [["a", `${src}/deep/a`, "dir"]]);
    // "/" lists the first component of the backed-up path.
    const root = (await ls(s1, "/").expect(200)).body;
    assert.deepEqual(root.entries.map((e) => e.path), [`/${src.split("/")[1]}`]);
    // The same directory again comes from the cache, or from the snapshot index the first
    // browse started, as does a normalised spelling of it.
    assert.equal(res.body.cached, false);
    const again = (await ls(s1, src).expect(200)).body;
    assert.ok(again.cached || again.indexed);
    const spelled = (await ls(s1, `${src}//./`).expect(200)).body;
    assert.ok(spelled.cached || spelled.indexed);
    assert.deepEqual(spelled.entries, entries);
    // Pages of a listing.
    const page = (await helper.request().get(api(`/snapshots/${s1}/ls?path=${encodeURIComponent(src)}&offset=1&limit=2`)).expect(200)).body;
    assert.deepEqual(page.entries.map((e) => e.name), entries.slice(1, 3).map((e) => e.name));
    assert.equal(page.total, 5);
  });

  it("sends a file's bytes: text as text/plain, binary as octet-stream, a prefix with limit", async function () {
    const text = await file(s1, `${src}/docs/readme.txt`).expect(200);
    assert.match(text.headers["content-type"], /^text\/plain/);
    assert.equal(text.headers["x-content-type-options"], "nosniff");
    assert.equal(text.body.toString("utf8"), "hello snapshot\n");
    assert.match(text.headers["content-disposition"], /^inline;/);
    const later = await file(s2, `${src}/docs/readme.txt`).expect(200);
    assert.equal(later.body.toString("utf8"), "hello snapshot\na second line, longer than the first one\n");
    const bin = await file(s1, `${src}/bin/blob.bin`).expect(200);
    assert.equal(bin.headers["content-type"], "application/octet-stream");
    assert.equal(bin.headers["content-length"], "3000");
    assert.ok(bin.body.equals(blob), "the binary file's bytes differ");
    const bigger = await file(s2, `${src}/bin/big.bin`).expect(200);
    assert.ok(bigger.body.equals(big), "the 10 kB file's bytes differ");
    const head = await file(s2, `${src}/bin/big.bin`, "&limit=100").expect(200);
    assert.ok(head.body.equals(big.subarray(0, 100)));
    assert.equal(head.headers["x-file-size"], "10000");
    const xss = await file(s1, `${src}/${XSS}`).expect(200);
    assert.equal(xss.body.toString(), "not markup\n");
  });

  it("downloads a file as an attachment with a safe, RFC 5987 encoded file name", async function () {
    const res = await file(s1, `${src}/${ODD}`, "&download=1").expect(200);
    const cd = res.headers["content-disposition"];
    assert.match(cd, /^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''[A-Za-z0-9%!#$&+\-.^_`|~]+$/);
    const fallback = /filename="([^"]*)"/.exec(cd)[1];
    assert.ok(!/["\\%;/]/.test(fallback), `unsafe fallback name ${fallback}`);
    assert.equal(decodeURIComponent(/filename\*=UTF-8''(.*)$/.exec(cd)[1]), ODD);
    assert.equal(res.body.toString(), "odd name\n");
    const x = await file(s1, `${src}/${XSS}`, "&download=1").expect(200);
    assert.equal(decodeURIComponent(/filename\*=UTF-8''(.*)$/.exec(x.headers["content-disposition"])[1]), XSS);
    assert.ok(!/[<>]/.test(x.headers["content-disposition"]), "markup characters in the header");
  });

  it("sends a folder as a zip, streamed by restic dump, with every file of it", async function () {
    const res = await file(s1, `${src}/docs`, "&download=1").expect(200);
    assert.equal(res.headers["content-type"], "application/zip");
    assert.match(res.headers["content-disposition"], /^attachment; filename="docs\.zip"/);
    assert.equal(res.headers["content-length"], undefined, "an archive is streamed, its length unknown");
    const entries = zipEntries(res.body);
    const rel = src.slice(1);
    const files = entries.filter((e) => !e.name.endsWith("/"));
    assert.deepEqual(files.map((e) => e.name).sort(), [`${rel}/docs/notes/n1.txt`, `${rel}/docs/readme.txt`]);
    assert.equal(files.find((e) => e.name.endsWith("readme.txt")).size, 15);
    assert.ok(entries.some((e) => e.name === `${rel}/docs/notes/`));
    // Without download=1 a folder is still an attachment.
    const plain = await file(s1, `${src}/docs`).expect(200);
    assert.match(plain.headers["content-disposition"], /^attachment;/);
  });

  it("compares two snapshots: added, removed and modified with sizes, largest growth first", async function () {
    const res = await helper.request().get(api(`/diff?from=${s1}&to=${s2}`)).expect(200);
    clean(res);
    const d = res.body;
    assert.equal(d.from, s1);
    assert.equal(d.to, s2);
    assert.deepEqual({ added: d.counts.added, removed: d.counts.removed, modified: d.counts.modified }, { added: 4, removed: 1, modified: 1 });
    const by = Object.fromEntries(d.changes.map((c) => [c.path, c]));
    assert.deepEqual(by[`${src}/bin/big.bin`], { path: `${src}/bin/big.bin`, type: "file", change: "added", sizeBefore: null, sizeAfter: 10000, growth: 10000 });
    assert.deepEqual(by[`${src}/docs/readme.txt`], { path: `${src}/docs/readme.txt`, type: "file", change: "modified", sizeBefore: 15, sizeAfter: 56, growth: 41 });
    assert.deepEqual(by[`${src}/docs/notes/n1.txt`], { path: `${src}/docs/notes/n1.txt`, type: "file", change: "removed", sizeBefore: 9, sizeAfter: null, growth: -9 });
    assert.deepEqual(by[`${src}/newdir`], { path: `${src}/newdir`, type: "dir", change: "added", sizeBefore: null, sizeAfter: 8, growth: 8 });
    const growths = d.changes.map((c) => c.growth);
    assert.deepEqual(growths, [...growths].sort((a, b) => b - a), "not sorted by growth");
    assert.equal(d.changes[0].path, `${src}/bin/big.bin`);
    assert.equal(d.bytesAdded, 10000 + 41 + 3 + 5);
    assert.equal(d.bytesRemoved, 9);
    // Within a path, and bounded by limit.
    const docs = (await helper.request().get(api(`/diff?from=${s1}&to=${s2}&path=${encodeURIComponent(`${src}/docs`)}`)).expect(200)).body;
    assert.deepEqual(docs.changes.map((c) => c.path).sort(), [`${src}/docs/notes/n1.txt`, `${src}/docs/readme.txt`]);
    const top = (await helper.request().get(api(`/diff?from=${s1}&to=${s2}&limit=2`)).expect(200)).body;
    assert.equal(top.changes.length, 2);
    assert.equal(top.total, 6);
  });

  it("dry-runs a restore in place: lists what would be restored and what exists, writes nothing", async function () {
    const readme = path.join(src, "docs", "readme.txt");
    const before = fs.readFileSync(readme, "utf8");
    const res = await restore({ snapshot: s1, paths: [`${src}/docs`], target: "original", dryRun: true }).expect(200);
    clean(res);
    const s = res.body;
    assert.equal(s.dryRun, true);
    assert.equal(s.restored, false);
    assert.equal(s.files, 2);
    assert.equal(s.dirs, 2);
    assert.equal(s.bytes, 15 + 9);
    assert.equal(s.existing, 1, "readme.txt exists at its place; n1.txt was deleted");
    assert.deepEqual(s.existingSample, [readme]);
    assert.match(s.refused, /exists already.*overwrite/);
    assert.deepEqual(s.sample.filter((x) => x.type === "file").map((x) => [x.path, x.exists]).sort(), [[`${src}/docs/notes/n1.txt`, false], [readme, true]]);
    assert.equal(fs.readFileSync(readme, "utf8"), before);
    assert.equal(fs.existsSync(path.join(src, "docs", "notes", "n1.txt")), false);
    // With overwrite it would go ahead.
    const ok = (await restore({ snapshot: s1, paths: [`${src}/docs`], target: "original", dryRun: true, overwrite: true }).expect(200)).body;
    assert.equal(ok.refused, null);
  });

  it("refuses to overwrite without overwrite: files in place, or a non-empty target folder", async function () {
    const inPlace = await restore({ snapshot: s1, paths: [`${src}/docs`], target: "original" }).expect(409);
    clean(inPlace);
    assert.match(inPlace.body.error, /1 file exists already at the original place; tick overwrite/);
    const target = u.tmpDir("target");
    fs.writeFileSync(path.join(target, "keep.txt"), "mine\n");
    const busy = await restore({ snapshot: s1, paths: [`${src}/docs`], target }).expect(409);
    assert.match(busy.body.error, /target folder is not empty/);
    const dry = (await restore({ snapshot: s1, paths: [`${src}/docs`], target, dryRun: true }).expect(200)).body;
    assert.equal(dry.targetEmpty, false);
    assert.match(dry.refused, /not empty/);
    assert.deepEqual(fs.readdirSync(target), ["keep.txt"]);
    assert.equal(fs.readFileSync(path.join(src, "docs", "readme.txt"), "utf8"), "hello snapshot\na second line, longer than the first one\n");
  });

  it("restores chosen paths into a new folder, then over a non-empty one with overwrite, then in place", async function () {
    const target = path.join(u.tmpDir("target"), "restored");
    const res = await restore({ snapshot: s1, paths: [`${src}/docs`, `${src}/${XSS}`], target, dryRun: false, overwrite: false }).expect(200);
    clean(res);
    assert.equal(res.body.restored, true);
    assert.equal(res.body.files, 3);
    assert.equal(fs.readFileSync(path.join(target, src, "docs", "readme.txt"), "utf8"), "hello snapshot\n");
    assert.equal(fs.readFileSync(path.join(target, src, "docs", "notes", "n1.txt"), "utf8"), "note one\n");
    assert.equal(fs.readFileSync(path.join(target, src, XSS), "utf8"), "not markup\n");
    assert.equal(fs.existsSync(path.join(target, src, "bin")), false, "a path that was not chosen was restored");
    // A name with glob characters is restored literally, not as a pattern.
    fs.writeFileSync(path.join(src, "st*ar"), "star\n");
    fs.writeFileSync(path.join(src, "stXar"), "not me\n");
    await restic(repo, ["backup", src]);
    const s3 = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout).sort((a, b) => a.time.localeCompare(b.time))[2].id;
    const star = path.join(u.tmpDir("target"), "star");
    await restore({ snapshot: s3, paths: [`${src}/st*ar`], target: star }).expect(200);
    assert.deepEqual(fs.readdirSync(path.join(star, src)), ["st*ar"]);
    // Over the first restore, with overwrite: the second snapshot's readme replaces the first's.
    const again = await restore({ snapshot: s2, paths: [`${src}/docs/readme.txt`], target, overwrite: true }).expect(200);
    assert.equal(again.body.existing, 1);
    assert.equal(fs.readFileSync(path.join(target, src, "docs", "readme.txt"), "utf8"), "hello snapshot\na second line, longer than the first one\n");
    // In place, with overwrite: the deleted note comes back and readme.txt is the first version again.
    await restore({ snapshot: s1, paths: [`${src}/docs`], target: "original", overwrite: true }).expect(200);
    assert.equal(fs.readFileSync(path.join(src, "docs", "readme.txt"), "utf8"), "hello snapshot\n");
    assert.equal(fs.readFileSync(path.join(src, "docs", "notes", "n1.txt"), "utf8"), "note one\n");
    // Put the source back the way the other tests expect it.
    fs.writeFileSync(path.join(src, "docs", "readme.txt"), "hello snapshot\na second line, longer than the first one\n");
    fs.rmSync(path.join(src, "docs", "notes", "n1.txt"));
  });

  it("rejects traversal, relative paths, NULs and bad snapshot ids with 400 before restic runs", async function () {
    const bad = [
      api(`/snapshots/${s1}/ls?path=${encodeURIComponent(`${src}/../..`)}`),
      api(`/snapshots/${s1}/ls?path=etc`),
      api(`/snapshots/${s1}/ls?path=%2Fetc%00x`),
      api(`/snapshots/${s1}/ls?path=/a&path=/b`),
      api(`/snapshots/xyz12345/ls?path=/`),
      api(`/snapshots/abc/ls?path=/`),
      api(`/snapshots/${"a".repeat(65)}/ls?path=/`),
      api(`/snapshots/--help1234/ls?path=/`),
      api(`/snapshots/${s1}/file?path=${encodeURIComponent("/../etc/passwd")}`),
      api(`/snapshots/${s1}/file`),
      api(`/diff?from=latest&to=${s2}`),
      api(`/diff?from=${s1}`),
      api(`/diff?from=${s1}&to=${s2}&path=..`),
    ];
    for (const url of bad) {
      const res = await helper.request().get(url).expect(400);
      clean(res);
      assert.equal(typeof res.body.error, "string", url);
      assert.ok(!res.body.error.includes(repo.dir), url);
    }
    for (const body of [
      { snapshot: s1, paths: ["/../etc"], target: "original", dryRun: true },
      { snapshot: s1, paths: "/etc", target: "original", dryRun: true },
      { snapshot: s1, paths: [], target: "original", dryRun: true },
      { snapshot: s1, paths: [src], target: "relative/dir", dryRun: true },
      { snapshot: s1, paths: [src], target: "/tmp/../etc", dryRun: true },
      { snapshot: s1, paths: [src], dryRun: true },
      { snapshot: "nothex!!", paths: [src], target: "original", dryRun: true },
      { snapshot: s1, paths: [src], target: "original", dryRun: "yes" },
    ]) {
      const res = await restore(body).expect(400);
      assert.equal(typeof res.body.error, "string", JSON.stringify(body));
    }
  });

  it("answers 404 for an unknown profile, snapshot or path, and plain sentences for broken profiles", async function () {
    for (const url of ["/highball/profiles/nobody/snapshots", `/highball/profiles/nobody/snapshots/${s1}/ls?path=/`, `/highball/profiles/nobody/diff?from=${s1}&to=${s2}`]) {
      const res = await helper.request().get(url).expect(404);
      assert.equal(res.body.error, "no deployed profile has that id or name");
    }
    await helper.request().post("/highball/profiles/nobody/restore").send({ snapshot: s1, paths: [src], target: "original", dryRun: true }).expect(404);
    const unknown = "0123abcd".repeat(8);
    const a = await ls(unknown, "/").expect(404);
    assert.match(a.body.error, /has no snapshot 0123abcd/);
    await file(unknown, `${src}/docs/readme.txt`).expect(404);
    await helper.request().get(api(`/diff?from=${unknown}&to=${s2}`)).expect(404);
    await restore({ snapshot: unknown, paths: [src], target: "original", dryRun: true }).expect(404);
    const missing = await ls(s1, `${src}/nope`).expect(404);
    assert.match(missing.body.error, /there is no .*\/nope in snapshot/);
    await file(s1, `${src}/docs/nope.txt`).expect(404);
    await restore({ snapshot: s1, paths: [`${src}/nope`], target: "original", dryRun: true }).expect(404);
    // ls of a file is not a folder listing.
    await ls(s1, `${src}/docs/readme.txt`).expect(400);

    const wrong = await helper.request().get("/highball/profiles/wrongpw/snapshots").expect(502);
    clean(wrong);
    assert.match(wrong.body.error, /password is wrong/);
    assert.ok(!wrong.text.includes("not-the-password"));
    const none = await helper.request().get("/highball/profiles/cfg-none/snapshots").expect(409);
    assert.match(none.body.error, /has no repository/);
    const gone = await helper.request().get("/highball/profiles/gone/snapshots").expect(502);
    clean(gone);
    assert.match(gone.body.error, /no repository at its location/);
    assert.ok(!gone.text.includes(repo.dir), "the repository's location in the answer");
  });
  describe("where a restore may write (restoreRoots)", function () {
    const jobNode = require("../../dist/nodes/highball-backup-job/highball-backup-job.js");
    let restoreHome;
    beforeEach(async function () {
      await helper.unload();
      restoreHome = u.tmpDir("rhome");
      // The defaults: Highball's restore folder, and what the profile's jobs back up (src).
      helper.settings({ highball: { dir: restoreHome } });
      await helper.load([...nodes, jobNode], [...flow(), { id: "jr", z: "tab", type: "highball-backup-job", name: "data", engine: "restic", profile: "cfg-main", source: { type: "local", paths: [{ path: src }] }, wires: [] }], creds());
    });

    it("refuses with 403 and a sentence: /etc in place or as a target, a folder no job backs up, a symlink leading out; allows the restore folder and the job's own source", async function () {
      const etc = await restore({ snapshot: s1, paths: [`${src}/docs`], target: "/etc", overwrite: true }).expect(403);
      assert.match(etc.body.error, /^the target \/etc is outside the folders a restore may write to; restores may write only into Highball's restore folder/);
      clean(etc);
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: "/etc", dryRun: true }).expect(403);
      const elsewhere = u.tmpDir("elsewhere");
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: elsewhere, overwrite: true }).expect(403);
      // A symlink inside the restore folder that points at /etc does not widen the bound.
      const folder = path.join(restoreHome, "restore");
      fs.mkdirSync(folder, { recursive: true });
      fs.symlinkSync("/etc", path.join(folder, "sneaky"));
      const link = await restore({ snapshot: s1, paths: [`${src}/docs`], target: path.join(folder, "sneaky", "x"), overwrite: true }).expect(403);
      assert.match(link.body.error, /is outside the folders a restore may write to/);
      // A symlink deeper, inside an existing restore target, on the way of the restored files.
      const deep = path.join(folder, "deep");
      fs.mkdirSync(path.join(deep, src), { recursive: true });
      fs.symlinkSync(elsewhere, path.join(deep, src, "docs"));
      const via = await restore({ snapshot: s1, paths: [`${src}/docs`], target: deep, overwrite: true }).expect(403);
      assert.match(via.body.error, /symbolic link that leads outside|is outside the folders/);
      assert.deepEqual(fs.readdirSync(elsewhere), [], "nothing was written through the link");
      // ".." never gets that far.
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: `${folder}/../../../etc`, overwrite: true }).expect(400);
      // In place: only where the profile's jobs back up from.
      await restore({ snapshot: s1, paths: ["/etc"], target: "original", dryRun: true, overwrite: true }).expect(403);
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: "original", dryRun: true, overwrite: true }).expect(200);
      // A new folder under the restore folder is fine.
      const ok = await restore({ snapshot: s1, paths: [`${src}/docs`], target: path.join(folder, "new-one") }).expect(200);
      assert.equal(ok.body.restored, true);
      assert.equal(fs.readFileSync(path.join(folder, "new-one", src, "docs", "readme.txt"), "utf8"), "hello snapshot\n");
    });

    it("highball.restoreFolder and highball.restoreRoots replace the defaults", async function () {
      await helper.unload();
      const mine = u.tmpDir("mine");
      helper.settings({ highball: { dir: restoreHome, restoreRoots: [mine] } });
      await helper.load(nodes, flow(), creds());
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: path.join(restoreHome, "restore", "x") }).expect(403);
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: path.join(mine, "x") }).expect(200);
      await helper.unload();
      const folder = u.tmpDir("rfolder");
      helper.settings({ highball: { dir: restoreHome, restoreFolder: folder } });
      await helper.load(nodes, flow(), creds());
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: path.join(folder, "y") }).expect(200);
      await restore({ snapshot: s1, paths: [`${src}/docs`], target: "original", dryRun: true }).expect(403);
    });
  });
});
