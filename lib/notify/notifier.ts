// The notify engine: policy, batching, staleness, and delivery with bounded retries.
//
// Batching rules (windowMs, default 60 s; burst, default 3):
//  - A failure-like event (failed, warning, interrupted, delayed, stale, cancelled) of a kind not
//    seen in the last window goes out at once. Its kind is outcome + job + error text (digit runs
//    of 4 or more ignored, so timestamps and PIDs do not make every error new).
//  - Repeats of that kind within the window are held and counted; so are successes (never urgent),
//    and new kinds once `burst` prompt messages went out in the last window (a storm of many
//    different failures must not become many messages).
//  - Held events go out together one window after the first of them was held: one message with a
//    line and a count per kind ("photos failed ×37: ..."), or the plain message when only one
//    event was held. Kinds in that message count as recent for another window, so a storm that
//    goes on yields one summary per window.
//  - windowMs 0 turns batching off: every event is sent at once.
import { EventEmitter } from "node:events";
import os from "node:os";
import { sleep, systemClock, type Clock, type TimerHandle } from "./clock";
import { clip, escapeHtml, escapeMarkdownV2, redactor } from "./format";
import { errorOf, logLinkOf, parseInput, renderDigest, renderSingle, SEVERITY, type RenderContext } from "./message";
import { DigestBook, DigestTimer, digestSchedule, renderDigestReport, type KnownJob, type RunSeen } from "./digest";
import { isProgress, Pinger, pingTarget, type PingFailure } from "./ping";
import { DeliveryError, EmailTransport, TelegramTransport, type Transport } from "./transports";
import {
  DEFAULT_POLICY, type Channel, type ChannelFailure, type Delivery, type GroupInfo, type NotificationInfo,
  type NotifyConfig, type NotifyEvent, type Outcome, type ParseMode, type Policy, type Rendered, type StaleEntry,
  type SubmitResult,
} from "./types";

export interface NotifierOptions {
  clock?: Clock;
  /** Every job the runtime knows, with its last success (for the digest's quiet and stale jobs). */
  jobs?: () => KnownJob[];
  /** How long close() lets deliveries under way finish before it cuts them off. */
  closeGraceMs?: number;
  /**
   * What a digest waits for besides the notifier's own state: the runtime's job summaries loaded
   * and the flows started (a digest caught up at start must not list every job as never run).
   */
  before?: Promise<unknown>;
}

interface Resolved {
  name: string;
  policy: Policy;
  windowMs: number;
  burst: number;
  staleMs: number;
  logLines: number;
  attempts: number;
  baseMs: number;
  maxMs: number;
  maxRetryAfterMs: number;
  timeoutMs: number;
  parseMode: ParseMode;
  host: string;
}

interface Held {
  key: string;
  last: NotifyEvent;
  count: number;
}

type Attempt = { ok: true; channel: Channel; attempts: number } | ({ ok: false } & ChannelFailure);

export interface FailureEvent extends ChannelFailure {
  notification: NotificationInfo;
  /** True when a submit() caller receives this failure in its result too. */
  awaited: boolean;
}

export interface TestResult {
  ok: boolean;
  results: Array<{ channel: Channel; ok: boolean; error?: string }>;
  error?: string;
}

function int(v: unknown, def: number, min: number, max: number): number {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.round(n))) : def;
}

function resolve(cfg: NotifyConfig): Resolved {
  const policy = { ...DEFAULT_POLICY };
  for (const k of Object.keys(policy) as Array<keyof Policy>) {
    const v = cfg.policy?.[k];
    if (typeof v === "boolean") policy[k] = v;
  }
  const r = cfg.retry ?? {};
  return {
    name: cfg.name ?? "",
    policy,
    windowMs: int(cfg.windowMs, 60_000, 0, 24 * 3600_000),
    burst: int(cfg.burst, 3, 1, 1000),
    staleMs: int(cfg.staleMs, 0, 0, 365 * 24 * 3600_000),
    logLines: int(cfg.logLines, 20, 0, 200),
    attempts: int(r.attempts, 4, 1, 20),
    baseMs: int(r.baseMs, 2000, 0, 3600_000),
    maxMs: int(r.maxMs, 60_000, 0, 3600_000),
    maxRetryAfterMs: int(r.maxRetryAfterMs, 300_000, 0, 24 * 3600_000),
    timeoutMs: int(r.timeoutMs, 20_000, 100, 600_000),
    parseMode: cfg.telegram?.parseMode === "MarkdownV2" ? "MarkdownV2" : "HTML",
    host: cfg.host?.trim() || os.hostname(),
  };
}

