"use strict";
// Pre-flight ssh validation, the product's known_hosts and rsync daemon discovery, against a
// real sshd, a real rsync daemon and OpenSSH's own tools (ssh-keygen, ssh) on loopback.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { validateSsh, fetchHostKey } = require("../../dist/lib/remote/validate");
const kh = require("../../dist/lib/remote/knownhosts");
const { discoverRsyncd, parseModuleLine } = require("../../dist/lib/remote/rsyncd");
const { mountRemoteRoutes } = require("../../dist/lib/http/remote-routes");
const u = require("../fixtures/util");
const { startSshd, rotateHostKey } = require("../fixtures/sshd");
const { startRsyncd } = require("../fixtures/rsyncd");

/** "SHA256:..." of a public key file, as OpenSSH prints it. */
async function keygenFingerprint(pubFile) {
  const r = await u.run("ssh-keygen", ["-l", "-E", "sha256", "-f", pubFile]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split(/\s+/)[1];
}

/** A real ssh login that trusts only `knownHostsFile` (proves the file's format to OpenSSH). */
async function opensshLogin(s, knownHostsFile) {
  return u.run("ssh", ["-p", String(s.port), "-i", s.clientKey, "-o", `UserKnownHostsFile=${knownHostsFile}`,
    "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", `root@${s.host}`, "echo", "in"], { timeout: 20000 });
}

/** A TCP server that accepts and then says nothing: a host that answers but never speaks. */
async function silentServer() {
  const sockets = new Set();
  const srv = net.createServer((c) => { sockets.add(c); c.on("error", () => undefined); });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return { port: srv.address().port, close: () => { for (const c of sockets) c.destroy(); return new Promise((r) => srv.close(r)); } };
}

/** sshd's log from `offset`, once the connection it logged has ended. */
async function sshdLogSince(s, offset) {
  return u.waitFor(() => {
    const text = fs.readFileSync(s.log, "utf8").slice(offset);
    return /Disconnected from|Connection closed by|Connection reset by/.test(text) ? text : null;
  }, { timeout: 10000, what: "sshd logging the end of the connection" });
}

const json = (v) => JSON.stringify(v);

describe("remote: known_hosts", function () {
  this.timeout(60000);
  let s;
  before(async function () { s = await startSshd(); });
  after(async function () { await u.stopAll(); });

  it("fingerprints and lines match what OpenSSH prints and writes", async function () {
    const blob = kh.parsePublicKey(s.hostKeyPub);
    assert.equal(kh.fingerprintOf(blob), await keygenFingerprint(`${s.hostKey}.pub`));
    assert.equal(kh.keyTypeOf(blob), "ssh-ed25519");
    assert.equal(kh.hostKeyInfo("127.0.0.1", s.port, blob).line, s.knownHostsLine);
    assert.equal(kh.knownHostName("NAS.lan", 22), "nas.lan");
    assert.equal(kh.knownHostName("nas.lan", undefined), "nas.lan");
    assert.equal(kh.knownHostName("[::1]", 2222), "[::1]:2222");
    assert.throws(() => kh.parsePublicKey("ssh-ed25519 not-base64!"), /not an ssh public key/);
  });

  it("matches plain, [host]:port, wildcard, negated and hashed entries", async function () {
    const dir = u.tmpDir("kh");
    const file = path.join(dir, "known_hosts");
    const blob = kh.parsePublicKey(s.hostKeyPub);
    const other = kh.parsePublicKey(fs.readFileSync(`${s.otherKey}.pub`, "utf8"));
    const text = [
      "# a comment",
      `nas.lan,backup.lan ${s.hostKeyPub}`,
      `[127.0.0.1]:${s.port} ${s.hostKeyPub}`,
      `*.example.org,!evil.example.org ${s.hostKeyPub}`,
      "garbage line",
      "",
    ].join("\n");
    const entries = kh.parseKnownHosts(text);
    assert.equal(entries.length, 3);
    assert.equal(kh.hostKeyStatus(entries, "backup.lan", 22, blob).known, true);
    assert.equal(kh.hostKeyStatus(entries, "BACKUP.LAN", 22, blob).known, true);
    assert.equal(kh.hostKeyStatus(entries, "backup.lan", 2222, blob).known, false, "another port is another host");
    assert.equal(kh.hostKeyStatus(entries, "backup.lan", 2222, blob).changed, false);
    assert.equal(kh.hostKeyStatus(entries, "127.0.0.1", s.port, blob).known, true);
    assert.equal(kh.hostKeyStatus(entries, "127.0.0.1", 22, blob).known, false);
    assert.equal(kh.hostKeyStatus(entries, "www.example.org", 22, blob).known, true);
    assert.equal(kh.hostKeyStatus(entries, "evil.example.org", 22, blob).known, false);
    const changed = kh.hostKeyStatus(entries, "nas.lan", 22, other);
    assert.equal(changed.known, false);
    assert.equal(changed.changed, true);
    assert.deepEqual(changed.onFile, [{ type: "ssh-ed25519", fingerprint: kh.fingerprintOf(blob) }]);

    // Hashed by OpenSSH itself: the names are gone from the file, the matches stay.
    // (ssh-keygen -H refuses wildcards and unreadable lines, so only plain names go in.)
    fs.writeFileSync(file, [`nas.lan,backup.lan ${s.hostKeyPub}`, `[127.0.0.1]:${s.port} ${s.hostKeyPub}`, ""].join("\n"), { mode: 0o600 });
    const h = await u.run("ssh-keygen", ["-H", "-f", file]);
    assert.equal(h.code, 0, h.stderr);
    const hashed = fs.readFileSync(file, "utf8");
    assert.ok(!hashed.includes("nas.lan") && !hashed.includes("127.0.0.1"));
    assert.match(hashed, /^\|1\|/m);
    const he = kh.parseKnownHosts(hashed);
    assert.equal(kh.hostKeyStatus(he, "nas.lan", 22, blob).known, true);
    assert.equal(kh.hostKeyStatus(he, "127.0.0.1", s.port, blob).known, true);
    assert.equal(kh.hostKeyStatus(he, "127.0.0.1", s.port, other).changed, true);
    assert.equal(kh.hostKeyStatus(he, "other.lan", 22, blob).known, false);
  });

  it("acceptHostKey appends atomically (0600, no duplicates), refuses a changed key unless replacing, and OpenSSH trusts the result", async function () {
    const dir = u.tmpDir("kh");
    const file = path.join(dir, "ssh", "known_hosts");
    const fp = await keygenFingerprint(`${s.hostKey}.pub`);

    const a = await kh.acceptHostKey(file, { host: "127.0.0.1", port: s.port, key: s.hostKeyPub, fingerprint: fp });
    assert.equal(a.added, true);
    assert.equal(a.fingerprint, fp);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(file, "utf8"), `${s.knownHostsLine}\n`);
    const again = await kh.acceptHostKey(file, { host: "127.0.0.1", port: s.port, key: s.knownHostsLine });
    assert.equal(again.added, false);
    assert.equal(fs.readFileSync(file, "utf8"), `${s.knownHostsLine}\n`, "no duplicate line");

    // Port 22 is written as a plain name, as OpenSSH looks it up.
    await kh.acceptHostKey(file, { host: "NAS.lan", port: 22, key: s.hostKeyPub });
    assert.match(fs.readFileSync(file, "utf8"), new RegExp(`^nas\\.lan ${s.hostKeyPub.replace(/[+/]/g, "\\$&")}$`, "m"));

    await assert.rejects(kh.acceptHostKey(file, { host: "x.lan", key: s.hostKeyPub, fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }), /fingerprint/);

    // OpenSSH finds and trusts what was written.
    const found = await u.run("ssh-keygen", ["-F", `[127.0.0.1]:${s.port}`, "-f", file]);
    assert.equal(found.code, 0, found.stderr);
    const login = await opensshLogin(s, file);
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout.trim(), "in");

    // A different key for a host on file is refused, then replaced only on request.
    const otherPub = fs.readFileSync(`${s.otherKey}.pub`, "utf8").trim();
    await assert.rejects(kh.acceptHostKey(file, { host: "nas.lan", key: otherPub }), (err) => err instanceof kh.HostKeyChangedError && /different key/.test(err.message));
    fs.appendFileSync(file, "# kept comment\n");
    const r = await kh.acceptHostKey(file, { host: "nas.lan", key: otherPub, replace: true });
    assert.equal(r.added, true);
    assert.equal(r.replaced, 1);
    const after = fs.readFileSync(file, "utf8");
    assert.ok(after.includes(s.knownHostsLine), "other hosts stay");
    assert.ok(after.includes("# kept comment"));
    assert.ok(!after.includes(`nas.lan ${s.hostKeyPub}`), "the old key of nas.lan is gone");
    assert.ok(after.includes(`nas.lan ${otherPub.split(/\s+/).slice(0, 2).join(" ")}`));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["known_hosts"], "no temp file is left behind");
  });

  it("parallel accepts of many hosts lose none of them", async function () {
    const file = path.join(u.tmpDir("kh"), "known_hosts");
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.lan`);
    await Promise.all(hosts.map((h) => kh.acceptHostKey(file, { host: h, key: s.hostKeyPub })));
    const lines = fs.readFileSync(file, "utf8").trim().split("\n");
    assert.equal(lines.length, 20);
    assert.deepEqual(lines.map((l) => l.split(" ")[0]).sort(), [...hosts].sort());
  });
});

describe("remote: validateSsh against a real sshd", function () {
  this.timeout(90000);
  let s, rsyncd, file, fp;
  before(async function () {
    [s, rsyncd] = await Promise.all([startSshd(), startRsyncd()]);
    file = path.join(u.tmpDir("home"), "ssh", "known_hosts");
    fp = await keygenFingerprint(`${s.hostKey}.pub`);
  });
  after(async function () { await u.stopAll(); });

  const base = () => ({ host: "127.0.0.1", port: s.port, user: "root", identityFile: s.clientKey, knownHostsFile: file, needs: ["rsync", "restic"] });

  it("an unknown host key is reported with its fingerprint, and no login is attempted", async function () {
    const offset = fs.statSync(s.log).size;
    const r = await validateSsh({ ...base(), path: s.dir });
    assert.equal(r.ok, false);
    assert.equal(r.reachable.ok, true);
    assert.equal(r.hostKey.checked, true);
    assert.equal(r.hostKey.known, false);
    assert.equal(r.hostKey.changed, false);
    assert.equal(r.hostKey.fingerprint, fp);
    assert.equal(r.hostKey.type, "ssh-ed25519");
    assert.equal(r.hostKey.line, s.knownHostsLine);
    assert.match(r.hostKey.error, /not known yet/);
    assert.equal(r.auth.ok, false);
    assert.equal(r.auth.tried, false);
    assert.deepEqual(r.auth.methods, []);
    assert.equal(r.path.checked, false);
    assert.equal(r.tools.rsync.checked, false);
    assert.equal(typeof r.checkedAt, "number");
    const log = await sshdLogSince(s, offset);
    assert.doesNotMatch(log, /authenticating user|publickey|Accepted/, "sshd saw no login attempt");
    assert.equal(fs.existsSync(file), false, "validation alone writes nothing");
  });

  it("acceptKey equal to the fingerprint lets one check log in without trusting the key on file", async function () {
    const r = await validateSsh({ ...base(), path: s.dir, acceptKey: fp });
    assert.equal(r.auth.ok, true, r.auth.error);
    assert.equal(r.hostKey.known, false);
    assert.equal(r.ok, false, "not ready: the key is still not on file");
    assert.equal(fs.existsSync(file), false);
    const wrong = await validateSsh({ ...base(), acceptKey: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    assert.equal(wrong.auth.tried, false);
  });

  it("after accepting the key: login, path, rsync and restic all check out", async function () {
    const got = await fetchHostKey({ host: "127.0.0.1", port: s.port, knownHostsFile: file });
    assert.equal(got.fingerprint, fp);
    assert.equal(got.known, false);
    await kh.acceptHostKey(file, { host: "127.0.0.1", port: s.port, key: got.line, fingerprint: fp });

    const r = await validateSsh({ ...base(), path: s.dir });
    assert.equal(r.ok, true, json(r));
    assert.equal(r.hostKey.known, true);
    assert.equal(r.hostKey.ok, true);
    assert.equal(r.auth.ok, true);
    assert.deepEqual(r.auth.methods, [`publickey with ${s.clientKey}`]);
    assert.deepEqual(r.path, { path: s.dir, ok: true, checked: true, exists: true, isDirectory: true, readable: true, writable: true });
    const rsyncV = (await u.run("rsync", ["--version"])).stdout.split("\n")[0];
    // The restic that host's login finds (sshd's own PATH), which need not be the one first on ours.
    const resticV = (await u.run("ssh", [...s.sshArgs, `${s.user}@127.0.0.1`, "restic", "version"])).stdout.split("\n")[0];
    assert.equal(r.tools.rsync.ok, true);
    assert.ok(rsyncV.includes(`version ${r.tools.rsync.version} `), `${rsyncV} vs ${r.tools.rsync.version}`);
    assert.equal(r.tools.restic.ok, true);
    assert.ok(resticV.startsWith(`restic ${r.tools.restic.version} `), `${resticV} vs ${r.tools.restic.version}`);
    assert.equal(r.tools.rsync.needed, true);
    assert.ok(!json(r).includes(fs.readFileSync(s.clientKey, "utf8").split("\n")[1]), "no key material in the result");
  });

  it("checks each path for its role, with spaces, quotes, ~ and shell metacharacters passed as data", async function () {
    const root = u.tmpDir("paths");
    const spaced = path.join(root, "with space 'and quote'");
    fs.mkdirSync(spaced);
    const file1 = path.join(root, "file.txt");
    fs.writeFileSync(file1, "x");
    const marker = path.join(root, "pwned");
    const evil = `${root}/$(touch ${marker})\`touch ${marker}\`;touch ${marker}`;
    const r = await validateSsh({ ...base(), paths: [spaced, path.join(root, "missing"), file1, evil, "~", "~/"] });
    const [a, missing, f, e, home, homeSlash] = r.paths;
    assert.equal(a.ok, true, a.error);
    assert.equal(a.isDirectory, true);
    assert.equal(missing.ok, false);
    assert.equal(missing.exists, false);
    assert.match(missing.error, /does not exist/);
    assert.equal(f.ok, true);
    assert.equal(f.isDirectory, false);
    assert.equal(e.exists, false);
    assert.equal(home.ok, true, "~ is the remote user's home");
    assert.equal(homeSlash.isDirectory, true, homeSlash.error);
    assert.equal(fs.existsSync(marker), false, "nothing in a path was run");
    assert.equal(r.path.path, spaced);

    const dst = await validateSsh({ ...base(), role: "destination", paths: [path.join(root, "new"), file1, path.join(root, "no", "such")] });
    assert.equal(dst.paths[0].ok, true);
    assert.equal(dst.paths[0].willBeCreated, true);
    assert.equal(dst.paths[1].ok, false);
    assert.match(dst.paths[1].error, /not a folder/);
    assert.equal(dst.paths[2].ok, false);
    assert.match(dst.paths[2].error, /nor its parent/);
  });

  it("a key the server does not accept: auth error naming what was tried", async function () {
    const r = await validateSsh({ ...base(), identityFile: s.otherKey, path: "/nonexistent" });
    assert.equal(r.hostKey.known, true);
    assert.equal(r.auth.ok, false);
    assert.equal(r.auth.tried, true);
    assert.match(r.auth.error, /refused the login as root/);
    assert.ok(r.auth.error.includes(s.otherKey));
    assert.match(r.auth.error, /accepts publickey/);
    assert.equal(r.path.checked, false);
    assert.equal(r.ok, false);
  });

  it("key files that cannot be used are named in plain words, and never echoed", async function () {
    const dir = u.tmpDir("keys");
    const secret = path.join(dir, "with_pass");
    const g = await u.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "s3cret pass", "-f", secret]);
    assert.equal(g.code, 0, g.stderr);
    const cases = [
      [path.join(dir, "absent"), /does not exist/],
      [dir, /is a folder/],
      [`${s.clientKey}.pub`, /holds a public key/],
      [secret, /passphrase/],
      [s.config, /not a private key/],
    ];
    for (const [identityFile, re] of cases) {
      const r = await validateSsh({ ...base(), identityFile });
      assert.equal(r.auth.ok, false, identityFile);
      assert.match(r.auth.error, re, identityFile);
      assert.ok(!json(r).includes("PRIVATE KEY") && !json(r).includes("Port "), "no file content in the result");
    }
  });

  it("unreachable targets: refused, DNS, silent, not ssh", async function () {
    const port = await u.freePort();
    const refused = await validateSsh({ ...base(), port });
    assert.equal(refused.reachable.ok, false);
    assert.match(refused.reachable.error, new RegExp(`connection to 127\\.0\\.0\\.1:${port} was refused`));
    assert.match(refused.auth.error, /not tried/);
    assert.equal(refused.ok, false);

    const dns = await validateSsh({ ...base(), host: "no-such-host.invalid" });
    assert.equal(dns.reachable.ok, false);
    assert.match(dns.reachable.error, /no-such-host\.invalid could not be resolved/);

    const silent = await silentServer();
    try {
      const t0 = Date.now();
      const r = await validateSsh({ ...base(), port: silent.port, timeoutMs: 1000 });
      assert.ok(Date.now() - t0 < 5000);
      assert.equal(r.reachable.ok, true);
      assert.match(r.hostKey.error, /did not complete the handshake within 1 s/);
    } finally {
      await silent.close();
    }

    const notSsh = await validateSsh({ ...base(), port: rsyncd.port, timeoutMs: 5000 });
    assert.equal(notSsh.reachable.ok, true);
    assert.match(notSsh.hostKey.error, /did not complete an SSH handshake|closed the connection during the handshake/);
  });

  it("a hashed known_hosts entry is recognised", async function () {
    const hashedFile = path.join(u.tmpDir("kh"), "known_hosts");
    fs.writeFileSync(hashedFile, `${s.knownHostsLine}\n`, { mode: 0o600 });
    assert.equal((await u.run("ssh-keygen", ["-H", "-f", hashedFile])).code, 0);
    const r = await validateSsh({ ...base(), knownHostsFile: hashedFile, path: s.dir });
    assert.equal(r.hostKey.known, true);
    assert.equal(r.ok, true, json(r));
  });

  it("a changed host key stops before any login, and only an explicit replace trusts the new one", async function () {
    await rotateHostKey(s);
    const newFp = await keygenFingerprint(`${s.hostKey}.pub`);
    const offset = fs.statSync(s.log).size;
    const r = await validateSsh({ ...base(), path: s.dir, acceptKey: newFp });
    assert.equal(r.hostKey.changed, true);
    assert.equal(r.hostKey.known, false);
    assert.equal(r.hostKey.fingerprint, newFp);
    assert.deepEqual(r.hostKey.onFile, [{ type: "ssh-ed25519", fingerprint: fp }]);
    assert.match(r.hostKey.error, /has changed/);
    assert.equal(r.auth.tried, false, "acceptKey never overrides a changed key");
    assert.match(r.auth.error, /not tried: the host key has changed/);
    const log = await sshdLogSince(s, offset);
    assert.doesNotMatch(log, /authenticating user|publickey|Accepted/);

    const got = await fetchHostKey({ host: "127.0.0.1", port: s.port, knownHostsFile: file });
    assert.equal(got.changed, true);
    await assert.rejects(kh.acceptHostKey(file, { host: "127.0.0.1", port: s.port, key: got.line }), kh.HostKeyChangedError);
    assert.notEqual((await opensshLogin(s, file)).code, 0, "OpenSSH refuses the changed key too");
    const rep = await kh.acceptHostKey(file, { host: "127.0.0.1", port: s.port, key: got.line, fingerprint: newFp, replace: true });
    assert.equal(rep.replaced, 1);
    assert.equal((await validateSsh({ ...base(), path: s.dir })).ok, true);
    assert.equal((await opensshLogin(s, file)).code, 0);
  });
});

