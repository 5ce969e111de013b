/**
 * The admission queue of one Node-RED runtime (one per Engine, i.e. per storage folder):
 * a job waits here until nothing that conflicts with it runs (resources.ts says what
 * conflicts), then is admitted.
 *
 * HOLDERS. Whatever holds resources now:
 *  - every run in the engine's registry, gated or not (the registry is the single truth: a
 *    run started by a run node with no gate in front still blocks gated jobs). Its resources
 *    are computed from its job, plus the strings the run node gave the engine;
 *  - every admission not yet turned into a run: a RESERVATION from the admit until a run
 *    with the same job key starts (the run claims it and inherits its resources, which may
 *    know more, e.g. the restic repository) or until the claim time (30 s) passes, so an
 *    admitted message that never reaches a run node cannot hold a resource for long.
 *
 * ORDER. Strict FIFO among conflicting waiters: a waiting job W is admitted when (1) no
 * holder conflicts with W and (2) no job that entered the queue before W and still waits
 * conflicts with W. Jobs that conflict with nothing ahead of them pass at once (no
 * head-of-line blocking across unrelated resources). No starvation: once W waits, every job
 * that conflicts with W and comes later stays behind W, so W waits only for what is ahead of
 * it or running, which is finite. (The price: a job needing A and B also holds back later
 * jobs on A while it waits for B. That is the point.)
 *
 * NO POLLING. Admission is re-evaluated only when something is freed: the engine's `end`
 * event, a reservation released or expired, a waiter dropped or timed out, `resume`. Only the waiters that
 * queue on a freed key are looked at, and on each key only those up to its first exclusive
 * waiter (everyone behind it is held by it), so a release costs O(waiters that could move).
 *
 * CRASHES. Nothing is persisted. After a restart the engine records the runs that were running
 * as interrupted and drops them from the registry; the gate, rebuilt from the registry, sees
 * nothing held and admits the next job. A pause lasts until `resume` or a restart. The gate
 * admits nothing until the engine has finished that recovery (it kills what is left of an
 * orphaned rsync/restic first), so no new run starts beside a dying one.
 *
 * MANY RUNTIMES (design only; the full text is docs/conflicts-over-mqtt.md). Several
 * Node-RED instances could share these conflicts through an MQTT broker (prefix
 * `highball/<site>/`):
 *  - Lock topics: `lock/<key>/<holdId>` (key URL-encoded), RETAINED, QoS 1, payload
 *    `{instance, holdId, job, mode, since, expiresAt, seq}`, published by the holder when it
 *    is admitted and emptied (deleted) when its run ends. They are the observable result,
 *    not the arbiter: MQTT has no compare-and-set, so two instances that both saw "free"
 *    would both publish "mine".
 *  - Ordering via a queue topic: every request/start/end/drop goes to `req/<instance>`; one
 *    SEQUENCER (holder of the retained `leader` topic, with an epoch) stamps each with the
 *    next number and republishes it on `seq`. Every instance applies `seq` in order with this
 *    very queue, so all compute the same admissions (a replicated state machine); a gap makes
 *    an instance stop admitting and reload the retained `snapshot`. Epochs fence off an old
 *    sequencer.
 *  - Crash release: each instance connects with a LAST WILL on `alive/<instance>` (retained
 *    "offline"), and holds a LEASE it renews every 30 s for 90 s. The will alone frees
 *    nothing (a network cut looks like a crash while rsync still runs); when the lease passes
 *    unrenewed, the sequencer publishes `expire {instance}`, all drop its holds and clear
 *    its lock topics. A restarted instance ends the holds of its previous life at once.
 *  - Split brain: an instance without the broker keeps its running runs, admits nothing
 *    that needs a shared key (local-only keys still go), and after its lease end warns that
 *    its runs are no longer protected. After healing, a double hold is logged and notified,
 *    not cancelled; the queue resumes in `seq` order. No broker, no shared admission.
 */