/** Plain sentences for settings that cannot work; empty when all is well. */
export function validateConfig(cfg: NotifyConfig): string[] {
  const problems: string[] = [];
  const tg = cfg.telegram;
  if (tg) {
    const hasChat = String(tg.chatId ?? "").trim() !== "";
    const hasToken = (tg.token ?? "").trim() !== "";
    if (hasChat && !hasToken) problems.push("A Telegram chat is set but the bot token is missing.");
    if (hasToken && !hasChat) problems.push("A Telegram bot token is set but the chat id is missing.");
    if (tg.apiRoot && !/^https?:\/\/[^/]+/i.test(tg.apiRoot.trim())) problems.push("The Telegram API address must start with http:// or https://.");
  }
  const em = cfg.email;
  if (cfg.digest?.schedule?.trim()) {
    const d = digestSchedule(cfg.digest.schedule, cfg.digest.timezone);
    if ("error" in d) problems.push(d.error);
  }
  if (cfg.ping?.url?.trim()) {
    const t = pingTarget(cfg.ping.url);
    if ("error" in t) problems.push(t.error);
  }
  if (em) {
    const hasHost = (em.host ?? "").trim() !== "";
    const hasTo = (em.to ?? "").trim() !== "";
    if (hasHost && !hasTo) problems.push("An SMTP server is set but no recipient (To).");
    if (hasTo && !hasHost) problems.push("An email recipient is set but no SMTP server.");
    if (em.security && !["starttls", "tls", "none"].includes(em.security)) problems.push("The SMTP security must be starttls, tls or none.");
  }
  return problems;
}

function buildTransports(cfg: NotifyConfig, r: Resolved, redact: (s: string) => string): Transport[] {
  const out: Transport[] = [];
  const tg = cfg.telegram;
  if (tg && tg.token?.trim() && String(tg.chatId ?? "").trim()) {
    out.push(new TelegramTransport({ ...tg, token: tg.token.trim() }, redact, r.timeoutMs));
  }
  const em = cfg.email;
  if (em && em.host?.trim() && em.to?.trim()) {
    out.push(new EmailTransport({ ...em, host: em.host.trim() }, redact, r.timeoutMs, r.host));
  }
  return out;
}

function normError(e: NotifyEvent): string {
  return errorOf(e).toLowerCase().replace(/\d{4,}/g, "#").replace(/\s+/g, " ").trim();
}

function keyOf(e: NotifyEvent): string {
  const detail = e.outcome === "success" || e.outcome === "delayed" || e.outcome === "stale" ? "" : normError(e);
  return `${e.outcome}\u0000${e.jobId}\u0000${detail}`;
}

function groupOf(e: NotifyEvent, count: number): GroupInfo {
  const error = errorOf(e);
  return { outcome: e.outcome, job: e.job, jobId: e.jobId, count, ...(error ? { error } : {}), ...(e.runId ? { runId: e.runId } : {}) };
}

function shutdownError(): Error {
  const err = new Error("The notifier was closed.");
  err.name = "ShutdownError";
  return err;
}

export interface NotifierEvents {
  sent: [Delivery];
  failure: [FailureEvent];
  held: [number];
  tracked: [];
}

export class Notifier extends EventEmitter<NotifierEvents> {
  private readonly r: Resolved;
  private readonly clock: Clock;
  private readonly closeGraceMs: number;
  private readonly redact: (s: string) => string;
  private readonly transports: Transport[];
  private readonly ctx: RenderContext;

