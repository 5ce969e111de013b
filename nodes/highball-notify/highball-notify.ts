// highball-notify: run results in, Telegram and email out (through lib/notify), one short text
// per notification sent on the output for a dashboard toast; MQTT state and Home Assistant
// discovery on the second output (lib/mqtt/channel.ts) when the channel is on.
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { Notifier, type NotifyConfig } from "../../lib/notify";
import { notifyConfig, notifyLook, forgetTarget, submitError, type NotifySettings, type NotifyCredentials } from "../../lib/notify/settings";
import type { MqttDef } from "../../lib/mqtt/channel";
import { mqttOf } from "./mqtt";
import { mountNotifyRoutes } from "../../lib/http/notify-routes";
import { engineOf, afterStart } from "../shared/runtime";
import { digestFile, knownJobsOf } from "../../lib/notify/digest";
import type { RunRecord } from "../../lib/runs/types";

type NotifyDef = NodeDef & NotifySettings & MqttDef;
type NotifyMsg = NodeMessageInFlow & { action?: unknown };

const TYPE = "highball-notify";

/** Deployed nodes' settings, for the test route: the route needs them, not the node object. */
const deployed = new Map<string, NotifyConfig>();

export = function (RED: NodeAPI) {
  function NotifyNode(this: Node<NotifyCredentials>, def: NotifyDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const engine = engineOf(RED);
    const config = notifyConfig(def, node.credentials, digestFile(engine.home, node.id));
    // A digest (one caught up at start too) waits for the flows to start and the jobs' summaries.
    const started = new Promise<void>((resolve) => afterStart(RED, node, resolve));
    const notifier = new Notifier(config, { jobs: () => knownJobsOf(engine), before: started.then(() => engine.history.ready()) });
    // The digest counts every run of this Node-RED, whatever is wired to the node.
    const counted = (r: RunRecord) => void notifier.recordRun({ jobId: r.jobId, job: r.job, runId: r.runId, status: r.status, error: r.error, at: r.finishedAt });
    engine.on("end", counted);
    engine.on("interrupted", counted);
    deployed.set(node.id, config);
    const wired = mqttOf(RED, node, def);
    const mqtt = wired?.channel;

    let failing = false;
    let closing = false;
    const refresh = (): void => {
      if (closing) return;
      node.status(notifyLook({
        problems: notifier.problems.length > 0 || (mqtt?.problems.length ?? 0) > 0, failing,
        held: notifier.heldCount, sent: notifier.sent, channels: notifier.channels.length,
      }));
    };
    for (const p of notifier.problems) node.warn(p);
    for (const p of mqtt?.problems ?? []) node.warn(p);
    refresh();

    // Staleness needs to remember last successes across redeploys (and restarts, with a persistent store).
    const context = node.context();
    try {
      notifier.seedStale(context.get("stale"));
    } catch {
      /* an unreadable context only means staleness starts afresh */
    }
    notifier.on("tracked", () => {
      try {
        context.set("stale", notifier.staleEntries());
      } catch {
        /* see above */
      }
    });

    notifier.on("held", refresh);
    notifier.on("sent", (d) => {
      if (d.failures.length === 0) failing = false;
      refresh();
      // What is flushed on close still reaches Telegram and email; the flow is being torn down.
      if (closing) return;
      const n = d.notification;
      node.send({ topic: n.job ?? "highball", payload: n.text ?? n.short, notification: { ...n, channels: d.channels, failures: d.failures } } as unknown as NodeMessageInFlow);
    });
    notifier.on("failure", (f) => {
      failing = true;
      refresh();
      // Failures of a submitted message go to its done(err); batches and stale alerts have no msg.
      if (!f.awaited) node.error(`The notification "${f.notification.subject}" was not sent by ${f.channel}: ${f.error}`);
    });

    node.on("input", (msg, _send, done) => {
      const m = msg as NotifyMsg;
      if (mqtt?.input(m, done)) return;
      if (m.action === "flush") {
        void notifier.flush();
        done();
        return;
      }
      if (m.action === "digest") {
        notifier.digest().then((r) => {
          const error = submitError(r);
          done(error ? new Error(error) : undefined);
        }, () => done());
        return;
      }
      if (m.action === "forget") {
        const id = forgetTarget(m);
        const mqttKnew = mqtt?.forget(id) ?? false;
        if (!notifier.forget(id) && !mqttKnew) node.warn(`No job "${id}" is watched for staleness.`);
        done();
        return;
      }
      mqtt?.observe(msg);
      notifier.submit(msg).then((r) => {
        const error = submitError(r);
        done(error ? new Error(error) : undefined);
      }, () => done());
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      wired?.close();
      engine.off("end", counted);
      engine.off("interrupted", counted);
      if (deployed.get(node.id) === config) deployed.delete(node.id);
      notifier.close().then(() => {
        notifier.removeAllListeners();
        done();
      }, () => done());
    });
  }

  RED.nodes.registerType<Node<NotifyCredentials>, NotifyDef, unknown, NotifyCredentials>(TYPE, NotifyNode, {
    credentials: {
      botToken: { type: "password" },
      user: { type: "text" },
      password: { type: "password" },
      pingUrl: { type: "password" },
    },
  });
  mountNotifyRoutes(RED, (id) => {
    const node = RED.nodes.getNode(id) as (Node & { type?: string }) | null;
    return node && node.type === TYPE ? deployed.get(id) ?? null : null;
  });
};
