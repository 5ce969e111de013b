import { readJsonSync, writeJson, quarantineSync } from "../util/fsx";
import { realClock, type Clock } from "./clock";
import { MinHeap, type HeapItem } from "./heap";
import { catchUp, type MissedPolicy } from "./missed";
import { latestAtOrBefore, nextAfter, type Schedule } from "./parse";

export type FireReason = "schedule" | "manual" | "missed";

export interface FireEvent {
  id: string;
  /** The instant the schedule named (for a manual fire, the moment it was asked for). */
  scheduledAt: number;
  /** When the callback ran. */
  firedAt: number;
  reason: FireReason;
}

export interface TriggerInfo {
  id: string;
  schedule: Schedule;
  missed: MissedPolicy;
  paused: boolean;
  /** The next instant it will fire, or null when paused or the schedule has no more instants. */
  next: number | null;
  /** The last scheduled instant it fired for (a catch-up counts; a manual fire does not). */
  lastScheduledAt: number | null;
  /** When it last fired for any reason. */
  lastFiredAt: number | null;
}

export interface TriggerSpec {
  schedule: Schedule;
  missed?: MissedPolicy;
  onFire(event: FireEvent): void;
  /** Called after anything that changes `next` or `paused`: a fire, pause, resume, reschedule. */
  onChange?(info: TriggerInfo): void;
}

export interface SchedulerOptions {
  /** JSON file keeping each trigger's last fire across restarts; none keeps state in memory only. */
  stateFile?: string;
  clock?: Clock;
  /**
   * An instant reached up to this late still fires as "schedule"; later than that it counts as
   * missed and follows the trigger's missed-run policy. Default 60 s.
   */
  graceMs?: number;
  /** Longest single timer. Default 60 s. */
  maxSleepMs?: number;
  /** Errors of callbacks and of state writes. */
  onError?(err: Error, id?: string): void;
}

interface TriggerState {
  /** The cron and zone the record was made under. */
  schedule?: string;
  /** From when missed instants count: first registration, or the last resume/reschedule/skip. */
  since?: number;
  lastScheduledAt?: number;
  lastFiredAt?: number;
  paused?: boolean;
}

interface StateFile {
  version: 1;
  triggers: Record<string, TriggerState>;
}

interface Entry extends HeapItem {
  id: string;
  schedule: Schedule;
  missed: MissedPolicy;
  paused: boolean;
  /** The instant after which to look for the next one. */
  cursor: number;
  onFire: TriggerSpec["onFire"];
  onChange?: TriggerSpec["onChange"];
}

// A deleted trigger's record is kept for redeploys and undo, but not for ever.
const FORGET_AFTER_MS = 400 * 86_400_000;

