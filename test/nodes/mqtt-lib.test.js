"use strict";
// lib/mqtt: the topic layout, Home Assistant discovery payloads and the bridge's state machine.
// Pure functions, no broker (the broker path is test/nodes/mqtt.test.js).
const assert = require("node:assert/strict");
const {
  slug, mqttSettings, jobTopics, instanceTopics, runSlugOf, homeAssistantStatusTopic,
  discoveryConfigs, discoveryMessages, removalMessages, deviceId, MqttBridge, STATES,
} = require("../../dist/lib/mqtt");

const settings = (over = {}) => mqttSettings({ base: "highball", instance: "nas", version: "1.2.3", ...over }, "host").settings;

const result = (over = {}) => ({
  job: "photos", jobId: "j1", runId: "r1", engine: "rsync", command: "sync", status: "success", ok: true,
  startedAt: 1_700_000_000_000, finishedAt: 1_700_000_063_400, durationMs: 63_400, exitCode: 0,
  filesTotal: 10, filesChanged: 2, bytesTotal: 1000, bytesTransferred: 200, snapshotId: null, error: null, ...over,
});

/** topic → payload of the last message per topic. */
const byTopic = (list) => Object.fromEntries(list.map((m) => [m.topic, m.payload]));

describe("lib/mqtt", function () {
  describe("topics", function () {
    it("makes one lower-case topic level of a name, folding accents", function () {
      assert.equal(slug("Demo Photos"), "demo-photos");
      assert.equal(slug("Fotos Übersicht (NAS)"), "fotos-ubersicht-nas");
      assert.equal(slug("a/b+c#d"), "a-b-c-d");
      assert.equal(slug("  --x--  "), "x");
      assert.equal(slug("Home Assistant", "_"), "home_assistant");
      // Nothing left of the name: a hash, stable and different per name.
      assert.match(slug("写真"), /^job-[0-9a-f]{8}$/);
      assert.equal(slug("写真"), slug("写真"));
      assert.notEqual(slug("写真"), slug("音楽"));
      assert.ok(slug("x".repeat(300)).length <= 64);
    });

    it("reads the node's settings with defaults, and names what cannot work", function () {
      const d = mqttSettings({}, "Living Room Pi");
      assert.deepEqual(d.problems, []);
      assert.equal(d.settings.base, "highball");
      assert.equal(d.settings.instance, "living-room-pi");
      assert.equal(d.settings.discoveryPrefix, "homeassistant");
      assert.equal(d.settings.qos, 1);
      assert.equal(mqttSettings({ discovery: false }, "h").settings.discoveryPrefix, "");
      assert.equal(mqttSettings({ base: "home/backup", instance: "NAS 1" }, "h").settings.instance, "nas-1");
      for (const base of ["a/+/b", "a/#", "/a", "a/", "a//b"]) {
        assert.equal(mqttSettings({ base }, "h").problems.length, 1, base);
      }
      assert.match(mqttSettings({ discoveryPrefix: "ha/#" }, "h").problems[0], /discovery prefix/);
    });

    it("lays out the topics of an instance and a job", function () {
      const s = settings();
      assert.deepEqual(instanceTopics(s), { availability: "highball/nas/availability", runFilter: "highball/nas/+/run" });
      assert.deepEqual(jobTopics(s, "photos"), {
        state: "highball/nas/photos/state",
        last: "highball/nas/photos/last",
        lastSuccess: "highball/nas/photos/last_success",
        duration: "highball/nas/photos/duration",
        availability: "highball/nas/photos/availability",
        run: "highball/nas/photos/run",
        stale: "highball/nas/photos/stale",
      });
      assert.equal(homeAssistantStatusTopic(s), "homeassistant/status");
      assert.equal(homeAssistantStatusTopic(settings({ discovery: false })), null);
    });

    it("recognises this instance's run commands only", function () {
      const s = settings();
      assert.equal(runSlugOf(s, "highball/nas/photos/run"), "photos");
      for (const t of ["highball/pi/photos/run", "highball/nas/photos/state", "highball/nas/a/b/run", "highball/nas//run", "highball/nas/run", 42, undefined]) {
        assert.equal(runSlugOf(s, t), null, String(t));
      }
    });
  });

  describe("Home Assistant discovery", function () {
    const job = { jobId: "a1b2c3d4e5f6a7b8", name: "Photos", slug: "photos", engine: "rsync", runnable: true };

    it("describes a device with status, last success and duration sensors and a run button", function () {
      const s = settings();
      const configs = discoveryConfigs(s, job);
      const id = deviceId(s, job.jobId);
      assert.equal(id, "highball_nas_a1b2c3d4e5f6a7b8");
      assert.deepEqual(configs.map((c) => c.topic), [
        `homeassistant/sensor/${id}_status/config`,
        `homeassistant/sensor/${id}_last_success/config`,
        `homeassistant/sensor/${id}_duration/config`,
        `homeassistant/button/${id}_run/config`,
        `homeassistant/binary_sensor/${id}_stale/config`,
      ]);
      // No stale limit in the notify node: no Stale sensor (its config empties it).
      assert.equal(configs[4].config, null);
      configs.pop();
      const [status, last, duration, run] = configs.map((c) => c.config);
      assert.equal(status.state_topic, "highball/nas/photos/state");
      assert.equal(status.json_attributes_topic, "highball/nas/photos/last");
      assert.equal(status.device_class, "enum");
      assert.deepEqual(status.options, [...STATES]);
      assert.equal(last.device_class, "timestamp");
      assert.equal(last.state_topic, "highball/nas/photos/last_success");
      assert.equal(duration.device_class, "duration");
      assert.equal(duration.unit_of_measurement, "s");
      assert.equal(run.command_topic, "highball/nas/photos/run");
      const ids = configs.map((c) => c.config.unique_id);
      assert.equal(new Set(ids).size, 4);
      for (const c of configs.map((x) => x.config)) {
        assert.deepEqual(c.device.identifiers, [id]);
        assert.equal(c.device.name, "Backup Photos");
        assert.equal(c.device.sw_version, "1.2.3");
        assert.deepEqual(c.availability, [{ topic: "highball/nas/availability" }, { topic: "highball/nas/photos/availability" }]);
        assert.equal(c.availability_mode, "all");
      }
    });

    it("a stale limit adds a Stale binary sensor (problem class, ON/OFF) on the job's stale topic", function () {
      const s = settings({ staleHours: 24 });
      assert.equal(s.staleMs, 24 * 3600_000);
      const c = discoveryConfigs(s, job).find((x) => x.entity === "stale");
      assert.equal(c.topic, "homeassistant/binary_sensor/highball_nas_a1b2c3d4e5f6a7b8_stale/config");
      assert.equal(c.config.state_topic, "highball/nas/photos/stale");
      assert.equal(c.config.device_class, "problem");
      assert.deepEqual([c.config.payload_on, c.config.payload_off], ["ON", "OFF"]);
      const b = new MqttBridge(s);
      b.deploy([{ jobId: "j1", name: "Photos", engine: "rsync" }]);
      const now = Date.now();
      const first = b.update({ job: "Photos", jobId: "j1", runId: "r1", status: "success", finishedAt: now - 1000 });
      assert.equal(first.find((m) => m.topic === "highball/nas/photos/stale").payload, "OFF");
      assert.deepEqual(b.staleCheck(now), [], "nothing changed");
      const later = b.staleCheck(now + 25 * 3600_000);
      assert.deepEqual(later.map((m) => [m.topic, m.payload, m.retain]), [["highball/nas/photos/stale", "ON", true]]);
      assert.deepEqual(b.staleCheck(now + 26 * 3600_000), [], "told once");
    });

    it("sends retained JSON; a job with no node gets its button removed; discovery can be off", function () {
      const s = settings();
      const msgs = discoveryMessages(s, { ...job, runnable: false });
      assert.ok(msgs.every((m) => m.retain && m.qos === 1));
      assert.equal(JSON.parse(msgs[0].payload).unique_id, "highball_nas_a1b2c3d4e5f6a7b8_status");
      assert.equal(msgs[3].payload, "", "the button config is emptied");
      assert.deepEqual(removalMessages(s, job).map((m) => m.payload), ["", "", "", "", ""]);
      assert.deepEqual(discoveryMessages(settings({ discovery: false }), job), []);
    });
  });

  describe("the bridge", function () {
    it("announces deployed jobs, then publishes a result's state, last, duration and last success", function () {
      const b = new MqttBridge(settings());
      const first = byTopic(b.deploy([{ jobId: "j1", name: "Photos", engine: "rsync", enabled: true }]));
      assert.equal(first["highball/nas/photos/availability"], "online");
      assert.ok(first["homeassistant/button/highball_nas_j1_run/config"]);
      assert.equal(first["highball/nas/photos/state"], undefined, "no state before a run");

      const all = byTopic(b.announce());
      assert.equal(all["highball/nas/availability"], "online");
      assert.ok(all["homeassistant/sensor/highball_nas_j1_status/config"]);

      assert.deepEqual(byTopic(b.runStarted("j1", "Photos", "rsync")), { "highball/nas/photos/state": "running" });
      const out = byTopic(b.update(result({ job: "Photos" })));
      assert.equal(out["highball/nas/photos/state"], "success");
      assert.equal(out["highball/nas/photos/duration"], "63");
      assert.equal(out["highball/nas/photos/last_success"], new Date(1_700_000_063_400).toISOString());
      const last = JSON.parse(out["highball/nas/photos/last"]);
      assert.equal(last.runId, "r1");
      assert.equal(last.bytesTransferred, 200);
      assert.equal(last.logFile, undefined);
      // The engine's record and the run node's message are the same run: published once.
      assert.deepEqual(b.update({ ...result({ job: "Photos" }), logFile: "x.log", details: {} }), []);
    });

    it("keeps the last success when a run fails, and shows delays", function () {
      const b = new MqttBridge(settings());
      b.deploy([{ jobId: "j1", name: "photos" }]);
      b.update(result());
      const failed = byTopic(b.update(result({ runId: "r2", status: "failed", ok: false, finishedAt: 1_700_000_100_000, error: "boom" })));
      assert.equal(failed["highball/nas/photos/state"], "failed");
      assert.equal(failed["highball/nas/photos/last_success"], new Date(1_700_000_063_400).toISOString());
      assert.equal(JSON.parse(failed["highball/nas/photos/last"]).error, "boom");
      assert.deepEqual(byTopic(b.update({ job: "photos", jobId: "j1", status: "delayed", waitedMs: 600000 })), { "highball/nas/photos/state": "delayed" });
      assert.equal(b.update({ hello: "world" }), null);
      assert.equal(b.update("text"), null);
      assert.equal(b.update({ job: "x", status: "stale" }), null);
    });

    it("learns a job on first sight, without a run button when no backup-job node has it", function () {
      const b = new MqttBridge(settings());
      const out = byTopic(b.update(result({ job: "from http", jobId: "from http" })));
      assert.equal(out["highball/nas/from-http/state"], "success");
      assert.equal(out["homeassistant/button/highball_nas_from_http_run/config"], "");
      assert.ok(JSON.parse(out["homeassistant/sensor/highball_nas_from_http_status/config"]).unique_id);
      assert.deepEqual(b.runTarget("highball/nas/from-http/run"), { error: 'The job "from http" (highball/nas/from-http/run) has no deployed backup-job node to run.' });
    });

    it("moves a renamed job's topics, keeps its Home Assistant ids, and clears the old topics", function () {
      const b = new MqttBridge(settings());
      b.deploy([{ jobId: "j1", name: "photos" }]);
      b.update(result());
      const out = b.deploy([{ jobId: "j1", name: "Family photos" }]);
      const t = byTopic(out);
      for (const old of ["state", "last", "last_success", "duration", "availability"]) assert.equal(t[`highball/nas/photos/${old}`], "", old);
      assert.equal(t["highball/nas/family-photos/state"], "success");
      const status = JSON.parse(t["homeassistant/sensor/highball_nas_j1_status/config"]);
      assert.equal(status.unique_id, "highball_nas_j1_status");
      assert.equal(status.state_topic, "highball/nas/family-photos/state");
      assert.equal(status.device.name, "Backup Family photos");
      assert.deepEqual(b.runTarget("highball/nas/family-photos/run"), { jobId: "j1", name: "Family photos" });
      assert.match(b.runTarget("highball/nas/photos/run").error, /No job/);
      assert.equal(b.runTarget("highball/other/photos/run"), null);
    });

    it("gives two jobs of one name different topics, and keeps them across a restart", function () {
      const b = new MqttBridge(settings());
      b.deploy([{ jobId: "j1", name: "Photos" }, { jobId: "j2", name: "photos" }]);
      assert.equal(b.job("j1").slug, "photos");
      assert.equal(b.job("j2").slug, "photos-2");
      b.update(result({ jobId: "j2", job: "photos" }));
      const again = new MqttBridge(settings(), JSON.parse(JSON.stringify(b.snapshot())));
      assert.equal(again.job("j2").slug, "photos-2");
      assert.equal(again.job("j2").state, "success");
      assert.equal(byTopic(again.announce())["highball/nas/photos-2/state"], "success");
      assert.deepEqual(new MqttBridge(settings(), [{ nonsense: true }, null, 3]).snapshot(), []);
    });

    it("takes disabled and removed jobs offline, and back", function () {
      const b = new MqttBridge(settings());
      b.deploy([{ jobId: "j1", name: "a" }, { jobId: "j2", name: "b" }]);
      assert.deepEqual(byTopic(b.deploy([{ jobId: "j1", name: "a", enabled: false }, { jobId: "j2", name: "b" }])), { "highball/nas/a/availability": "offline" });
      const removed = byTopic(b.deploy([{ jobId: "j1", name: "a", enabled: false }]));
      assert.equal(removed["highball/nas/b/availability"], "offline");
      assert.equal(removed["homeassistant/button/highball_nas_j2_run/config"], "");
      const back = byTopic(b.deploy([{ jobId: "j1", name: "a" }, { jobId: "j2", name: "b" }]));
      assert.equal(back["highball/nas/a/availability"], "online");
      assert.equal(back["highball/nas/b/availability"], "online");
      assert.ok(JSON.parse(back["homeassistant/button/highball_nas_j2_run/config"]).command_topic);
      assert.deepEqual(b.deploy([{ jobId: "j1", name: "a" }, { jobId: "j2", name: "b" }]), [], "no change, no message");
    });

    it("forgets a job: empty configs remove it from Home Assistant, its retained topics are cleared", function () {
      const b = new MqttBridge(settings());
      b.deploy([{ jobId: "j1", name: "photos" }]);
      b.update(result());
      const out = byTopic(b.forget("photos"));
      assert.equal(out["homeassistant/sensor/highball_nas_j1_status/config"], "");
      assert.equal(out["homeassistant/button/highball_nas_j1_run/config"], "");
      assert.equal(out["highball/nas/photos/state"], "");
      assert.equal(b.forget("photos"), null);
      assert.equal(b.job("j1"), undefined);
    });

    it("fills a restarted channel from the history", function () {
      const b = new MqttBridge(settings());
      b.deploy([{ jobId: "j1", name: "photos" }]);
      const out = byTopic(b.seed("j1", result({ status: "failed", runId: "r9" }), 1_600_000_000_000));
      assert.equal(out["highball/nas/photos/state"], "failed");
      assert.equal(out["highball/nas/photos/last_success"], new Date(1_600_000_000_000).toISOString());
      assert.deepEqual(b.seed("j1", result(), 1_600_000_000_000), [], "known state is not overwritten");
      assert.deepEqual(b.seed("nope", result(), 1), []);
    });
  });
});