import { EventEmitter } from "node:events";
import type { Job } from "../job/schema";
import { jobKey } from "../job/validate";
import type { Engine } from "../runs/engine";
import { claimsOf, jobResources, type Granularity } from "./resources";

/** Time as the gate sees it, injected so delays and timeouts are tested without sleeping. */
export interface GateClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process clock; its timers do not keep a plain script alive. */
export const realClock: GateClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What the gate needs of the engine: its registry, its runs, and their start and end. */
export type RunFeed = Pick<Engine, "registry" | "get" | "on" | "off" | "ready">;

export interface GateOptions {
  clock?: GateClock;
  /** How long an admission waits for its run to start before it is dropped (default 30 s). */
  claimMs?: number;
  /** Granularity used for runs started without a gate (default "host"). */
  destinations?: Granularity;
}

export type HolderKind = "run" | "reservation";

/** Something in the way of a waiting job. */
export interface Blocker {
  job: string;
  jobId: string;
  /** running, admitted but not yet started, or waiting ahead in the queue. */
  kind: HolderKind | "queued";
  /** The keys it conflicts on. */
  on: string[];
}

export interface WaitInfo {
  job: string;
  jobId: string;
  owner: string | undefined;
  since: number;
  waitedMs: number;
  delayed: boolean;
  resources: string[];
  blockedBy: Blocker[];
  paused: boolean;
}

export interface Admission {
  job: string;
  jobId: string;
  waitedMs: number;
  /** Names of the jobs it was queued behind when it arrived (empty when admitted at once). */
  queuedBehind: string[];
  resources: string[];
}

export interface GateRequest {
  job: Job;
  /** The resources (resources.ts); computed from the job when absent. */
  resources?: string[];
  /** Who asked (a gate node id): `flush(owner)` and `waitingOf(owner)` use it. */
  owner?: string;
  /** Report the wait once it passes this (0 or absent: never). */
  delayMs?: number;
  /** Give up after this (0 or absent: wait forever). */
  maxWaitMs?: number;
  onAdmit(a: Admission): void;
  onDelayed?(w: WaitInfo): void;
  onTimeout?(w: WaitInfo): void;
  /** Dropped by release, flush or a closing node: the job will not be admitted. */
  onDrop?(reason: string): void;
}

export type Ticket =
  | { state: "admitted"; admission: Admission }
  | { state: "waiting"; position: number; blockedBy: Blocker[] }
  /** The same job already waits; this request was merged into it (no callback will come). */
  | { state: "merged"; waiting: WaitInfo };

export interface HolderInfo {
  job: string;
  jobId: string;
  kind: HolderKind;
  runId: string | null;
  since: number;
  /** Reservations only: when it is dropped unless a run claims it. */
  expiresAt: number | null;
  resources: string[];
}

export interface GateStatus {
  paused: boolean;
  holding: HolderInfo[];
  waiting: (WaitInfo & { position: number })[];
}

interface Holder {
  kind: HolderKind;
  key: string;
  name: string;
  runId: string | null;
  since: number;
  resources: string[];
  claims: Map<string, boolean>;
  expiresAt: number | null;
  timer: unknown;
}

interface Waiter {
  seq: number;
  key: string;
  name: string;
  since: number;
  resources: string[];
  claims: Map<string, boolean>;
  req: GateRequest;
  queuedBehind: string[];
  delayed: boolean;
  timers: unknown[];
  waiting: boolean;
}

/** Holders and waiters of one key. Sets keep insertion order, which for waiters is seq order. */
class Slot {
  x = 0;
  s = 0;
  readonly holders = new Set<Holder>();
  readonly waiters = new Set<Waiter>();
  readonly xWaiters = new Set<Waiter>();
  get empty(): boolean { return this.holders.size === 0 && this.waiters.size === 0; }
}

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}

