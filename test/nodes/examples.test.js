"use strict";
// examples/*.json: well-formed importable flows that load through the helper with every node type
// known (this package's nodes plus Node-RED's own core nodes, from the Node-RED under test), that
// together use every node type, and that hold no credential.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("../support/red");
const { tmpDir, stopAll, waitFor } = require("../fixtures/util");
const { startMosquitto } = require("../fixtures/mosquitto");
const { isSecretEnvName, repositoryUrlPassword } = require("../../dist/lib/profile/resolve");

const root = path.resolve(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const ours = Object.entries(pkg["node-red"].nodes);
const ourTypes = new Set(ours.map(([type]) => type));
const ourModules = ours.map(([, js]) => require(path.join(root, js)));
const CONFIG_TYPES = new Set(["highball-profile-config"]);

const nodeRed = require.resolve(helper.major === "5" ? "node-red-5" : "node-red");
const coreDir = path.join(path.dirname(require.resolve("@node-red/nodes/package.json", { paths: [nodeRed] })), "core");
const CORE_FILES = [
  "common/20-inject.js", "common/21-debug.js", "common/90-comment.js", "common/25-catch.js", "common/25-status.js",
  "function/10-function.js", "function/10-switch.js", "function/15-change.js", "network/10-mqtt.js", "network/21-httpin.js",
];
const coreModules = CORE_FILES.map((f) => require(path.join(coreDir, f)));

/** The node types the core modules above register, read from their registerType calls. */
function coreTypes() {
  const types = new Set(["tab", "group"]);
  for (const f of CORE_FILES) {
    const src = fs.readFileSync(path.join(coreDir, f), "utf8");
    for (const m of src.matchAll(/registerType\(\s*["']([^"']+)["']/g)) types.add(m[1]);
  }
  return types;
}
const CORE = coreTypes();
// Dashboard 2.0 is not installed here: its types are checked by name only, and only the dashboard example may use them.
const DASHBOARD = new Set(["ui-base", "ui-theme", "ui-page", "ui-group", "ui-table", "ui-chart", "ui-button", "ui-text", "ui-notification", "ui-gauge", "ui-template"]);

const dir = path.join(root, "examples");
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));

/** Every credential or password-like value in a flow, as "node id: where" sentences. */
function secretsIn(flow) {
  const found = [];
  const KEY = /^(password|passwd|passphrase|secret|token|bottoken|apikey|api_key|privatekey|rsyncdpassword|credentials|user)$/i;
  const walk = (id, v, where) => {
    if (Array.isArray(v)) { v.forEach((x, i) => walk(id, x, `${where}[${i}]`)); return; }
    if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        const at = where ? `${where}.${k}` : k;
        // A user name of a host (source.user, destination.user) is not a credential; a node's own `user` is.
        const ownUser = k === "user" && where === "";
        if (KEY.test(k) && k !== "user" && x !== "" && x !== null && x !== undefined) found.push(`${id}: ${at}`);
        else if (ownUser && x) found.push(`${id}: ${at}`);
        else if (/^env\./.test(k) && isSecretEnvName(k.slice(4))) found.push(`${id}: ${at}`);
        walk(id, x, at);
      }
      return;
    }
    if (typeof v === "string") {
      if (/\b\d{6,12}:[A-Za-z0-9_-]{30,}\b/.test(v)) found.push(`${id}: ${where} looks like a Telegram bot token`);
      if (repositoryUrlPassword(v) || /[a-z][a-z0-9+.-]*:\/\/[^/@:\s]+:[^/@\s]+@/i.test(v)) found.push(`${id}: ${where} holds a password in a URL`);
    }
  };
  for (const n of flow) walk(n.id, n, "");
  return found;
}