  private readonly held = new Map<string, Held>();
  private readonly recent = new Map<string, number>();
  private prompts: number[] = [];
  private flushTimer: TimerHandle | undefined;
  private staleTimer: TimerHandle | undefined;
  private readonly stale = new Map<string, StaleEntry>();
  private readonly queues = new Map<Channel, Promise<unknown>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly shutdown = new AbortController();
  /** Aborted as close() starts: retry waits end at once, sends under way get the grace period. */
  private readonly stopWaits = new AbortController();
  private closing = false;
  private closed = false;
  private sentCount = 0;

  readonly problems: string[];
  private readonly pinger: Pinger | null = null;
  private readonly book: DigestBook;
  private readonly digestTimer: DigestTimer | null = null;
  private readonly jobs: () => KnownJob[];
  private readonly before: Promise<unknown>;
  /** Resolves once the digest's count of an earlier process is read. */
  readonly ready: Promise<void>;

  constructor(config: NotifyConfig, options: NotifierOptions = {}) {
    super();
    this.r = resolve(config);
    this.clock = options.clock ?? systemClock;
    this.closeGraceMs = options.closeGraceMs ?? 5000;
    this.redact = redactor([config.telegram?.token, config.email?.password]);
    this.problems = validateConfig(config);
    this.transports = buildTransports(config, this.r, this.redact);
    this.ctx = {
      templates: config.templates ?? {},
      parseMode: this.r.parseMode,
      logLines: this.r.logLines,
      host: this.r.host,
      redact: this.redact,
    };
    if (this.r.staleMs > 0) this.scheduleStaleCheck();
    this.jobs = options.jobs ?? (() => []);
    this.before = options.before ?? Promise.resolve();
    this.book = new DigestBook(config.digest?.file ?? null, this.clock.now());
    const sched = config.digest?.schedule?.trim() ? digestSchedule(config.digest.schedule, config.digest.timezone) : null;
    if (sched && !("error" in sched)) this.digestTimer = new DigestTimer(sched, this.clock, () => void this.digest());
    this.ready = this.book.load().then(() => {
      if (!this.closed) this.digestTimer?.start(this.book.since);
    });
    const target = config.ping?.url?.trim() ? pingTarget(config.ping.url) : null;
    if (target && !("error" in target)) {
      const { attempts, baseMs, maxMs, timeoutMs } = this.r;
      this.pinger = new Pinger(target, { attempts, baseMs, maxMs, timeoutMs, clock: this.clock, stop: this.shutdown.signal }, (f) => this.pingFailed(f));
    }
  }

  /** A ping that could not be delivered is a failure of the ping channel, told like the others. */
  private pingFailed(f: PingFailure): void {
    const subject = f.what === "start" ? `ping: ${f.job} started` : `ping: ${f.job} ended`;
    const notification: NotificationInfo = { kind: "single", outcome: "failed", job: f.job, jobId: f.job, ...(f.runId ? { runId: f.runId } : {}), count: 1, groups: [], subject, short: subject };
    try {
      this.emit("failure", { channel: "ping", error: f.error, attempts: f.attempts, notification, awaited: false });
    } catch {
      /* a throwing listener must not break the next ping */
    }
  }

  /** Work under way that close() waits for (within its grace period). */
  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Channels that will be tried for each notification. */
  get channels(): Channel[] {
    return [...this.transports.map((t) => t.channel), ...(this.pinger ? ["ping" as const] : [])];
  }

  /** Events held for the next batch. */
  get heldCount(): number {
    let n = 0;
    for (const g of this.held.values()) n += g.count;
    return n;
  }

  get sent(): number {
    return this.sentCount;
  }

