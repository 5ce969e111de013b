"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawn } = require("node:child_process");
const u = require("../fixtures/util");
const { initResticRepo, restic } = require("../fixtures/restic");
const { importPrestic, importHighball, TYPES } = require("../../dist/lib/migrate");
const P = require("../../dist/lib/profile");
const R = require("../../dist/lib/engines/restic");
const { jobProblems } = require("../../dist/lib/job/validate");

const DATA = path.join(__dirname, "..", "data");
const presticIni = fs.readFileSync(path.join(DATA, "prestic-config.ini"), "utf8");
const highballYaml = fs.readFileSync(path.join(DATA, "highball-config.yaml"), "utf8");

const byType = (nodes, type) => nodes.filter((n) => n.type === type);
const named = (nodes, type, name) => {
  const n = nodes.find((x) => x.type === type && x.name === name);
  assert.ok(n, `no ${type} named ${name}`);
  return n;
};
const wiredTo = (nodes, from, output = 0) => from.wires[output].map((id) => nodes.find((n) => n.id === id));
/** A backup-job node's properties as the descriptor it sends (SPEC: same fields). */
const descriptor = (n) => {
  const { id, type, z, x, y, wires, ...job } = n;
  return job;
};

function runPlan(plan, parser) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("RESTIC_")) delete env[k];
    const child = spawn(plan.command, plan.args, { env: { ...env, ...plan.env }, stdio: ["pipe", "pipe", "pipe"] });
    if (child.pid) u.track(child, "restic");
    for (const s of ["stdout", "stderr"]) {
      let rest = "";
      child[s].setEncoding("utf8").on("data", (d) => {
        const parts = (rest + d).split(/\r?\n/);
        rest = parts.pop();
        for (const l of parts) parser[s](l);
      });
      child[s].on("end", () => { if (rest) parser[s](rest); });
    }
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(parser.finish(code, signal)));
    child.stdin.end(plan.stdin ?? "");
  });
}