function uniqueNames(blockers: Blocker[]): string[] {
  return [...new Set(blockers.map((b) => b.job))];
}

const gates = new WeakMap<object, Gate>();

export class Gate extends EventEmitter {
  readonly clock: GateClock;
  readonly claimMs: number;
  readonly ready: Promise<void>;
  private readonly destinations: Granularity;
  private readonly slots = new Map<string, Slot>();
  private readonly waiters = new Set<Waiter>();
  private readonly byKey = new Map<string, Waiter>();
  private readonly byName = new Map<string, Set<Waiter>>();
  private readonly runs = new Map<string, Holder>();
  private readonly reservations = new Map<string, Holder>();
  private seq = 0;
  private open = false;
  private isPaused = false;
  private closed = false;
  private readonly onStart: (run: { runId: string; key: string; job: Job; req: { resources?: string[] } }) => void;
  private readonly onEnd: (record: { runId: string }) => void;

  /** The gate of this engine's runtime, made on first use. */
  static of(feed: RunFeed, options: GateOptions = {}): Gate {
    let g = gates.get(feed);
    if (!g || g.closed) {
      g = new Gate(feed, options);
      gates.set(feed, g);
    }
    return g;
  }

  constructor(private readonly feed: RunFeed, options: GateOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.clock = options.clock ?? realClock;
    this.claimMs = options.claimMs ?? 30_000;
    this.destinations = options.destinations ?? "host";
    this.onStart = (run) => this.started(run.runId, run.key, run.job, run.req.resources ?? []);
    this.onEnd = (record) => this.ended(record.runId);
    feed.on("start", this.onStart);
    feed.on("end", this.onEnd);
    for (const e of feed.registry.list()) {
      const run = feed.get(e.runId);
      this.started(e.runId, e.key, run?.job ?? null, e.resources, e.job, e.startedAt);
    }
    this.ready = Promise.resolve(feed.ready).catch(() => undefined).then(() => {
      if (this.closed) return;
      this.open = true;
      this.pumpAll();
    });
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** Asks to run `req.job`: admitted now, queued, or merged into the same job already waiting. */
  request(req: GateRequest): Ticket {
    if (this.closed) throw new Error("the conflict gate is closed");
    const key = jobKey(req.job);
    const same = this.byKey.get(key);
    if (same) return { state: "merged", waiting: this.info(same) };
    const resources = req.resources ?? jobResources(req.job, { destinations: this.destinations });
    const w: Waiter = {
      seq: ++this.seq, key, name: req.job.name, since: this.clock.now(), resources, claims: claimsOf(resources),
      req, queuedBehind: [], delayed: false, timers: [], waiting: true,
    };
    this.waiters.add(w);
    this.byKey.set(key, w);
    let named = this.byName.get(w.name);
    if (!named) this.byName.set(w.name, (named = new Set()));
    named.add(w);
    for (const [k, shared] of w.claims) {
      const slot = this.slot(k);
      slot.waiters.add(w);
      if (!shared) slot.xWaiters.add(w);
    }
    if (this.admissible(w)) {
      const admission = this.admit(w);
      w.req.onAdmit(admission);
      this.emit("change");
      return { state: "admitted", admission };
    }
    const blockedBy = this.blockers(w);
    w.queuedBehind = uniqueNames(blockedBy);
    if (req.delayMs && req.delayMs > 0) w.timers.push(this.clock.setTimeout(() => this.late(w), req.delayMs));
    if (req.maxWaitMs && req.maxWaitMs > 0) w.timers.push(this.clock.setTimeout(() => this.expire(w), req.maxWaitMs));
    this.emit("change");
    return { state: "waiting", position: this.waiters.size, blockedBy };
  }

  /**
   * Drops the waiting job whose key or name is `target`, or force-releases its reservation
   * (an admission whose run never started). A running run is not touched: cancel it instead.
   */
  release(target: string, options: { reservations?: boolean; reason?: string } = {}): { dropped: string[]; released: string[] } {
    const dropped: string[] = [];
    const released: string[] = [];
    const freed: string[] = [];
    const matches = new Set<Waiter>(this.byName.get(target));
    const byKey = this.byKey.get(target);
    if (byKey) matches.add(byKey);
    for (const w of matches) {
      dropped.push(w.name);
      this.remove(w);
      freed.push(...w.claims.keys());
      this.call(() => w.req.onDrop?.(options.reason ?? "released by a message"));
    }
    for (const h of options.reservations === false ? [] : [...this.reservations.values()]) {
      if (h.key !== target && h.name !== target) continue;
      released.push(h.name);
      this.unhold(h);
      freed.push(...h.claims.keys());
    }
    if (freed.length) {
      this.pump(freed);
      this.emit("change");
    }
    return { dropped, released };
  }

  /** Drops every waiting job (of `owner` when given); returns their names. */
  flush(owner?: string, reason = "the queue was flushed"): string[] {
    const out: Waiter[] = [];
    for (const w of [...this.waiters]) if (owner === undefined || w.req.owner === owner) out.push(w);
    for (const w of out) this.remove(w);
    for (const w of out) this.call(() => w.req.onDrop?.(reason));
    if (out.length) {
      this.pump(out.flatMap((w) => [...w.claims.keys()]));
      this.emit("change");
    }
    return out.map((w) => w.name);
  }

  /** Admits nothing until `resume`; waiting jobs keep their places (and their timers). */
  pause(): void {
    if (this.isPaused) return;
    this.isPaused = true;
    this.emit("change");
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.pumpAll();
    this.emit("change");
  }

  waitingOf(owner: string | undefined): WaitInfo[] {
    const out: WaitInfo[] = [];
    for (const w of this.waiters) if (w.req.owner === owner) out.push(this.info(w));
    return out;
  }

  /** How many jobs of `owner` wait, and how many of them passed their delay threshold. */
  countOf(owner: string | undefined): { waiting: number; delayed: number } {
    let waiting = 0;
    let delayed = 0;
    for (const w of this.waiters) {
      if (w.req.owner !== owner) continue;
      waiting++;
      if (w.delayed) delayed++;
    }
    return { waiting, delayed };
  }

  status(): GateStatus {
    const holding: HolderInfo[] = [...this.runs.values(), ...this.reservations.values()].map((h) => ({
      job: h.name, jobId: h.key, kind: h.kind, runId: h.runId, since: h.since, expiresAt: h.expiresAt, resources: h.resources,
    }));
    let position = 0;
    const waiting = [...this.waiters].map((w) => ({ position: ++position, ...this.info(w) }));
    return { paused: this.isPaused, holding, waiting };
  }

  /** Detaches from the engine and drops every waiter (tests, or a runtime going away). */
  close(): void {
    if (this.closed) return;
    this.flush(undefined, "the conflict gate was closed");
    this.closed = true;
    for (const h of this.reservations.values()) this.clock.clearTimeout(h.timer);
    this.feed.off("start", this.onStart);
    this.feed.off("end", this.onEnd);
    if (gates.get(this.feed) === this) gates.delete(this.feed);
  }

  // ---- holders ----

  private slot(key: string): Slot {
    let s = this.slots.get(key);
    if (!s) {
      s = new Slot();
      this.slots.set(key, s);
    }
    return s;
  }

  private tidy(key: string): void {
    const s = this.slots.get(key);
    if (s && s.empty) this.slots.delete(key);
  }

  private hold(h: Holder): void {
    for (const [k, shared] of h.claims) {
      const s = this.slot(k);
      s.holders.add(h);
      if (shared) s.s++; else s.x++;
    }
  }

  private unhold(h: Holder): void {
    if (h.kind === "reservation") {
      this.clock.clearTimeout(h.timer);
      if (this.reservations.get(h.key) === h) this.reservations.delete(h.key);
    } else if (h.runId && this.runs.get(h.runId) === h) {
      this.runs.delete(h.runId);
    }
    for (const [k, shared] of h.claims) {
      const s = this.slots.get(k);
      if (!s || !s.holders.delete(h)) continue;
      if (shared) s.s--; else s.x--;
      this.tidy(k);
    }
  }

  /** A run started (or was running when the gate was made): it holds its resources until it ends. */
  private started(runId: string, key: string, job: Job | null, given: readonly string[], name?: string, since?: number): void {
    if (this.runs.has(runId)) return;
    const reservation = this.reservations.get(key);
    const resources = new Set<string>(job ? jobResources(job, { destinations: this.destinations }) : [`job:${key}`]);
    for (const r of given) if (r && r.trim()) resources.add(r);
    if (reservation) for (const r of reservation.resources) resources.add(r);
    const list = [...resources];
    const h: Holder = {
      kind: "run", key, name: job?.name ?? name ?? key, runId, since: since ?? this.clock.now(),
      resources: list, claims: claimsOf(list), expiresAt: null, timer: null,
    };
    this.runs.set(runId, h);
    this.hold(h);
    // Claimed: the run now holds everything the reservation did, so nothing is freed.
    if (reservation) this.unhold(reservation);
    this.emit("change");
  }

  private ended(runId: string): void {
    const h = this.runs.get(runId);
    if (!h) return;
    this.unhold(h);
    this.pump(h.claims.keys());
    this.emit("change");
  }

  private reserve(w: Waiter): void {
    const now = this.clock.now();
    const h: Holder = {
      kind: "reservation", key: w.key, name: w.name, runId: null, since: now,
      resources: w.resources, claims: w.claims, expiresAt: now + this.claimMs, timer: null,
    };
    h.timer = this.clock.setTimeout(() => {
      if (this.reservations.get(h.key) !== h) return;
      this.unhold(h);
      this.pump(h.claims.keys());
      this.emit("change");
    }, this.claimMs);
    this.reservations.set(w.key, h);
    this.hold(h);
  }

  // ---- waiters ----

  private admissible(w: Waiter): boolean {
    if (!this.open || this.isPaused) return false;
    for (const [k, shared] of w.claims) {
      const s = this.slots.get(k)!;
      if (shared ? s.x > 0 : s.x + s.s > 0) return false;
      if (shared) {
        const fx = first(s.xWaiters);
        if (fx && fx.seq < w.seq) return false;
      } else if (first(s.waiters) !== w) {
        return false;
      }
    }
    return true;
  }

  private remove(w: Waiter): void {
    if (!w.waiting) return;
    w.waiting = false;
    for (const t of w.timers) this.clock.clearTimeout(t);
    w.timers = [];
    this.waiters.delete(w);
    if (this.byKey.get(w.key) === w) this.byKey.delete(w.key);
    const named = this.byName.get(w.name);
    if (named && named.delete(w) && !named.size) this.byName.delete(w.name);
    for (const k of w.claims.keys()) {
      const s = this.slots.get(k);
      if (!s) continue;
      s.waiters.delete(w);
      s.xWaiters.delete(w);
      this.tidy(k);
    }
  }

  /** Turns a waiter into a reservation; the caller runs its onAdmit. */
  private admit(w: Waiter): Admission {
    this.remove(w);
    this.reserve(w);
    return { job: w.name, jobId: w.key, waitedMs: Math.max(0, this.clock.now() - w.since), queuedBehind: w.queuedBehind, resources: w.resources };
  }

  /**
   * Admits, in queue order, every waiter that may now pass. Only waiters queued on `keys`
   * can have been freed, and on each key only those up to its first exclusive waiter.
   */
  private pump(keys: Iterable<string>): void {
    if (!this.open || this.isPaused) return;
    const candidates = new Set<Waiter>();
    for (const k of keys) {
      const s = this.slots.get(k);
      if (!s) continue;
      for (const w of s.waiters) {
        candidates.add(w);
        if (w.claims.get(k) === false) break;
      }
    }
    if (candidates.size) this.admitInOrder([...candidates].sort((a, b) => a.seq - b.seq));
  }

  private pumpAll(): void {
    if (!this.open || this.isPaused) return;
    this.admitInOrder([...this.waiters]);
  }

  private admitInOrder(list: Waiter[]): void {
    const admitted: [Waiter, Admission][] = [];
    for (const w of list) if (w.waiting && this.admissible(w)) admitted.push([w, this.admit(w)]);
    // Callbacks run after the pass, so one that starts a run or asks again sees a settled queue.
    for (const [w, a] of admitted) this.call(() => w.req.onAdmit(a));
    if (admitted.length) this.emit("change");
  }

  private late(w: Waiter): void {
    if (!w.waiting || w.delayed) return;
    w.delayed = true;
    const info = this.info(w);
    this.call(() => w.req.onDelayed?.(info));
    this.emit("change");
  }

  private expire(w: Waiter): void {
    if (!w.waiting) return;
    const info = this.info(w);
    this.remove(w);
    this.call(() => w.req.onTimeout?.(info));
    this.pump(w.claims.keys());
    this.emit("change");
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A listener's bug must not wedge the queue for everybody else.
      this.emit("callbackError", err);
    }
  }