  /**
   * Takes a run result or delay notice. Resolves (never rejects) once its fate is known: ignored,
   * held for a batch, or delivered / failed after retries. Callers need not wait for it.
   */
  submit(input: unknown): Promise<SubmitResult> {
    try {
      if (this.closed) return Promise.resolve({ state: "ignored", reason: "The notifier is closed." });
      // A run node's second output: its first message pings the start; progress never alerts.
      if (isProgress(input)) {
        this.pinger?.progress(input);
        return Promise.resolve({ state: "ignored", reason: "Progress messages are not notified." });
      }
      const parsed = parseInput(input, this.clock.now());
      if (!parsed.ok) {
        return Promise.resolve(parsed.ignored ? { state: "ignored", reason: parsed.error } : { state: "invalid", error: parsed.error });
      }
      const e = parsed.event;
      this.observe(e);
      // Every run's end pings and is counted for the digest, whatever the policy and batching.
      if (this.pinger) this.track(this.pinger.end(e));
      this.recordRun({ jobId: e.jobId, job: e.job, runId: e.runId, status: e.outcome, error: e.error, at: e.at });
      if (!this.allowed(e.outcome)) {
        return Promise.resolve({ state: "ignored", reason: `Notifications for "${e.outcome}" are turned off.` });
      }
      return this.route(e, true);
    } catch (err) {
      return Promise.resolve({ state: "invalid", error: `The message could not be handled: ${this.redact(String((err as Error)?.message ?? err))}` });
    }
  }

  private allowed(outcome: Outcome): boolean {
    const p = this.r.policy;
    switch (outcome) {
      case "failed": return p.onFailure;
      case "warning": return p.onWarning;
      case "delayed": return p.onDelay;
      case "interrupted": return p.onInterrupted;
      case "success": return p.onSuccess;
      case "cancelled": return p.onCancelled;
      case "stale": return this.r.staleMs > 0;
    }
  }

  private route(e: NotifyEvent, awaited: boolean): Promise<SubmitResult> {
    const now = this.clock.now();
    const win = this.r.windowMs;
    if (win <= 0) return this.sendSingle(e, awaited);
    for (const [k, until] of this.recent) if (until <= now) this.recent.delete(k);
    this.prompts = this.prompts.filter((t) => t > now - win);

    const key = keyOf(e);
    const group = this.held.get(key);
    if (group) {
      group.count += 1;
      group.last = e;
      this.emit("held", this.heldCount);
      return Promise.resolve({ state: "held", held: this.heldCount });
    }
    if (e.outcome === "success" || this.recent.has(key) || this.prompts.length >= this.r.burst) {
      this.held.set(key, { key, last: e, count: 1 });
      if (this.flushTimer === undefined) this.flushTimer = this.clock.setTimeout(() => void this.flush(), win);
      this.emit("held", this.heldCount);
      return Promise.resolve({ state: "held", held: this.heldCount });
    }
    this.prompts.push(now);
    this.recent.set(key, now + win);
    return this.sendSingle(e, awaited);
  }

  /** Counts a run's end for the next digest (once per run id, however it arrives). */
  recordRun(r: RunSeen): boolean {
    if (this.closed) return false;
    return this.book.record(r);
  }

  /** When the digest's schedule sends it next (epoch ms), or null without a schedule. */
  get nextDigest(): number | null {
    return this.digestTimer?.next() ?? null;
  }

  /**
   * Sends the digest now: what batching holds goes out first (the digest never swallows an
   * alert), then one message per channel with every job's runs since the last digest.
   */
  async digest(): Promise<SubmitResult> {
    try {
      await this.ready.catch(() => undefined);
      await this.before.catch(() => undefined);
      await this.flush();
      const report = this.book.take(this.clock.now(), this.jobs(), this.r.staleMs);
      await this.book.save();
      const rendered = renderDigestReport(report, { host: this.r.host, parseMode: this.r.parseMode, name: this.r.name });
      const worst = report.jobs.some((j) => j.lastError) ? "failed" : report.jobs.some((j) => j.stale) ? "stale" : report.totals.warning ? "warning" : "success";
      const info: NotificationInfo = {
        kind: "digest", outcome: worst, count: Object.values(report.totals).reduce((a, b) => a + (b ?? 0), 0), groups: [],
        subject: rendered.subject, short: rendered.short, text: rendered.body, report,
      };
      return await this.deliver(info, rendered, true);
    } catch (err) {
      return { state: "invalid", error: `The digest could not be made: ${this.redact(String((err as Error)?.message ?? err))}` };
    }
  }

