"use strict";
// The notify node's MQTT channel against a real mosquitto, through Node-RED's own core mqtt nodes
// (loaded from the node-red package under test): discovery and retained state after a real rsync
// run, Home Assistant's run button and restart, and a job started straight from an mqtt in node.
const assert = require("node:assert/strict");
const path = require("node:path");
const helper = require("../support/red");
const { backupJob, rsyncRun, next, collect } = require("../support/flow");
const { tmpDir, makeTree, readTree, stopAll, waitFor } = require("../fixtures/util");
const { startMosquitto } = require("../fixtures/mosquitto");
const notifyNode = require("../../dist/nodes/highball-notify/highball-notify.js");

// Core nodes and the MQTT client come from the Node-RED under test, so no dependency is added.
const nodeRed = require.resolve(helper.major === "5" ? "node-red-5" : "node-red");
const coreDir = path.join(path.dirname(require.resolve("@node-red/nodes/package.json", { paths: [nodeRed] })), "core");
const mqttNodes = require(path.join(coreDir, "network", "10-mqtt.js"));
const mqtt = require(require.resolve("mqtt", { paths: [nodeRed] }));

const INSTANCE = "test-nr";
const DEVICE = `highball_test_nr_j1`;
const JOB = "nightly-photos"; // the topic level of "Nightly Photos"

