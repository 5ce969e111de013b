"use strict";
// The schedule-trigger node through Node-RED's test helper: fires, control actions, status,
// errors, redeploys and its admin routes.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const helper = require("../support/red");
const triggerNode = require("../../dist/nodes/highball-schedule-trigger/highball-schedule-trigger.js");

const ID = "s1";

/** Resolves with the next `count` messages a helper node receives. */
function take(node, count = 1) {
  return new Promise((resolve) => {
    const got = [];
    const on = (msg) => {
      got.push(msg);
      if (got.length === count) {
        node.removeListener("input", on);
        resolve(count === 1 ? got[0] : got);
      }
    };
    node.on("input", on);
  });
}

/**
 * The next call of a spied Node method whose first argument matches. The helper reports calls
 * asynchronously, so a call made before listening (the node's own start-up error) can still
 * arrive: `done(err)` calls are told apart by their Error argument.
 */
function nextCall(node, method, match = (arg) => arg instanceof Error) {
  return new Promise((resolve) => {
    const on = (call) => {
      if (!match(call.args[0])) return;
      node.removeListener(`call:${method}`, on);
      resolve(call.args);
    };
    node.on(`call:${method}`, on);
  });
}

const lastStatus = (node) => node.status.lastCall.args[0];

function flow(props = {}) {
  return [
    { id: ID, type: "highball-schedule-trigger", name: "nightly", schedule: "daily at 02:00", timezone: "Europe/Berlin", missed: "skip", wires: [["fired"], ["status"]], ...props },
    { id: "fired", type: "helper" },
    { id: "status", type: "helper" },
  ];
}