  /** Sends what is held now, as one message. Resolves when sent or given up; never rejects. */
  async flush(): Promise<void> {
    try {
      if (this.flushTimer !== undefined) this.clock.clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      const groups = [...this.held.values()];
      if (groups.length === 0) return;
      this.held.clear();
      this.emit("held", 0);
      const until = this.clock.now() + this.r.windowMs;
      for (const g of groups) this.recent.set(g.key, until);
      if (groups.length === 1 && groups[0].count === 1) await this.sendSingle(groups[0].last, false);
      else await this.sendDigest(groups);
    } catch {
      /* a listener that throws must not take the batch timer (and the process) down */
    }
  }

  private sendSingle(e: NotifyEvent, awaited: boolean): Promise<SubmitResult> {
    let rendered: Rendered;
    try {
      rendered = renderSingle(e, this.ctx);
    } catch (err) {
      return Promise.resolve({ state: "invalid", error: `The notification could not be written: ${this.redact(String((err as Error)?.message ?? err))}` });
    }
    const info: NotificationInfo = {
      kind: "single",
      outcome: e.outcome,
      job: e.job,
      jobId: e.jobId,
      ...(e.runId ? { runId: e.runId } : {}),
      count: 1,
      groups: [groupOf(e, 1)],
      subject: rendered.subject,
      short: rendered.short,
    };
    return this.deliver(info, rendered, awaited);
  }

  private async sendDigest(held: Held[]): Promise<void> {
    const groups = held.map((g) => groupOf(g.last, g.count));
    const urls = new Map<GroupInfo, string | undefined>();
    groups.forEach((g, i) => urls.set(g, logLinkOf(held[i].last, this.ctx.templates)));
    const rendered = renderDigest(groups, this.r.windowMs, this.ctx, urls);
    const worst = [...groups].sort((a, b) => SEVERITY[a.outcome] - SEVERITY[b.outcome])[0];
    const jobs = new Set(groups.map((g) => g.jobId));
    const info: NotificationInfo = {
      kind: "digest",
      outcome: worst.outcome,
      ...(jobs.size === 1 ? { job: groups[0].job, jobId: groups[0].jobId } : {}),
      count: groups.reduce((n, g) => n + g.count, 0),
      groups,
      subject: rendered.subject,
      short: rendered.short,
    };
    await this.deliver(info, rendered, false);
  }

  private deliver(info: NotificationInfo, rendered: Rendered, awaited: boolean): Promise<SubmitResult> {
    const work = (async (): Promise<SubmitResult> => {
      const results = await Promise.all(this.transports.map((t) => this.enqueue(t, rendered)));
      const channels = results.filter((a) => a.ok).map((a) => a.channel);
      const failures: ChannelFailure[] = results.flatMap((a) => (a.ok ? [] : [{ channel: a.channel, error: a.error, attempts: a.attempts }]));
      const delivery: Delivery = { notification: info, channels, failures };
      for (const f of failures) this.emit("failure", { ...f, notification: info, awaited });
      if (channels.length > 0 || this.transports.length === 0) {
        this.sentCount += 1;
        this.emit("sent", delivery);
        return { state: "sent", delivery };
      }
      return { state: "failed", delivery, error: failures.map((f) => f.error).join(" ") };
    })().catch((err: unknown): SubmitResult => ({
      state: "invalid",
      error: `Delivery stopped unexpectedly: ${this.redact(String((err as Error)?.message ?? err))}`,
    }));
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
    return work;
  }

