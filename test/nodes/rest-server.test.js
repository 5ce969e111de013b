"use strict";
// A restic REST server repository (restic's real rest-server on 127.0.0.1, basic auth from an
// htpasswd file) works like a local one through the product: init, backup, snapshots, browse,
// a file's bytes, diff, restore and forget, over plain HTTP and over TLS with a self-signed
// certificate trusted through the profile's cacert. The server user's password is a credential:
// it never reaches the flow, a log, a message, an admin answer or a command line (ps), on
// whichever restic the test runner put first on PATH (0.14, 0.18, 0.19).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { next } = require("../support/flow");
const u = require("../fixtures/util");
const { resticVersion } = require("../fixtures/restic");
const { startRestServer } = require("../fixtures/rest-server");

const nodes = [
  require("../../dist/nodes/highball-profile-config/highball-profile-config.js"),
  require("../../dist/nodes/highball-backup-job/highball-backup-job.js"),
  require("../../dist/nodes/highball-restic-run/highball-restic-run.js"),
];

for (const tls of [false, true]) {
  describe(`REST server repository over ${tls ? "HTTPS (self-signed, cacert)" : "HTTP"} (Node-RED ${helper.major})`, function () {
    this.timeout(180000);
    let server, home, src, secret, repoPassword, flow, leaks, watching;

    /** Every process's command line while the tests run: the secret must be in none. */
    const watchPs = () => {
      leaks = [];
      watching = true;
      void (async () => {
        while (watching) {
          for (const p of u.processesMatching((x) => x.cmdline.join(" ").includes(secret))) leaks.push(p.cmdline.join(" "));
          await u.sleep(20);
        }
      })();
    };

    const trigger = async (id, msg = {}) => {
      const result = next(helper, "result", 150000);
      helper.getNode(id).receive(msg);
      return result;
    };
    /** No secret in an admin answer (and no stack). */
    const clean = (res) => {
      const text = res.text ?? (Buffer.isBuffer(res.body) ? res.body.toString("utf8") : JSON.stringify(res.body));
      assert.ok(!text.includes(secret), "the REST password in an admin answer");
      assert.ok(!text.includes(encodeURIComponent(secret)), "the REST password (URL-encoded) in an admin answer");
      assert.ok(!/\n\s+at /.test(text), "a stack trace in the answer");
      return res;
    };

    before(async function () {
      // A password with characters a URL must encode: the product puts it in one.
      secret = `rest:pw@${tls ? "tls" : "http"}/${Math.random().toString(36).slice(2)}%`;
      repoPassword = "repo-password-123";
      server = await startRestServer({ tls, password: secret });
      home = u.tmpDir("home");
      src = path.join(u.tmpDir("restsrc"), "data");
      fs.mkdirSync(path.join(src, "docs"), { recursive: true });
      fs.writeFileSync(path.join(src, "docs", "readme.txt"), "hello rest\n");
      fs.writeFileSync(path.join(src, "a.bin"), Buffer.alloc(5000, 7));
      const options = { repository: server.url("photos"), "cache-dir": path.join(home, "cache"), ...(tls ? { cacert: server.cacert } : {}) };
      flow = [
        { id: "tab", type: "tab", label: "t" },
        { id: "cfg-rest", type: "highball-profile-config", name: "rest", options },
        { id: "cfg-nopw", type: "highball-profile-config", name: "nopw", options },
        ...(tls ? [{ id: "cfg-nocert", type: "highball-profile-config", name: "nocert", options: { ...options, cacert: undefined } }] : []),
        { id: "j1", z: "tab", type: "highball-backup-job", name: "rest-photos", engine: "restic", profile: "cfg-rest", source: { type: "local", paths: [{ path: src }] }, wires: [["run"]] },
        // A job from a message may use a profile that a deployed job wired to its node uses.
        { id: "j2", z: "tab", type: "highball-backup-job", name: "rest-nopw", engine: "restic", profile: "cfg-nopw", source: { type: "local", paths: [{ path: src }] }, wires: [["run"]] },
        ...(tls ? [{ id: "j3", z: "tab", type: "highball-backup-job", name: "rest-nocert", engine: "restic", profile: "cfg-nocert", source: { type: "local", paths: [{ path: src }] }, wires: [["run"]] }] : []),
        { id: "run", z: "tab", type: "highball-restic-run", name: "restic", acceptJobs: true, allowDeletes: true, wires: [["result"], []] },
        { id: "result", z: "tab", type: "helper" },
      ];
      watchPs();
    });
    after(async function () {
      watching = false;
      await u.stopAll();
    });
    beforeEach(async function () {
      // Restores may write beneath the test's own temporary folders (SPEC: restoreRoots).
      helper.settings({ highball: { dir: home, restoreRoots: [path.dirname(home)] } });
      await helper.load(nodes, flow, {
        "cfg-rest": { password: repoPassword, restPassword: secret },
        "cfg-nopw": { password: repoPassword, restPassword: "not-the-rest-password" },
        ...(tls ? { "cfg-nocert": { password: repoPassword, restPassword: secret } } : {}),
      });
    });
    afterEach(async function () {
      await helper.unload();
      helper.settings({});
    });

    it("init, two backups, snapshots, browse, a file, diff, restore and forget, as with a local repository", async function () {
      const version = await resticVersion();
      // Initialised from the profile (the dialog's button): a message may not run init.
      const init = clean(await helper.request().post("/highball/profiles/cfg-rest/init").expect(200)).body;
      assert.equal(init.created, true);
      assert.ok(fs.existsSync(path.join(server.data, "photos", "config")), "the repository is on the server");
      const first = await trigger("j1");
      assert.equal(first.payload.status, "success", first.payload.error);
      assert.equal(first.payload.filesTotal, 2);
      assert.equal(first.run.details.restic.version, version);
      fs.appendFileSync(path.join(src, "docs", "readme.txt"), "second line\n");
      fs.writeFileSync(path.join(src, "new.txt"), "new\n");
      const second = await trigger("j1");
      assert.equal(second.payload.status, "success", second.payload.error);

      const api = (p) => `/highball/profiles/cfg-rest${p}`;
      const snaps = clean(await helper.request().get(api("/snapshots")).expect(200)).body;
      assert.equal(snaps.length, 2);
      const [s2, s1] = snaps.map((s) => s.id);
      const ls = clean(await helper.request().get(api(`/snapshots/${s1}/ls?path=${encodeURIComponent(src)}`)).expect(200)).body;
      assert.deepEqual(ls.entries.map((e) => e.name).sort(), ["a.bin", "docs"]);
      const file = clean(await helper.request().get(api(`/snapshots/${s2}/file?path=${encodeURIComponent(`${src}/docs/readme.txt`)}`)).expect(200));
      assert.equal(file.text, "hello rest\nsecond line\n");
      const diff = clean(await helper.request().get(api(`/diff?from=${s1}&to=${s2}`)).expect(200)).body;
      const by = Object.fromEntries(diff.changes.map((c) => [c.path, c]));
      assert.equal(by[`${src}/new.txt`].change, "added");
      assert.equal(by[`${src}/docs/readme.txt`].change, "modified");
      assert.equal(by[`${src}/docs/readme.txt`].growth, 12);
      const target = path.join(u.tmpDir("restored"), "here");
      const restored = clean(await helper.request().post(api("/restore")).send({ snapshot: s1, paths: [`${src}/docs`], target }).expect(200)).body;
      assert.equal(restored.restored, true);
      assert.equal(fs.readFileSync(path.join(target, src, "docs", "readme.txt"), "utf8"), "hello rest\n");
      const missing = clean(await helper.request().get(api(`/snapshots/${"0123abcd".repeat(8)}/ls?path=/`)).expect(404)).body;
      assert.match(missing.error, /has no snapshot 0123abcd/);

      const forget = await trigger("run", { job: { name: "rest-forget", engine: "restic", profile: "cfg-rest" }, command: "forget", args: ["--keep-last=1", "--prune"] });
      assert.equal(forget.payload.status, "success", forget.payload.error);
      assert.equal(clean(await helper.request().get(api("/snapshots")).expect(200)).body.length, 1);

      // The secret: not in the flow, any log, any message, the profile answers or any command line.
      assert.ok(!JSON.stringify(flow).includes(secret), "the REST password in the flow");
      for (const m of [init, first, second, forget]) assert.ok(!JSON.stringify(m).includes(secret) && !JSON.stringify(m).includes(encodeURIComponent(secret)), "the REST password in a message");
      for (const f of fs.readdirSync(path.join(home, "logs"))) {
        const text = fs.readFileSync(path.join(home, "logs", f), "utf8");
        assert.ok(!text.includes(secret) && !text.includes(encodeURIComponent(secret)), `the REST password in log ${f}`);
      }
      const profiles = clean(await helper.request().get("/highball/profiles").expect(200)).body;
      assert.equal(profiles.find((p) => p.name === "rest").effective.options["rest-password"], "********");
      clean(await helper.request().get("/highball/jobs").expect(200));
      assert.deepEqual(leaks, [], "the REST password on a command line");
    });

    it("a wrong REST password is a plain sentence, for a run and for the browser", async function () {
      const r = await trigger("run", { job: { name: "rest-wrong", engine: "restic", profile: "cfg-nopw" }, command: "snapshots" });
      assert.equal(r.payload.status, "failed");
      assert.match(r.payload.error, /^the server of rest:https?:\/\/backup@127\.0\.0\.1:\d+\/photos\/ refused the user name or password \(401 Unauthorized\)/);
      const res = clean(await helper.request().get("/highball/profiles/cfg-nopw/snapshots").expect(502));
      assert.match(res.body.error, /refused the user name or password \(401 Unauthorized\)/);
      assert.ok(!JSON.stringify(r).includes("not-the-rest-password"));
    });

    if (tls) {
      it("without cacert the self-signed certificate is not trusted: a plain sentence, at once on every version", async function () {
        const t0 = Date.now();
        const r = await trigger("run", { job: { name: "rest-nocert", engine: "restic", profile: "cfg-nocert" }, command: "snapshots" });
        assert.equal(r.payload.status, "failed");
        assert.match(r.payload.error, /presented a certificate that is not trusted; give its CA certificate in the profile's cacert option/);
        const res = clean(await helper.request().get("/highball/profiles/cfg-nocert/snapshots").expect(502));
        assert.match(res.body.error, /does not trust the certificate/);
        // restic 0.16+ would retry this for 15 minutes; the product stops it at its first retry.
        assert.ok(Date.now() - t0 < 60000, `took ${Date.now() - t0} ms`);
      });
    }
  });
}

describe(`an unreachable repository server (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  let home;
  beforeEach(async function () {
    home = u.tmpDir("home");
    helper.settings({ highball: { dir: home } });
  });
  afterEach(async function () { await helper.unload(); helper.settings({}); await u.stopAll(); });

  it("is a plain sentence on every version (0.16+ retry for 15 minutes; the product stops after three tries)", async function () {
    const port = await u.freePort(); // nothing listens there
    const options = { repository: `rest:http://backup@127.0.0.1:${port}/photos/`, "cache-dir": path.join(home, "cache") };
    await helper.load(nodes, [
      { id: "tab", type: "tab", label: "t" },
      { id: "cfg-down", type: "highball-profile-config", name: "down", options },
      { id: "run", z: "tab", type: "highball-restic-run", name: "restic", profile: "cfg-down", acceptJobs: true, allowDeletes: true, wires: [["result"], []] },
      { id: "result", z: "tab", type: "helper" },
    ], { "cfg-down": { password: "repo-pw", restPassword: "rest-pw-1234" } });
    const result = next(helper, "result", 110000);
    helper.getNode("run").receive({ job: { name: "down", engine: "restic", profile: "cfg-down" }, command: "snapshots" });
    const r = await result;
    assert.equal(r.payload.status, "failed");
    assert.equal(r.payload.error, `the server of rest:http://backup@127.0.0.1:${port}/photos/ cannot be reached (connection refused)`);
    const res = await helper.request().get("/highball/profiles/cfg-down/snapshots").expect(502);
    assert.match(res.body.error, /could not reach the repository of profile "down"/);
    assert.ok(!res.text.includes("rest-pw-1234"));
  });
});
