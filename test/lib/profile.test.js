"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawn } = require("node:child_process");
const u = require("../fixtures/util");
const { initResticRepo } = require("../fixtures/restic");
const P = require("../../dist/lib/profile");
const { ResticParser } = require("../../dist/lib/engines/restic-parser");
const R = require("../../dist/lib/engines/restic");

// ---- a plan runner (argument array, plan env over a RESTIC_-free parent env) ----
function cleanEnv(extra) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("RESTIC_")) delete env[k];
  return { ...env, ...extra };
}
function runPlan(plan, parser) {
  return new Promise((resolve, reject) => {
    const child = spawn(plan.command, plan.args, { env: cleanEnv(plan.env), stdio: ["pipe", "pipe", "pipe"] });
    if (child.pid) u.track(child, "restic");
    const out = { stdout: [], stderr: [] };
    for (const s of ["stdout", "stderr"]) {
      let rest = "";
      child[s].setEncoding("utf8").on("data", (d) => {
        const parts = (rest + d).split(/\r?\n/);
        rest = parts.pop();
        for (const l of parts) { out[s].push(l); parser?.[s](l); }
      });
      child[s].on("end", () => { if (rest) { out[s].push(rest); parser?.[s](rest); } });
    }
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, ...out, outcome: parser ? parser.finish(code, signal) : null }));
    child.stdin.on("error", () => {});
    child.stdin.end(plan.stdin ?? "");
  });
}

const set = (obj) => new Map(Object.entries(obj).map(([k, options]) => [k, { options }]));