describe(`examples (Node-RED ${helper.major})`, function () {
  this.timeout(60000);
  let broker;

  before(async function () {
    broker = await startMosquitto();
  });
  after(async function () {
    await stopAll();
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  it("ship the required examples, and together use every node type of the package", function () {
    for (const f of ["rsync-local.json", "rsync-nas-nightly.json", "restic-profiles.json", "triggers-mqtt-http.json", "home-assistant-mqtt.json", "dashboard.json", "monitoring.json", "hooks.json"]) {
      assert.ok(files.includes(f), `examples/${f}`);
    }
    const used = new Set(files.flatMap((f) => read(f).map((n) => n.type)));
    const missing = [...ourTypes].filter((t) => !CONFIG_TYPES.has(t) && !used.has(t));
    assert.deepEqual(missing, [], `node types in no example: ${missing.join(", ")}`);
    assert.ok(used.has("highball-profile-config"), "the restic example shows profiles");
  });

  it("the credential check finds what it is meant to find", function () {
    const bad = [
      { id: "a", type: "highball-notify", botToken: "x" },
      { id: "b", type: "highball-profile-config", options: { "env.B2_ACCOUNT_KEY": "k", repository: "rest:https://u:pw@host/r" } },
      { id: "c", type: "mqtt-broker", credentials: { user: "u", password: "p" } },
      { id: "d", type: "highball-notify", user: "mail@example.com", info: "token 123456789:AAFakeTelegramTokenValueabcdefghijk" },
      { id: "e", type: "highball-backup-job", destination: { user: "backup", host: "nas" } },
    ];
    const found = secretsIn(bad);
    for (const id of ["a", "b", "c", "d"]) assert.ok(found.some((s) => s.startsWith(`${id}:`)), `${id} is found: ${found.join("; ")}`);
    assert.ok(found.filter((s) => s.startsWith("b:")).length >= 2, "both secrets of b");
    assert.ok(!found.some((s) => s.startsWith("e:")), "an ssh user name is not a secret");
  });

  for (const f of files) {
    describe(f, function () {
      const flow = read(f);

      it("is an importable flow: an array of nodes with unique ids, on its tabs, wired to nodes it holds, each tab explained", function () {
        assert.ok(Array.isArray(flow) && flow.length > 0);
        const ids = flow.map((n) => n.id);
        assert.equal(new Set(ids).size, ids.length, "unique ids");
        const tabs = new Set(flow.filter((n) => n.type === "tab").map((n) => n.id));
        assert.ok(tabs.size >= 1, "a tab");
        const byId = new Map(flow.map((n) => [n.id, n]));
        const places = new Set();
        for (const n of flow) {
          assert.equal(typeof n.id, "string");
          assert.equal(typeof n.type, "string", `${n.id} has a type`);
          if (n.type === "tab") continue;
          const onCanvas = "x" in n || "z" in n;
          if (!onCanvas) continue; // a config node
          assert.ok(tabs.has(n.z), `${n.id} is on a tab of this file (z = ${n.z})`);
          assert.ok(Number.isFinite(n.x) && Number.isFinite(n.y) && n.x > 0 && n.y > 0 && n.x < 2000 && n.y < 1200, `${n.id} has a sensible position`);
          const place = `${n.z}:${n.x}:${n.y}`;
          assert.ok(!places.has(place), `${n.id} does not sit on another node`);
          places.add(place);
          for (const out of n.wires ?? []) for (const to of out) assert.ok(byId.has(to), `${n.id} is wired to ${to}, which is in the file`);
          for (const ref of ["broker", "group", "page", "ui", "theme"]) {
            if (typeof n[ref] === "string" && n[ref]) assert.ok(byId.has(n[ref]), `${n.id}.${ref} names a node of the file`);
          }
        }
        for (const tab of tabs) {
          assert.ok(flow.some((n) => n.z === tab && n.type === "comment" && n.name), `tab ${tab} has a comment node`);
        }
        for (const n of flow.filter((x) => x.type === "highball-backup-job" && x.engine === "restic" && x.profile)) {
          // By the config node's id, as the editor's picker stores it, so Node-RED counts the profile as used.
          assert.ok(flow.some((p) => p.type === "highball-profile-config" && p.id === n.profile), `${n.id}: profile "${n.profile}" is a profile node of the file, by its id`);
        }
        for (const n of flow.filter((x) => x.type === "highball-notify")) {
          assert.equal((n.wires ?? []).length, n.mqtt ? 2 : 1, `${n.id}: one output, two with the MQTT channel`);
        }
      });

      it("uses only this package's nodes and core nodes (Dashboard 2.0 only in its own example)", function () {
        const unknown = flow.map((n) => n.type).filter((t) => !ourTypes.has(t) && !CORE.has(t) && !(f === "dashboard.json" && DASHBOARD.has(t)));
        assert.deepEqual([...new Set(unknown)], []);
        if (f !== "dashboard.json") assert.ok(!flow.some((n) => n.type.startsWith("ui-")), "no dashboard node outside dashboard.json");
      });

      it("holds no credential or password-like value", function () {
        assert.deepEqual(secretsIn(flow), []);
      });

      it("loads through the helper: every node starts, none of ours reports an error", async function () {
        const home = tmpDir("home");
        helper.settings({ highball: { dir: home } });
        const skipped = new Set(flow.filter((n) => DASHBOARD.has(n.type)).map((n) => n.id));
        const copy = JSON.parse(JSON.stringify(flow)).filter((n) => !skipped.has(n.id)).map((n) => {
          if (n.wires) n.wires = n.wires.map((out) => out.filter((to) => !skipped.has(to)));
          // The example's broker is localhost:1883; this test's is the fixture's.
          if (n.type === "mqtt-broker") Object.assign(n, { broker: broker.host, port: broker.port });
          return n;
        });
        await helper.load([...ourModules, ...coreModules], copy);
        // A profile that names a repository is judged once every profile is there (after the
        // flows start): examples carry no credentials, so the one that needs the user's password
        // says so at deploy, as its comment asks the user to set it.
        const told = f === "restic-profiles.json" ? { "hb-restic-profile-nas": ['profile "nas" has no password (set a password, a password file or a password command): every run of this profile fails until it is set'] } : {};
        for (const [id, expected] of Object.entries(told)) {
          const node = helper.getNode(id);
          assert.ok(node, `${id} was created`);
          await waitFor(() => node.error.getCalls().length >= expected.length, { what: `${id}'s error at deploy`, timeout: 5000 });
        }
        for (const n of copy) {
          if (n.type === "tab" || n.type === "comment") continue;
          const node = helper.getNode(n.id);
          assert.ok(node, `${n.id} (${n.type}) was created`);
          assert.equal(node.type, n.type);
          if (ourTypes.has(n.type)) {
            const errors = node.error.getCalls().filter((c) => c.thisValue === node).map((c) => String(c.args[0]?.message ?? c.args[0]));
            assert.deepEqual(errors, told[n.id] || [], `${n.id} (${n.type}) reported an error at start`);
          }
        }
        // The mqtt in nodes really subscribe with the example's topics.
        for (const n of copy.filter((x) => x.type === "mqtt in")) await broker.waitForSubscription(n.topic);
      });
    });
  }
});
