"use strict";
// The admin API behind Node-RED's own adminAuth, in a real Node-RED: every /highball/ route
// found in the sources refuses a request without a token, lets a read-only user read but not
// write, and serves an admin. The routes are read from the code, so a new route is covered
// (and must declare highball.read or highball.write) without touching this test.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const util = require("../fixtures/util");
const { startNodeRed, waitForJob, demoSetup, root } = require("../support/node-red-process");

const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const loadedTypes = new Set(Object.keys(pkg["node-red"].nodes));

function sources(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

/** Every `<app>.<method>("/highball/...", guard, ...)` in lib/, nodes/ and plugins/, with its permission. */
function highballRoutes() {
  const routes = [];
  const files = ["lib", "nodes", "plugins"].flatMap((d) => sources(path.join(root, d)));
  // Guards handed to a route module ({ read, write }: Guards, from lib/http/shared.ts's mountOnce).
  const shared = {};
  for (const file of files) {
    for (const m of fs.readFileSync(file, "utf8").matchAll(/get\s+(\w+)\(\)\s*\{\s*return\s+\w+\.needsPermission\(\s*["'`]([^"'`]+)["'`]\s*\)/g)) shared[m[1]] = m[2];
  }
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const rel = path.relative(root, file);
    const guards = {};
    for (const handed of text.matchAll(/\{\s*([\w\s,]+?)\s*\}\s*(?::\s*Guards\b|\)\s*=>)/g)) {
      for (const name of handed[1].split(",").map((x) => x.trim())) if (shared[name] && /mountOnce|Guards/.test(text)) guards[name] = shared[name];
    }
    for (const m of text.matchAll(/(?:const|let|var)\s+(\w+)\s*=\s*RED\.auth\.needsPermission\(\s*["'`]([^"'`]+)["'`]\s*\)/g)) guards[m[1]] = m[2];
    for (const m of text.matchAll(/\.(get|post|put|delete|patch)\(\s*["'`](\/highball\/[^"'`]*)["'`]\s*,\s*([^,]+?)\s*,/g)) {
      const guard = m[3].trim();
      const permission = /needsPermission\(\s*["'`]([^"'`]+)["'`]/.exec(guard)?.[1] ?? guards[guard] ?? null;
      // A node module's routes exist only when package.json lists the node.
      const type = /^nodes\/([^/]+)\//.exec(rel.split(path.sep).join("/"))?.[1];
      routes.push({ method: m[1].toUpperCase(), path: m[2], permission, file: rel, loaded: !type || loadedTypes.has(type) });
    }
  }
  return routes;
}

describe("the admin API with adminAuth, in a real Node-RED 4", function () {
  this.timeout(180000);
  const all = highballRoutes();
  const routes = all.filter((r) => r.loaded);
  let red, adminToken, viewerToken, runId;

  before(async function () {
    const demo = demoSetup({ files: 4 });
    red = await startNodeRed({
      major: 4,
      flows: demo.flows,
      settings: {
        adminAuth: {
          type: "credentials",
          users: [
            { username: "admin", password: "admin-pass-1", permissions: "*" },
            { username: "viewer", password: "viewer-pass-1", permissions: "read" },
          ],
        },
      },
    });
    adminToken = await red.token("admin", "admin-pass-1", "*");
    viewerToken = await red.token("viewer", "viewer-pass-1", "read");
    await waitForJob(red, "hb-demo-job", { token: adminToken });
    // A finished run, so the run and log routes have something real to answer about.
    const t0 = Date.now();
    const r = await red.post("highball/jobs/hb-demo-job/run", undefined, { token: adminToken });
    assert.equal(r.status, 202, r.text);
    const job = await util.waitFor(async () => {
      const j = (await red.get("highball/jobs", { token: adminToken })).json.find((x) => x.id === "hb-demo-job");
      return j && !j.running && j.last && j.last.startedAt >= t0 - 1000 ? j : null;
    }, { timeout: 60000, what: "the demo run to end" });
    runId = job.last.runId;
  });
  after(async function () {
    if (red) await red.stop();
    await util.stopAll();
  });

  /** The route's path with real ids where the demo flow has them. */
  function url(r) {
    const ids = { jobs: "hb-demo-job", notify: "hb-demo-notify", schedule: "hb-demo-schedule", gate: "hb-demo-gate" };
    const section = r.path.split("/")[2];
    const p = r.path
      .replace(/:runId\??/g, runId)
      .replace(/:snap\??/g, "latest")
      .replace(/:(\w+)\??/g, () => ids[section] || "no-such-id");
    return `${p.slice(1)}${p.includes("?") ? "&" : "?"}client=permissions-test`;
  }
  function call(r, token) {
    const body = r.method === "GET" || r.method === "DELETE" ? undefined : {};
    return red.request(r.method, url(r), { token, body, accept: "application/json" });
  }
  const list = (rs) => rs.map((r) => `${r.method} ${r.path}`).join(", ");

  it("finds the routes in the sources, each guarded by highball.read or highball.write", function () {
    assert.ok(routes.length >= 8, `only ${routes.length} routes found: ${list(routes)}`);
    for (const must of ["GET /highball/jobs", "POST /highball/jobs/:id/run", "GET /highball/runs/:runId/log", "POST /highball/runs/:runId/cancel", "POST /highball/runs/:runId/follow"]) {
      assert.ok(routes.some((r) => `${r.method} ${r.path}` === must), `${must} not found among ${list(routes)}`);
    }
    // The Snapshots tab's repository actions and restore planning (issue 18): found, and guarded as
    // their effect needs (a run is a write; planning a restore and naming a snapshot's run are reads).
    const issue18 = {
      "POST /highball/profiles/:id/check": "highball.write",
      "POST /highball/profiles/:id/forget": "highball.write",
      "POST /highball/profiles/:id/prune": "highball.write",
      "POST /highball/profiles/:id/restore/files": "highball.read",
      "GET /highball/profiles/:id/origins": "highball.read",
    };
    for (const [route, permission] of Object.entries(issue18)) {
      const found = routes.find((r) => `${r.method} ${r.path}` === route);
      assert.ok(found, `${route} not found among ${list(routes)}`);
      assert.equal(found.permission, permission, `${route} (${found.file})`);
    }
    const unguarded = all.filter((r) => r.permission !== "highball.read" && r.permission !== "highball.write");
    assert.deepEqual(unguarded.map((r) => `${r.method} ${r.path} (${r.file}: ${r.permission})`), []);
  });

  it("refuses every route without a token, or with a forged one", async function () {
    for (const r of routes) {
      const res = await call(r);
      assert.equal(res.status, 401, `${r.method} ${r.path} (${r.file}) answered ${res.status} without a token: ${res.text.slice(0, 200)}`);
      const forged = await call(r, "not-a-real-token");
      assert.equal(forged.status, 401, `${r.method} ${r.path} answered ${forged.status} to a forged token`);
    }
  });

  it("lets a read-only user read, and refuses it every write", async function () {
    for (const r of routes) {
      const res = await call(r, viewerToken);
      const what = `${r.method} ${r.path} (${r.file}, ${r.permission}) answered ${res.status} to the viewer: ${res.text.slice(0, 200)}`;
      if (r.permission === "highball.read") {
        assert.ok(res.status !== 401 && res.status !== 403 && res.status < 500, what);
      } else {
        assert.ok(res.status === 401 || res.status === 403, what);
      }
    }
    const jobs = await red.get("highball/jobs", { token: viewerToken });
    assert.equal(jobs.status, 200);
    assert.ok(jobs.json.some((j) => j.id === "hb-demo-job"));
    const runs = await red.get("highball/jobs/hb-demo-job/runs", { token: viewerToken });
    assert.equal(runs.status, 200);
    assert.equal(runs.json[0].runId, runId);
    const log = await red.get(`highball/runs/${runId}/log?offset=0&length=100`, { token: viewerToken, accept: "text/plain" });
    assert.equal(log.status, 200);
    assert.ok(Number(log.headers.get("x-log-size")) > 0);
    assert.match(log.text, /^# run /);
    // The viewer's refused run started nothing.
    const after = (await red.get("highball/jobs", { token: viewerToken })).json.find((j) => j.id === "hb-demo-job");
    assert.equal(after.last.runId, runId);
  });

  it("serves a run's log as a download only with a token, to a read-only user too", async function () {
    const at = `highball/runs/${runId}/log?download=1`;
    assert.equal((await red.get(at, { accept: "text/plain" })).status, 401);
    assert.equal((await red.get(at, { token: "not-a-real-token", accept: "text/plain" })).status, 401);
    const res = await red.get(at, { token: viewerToken, accept: "text/plain" });
    assert.equal(res.status, 200, res.text.slice(0, 200));
    assert.match(res.headers.get("content-disposition") || "", /^attachment; filename="/);
    assert.match(res.text, /^# run /);
  });

  it("refuses the repository actions without a token and to the read-only user, with a real request body", async function () {
    for (const action of ["check", "forget", "prune"]) {
      const body = { dryRun: false, keep: { last: 1 }, readDataSubset: "1/10" };
      const none = await red.request("POST", `highball/profiles/no-such-id/${action}`, { body, accept: "application/json" });
      assert.equal(none.status, 401, `POST profiles/:id/${action} without a token: ${none.status} ${none.text.slice(0, 200)}`);
      const viewer = await red.request("POST", `highball/profiles/no-such-id/${action}`, { token: viewerToken, body, accept: "application/json" });
      assert.ok(viewer.status === 401 || viewer.status === 403, `POST profiles/:id/${action} to the viewer: ${viewer.status} ${viewer.text.slice(0, 200)}`);
    }
  });

  it("serves an admin on every route", async function () {
    // Reads first; writes last, since they start runs.
    const ordered = [...routes].sort((a, b) => (a.permission === b.permission ? 0 : a.permission === "highball.read" ? -1 : 1));
    for (const r of ordered) {
      const res = await call(r, adminToken);
      assert.ok(res.status !== 401 && res.status !== 403 && res.status < 500,
        `${r.method} ${r.path} (${r.file}) answered ${res.status} to the admin: ${res.text.slice(0, 200)}`);
      if (res.status >= 400) assert.equal(typeof res.json?.error, "string", `${r.method} ${r.path}: an error without {error}: ${res.text.slice(0, 200)}`);
    }
  });

  it("starts a run for the admin", async function () {
    const t0 = Date.now();
    await util.waitFor(async () => {
      const j = (await red.get("highball/jobs", { token: adminToken })).json.find((x) => x.id === "hb-demo-job");
      return j && !j.running;
    }, { timeout: 60000, what: "the job to be idle" });
    const r = await red.post("highball/jobs/hb-demo-job/run", undefined, { token: adminToken });
    assert.equal(r.status, 202, r.text);
    const job = await util.waitFor(async () => {
      const j = (await red.get("highball/jobs", { token: adminToken })).json.find((x) => x.id === "hb-demo-job");
      return j && !j.running && j.last && j.last.startedAt >= t0 ? j : null;
    }, { timeout: 60000, what: "the admin's run to end" });
    assert.equal(job.last.status, "success", job.last.error);
  });
});