function scheduleKey(s: Schedule): string {
  return `${s.cron} @ ${s.timezone}`;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Fires many cron triggers from one timer. Entries sit in a min-heap on their next instant;
 * the timer sleeps until the earliest one (at most `maxSleepMs`, so a suspended machine or a
 * wall-clock step is noticed within that time). Each trigger's last fired instant is persisted,
 * so a restart or redeploy never fires the same instant twice, and instants missed while it was
 * down follow the trigger's missed-run policy.
 */
export class Scheduler {
  readonly stats = { wakeups: 0, fires: 0 };
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly maxSleepMs: number;
  private readonly stateFile?: string;
  private readonly onError: (err: Error, id?: string) => void;
  private readonly heap = new MinHeap<Entry>();
  private readonly entries = new Map<string, Entry>();
  private state: Record<string, TriggerState>;
  private timer: unknown = undefined;
  private timerAt = Infinity;
  private dirty = false;
  private writing: Promise<void> | null = null;

  constructor(options: SchedulerOptions = {}) {
    this.clock = options.clock ?? realClock();
    this.graceMs = options.graceMs ?? 60_000;
    this.maxSleepMs = Math.min(options.maxSleepMs ?? 60_000, 2 ** 31 - 1);
    this.stateFile = options.stateFile;
    this.onError = options.onError ?? ((err) => process.emitWarning(err));
    this.state = this.load();
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /**
   * Register (or replace) trigger `id`. Its persisted record decides what was missed since it
   * last ran; a catch-up fire happens on the next tick, never inside this call.
   */
  add(id: string, spec: TriggerSpec): TriggerInfo {
    const old = this.entries.get(id);
    if (old) this.heap.delete(old);
    const now = this.clock.now();
    const key = scheduleKey(spec.schedule);
    let st = this.state[id];
    if (!st) {
      st = this.state[id] = { since: now, schedule: key };
      this.markDirty();
    } else if (st.schedule !== key) {
      // Instants of a schedule the trigger did not have yet were not missed: count from now.
      if (st.schedule !== undefined) st.since = Math.max(now, st.since ?? now);
      st.schedule = key;
      this.markDirty();
    }
    const e: Entry = {
      id, schedule: spec.schedule, missed: spec.missed ?? { mode: "skip" }, paused: !!st.paused,
      cursor: Math.max(st.lastScheduledAt ?? -Infinity, st.since ?? now),
      onFire: spec.onFire, onChange: spec.onChange, due: 0, heapIndex: -1,
    };
    this.entries.set(id, e);
    if (!e.paused) this.plan(e);
    if (this.dirty) this.save();
    this.arm();
    return this.describe(e);
  }

  /** Stop firing `id`. Its record stays, so re-adding it (a redeploy) does not fire twice. */
  remove(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    this.heap.delete(e);
    this.entries.delete(id);
    this.arm();
    return true;
  }

  /** Remove `id` and its persisted record. */
  forget(id: string): void {
    this.remove(id);
    if (this.state[id]) {
      delete this.state[id];
      this.save();
    }
  }

  /** Pause `id`; it stays paused across restarts until resumed. Instants while paused are not "missed". */
  pause(id: string): TriggerInfo {
    const e = this.get(id);
    if (!e.paused) {
      e.paused = true;
      this.heap.delete(e);
      this.record(id).paused = true;
      this.save();
      this.arm();
    }
    return this.changed(e);
  }

  resume(id: string): TriggerInfo {
    const e = this.get(id);
    if (e.paused) {
      e.paused = false;
      const st = this.record(id);
      st.paused = false;
      this.restart(e, st);
    }
    return this.changed(e);
  }

  /** Replace the schedule (and optionally the policy) of `id`; the next instant counts from now. */
  reschedule(id: string, schedule: Schedule, missed?: MissedPolicy): TriggerInfo {
    const e = this.get(id);
    e.schedule = schedule;
    if (missed) e.missed = missed;
    const st = this.record(id);
    st.schedule = scheduleKey(schedule);
    if (e.paused) {
      st.since = this.clock.now();
      this.save();
    } else {
      this.restart(e, st);
    }
    return this.changed(e);
  }

  /** Fire `id` now, paused or not, without moving its schedule. */
  trigger(id: string): FireEvent {
    const e = this.get(id);
    const now = this.clock.now();
    const ev = this.fire(e, now, "manual");
    this.save();
    return ev;
  }

  info(id: string): TriggerInfo | undefined {
    const e = this.entries.get(id);
    return e && this.describe(e);
  }

  list(): TriggerInfo[] {
    return [...this.entries.values()].map((e) => this.describe(e));
  }

  /** Resolves when every state change so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Drop every trigger and the timer, then flush. Records stay on disk. */
  async close(): Promise<void> {
    for (const e of this.entries.values()) this.heap.delete(e);
    this.entries.clear();
    this.arm();
    await this.flush();
  }

  private get(id: string): Entry {
    const e = this.entries.get(id);
    if (!e) throw new Error(`no schedule trigger "${id}" is registered`);
    return e;
  }

  private record(id: string): TriggerState {
    return (this.state[id] ??= {});
  }

  /** Count from now: instants before this moment are neither fired nor missed. */
  private restart(e: Entry, st: TriggerState): void {
    const now = this.clock.now();
    st.since = now;
    e.cursor = Math.max(st.lastScheduledAt ?? -Infinity, now);
    this.plan(e);
    this.save();
    this.arm();
  }

  private plan(e: Entry, memo?: Map<string, number | null>): void {
    let next: number | null;
    if (memo) {
      // Many triggers share a pattern and an instant; compute each pair once per wake.
      const key = `${e.schedule.cron}\u0000${e.schedule.timezone}\u0000${e.cursor}`;
      const hit = memo.get(key);
      next = hit !== undefined ? hit : nextAfter(e.schedule, e.cursor);
      if (hit === undefined) memo.set(key, next);
    } else {
      next = nextAfter(e.schedule, e.cursor);
    }
    if (next === null) {
      this.heap.delete(e);
      return;
    }
    e.due = next;
    this.heap.set(e);
  }

  private describe(e: Entry): TriggerInfo {
    const st = this.state[e.id] ?? {};
    return {
      id: e.id, schedule: e.schedule, missed: e.missed, paused: e.paused,
      next: !e.paused && this.heap.has(e) ? e.due : null,
      lastScheduledAt: st.lastScheduledAt ?? null, lastFiredAt: st.lastFiredAt ?? null,
    };
  }

  private changed(e: Entry): TriggerInfo {
    const info = this.describe(e);
    if (e.onChange) {
      try {
        e.onChange(info);
      } catch (err) {
        this.onError(toError(err), e.id);
      }
    }
    return info;
  }

  private fire(e: Entry, scheduledAt: number, reason: FireReason): FireEvent {
    const firedAt = this.clock.now();
    const st = this.record(e.id);
    st.lastFiredAt = firedAt;
    if (reason !== "manual") st.lastScheduledAt = scheduledAt;
    this.markDirty();
    this.stats.fires++;
    const ev: FireEvent = { id: e.id, scheduledAt, firedAt, reason };
    try {
      e.onFire(ev);
    } catch (err) {
      this.onError(toError(err), e.id);
    }
    return ev;
  }

  private readonly wake = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.stats.wakeups++;
    try {
      this.run();
    } finally {
      this.arm();
    }
  };

  private run(): void {
    const now = this.clock.now();
    const due: Entry[] = [];
    for (let top = this.heap.peek(); top && top.due <= now; top = this.heap.peek()) due.push(this.heap.pop()!);
    if (due.length === 0) return;
    // Fire everything first and plan afterwards, so the last of many simultaneous triggers is
    // not delayed by the cron arithmetic of all the others.
    for (const e of due) {
      if (this.entries.get(e.id) !== e || e.paused) continue;
      const at = e.due;
      if (now - at <= this.graceMs) {
        e.cursor = at;
        this.fire(e, at, "schedule");
        continue;
      }
      // Older instants were missed; only the most recent one may still fire.
      const latest = Math.max(at, latestAtOrBefore(e.schedule, now) ?? at);
      e.cursor = latest;
      if (now - latest <= this.graceMs) {
        this.fire(e, latest, "schedule");
      } else if (catchUp(e.missed, now - latest)) {
        this.fire(e, latest, "missed");
      } else {
        this.record(e.id).since = now;
        this.markDirty();
      }
    }
    const memo = new Map<string, number | null>();
    for (const e of due) {
      // A callback may have removed, paused, replaced or rescheduled its own trigger.
      if (this.entries.get(e.id) !== e || e.paused || this.heap.has(e)) continue;
      this.plan(e, memo);
      this.changed(e);
    }
    if (this.dirty) this.save();
  }

  private arm(): void {
    const top = this.heap.peek();
    if (!top) {
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    const now = this.clock.now();
    const at = Math.min(top.due, now + this.maxSleepMs);
    // An earlier timer already covers it: that wake re-arms for whatever is then first.
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(this.wake, Math.max(0, at - now));
  }

  private load(): Record<string, TriggerState> {
    if (!this.stateFile) return {};
    let raw: Partial<StateFile>;
    try {
      raw = readJsonSync<Partial<StateFile>>(this.stateFile, { version: 1, triggers: {} });
    } catch (err) {
      // A corrupt file must not stop every schedule: keep it aside for a human and start afresh.
      const aside = quarantineSync(this.stateFile, "it is not valid JSON").movedTo;
      this.onError(new Error(`schedule state ${this.stateFile} could not be read (${toError(err).message}); moved to ${aside}, starting without it`));
      return {};
    }
    const out: Record<string, TriggerState> = {};
    const cutoff = this.clock.now() - FORGET_AFTER_MS;
    const triggers = raw && typeof raw.triggers === "object" && raw.triggers ? raw.triggers : {};
    for (const [id, v] of Object.entries(triggers)) {
      if (!v || typeof v !== "object") continue;
      const st: TriggerState = {};
      const since = num(v.since), last = num(v.lastScheduledAt), fired = num(v.lastFiredAt);
      if (since !== undefined) st.since = since;
      if (last !== undefined) st.lastScheduledAt = last;
      if (fired !== undefined) st.lastFiredAt = fired;
      if (v.paused === true) st.paused = true;
      if (typeof v.schedule === "string") st.schedule = v.schedule;
      if (!st.paused && Math.max(since ?? -Infinity, last ?? -Infinity, fired ?? -Infinity) < cutoff) continue;
      out[id] = st;
    }
    return out;
  }

  private markDirty(): void {
    this.dirty = true;
  }

  /** Persist the state soon; writes are serialised and coalesced. */
  private save(): void {
    if (!this.stateFile) {
      this.dirty = false;
      return;
    }
    this.dirty = true;
    if (!this.writing) this.writing = this.writeLoop();
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        const file: StateFile = { version: 1, triggers: this.state };
        await writeJson(this.stateFile!, file);
      }
    } catch (err) {
      this.onError(new Error(`could not save schedule state to ${this.stateFile}: ${toError(err).message}`));
    } finally {
      this.writing = null;
    }
  }
}
