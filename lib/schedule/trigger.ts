/**
 * One schedule trigger, as the highball-schedule-trigger node runs it: its schedule and
 * missed-run policy, the message a fire sends, the actions an input message asks for, the
 * status it shows. Knows no Node-RED: the node hands in how to send and how to show.
 */
import { parseSchedule, nextAfter, type PresetInput, type Schedule } from "./parse";
import { parseMissedPolicy, formatMissedPolicy, type MissedPolicy } from "./missed";
import { shortWhen } from "./timezone";
import type { Scheduler, FireEvent, TriggerInfo } from "./scheduler";

export const TRIGGER_ACTIONS = ["trigger", "pause", "resume", "status", "schedule"] as const;
export type TriggerAction = (typeof TRIGGER_ACTIONS)[number];

/** The node's settings, as the editor saves them. */
export interface TriggerConfig {
  id: string;
  name: string;
  schedule: string;
  timezone: string;
  presets: PresetInput;
  missed: string;
  missedHours: string | number;
  passthrough: boolean;
}

export interface TriggerLook {
  fill: "red" | "grey" | "blue";
  shape: "ring";
  text: string;
}

/** What the trigger asks of its host (the node). */
export interface TriggerHost {
  /** A fire's message on output 1 (`via` is the input's send when an input asked for the fire). */
  fire(out: Record<string, unknown>, via: ((out: Record<string, unknown>) => void) | null): void;
  look(l: TriggerLook): void;
  /** The next run, or null when there is none, for the jobs this trigger feeds. */
  next(at: number | null): void;
}

