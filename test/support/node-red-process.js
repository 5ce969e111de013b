"use strict";
// A real Node-RED process with this package installed, as a user would have it: a user dir
// whose node_modules links to this checkout, started with `red.js`. Node-RED 4.1 runs on this
// Node; Node-RED 5.x on a Node ≥ 22.9 (see node22.js). Tracked by PID, stopped by PID.
const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const util = require("../fixtures/util");
const { node22 } = require("./node22");

const root = path.resolve(__dirname, "../..");
const PACKAGE = "@highball/node-red-backup";

function redJs(major) {
  return require.resolve(major === 5 ? "node-red-5/red.js" : "node-red/red.js", { paths: [root] });
}

function versionOf(major) {
  return require(path.join(path.dirname(redJs(major)), "package.json")).version;
}

/** bcrypt hash for adminAuth users, with the bcryptjs Node-RED itself uses. */
function hashPassword(plain) {
  const bcrypt = require(require.resolve("bcryptjs", { paths: [path.dirname(redJs(4))] }));
  return bcrypt.hashSync(plain, 8);
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function merge(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b || {})) out[k] = isObject(v) && isObject(a[k]) ? merge(a[k], v) : v;
  return out;
}

/** adminAuth users may be given plain passwords; settings.js needs bcrypt hashes. */
function withHashedUsers(settings) {
  const auth = settings.adminAuth;
  if (!auth || !Array.isArray(auth.users)) return settings;
  const users = auth.users.map((u) => (u.password && !/^\$2[aby]\$/.test(u.password) ? { ...u, password: hashPassword(u.password) } : u));
  return { ...settings, adminAuth: { type: "credentials", ...auth, users } };
}

/**
 * settings.js. `adminAuth.tokens` may be given as a map {token: {user, permissions}}: it is
 * written as the function Node-RED calls for a bearer token it did not issue (a scraper's).
 */
function settingsJs(settings) {
  const tokens = settings.adminAuth && isObject(settings.adminAuth.tokens) ? settings.adminAuth.tokens : null;
  const plain = tokens ? { ...settings, adminAuth: { ...settings.adminAuth, tokens: undefined } } : settings;
  let js = `// Written by test/support/node-red-process.js\nmodule.exports = ${JSON.stringify(plain, null, 2)};\n`;
  if (tokens) js += `const tokens = ${JSON.stringify(tokens)};\nmodule.exports.adminAuth.tokens = (t) => Promise.resolve(Object.prototype.hasOwnProperty.call(tokens, t) ? tokens[t] : null);\n`;
  return js;
}

function linkPackage(userDir) {
  const link = path.join(userDir, "node_modules", ...PACKAGE.split("/"));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  try {
    if (fs.realpathSync(link) === fs.realpathSync(root)) return;
    fs.rmSync(link, { recursive: true, force: true });
  } catch { /* not there yet */ }
  fs.symlinkSync(root, link, "dir");
}