  /** What holds `w` back: conflicting holders, then conflicting waiters ahead of it. */
  private blockers(w: Waiter): Blocker[] {
    const found = new Map<Holder | Waiter, Set<string>>();
    const mark = (who: Holder | Waiter, key: string) => {
      let on = found.get(who);
      if (!on) found.set(who, (on = new Set()));
      on.add(key);
    };
    for (const [k, shared] of w.claims) {
      const s = this.slots.get(k);
      if (!s) continue;
      for (const h of s.holders) if (!shared || h.claims.get(k) === false) mark(h, k);
      for (const o of s.waiters) {
        if (o === w) break;
        if (!shared || o.claims.get(k) === false) mark(o, k);
      }
    }
    const out: Blocker[] = [];
    for (const [who, on] of found) {
      const kind: Blocker["kind"] = "seq" in who ? "queued" : who.kind;
      out.push({ job: who.name, jobId: who.key, kind, on: [...on] });
    }
    const rank = { run: 0, reservation: 1, queued: 2 } as const;
    return out.sort((a, b) => rank[a.kind] - rank[b.kind]);
  }

  private info(w: Waiter): WaitInfo {
    return {
      job: w.name, jobId: w.key, owner: w.req.owner, since: w.since, waitedMs: Math.max(0, this.clock.now() - w.since),
      delayed: w.delayed, resources: w.resources, blockedBy: w.waiting ? this.blockers(w) : [], paused: this.isPaused,
    };
  }
}

/** "3 min", "45 s": a wait as a person reads it. */
export function waitText(ms: number): string {
  if (ms >= 60_000) {
    const min = ms / 60_000;
    return `${min >= 10 ? Math.round(min) : Math.round(min * 10) / 10} min`;
  }
  const s = ms / 1000;
  return `${s >= 10 ? Math.round(s) : Math.round(s * 10) / 10} s`;
}

/** The sentence of a job that gave up waiting: `waited 30 min for "a" (running); gave up`. */
export function gaveUpText(w: Pick<WaitInfo, "waitedMs" | "blockedBy" | "paused">): string {
  const names = w.blockedBy.map((b) => `"${b.job}" (${b.kind === "run" ? "running" : b.kind === "reservation" ? "starting" : "queued ahead"})`);
  let what = names.length ? names.join(", ") : "a free slot";
  if (w.paused) what = names.length ? `${what}, with the gate paused` : "the paused gate";
  return `waited ${waitText(w.waitedMs)} for ${what}; gave up`;
}
