import { engineOf } from "../shared/runtime";
import type { NodeAPI, Node, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { highballHome, type HighballSettings } from "../../lib/home";
import { sharedScheduler, type FireEvent, type Scheduler } from "../../lib/schedule";
import { ScheduleTrigger, presetsOf } from "../../lib/schedule/trigger";
import { mountScheduleRoutes } from "../../lib/http/schedule-routes";

const TYPE = "highball-schedule-trigger";

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

/** What the editor's button and the admin route call on a deployed trigger. */
interface TriggerNode extends Node {
  fireNow(): FireEvent;
}

export = function (RED: NodeAPI) {
  mountScheduleRoutes(RED, (id) => {
    const node = RED.nodes.getNode(id) as TriggerNode | null;
    return node && node.type === TYPE && typeof node.fireNow === "function" ? node.fireNow() : null;
  });
  const schedulerFor = (): Scheduler => sharedScheduler(highballHome(RED.settings as unknown as HighballSettings), {
    onError: (err, id) => RED.log.warn(`highball schedule${id ? ` ${id}` : ""}: ${err.message}`),
  });

  function ScheduleTriggerNode(this: TriggerNode, def: TriggerDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    // The jobs this trigger feeds show its next run in the Backups sidebar and GET highball/jobs.
    const engine = engineOf(RED);
    const targets = ((def as unknown as { wires?: string[][] }).wires?.[0] ?? []);
    const trigger = new ScheduleTrigger(schedulerFor(), {
      id: node.id, name: def.name, schedule: def.schedule, timezone: def.timezone,
      presets: presetsOf(def as unknown as Record<string, unknown>),
      missed: def.missed, missedHours: def.missedHours, passthrough: def.passthrough,
    }, {
      fire: (out, via) => (via ?? ((m) => node.send([m as NodeMessage, null])))(out),
      look: (l) => node.status(l),
      next: (at) => { for (const t of targets) engine.nextRuns.set(t, at); },
    });
    node.fireNow = () => trigger.fireNow();

    const problem = trigger.begin();
    if (problem) node.error(problem);

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      try {
        const reply = trigger.act(msg as unknown as Record<string, unknown>, (out) => send([out as NodeMessage, null]));
        if (reply) send([null, reply as NodeMessage]);
        done();
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      const closing = trigger.close();
      for (const t of targets) engine.nextRuns.delete(t);
      closing.then(() => done(), () => done());
    });
  }

  RED.nodes.registerType(TYPE, ScheduleTriggerNode);
};
