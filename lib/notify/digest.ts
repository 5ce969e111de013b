// The digest: one message per channel, on a schedule (or msg.action "digest"), summing up every
// job's runs since the last digest: counts by status, the last error of each job that failed,
// and the jobs with no success within the stale limit. What it has counted, and when the last
// digest went out, are kept in a small file (O(jobs)), so a restart neither loses nor repeats
// one: a digest time that passed while Node-RED was down is sent at start.
import { join } from "node:path";
import { readJsonOrQuarantine, writeAtomic } from "../util/fsx";
import { latestAtOrBefore, nextAfter, parseSchedule, type Schedule } from "../schedule";
import type { Clock, TimerHandle } from "./clock";
import { clip, escapeHtml, escapeMarkdownV2, humanDuration } from "./format";
import type { ParseMode, Rendered, RunStatus } from "./types";

const STATUSES: RunStatus[] = ["failed", "interrupted", "warning", "cancelled", "success"];
const SEEN_MAX = 2000;

export interface DigestJob {
  jobId: string;
  job: string;
  counts: Partial<Record<RunStatus, number>>;
  /** The newest run that failed or was interrupted since the last digest. */
  lastError?: { status: RunStatus; error: string; at: number; runId?: string };
}

interface State {
  version: 1;
  /** When the last digest went out (or counting began). */
  since: number;
  jobs: Record<string, DigestJob>;
  /** Run ids counted, newest last, so a run seen by two ways (engine and input) counts once. */
  seen: string[];
}

/** What a digest covers: from `since` to `until`. */
export interface DigestReport {
  since: number;
  until: number;
  jobs: Array<DigestJob & { stale: boolean; lastSuccessAt?: number }>;
  totals: Partial<Record<RunStatus, number>>;
}

/** A job the runtime knows, with its last success from the jobs summary. */
export interface KnownJob { jobId: string; job: string; lastSuccessAt?: number }

export interface RunSeen { jobId: string; job: string; runId?: string; status: string; error?: string | null; at: number }

/** The jobs a run engine knows, with their last success from its jobs summary (O(jobs)). */
export function knownJobsOf(engine: {
  jobs: Map<string, { job: { name: string } }>;
  history: { summary(key: string): { lastSuccess: { finishedAt: number } | null } | undefined };
}): KnownJob[] {
  return [...engine.jobs.entries()].map(([jobId, e]) => {
    const ok = engine.history.summary(jobId)?.lastSuccess?.finishedAt;
    return { jobId, job: e.job.name, ...(ok !== undefined ? { lastSuccessAt: ok } : {}) };
  });
}

/** Where a notify node keeps its digest's count. */
export function digestFile(home: string, nodeId: string): string {
  return join(home, "notify", `digest-${nodeId.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`);
}

/** The digest's schedule, or a sentence saying why it cannot be one. */
export function digestSchedule(text: string, timezone?: string): Schedule | { error: string } {
  try {
    return parseSchedule(text, timezone ? { timezone } : {});
  } catch (err) {
    return { error: `The digest schedule is not valid: ${(err as Error).message}.` };
  }
}

export class DigestBook {
  private state: State;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string | null, now: number) {
    this.state = { version: 1, since: now, jobs: {}, seen: [] };
  }

  get since(): number {
    return this.state.since;
  }

  /** Reads what an earlier process counted (a file that does not parse starts afresh, moved aside). */
  async load(): Promise<void> {
    if (!this.file) return;
    const valid = (v: unknown) => !!v && typeof v === "object" && typeof (v as State).since === "number" && !!(v as State).jobs && typeof (v as State).jobs === "object";
    const saved = await readJsonOrQuarantine<State | null>(this.file, null, valid).catch(() => null);
    if (!saved) return;
    // Runs counted here before load() finished are newer than the file: keep both.
    const mine = this.state;
    this.state = { version: 1, since: saved.since, jobs: saved.jobs, seen: Array.isArray(saved.seen) ? saved.seen.filter((s) => typeof s === "string") : [] };
    for (const r of Object.values(mine.jobs)) {
      for (const [st, n] of Object.entries(r.counts) as Array<[RunStatus, number]>) this.add(r.jobId, r.job, st, n);
      if (r.lastError) this.state.jobs[r.jobId].lastError = r.lastError;
    }
    for (const id of mine.seen) this.state.seen.push(id);
  }

  private add(jobId: string, job: string, status: RunStatus, n = 1): DigestJob {
    const j = (this.state.jobs[jobId] ??= { jobId, job, counts: {} });
    j.job = job;
    j.counts[status] = (j.counts[status] ?? 0) + n;
    return j;
  }

  /** Counts a run's end; false when it was counted already or is not a run's end. */
  record(r: RunSeen): boolean {
    if (!STATUSES.includes(r.status as RunStatus)) return false;
    if (r.runId) {
      if (this.state.seen.includes(r.runId)) return false;
      this.state.seen.push(r.runId);
      if (this.state.seen.length > SEEN_MAX) this.state.seen.splice(0, this.state.seen.length - SEEN_MAX);
    }
    const j = this.add(r.jobId, r.job, r.status as RunStatus);
    if ((r.status === "failed" || r.status === "interrupted") && (!j.lastError || j.lastError.at <= r.at)) {
      j.lastError = { status: r.status, error: clip(String(r.error ?? "").replace(/\s+/g, " ").trim(), 600), at: r.at, ...(r.runId ? { runId: r.runId } : {}) };
    }
    void this.save();
    return true;
  }

  /**
   * The report since the last digest, for every job counted or known; counting starts again at
   * `now`. Stale: a known job whose last success is older than `staleMs` (0: none are).
   */
  take(now: number, known: KnownJob[], staleMs: number): DigestReport {
    const jobs = new Map<string, DigestReport["jobs"][number]>();
    for (const j of Object.values(this.state.jobs)) jobs.set(j.jobId, { ...j, counts: { ...j.counts }, stale: false });
    for (const k of known) {
      const j = jobs.get(k.jobId) ?? { jobId: k.jobId, job: k.job, counts: {}, stale: false };
      j.job = k.job;
      if (k.lastSuccessAt !== undefined) j.lastSuccessAt = k.lastSuccessAt;
      j.stale = staleMs > 0 && (k.lastSuccessAt === undefined || now - k.lastSuccessAt > staleMs);
      jobs.set(k.jobId, j);
    }
    const totals: DigestReport["totals"] = {};
    for (const j of jobs.values()) for (const [st, n] of Object.entries(j.counts) as Array<[RunStatus, number]>) totals[st] = (totals[st] ?? 0) + n;
    const report: DigestReport = { since: this.state.since, until: now, jobs: [...jobs.values()].sort((a, b) => a.job.localeCompare(b.job)), totals };
    this.state = { version: 1, since: now, jobs: {}, seen: this.state.seen };
    return report;
  }

  /** Writes the state; never rejects (a full disk must not stop the alerts). */
  save(): Promise<void> {
    if (!this.file) return Promise.resolve();
    const file = this.file;
    this.writing = this.writing.then(() => writeAtomic(file, JSON.stringify(this.state) + "\n")).catch(() => undefined);
    return this.writing;
  }
}