describe(`highball-schedule-trigger node (Node-RED ${helper.major})`, function () {
  let dir;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hb-trigger-"));
    helper.settings({ highball: { dir } });
  });
  afterEach(async () => {
    await helper.unload();
    // The runtime's engine outlives the flow and may still be writing its first files here.
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it("shows the next run and fires on a trigger action or a plain message", async () => {
    await helper.load(triggerNode, flow());
    const n = helper.getNode(ID);
    const st = lastStatus(n);
    assert.equal(st.fill, "blue");
    assert.equal(st.shape, "ring");
    assert.match(st.text, /^next: (Mon|Tue|Wed|Thu|Fri|Sat|Sun) 02:00$/);
    assert.ok(st.text.length < 20);

    const fired = helper.getNode("fired");
    const one = take(fired);
    const before = Date.now();
    n.receive({ action: "trigger" });
    const msg = await one;
    assert.equal(msg.topic, "nightly");
    assert.deepEqual(Object.keys(msg.payload).sort(), ["firedAt", "reason", "scheduledAt"]);
    assert.equal(msg.payload.reason, "manual");
    assert.ok(msg.payload.firedAt >= before && msg.payload.firedAt <= Date.now());
    assert.equal(msg.trigger.id, ID);
    assert.equal(msg.trigger.cron, "0 2 * * *");
    assert.equal(msg.trigger.timezone, "Europe/Berlin");
    assert.equal(msg.trigger.description, "every day at 02:00");
    assert.ok(msg.trigger.next > Date.now());

    const two = take(fired);
    n.receive({ payload: true });
    assert.equal((await two).payload.reason, "manual");
  });

  it("fires on its schedule at whole-second instants", async () => {
    await helper.load(triggerNode, flow({ schedule: "* * * * * *", name: "" }));
    const msg = await take(helper.getNode("fired"));
    assert.equal(msg.payload.reason, "schedule");
    assert.equal(msg.topic, "* * * * * *", "no name: the schedule is the topic");
    assert.equal(msg.payload.scheduledAt % 1000, 0);
    assert.ok(msg.payload.firedAt >= msg.payload.scheduledAt);
    assert.ok(msg.payload.firedAt - msg.payload.scheduledAt < 1000);
    assert.equal(msg.trigger.lateMs, msg.payload.firedAt - msg.payload.scheduledAt);
  });

  it("pauses and resumes, answering on the second output and keeping the pause on disk", async () => {
    await helper.load(triggerNode, flow());
    const n = helper.getNode(ID);
    const status = helper.getNode("status");

    let reply = take(status);
    n.receive({ action: "pause" });
    let msg = await reply;
    assert.equal(msg.action, "pause");
    assert.equal(msg.payload.paused, true);
    assert.equal(msg.payload.next, null);
    assert.deepEqual(lastStatus(n), { fill: "grey", shape: "ring", text: "paused" });

    // A paused trigger does not fire on schedule.
    reply = take(status);
    n.receive({ action: "schedule", payload: "* * * * * *" });
    await reply;
    const late = await Promise.race([take(helper.getNode("fired")), new Promise((r) => setTimeout(r, 1500, "none"))]);
    assert.equal(late, "none");

    const stateFile = path.join(dir, "schedule", "state.json");
    const saved = () => JSON.parse(fs.readFileSync(stateFile, "utf8")).triggers[ID];
    assert.equal(saved().paused, true);

    reply = take(status);
    n.receive({ action: "resume" });
    msg = await reply;
    assert.equal(msg.payload.paused, false);
    assert.ok(msg.payload.next > Date.now() - 1000);
    assert.equal(lastStatus(n).fill, "blue");
    const fired = await take(helper.getNode("fired"));
    assert.equal(fired.payload.reason, "schedule");
  });

  it("answers the status action with next, paused and schedule", async () => {
    await helper.load(triggerNode, flow({ missed: "within", missedHours: "6" }));
    const n = helper.getNode(ID);
    const reply = take(helper.getNode("status"));
    n.receive({ action: "status" });
    const msg = await reply;
    assert.equal(msg.topic, "nightly");
    assert.equal(msg.action, "status");
    const p = msg.payload;
    assert.equal(p.schedule, "daily at 02:00");
    assert.equal(p.cron, "0 2 * * *");
    assert.equal(p.paused, false);
    assert.equal(p.missed, "within:6");
    assert.equal(p.timezone, "Europe/Berlin");
    assert.ok(p.next > Date.now());
    assert.equal(`next: ${p.nextText}`, lastStatus(n).text);
    assert.equal(p.error, null);
  });

  it("changes the schedule at runtime, and refuses an invalid one keeping the old", async () => {
    await helper.load(triggerNode, flow());
    const n = helper.getNode(ID);
    const status = helper.getNode("status");

    const reply = take(status);
    n.receive({ action: "schedule", payload: "mon..fri at 06:15" });
    const msg = await reply;
    assert.equal(msg.payload.cron, "15 6 * * 1-5");
    assert.match(lastStatus(n).text, /^next: (Mon|Tue|Wed|Thu|Fri) 06:15$/);

    const err = nextCall(n, "error");
    n.receive({ action: "schedule", payload: "every blue moon" });
    const [e] = await err;
    assert.equal(String(e.message || e), 'invalid schedule "every blue moon": expected cron like "0 2 * * *" or "daily at 02:00"');
    const check = take(status);
    n.receive({ action: "status" });
    assert.equal((await check).payload.cron, "15 6 * * 1-5", "the old schedule stays");
    assert.equal(lastStatus(n).fill, "blue");

    const other = take(status);
    n.receive({ action: "schedule", payload: { schedule: "daily at 04:00", timezone: "America/New_York" } });
    const changed = (await other).payload;
    assert.equal(changed.timezone, "America/New_York");
    assert.equal(changed.cron, "0 4 * * *");
  });

  it("shows a red status and an error for an invalid schedule or timezone, and can be fixed by message", async () => {
    await helper.load(triggerNode, flow({ schedule: "every blue moon" }));
    const n = helper.getNode(ID);
    assert.deepEqual(lastStatus(n), { fill: "red", shape: "ring", text: "invalid schedule" });
    assert.ok(n.error.calledWithMatch(/^invalid schedule "every blue moon": expected cron like/));

    const err = nextCall(n, "error");
    n.receive({ action: "pause" });
    assert.match(String((await err)[0].message), /^cannot pause: invalid schedule "every blue moon"/);

    // A manual fire still works without a valid schedule.
    const fired = take(helper.getNode("fired"));
    n.receive({ action: "trigger" });
    assert.equal((await fired).payload.reason, "manual");

    const reply = take(helper.getNode("status"));
    n.receive({ action: "schedule", payload: "hourly" });
    assert.equal((await reply).payload.error, null);
    assert.match(lastStatus(n).text, /^next: \w{3} \d\d:00$/);
    await helper.unload();

    await helper.load(triggerNode, flow({ timezone: "Mars/Olympus" }));
    const bad = helper.getNode(ID);
    assert.deepEqual(lastStatus(bad), { fill: "red", shape: "ring", text: "invalid timezone" });
    assert.ok(bad.error.calledWithMatch(/^unknown timezone "Mars\/Olympus"/));
  });

  it("refuses an unknown action with a sentence naming the valid ones", async () => {
    await helper.load(triggerNode, flow());
    const n = helper.getNode(ID);
    const err = nextCall(n, "error");
    n.receive({ action: "explode" });
    assert.equal(String((await err)[0].message), 'unknown action "explode": expected trigger, pause, resume, status, schedule (or no action to fire now)');
  });

  it("passes the input message through on a manual fire when asked to", async () => {
    await helper.load(triggerNode, flow({ passthrough: true }));
    const n = helper.getNode(ID);
    const got = take(helper.getNode("fired"));
    n.receive({ action: "trigger", payload: "button", job: { name: "photos" } });
    const msg = await got;
    assert.deepEqual(msg.job, { name: "photos" });
    assert.equal(msg.action, undefined);
    assert.equal(msg.trigger.input, "button");
    assert.equal(msg.payload.reason, "manual");
  });

  it("never fires an instant twice across a redeploy", async () => {
    const f = flow({ schedule: "* * * * * *" });
    await helper.load(triggerNode, f);
    const seen = [];
    const record = (msg) => seen.push(msg.payload.scheduledAt);
    helper.getNode("fired").on("input", record);
    await take(helper.getNode("fired"));
    // Redeploy the whole flow twice in quick succession.
    await helper.setFlows(f, "full");
    helper.getNode("fired").on("input", record);
    await helper.setFlows(f, "full");
    helper.getNode("fired").on("input", record);
    await take(helper.getNode("fired"), 2);
    assert.ok(seen.length >= 3, `fires seen: ${seen.length}`);
    assert.equal(new Set(seen).size, seen.length, `duplicate instants: ${seen}`);
    const st = JSON.parse(fs.readFileSync(path.join(dir, "schedule", "state.json"), "utf8"));
    assert.equal(st.triggers[ID].lastScheduledAt % 1000, 0);
  });

  it("previews a schedule through the admin route", async () => {
    await helper.load(triggerNode, flow());
    const ok = await helper.request()
      .get("/highball/schedule/preview")
      .query({ expr: "weekly", tz: "Europe/Berlin", weeklyDay: "mon", weeklyTime: "04:30" })
      .expect(200);
    assert.equal(ok.body.cron, "30 4 * * 1");
    assert.equal(ok.body.timezone, "Europe/Berlin");
    assert.equal(ok.body.next.length, 5);
    for (const t of ok.body.next) assert.equal(new Date(t).getUTCDay() === 1 || new Date(t).getUTCDay() === 0, true);
    assert.match(ok.body.local[0], /^Mon \d{4}-\d\d-\d\d 04:30:00 /);

    const bad = await helper.request().get("/highball/schedule/preview").query({ expr: "every blue moon" }).expect(400);
    assert.deepEqual(bad.body, { error: 'invalid schedule "every blue moon": expected cron like "0 2 * * *" or "daily at 02:00"' });
    const tz = await helper.request().get("/highball/schedule/preview").query({ expr: "daily", tz: "Nowhere/Land" }).expect(400);
    assert.match(tz.body.error, /^unknown timezone "Nowhere\/Land"/);
  });

  it("fires the deployed node through the admin route, and answers 404 for an unknown id", async () => {
    await helper.load(triggerNode, flow());
    const got = take(helper.getNode("fired"));
    const r = await helper.request().post(`/highball/schedule/${ID}/trigger`).expect(200);
    const msg = await got;
    assert.equal(msg.payload.reason, "manual");
    assert.equal(r.body.firedAt, msg.payload.firedAt);
    const missing = await helper.request().post("/highball/schedule/nope/trigger").expect(404);
    assert.match(missing.body.error, /no deployed schedule trigger has id "nope"/);
  });

  it("mounts its admin routes once however often the module is loaded", async () => {
    await helper.load(triggerNode, flow());
    const app = helper._httpAdmin;
    // The module's init run again against the same admin app (a second node set, a reload).
    triggerNode({
      httpAdmin: app, auth: { needsPermission: () => (req, res, next) => next() },
      nodes: { registerType() {}, getNode() { return null; } }, settings: {}, log: console,
    });
    const routes = app._router.stack.filter((l) => l.route && l.route.path === "/highball/schedule/preview");
    assert.equal(routes.length, 1);
  });

  it("ships an editor file Node-RED and the catalogue can read, with its catalog and icon", () => {
    const dist = path.join(__dirname, "../../dist/nodes/highball-schedule-trigger");
    const html = fs.readFileSync(path.join(dist, "highball-schedule-trigger.html"), "utf8");
    assert.match(html, /<script type="text\/javascript">/);
    assert.match(html, /RED\.nodes\.registerType\('highball-schedule-trigger', \{/);
    assert.match(html, /category: 'backup'/);
    assert.match(html, /color: '#a6bbcf'/);
    assert.match(html, /icon: "highball-schedule\.svg"/);
    assert.match(html, /<script type="text\/html" data-template-name="highball-schedule-trigger">/);
    const help = /<script type="text\/markdown" data-help-name="highball-schedule-trigger">\n([\s\S]*?)<\/script>/.exec(html);
    assert.ok(help, "markdown help");
    assert.match(help[1], /^Fires a message on a schedule/, "first paragraph is the tooltip, not indented");
    for (const h of ["### Inputs", "### Outputs", "### Details"]) assert.ok(help[1].includes(`\n${h}\n`), h);
    const catalog = JSON.parse(fs.readFileSync(path.join(dist, "locales/en-US/highball-schedule-trigger.json"), "utf8"));
    const keys = [...html.matchAll(/highball-schedule-trigger\.([\w.]+)/g)].map((m) => m[1]).filter((k) => k.includes("."));
    assert.ok(keys.length > 10);
    for (const k of keys) {
      const v = k.split(".").reduce((o, part) => (o ? o[part] : undefined), catalog["highball-schedule-trigger"]);
      assert.equal(typeof v, "string", `catalog has ${k}`);
    }
    const svg = fs.readFileSync(path.join(dist, "icons/highball-schedule.svg"), "utf8");
    assert.match(svg, /^<svg [^>]*width="40" height="60"/);
  });
});