  /** One channel sends one message at a time, so a 429 wait holds back what follows, as it should. */
  private enqueue(t: Transport, rendered: Rendered): Promise<Attempt> {
    const prev = this.queues.get(t.channel) ?? Promise.resolve();
    const run = prev.then(() => this.attempt(t, rendered));
    this.queues.set(t.channel, run.catch(() => undefined));
    return run;
  }

  private async attempt(t: Transport, rendered: Rendered): Promise<Attempt> {
    const { attempts, baseMs, maxMs, maxRetryAfterMs, timeoutMs } = this.r;
    for (let n = 1; ; n++) {
      const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(timeoutMs)]);
      let failure: DeliveryError;
      try {
        await t.send(rendered, signal);
        return { ok: true, channel: t.channel, attempts: n };
      } catch (err) {
        failure = err instanceof DeliveryError
          ? err
          : new DeliveryError(`Sending by ${t.channel} failed unexpectedly: ${clip(this.redact(String((err as Error)?.message ?? err)), 200)}`, false);
      }
      const fail = (extra = ""): Attempt => ({
        ok: false,
        channel: t.channel,
        attempts: n,
        error: this.redact(`${failure.message}${n > 1 ? ` Gave up after ${n} attempts.` : ""}${extra}`),
      });
      if (!failure.retryable || n >= attempts) return fail();
      if (this.closing) return fail(" The node was closed before it could try again.");
      if (failure.retryAfterMs !== undefined && failure.retryAfterMs > maxRetryAfterMs) {
        return fail(` It asked to wait ${Math.round(failure.retryAfterMs / 1000)} s, more than the ${Math.round(maxRetryAfterMs / 1000)} s this node waits.`);
      }
      await sleep(this.clock, failure.retryAfterMs ?? Math.min(maxMs, baseMs * 2 ** (n - 1)), this.stopWaits.signal);
      if (this.stopWaits.signal.aborted) return fail(" The node was closed before it could try again.");
    }
  }

  // ---- staleness: "no successful backup of job X for N hours"

  private observe(e: NotifyEvent): void {
    if (this.r.staleMs <= 0) return;
    const now = this.clock.now();
    const entry = this.stale.get(e.jobId) ?? { jobId: e.jobId, job: e.job, firstSeenAt: now };
    entry.job = e.job;
    // A warning is a partial backup that did happen; it has its own alert. Staleness is about none at all.
    if (e.outcome === "success" || e.outcome === "warning") {
      entry.lastSuccessAt = now;
      delete entry.alertedAt;
    }
    this.stale.set(e.jobId, entry);
    this.emit("tracked");
  }

  private scheduleStaleCheck(): void {
    const every = Math.min(300_000, Math.max(1000, Math.floor(this.r.staleMs / 10)));
    this.staleTimer = this.clock.setTimeout(() => {
      try {
        this.checkStale();
      } catch {
        /* as in flush(): a throwing listener must not stop the checks */
      }
      if (!this.closed) this.scheduleStaleCheck();
    }, every);
  }

  /** Alerts each job whose last success is older than staleMs, once per staleMs. */
  checkStale(): void {
    if (this.r.staleMs <= 0 || this.closed) return;
    const now = this.clock.now();
    let changed = false;
    for (const entry of this.stale.values()) {
      const base = entry.lastSuccessAt ?? entry.firstSeenAt;
      if (now - base < this.r.staleMs) continue;
      if (entry.alertedAt !== undefined && now - entry.alertedAt < this.r.staleMs) continue;
      entry.alertedAt = now;
      changed = true;
      void this.route({
        outcome: "stale",
        job: entry.job,
        jobId: entry.jobId,
        at: now,
        sinceMs: now - base,
        ...(entry.lastSuccessAt !== undefined ? { lastSuccessAt: entry.lastSuccessAt } : {}),
        logTail: [],
      }, false);
    }
    if (changed) this.emit("tracked");
  }

  /** What the staleness check knows, to keep across restarts. */
  staleEntries(): StaleEntry[] {
    return [...this.stale.values()].map((e) => ({ ...e }));
  }

  /** Restores what staleEntries() returned (times from the same clock). */
  seedStale(entries: unknown): void {
    if (!Array.isArray(entries)) return;
    for (const raw of entries) {
      if (!raw || typeof raw !== "object") continue;
      const e = raw as Partial<StaleEntry>;
      if (typeof e.jobId !== "string" || typeof e.firstSeenAt !== "number") continue;
      const entry: StaleEntry = { jobId: e.jobId, job: typeof e.job === "string" ? e.job : e.jobId, firstSeenAt: e.firstSeenAt };
      if (typeof e.lastSuccessAt === "number") entry.lastSuccessAt = e.lastSuccessAt;
      if (typeof e.alertedAt === "number") entry.alertedAt = e.alertedAt;
      if (!this.stale.has(entry.jobId)) this.stale.set(entry.jobId, entry);
    }
  }

  /** Stops watching a job (deleted, or renamed). */
  forget(jobId: string): boolean {
    const had = this.stale.delete(jobId);
    if (had) this.emit("tracked");
    return had;
  }

  // ---- test message and shutdown

  /** Sends a test message on every configured channel, once each, no batching. */
  async test(): Promise<TestResult> {
    if (this.transports.length === 0) {
      return {
        ok: false,
        results: [],
        error: this.problems[0] ?? "No channel is configured: set a Telegram chat and bot token, or an SMTP server and recipient.",
      };
    }
    const name = this.r.name ? ` "${this.r.name}"` : "";
    const line = `From the Highball notify node${name} on ${this.r.host}. If you can read this, its notifications reach you.`;
    const title = "Highball test message";
    const rendered: Rendered = {
      subject: `[Highball] Test message`,
      body: `${title}\n\n${line}\n`,
      telegram: this.r.parseMode === "HTML"
        ? { text: `🔔 <b>${escapeHtml(title)}</b>\n${escapeHtml(line)}`, parseMode: "HTML" }
        : { text: `🔔 *${escapeMarkdownV2(title)}*\n${escapeMarkdownV2(line)}`, parseMode: "MarkdownV2" },
      short: `🔔 ${title}`,
    };
    const results = await Promise.all(this.transports.map((t) => this.enqueue(t, rendered)));
    const failed = results.filter((a): a is { ok: false } & ChannelFailure => !a.ok);
    return {
      ok: failed.length === 0,
      results: results.map((a) => (a.ok ? { channel: a.channel, ok: true } : { channel: a.channel, ok: false, error: a.error })),
      ...(failed.length ? { error: failed.map((f) => f.error).join(" ") } : {}),
    };
  }

  /**
   * Sends what is held (one attempt per channel), lets deliveries under way finish for a grace
   * period, then cuts them off. Resolves; never rejects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    this.stopWaits.abort();
    if (this.staleTimer !== undefined) this.clock.clearTimeout(this.staleTimer);
    this.staleTimer = undefined;
    this.digestTimer?.stop();
    void this.book.save();
    const last = this.flush().catch(() => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((res) => {
      timer = setTimeout(res, this.closeGraceMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([last, ...this.inflight]), grace]);
    clearTimeout(timer);
    this.shutdown.abort(shutdownError());
    await Promise.allSettled([last, ...this.inflight]);
    for (const t of this.transports) {
      try {
        t.close();
      } catch {
        /* closing a transport is best effort */
      }
    }
  }
}

/** For the editor's "send test message": one message per configured channel, no retries. */
export async function sendTest(config: NotifyConfig, options: NotifierOptions = {}): Promise<TestResult> {
  const n = new Notifier({ ...config, digest: undefined, ping: undefined, staleMs: 0, retry: { ...config.retry, attempts: 1, timeoutMs: config.retry?.timeoutMs ?? 15_000 } }, options);
  try {
    return await n.test();
  } catch (err) {
    return { ok: false, results: [], error: `The test message could not be sent: ${String((err as Error)?.message ?? err)}` };
  } finally {
    await n.close();
  }
}