/** fetch against the admin API; `token` adds a bearer token, objects are sent as JSON. */
async function request(url, method, route, { token, body, accept = "application/json", headers = {} } = {}) {
  const h = { Accept: accept, ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === "string" || body instanceof URLSearchParams) payload = body;
    else { payload = JSON.stringify(body); h["Content-Type"] = "application/json"; }
  }
  const res = await fetch(url + route.replace(/^\//, ""), { method, headers: h, body: payload, redirect: "manual" });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Starts Node-RED `major` (4 or 5) with `flows` and extra `settings` (deep-merged over the
 * defaults; adminAuth users may have plain passwords). Resolves once the admin HTTP answers.
 */
async function startNodeRed({ major = 4, flows = [], settings = {}, userDir, name } = {}) {
  const m = Number(major) === 5 ? 5 : 4;
  const dir = userDir || util.tmpDir(`node-red-${m}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  linkPackage(dir);
  const flowFile = path.join(dir, "flows.json");
  if (flows && (!userDir || !fs.existsSync(flowFile))) fs.writeFileSync(flowFile, JSON.stringify(flows, null, 2));
  const node = m === 5 ? node22() : process.execPath;
  const log = path.join(dir, "node-red.log");
  const label = name || `node-red-${m}`;

  const handle = {
    major: m,
    version: versionOf(m),
    userDir: dir,
    url: null,
    port: null,
    pid: null,
    child: null,
    logFile: log,
    log: () => util.readTail(log, 20000),
    request: (method, route, opts) => request(handle.url, method, route, opts),
    get: (route, opts) => request(handle.url, "GET", route, opts),
    post: (route, body, opts) => request(handle.url, "POST", route, { ...opts, body }),
    /** A bearer token for an adminAuth user (client node-red-admin, password grant). */
    async token(username, password, scope = "*") {
      const r = await request(handle.url, "POST", "auth/token", {
        body: new URLSearchParams({ client_id: "node-red-admin", grant_type: "password", scope, username, password }).toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      });
      if (r.status !== 200 || !r.json?.access_token) throw new Error(`no token for ${username}: ${r.status} ${r.text}`);
      return r.json.access_token;
    },
    async stop() {
      if (handle.pid) await util.stopPid(handle.pid, { grace: 10000 });
      handle.pid = null;
    },
    /** A crash: SIGKILL to Node-RED alone, so the tools it started outlive it, as after a power cut of the runtime. */
    async kill9() {
      const { pid, child } = handle;
      if (!pid) return;
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", r));
      try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
      await Promise.race([exited, util.sleep(5000)]);
      util.untrack(pid);
      handle.pid = null;
    },
    /** Stops (if running) and starts again on the same user dir and, when it is free, the same port. */
    async restart() {
      await handle.stop();
      await launch(handle.port);
      return handle;
    },
  };

  async function launch(preferredPort) {
    const attempt = async (port) => {
      const base = {
        uiHost: "127.0.0.1",
        uiPort: port,
        userDir: dir,
        flowFile: "flows.json",
        credentialSecret: "highball-test-" + crypto.createHash("sha256").update(dir).digest("hex").slice(0, 16),
        editorTheme: { tours: false, projects: { enabled: false } },
        telemetry: { enabled: false },
        externalModules: { autoInstall: false, palette: { allowInstall: false } },
        diagnostics: { enabled: false },
        logging: { console: { level: "info", metrics: false, audit: false } },
      };
      const file = path.join(dir, "settings.js");
      fs.writeFileSync(file, settingsJs(withHashedUsers(merge(base, settings))), { mode: 0o600 });
      fs.appendFileSync(log, `\n=== starting Node-RED ${handle.version} on ${node} (port ${port}) ===\n`);
      const child = util.spawnDaemon(node, [redJs(m), "--userDir", dir, "--settings", file], {
        name: label, log, cwd: dir, env: { ...process.env, NODE_OPTIONS: "" },
      });
      const url = `http://127.0.0.1:${port}/`;
      try {
        await util.waitFor(async () => {
          util.assertRunning(child, label, log);
          if (/unable to listen|EADDRINUSE/i.test(util.readTail(log, 4000))) {
            const err = new Error(`address already in use: port ${port}`);
            err.abort = true;
            throw err;
          }
          const res = await fetch(url, { redirect: "manual" });
          await res.arrayBuffer();
          return res.status > 0 && util.listeningBy(child.pid, port);
        }, { timeout: 60000, interval: 100, what: `${label} to answer on ${url}` });
      } catch (err) {
        if (child.pid) await util.stopPid(child.pid);
        err.message += `\n--- ${log} ---\n${util.readTail(log, 4000)}`;
        throw err;
      }
      Object.assign(handle, { url, port, pid: child.pid, child });
      return handle;
    };
    if (preferredPort) {
      try { return await attempt(preferredPort); } catch (err) {
        if (!/address already in use/i.test(err.message)) throw err;
      }
    }
    return util.withFreePort(attempt);
  }

  await launch();
  return handle;
}

/**
 * Resolves once the demo job (or any job with `id`) is listed by the admin API, that is, once
 * the flows have started.
 */
async function waitForJob(red, id, { token, timeout = 30000 } = {}) {
  return util.waitFor(async () => {
    const r = await red.get("highball/jobs", { token });
    return r.status === 200 && r.json.find((j) => j.id === id);
  }, { timeout, what: `job ${id} in GET highball/jobs` });
}

/**
 * The demo flow of `npm start` (scripts/lib/demo-flows.js) over fresh files in a temp dir:
 * what a system test deploys to see a real backup. Returns the flows and the two folders.
 */
function demoSetup({ files = 24, size = 16 * 1024 } = {}) {
  const { demoFlows } = require(path.join(root, "scripts", "lib", "demo-flows"));
  const data = util.tmpDir("demo-data");
  const source = path.join(data, "photos");
  fs.mkdirSync(path.join(source, "cache"), { recursive: true });
  const made = util.makeTree(source, { files, size, subdirs: 2, seed: 7 });
  fs.writeFileSync(path.join(source, "cache", "thumbs.db"), "left out by the job's exclude rule\n");
  // The demo's schedules stay in the flow but feed nothing: a test that crosses the full hour
  // must not see a scheduled run it did not start.
  const flows = demoFlows(data).map((n) => (n.type === "highball-schedule-trigger" ? { ...n, wires: [[], []] } : n));
  return { flows, data, source, dest: path.join(data, "backups", "photos"), made };
}

module.exports = { startNodeRed, waitForJob, demoSetup, hashPassword, request, PACKAGE, root };
