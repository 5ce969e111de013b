"use strict";
// Schedule engine: parsing (cron, human forms, presets), next instants across DST and zones,
// the one-timer Scheduler on a controllable clock, and missed-run policies across restarts.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const {
  parseSchedule, nextRuns, resolveTimezone, parseMissedPolicy, formatMissedPolicy, shortWhen,
  Scheduler, ManualClock, sharedScheduler, scheduleStateFile, closeSharedSchedulers,
} = require("../../dist/lib/schedule");

const iso = (d) => new Date(d).toISOString();
const runs = (text, opts, from, n) => nextRuns(parseSchedule(text, opts), Date.parse(from), n).map(iso);

describe("schedule parsing", () => {
  it("reads PRestic's human forms and Highball's presets into cron", () => {
    const cases = {
      "daily at 02:00": "0 2 * * *",
      "mon,tue at 12:00": "0 12 * * 1,2",
      "Mon, Tue at 12:00": "0 12 * * 1,2",
      "monthly at 03:00": "0 3 1 * *",
      "hourly": "0 * * * *",
      "daily at *:30": "30 * * * *",
      "weekly": "0 3 * * 0",
      "mon..fri at 06:15": "15 6 * * 1-5",
      "mon-fri at 6:15": "15 6 * * 1-5",
      "mon to fri at 06:15": "15 6 * * 1-5",
      "fri..mon at 23:00": "0 23 * * 0,1,5,6",
      "weekdays at 07:00": "0 7 * * 1-5",
      "sat,sun": "0 2 * * 0,6",
      "daily": "0 2 * * *",
      "monthly": "0 3 1 * *",
      "hourly at *:15": "15 * * * *",
      "every 15 minutes": "*/15 * * * *",
      "every 2 hours": "0 */2 * * *",
      "every monday at 01:00": "0 1 * * 1",
      "0 2 * * *": "0 2 * * *",
      "*/10 * * * * *": "*/10 * * * * *",
    };
    for (const [text, cron] of Object.entries(cases)) {
      assert.equal(parseSchedule(text, { timezone: "UTC" }).cron, cron, text);
    }
    const p = parseSchedule("mon..fri at 06:15", { timezone: "Europe/Berlin" });
    assert.deepEqual(p, { text: "mon..fri at 06:15", cron: "15 6 * * 1-5", description: "on Mon–Fri at 06:15", timezone: "Europe/Berlin", kind: "human" });
    assert.equal(parseSchedule("hourly").kind, "preset");
    assert.equal(parseSchedule("0 2 * * *").kind, "cron");
    assert.equal(parseSchedule("0 2 * * *").description, "every day at 02:00");
  });

  it("uses configured preset times", () => {
    const presets = { hourlyMinute: "20", dailyTime: "01:45", weeklyDay: "wed", weeklyTime: "04:30", monthlyDay: 15, monthlyTime: "05:00" };
    assert.equal(parseSchedule("hourly", { presets }).cron, "20 * * * *");
    assert.equal(parseSchedule("daily", { presets }).cron, "45 1 * * *");
    assert.equal(parseSchedule("weekly", { presets }).cron, "30 4 * * 3");
    assert.equal(parseSchedule("weekly at 06:00", { presets }).cron, "0 6 * * 3");
    assert.equal(parseSchedule("monthly", { presets }).cron, "0 5 15 * *");
    // Blank fields fall back to the defaults (an editor form sends "").
    assert.equal(parseSchedule("daily", { presets: { dailyTime: "" } }).cron, "0 2 * * *");
    assert.deepEqual(
      runs("weekly", { timezone: "Europe/Berlin", presets }, "2025-06-01T00:00:00Z", 2),
      ["2025-06-04T02:30:00.000Z", "2025-06-11T02:30:00.000Z"],
    );
  });

  it("gives the right next instants for human forms", () => {
    const from = "2025-06-04T10:00:00Z"; // a Wednesday
    assert.deepEqual(runs("daily at 02:00", { timezone: "UTC" }, from, 2), ["2025-06-05T02:00:00.000Z", "2025-06-06T02:00:00.000Z"]);
    assert.deepEqual(runs("mon,tue at 12:00", { timezone: "UTC" }, from, 3),
      ["2025-06-09T12:00:00.000Z", "2025-06-10T12:00:00.000Z", "2025-06-16T12:00:00.000Z"]);
    assert.deepEqual(runs("monthly at 03:00", { timezone: "UTC" }, from, 2), ["2025-07-01T03:00:00.000Z", "2025-08-01T03:00:00.000Z"]);
    assert.deepEqual(runs("daily at *:30", { timezone: "UTC" }, from, 2), ["2025-06-04T10:30:00.000Z", "2025-06-04T11:30:00.000Z"]);
    assert.deepEqual(runs("hourly", { timezone: "UTC" }, from, 2), ["2025-06-04T11:00:00.000Z", "2025-06-04T12:00:00.000Z"]);
    assert.deepEqual(runs("mon..fri at 06:15", { timezone: "UTC" }, "2025-06-06T07:00:00Z", 2), ["2025-06-09T06:15:00.000Z", "2025-06-10T06:15:00.000Z"]);
    // The start is exclusive: an instant exactly at `from` is not "next".
    assert.deepEqual(runs("daily at 02:00", { timezone: "UTC" }, "2025-06-05T02:00:00Z", 1), ["2025-06-06T02:00:00.000Z"]);
  });

  it("reads wall-clock times in the schedule's timezone", () => {
    const from = "2025-01-15T12:00:00Z";
    assert.deepEqual(runs("daily at 09:00", { timezone: "Asia/Tokyo" }, from, 1), ["2025-01-16T00:00:00.000Z"]);
    assert.deepEqual(runs("daily at 09:00", { timezone: "Asia/Kolkata" }, from, 1), ["2025-01-16T03:30:00.000Z"]);
    assert.deepEqual(runs("daily at 09:00", { timezone: "America/New_York" }, from, 1), ["2025-01-15T14:00:00.000Z"]);
    assert.deepEqual(runs("daily at 09:00", { timezone: "Australia/Sydney" }, from, 1), ["2025-01-15T22:00:00.000Z"]);
    assert.equal(parseSchedule("daily", { timezone: "europe/berlin" }).timezone, "Europe/Berlin");
    assert.equal(resolveTimezone(""), Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  describe("DST", () => {
    it("Europe/Berlin spring-forward: a time in the gap runs at 03:00, hourly skips the missing hour", () => {
      const tz = { timezone: "Europe/Berlin" };
      // 2025-03-30 02:00 CET -> 03:00 CEST; 02:30 does not exist that day.
      assert.deepEqual(runs("daily at 02:30", tz, "2025-03-28T12:00:00Z", 4), [
        "2025-03-29T01:30:00.000Z", // 02:30 CET
        "2025-03-30T01:00:00.000Z", // 03:00 CEST, first valid time after the gap
        "2025-03-31T00:30:00.000Z", // 02:30 CEST
        "2025-04-01T00:30:00.000Z",
      ]);
      assert.deepEqual(runs("hourly", tz, "2025-03-30T00:30:00Z", 3), [
        "2025-03-30T01:00:00.000Z", // 03:00 CEST (02:00 never happens)
        "2025-03-30T02:00:00.000Z",
        "2025-03-30T03:00:00.000Z",
      ]);
      assert.deepEqual(runs("daily at 03:00", tz, "2025-03-29T12:00:00Z", 1), ["2025-03-30T01:00:00.000Z"]);
      // A list of hours counts as fixed times too: the 02:30 run is moved, not lost.
      assert.deepEqual(runs("30 2,14 * * *", tz, "2025-03-29T20:00:00Z", 3),
        ["2025-03-30T01:00:00.000Z", "2025-03-30T12:30:00.000Z", "2025-03-31T00:30:00.000Z"]);
    });

    it("Europe/Berlin fall-back: a fixed time runs once, hourly runs in both copies of 02:00", () => {
      const tz = { timezone: "Europe/Berlin" };
      // 2025-10-26 03:00 CEST -> 02:00 CET; 02:00-02:59 happens twice.
      assert.deepEqual(runs("daily at 02:30", tz, "2025-10-25T12:00:00Z", 2), [
        "2025-10-26T00:30:00.000Z", // 02:30 CEST, once
        "2025-10-27T01:30:00.000Z", // 02:30 CET
      ]);
      assert.deepEqual(runs("hourly", tz, "2025-10-25T23:30:00Z", 3), [
        "2025-10-26T00:00:00.000Z", // 02:00 CEST
        "2025-10-26T01:00:00.000Z", // 02:00 CET
        "2025-10-26T02:00:00.000Z", // 03:00 CET
      ]);
    });

    it("America/New_York spring-forward and fall-back", () => {
      const tz = { timezone: "America/New_York" };
      // 2025-03-09 02:00 EST -> 03:00 EDT.
      assert.deepEqual(runs("daily at 02:00", tz, "2025-03-08T12:00:00Z", 3), [
        "2025-03-09T07:00:00.000Z", // 03:00 EDT
        "2025-03-10T06:00:00.000Z",
        "2025-03-11T06:00:00.000Z",
      ]);
      // 2025-11-02 02:00 EDT -> 01:00 EST; 01:30 happens twice, runs once.
      assert.deepEqual(runs("30 1 * * *", tz, "2025-11-01T12:00:00Z", 2), ["2025-11-02T05:30:00.000Z", "2025-11-03T06:30:00.000Z"]);
    });
  });

  describe("errors", () => {
    const fails = (text, opts, re) => assert.throws(() => parseSchedule(text, opts), (err) => {
      assert.match(err.message, re);
      return true;
    });

    it("says what was expected for text it cannot read", () => {
      assert.throws(() => parseSchedule("every blue moon"), {
        message: 'invalid schedule "every blue moon": expected cron like "0 2 * * *" or "daily at 02:00"',
      });
      fails("", {}, /^invalid schedule "": it is empty/);
      fails("daily at noon", {}, /^invalid schedule "daily at noon": "noon" is not understood; use a time like 02:00/);
      fails("daily at 25:00", {}, /hour 25 is out of range 00-23/);
      fails("daily at 02:75", {}, /minute 75 is out of range 00-59/);
      fails("daily at 2:5", {}, /"2:5" is not a time; use HH:MM/);
      fails("hourly at 02:00", {}, /give only the minute, like "hourly at \*:15"/);
      fails("monthly mon", {}, /cannot take day names/);
      fails("every 7 minutes", {}, /does not divide an hour evenly/);
      fails("daily weekly", {}, /"daily" and "weekly" cannot be combined/);
    });

    it("reports bad cron with croner's reason", () => {
      fails("0 25 * * *", {}, /^invalid schedule "0 25 \* \* \*": Invalid value for hour: 25; expected cron like/);
      fails("0 0 2 * * * *", {}, /cron needs 5 fields .* or 6 \(seconds first\), not 7/);
      fails("0 0 30 2 *", {}, /it never fires/);
      fails("1 2 3", {}, /expected cron like "0 2 \* \* \*"/);
    });

    it("rejects unknown timezones and bad preset defaults", () => {
      assert.throws(() => parseSchedule("daily", { timezone: "Mars/Olympus" }), {
        message: 'unknown timezone "Mars/Olympus": expected an IANA name like "Europe/Berlin", "America/New_York" or "UTC"',
      });
      assert.throws(() => resolveTimezone("Europe/Berlinn"), /unknown timezone "Europe\/Berlinn"/);
      fails("daily", { presets: { dailyTime: "26:00" } }, /^invalid preset default: daily time "26:00": hour 26/);
      fails("weekly", { presets: { weeklyDay: "someday" } }, /weekly day "someday" is not a day/);
      fails("hourly", { presets: { hourlyMinute: 60 } }, /hourly minute "60" must be a whole number 0-59/);
    });

    it("reads missed-run policies and rejects bad ones", () => {
      assert.deepEqual(parseMissedPolicy("skip"), { mode: "skip" });
      assert.deepEqual(parseMissedPolicy(""), { mode: "skip" });
      assert.deepEqual(parseMissedPolicy("startup"), { mode: "startup" });
      assert.deepEqual(parseMissedPolicy("within:6"), { mode: "within", hours: 6 });
      assert.deepEqual(parseMissedPolicy("within", "1.5"), { mode: "within", hours: 1.5 });
      assert.equal(formatMissedPolicy({ mode: "within", hours: 6 }), "within:6");
      assert.throws(() => parseMissedPolicy("sometimes"), /invalid missed-run policy "sometimes": expected "skip", "startup" or "within:N"/);
      assert.throws(() => parseMissedPolicy("within:0"), /hours must be more than 0/);
      assert.throws(() => parseMissedPolicy("within"), /hours must be more than 0/);
    });
  });

  it("formats a short next-run text for the node status", () => {
    const now = Date.parse("2025-06-04T10:00:00Z");
    assert.equal(shortWhen(Date.parse("2025-06-09T00:00:00Z"), "Europe/Berlin", now), "Mon 02:00");
    assert.equal(shortWhen(Date.parse("2025-07-01T01:00:00Z"), "Europe/Berlin", now), "1 Jul 03:00");
    assert.equal(shortWhen(Date.parse("2025-06-04T10:00:10Z"), "UTC", now), "Wed 10:00:10");
    assert.equal(`next: ${shortWhen(Date.parse("2025-12-30T23:59:00Z"), "UTC", now)}`, "next: 30 Dec 23:59");
  });
});

/** A Scheduler on a manual clock, recording every fire. */
function harness(start, options = {}) {
  const clock = options.clock || new ManualClock(start);
  const fired = [];
  const errors = [];
  const scheduler = new Scheduler({ clock, onError: (err, id) => errors.push({ err, id }), ...options.scheduler });
  const add = (id, text, extra = {}) => scheduler.add(id, {
    schedule: parseSchedule(text, { timezone: extra.timezone || "UTC" }),
    missed: extra.missed ? parseMissedPolicy(extra.missed) : undefined,
    onFire: (ev) => fired.push(ev),
    onChange: extra.onChange,
  });
  return { clock, scheduler, fired, errors, add };
}

const at = (id, reason = "schedule") => (ev) => ev.id === id && ev.reason === reason;

describe("Scheduler", () => {
  it("fires each trigger at its instants, on time, from one timer", () => {
    const { clock, scheduler, fired, add } = harness("2025-06-04T00:00:00Z");
    add("a", "daily at 02:00");
    add("b", "every 15 minutes");
    add("c", "*/20 * * * * *");
    assert.equal(clock.pending, 1, "one timer for all triggers");
    clock.advanceTo("2025-06-04T02:00:00Z");
    assert.equal(clock.pending, 1);
    const a = fired.filter(at("a"));
    assert.deepEqual(a.map((e) => iso(e.scheduledAt)), ["2025-06-04T02:00:00.000Z"]);
    assert.equal(fired.filter(at("b")).length, 8);
    assert.equal(fired.filter(at("c")).length, 2 * 3600 / 20);
    for (const ev of fired) assert.equal(ev.firedAt, ev.scheduledAt, "a controllable clock fires exactly on time");
    assert.deepEqual(fired.filter(at("b")).map((e) => iso(e.scheduledAt)).slice(0, 2), ["2025-06-04T00:15:00.000Z", "2025-06-04T00:30:00.000Z"]);
    assert.equal(scheduler.info("a").next, Date.parse("2025-06-05T02:00:00Z"));
  });

  it("keeps one timer for 1,000 triggers and fires them all", () => {
    const { clock, scheduler, fired, add } = harness("2025-06-04T00:00:30Z");
    for (let i = 0; i < 1000; i++) add(`t${i}`, i % 2 ? "* * * * *" : `${i % 60} * * * *`);
    assert.equal(scheduler.size, 1000);
    assert.equal(clock.pending, 1);
    clock.advanceTo("2025-06-04T01:00:00Z");
    // 500 every-minute triggers x 60 minutes, and 500 hourly ones at minute i%60 within the hour.
    const everyMinute = fired.filter((e) => Number(e.id.slice(1)) % 2 === 1).length;
    const hourly = fired.filter((e) => Number(e.id.slice(1)) % 2 === 0).length;
    assert.equal(everyMinute, 500 * 60);
    assert.equal(hourly, 500);
    assert.ok(scheduler.stats.wakeups <= 61, `wakeups ${scheduler.stats.wakeups}`);
    assert.equal(clock.pending, 1);
  });

  it("fires across DST changes at the instants croner computes for the zone", () => {
    const { clock, fired, add } = harness("2025-03-29T00:00:00Z");
    add("berlin", "daily at 02:30", { timezone: "Europe/Berlin" });
    add("berlinHourly", "hourly", { timezone: "Europe/Berlin" });
    add("ny", "daily at 02:00", { timezone: "America/New_York" });
    clock.advanceTo("2025-03-31T12:00:00Z");
    assert.deepEqual(fired.filter(at("berlin")).map((e) => iso(e.scheduledAt)),
      ["2025-03-29T01:30:00.000Z", "2025-03-30T01:00:00.000Z", "2025-03-31T00:30:00.000Z"]);
    const hourlySpring = fired.filter(at("berlinHourly")).map((e) => iso(e.scheduledAt));
    assert.ok(hourlySpring.includes("2025-03-30T00:00:00.000Z")); // 01:00 CET
    assert.ok(hourlySpring.includes("2025-03-30T01:00:00.000Z")); // 03:00 CEST
    const berlinDay = (t) => t >= "2025-03-29T23:00:00.000Z" && t < "2025-03-30T22:00:00.000Z";
    assert.equal(hourlySpring.filter(berlinDay).length, 23, "a 23-hour day");
    assert.deepEqual(fired.filter(at("ny")).map((e) => iso(e.scheduledAt)),
      ["2025-03-29T06:00:00.000Z", "2025-03-30T06:00:00.000Z", "2025-03-31T06:00:00.000Z"]);

    // New York springs forward on 2025-03-09: 02:00 does not exist, the run moves to 03:00 EDT.
    const nySpring = harness("2025-03-07T12:00:00Z");
    nySpring.add("ny", "daily at 02:00", { timezone: "America/New_York" });
    nySpring.clock.advanceTo("2025-03-10T12:00:00Z");
    assert.deepEqual(nySpring.fired.map((e) => iso(e.scheduledAt)),
      ["2025-03-08T07:00:00.000Z", "2025-03-09T07:00:00.000Z", "2025-03-10T06:00:00.000Z"]);

    const fall = harness("2025-10-25T12:00:00Z");
    fall.add("berlin", "daily at 02:30", { timezone: "Europe/Berlin" });
    fall.add("berlinHourly", "hourly", { timezone: "Europe/Berlin" });
    fall.add("ny", "30 1 * * *", { timezone: "America/New_York" });
    fall.clock.advanceTo("2025-11-03T12:00:00Z");
    assert.deepEqual(fall.fired.filter(at("berlin")).slice(0, 2).map((e) => iso(e.scheduledAt)),
      ["2025-10-26T00:30:00.000Z", "2025-10-27T01:30:00.000Z"]);
    const hourlyFall = fall.fired.filter(at("berlinHourly")).map((e) => e.scheduledAt)
      .filter((t) => t >= Date.parse("2025-10-25T22:00:00Z") && t < Date.parse("2025-10-26T23:00:00Z"));
    assert.equal(hourlyFall.length, 25, "a 25-hour day");
    const ny = fall.fired.filter(at("ny")).map((e) => iso(e.scheduledAt));
    assert.ok(ny.includes("2025-11-02T05:30:00.000Z"));
    assert.ok(!ny.includes("2025-11-02T06:30:00.000Z"), "the repeated 01:30 fires once");
    for (const ev of fall.fired) assert.equal(ev.firedAt, ev.scheduledAt);
  });

  it("pauses, resumes, changes the schedule and fires on demand", () => {
    const changes = [];
    const { clock, scheduler, fired, add } = harness("2025-06-04T00:00:00Z");
    add("a", "hourly", { onChange: (info) => changes.push(info) });
    clock.advanceTo("2025-06-04T01:00:00Z");
    assert.equal(fired.length, 1);
    assert.equal(changes.at(-1).next, Date.parse("2025-06-04T02:00:00Z"));

    const paused = scheduler.pause("a");
    assert.equal(paused.paused, true);
    assert.equal(paused.next, null);
    clock.advanceTo("2025-06-04T04:30:00Z");
    assert.equal(fired.length, 1, "nothing fires while paused");

    const manual = scheduler.trigger("a");
    assert.equal(manual.reason, "manual");
    assert.equal(manual.scheduledAt, Date.parse("2025-06-04T04:30:00Z"));
    assert.equal(fired.length, 2);

    const resumed = scheduler.resume("a");
    assert.equal(resumed.next, Date.parse("2025-06-04T05:00:00Z"), "resume counts from now; paused hours are not caught up");
    clock.advanceTo("2025-06-04T05:00:00Z");
    assert.deepEqual(fired.slice(2).map((e) => [iso(e.scheduledAt), e.reason]), [["2025-06-04T05:00:00.000Z", "schedule"]]);

    const changed = scheduler.reschedule("a", parseSchedule("daily at 06:30", { timezone: "UTC" }));
    assert.equal(changed.next, Date.parse("2025-06-04T06:30:00Z"));
    assert.equal(changed.schedule.cron, "30 6 * * *");
    clock.advanceTo("2025-06-04T07:30:00Z");
    assert.deepEqual(fired.slice(3).map((e) => iso(e.scheduledAt)), ["2025-06-04T06:30:00.000Z"]);
    assert.ok(changes.some((c) => c.paused) && changes.some((c) => c.schedule.cron === "30 6 * * *"));
    assert.throws(() => scheduler.pause("nope"), /no schedule trigger "nope" is registered/);
  });

  it("contains a failing callback and keeps firing the others", () => {
    const clock = new ManualClock("2025-06-04T00:00:00Z");
    const errors = [];
    const good = [];
    const s = new Scheduler({ clock, onError: (err, id) => errors.push([err.message, id]) });
    s.add("bad", { schedule: parseSchedule("hourly", { timezone: "UTC" }), onFire: () => { throw new Error("boom"); } });
    s.add("good", { schedule: parseSchedule("hourly", { timezone: "UTC" }), onFire: (ev) => good.push(ev) });
    clock.advanceTo("2025-06-04T02:00:00Z");
    assert.equal(good.length, 2);
    assert.deepEqual(errors, [["boom", "bad"], ["boom", "bad"]]);
  });

  it("lets a callback remove or reschedule its own trigger", () => {
    const clock = new ManualClock("2025-06-04T00:00:00Z");
    const s = new Scheduler({ clock });
    const seen = [];
    s.add("once", { schedule: parseSchedule("hourly", { timezone: "UTC" }), onFire: (ev) => { seen.push(ev.id); s.remove("once"); } });
    s.add("move", {
      schedule: parseSchedule("hourly", { timezone: "UTC" }),
      onFire: (ev) => { seen.push(ev.id); s.reschedule("move", parseSchedule("daily at 05:00", { timezone: "UTC" })); },
    });
    clock.advanceTo("2025-06-05T06:00:00Z");
    // "move" fires at 01:00 on the hourly schedule, then at 05:00 on each day of its new one.
    assert.deepEqual(seen, ["once", "move", "move", "move"]);
    assert.equal(s.info("move").next, Date.parse("2025-06-06T05:00:00Z"));
    assert.equal(s.has("once"), false);
  });

  it("treats an instant reached late (a suspended machine) by the missed-run policy", () => {
    const { clock, fired, add } = harness("2025-06-04T00:00:00Z");
    add("skip", "hourly", { missed: "skip" });
    add("catch", "hourly", { missed: "startup" });
    add("near", "daily at 02:00", { missed: "within:1" });
    clock.advanceTo("2025-06-04T00:30:00Z");
    clock.jump("2025-06-04T05:10:00Z"); // slept through 01:00..05:00
    clock.advance(0);
    assert.deepEqual(fired.map((e) => [e.id, iso(e.scheduledAt), e.reason]), [["catch", "2025-06-04T05:00:00.000Z", "missed"]]);
    clock.advanceTo("2025-06-04T06:00:00Z");
    assert.deepEqual(fired.slice(1).map((e) => [e.id, e.reason]).sort(), [["catch", "schedule"], ["skip", "schedule"]]);
    // Late by less than the grace period is still an on-schedule fire.
    clock.jump("2025-06-04T07:00:20Z");
    clock.advance(0);
    assert.deepEqual(fired.slice(3).map((e) => [e.id, iso(e.scheduledAt), e.reason]).sort(),
      [["catch", "2025-06-04T07:00:00.000Z", "schedule"], ["skip", "2025-06-04T07:00:00.000Z", "schedule"]]);
    assert.equal(fired.filter((e) => e.id === "near").length, 0);
  });
});

describe("Scheduler across restarts", () => {
  let dir;
  let file;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hb-sched-"));
    file = path.join(dir, "schedule", "state.json");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Run a scheduler from `start` to `stop` with the given triggers, then shut it down. */
  async function session(start, stop, triggers) {
    const h = harness(start, { scheduler: { stateFile: file } });
    for (const [id, text, missed] of triggers) h.add(id, text, { missed });
    if (stop) h.clock.advanceTo(stop);
    h.clock.advance(0);
    await h.scheduler.close();
    return h;
  }

  it("persists the last fire atomically, owner-only", async () => {
    await session("2025-06-04T01:59:00Z", "2025-06-04T02:00:00Z", [["a", "daily at 02:00"]]);
    const st = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.equal(st.version, 1);
    assert.equal(st.triggers.a.lastScheduledAt, Date.parse("2025-06-04T02:00:00Z"));
    assert.equal(st.triggers.a.lastFiredAt, Date.parse("2025-06-04T02:00:00Z"));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["state.json"], "no temp file left behind");
  });

  it("startup: runs once for the most recent missed instant", async () => {
    const t = [["a", "daily at 02:00", "startup"]];
    await session("2025-06-04T01:00:00Z", "2025-06-04T03:00:00Z", t);
    // Down for two nights; back at 10:00.
    const h = await session("2025-06-06T10:00:00Z", "2025-06-07T03:00:00Z", t);
    assert.deepEqual(h.fired.map((e) => [iso(e.scheduledAt), e.reason, iso(e.firedAt)]), [
      ["2025-06-06T02:00:00.000Z", "missed", "2025-06-06T10:00:00.000Z"],
      ["2025-06-07T02:00:00.000Z", "schedule", "2025-06-07T02:00:00.000Z"],
    ]);
  });

  it("skip: runs nothing for missed instants", async () => {
    const t = [["a", "daily at 02:00", "skip"]];
    await session("2025-06-04T01:00:00Z", "2025-06-04T03:00:00Z", t);
    const h = await session("2025-06-06T10:00:00Z", "2025-06-07T03:00:00Z", t);
    assert.deepEqual(h.fired.map((e) => [iso(e.scheduledAt), e.reason]), [["2025-06-07T02:00:00.000Z", "schedule"]]);
  });

  it("within:N: runs once only if the most recent missed instant is at most N hours old", async () => {
    const t = [["a", "daily at 02:00", "within:6"]];
    await session("2025-06-04T01:00:00Z", "2025-06-04T03:00:00Z", t);
    const late = await session("2025-06-05T09:00:00Z", null, t); // 7 h after 02:00
    assert.deepEqual(late.fired, []);
    const soon = await session("2025-06-06T07:30:00Z", null, t); // 5.5 h after 02:00
    assert.deepEqual(soon.fired.map((e) => [iso(e.scheduledAt), e.reason]), [["2025-06-06T02:00:00.000Z", "missed"]]);
  });

  it("never fires the same instant twice across a restart or a redeploy", async () => {
    const t = [["a", "daily at 02:00", "startup"], ["b", "*/30 * * * * *", "startup"]];
    const first = await session("2025-06-04T01:59:00Z", "2025-06-04T02:00:00Z", t);
    assert.equal(first.fired.filter(at("a")).length, 1);
    // Restarted 20 s later, inside the grace period: 02:00 is already done.
    const second = await session("2025-06-04T02:00:20Z", "2025-06-04T02:00:45Z", t);
    assert.deepEqual(second.fired.map((e) => [e.id, iso(e.scheduledAt), e.reason]), [["b", "2025-06-04T02:00:30.000Z", "schedule"]]);
    // And again with the clock set back a minute: nothing already fired fires again.
    const third = await session("2025-06-04T01:59:50Z", "2025-06-04T02:01:00Z", t);
    assert.deepEqual(third.fired.map((e) => [e.id, iso(e.scheduledAt)]), [["b", "2025-06-04T02:01:00.000Z"]]);

    // A redeploy in the same process: remove and re-add at the very instant it fired.
    const h = harness("2025-06-05T01:59:59Z", { scheduler: { stateFile: file } });
    h.add("a", "daily at 02:00", { missed: "startup" });
    h.clock.advanceTo("2025-06-05T02:00:00Z");
    h.scheduler.remove("a");
    h.add("a", "daily at 02:00", { missed: "startup" });
    h.clock.advance(1000);
    assert.equal(h.fired.length, 1);
    await h.scheduler.close();
  });

  it("an instant missed by a restart shorter than the grace period fires as scheduled", async () => {
    const t = [["a", "daily at 02:00", "skip"]];
    await session("2025-06-04T01:00:00Z", "2025-06-04T01:59:50Z", t);
    const h = await session("2025-06-04T02:00:15Z", null, t);
    assert.deepEqual(h.fired.map((e) => [iso(e.scheduledAt), e.reason, iso(e.firedAt)]),
      [["2025-06-04T02:00:00.000Z", "schedule", "2025-06-04T02:00:15.000Z"]]);
  });

  it("after a long outage, only the most recent instant can fire, and only once", async () => {
    const t = [["m", "* * * * *", "skip"]];
    await session("2025-06-04T01:00:30Z", "2025-06-04T01:01:00Z", t);
    // Down for an hour; back 20 s after a minute began: that minute fires, the 59 before it do not.
    const h = await session("2025-06-04T02:02:20Z", "2025-06-04T02:03:00Z", t);
    assert.deepEqual(h.fired.map((e) => [iso(e.scheduledAt), e.reason]),
      [["2025-06-04T02:02:00.000Z", "schedule"], ["2025-06-04T02:03:00.000Z", "schedule"]]);
  });

  it("does not count instants of a changed schedule as missed", async () => {
    await session("2025-06-04T01:00:00Z", "2025-06-04T03:00:00Z", [["a", "daily at 02:00", "startup"]]);
    const h = await session("2025-06-04T12:00:00Z", "2025-06-04T13:00:00Z", [["a", "hourly", "startup"]]);
    assert.deepEqual(h.fired.map((e) => [iso(e.scheduledAt), e.reason]), [["2025-06-04T13:00:00.000Z", "schedule"]]);
  });

  it("a new trigger has missed nothing; a paused one stays paused and misses nothing", async () => {
    const h1 = harness("2025-06-04T01:00:00Z", { scheduler: { stateFile: file } });
    h1.add("p", "hourly", { missed: "startup" });
    h1.scheduler.pause("p");
    await h1.scheduler.close();
    const h2 = harness("2025-06-04T05:00:30Z", { scheduler: { stateFile: file } });
    const info = h2.add("p", "hourly", { missed: "startup" });
    h2.add("fresh", "hourly", { missed: "startup" });
    assert.equal(info.paused, true);
    h2.clock.advance(1000);
    assert.deepEqual(h2.fired, []);
    h2.scheduler.resume("p");
    h2.clock.advanceTo("2025-06-04T06:00:00Z");
    assert.deepEqual(h2.fired.map((e) => e.reason), ["schedule", "schedule"]);
    await h2.scheduler.close();
  });

  it("moves a corrupt state file aside and starts without it", async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "{ not json");
    const h = harness("2025-06-04T01:00:00Z", { scheduler: { stateFile: file } });
    assert.equal(h.errors.length, 1);
    assert.match(h.errors[0].err.message, /could not be read .* moved to .*state\.json\.corrupt-/);
    h.add("a", "hourly");
    h.clock.advanceTo("2025-06-04T02:00:00Z");
    await h.scheduler.close();
    assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).triggers.a.lastScheduledAt, Date.parse("2025-06-04T02:00:00Z"));
    assert.equal(fs.readdirSync(path.dirname(file)).filter((f) => f.includes("corrupt")).length, 1);
  });
});

describe("sharedScheduler", () => {
  after(() => closeSharedSchedulers());

  it("gives one Scheduler per Highball home, keeping its state in <home>/schedule/state.json", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "hb-home-"));
    const other = fs.mkdtempSync(path.join(os.tmpdir(), "hb-home-"));
    try {
      const a = sharedScheduler(home);
      assert.equal(sharedScheduler(home), a);
      assert.notEqual(sharedScheduler(other), a);
      assert.equal(scheduleStateFile(home), path.join(home, "schedule", "state.json"));
      a.add("x", { schedule: parseSchedule("hourly"), onFire() {} });
      a.trigger("x");
      await a.flush();
      assert.ok(JSON.parse(fs.readFileSync(scheduleStateFile(home), "utf8")).triggers.x.lastFiredAt > 0);
      await closeSharedSchedulers();
      assert.notEqual(sharedScheduler(home), a, "a closed one is not handed out again");
    } finally {
      await closeSharedSchedulers();
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
