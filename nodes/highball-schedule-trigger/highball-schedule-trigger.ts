import { engineOf } from "../shared/runtime";
import type { NodeAPI, Node, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import type { Request, Response } from "express";
import { highballHome, type HighballSettings } from "../../lib/home";
import {
  parseSchedule, parseMissedPolicy, formatMissedPolicy, nextRuns, nextAfter, sharedScheduler, shortWhen, longWhen,
  type FireEvent, type MissedPolicy, type PresetInput, type Schedule, type Scheduler, type TriggerInfo,
} from "../../lib/schedule";

const TYPE = "highball-schedule-trigger";
const ACTIONS = ["trigger", "pause", "resume", "status", "schedule"] as const;
type Action = (typeof ACTIONS)[number];

interface TriggerDef extends NodeDef {
  schedule: string;
  timezone: string;
  hourlyMinute: string | number;
  dailyTime: string;
  weeklyDay: string;
  weeklyTime: string;
  monthlyDay: string | number;
  monthlyTime: string;
  missed: string;
  missedHours: string | number;
  passthrough: boolean;
}

type InMsg = NodeMessageInFlow & { action?: unknown };

/** What the editor's button and the admin route call on a deployed trigger. */
interface TriggerNode extends Node {
  fireNow(): FireEvent;
}

function presetsOf(src: Record<string, unknown>): PresetInput {
  const s = (k: string): string | undefined => (src[k] === undefined || src[k] === null ? undefined : String(src[k]));
  return {
    hourlyMinute: s("hourlyMinute"), dailyTime: s("dailyTime"), weeklyDay: s("weeklyDay"),
    weeklyTime: s("weeklyTime"), monthlyDay: s("monthlyDay"), monthlyTime: s("monthlyTime"),
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const routed = new WeakSet<object>();

/** Admin routes of the trigger; mounted once per admin app however often the module loads. */
function registerScheduleRoutes(RED: NodeAPI): void {
  const app = RED.httpAdmin;
  if (!app || routed.has(app)) return;
  routed.add(app);

  // Live validation for the editor: the next runs of what is typed, or the sentence saying why not.
  app.get("/highball/schedule/preview", RED.auth.needsPermission("highball.read"), (req: Request, res: Response) => {
    const q = req.query as Record<string, unknown>;
    const count = Math.min(Math.max(Number(q.count) || 5, 1), 20);
    try {
      const s = parseSchedule(typeof q.expr === "string" ? q.expr : "", {
        timezone: typeof q.tz === "string" ? q.tz : undefined,
        presets: presetsOf(q),
      });
      const next = nextRuns(s, Date.now(), count).map((d) => d.getTime());
      res.json({ ...s, next: next.map((t) => new Date(t).toISOString()), local: next.map((t) => longWhen(t, s.timezone)) });
    } catch (err) {
      res.status(400).json({ error: messageOf(err) });
    }
  });

  app.post("/highball/schedule/:id/trigger", RED.auth.needsPermission("highball.write"), (req: Request, res: Response) => {
    const node = RED.nodes.getNode(String(req.params.id)) as TriggerNode | null;
    if (!node || node.type !== TYPE || typeof node.fireNow !== "function") {
      res.status(404).json({ error: `no deployed schedule trigger has id "${req.params.id}"` });
      return;
    }
    try {
      const ev = node.fireNow();
      res.json({ firedAt: ev.firedAt });
    } catch (err) {
      res.status(500).json({ error: messageOf(err) });
    }
  });
}

export = function (RED: NodeAPI) {
  registerScheduleRoutes(RED);
  const schedulerFor = (): Scheduler => sharedScheduler(highballHome(RED.settings as unknown as HighballSettings), {
    onError: (err, id) => RED.log.warn(`highball schedule${id ? ` ${id}` : ""}: ${err.message}`),
  });

  function ScheduleTriggerNode(this: TriggerNode, def: TriggerDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const scheduler = schedulerFor();
    const presets = presetsOf(def as unknown as Record<string, unknown>);
    let schedule: Schedule | null = null;
    let problem: string | null = null;
    let missed: MissedPolicy = { mode: "skip" };
    // Set while an input message asks for a manual fire, so the fire is sent as its reply.
    let manual: { msg: InMsg; send: (m: NodeMessage | Array<NodeMessage | null>) => void } | null = null;

    const topic = (): string => def.name || schedule?.text || def.schedule || "schedule";

    // The jobs this trigger feeds show its next run in the Backups sidebar and GET highball/jobs.
    const engine = engineOf(RED);
    const targets = ((def as unknown as { wires?: string[][] }).wires?.[0] ?? []);
    const show = (info?: TriggerInfo): void => {
      for (const t of targets) engine.nextRuns.set(t, schedule && !problem && !info?.paused ? info?.next ?? null : null);
      if (problem || !schedule) {
        const p = problem ?? "";
        const what = p.startsWith("unknown timezone") ? "invalid timezone"
          : p.startsWith("invalid missed-run") ? "invalid policy"
            : p.startsWith("invalid preset") ? "invalid preset time" : "invalid schedule";
        node.status({ fill: "red", shape: "ring", text: what });
      } else if (info?.paused) {
        node.status({ fill: "grey", shape: "ring", text: "paused" });
      } else if (!info || info.next === null) {
        node.status({ fill: "grey", shape: "ring", text: "no next run" });
      } else {
        node.status({ fill: "blue", shape: "ring", text: `next: ${shortWhen(info.next, schedule.timezone, Date.now())}` });
      }
    };

    const statusPayload = () => {
      const info = scheduler.info(node.id);
      const next = info?.next ?? null;
      return {
        name: def.name || "",
        schedule: schedule?.text ?? def.schedule ?? "",
        cron: schedule?.cron ?? null,
        description: schedule?.description ?? null,
        timezone: schedule?.timezone ?? (def.timezone || null),
        missed: formatMissedPolicy(missed),
        paused: info?.paused ?? false,
        next,
        nextText: next !== null && schedule ? shortWhen(next, schedule.timezone, Date.now()) : null,
        lastScheduledAt: info?.lastScheduledAt ?? null,
        lastFiredAt: info?.lastFiredAt ?? null,
        error: problem,
      };
    };

    const onFire = (ev: FireEvent): void => {
      const info = scheduler.info(node.id);
      const next = schedule && !info?.paused ? nextAfter(schedule, Math.max(ev.scheduledAt, ev.firedAt)) : null;
      const input = manual?.msg;
      const out = (def.passthrough && input ? input : {}) as NodeMessage & Record<string, unknown>;
      const inputPayload = def.passthrough && input ? input.payload : undefined;
      delete out.action;
      out.topic = topic();
      out.payload = { scheduledAt: ev.scheduledAt, firedAt: ev.firedAt, reason: ev.reason };
      out.trigger = {
        id: node.id, name: def.name || "", reason: ev.reason, scheduledAt: ev.scheduledAt, firedAt: ev.firedAt,
        lateMs: ev.firedAt - ev.scheduledAt, next,
        schedule: schedule?.text ?? def.schedule ?? "", cron: schedule?.cron ?? null,
        description: schedule?.description ?? null, timezone: schedule?.timezone ?? null,
        missed: formatMissedPolicy(missed),
        ...(inputPayload !== undefined ? { input: inputPayload } : {}),
      };
      (manual ? manual.send : node.send.bind(node))([out, null]);
    };

    const start = (s: Schedule): void => {
      schedule = s;
      problem = null;
      const spec = { schedule: s, missed, onFire, onChange: show };
      show(scheduler.has(node.id) ? scheduler.reschedule(node.id, s, missed) : scheduler.add(node.id, spec));
    };

    node.fireNow = (): FireEvent => {
      if (scheduler.has(node.id)) return scheduler.trigger(node.id);
      // An invalid schedule does not stop a manual run.
      const now = Date.now();
      const ev: FireEvent = { id: node.id, scheduledAt: now, firedAt: now, reason: "manual" };
      onFire(ev);
      return ev;
    };

    try {
      missed = parseMissedPolicy(def.missed, def.missedHours);
      start(parseSchedule(def.schedule, { timezone: def.timezone, presets }));
    } catch (err) {
      problem = messageOf(err);
      show();
      node.error(problem);
    }

    node.on("input", (msg: InMsg, send, done) => {
      const raw = msg.action === undefined || msg.action === null || msg.action === "" ? "trigger" : String(msg.action).trim().toLowerCase();
      if (!(ACTIONS as readonly string[]).includes(raw)) {
        done(new Error(`unknown action "${String(msg.action)}": expected ${ACTIONS.join(", ")} (or no action to fire now)`));
        return;
      }
      const action = raw as Action;
      const reply = (): void => {
        send([null, { topic: topic(), action, payload: statusPayload() }]);
      };
      try {
        switch (action) {
          case "trigger":
            manual = { msg, send };
            try {
              node.fireNow();
            } finally {
              manual = null;
            }
            break;
          case "pause":
          case "resume":
            if (!scheduler.has(node.id)) throw new Error(`cannot ${action}: ${problem ?? "the trigger is not scheduled"}`);
            show(action === "pause" ? scheduler.pause(node.id) : scheduler.resume(node.id));
            reply();
            break;
          case "status":
            reply();
            break;
          case "schedule": {
            const p = msg.payload as unknown;
            const obj = p && typeof p === "object" ? (p as Record<string, unknown>) : {};
            const text = typeof p === "string" ? p : typeof obj.schedule === "string" ? obj.schedule : null;
            if (text === null) throw new Error(`the "schedule" action needs msg.payload to be the new schedule, like "daily at 02:00"`);
            const tz = typeof obj.timezone === "string" ? obj.timezone : def.timezone;
            // Parse first: an invalid schedule leaves the running one untouched.
            const s = parseSchedule(text, { timezone: tz, presets });
            if (obj.missed !== undefined) missed = parseMissedPolicy(String(obj.missed));
            start(s);
            reply();
            break;
          }
        }
        done();
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      // The persisted record stays: a redeploy re-adds this id without firing an instant twice.
      scheduler.remove(node.id);
      for (const t of targets) engine.nextRuns.delete(t);
      scheduler.flush().then(() => done(), () => done());
    });
  }

  RED.nodes.registerType(TYPE, ScheduleTriggerNode);
};