/** The preset times of an object of strings or numbers (the node's def or a query). */
export function presetsOf(src: Record<string, unknown>): PresetInput {
  const s = (k: string): string | undefined => (src[k] === undefined || src[k] === null ? undefined : String(src[k]));
  return {
    hourlyMinute: s("hourlyMinute"), dailyTime: s("dailyTime"), weeklyDay: s("weeklyDay"),
    weeklyTime: s("weeklyTime"), monthlyDay: s("monthlyDay"), monthlyTime: s("monthlyTime"),
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ScheduleTrigger {
  private schedule: Schedule | null = null;
  /** Why the trigger is not scheduled (a sentence), or null. */
  problem: string | null = null;
  private missed: MissedPolicy = { mode: "skip" };
  // Set while an input message asks for a manual fire, so the fire is sent as its reply.
  private manual: { msg: Record<string, unknown>; send: (out: Record<string, unknown>) => void } | null = null;

  constructor(private readonly scheduler: Scheduler, private readonly cfg: TriggerConfig, private readonly host: TriggerHost) {}

  /** Schedules the configured schedule; the sentence of why not when it is invalid. */
  begin(): string | null {
    try {
      this.missed = parseMissedPolicy(this.cfg.missed, this.cfg.missedHours);
      this.start(parseSchedule(this.cfg.schedule, { timezone: this.cfg.timezone, presets: this.cfg.presets }));
    } catch (err) {
      this.problem = messageOf(err);
      this.show();
    }
    return this.problem;
  }

  topic(): string {
    return this.cfg.name || this.schedule?.text || this.cfg.schedule || "schedule";
  }

  fireNow(): FireEvent {
    const id = this.cfg.id;
    if (this.scheduler.has(id)) return this.scheduler.trigger(id);
    // An invalid schedule does not stop a manual run.
    const now = Date.now();
    const ev: FireEvent = { id, scheduledAt: now, firedAt: now, reason: "manual" };
    this.onFire(ev);
    return ev;
  }

  /**
   * Does what an input message asks (msg.action, "trigger" when absent): fires through `send`,
   * or answers the status payload (output 2). Throws a sentence when it cannot.
   */
  act(msg: Record<string, unknown>, send: (out: Record<string, unknown>) => void): { topic: string; action: TriggerAction; payload: unknown } | null {
    const raw = msg.action === undefined || msg.action === null || msg.action === "" ? "trigger" : String(msg.action).trim().toLowerCase();
    if (!(TRIGGER_ACTIONS as readonly string[]).includes(raw)) {
      throw new Error(`unknown action "${String(msg.action)}": expected ${TRIGGER_ACTIONS.join(", ")} (or no action to fire now)`);
    }
    const action = raw as TriggerAction;
    const id = this.cfg.id;
    switch (action) {
      case "trigger":
        this.manual = { msg, send };
        try {
          this.fireNow();
        } finally {
          this.manual = null;
        }
        return null;
      case "pause":
      case "resume":
        if (!this.scheduler.has(id)) throw new Error(`cannot ${action}: ${this.problem ?? "the trigger is not scheduled"}`);
        this.show(action === "pause" ? this.scheduler.pause(id) : this.scheduler.resume(id));
        break;
      case "status":
        break;
      case "schedule": {
        const p = msg.payload as unknown;
        const obj = p && typeof p === "object" ? (p as Record<string, unknown>) : {};
        const text = typeof p === "string" ? p : typeof obj.schedule === "string" ? obj.schedule : null;
        if (text === null) throw new Error(`the "schedule" action needs msg.payload to be the new schedule, like "daily at 02:00"`);
        const tz = typeof obj.timezone === "string" ? obj.timezone : this.cfg.timezone;
        // Parse first: an invalid schedule leaves the running one untouched.
        const s = parseSchedule(text, { timezone: tz, presets: this.cfg.presets });
        if (obj.missed !== undefined) this.missed = parseMissedPolicy(String(obj.missed));
        this.start(s);
        break;
      }
    }
    return { topic: this.topic(), action, payload: this.status() };
  }

  /** The payload of a status reply. */
  status(): Record<string, unknown> {
    const info = this.scheduler.info(this.cfg.id);
    const next = info?.next ?? null;
    const s = this.schedule;
    return {
      name: this.cfg.name || "",
      schedule: s?.text ?? this.cfg.schedule ?? "",
      cron: s?.cron ?? null,
      description: s?.description ?? null,
      timezone: s?.timezone ?? (this.cfg.timezone || null),
      missed: formatMissedPolicy(this.missed),
      paused: info?.paused ?? false,
      next,
      nextText: next !== null && s ? shortWhen(next, s.timezone, Date.now()) : null,
      lastScheduledAt: info?.lastScheduledAt ?? null,
      lastFiredAt: info?.lastFiredAt ?? null,
      error: this.problem,
    };
  }

  /** Stops firing; the persisted record stays, so a redeploy re-adds this id without firing an instant twice. */
  close(): Promise<void> {
    this.scheduler.remove(this.cfg.id);
    return this.scheduler.flush();
  }

  private start(s: Schedule): void {
    this.schedule = s;
    this.problem = null;
    const id = this.cfg.id;
    const spec = { schedule: s, missed: this.missed, onFire: (ev: FireEvent) => this.onFire(ev), onChange: (i: TriggerInfo) => this.show(i) };
    this.show(this.scheduler.has(id) ? this.scheduler.reschedule(id, s, this.missed) : this.scheduler.add(id, spec));
  }

  private onFire(ev: FireEvent): void {
    const { cfg, schedule } = this;
    const info = this.scheduler.info(cfg.id);
    const next = schedule && !info?.paused ? nextAfter(schedule, Math.max(ev.scheduledAt, ev.firedAt)) : null;
    const input = this.manual?.msg;
    const out = (cfg.passthrough && input ? input : {}) as Record<string, unknown>;
    const inputPayload = cfg.passthrough && input ? input.payload : undefined;
    delete out.action;
    out.topic = this.topic();
    out.payload = { scheduledAt: ev.scheduledAt, firedAt: ev.firedAt, reason: ev.reason };
    out.trigger = {
      id: cfg.id, name: cfg.name || "", reason: ev.reason, scheduledAt: ev.scheduledAt, firedAt: ev.firedAt,
      lateMs: ev.firedAt - ev.scheduledAt, next,
      schedule: schedule?.text ?? cfg.schedule ?? "", cron: schedule?.cron ?? null,
      description: schedule?.description ?? null, timezone: schedule?.timezone ?? null,
      missed: formatMissedPolicy(this.missed),
      ...(inputPayload !== undefined ? { input: inputPayload } : {}),
    };
    this.host.fire(out, this.manual ? this.manual.send : null);
  }

  private show(info?: TriggerInfo): void {
    const { schedule, problem } = this;
    this.host.next(schedule && !problem && !info?.paused ? info?.next ?? null : null);
    if (problem || !schedule) {
      const p = problem ?? "";
      const what = p.startsWith("unknown timezone") ? "invalid timezone"
        : p.startsWith("invalid missed-run") ? "invalid policy"
          : p.startsWith("invalid preset") ? "invalid preset time" : "invalid schedule";
      this.host.look({ fill: "red", shape: "ring", text: what });
    } else if (info?.paused) {
      this.host.look({ fill: "grey", shape: "ring", text: "paused" });
    } else if (!info || info.next === null) {
      this.host.look({ fill: "grey", shape: "ring", text: "no next run" });
    } else {
      this.host.look({ fill: "blue", shape: "ring", text: `next: ${shortWhen(info.next, schedule.timezone, Date.now())}` });
    }
  }
}
