// highball-notify: run results in, Telegram and email out (through lib/notify), one short text
// per notification sent on the output for a dashboard toast.
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from "node-red";
import { Notifier, sendTest, type NotifyConfig, type SmtpSecurity } from "../../lib/notify";
import { mqttChannel, type MqttDef } from "./mqtt-channel";

interface NotifyDef extends NodeDef, MqttDef {
  onFailure?: boolean;
  onWarning?: boolean;
  onDelay?: boolean;
  onInterrupted?: boolean;
  onSuccess?: boolean;
  onCancelled?: boolean;
  windowSeconds?: number | string;
  burst?: number | string;
  staleHours?: number | string;
  logLines?: number | string;
  chatId?: string;
  parseMode?: string;
  apiRoot?: string;
  smtpHost?: string;
  smtpPort?: number | string;
  smtpSecurity?: string;
  smtpFrom?: string;
  smtpTo?: string;
  allowSelfSigned?: boolean;
  subjectTemplate?: string;
  bodyTemplate?: string;
  telegramTemplate?: string;
  logLink?: string;
}

interface Creds {
  botToken?: string;
  user?: string;
  password?: string;
}

type NotifyMsg = NodeMessageInFlow & { action?: unknown };

const TYPE = "highball-notify";

function number(v: unknown, def: number): number {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : def;
}

function text(v: unknown): string {
  return typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "";
}

function flag(v: unknown, def: boolean): boolean {
  return typeof v === "boolean" ? v : v === "true" ? true : v === "false" ? false : def;
}

function toConfig(def: NotifyDef, creds: Creds | undefined): NotifyConfig {
  const security: SmtpSecurity = def.smtpSecurity === "tls" || def.smtpSecurity === "none" ? def.smtpSecurity : "starttls";
  const config: NotifyConfig = {
    name: def.name ?? "",
    policy: {
      onFailure: flag(def.onFailure, true),
      onWarning: flag(def.onWarning, true),
      onDelay: flag(def.onDelay, true),
      onInterrupted: flag(def.onInterrupted, true),
      onSuccess: flag(def.onSuccess, false),
      onCancelled: flag(def.onCancelled, false),
    },
    windowMs: Math.round(number(def.windowSeconds, 60) * 1000),
    burst: number(def.burst, 3),
    staleMs: Math.round(number(def.staleHours, 0) * 3600_000),
    logLines: number(def.logLines, 20),
    templates: {
      subject: def.subjectTemplate ?? "",
      body: def.bodyTemplate ?? "",
      telegram: def.telegramTemplate ?? "",
      logLink: def.logLink ?? "",
    },
  };
  const chatId = text(def.chatId);
  const token = text(creds?.botToken);
  if (chatId || token) {
    config.telegram = {
      token,
      chatId,
      parseMode: def.parseMode === "MarkdownV2" ? "MarkdownV2" : "HTML",
      ...(text(def.apiRoot) ? { apiRoot: text(def.apiRoot) } : {}),
    };
  }
  const host = text(def.smtpHost);
  const to = text(def.smtpTo);
  if (host || to) {
    const port = number(def.smtpPort, 0);
    config.email = {
      host,
      to,
      security,
      ...(port > 0 ? { port } : {}),
      ...(text(def.smtpFrom) ? { from: text(def.smtpFrom) } : {}),
      ...(text(creds?.user) ? { user: text(creds?.user), password: creds?.password ?? "" } : {}),
      tlsRejectUnauthorized: !flag(def.allowSelfSigned, false),
    };
  }
  return config;
}

/** Deployed nodes' settings, for the test route: the route needs them, not the node object. */
const deployed = new Map<string, NotifyConfig>();
/** The route is mounted once per admin app, however often the module is initialised. */
const mounted = new WeakSet<object>();

function mountTestRoute(RED: NodeAPI): void {
  const app = RED.httpAdmin as unknown as object | undefined;
  if (!app || mounted.has(app)) return;
  mounted.add(app);
  RED.httpAdmin.post("/highball/notify/:id/test", RED.auth.needsPermission("highball.write"), (req, res) => {
    const id = String(req.params.id ?? "");
    const config = deployed.get(id);
    const node = RED.nodes.getNode(id) as (Node & { type?: string }) | null;
    if (!config || !node || node.type !== TYPE) {
      res.status(404).json({ error: "No deployed notify node has this id: deploy the flow, then try again." });
      return;
    }
    sendTest(config).then(
      (r) => res.status(r.ok ? 200 : r.results.length ? 502 : 400).json(r),
      () => res.status(500).json({ error: "The test message could not be sent." }),
    );
  });
}

export = function (RED: NodeAPI) {
  function NotifyNode(this: Node<Creds>, def: NotifyDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = toConfig(def, node.credentials);
    const notifier = new Notifier(config);
    deployed.set(node.id, config);
    // MQTT state and Home Assistant discovery on the second output, when the channel is on.
    const mqtt = mqttChannel(RED, node, def);

    let failing = false;
    let closing = false;
    const refresh = (): void => {
      if (closing) return;
      let s: NodeStatus = {};
      if (notifier.problems.length || mqtt?.problems.length) s = { fill: "red", shape: "ring", text: "check settings" };
      else if (failing) s = { fill: "red", shape: "dot", text: "delivery failed" };
      else if (notifier.heldCount > 0) s = { fill: "yellow", shape: "ring", text: `batching ${notifier.heldCount}` };
      else if (notifier.sent > 0) s = { fill: "green", shape: "dot", text: `sent ${notifier.sent}` };
      else if (notifier.channels.length === 0) s = { fill: "grey", shape: "ring", text: "output only" };
      node.status(s);
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
      node.send({
        topic: n.job ?? "highball",
        payload: n.short,
        notification: { ...n, channels: d.channels, failures: d.failures },
      } as unknown as NodeMessageInFlow);
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
      if (m.action === "forget") {
        const p = m.payload as { jobId?: unknown; job?: unknown } | undefined;
        const id = text(p && typeof p === "object" ? p.jobId ?? p.job : m.payload) || text(m.topic);
        const mqttKnew = mqtt?.forget(id) ?? false;
        if (!notifier.forget(id) && !mqttKnew) node.warn(`No job "${id}" is watched for staleness.`);
        done();
        return;
      }
      mqtt?.observe(msg);
      notifier.submit(msg).then((r) => {
        if (r.state === "invalid") return done(new Error(r.error));
        if (r.state !== "sent" && r.state !== "failed") return done();
        const { failures, notification } = r.delivery;
        if (failures.length === 0) return done();
        const by = r.state === "sent" ? ` by ${failures.map((f) => f.channel).join(" and ")}` : "";
        done(new Error(`The notification "${notification.subject}" was not sent${by}: ${failures.map((f) => f.error).join(" ")}`));
      }, () => done());
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      mqtt?.close();
      if (deployed.get(node.id) === config) deployed.delete(node.id);
      notifier.close().then(() => {
        notifier.removeAllListeners();
        done();
      }, () => done());
    });
  }

  RED.nodes.registerType<Node<Creds>, NotifyDef, unknown, Creds>(TYPE, NotifyNode, {
    credentials: {
      botToken: { type: "password" },
      user: { type: "text" },
      password: { type: "password" },
    },
  });
  mountTestRoute(RED);
};