describe("profile: typed options", function () {
  it("reads sizes as KiB/s the way PRestic does (a bare number is KiB)", function () {
    assert.equal(P.parseOption("p", "limit-upload", "2M"), 2048);
    assert.equal(P.parseOption("p", "limit-upload", "500K"), 500);
    assert.equal(P.parseOption("p", "limit-upload", "500KB"), 500);
    assert.equal(P.parseOption("p", "limit-download", "1.5G"), 1572864);
    assert.equal(P.parseOption("p", "limit-download", "300"), 300);
    assert.equal(P.parseOption("p", "limit-download", 300), 300);
    assert.throws(() => P.parseOption("photos", "limit-upload", "2X"),
      /profile "photos": option "limit-upload" must be a size such as 500K, 2M or 1.5G .*not "2X"/);
    assert.throws(() => P.parseOption("p", "limit-upload", "100B"), /must be a size/, "less than 1 KiB/s cannot be given to restic");
  });

  it("reads durations (wait-for-lock as PRestic's seconds or with units) in ms", function () {
    assert.equal(P.parseOption("p", "wait-for-lock", "10m"), 600000);
    assert.equal(P.parseOption("p", "wait-for-lock", "600"), 600000);
    assert.equal(P.parseOption("p", "wait-for-lock", 90), 90000);
    assert.equal(P.parseOption("p", "stale-lock-age", "1h30m"), 5400000);
    assert.throws(() => P.parseOption("nas", "wait-for-lock", "soon"), /profile "nas": option "wait-for-lock" must be a duration such as 30s, 10m or 1h30m/);
  });

  it("reads booleans, priorities, ints, ports and lists strictly", function () {
    for (const t of ["true", "on", "yes", "1", true, 1]) assert.equal(P.parseOption("p", "notifications", t), true);
    for (const f of ["false", "off", "no", "0", false]) assert.equal(P.parseOption("p", "notifications", f), false);
    assert.throws(() => P.parseOption("p", "notifications", "maybe"), /option "notifications" must be true or false/);
    assert.equal(P.parseOption("p", "cpu-priority", "Idle"), "idle");
    assert.throws(() => P.parseOption("p", "io-priority", "realtime"), /must be one of idle, low, normal, high, not "realtime"/);
    assert.equal(P.parseOption("p", "verbose", "2"), 2);
    assert.throws(() => P.parseOption("p", "verbose", "4"), /must be a whole number from 0 to 3/);
    assert.equal(P.parseOption("p", "prune-logs-after", "14"), 14);
    assert.equal(P.parseOption("p", "ssh-port", "2222"), 2222);
    assert.throws(() => P.parseOption("p", "ssh-port", "70000"), /must be a port number/);
    assert.equal(P.parseOption("p", "bwlimit", "2M"), "2M");
    assert.throws(() => P.parseOption("p", "bwlimit", "2 M"), /rsync bandwidth limit/);
    // PRestic's README example: args = /home/user/folder1 /home/user/folder2 --iexclude="*.lock"
    assert.deepEqual(P.parseOption("p", "args", "/home/user/folder1\n/home/user/folder2\n--iexclude=\"*.lock\""),
      ["/home/user/folder1", "/home/user/folder2", "--iexclude=*.lock"]);
    assert.deepEqual(P.parseOption("p", "inherit", ["a", "b"]), ["a", "b"]);
    assert.throws(() => P.parseOption("p", "args", "'open"), /single quote is not closed/);
    assert.throws(() => P.parseOption("p", "frobnicate", "1"), /profile "p": unknown option "frobnicate"/);
    assert.throws(() => P.parseOption("p", "env.1BAD", "x"), /unknown option "env.1BAD"/);
  });

  it("never echoes a bad password value in an error", function () {
    assert.throws(() => P.parseOption("p", "password", { s: "hunter2" }), (err) => {
      assert.match(err.message, /option "password" must be text, not the given value/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  });
});

describe("profile: command words", function () {
  it("splits like a POSIX shell and keeps quoted metacharacters literal", function () {
    assert.deepEqual(P.splitWords(`pass show "backup/nas key" 'a;b|c'`, { strict: true }), ["pass", "show", "backup/nas key", "a;b|c"]);
    assert.deepEqual(P.splitWords(`cat /etc/pw\\ file`, { strict: true }), ["cat", "/etc/pw file"]);
    assert.deepEqual(P.splitWords(`echo "a\\"b"`, { strict: true }), ["echo", 'a"b']);
  });

  it("refuses shell syntax in commands with a clear sentence", function () {
    const cases = [
      ["cat pw; rm -rf /", ";"], ["cat pw | head -1", "|"], ["cat pw && true", "&"], ["echo $(id)", "$"],
      ["echo `id`", "`"], ["cat pw > /tmp/x", ">"], ["cat < pw", "<"], ["cat /etc/pass*", "*"],
      ['echo "$HOME"', "$"], ["cat ~/.pw", "~"], ["cat pw\nid", "\\n"],
    ];
    for (const [text, c] of cases) {
      assert.throws(() => P.parseOption("nas", "password-command", text), (err) => {
        assert.ok(err instanceof P.ProfileError, text);
        assert.match(err.message, /^profile "nas": option "password-command": /);
        assert.ok(err.message.includes(JSON.stringify(c)), `${text} → ${err.message}`);
        assert.match(err.message, /without a shell/);
        return true;
      });
    }
    assert.throws(() => P.parseOption("nas", "password-command", "   "), /is empty|must be a command/);
  });

  it("joins words so restic's own splitter gets them back", function () {
    assert.equal(P.joinForRestic(["cat", "/a b/c'd"]), `cat "/a b/c'd"`);
    assert.equal(P.joinForRestic(["echo", 'say "hi"']), `echo 'say "hi"'`);
    assert.throws(() => P.joinForRestic(["echo", `it's "x"`]), /cannot be passed to restic/);
  });

  it("shows an argument array as words that split back into exactly it (the editor's hook rows)", function () {
    const arrays = [
      ["systemctl", "stop", "postgresql"],
      ["sh", "-c", 'echo "$HIGHBALL_STATUS" > "$1"', "hook", "/tmp/status.txt"],
      ["touch", "/tmp/a b/it's here"],
      ["printf", "", "~/x", "#not a comment", "*.bak", "a\\b", "tab\there"],
      ["curl", "-fsS", "https://hc-ping.com/uuid?rid=1&x=$y"],
    ];
    for (const words of arrays) assert.deepEqual(P.splitWords(P.quoteWords(words), { strict: true }), words, P.quoteWords(words));
    assert.equal(P.quoteWords(["systemctl", "stop", "postgresql"]), "systemctl stop postgresql");
    assert.equal(P.quoteWords(["touch", "/tmp/a b"]), "touch '/tmp/a b'");
  });
});

describe("profile: INI as PRestic reads it", function () {
  it("parses comments, continuation lines, [DEFAULT], interpolation and PRestic's key case", function () {
    const ini = [
      "# PRestic config",
      "[DEFAULT]",
      "cache-dir = /var/cache/restic",
      "[base]",
      "Repository = /srv/repo",
      "env.AWS_Access_Key_ID: AKIA1",
      "description = 100%% of %(repository)s",
      "args =",
      "    /home/a",
      "",
      "    /home/b",
      "; a comment",
      "[child]",
      "inherit = base",
    ].join("\n");
    const sections = P.parseIni(ini);
    assert.deepEqual(sections.map((s) => s.name), ["base", "child"]);
    const base = sections[0].values;
    assert.equal(base.repository, "/srv/repo", "keys are lower-cased");
    assert.equal(base["env.AWS_Access_Key_ID"], "AKIA1", "env.* keys keep their case");
    assert.equal(base.description, "100% of /srv/repo");
    assert.equal(base.args, "\n/home/a\n\n/home/b");
    assert.equal(base["cache-dir"], "/var/cache/restic");
    assert.equal(sections[1].values["cache-dir"], "/var/cache/restic", "[DEFAULT] reaches every section");
  });

  it("reports malformed files with line numbers", function () {
    assert.throws(() => P.parseIni("[a]\nx = 1\nx = 2"), /line 3: option "x" appears twice in \[a\]/);
    assert.throws(() => P.parseIni("[a]\n[a]"), /line 2: section \[a\] appears twice/);
    assert.throws(() => P.parseIni("x = 1"), /line 1: .* before any \[section\]/);
    assert.throws(() => P.parseIni("[a]\njust words"), /line 2: expected "key = value"/);
    assert.throws(() => P.parseIni("[a]\np = 50%"), /"%" must be followed by "%" or "\(name\)s"/);
  });
});

describe("profile: inheritance (PRestic's order)", function () {
  // PRestic (ducalex/prestic, Profile.inherit): `if not self.is_defined(key) and profile.is_defined(key)`,
  // parents taken from inherit[0] onward, each applied only once fully resolved itself.
  const profiles = set({
    grand: { repository: "/srv/grand", "limit-upload": "1M", "env.B2_ACCOUNT_ID": "grand-id" },
    first: { inherit: "grand", "cpu-priority": "low", verbose: "1" },
    second: { repository: "/srv/second", "cpu-priority": "idle", "limit-upload": "9M", "io-priority": "idle", "env.B2_ACCOUNT_ID": "second-id" },
    child: { inherit: "first second", verbose: "3", "flag.json": "true" },
  });

  it("own keys win, then the FIRST listed parent (with its ancestors), then later parents", function () {
    const p = P.resolveProfile("child", profiles);
    assert.equal(p.options.verbose, 3, "own key");
    assert.equal(p.options["cpu-priority"], "low", "first parent beats the second");
    assert.equal(p.options.repository, "/srv/grand", "the first parent's grandparent beats the second parent");
    assert.equal(p.options["limit-upload"], 1024);
    assert.equal(p.options["io-priority"], "idle", "the second parent fills what nobody nearer set");
    assert.equal(p.env.B2_ACCOUNT_ID, "grand-id");
    assert.equal(p.flags.json, true);
    assert.deepEqual(p.chain, ["child", "first", "grand", "second"]);
    assert.equal(p.origin.repository, "grand");
    assert.equal(p.origin["io-priority"], "second");
    assert.deepEqual(p.options.inherit, ["first", "second"]);
  });

  it("treats PRestic's aliases as one key (flag.repo overrides an inherited repository)", function () {
    const p = P.resolveProfile("c", set({ b: { repository: "/srv/a", verbose: "1" }, c: { inherit: "b", "flag.repo": "/srv/c", "flag.verbose": "2" } }));
    assert.equal(p.options.repository, "/srv/c");
    assert.equal(p.options.verbose, 2);
    assert.throws(() => P.resolveProfile("x", set({ x: { repository: "/a", "flag.repo": "/b" } })), /option "repository" is set twice \(as "repository" and "flag.repo"\)/);
  });

  it("takes the password as one setting from the nearest profile that names one", function () {
    const defs = new Map([
      ["base", { options: { repository: "/r", "password-file": "/etc/restic.pw" } }],
      ["child", { options: { inherit: ["base"] }, password: "s3cret" }],
      ["other", { options: { inherit: ["base"], "password-command": "pass show restic" } }],
    ]);
    const c = P.resolveProfile("child", defs);
    assert.equal(c.options.password, "s3cret");
    assert.equal(c.options["password-file"], undefined);
    const o = P.resolveProfile("other", defs);
    assert.deepEqual(o.options["password-command"], ["pass", "show", "restic"]);
    assert.equal(o.options["password-file"], undefined);
    assert.equal(P.resolveProfile("base", defs).options["password-file"], "/etc/restic.pw");
  });

  it("names the whole chain of an inheritance cycle", function () {
    const defs = set({ a: { inherit: "b" }, b: { inherit: "c" }, c: { inherit: "a" } });
    assert.throws(() => P.resolveProfile("a", defs), (err) => {
      assert.ok(err instanceof P.ProfileError);
      assert.equal(err.message, 'profile "a" inherits "b" → "c" → "a": inheritance cycle');
      return true;
    });
    assert.throws(() => P.resolveProfile("s", set({ s: { inherit: "s" } })), /^ProfileError: profile "s" inherits "s": inheritance cycle$/);
    assert.throws(() => P.resolveProfile("x", set({ x: { inherit: "y" }, y: { inherit: "z" }, z: { inherit: "y" } })),
      /profile "x" inherits "y" → "z" → "y": inheritance cycle/);
  });

  it("names the chain to a missing parent; 'default' always exists as in PRestic", function () {
    assert.throws(() => P.resolveProfile("a", set({ a: { inherit: "b" }, b: { inherit: "ghost" } })),
      /^ProfileError: profile "a" inherits "b" → "ghost", but there is no profile "ghost"$/);
    assert.throws(() => P.resolveProfile("nope", set({})), /no profile named "nope"/);
    const p = P.resolveProfile("a", set({ a: { inherit: "default", repository: "/r" } }));
    assert.deepEqual(p.chain, ["a", "default"]);
  });

  it("names the profile and key of a bad inherited value", function () {
    assert.throws(() => P.resolveProfile("c", set({ b: { "limit-upload": "fast" }, c: { inherit: "b" } })),
      /profile "b": option "limit-upload" must be a size/);
  });

  it("describes the effective profile with every secret masked", function () {
    const defs = new Map([
      ["base", { options: { repository: "rest:https://backup:topsecret@nas.lan:8000/photos", "env.AWS_SECRET_ACCESS_KEY": "abcd1234", "env.AWS_DEFAULT_REGION": "eu-west-1", "wait-for-lock": "10m" } }],
      ["photos", { options: { inherit: ["base"] }, password: "hunter22" }],
    ]);
    const d = P.describeProfile(P.resolveProfile("photos", defs));
    const text = JSON.stringify(d);
    for (const secret of ["hunter22", "topsecret", "abcd1234"]) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    assert.equal(d.options.password, P.MASK);
    assert.equal(d.passwordSource, "password");
    assert.equal(d.options.repository, `rest:https://backup:${P.MASK}@nas.lan:8000/photos`);
    assert.equal(d.options["env.AWS_DEFAULT_REGION"], "eu-west-1");
    assert.equal(d.options["wait-for-lock"], "10m");
    assert.deepEqual(d.chain, ["photos", "base"]);
  });
});

describe("profile: its first problem, as the editor's red triangle and the runtime say it", function () {
  it("a repository needs a password from the profile or an ancestor; a base without a repository needs none", function () {
    const defs = new Map([
      ["base", { options: { "keep-daily": "7" } }],
      ["keyed", { options: { "password-file": "/etc/restic.pass" } }],
      ["nas", { options: { inherit: ["base"], repository: "/srv/restic" } }],
      ["usb", { options: { inherit: ["keyed"], repository: "/mnt/usb/restic" } }],
      ["typed", { options: { repository: "/srv/typed" }, password: "hunter22" }],
      ["ring", { options: { repository: "/srv/ring", "password-keyring": "restic-nas" } }],
    ]);
    assert.equal(P.profileProblem("base", defs), null);
    assert.equal(P.profileProblem("nas", defs), 'profile "nas" has no password (set a password, a password file or a password command)');
    assert.equal(P.profileProblem("usb", defs), null);
    assert.equal(P.profileProblem("typed", defs), null);
    assert.match(P.profileProblem("ring", defs), /OS keyring \("restic-nas"\), which Node-RED cannot read/);
  });

  it("a bad value, an unknown option, a missing parent and a cycle are the runtime's own sentences", function () {
    const one = (options, more = {}) => P.profileProblem("p", new Map([["p", { options, password: "x" }], ...Object.entries(more).map(([k, o]) => [k, { options: o }])]));
    assert.equal(one({ "keep-daily": "many" }), 'profile "p": option "keep-daily" must be a whole number from 0 to 100000, not "many"');
    assert.equal(one({ "keep-dayly": "7" }), 'profile "p": unknown option "keep-dayly"');
    assert.equal(one({ inherit: ["gone"] }), 'profile "p" inherits "gone", but there is no profile "gone"');
    assert.match(one({ inherit: ["q"] }, { q: { inherit: ["p"] } }), /inheritance cycle/);
    // The same sentence stops a run: the restic plan of a profile without a password.
    assert.throws(() => P.repositoryEnv(P.resolveProfile("nas", new Map([["nas", { options: { repository: "/srv/restic" } }]]))), { message: P.profileProblem("nas", new Map([["nas", { options: { repository: "/srv/restic" } }]])) });
  });
});

describe("profile: mapping to restic", function () {
  const profiles = new Map([
    ["base", { options: {
      repository: "/srv/restic", "password-file": "/etc/restic.pw", "cache-dir": "/var/cache/restic",
      "limit-upload": "2M", "limit-download": "500", verbose: "2", option: "sftp.connections=4 'b2.connections=8'",
      "cpu-priority": "idle", "io-priority": "low", "env.B2_ACCOUNT_ID": "id", "env.B2_ACCOUNT_KEY": "k3y-value",
      "flag.compression": "max", "flag.no-lock": "true", "flag.insecure-tls": "false", "flag.exclude-caches": "on",
      "key-hint": "abc123",
    } }],
    ["plain", { options: { inherit: ["base"] }, password: "pa55word" }],
    ["cmd", { options: { inherit: ["base"], "password-command": "pass show 'restic/nas key'", executable: "/opt/restic/bin/restic --insecure-tls" } }],
  ]);

  it("puts flags, -o options, cache, limits and verbosity in args; repository and password in env", function () {
    const plan = P.profileToRestic(P.resolveProfile("base", profiles), "snapshots", ["--latest", "1"]);
    assert.equal(plan.command, "restic");
    assert.deepEqual(plan.args, [
      "snapshots", "--compression=max", "--no-lock", "--exclude-caches",
      "-o", "sftp.connections=4", "-o", "b2.connections=8",
      "--cache-dir=/var/cache/restic", "--limit-upload=2048", "--limit-download=500", "--verbose=2",
      "--latest", "1",
    ]);
    assert.equal(plan.env.RESTIC_REPOSITORY, "/srv/restic");
    assert.equal(plan.env.RESTIC_PASSWORD_FILE, "/etc/restic.pw");
    assert.equal(plan.env.RESTIC_PASSWORD, "", "other password sources are blanked so the parent's env cannot add one");
    assert.equal(plan.env.RESTIC_PASSWORD_COMMAND, "");
    assert.equal(plan.env.RESTIC_KEY_HINT, "abc123");
    assert.equal(plan.env.B2_ACCOUNT_ID, "id");
    assert.equal(plan.cpuPriority, "idle");
    assert.equal(plan.ioPriority, "low");
    assert.ok(plan.secrets.includes("k3y-value"), "secret-looking env values are masked in logs");
    assert.ok(!plan.secrets.includes("id"));
  });

  it("passes a plain password only as RESTIC_PASSWORD and lists it as a secret", function () {
    const plan = P.profileToRestic(P.resolveProfile("plain", profiles), "check");
    assert.equal(plan.env.RESTIC_PASSWORD, "pa55word");
    assert.equal(plan.env.RESTIC_PASSWORD_FILE, "");
    assert.ok(plan.secrets.includes("pa55word"));
    assert.ok(![plan.command, ...plan.args].some((a) => a.includes("pa55word")));
  });

  it("passes a password command as RESTIC_PASSWORD_COMMAND in restic's own quoting, and executable words", function () {
    const plan = P.profileToRestic(P.resolveProfile("cmd", profiles), "stats");
    assert.equal(plan.env.RESTIC_PASSWORD_COMMAND, `pass show "restic/nas key"`);
    assert.equal(plan.command, "/opt/restic/bin/restic");
    assert.deepEqual(plan.args.slice(0, 2), ["--insecure-tls", "stats"]);
  });

  it("a REST server's password (credential or file) joins the URL only inside RESTIC_REPOSITORY; cacert becomes --cacert", function () {
    const rest = (options, restPassword) => P.resolveProfile("r", new Map([["r", { options: { repository: "rest:https://backup@nas.lan:8000/photos/", ...options }, password: "repo-pw", restPassword }]]));
    const plan = P.profileToRestic(rest({ cacert: "/etc/hb/ca.pem" }, "p@ss/w:rd%"), "snapshots");
    assert.equal(plan.env.RESTIC_REPOSITORY, `rest:https://backup:${encodeURIComponent("p@ss/w:rd%")}@nas.lan:8000/photos/`);
    assert.ok(plan.args.includes("--cacert=/etc/hb/ca.pem"));
    assert.ok(![plan.command, ...plan.args].some((a) => a.includes("p@ss") || a.includes(encodeURIComponent("p@ss/w:rd%"))), "never on the command line");
    assert.ok(plan.secrets.includes("p@ss/w:rd%") && plan.secrets.includes(encodeURIComponent("p@ss/w:rd%")), "masked in logs, raw and URL-encoded");
    assert.equal(P.describeProfile(rest({}, "p@ss/w:rd%")).options["rest-password"], "********");
    const file = path.join(u.tmpDir("restpw"), "pw");
    fs.writeFileSync(file, "from-file\n", { mode: 0o600 });
    assert.equal(P.profileToRestic(rest({ "rest-password-file": file }), "snapshots").env.RESTIC_REPOSITORY, "rest:https://backup:from-file@nas.lan:8000/photos/");
    assert.throws(() => P.profileToRestic(rest({ "rest-password-file": "/nonexistent/pw" }), "snapshots"), /the REST password file \/nonexistent\/pw cannot be read \(ENOENT\)/);
    assert.throws(() => P.profileToRestic(rest({ repository: "/srv/repo" }, "x"), "snapshots"), /a REST password is only for a rest: repository/);
    assert.throws(() => P.profileToRestic(rest({ repository: "rest:https://nas.lan:8000/photos/" }, "x"), "snapshots"), /put the REST server's user name in the repository URL/);
    assert.throws(() => P.profileToRestic(rest({ repository: "rest:https://backup:inline@nas.lan:8000/photos/" }, "x"), "snapshots"), /holds a password too; keep it only in the REST password field/);
    assert.equal(P.resolveProfile("c", new Map([["c", { options: { repository: "/r", "flag.cacert": "/ca.pem" }, password: "p" }]])).options.cacert, "/ca.pem", "flag.cacert is the cacert option");
  });

  it("refuses a profile without repository or password, and a keyring password", function () {
    assert.throws(() => P.profileToRestic(P.resolveProfile("x", set({ x: { "password-file": "/p" } })), "snapshots"), /profile "x" has no repository/);
    assert.throws(() => P.profileToRestic(P.resolveProfile("x", set({ x: { repository: "/r" } })), "snapshots"), /profile "x" has no password/);
    assert.throws(() => P.profileToRestic(P.resolveProfile("x", set({ x: { repository: "/r", "password-keyring": "nas" } })), "snapshots"), /OS keyring .* enter the password/);
    assert.throws(() => P.profileToRestic(P.resolveProfile("plain", profiles), "snap shots"), /not a restic command/);
    assert.throws(() => P.profileToRestic(P.resolveProfile("x", new Map([["x", { options: { repository: "/r", "flag.from-password-command": "echo pw" }, password: "p" }]])), "copy"),
      /flag.from-password-command is not allowed; use the password, password-file or password-command options/);
  });
});

describe("profile: each password source opens a real repository", function () {
  let repo;
  let pwDir;
  before(async function () {
    repo = await initResticRepo();
    pwDir = path.join(u.tmpDir("pw"), "dir with space");
    fs.mkdirSync(pwDir);
    fs.writeFileSync(path.join(pwDir, "pass'word"), `${repo.password}\n`, { mode: 0o600 });
  });
  after(() => u.stopAll());

  const run = async (options, password) => {
    const defs = new Map([["r", { options: { repository: repo.repository, "cache-dir": repo.cacheDir, ...options }, password }]]);
    const p = P.resolveProfile("r", defs);
    const plan = P.profileToRestic(p, "snapshots", ["--json"]);
    return { plan, p, r: await runPlan(plan, new ResticParser("snapshots")) };
  };

  it("plain password (the credential) through RESTIC_PASSWORD", async function () {
    const { plan, r } = await run({}, repo.password);
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(r.outcome.status, "success");
    assert.deepEqual(r.outcome.details.result, [], "a fresh repository has no snapshots");
    assert.ok(!plan.args.join(" ").includes(repo.password));
  });

  it("password-file", async function () {
    const { r } = await run({ "password-file": repo.passwordFile });
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(r.outcome.status, "success");
  });

  it("password-command as an argument array, quoting intact (a path with a space and a quote)", async function () {
    const file = path.join(pwDir, "pass'word");
    const { plan, p, r } = await run({ "password-command": `cat "${file}"` });
    assert.deepEqual(p.options["password-command"], ["cat", file]);
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.equal(r.outcome.status, "success");
    assert.equal(await P.resolvePassword(p), repo.password, "resolvePassword runs the same argv here");
    assert.ok(!plan.args.join(" ").includes(repo.password));
  });

  it("a wrong password and a failing password command are plain sentences", async function () {
    const wrong = await run({}, "not-the-password");
    const v = await R.detectResticVersion("restic");
    assert.equal(wrong.r.code, R.resticFeatures(v).exitCodeWrongPassword ? 12 : 1, "restic 0.17.1+ exit 12");
    assert.equal(wrong.r.outcome.status, "failed");
    assert.match(wrong.r.outcome.error, /^wrong repository password/);
    const failing = await run({ "password-command": "false" });
    assert.equal(failing.r.outcome.status, "failed");
    assert.match(failing.r.outcome.error, /the repository password could not be read: exit status 1/);
  });

  it("resolvePassword reads a file the way restic does and reports what is wrong", async function () {
    const p = P.resolveProfile("r", new Map([["r", { options: { repository: "/r", "password-file": repo.passwordFile } }]]));
    assert.equal(await P.resolvePassword(p), repo.password);
    const missing = P.resolveProfile("r", new Map([["r", { options: { repository: "/r", "password-file": "/nonexistent/pw" } }]]));
    await assert.rejects(P.resolvePassword(missing), /the password file \/nonexistent\/pw cannot be read \(ENOENT\)/);
    const plain = P.resolveProfile("r", new Map([["r", { options: { repository: "/r" }, password: "pw" }]]));
    assert.equal(await P.resolvePassword(plain), "pw");
  });
});