describe("remote: rsync daemon discovery", function () {
  this.timeout(60000);
  let rsyncd;
  before(async function () { rsyncd = await startRsyncd(); });
  after(async function () { await u.stopAll(); });

  it("lists the listed modules with their comments, not the hidden one", async function () {
    const mods = await discoverRsyncd({ host: "127.0.0.1", port: rsyncd.port });
    assert.deepEqual(mods, [{ name: "backup", comment: "Backup target" }, { name: "secure", comment: "Auth required" }]);
    // The hidden module exists and works; the daemon just does not list it.
    const r = await u.run("rsync", [`${rsyncd.url}/${rsyncd.modules.hidden.name}/`]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("tells a module line from a MOTD line by the daemon's padding", function () {
    assert.deepEqual(parseModuleLine("backup         \tBackup target"), { name: "backup", comment: "Backup target" });
    assert.deepEqual(parseModuleLine("a-very-long-module-name\t"), { name: "a-very-long-module-name", comment: "" });
    assert.equal(parseModuleLine("Welcome\tto the box"), null);
    assert.equal(parseModuleLine("no tab at all"), null);
  });

  it("refused, not an rsync daemon, silent, and a daemon that fails its session: clear errors", async function () {
    const port = await u.freePort();
    await assert.rejects(discoverRsyncd({ host: "127.0.0.1", port }), /connection to 127\.0\.0\.1:\d+ was refused: no rsync daemon listens there/);
    await assert.rejects(discoverRsyncd({ host: "no-such-host.invalid", port: 873 }), /could not be resolved/);

    const s = await startSshd();
    await assert.rejects(discoverRsyncd({ host: "127.0.0.1", port: s.port }), /is not an rsync daemon \(it answered "SSH-2\.0-/);

    const silent = await silentServer();
    try {
      await assert.rejects(discoverRsyncd({ host: "127.0.0.1", port: silent.port, timeoutMs: 700 }), /sent no rsync greeting within 0\.7 s/);
    } finally {
      await silent.close();
    }

    // A real daemon whose session setup fails (its chroot folder is missing) hangs up at once.
    const dir = u.tmpDir("rsyncd-broken");
    await u.withFreePort(async (p) => {
      const conf = path.join(dir, "rsyncd.conf");
      fs.writeFileSync(conf, [`address = 127.0.0.1`, `port = ${p}`, "use chroot = no", `daemon chroot = ${path.join(dir, "missing")}`,
        `pid file = ${path.join(dir, "pid")}`, "[m]", `  path = ${dir}`, ""].join("\n"));
      const log = path.join(dir, "log");
      const child = u.spawnDaemon("rsync", ["--daemon", "--no-detach", `--config=${conf}`, "--port", String(p)], { name: "rsyncd-broken", log });
      await u.waitFor(() => { u.assertRunning(child, "rsyncd", log); return u.listeningBy(child.pid, p); }, { what: "broken rsyncd listening" });
      await assert.rejects(discoverRsyncd({ host: "127.0.0.1", port: p }), /closed the connection without an rsync greeting/);
    });
  });
});

describe("remote routes: mounting", function () {
  it("mounting twice on one app adds the routes once", function () {
    const express = require("express");
    const app = express();
    const pass = (_q, _s, next) => next();
    const RED = { httpAdmin: app, auth: { needsPermission: () => pass }, settings: { highball: { dir: u.tmpDir("home") } } };
    mountRemoteRoutes(RED);
    mountRemoteRoutes(RED);
    const stack = (app._router || app.router).stack;
    const paths = stack.filter((l) => l.route).map((l) => `${Object.keys(l.route.methods)[0]} ${l.route.path}`);
    assert.deepEqual(paths.sort(), [
      "get /highball/discover/rsyncd",
      "get /highball/validate/ssh",
      "post /highball/hostkeys",
      "post /highball/validate/ssh",
    ]);
  });
});
