"use strict";
// Round trips with the real tools: a PRestic config.ini and a Highball config.yaml, written the
// way their users write them, go through the import route; the flow that comes back is loaded
// with every node of the package and fired from its own schedule nodes. restic must make a
// snapshot of the real folders; rsync must copy them, locally and to a password-protected rsync
// daemon module. Imports never carry secrets, so the daemon's password (and the SMTP login)
// are entered afterwards as the nodes' credentials, as a user would.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const u = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { startRsyncd } = require("../fixtures/rsyncd");
const { startSmtp } = require("../fixtures/smtp");

const NODES = [
  "highball-profile-config", "highball-backup-job", "highball-schedule-trigger", "highball-conflict-gate",
  "highball-rsync-run", "highball-restic-run", "highball-notify",
].map((t) => require(`../../dist/nodes/${t}/${t}.js`));
const backupJob = NODES[1];

const byName = (flow, type, name) => {
  const n = flow.find((x) => x.type === type && x.name === name);
  assert.ok(n, `the import made no ${type} named "${name}"`);
  return n;
};

/** Through the route, as the editor does it: the flow, the warnings, and the whole answer's text. */
async function importVia(route, text) {
  await helper.load([backupJob], [{ id: "boot", type: "tab", label: "boot" }]);
  const res = await helper.request().post(`/highball/import/${route}`).set("Content-Type", "text/plain").send(text).expect(200);
  await helper.unload();
  return { flow: res.body.flow, warnings: res.body.warnings, text: res.text };
}

/** The imported flow, with a helper on each run node's result output and a catch node for errors. */
function observed(flow) {
  const f = JSON.parse(JSON.stringify(flow));
  const tab = f.find((n) => n.type === "tab");
  const results = {};
  for (const run of f.filter((n) => n.type === "highball-rsync-run" || n.type === "highball-restic-run")) {
    const id = `result-${run.id}`;
    run.wires[0].push(id);
    f.push({ id, z: tab.id, type: "helper" });
    results[run.name] = id;
  }
  f.push({ id: "catcher", z: tab.id, type: "catch", scope: null, uncaught: false, wires: [["caught"]] }, { id: "caught", z: tab.id, type: "helper" });
  return { flow: f, results };
}

