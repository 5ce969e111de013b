"use strict";
// The import routes through Node-RED's admin app: PRestic's config.ini and Highball's
// config.yaml in (as text or as JSON), a flow and warnings out, plain 4xx sentences with line
// numbers for what cannot be read, and never a password or a token in the answer.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const http = require("node:http");
const express = require("express");
const helper = require("../support/red");
const { backupJob } = require("../support/flow");
const u = require("../fixtures/util");
const { mountImportRoutes, IMPORT_MAX_BYTES } = require("../../dist/lib/http/import-routes");
const { mountAdminRoutes } = require("../../dist/lib/http/routes");

const DATA = path.join(__dirname, "..", "data");
const presticIni = fs.readFileSync(path.join(DATA, "prestic-config.ini"), "utf8");
const highballYaml = fs.readFileSync(path.join(DATA, "highball-config.yaml"), "utf8");
/** Every secret of the two sample files. */
const SECRETS = ["correct horse battery staple", "K001xyzSecretKeyValue", "AAFakeTelegramTokenValue", "smtp-pass-value", "ha-repo-password", "rest-pass-value"];

const post = (route, body, type = "text/plain") => {
  const r = helper.request().post(`/highball/import/${route}`);
  return typeof body === "string" ? r.set("Content-Type", type).send(body) : r.send(body);
};
const noSecrets = (res) => {
  for (const s of SECRETS) assert.ok(!res.text.includes(s), `${s} is in the answer`);
  assert.ok(!/\n\s+at /.test(res.text), "no stack trace");
};

