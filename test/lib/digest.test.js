"use strict";
// The digest's book and timer (lib/notify/digest.ts) on a manual clock: the schedule fires at its
// times and not between, a time missed while stopped fires once at start, the book counts each
// run once and starts again after a digest, and its file survives a restart.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { DigestBook, DigestTimer, digestSchedule, renderDigestReport } = require("../../dist/lib/notify/digest");
const { ManualClock } = require("../../dist/lib/notify/clock");
const { tmpDir } = require("../fixtures/util");

const H = 3600_000;
const at = (iso) => Date.parse(iso);

describe("notify digest (lib/notify/digest)", function () {
  it("fires at each time of its schedule, and only then", function () {
    const s = digestSchedule("daily at 08:00", "UTC");
    assert.ok(!s.error, s.error);
    const clock = new ManualClock(at("2026-03-01T07:00:00Z"));
    const fired = [];
    const t = new DigestTimer(s, clock, () => fired.push(new Date(clock.now()).toISOString()));
    t.start(clock.now());
    assert.deepEqual(fired, [], "nothing due at start");
    clock.advance(H - 1);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, ["2026-03-01T08:00:00.000Z"]);
    clock.advance(24 * H);
    assert.deepEqual(fired, ["2026-03-01T08:00:00.000Z", "2026-03-02T08:00:00.000Z"]);
    t.stop();
    clock.advance(48 * H);
    assert.equal(fired.length, 2, "stopped");
  });

  it("a time passed while stopped fires once at start; none when the last digest was after it", function () {
    const s = digestSchedule("daily at 08:00", "UTC");
    const clock = new ManualClock(at("2026-03-02T09:30:00Z"));
    let n = 0;
    new DigestTimer(s, clock, () => n++).start(at("2026-03-01T08:00:00Z"));
    assert.equal(n, 1, "the 2 March digest was missed: sent now");
    let m = 0;
    new DigestTimer(s, clock, () => m++).start(at("2026-03-02T08:00:01Z"));
    assert.equal(m, 0, "already sent: not repeated");
  });

  it("an invalid schedule is a sentence", function () {
    assert.match(digestSchedule("every blue moon").error, /^The digest schedule is not valid: invalid schedule "every blue moon"/);
  });

  it("counts each run once, reports failing and stale jobs, starts again after a digest, and keeps its count on disk", async function () {
    const file = path.join(tmpDir("digest"), "notify", "digest-n1.json");
    const now = at("2026-03-02T08:00:00Z");
    const book = new DigestBook(file, now - 24 * H);
    await book.load();
    assert.equal(book.record({ jobId: "j1", job: "photos", runId: "r1", status: "success", at: now - 5 * H }), true);
    assert.equal(book.record({ jobId: "j1", job: "photos", runId: "r1", status: "success", at: now - 5 * H }), false, "the same run again");
    book.record({ jobId: "j2", job: "docs", runId: "r2", status: "failed", error: "disk\non fire", at: now - 4 * H });
    book.record({ jobId: "j2", job: "docs", runId: "r3", status: "failed", error: "still on fire", at: now - 2 * H });
    assert.equal(book.record({ jobId: "j2", job: "docs", status: "delayed", at: now }), false, "a delay is not a run");
    await book.save();
    const again = new DigestBook(file, now);
    await again.load();
    const r = again.take(now, [{ jobId: "j1", job: "photos", lastSuccessAt: now - 5 * H }, { jobId: "j2", job: "docs" }, { jobId: "j3", job: "music", lastSuccessAt: now - 50 * H }], 26 * H);
    assert.equal(r.since, now - 24 * H);
    assert.deepEqual(r.totals, { success: 1, failed: 2 });
    const docs = r.jobs.find((j) => j.job === "docs");
    assert.equal(docs.lastError.error, "still on fire");
    assert.deepEqual(r.jobs.filter((j) => j.stale).map((j) => j.job), ["docs", "music"]);
    const text = renderDigestReport(r, { host: "nas", parseMode: "HTML" });
    assert.match(text.body, /Runs: 2 failed, 1 succeeded\./);
    assert.match(text.body, /- docs: failed at 2026-03-02 06:00 UTC: still on fire/);
    assert.match(text.body, /- music: last success 2d 2h ago|- music: last success .* ago/);
    assert.match(text.body, /No runs: music/);
    assert.ok(!/<b>.*<\/b>.*<script/.test(text.telegram.text));
    const next = again.take(now + 24 * H, [], 0);
    assert.deepEqual(next.totals, {}, "counting started again");
  });
});