/** A client of the broker that records every message it gets, with its retain flag. */
async function subscriber(broker, filters) {
  const client = await mqtt.connectAsync(broker.url, { clientId: `hb-test-${process.pid}-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 });
  const got = [];
  client.on("message", (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  if (filters.length) await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    got,
    /** The newest message on a topic (or undefined). */
    latest: (topic) => got.filter((m) => m.topic === topic).at(-1),
    /** Waits until the newest message on a topic satisfies `ok`. */
    until: (topic, ok, what) => waitFor(() => {
      const m = got.filter((x) => x.topic === topic).at(-1);
      return m && ok(m) ? m : null;
    }, { timeout: 30000, what: what ?? `a message on ${topic}` }),
    end: () => client.endAsync(),
  };
}

describe(`MQTT channel with mosquitto (Node-RED ${helper.major})`, function () {
  this.timeout(120000);
  let broker, home, src, dst, clients;

  before(async function () {
    broker = await startMosquitto();
  });
  after(async function () {
    await stopAll();
  });
  beforeEach(function () {
    home = tmpDir("home");
    src = tmpDir("src");
    dst = path.join(tmpDir("dst"), "photos");
    makeTree(src, { files: 12, size: 2048 });
    helper.settings({ highball: { dir: home } });
    clients = [];
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  });

  async function sub(filters) {
    const s = await subscriber(broker, filters);
    clients.push(s);
    return s;
  }

  const brokerNode = () => ({
    id: "broker", type: "mqtt-broker", name: "mosquitto", broker: broker.host, port: String(broker.port), clientid: "",
    autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true, autoUnsubscribe: true,
    birthTopic: "", closeTopic: "", willTopic: "",
  });
  const mqttIn = (id, topic, wires) => ({
    id, z: "tab", type: "mqtt in", name: "", topic, qos: "1", datatype: "utf8", broker: "broker", nl: false, rap: true, rh: 0, inputs: 0, wires: [wires],
  });
  const job = () => ({
    id: "j1", z: "tab", type: "highball-backup-job", name: "Nightly Photos", engine: "rsync", enabled: true,
    source: { type: "local", paths: [{ path: src }] }, destination: { type: "local", path: dst }, wires: [["run"]],
  });

  /** schedule-less job → rsync → notify (MQTT channel) → mqtt out; mqtt in on the run and Home Assistant topics → notify. */
  function haFlow(notifyProps = {}) {
    return [
      { id: "tab", type: "tab", label: "t" },
      brokerNode(),
      job(),
      { id: "run", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [["n1", "result"], []] },
      {
        id: "n1", z: "tab", type: "highball-notify", name: "home assistant", onSuccess: false, windowSeconds: 0,
        mqtt: true, mqttBase: "highball", mqttInstance: INSTANCE, mqttDiscovery: true, mqttPrefix: "homeassistant", outputs: 2,
        ...notifyProps, wires: [["text"], ["mo"]],
      },
      { id: "mo", z: "tab", type: "mqtt out", name: "", topic: "", qos: "", retain: "", broker: "broker", wires: [] },
      mqttIn("runs", `highball/${INSTANCE}/+/run`, ["n1"]),
      mqttIn("hastatus", "homeassistant/status", ["n1"]),
      { id: "result", z: "tab", type: "helper" },
      { id: "text", z: "tab", type: "helper" },
      { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "tab", type: "helper" },
    ];
  }

  async function loadHa(notifyProps) {
    await helper.load([backupJob, rsyncRun, notifyNode, mqttNodes], haFlow(notifyProps));
    const s = await sub(["homeassistant/#", "highball/#"]);
    // Discovery goes out when the flows start and again when the mqtt out node connects.
    await s.until(`homeassistant/sensor/${DEVICE}_status/config`, (m) => m.payload !== "", "the status sensor's discovery");
    return s;
  }

  it("publishes Home Assistant discovery: valid JSON with unique ids, state topics, device and availability", async function () {
    const s = await loadHa();
    await s.until(`homeassistant/button/${DEVICE}_run/config`, (m) => m.payload !== "");
    const configs = {};
    for (const e of ["status", "last_success", "duration"]) configs[e] = JSON.parse(s.latest(`homeassistant/sensor/${DEVICE}_${e}/config`).payload);
    configs.run = JSON.parse(s.latest(`homeassistant/button/${DEVICE}_run/config`).payload);
    assert.equal(configs.status.state_topic, `highball/${INSTANCE}/${JOB}/state`);
    assert.equal(configs.status.json_attributes_topic, `highball/${INSTANCE}/${JOB}/last`);
    assert.equal(configs.last_success.state_topic, `highball/${INSTANCE}/${JOB}/last_success`);
    assert.equal(configs.last_success.device_class, "timestamp");
    assert.equal(configs.duration.state_topic, `highball/${INSTANCE}/${JOB}/duration`);
    assert.equal(configs.duration.unit_of_measurement, "s");
    assert.equal(configs.run.command_topic, `highball/${INSTANCE}/${JOB}/run`);
    assert.deepEqual(Object.values(configs).map((c) => c.unique_id).sort(), [`${DEVICE}_duration`, `${DEVICE}_last_success`, `${DEVICE}_run`, `${DEVICE}_status`]);
    for (const c of Object.values(configs)) {
      assert.deepEqual(c.device.identifiers, [DEVICE]);
      assert.equal(c.device.name, "Backup Nightly Photos");
      assert.deepEqual(c.availability.map((a) => a.topic), [`highball/${INSTANCE}/availability`, `highball/${INSTANCE}/${JOB}/availability`]);
    }
    await s.until(`highball/${INSTANCE}/availability`, (m) => m.payload === "online");
    await s.until(`highball/${INSTANCE}/${JOB}/availability`, (m) => m.payload === "online");
    // Retained: a client that connects now is told all of it at once.
    const late = await sub([`homeassistant/+/${DEVICE}_status/config`, `highball/${INSTANCE}/availability`]);
    const retained = await late.until(`homeassistant/sensor/${DEVICE}_status/config`, (m) => m.retain);
    assert.equal(JSON.parse(retained.payload).unique_id, `${DEVICE}_status`);
    assert.equal((await late.until(`highball/${INSTANCE}/availability`, (m) => m.retain)).payload, "online");
  });

  it("a Stale binary sensor per job: ON with no success within the notify node's stale limit, OFF after a success, ON again as time passes", async function () {
    const staleHours = 3 / 3600; // 3 s
    const s = await loadHa({ staleHours });
    const config = JSON.parse((await s.until(`homeassistant/binary_sensor/${DEVICE}_stale/config`, (m) => m.payload !== "", "the Stale sensor's discovery")).payload);
    assert.equal(config.name, "Stale");
    assert.equal(config.unique_id, `${DEVICE}_stale`);
    assert.equal(config.state_topic, `highball/${INSTANCE}/${JOB}/stale`);
    assert.equal(config.device_class, "problem");
    assert.deepEqual([config.payload_on, config.payload_off], ["ON", "OFF"]);
    assert.deepEqual(config.device.identifiers, [DEVICE]);
    const stale = `highball/${INSTANCE}/${JOB}/stale`;
    // Never backed up: stale.
    assert.equal((await s.until(stale, (m) => m.retain || m.payload)).payload, "ON");
    const done = next(helper, "result");
    helper.getNode("j1").receive({});
    const r = await done;
    assert.equal(r.payload.status, "success", r.payload.error);
    const off = await s.until(stale, (m) => m.payload === "OFF", "Stale OFF after the success");
    // No run for longer than the limit: ON again, with no event but the clock.
    const t0 = Date.now();
    await s.until(stale, (m) => m.payload === "ON" && s.got.indexOf(m) > s.got.indexOf(off), "Stale ON again");
    assert.ok(Date.now() - r.payload.finishedAt >= 2900, `turned stale ${Date.now() - r.payload.finishedAt} ms after the success`);
    assert.ok(Date.now() - t0 < 15000);
    // Retained for Home Assistant starting later.
    const late = await sub([stale]);
    assert.equal((await late.until(stale, (m) => m.retain)).payload, "ON");
  });

  it("without a stale limit there is no Stale sensor (its config is removed)", async function () {
    const s = await loadHa();
    await s.until(`homeassistant/binary_sensor/${DEVICE}_stale/config`, (m) => m.payload === "", "the Stale sensor's removal");
    // (A retained value an earlier test left on the broker may be told; this node publishes none.)
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(s.got.filter((m) => m.topic === `highball/${INSTANCE}/${JOB}/stale` && !m.retain).length, 0);
  });

  it("keeps the state of a real rsync run retained, and runs the job when its run topic is published", async function () {
    const s = await loadHa();
    const first = next(helper, "result");
    helper.getNode("j1").receive({ payload: "go" });
    const r1 = await first;
    assert.equal(r1.payload.status, "success", r1.payload.error);
    assert.deepEqual(readTree(dst), readTree(src));
    await s.until(`highball/${INSTANCE}/${JOB}/state`, (m) => m.payload === "success");
    const states = s.got.filter((m) => m.topic === `highball/${INSTANCE}/${JOB}/state`).map((m) => m.payload);
    assert.deepEqual(states.slice(-2), ["running", "success"]);

    // What a client that connects after the run is told: the retained state of that run.
    const late = await sub([`highball/${INSTANCE}/${JOB}/#`]);
    const topic = (t) => `highball/${INSTANCE}/${JOB}/${t}`;
    for (const t of ["state", "last", "last_success", "duration", "availability"]) await late.until(topic(t), (m) => m.retain, `retained ${t}`);
    assert.equal(late.latest(topic("state")).payload, "success");
    const last = JSON.parse(late.latest(topic("last")).payload);
    assert.equal(last.runId, r1.payload.runId);
    assert.equal(last.jobId, "j1");
    assert.equal(last.filesChanged, r1.payload.filesChanged);
    assert.equal(Date.parse(late.latest(topic("last_success")).payload), r1.payload.finishedAt);
    assert.equal(late.latest(topic("duration")).payload, String(Math.round(r1.payload.durationMs / 1000)));
    assert.equal(late.latest(topic("availability")).payload, "online");

    // Home Assistant's "Run now": a press on the command topic runs the job through its wiring.
    await broker.waitForSubscription(`highball/${INSTANCE}/+/run`);
    const second = next(helper, "result");
    await s.client.publishAsync(topic("run"), "PRESS", { qos: 1 });
    const r2 = await second;
    assert.equal(r2.payload.status, "success", r2.payload.error);
    assert.notEqual(r2.payload.runId, r1.payload.runId);
    assert.equal(r2.topic, "Nightly Photos");
    await s.until(topic("last"), (m) => JSON.parse(m.payload).runId === r2.payload.runId, "the second run's result");
  });

  it("a run command for a job it does not know is an error a catch node sees", async function () {
    await loadHa();
    await broker.waitForSubscription(`highball/${INSTANCE}/+/run`);
    const caught = next(helper, "caught");
    const results = collect(helper, "result");
    const pub = await sub([]);
    await pub.client.publishAsync(`highball/${INSTANCE}/no-such-job/run`, "PRESS", { qos: 1 });
    assert.match((await caught).error.message, /No job of this Node-RED has the topic highball\/test-nr\/no-such-job\/run/);
    assert.equal(results.length, 0);
  });

  it("publishes discovery again when Home Assistant says it is online, and removes a forgotten job", async function () {
    const s = await loadHa();
    const config = `homeassistant/sensor/${DEVICE}_status/config`;
    // A broker that lost the retained config (or a user who cleared it) ...
    await s.client.publishAsync(config, "", { qos: 1, retain: true });
    await s.until(config, (m) => m.payload === "", "the cleared config");
    // ... gets it back when Home Assistant (re)starts and publishes its birth message.
    await broker.waitForSubscription("homeassistant/status");
    await s.client.publishAsync("homeassistant/status", "online", { qos: 1 });
    await s.until(config, (m) => m.payload !== "", "the config published again");

    helper.getNode("n1").receive({ action: "forget", payload: { jobId: "j1" } });
    await s.until(config, (m) => m.payload === "", "the forgotten job's empty config");
    await s.until(`homeassistant/button/${DEVICE}_run/config`, (m) => m.payload === "");
    // Empty retained messages delete: a new client is told nothing of the job.
    const late = await sub([`homeassistant/+/${DEVICE}_status/config`, `highball/${INSTANCE}/${JOB}/#`, `highball/${INSTANCE}/availability`]);
    await late.until(`highball/${INSTANCE}/availability`, (m) => m.retain);
    assert.deepEqual(late.got.filter((m) => m.topic !== `highball/${INSTANCE}/availability`), []);
  });

  it("publishes everything again when the mqtt out node's broker connection comes back", async function () {
    const s = await loadHa();
    const config = `homeassistant/sensor/${DEVICE}_status/config`;
    const mo = helper.getNode("mo");
    const fills = () => mo.status.getCalls().filter((c) => c.thisValue === mo).map((c) => c.args[0].fill);
    mo.receive({ action: "disconnect" });
    await waitFor(() => fills().at(-1) === "red", { what: "mqtt out disconnected" });
    // Meanwhile the broker loses the retained config ...
    await s.client.publishAsync(config, "", { qos: 1, retain: true });
    await s.until(config, (m) => m.payload === "", "the cleared config");
    // ... and the reconnect restores it: no Home Assistant, no inject needed.
    mo.receive({ action: "connect" });
    await s.until(config, (m) => m.payload !== "", "the config published on reconnect");
    assert.equal(JSON.parse(s.latest(config).payload).unique_id, `${DEVICE}_status`);
  });

  it("mqtt in → backup job → rsync → mqtt out: a job started from any topic, its result published", async function () {
    const flow = [
      { id: "tab", type: "tab", label: "t" },
      brokerNode(),
      mqttIn("trigger", "backup/photos/run", ["j1"]),
      job(),
      { id: "run", z: "tab", type: "highball-rsync-run", name: "rsync", wires: [["out", "result"], []] },
      { id: "out", z: "tab", type: "mqtt out", name: "", topic: "backup/photos/result", qos: "1", retain: "true", broker: "broker", wires: [] },
      { id: "result", z: "tab", type: "helper" },
    ];
    await helper.load([backupJob, rsyncRun, mqttNodes], flow);
    const s = await sub(["backup/photos/result"]);
    await broker.waitForSubscription("backup/photos/run");
    const done = next(helper, "result");
    await s.client.publishAsync("backup/photos/run", "go", { qos: 1 });
    const r = await done;
    assert.equal(r.payload.status, "success", r.payload.error);
    const published = JSON.parse((await s.until("backup/photos/result", () => true)).payload);
    assert.equal(published.runId, r.payload.runId);
    assert.equal(published.status, "success");
    assert.deepEqual(readTree(dst), readTree(src));
  });
});