describe(`import routes (Node-RED ${helper.major})`, function () {
  this.timeout(30000);
  let home;

  before(function () { home = u.tmpDir("home"); });
  beforeEach(async function () {
    helper.settings({ highball: { dir: home } });
    // Any of the package's nodes mounts the admin routes, and with them the import routes.
    await helper.load([backupJob], [{ id: "tab", type: "tab", label: "t" }]);
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  it("PRestic config.ini as text/plain: a flow of profiles and tasks, warnings for unknown keys, no secret", async function () {
    const res = await post("prestic", presticIni).expect(200).expect("Content-Type", /json/);
    noSecrets(res);
    const { flow, warnings, deletedJobs } = res.body;
    assert.equal(deletedJobs, undefined, "PRestic has no deleted jobs");
    assert.deepEqual(flow.filter((n) => n.type === "highball-backup-job").map((n) => n.name).sort(), ["default", "nas-check", "nas-forget", "nas-photos", "offsite-docs"]);
    assert.equal(flow.filter((n) => n.type === "highball-profile-config").length, 9);
    assert.equal(flow.filter((n) => n.type === "tab").length, 1);
    assert.equal(flow.find((n) => n.type === "tab").label, "PRestic tasks");
    assert.ok(warnings.includes(`unknown key "log-level" in profile "base" was not imported`));
    assert.ok(warnings.includes(`unknown key "global-flags" in profile "b2" was not imported`));
    assert.ok(warnings.some((w) => w.startsWith(`profile "b2" has a plain password; it was not imported`)));
    assert.ok(warnings.some((w) => w.startsWith(`env.B2_ACCOUNT_KEY in profile "b2" looks like a secret`)));
  });

  it("Highball config.yaml as JSON {text, tab}: jobs, deleted jobs, unknown keys, no token or password", async function () {
    const res = await post("highball", { text: highballYaml, tab: "From the NAS" }).expect(200);
    noSecrets(res);
    const { flow, warnings, deletedJobs } = res.body;
    assert.equal(flow.find((n) => n.type === "tab").label, "From the NAS");
    assert.deepEqual(flow.filter((n) => n.type === "highball-backup-job").map((n) => n.name), ["photos", "docs", "homeassistant", "homeassistant discard", "homeassistant check", "music", "legacy-media"]);
    assert.deepEqual(deletedJobs.map((d) => [d.job.name, d.deletedAt]), [["retro", "2025-08-10T02:17:02.611241"]]);
    assert.ok(warnings.includes(`unknown key "frequency" in job "music" was not imported`));
    assert.ok(warnings.includes("the Telegram bot token was not imported; enter it in the notify node (a credential, never in the flow)"));
    assert.ok(warnings.includes("the SMTP user and password were not imported; enter them in the notify node (credentials, never in the flow)"));
    // Wires only point at nodes of the flow, so the editor can import it as it is.
    const ids = new Set(flow.map((n) => n.id));
    for (const n of flow) for (const out of n.wires ?? []) for (const id of out) assert.ok(ids.has(id), `dangling wire from ${n.name}`);
  });

  it("the same file converts to the same flow (the editor gives it fresh ids on import)", async function () {
    const a = (await post("prestic", presticIni).expect(200)).body;
    const b = (await post("prestic", { text: presticIni }).expect(200)).body;
    assert.deepEqual(a, b);
  });

  it("400 with the line number for a file that cannot be read", async function () {
    const cases = [
      ["prestic", "this is not an ini file\n", /^PRestic's config\.ini could not be read: line 1: "this is not an ini file" comes before any \[section\] header$/],
      ["prestic", "[a]\nrepository = /r\nrepository = /s\n", /line 3: option "repository" appears twice in \[a\]/],
      ["prestic", "[a]\nrepository = /r\n\n[b]\ninherit = a\npassword = %(nope)s\n", /^PRestic's config\.ini could not be read: line 6: \[b\] password: %\(nope\)s refers to an option that does not exist$/],
      ["highball", "backup_jobs: [unclosed\n", /^Highball's config\.yaml could not be read: the Highball config is not valid YAML: .* at line 2, column 1$/],
      ["highball", "backup_jobs:\n  a: b: c\n", /not valid YAML: .*at line 2, column 6/],
      ["highball", "- just\n- a list\n", /must be a YAML mapping/],
    ];
    for (const [route, text, why] of cases) {
      const res = await post(route, text).expect(400).expect("Content-Type", /json/);
      assert.match(res.body.error, why, text);
      assert.deepEqual(Object.keys(res.body), ["error"]);
    }
  });

  it("400 for an empty body or binary data, 415 for a form without text, 413 over 1 MB", async function () {
    assert.match((await post("prestic", "").expect(400)).body.error, /the body is empty/);
    assert.match((await post("highball", { text: "  \n" }).expect(400)).body.error, /the body is empty/);
    assert.match((await post("highball", { text: 42 }).expect(400)).body.error, /as JSON \{"text": "\.\.\."\}/);
    assert.match((await post("prestic", "[a]\0\0\0").expect(400)).body.error, /not a text file/);
    const form = await helper.request().post("/highball/import/prestic").type("form").send("a=b").expect(415);
    assert.match(form.body.error, /Content-Type: text\/plain/);
    const big = `[a]\nrepository = /r\n${"# padding\n".repeat(IMPORT_MAX_BYTES / 10 + 10)}`;
    assert.match((await post("prestic", big).expect(413)).body.error, /larger than 1 MB/);
    assert.match((await post("prestic", { text: big }).expect(413)).body.error, /larger than 1 MB/);
    // Just under the limit is fine.
    const fits = `[a]\nrepository = /r\n${"#".repeat(IMPORT_MAX_BYTES - 100)}\n`;
    await post("prestic", fits).expect(200);
  });

  it("a password given as a restic flag or an extended option stays out of the flow", async function () {
    const ini = "[a]\nrepository = /r\npassword-file = /p\nflag.password = hunter2-flag\nflag.from-password = hunter2-from\noption = s3.secret-key=hunter2-opt sftp.connections=2\n";
    const res = await post("prestic", ini).expect(200);
    for (const s of ["hunter2-flag", "hunter2-from", "hunter2-opt"]) assert.ok(!res.text.includes(s), `${s} is in the answer`);
    const profile = res.body.flow.find((n) => n.type === "highball-profile-config");
    assert.deepEqual(profile.options, { repository: "/r", "password-file": "/p", option: ["sftp.connections=2"] });
    assert.ok(res.body.warnings.some((w) => w.startsWith(`flag.password in profile "a" was not imported`)));
    assert.ok(res.body.warnings.some((w) => w.startsWith(`option s3.secret-key in profile "a" looks like a secret`)));
  });

  it("a Highball restic job with a local source converts (it has no destination, its maintenance jobs no source)", async function () {
    const yaml = "backup_jobs:\n  docs:\n    source: /srv/docs\n    dest_type: restic\n    dest_config:\n      repo_uri: /srv/restic\n      password: hunter2-repo\n    schedule: daily\n";
    const res = await post("highball", yaml).expect(200);
    assert.ok(!res.text.includes("hunter2-repo"));
    assert.deepEqual(res.body.flow.filter((n) => n.type === "highball-backup-job").map((n) => n.name), ["docs", "docs discard", "docs check"]);
    assert.ok(res.body.warnings.some((w) => w.startsWith(`job "docs": the restic repository password was not imported`)));
  });

  it("mounts once per admin app, behind highball.write", function () {
    const app = express();
    const asked = [];
    const RED = { httpAdmin: app, settings: { userDir: home, highball: { dir: home } }, auth: { needsPermission: (p) => { asked.push(p); return (_req, _res, next) => next(); } } };
    mountImportRoutes(RED);
    assert.deepEqual(asked, ["highball.write"], "converting leads to a deploy: write, not read");
    mountImportRoutes(RED);
    mountAdminRoutes(RED); // calls mountImportRoutes too
    const stack = (app._router ?? app.router).stack;
    const routes = stack.filter((l) => l.route && /^\/highball\/import\//.test(l.route.path)).map((l) => `${Object.keys(l.route.methods).join(",")} ${l.route.path}`);
    assert.deepEqual(routes, ["post /highball/import/prestic", "post /highball/import/highball"]);
    for (const l of stack.filter((x) => x.route && /^\/highball\/import\//.test(x.route.path))) assert.equal(l.route.stack.length, 2, "permission check, then the handler");
  });

  it("a chunked upload (no Content-Length) past 1 MB is refused with 413 too", async function () {
    const app = express();
    mountImportRoutes({ httpAdmin: app, settings: {}, auth: { needsPermission: () => (_req, _res, next) => next() } });
    const server = http.createServer(app);
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const send = (chunks) => new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port: server.address().port, path: "/highball/import/prestic", method: "POST", headers: { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" } }, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (d) => { body += d; }).on("end", () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
        });
        req.on("error", reject);
        for (const c of chunks) req.write(c);
        req.end();
      });
      const line = "# a comment line of padding\n";
      const over = await send(["[a]\nrepository = /r\n", ...Array.from({ length: 5 }, () => line.repeat(IMPORT_MAX_BYTES / line.length / 4))]);
      assert.equal(over.status, 413);
      assert.match(over.body.error, /larger than 1 MB/);
      const fine = await send(["[a]\nrepository = /r\n", "password-file = /p\n"]);
      assert.equal(fine.status, 200);
      assert.equal(fine.body.flow.find((n) => n.type === "highball-profile-config").options.repository, "/r");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