describe("migrate: PRestic config.ini", function () {
  const { nodes, warnings } = importPrestic(presticIni);

  it("makes one profile-config node per profile, under PRestic's own keys, lists as arrays", function () {
    const profiles = byType(nodes, TYPES.profile);
    assert.deepEqual(profiles.map((p) => p.name), ["default", "base", "nas", "b2", "laptop", "nas-photos", "offsite-docs", "nas-forget", "nas-check"]);
    const nas = named(nodes, TYPES.profile, "nas");
    assert.deepEqual(nas.options, {
      description: "Synology NAS over sftp", inherit: ["base"], repository: "sftp:backup@nas.lan:/volume1/restic",
      "password-file": "/etc/prestic/nas.pw", option: ["sftp.connections=4"], "ssh-identity": "/etc/prestic/id_ed25519", "ssh-port": "22", "stale-lock-age": "2h",
    });
    assert.deepEqual(named(nodes, TYPES.profile, "nas-photos").options.args, ["/srv/photos", "/home/anna/Pictures", "--exclude-caches", "--iexclude=*.tmp"]);
    assert.deepEqual(named(nodes, TYPES.profile, "offsite-docs").options.inherit, ["b2", "nas"]);
    assert.deepEqual(named(nodes, TYPES.profile, "nas-check").options.args, ["--read-data-subset=10%"], "%% is ConfigParser's escaped percent");
    assert.ok(profiles.every((p) => p.wires === undefined && p.z === undefined), "config nodes sit outside tabs");
    assert.equal(new Set(nodes.map((n) => n.id)).size, nodes.length, "ids are unique");
    assert.deepEqual(importPrestic(presticIni).nodes.map((n) => n.id), nodes.map((n) => n.id), "ids are stable across imports");
  });

  it("never puts a secret in the flow, and says what the user must enter", function () {
    const text = JSON.stringify(nodes);
    for (const secret of ["correct horse battery staple", "K001xyzSecretKeyValue"]) assert.ok(!text.includes(secret), `${secret} is in the flow`);
    assert.ok(warnings.includes(`profile "b2" has a plain password; it was not imported: enter it as the profile's password in Node-RED (kept as a credential, never in the flow)`));
    assert.ok(warnings.some((w) => /^env\.B2_ACCOUNT_KEY in profile "b2" looks like a secret and was not imported/.test(w)));
    assert.ok(warnings.some((w) => /^profile "laptop" takes its password from PRestic's OS keyring \("anna-usb"\)/.test(w)));
    assert.equal(named(nodes, TYPES.profile, "b2").options["env.B2_ACCOUNT_ID"], "0012ab34cd56", "identifiers stay");
  });

  it("leaves out a REST server's password under any of its spellings (it is a credential)", function () {
    const ini = [
      "[rest-a]", "flag.repo = rest:https://anna@backup.lan:8000/a", "env.RESTIC_REST_PASSWORD = rest-secret-one-1234", "password-file = /etc/a.pw",
      "[rest-b]", "repository = rest:https://anna@backup.lan:8000/b", "rest-password = rest-secret-two-5678", "password-file = /etc/b.pw",
      "[rest-c]", "repository = rest:https://anna:rest-secret-three-9@backup.lan:8000/c", "password-file = /etc/c.pw",
    ].join("\n");
    const r = importPrestic(ini);
    const text = JSON.stringify(r.nodes);
    for (const secret of ["rest-secret-one-1234", "rest-secret-two-5678", "rest-secret-three-9"]) assert.ok(!text.includes(secret), `${secret} is in the flow`);
    assert.ok(r.warnings.includes(`env.RESTIC_REST_PASSWORD in profile "rest-a" is a secret and was not imported (secrets never go into the flow): enter it in the profile's REST password field (kept as a credential)`), r.warnings.join("\n"));
    assert.ok(r.warnings.some((w) => w.startsWith(`rest-password in profile "rest-b" is a secret and was not imported`)));
    assert.ok(r.warnings.some((w) => w.startsWith(`the repository URL of profile "rest-c" held a password; it was imported without it`)));
    assert.equal(named(r.nodes, TYPES.profile, "rest-c").options.repository, "rest:https://anna@backup.lan:8000/c");
  });

  it("reports unknown keys instead of dropping them silently", function () {
    assert.ok(warnings.includes(`unknown key "log-level" in profile "base" was not imported`));
    assert.ok(warnings.includes(`unknown key "global-flags" in profile "b2" was not imported`));
    assert.equal(named(nodes, TYPES.profile, "base").options["log-level"], undefined);
  });

  it("turns each task (command + repository after inheritance) into schedule → backup job → restic", function () {
    const jobs = byType(nodes, TYPES.job);
    assert.deepEqual(jobs.map((j) => j.name).sort(), ["default", "nas-check", "nas-forget", "nas-photos", "offsite-docs"]);
    const photos = named(nodes, TYPES.job, "nas-photos");
    assert.equal(photos.engine, "restic");
    assert.equal(photos.profile, named(nodes, TYPES.profile, "nas-photos").id, "the profile by its config node's id, as the editor's picker stores it");
    assert.deepEqual(photos.restic, { command: "backup", args: ["/srv/photos", "/home/anna/Pictures", "--exclude-caches", "--iexclude=*.tmp"], tags: [] });
    const forget = named(nodes, TYPES.job, "nas-forget");
    assert.deepEqual(forget.restic, { command: "forget", args: ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12", "--prune"], tags: [] });
    for (const j of jobs) {
      assert.deepEqual(jobProblems(descriptor(j)), [], j.name);
      const [run] = wiredTo(nodes, j);
      assert.equal(run.type, TYPES.restic);
      const trigger = nodes.find((n) => n.type === TYPES.schedule && n.wires[0].includes(j.id));
      assert.ok(trigger, `${j.name} has a schedule`);
      assert.equal(trigger.z, j.z);
    }
    assert.equal(named(nodes, TYPES.schedule, "offsite-docs").schedule, "mon,thu at 21:30");
    assert.equal(named(nodes, TYPES.schedule, "nas-check").schedule, "monthly at 03:00");
    assert.ok(!nodes.some((n) => n.type === TYPES.job && ["base", "nas", "b2", "laptop"].includes(n.name)), "profiles without a command are no tasks");
    assert.ok(warnings.some((w) => /^task "nas-photos" repeats task "default"/.test(w)), "[default] inherits the nightly task, so PRestic ran it twice");
  });

  it("round trip: the imported profiles resolve to what the INI meant (plus the credential)", function () {
    const fromNodes = new Map(byType(nodes, TYPES.profile).map((p) => [p.name, { options: p.options, password: p.name === "b2" ? "correct horse battery staple" : undefined }]));
    const fromIni = P.profilesFromIni(presticIni);
    for (const def of fromIni.values()) for (const k of ["log-level", "global-flags"]) delete def.options[k];
    for (const name of ["nas-photos", "offsite-docs", "nas-forget", "nas-check"]) {
      const a = P.resolveProfile(name, fromNodes);
      const b = P.resolveProfile(name, fromIni);
      delete b.env.B2_ACCOUNT_KEY; delete b.origin["env.B2_ACCOUNT_KEY"];
      assert.deepEqual(a, b, name);
    }
    const docs = P.resolveProfile("offsite-docs", fromNodes);
    assert.equal(docs.options.repository, "b2:family-backups:restic", "first parent wins");
    assert.equal(docs.options["limit-upload"], 800);
    assert.equal(docs.options["ssh-identity"], "/etc/prestic/id_ed25519", "the second parent fills the rest");
    assert.equal(docs.options.password, "correct horse battery staple");
    const plan = R.resticPlan(descriptor(named(nodes, TYPES.job, "offsite-docs")), docs, { version: "0.14.0", major: 0, minor: 14, patch: 0 });
    assert.deepEqual(plan.args.slice(-2), ["/srv/documents", "/home/anna/My Documents"]);
    assert.equal(plan.env.RESTIC_PASSWORD, "correct horse battery staple");
    assert.equal(plan.cpuPriority, "idle");
  });

  it("an imported task runs a real backup", async function () {
    const repo = await initResticRepo();
    const src = u.tmpDir("prestic-src");
    const tree = u.makeTree(src, { files: 4, size: 1000, subdirs: 1, seed: 9 });
    const ini = `[repo]\nrepository = ${repo.repository}\npassword-file = ${repo.passwordFile}\ncache-dir = ${repo.cacheDir}\n\n[task]\ninherit = repo\nschedule = hourly\ncommand = backup\nargs = ${src} --tag imported\n`;
    const imported = importPrestic(ini);
    assert.deepEqual(imported.warnings, []);
    const defs = new Map(byType(imported.nodes, TYPES.profile).map((p) => [p.name, { options: p.options }]));
    const jobNode = named(imported.nodes, TYPES.job, "task");
    const profileName = imported.nodes.find((n) => n.id === jobNode.profile).name;
    const step = R.resticStep(descriptor(jobNode), P.resolveProfile(profileName, defs), await R.detectResticVersion());
    const outcome = await runPlan(step.plan, step.parser);
    assert.equal(outcome.status, "success", outcome.error);
    assert.equal(outcome.stats.filesTotal, tree.files);
    const snaps = JSON.parse((await restic(repo, ["snapshots", "--json"])).stdout);
    assert.deepEqual(snaps.map((s) => s.tags), [["imported"]]);
    await u.stopAll();
  });

  it("refuses a malformed file with its line number", function () {
    assert.throws(() => importPrestic("[a]\nrepository = /r\nrepository = /s\n"), /line 3: option "repository" appears twice in \[a\]/);
  });
});

describe("migrate: Highball config.yaml", function () {
  const { nodes, warnings, deletedJobs } = importHighball(highballYaml);

  it("makes a backup job per job, with the descriptor's fields", function () {
    const jobs = byType(nodes, TYPES.job);
    assert.deepEqual(jobs.map((j) => j.name), ["photos", "docs", "homeassistant", "homeassistant discard", "homeassistant check", "music", "legacy-media"]);
    for (const j of jobs) assert.deepEqual(jobProblems(descriptor(j)), [], j.name);
    const photos = named(nodes, TYPES.job, "photos");
    assert.equal(photos.engine, "rsync");
    assert.deepEqual(photos.source, {
      type: "ssh", host: "yeti", user: "root", acceptNewHostKey: true,
      paths: [{ path: "/mnt/data/photos", exclude: ["*.tmp", ".thumbnails/"] }, { path: "/mnt/data/videos", include: ["*/", "*.mp4"], exclude: ["*"] }],
    });
    assert.deepEqual(photos.destination, { type: "rsyncd", host: "nuc", module: "photos" });
    assert.deepEqual(photos.rsync, { delete: true, checksum: false, compress: false, bwlimit: "", exclude: [], args: ["--delete-excluded"] }, "Highball's default rsync options");
    assert.equal(photos.timeoutSeconds, 7200);
    const docs = named(nodes, TYPES.job, "docs");
    assert.deepEqual(docs.destination, { type: "ssh", host: "backup.lan", user: "backup", path: "/backups/docs", acceptNewHostKey: true });
    assert.deepEqual(docs.rsync, { delete: true, checksum: false, compress: true, bwlimit: "5M", exclude: [], args: ["--numeric-ids"] });
    const music = named(nodes, TYPES.job, "music");
    assert.equal(music.enabled, false);
    assert.deepEqual(music.source, { type: "local", paths: [{ path: "/srv/music/", exclude: ["*.part"] }] });
    assert.deepEqual(music.destination, { type: "local", path: "/mnt/usb/music" });
    const legacy = named(nodes, TYPES.job, "legacy-media");
    assert.deepEqual(legacy.source, { type: "ssh", host: "yeti", user: "root", acceptNewHostKey: true, paths: [{ path: "/var/lib/docker/volumes/", include: ["haugene**", "sonarr**"], exclude: ["*"] }] });
    assert.deepEqual(legacy.destination, { type: "rsyncd", host: "192.168.1.252", module: "legacy-media" }, "first releases: dest_host::<job>");
  });

  it("a restic destination becomes a profile (no secrets) and Highball's maintenance forget and check jobs", function () {
    const profile = named(nodes, TYPES.profile, "homeassistant");
    assert.deepEqual(profile.options, { repository: "rest:http://restic@nuc:8000/ha" });
    const ha = named(nodes, TYPES.job, "homeassistant");
    assert.equal(ha.engine, "restic");
    assert.equal(ha.profile, profile.id);
    assert.deepEqual(ha.source.paths, [{ path: "/config", exclude: ["*.db-wal", "tts/"] }]);
    assert.equal(wiredTo(nodes, wiredTo(nodes, ha)[0])[0].type, TYPES.restic);
    const discard = named(nodes, TYPES.job, "homeassistant discard");
    assert.deepEqual(discard.restic, { command: "forget", args: ["--prune", "--keep-last=7", "--keep-hourly=6", "--keep-daily=14", "--keep-weekly=8", "--keep-monthly=6"], tags: [] });
    assert.equal(named(nodes, TYPES.schedule, "homeassistant discard").schedule, "0 3 * * *");
    assert.deepEqual(named(nodes, TYPES.job, "homeassistant check").restic.args, ["--read-data-subset=5%"]);
    assert.equal(named(nodes, TYPES.schedule, "homeassistant check").schedule, "0 2 * * 0");
  });

  it("schedules: presets keep their configured times and the timezone; cron stays cron; manual has none", function () {
    const photos = named(nodes, TYPES.schedule, "photos");
    assert.equal(photos.schedule, "daily");
    assert.equal(photos.dailyTime, "02:30");
    assert.equal(photos.timezone, "Europe/Berlin");
    assert.deepEqual([named(nodes, TYPES.schedule, "homeassistant").weeklyDay, named(nodes, TYPES.schedule, "homeassistant").weeklyTime], ["sat", "04:00"]);
    assert.deepEqual([named(nodes, TYPES.schedule, "music").monthlyDay, named(nodes, TYPES.schedule, "music").monthlyTime], [1, "05:00"]);
    assert.equal(named(nodes, TYPES.schedule, "docs").schedule, "0 */6 * * *");
    assert.ok(!nodes.some((n) => n.type === TYPES.schedule && n.name === "legacy-media"));
    assert.ok(warnings.some((w) => w.startsWith(`the schedule "sometimes" of job "legacy-media" is not one Highball runs`)));
  });

  it("wiring: schedule → job → conflict gate → rsync → notify; respect_conflicts: false skips the gate", function () {
    const trigger = named(nodes, TYPES.schedule, "photos");
    const [job] = wiredTo(nodes, trigger);
    assert.equal(job.name, "photos");
    const [gate] = wiredTo(nodes, job);
    assert.equal(gate.type, TYPES.gate);
    assert.equal(gate.delay, 10, "Highball's 600 s delay threshold, in the gate's minutes");
    const [run] = wiredTo(nodes, gate);
    assert.equal(run.type, TYPES.rsync);
    const [notify] = wiredTo(nodes, run);
    assert.equal(notify.type, TYPES.notify);
    assert.deepEqual(wiredTo(nodes, gate, 1), [notify], "the gate's delay notices go to notify");
    assert.deepEqual(wiredTo(nodes, gate, 2), [notify], "and so do its give-ups");
    const docsJob = named(nodes, TYPES.job, "docs");
    assert.equal(wiredTo(nodes, docsJob)[0].type, TYPES.rsync);
    for (const n of nodes.filter((x) => x.wires)) for (const out of n.wires) for (const id of out) assert.ok(nodes.some((m) => m.id === id), `dangling wire from ${n.name}`);
  });

  it("notify nodes follow each job's providers, with the global settings and no credentials", function () {
    const photosNotify = wiredTo(nodes, named(nodes, TYPES.rsync, "photos"))[0];
    assert.equal(photosNotify.chatId, "-1001234567890");
    assert.equal(photosNotify.smtpHost, undefined);
    assert.equal(photosNotify.onSuccess, false);
    assert.equal(photosNotify.windowSeconds, 300, "Highball's queue interval as the batching window");
    const docsNotify = wiredTo(nodes, named(nodes, TYPES.rsync, "docs"))[0];
    assert.deepEqual([docsNotify.smtpHost, docsNotify.smtpPort, docsNotify.smtpSecurity, docsNotify.smtpFrom, docsNotify.smtpTo], ["smtp.example.org", 465, "tls", "backup@example.org", "admin@example.org"]);
    assert.equal(docsNotify.onSuccess, true);
    assert.equal(docsNotify.chatId, undefined);
    assert.equal(byType(nodes, TYPES.notify).length, 3, "telegram, email (+success), and both for jobs without a list");
    const text = JSON.stringify(nodes);
    for (const secret of ["AAFakeTelegramTokenValue", "smtp-pass-value", "ha-repo-password", "rest-pass-value"]) assert.ok(!text.includes(secret), `${secret} is in the flow`);
    assert.ok(warnings.includes("the Telegram bot token was not imported; enter it in the notify node (a credential, never in the flow)"));
    assert.ok(warnings.includes("the SMTP user and password were not imported; enter them in the notify node (credentials, never in the flow)"));
    assert.ok(warnings.some((w) => w.startsWith(`job "homeassistant": the restic repository password was not imported`)));
    assert.ok(warnings.some((w) => w.startsWith(`the REST repository URL of job "homeassistant" held a password`)));
  });

  it("reports unknown keys and everything else left behind", function () {
    for (const w of [
      `unknown key "frequency" in job "music" was not imported`,
      `job "docs": rsync argument --rsh=ssh is not allowed (it is either unknown or one the product sets itself); it was not imported`,
      "global_settings.rsync_path was not imported: rsync is found on the PATH of Node-RED and of each source host",
      "the last-run status of 1 job(s) (backup_logs) was not imported; history starts with the first run here",
      "1 deleted job(s) (retro) were kept as restorable jobs, not placed in the flow",
    ]) assert.ok(warnings.includes(w), `missing warning: ${w}\n${warnings.join("\n")}`);
    assert.ok(warnings.some((w) => w.startsWith(`job "docs": its custom email message was not imported`)));
    assert.ok(warnings.some((w) => /^Highball did not check SSH host keys/.test(w)));
    const extra = importHighball("global_settings:\n  colour: red\nbackup_jobs: {}\nsomething_else: 1\n").warnings;
    assert.deepEqual(extra, [`unknown key "something_else" in the Highball config was not imported`, `unknown key "colour" in global_settings was not imported`]);
  });

  it("keeps deleted jobs as restorable descriptors", function () {
    assert.equal(deletedJobs.length, 1);
    assert.equal(deletedJobs[0].deletedAt, "2025-08-10T02:17:02.611241");
    assert.deepEqual(deletedJobs[0].job, {
      name: "retro", engine: "rsync", enabled: true, resources: [], timeoutSeconds: 7200,
      source: { type: "ssh", host: "yeti", user: "root", acceptNewHostKey: true, paths: [{ path: "/mnt/data/archive/retro" }] },
      destination: { type: "rsyncd", host: "nuc", module: "retro" },
      rsync: { delete: true, checksum: false, compress: false, bwlimit: "", exclude: [], args: ["--delete-excluded"] },
    });
    assert.deepEqual(jobProblems(deletedJobs[0].job), []);
  });

  it("refuses text that is not a Highball config", function () {
    assert.throws(() => importHighball("backup_jobs: [unclosed"), /the Highball config is not valid YAML/);
    assert.throws(() => importHighball("- a\n- b\n"), /must be a YAML mapping/);
    assert.deepEqual(importHighball("").nodes.map((n) => n.type), ["tab"]);
  });
});