/** Fires a schedule node now (a message without an action) and resolves with its run's result. */
function fire(scheduleId, resultId, timeout = 120000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no result within ${timeout} ms`)), timeout);
    helper.getNode(resultId).once("input", (msg) => { clearTimeout(t); resolve(msg); });
    helper.getNode(scheduleId).receive({});
  });
}

describe(`import round trips with restic and rsync (Node-RED ${helper.major})`, function () {
  this.timeout(180000);
  let home;

  beforeEach(function () {
    home = u.tmpDir("home");
    helper.settings({ highball: { dir: home } });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });
  after(() => u.stopAll());

  it("PRestic: a config.ini with inheritance, a password file and two tasks backs up and checks a real repository", async function () {
    const repo = await initResticRepo();
    const data = u.tmpDir("prestic-data");
    const docs = path.join(data, "documents");
    const photos = path.join(data, "My Photos");
    const a = u.makeTree(docs, { files: 12, size: 3000, subdirs: 2, seed: 3 });
    const b = u.makeTree(photos, { files: 8, size: 5000, subdirs: 1, seed: 4 });
    fs.writeFileSync(path.join(docs, "draft.TMP"), "left out by --iexclude\n");
    const ini = [
      "# ~/.prestic/config.ini",
      "[base]",
      "description = Settings shared by every repository",
      `cache-dir = ${repo.cacheDir}`,
      "cpu-priority = low",
      "io-priority = idle",
      "wait-for-lock = 1m",
      "prune-logs-after = 14",
      "log-level = debug",
      "",
      "[local]",
      "description = The repository on the USB disk",
      "inherit = base",
      `repository = ${repo.repository}`,
      `password-file = ${repo.passwordFile}`,
      "",
      "[offsite]",
      "description = Backblaze B2 (not used by this test)",
      "inherit = base",
      "repository = b2:family-backups:restic",
      "password = correct horse battery staple",
      "env.B2_ACCOUNT_ID = 0012ab34cd56",
      "env.B2_ACCOUNT_KEY = K001xyzSecretKeyValue",
      "",
      "[documents]",
      "description = Documents and photos every night",
      "inherit = local",
      "schedule = daily at 02:00",
      "command = backup",
      "args =",
      `    ${docs}`,
      `    "${photos}"`,
      "    --exclude-caches",
      "    --iexclude=*.tmp",
      "flag.tag = imported",
      "",
      "[check]",
      "inherit = local",
      "schedule = monthly at 03:00",
      "command = check",
      "args = --read-data-subset=10%%",
      "",
    ].join("\n");
    const { flow, warnings, text } = await importVia("prestic", ini);
    for (const s of ["correct horse battery staple", "K001xyzSecretKeyValue", fs.readFileSync(repo.passwordFile, "utf8")]) assert.ok(!text.includes(s), "a secret is in the answer");
    assert.ok(warnings.includes(`unknown key "log-level" in profile "base" was not imported`), warnings.join("\n"));
    assert.ok(warnings.some((w) => w.startsWith(`profile "offsite" has a plain password; it was not imported`)));
    assert.deepEqual(flow.filter((n) => n.type === "highball-backup-job").map((n) => n.name).sort(), ["check", "documents"]);

    const { flow: f, results } = observed(flow);
    await helper.load(NODES, f);
    const backup = await fire(byName(f, "highball-schedule-trigger", "documents").id, results.documents);
    assert.equal(backup.payload.status, "success", backup.payload.error);
    assert.equal(backup.payload.command, "backup");
    assert.equal(backup.payload.filesTotal, a.files + b.files, "every file but the excluded one");
    assert.match(backup.payload.snapshotId, /^[0-9a-f]{8,64}$/);
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
    assert.equal(snaps.length, 1);
    assert.ok(snaps[0].id.startsWith(backup.payload.snapshotId));
    assert.deepEqual(snaps[0].tags, ["imported"]);
    assert.deepEqual([...snaps[0].paths].sort(), [docs, photos].sort());
    const listed = (await restic(repo, ["ls", "--json", snaps[0].id])).stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === "file");
    assert.equal(listed.length, a.files + b.files);
    assert.ok(!listed.some((e) => e.name === "draft.TMP"));

    const check = await fire(byName(f, "highball-schedule-trigger", "check").id, results.check);
    assert.equal(check.payload.status, "success", check.payload.error);
    assert.equal(check.payload.command, "check");
    const log = fs.readFileSync(path.join(home, "logs", check.run.logFile), "utf8");
    assert.match(log, /--read-data-subset=10%/);
  });

  it("Highball: a config.yaml with a local→local job and an rsync daemon job copies the files; the daemon's password comes from the job's credential", async function () {
    const [rsyncd, smtp] = await Promise.all([startRsyncd(), startSmtp({ auth: true, users: { "backup@example.test": "smtp-secret-value" } })]);
    try {
      const data = u.tmpDir("highball-data");
      const docs = path.join(data, "docs");
      const music = path.join(data, "music");
      const scans = path.join(data, "scans");
      const dest = path.join(data, "usb", "backups");
      u.makeTree(docs, { files: 10, size: 2048, subdirs: 2, seed: 5 });
      u.makeTree(music, { files: 6, size: 4096, subdirs: 1, seed: 6 });
      u.makeTree(scans, { files: 9, size: 1500, subdirs: 2, seed: 7 });
      fs.writeFileSync(path.join(docs, "notes.tmp"), "excluded\n");
      fs.mkdirSync(path.join(docs, "cache"));
      fs.writeFileSync(path.join(docs, "cache", "thumb.db"), "excluded\n");
      const yaml = `# Highball config/config.yaml
global_settings:
  scheduler_timezone: Europe/Berlin
  theme: gruvbox
  default_schedule_times:
    daily: "30 2 * * *"
  enable_conflict_avoidance: true
  delay_notification_threshold: 600
  rsync_timeout_seconds: 600
  notification:
    email:
      enabled: true
      smtp_server: ${smtp.host}
      smtp_port: ${smtp.port}
      use_tls: false
      use_ssl: false
      from_email: backup@example.test
      to_email: ops@example.test
      username: backup@example.test
      password: "smtp-secret-value"
      queue_enabled: false

backup_jobs:
  documents:
    source_type: local
    source_config:
      source_paths:
        - path: ${docs}
          includes: []
          excludes: ["*.tmp", "cache/"]
        - path: ${music}
          includes: []
          excludes: []
    dest_type: local
    dest_config:
      path: ${dest}
    schedule: daily
    enabled: true
    respect_conflicts: true
    notifications:
      - provider: email
        notify_on_success: false
        notify_on_failure: true

  scans-to-nas:
    source_type: local
    source_config:
      source_paths:
        - path: ${scans}/
    dest_type: rsyncd
    dest_config:
      hostname: ${rsyncd.host}
      port: ${rsyncd.port}
      share: ${rsyncd.modules.secure.name}
      username: ${rsyncd.modules.secure.user}
    schedule: "0 */6 * * *"
    enabled: true
    respect_conflicts: true
    colour: teal
    notifications:
      - provider: email
        notify_on_failure: true
`;
      const { flow, warnings, text } = await importVia("highball", yaml);
      assert.ok(!text.includes("smtp-secret-value"), "the SMTP password is in the answer");
      assert.ok(warnings.includes(`unknown key "colour" in job "scans-to-nas" was not imported`), warnings.join("\n"));
      assert.ok(warnings.includes("the SMTP user and password were not imported; enter them in the notify node (credentials, never in the flow)"));
      const job = byName(flow, "highball-backup-job", "scans-to-nas");
      assert.deepEqual(job.destination, { type: "rsyncd", host: rsyncd.host, port: rsyncd.port, module: "secure", user: "backupuser" });
      const notify = flow.find((n) => n.type === "highball-notify");
      assert.equal(notify.smtpSecurity, "none");

      const { flow: f, results } = observed(flow);
      const smtpLogin = { [notify.id]: { user: "backup@example.test", password: "smtp-secret-value" } };

      // As imported, the daemon job has no password: it fails on the daemon's auth, and says so by email.
      await helper.load(NODES, f, smtpLogin);
      const denied = await fire(byName(f, "highball-schedule-trigger", "scans-to-nas").id, results["scans-to-nas"]);
      assert.equal(denied.payload.status, "failed");
      assert.match(denied.payload.error, /auth/i);
      const [mail] = await smtp.waitForMessages(1, 20000);
      assert.deepEqual(mail.to, ["ops@example.test"]);
      assert.equal(mail.user, "backup@example.test");
      assert.match(mail.subject + mail.text, /scans-to-nas/);
      await helper.unload();

      // The user enters the module's password as the job's credential and runs again.
      await helper.load(NODES, f, { ...smtpLogin, [job.id]: { rsyncdPassword: rsyncd.modules.secure.password } });
      const local = await fire(byName(f, "highball-schedule-trigger", "documents").id, results.documents);
      assert.equal(local.payload.status, "success", local.payload.error);
      const daemon = await fire(byName(f, "highball-schedule-trigger", "scans-to-nas").id, results["scans-to-nas"]);
      assert.equal(daemon.payload.status, "success", daemon.payload.error);

      // Several source paths each land in a folder of their name; the excludes held.
      const want = (dir, drop = []) => u.readTree(dir).filter((e) => !drop.some((d) => e.path === d || e.path.startsWith(`${d}/`)));
      assert.deepEqual(u.readTree(path.join(dest, "docs")), want(docs, ["notes.tmp", "cache"]));
      assert.deepEqual(u.readTree(path.join(dest, "music")), want(music));
      assert.deepEqual(u.readTree(rsyncd.modules.secure.path), want(scans));
      const log = fs.readFileSync(path.join(home, "logs", daemon.run.logFile), "utf8");
      assert.ok(!log.includes(rsyncd.modules.secure.password), "the daemon password is in the run's log");
      assert.equal(smtp.messages.length, 1, "no mail for successful runs");
    } finally {
      await smtp.stop();
      await rsyncd.stop();
    }
  });
});
