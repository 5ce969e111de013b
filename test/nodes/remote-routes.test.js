"use strict";
// The editor's remote routes through Node-RED's admin app: ssh validation, accepting a host
// key, the last result, and rsync daemon discovery, against a real sshd and rsync daemon.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob } = require("../support/flow");
const u = require("../fixtures/util");
const { startSshd, rotateHostKey } = require("../fixtures/sshd");
const { startRsyncd } = require("../fixtures/rsyncd");

const FLOW = [
  { id: "tab", type: "tab", label: "t" },
  { id: "j1", z: "tab", type: "highball-backup-job", name: "job", engine: "rsync", source: { type: "local", paths: [{ path: "/tmp" }] }, destination: { type: "local", path: "/tmp/x" }, wires: [[]] },
];

async function fingerprint(pubFile) {
  const r = await u.run("ssh-keygen", ["-l", "-E", "sha256", "-f", pubFile]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split(/\s+/)[1];
}

describe(`remote routes (Node-RED ${helper.major})`, function () {
  this.timeout(90000);
  let sshd, rsyncd, home, fp, privateKey;

  before(async function () {
    [sshd, rsyncd] = await Promise.all([startSshd(), startRsyncd()]);
    fp = await fingerprint(`${sshd.hostKey}.pub`);
    privateKey = fs.readFileSync(sshd.clientKey, "utf8");
    home = u.tmpDir("home");
  });
  after(async function () { await u.stopAll(); });
  beforeEach(async function () {
    helper.settings({ highball: { dir: home } });
    await helper.load([backupJob], FLOW);
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  const target = () => ({ host: "127.0.0.1", port: sshd.port, user: "root", identityFile: sshd.clientKey, path: sshd.dir });
  const knownHosts = () => path.join(home, "ssh", "known_hosts");
  const trust = (line) => {
    fs.mkdirSync(path.dirname(knownHosts()), { recursive: true });
    fs.writeFileSync(knownHosts(), `${line}\n`, { mode: 0o600 });
  };
  const noSecrets = (res) => {
    const text = res.text;
    assert.ok(!text.includes("PRIVATE KEY") && !text.includes(privateKey.split("\n")[1]), "no private key in the answer");
    assert.ok(!/\n\s+at /.test(text), "no stack trace");
  };

  it("validate → unknown key with its fingerprint; accept → known; then every check passes", async function () {
    fs.rmSync(knownHosts(), { force: true });
    const first = await helper.request().post("/highball/validate/ssh").send({ ...target(), needs: ["rsync", "restic"] }).expect(200).expect("Content-Type", /json/);
    noSecrets(first);
    const r = first.body;
    assert.deepEqual(Object.keys(r).sort(), ["auth", "checkedAt", "durationMs", "hostKey", "ok", "path", "paths", "reachable", "target", "tools"]);
    assert.equal(r.ok, false);
    assert.equal(r.reachable.ok, true);
    assert.equal(r.hostKey.known, false);
    assert.equal(r.hostKey.changed, false);
    assert.equal(r.hostKey.fingerprint, fp);
    assert.equal(r.hostKey.line, sshd.knownHostsLine);
    assert.equal(r.auth.tried, false);
    assert.equal(fs.existsSync(knownHosts()), false);

    const wrong = await helper.request().post("/highball/hostkeys").send({ host: "127.0.0.1", port: sshd.port, fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }).expect(409);
    assert.match(wrong.body.error, new RegExp(`now presents the key ${fp.replace(/[+/]/g, "\\$&")}`));
    assert.equal(fs.existsSync(knownHosts()), false, "a fingerprint the server does not have is never written");

    const acc = await helper.request().post("/highball/hostkeys").send({ host: "127.0.0.1", port: sshd.port, fingerprint: fp }).expect(200);
    assert.equal(acc.body.added, true);
    assert.equal(acc.body.fingerprint, fp);
    assert.equal(fs.readFileSync(knownHosts(), "utf8"), `${sshd.knownHostsLine}\n`);
    assert.equal(fs.statSync(knownHosts()).mode & 0o777, 0o600);
    const again = await helper.request().post("/highball/hostkeys").send({ host: "127.0.0.1", port: String(sshd.port), fingerprint: fp }).expect(200);
    assert.equal(again.body.added, false);
    assert.equal(fs.readFileSync(knownHosts(), "utf8").trim().split("\n").length, 1);

    const ok = await helper.request().post("/highball/validate/ssh").send({ ...target(), needs: ["rsync", "restic"] }).expect(200);
    noSecrets(ok);
    const v = ok.body;
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.hostKey.known, true);
    assert.equal(v.auth.ok, true);
    assert.equal(v.path.exists, true);
    assert.equal(v.path.isDirectory, true);
    assert.match(v.tools.rsync.version, /^\d+\.\d+/);
    assert.match(v.tools.restic.version, /^\d+\.\d+/);

    // The last result, with its age, for "validated 5 min ago".
    const last = await helper.request().get("/highball/validate/ssh").query({ host: "127.0.0.1", port: sshd.port, user: "root", path: sshd.dir }).expect(200);
    assert.equal(last.body.checkedAt, v.checkedAt);
    assert.equal(typeof last.body.ageMs, "number");
    assert.ok(last.body.ageMs >= 0 && last.body.ageMs < 60000);
    await helper.request().get("/highball/validate/ssh").query({ host: "127.0.0.1", port: sshd.port, user: "root", path: "/never/validated" }).expect(404);
  });

  it("without a path or needs, rsync is what is checked; a missing path and a bad key are reported", async function () {
    trust(sshd.knownHostsLine);
    const missing = await helper.request().post("/highball/validate/ssh").send({ ...target(), path: "/no/such/dir" }).expect(200);
    assert.equal(missing.body.target.needs.join(), "rsync");
    assert.equal(missing.body.path.exists, false);
    assert.match(missing.body.path.error, /does not exist/);
    assert.equal(missing.body.ok, false);

    const badKey = await helper.request().post("/highball/validate/ssh").send({ ...target(), identityFile: sshd.otherKey }).expect(200);
    noSecrets(badKey);
    assert.equal(badKey.body.auth.ok, false);
    assert.match(badKey.body.auth.error, /refused the login as root/);

    const restic = await helper.request().post("/highball/validate/ssh").send({ host: "127.0.0.1", port: sshd.port, user: "root", identityFile: sshd.clientKey, profile: "nightly" }).expect(200);
    assert.deepEqual(restic.body.target.needs, ["restic"], "a profile means a restic job");
    assert.equal(restic.body.path, null);
  });

  it("refused port: 200 with reachable.ok false and a sentence", async function () {
    const port = await u.freePort();
    const res = await helper.request().post("/highball/validate/ssh").send({ ...target(), port }).expect(200);
    assert.equal(res.body.reachable.ok, false);
    assert.match(res.body.reachable.error, /was refused/);
  });

  it("answers 400 with a sentence for input that is not a host, port, user, path or fingerprint", async function () {
    const bad = [
      [{ host: "-oProxyCommand=x" }, /host must be/],
      [{ host: "a b" }, /host must be/],
      [{ host: "" }, /host must be/],
      [{ host: ["127.0.0.1"] }, /host must be/],
      [{ port: 70000 }, /port must be/],
      [{ port: "22; rm -rf /" }, /port must be/],
      [{ port: -1 }, /port must be/],
      [{ user: "-oProxyCommand=x" }, /user must be/],
      [{ identityFile: "relative/key" }, /identityFile must be/],
      [{ path: "/a\nb" }, /path must be/],
      [{ needs: ["bash"] }, /needs must be/],
      [{ acceptKey: "yes" }, /acceptKey must be/],
      [{ role: "both" }, /role must be/],
    ];
    for (const [over, re] of bad) {
      const res = await helper.request().post("/highball/validate/ssh").send({ ...target(), ...over }).expect(400);
      assert.match(res.body.error, re, JSON.stringify(over));
      assert.deepEqual(Object.keys(res.body), ["error"]);
    }
    await helper.request().post("/highball/hostkeys").send({ host: "127.0.0.1", port: sshd.port, fingerprint: "MD5:aa" }).expect(400);
    await helper.request().post("/highball/hostkeys").send({ host: "-oProxyCommand=x", fingerprint: fp }).expect(400);
    await helper.request().get("/highball/validate/ssh").query({ host: "$(id)" }).expect(400);
    await helper.request().get("/highball/discover/rsyncd").query({ host: "-x" }).expect(400);
    await helper.request().get("/highball/discover/rsyncd").query({ host: "127.0.0.1", port: "99999" }).expect(400);
    await helper.request().get("/highball/discover/rsyncd").expect(400);
  });

  it("discovers the daemon's listed modules, and says why when it cannot", async function () {
    const res = await helper.request().get("/highball/discover/rsyncd").query({ host: "127.0.0.1", port: rsyncd.port }).expect(200);
    assert.deepEqual(res.body, [{ name: "backup", comment: "Backup target" }, { name: "secure", comment: "Auth required" }]);
    assert.ok(!res.body.some((m) => m.name === "hidden"));

    const port = await u.freePort();
    const refused = await helper.request().get("/highball/discover/rsyncd").query({ host: "127.0.0.1", port }).expect(502);
    assert.match(refused.body.error, /was refused: no rsync daemon listens there/);
    const notRsync = await helper.request().get("/highball/discover/rsyncd").query({ host: "127.0.0.1", port: sshd.port }).expect(502);
    assert.match(notRsync.body.error, /is not an rsync daemon/);
  });

  it("a changed host key: validation stops, accept refuses without replace, replace trusts the new key", async function () {
    trust(sshd.knownHostsLine);
    await rotateHostKey(sshd);
    const newFp = await fingerprint(`${sshd.hostKey}.pub`);

    const v = await helper.request().post("/highball/validate/ssh").send(target()).expect(200);
    assert.equal(v.body.hostKey.changed, true);
    assert.equal(v.body.hostKey.fingerprint, newFp);
    assert.equal(v.body.auth.tried, false);

    const refused = await helper.request().post("/highball/hostkeys").send({ host: "127.0.0.1", port: sshd.port, fingerprint: newFp }).expect(409);
    assert.equal(refused.body.changed, true);
    assert.match(refused.body.error, /different key/);
    assert.equal(fs.readFileSync(knownHosts(), "utf8"), `${sshd.previousKnownHostsLine}\n`);

    const replaced = await helper.request().post("/highball/hostkeys").send({ host: "127.0.0.1", port: sshd.port, fingerprint: newFp, replace: true }).expect(200);
    assert.equal(replaced.body.replaced, 1);
    assert.equal(fs.readFileSync(knownHosts(), "utf8"), `${sshd.knownHostsLine}\n`);
    const ok = await helper.request().post("/highball/validate/ssh").send(target()).expect(200);
    assert.equal(ok.body.ok, true, JSON.stringify(ok.body));
  });
});