/** Runs `fire` at each time of `schedule`; at start, at once when a time passed since `since`. */
export class DigestTimer {
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly schedule: Schedule, private readonly clock: Clock, private readonly fire: () => void) {}

  start(since: number): void {
    const now = this.clock.now();
    const due = latestAtOrBefore(this.schedule, now);
    // A digest time passed while Node-RED was down: that digest is sent now, not lost.
    if (due !== null && due > since) this.fire();
    this.arm();
  }

  /** The next time, after now. */
  next(): number | null {
    return nextAfter(this.schedule, this.clock.now());
  }

  private arm(): void {
    if (this.stopped) return;
    const at = this.next();
    if (at === null) return;
    // Long waits in steps of at most a day (setTimeout's limit is 24.8 days; clocks get adjusted).
    const wait = Math.min(at - this.clock.now(), 24 * 3600_000);
    this.timer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      if (this.clock.now() >= at) this.fire();
      this.arm();
    }, Math.max(0, wait));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
  }
}

const WORD: Record<RunStatus, string> = { success: "succeeded", warning: "with warnings", failed: "failed", cancelled: "cancelled", interrupted: "interrupted" };

function when(t: number): string {
  return new Date(t).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/** The digest as each channel gets it (plain text body, Telegram in its parse mode). */
export function renderDigestReport(r: DigestReport, o: { host: string; parseMode: ParseMode; name?: string }): Rendered {
  const failing = r.jobs.filter((j) => j.lastError);
  const stale = r.jobs.filter((j) => j.stale);
  const ran = r.jobs.filter((j) => Object.keys(j.counts).length > 0);
  const quiet = r.jobs.filter((j) => Object.keys(j.counts).length === 0);
  const count = (c: DigestJob["counts"]) => STATUSES.filter((s) => c[s]).map((s) => `${c[s]} ${WORD[s]}`).join(", ");
  const head = `Highball digest ${when(r.since)} – ${when(r.until)} on ${o.host}`;
  const total = count(r.totals) || "no runs";
  const lines: string[] = [head, "", `Runs: ${total}.`];
  if (failing.length) {
    lines.push("", "Failing:");
    for (const j of failing) lines.push(`- ${j.job}: ${j.lastError!.status} at ${when(j.lastError!.at)}: ${j.lastError!.error || "no error text"}`);
  }
  if (stale.length) {
    lines.push("", "No successful backup within the stale limit:");
    for (const j of stale) lines.push(`- ${j.job}: ${j.lastSuccessAt !== undefined ? `last success ${humanDuration(r.until - j.lastSuccessAt)} ago (${when(j.lastSuccessAt)})` : "no success known"}`);
  }
  if (ran.length) {
    lines.push("", "By job:");
    for (const j of ran) lines.push(`- ${j.job}: ${count(j.counts)}`);
  }
  if (quiet.length) lines.push("", `No runs: ${quiet.map((j) => j.job).join(", ")}`);
  const body = lines.join("\n") + "\n";
  const worst = failing.length ? "✖" : stale.length ? "⏰" : (r.totals.warning ? "⚠" : "✔");
  const subject = `[Highball] Digest: ${total}${failing.length ? `, ${failing.length} failing` : ""}${stale.length ? `, ${stale.length} stale` : ""}`;
  const esc = o.parseMode === "HTML" ? escapeHtml : escapeMarkdownV2;
  const bold = (s: string) => (o.parseMode === "HTML" ? `<b>${escapeHtml(s)}</b>` : `*${escapeMarkdownV2(s)}*`);
  const tg = [`${worst} ${bold(head)}`, ...lines.slice(1).map((l) => esc(l))].join("\n");
  return {
    subject,
    body,
    telegram: { text: clip(tg, 4000), parseMode: o.parseMode },
    short: `${worst} Digest: ${total}${failing.length ? `; failing: ${failing.map((j) => j.job).join(", ")}` : ""}${stale.length ? `; stale: ${stale.map((j) => j.job).join(", ")}` : ""}`,
  };
}
