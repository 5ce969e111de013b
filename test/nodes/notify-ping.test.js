"use strict";
// notify's ping channel: a real rsync run (backup-job → rsync-run, both outputs wired into a
// notify node) pings a real HTTP server on 127.0.0.1 speaking healthchecks.io's and Uptime
// Kuma's push protocols: /start as the run starts, the URL on success, /fail with the error and
// the log's last lines, Kuma's ?status=&msg=&ping=; retries on 5xx, a plain sentence when the
// server cannot be reached, and nothing blocks or crashes.
const assert = require("node:assert/strict");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun } = require("../support/flow");
const notifyNode = require("../../dist/nodes/highball-notify/highball-notify.js");
const { tmpDir, makeTree, waitFor } = require("../fixtures/util");

/** A ping server: records each request (method, path, query, body); answers what `respond` says. */
async function startPingServer() {
  const requests = [];
  let respond = () => 200;
  const srv = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => { body += c; });
    req.on("end", () => {
      const u = new URL(req.url, "http://x");
      const r = { method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams), body, at: Date.now() };
      requests.push(r);
      const code = respond(r);
      res.writeHead(code, { "Content-Type": "text/plain" }).end(code === 200 ? "OK" : "error");
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${srv.address().port}`;
  return {
    base, requests,
    respond(fn) { respond = fn || (() => 200); },
    stop: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(r); }),
  };
}

async function closedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

describe(`notify's ping channel (Node-RED ${helper.major})`, function () {
  this.timeout(60000);
  let ping, home;
  before(async () => { ping = await startPingServer(); });
  after(async () => { await ping.stop(); });
  beforeEach(() => {
    home = tmpDir("home");
    helper.settings({ highball: { dir: home } });
    ping.requests.length = 0;
    ping.respond(null);
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
  });

  async function load(job, pingUrl, notifyProps = {}) {
    const flow = [
      { id: "tab", type: "tab", label: "t" },
      { id: "j1", z: "tab", type: "highball-backup-job", name: "photos", engine: "rsync", ...job, wires: [["run"]] },
      { id: "run", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [["notify", "result"], ["notify"]] },
      { id: "notify", z: "tab", type: "highball-notify", name: "ping", windowSeconds: 0, ...notifyProps, wires: [["out"], []] },
      { id: "result", z: "tab", type: "helper" },
      { id: "out", z: "tab", type: "helper" },
    ];
    await helper.load([backupJob, rsyncRun, notifyNode], flow, { notify: { pingUrl } });
    return helper.getNode("notify");
  }

  function runOnce() {
    return new Promise((resolve) => {
      helper.getNode("result").once("input", resolve);
      helper.getNode("j1").receive({ payload: "go" });
    });
  }

  const errorsOf = (node) => node.error.getCalls().filter((c) => c.thisValue === node).map((c) => String(c.args[0]?.message ?? c.args[0]));

  it("healthchecks style: /start as the run starts, then the URL itself on success", async function () {
    const src = tmpDir("src");
    makeTree(src, { files: 5, size: 1024 });
    const notify = await load({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: path.join(tmpDir("dst"), "out") } }, `${ping.base}/ping/abc-uuid`);
    const msg = await runOnce();
    assert.equal(msg.payload.status, "success", msg.payload.error);
    await waitFor(() => ping.requests.length >= 2, { timeout: 10000, what: "two pings" });
    const [start, end] = ping.requests;
    assert.equal(start.path, "/ping/abc-uuid/start");
    assert.equal(start.query.rid, msg.payload.runId);
    assert.equal(end.path, "/ping/abc-uuid");
    assert.equal(end.method, "GET");
    assert.equal(end.query.rid, msg.payload.runId);
    assert.ok(start.at <= end.at);
    // Progress messages on the same wire neither ping again nor count as bad input.
    assert.equal(ping.requests.filter((r) => r.path.endsWith("/start")).length, 1);
    assert.deepEqual(errorsOf(notify), []);
  });

  it("a failed run pings /fail with the error and the log's last lines, at most 10 KB", async function () {
    const notify = await load({ source: { type: "local", paths: [{ path: "/nonexistent/highball-ping-src" }] }, destination: { type: "local", path: tmpDir("dst") } }, `${ping.base}/ping/abc-uuid/`);
    const msg = await runOnce();
    assert.equal(msg.payload.status, "failed");
    const fail = await waitFor(() => ping.requests.find((r) => r.path === "/ping/abc-uuid/fail"), { timeout: 10000, what: "the /fail ping" });
    assert.equal(fail.method, "POST");
    assert.ok(fail.body.includes(msg.payload.error), fail.body);
    assert.match(fail.body, /Last lines of the log:/);
    assert.match(fail.body, /nonexistent\/highball-ping-src/);
    assert.ok(Buffer.byteLength(fail.body) <= 10 * 1024);
    assert.ok(ping.requests.some((r) => r.path === "/ping/abc-uuid/start"), "the failed run pinged its start too");
    assert.equal(notify.type, "highball-notify");
  });

  it("Uptime Kuma push URL: status, msg and ping in the query, no start", async function () {
    const src = tmpDir("src");
    makeTree(src, { files: 3, size: 512 });
    await load({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: tmpDir("dst") } }, `${ping.base}/api/push/Kuma123?status=up&msg=OK&ping=`);
    const ok = await runOnce();
    const up = await waitFor(() => ping.requests.find((r) => r.path === "/api/push/Kuma123"), { timeout: 10000, what: "the Kuma push" });
    assert.equal(up.query.status, "up");
    assert.match(up.query.msg, /^photos: success/);
    assert.equal(up.query.ping, String(ok.payload.durationMs));
    assert.equal(ping.requests.length, 1, "Kuma gets no start ping");
  });

  it("retries a 5xx answer, and the run's result goes out without waiting for the ping", async function () {
    const src = tmpDir("src");
    makeTree(src, { files: 2, size: 256 });
    let n = 0;
    ping.respond((r) => (r.path === "/ping/retry" && ++n < 3 ? 503 : 200));
    const notify = await load({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: tmpDir("dst") } }, `${ping.base}/ping/retry`);
    await runOnce();
    await waitFor(() => n >= 3, { timeout: 15000, what: "the third attempt" });
    assert.deepEqual(errorsOf(notify), []);
  });

  it("an unreachable ping URL is a plain sentence without the URL's secret path, and nothing crashes", async function () {
    const src = tmpDir("src");
    makeTree(src, { files: 2, size: 256 });
    const port = await closedPort();
    const notify = await load({ source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: tmpDir("dst") } }, `http://127.0.0.1:${port}/ping/secret-uuid-4711`);
    const msg = await runOnce();
    assert.equal(msg.payload.status, "success", "the run is not held back by its ping");
    const errs = await waitFor(() => { const e = errorsOf(notify); return e.length >= 2 ? e : null; }, { timeout: 40000, what: "the ping errors" });
    for (const e of errs) {
      assert.match(e, new RegExp(`The ping server at http://127\\.0\\.0\\.1:${port} refused the connection`));
      assert.ok(!e.includes("secret-uuid-4711"), e);
    }
    await waitFor(() => notify.status.getCalls().some((c) => c.args[0]?.text === "delivery failed"), { timeout: 5000, what: "a red status" });
  });

  it("a ping URL that is not http(s) is refused with a sentence at deploy", async function () {
    const notify = await load({ source: { type: "local", paths: [{ path: tmpDir("src") }] }, destination: { type: "local", path: tmpDir("dst") } }, "ftp://example.org/x");
    const warned = notify.warn.getCalls().map((c) => String(c.args[0]));
    assert.ok(warned.includes("The ping URL must start with http:// or https://."), warned.join(" | "));
  });
});
