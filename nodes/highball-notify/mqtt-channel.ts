// The notify node's MQTT channel: retained job state and Home Assistant discovery, sent on the
// node's second output for a core `mqtt out` node (docs/mqtt.md). It mirrors every job of this
// Node-RED's run engine, whatever is wired to the node, and takes run commands from a core
// `mqtt in` node wired to its input. The topics and payloads are built in lib/mqtt.
import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { homeAssistantStatusTopic, MqttBridge, mqttSettings, type DeployedJob, type MqttMessage } from "../../lib/mqtt";
import type { ActiveRun } from "../../lib/runs/engine";
import type { RunRecord } from "../../lib/runs/types";
import { engineOf, message } from "../shared/runtime";

export interface MqttDef {
  mqtt?: boolean | string;
  mqttBase?: string;
  mqttInstance?: string;
  mqttDiscovery?: boolean | string;
  mqttPrefix?: string;
}

export interface MqttChannel {
  /** Plain sentences for settings that cannot work. */
  readonly problems: string[];
  /** Takes a message meant for the channel (a run command, Home Assistant's birth, `announce`); true when it did. */
  input(msg: NodeMessageInFlow & { action?: unknown }, done: (err?: Error) => void): boolean;
  /** Sees a message the notifier gets too: run results and delay notices update the state topics. */
  observe(msg: NodeMessageInFlow): void;
  /** Removes a job's entities and topics; false when the channel does not know it. */
  forget(idOrName: string): boolean;
  close(): void;
}

const CONTEXT_KEY = "mqtt";

function version(): string {
  try {
    // dist/nodes/highball-notify/ → the package root
    return (JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8")) as { version?: string }).version ?? "";
  } catch {
    return "";
  }
}

type NodeStatusEvent = { id?: string; status?: { fill?: string } };

/** The channel of one notify node, or null when its MQTT channel is off. */
export function mqttChannel(RED: NodeAPI, node: Node, def: MqttDef): MqttChannel | null {
  if (!(def.mqtt === true || def.mqtt === "true")) return null;
  const { settings, problems } = mqttSettings(
    { base: def.mqttBase, instance: def.mqttInstance, discovery: def.mqttDiscovery, discoveryPrefix: def.mqttPrefix, version: version() },
    hostname(),
  );
  const context = node.context();
  let remembered: unknown;
  try {
    remembered = context.get(CONTEXT_KEY);
  } catch {
    /* an unreadable context only means the jobs are learnt afresh */
  }
  const bridge = new MqttBridge(settings, remembered);
  const engine = engineOf(RED);
  const haStatus = homeAssistantStatusTopic(settings);
  let closing = false;
  let started = false;

  const send = (list: MqttMessage[] | null): void => {
    if (closing || !list || list.length === 0) return;
    node.send([null, list.map((m) => ({ topic: m.topic, payload: m.payload, retain: m.retain, qos: m.qos }))] as unknown as NodeMessageInFlow[]);
    try {
      context.set(CONTEXT_KEY, bridge.snapshot());
    } catch {
      /* see above */
    }
  };

  const deployed = (): DeployedJob[] => [...engine.jobs.entries()].map(([jobId, e]) => ({
    jobId, name: e.job.name, engine: e.job.engine, enabled: e.job.enabled !== false,
  }));

  /** After a restart (or for a job deployed later) the channel knows nothing of the last runs: the jobs' summaries do. */
  const seed = async (): Promise<MqttMessage[]> => {
    const out: MqttMessage[] = [];
    await engine.history.ready().catch(() => undefined);
    for (const job of bridge.snapshot()) {
      if (job.state && job.lastSuccessAt !== undefined) continue;
      // The job's summary, never its history file.
      const s = engine.history.summary(job.jobId);
      out.push(...bridge.seed(job.jobId, (s?.last as unknown as Record<string, unknown>) ?? null, s?.lastSuccess?.finishedAt));
    }
    return out;
  };

  const announce = (): void => {
    if (problems.length) return;
    send(bridge.announce());
  };

  const onFlowsStarted = (): void => {
    if (closing || problems.length) return;
    if (!started) {
      started = true;
      clearTimeout(fallback);
      bridge.deploy(deployed());
      void seed().then(announce, announce);
    } else {
      // A later deploy that left this node alone: new, renamed, disabled and removed jobs.
      send(bridge.deploy(deployed()));
      void seed().then(send, () => undefined);
    }
  };
  // Runtimes that never say the flows started (none known) still get the announcement.
  const fallback = setTimeout(onFlowsStarted, 1500);
  RED.events.on("flows:started", onFlowsStarted);

  const onStart = (run: ActiveRun): void => {
    if (!started || problems.length) return;
    send(bridge.runStarted(run.key, run.job.name, run.job.engine));
  };
  const onEnd = (record: RunRecord): void => {
    if (!started || problems.length) return;
    send(bridge.update(record));
  };
  engine.on("start", onStart);
  engine.on("end", onEnd);

  // The mqtt out node wired to the second output turns green once its broker connection is up
  // (again): that is when retained messages can be (re)published. Messages sent before are lost.
  const fills = new Map<string, string | undefined>();
  const onNodeStatus = (e: NodeStatusEvent): void => {
    if (!e?.id || closing) return;
    const wires = (node as unknown as { wires?: string[][] }).wires ?? [];
    if (!(wires[1] ?? []).includes(e.id)) return;
    const fill = e.status?.fill;
    const before = fills.get(e.id);
    fills.set(e.id, fill);
    if (fill === "green" && before !== "green" && started) announce();
  };
  RED.events.on("node-status", onNodeStatus);

  return {
    problems,
    input(msg, done) {
      if (problems.length) return false;
      const m = msg as NodeMessageInFlow & { action?: unknown };
      if (m.action === "announce") {
        announce();
        done();
        return true;
      }
      if (haStatus && m.topic === haStatus) {
        if (String(m.payload).trim() === "online") announce();
        done();
        return true;
      }
      const target = bridge.runTarget(m.topic);
      if (!target) return false;
      if ("error" in target) {
        done(new Error(target.error));
        return true;
      }
      const entry = engine.jobs.get(target.jobId);
      if (!entry) {
        done(new Error(`The job "${target.name}" is not deployed.`));
        return true;
      }
      try {
        // Through the backup-job node's own wiring, as the editor's run-now does.
        entry.trigger();
        done();
      } catch (err) {
        done(new Error(`The job "${target.name}" could not be started: ${message(err)}`));
      }
      return true;
    },
    observe(msg) {
      if (problems.length || !started) return;
      send(bridge.update(msg.payload, msg.topic));
    },
    forget(idOrName) {
      const out = bridge.forget(idOrName);
      if (!out) return false;
      send(out);
      return true;
    },
    close() {
      closing = true;
      clearTimeout(fallback);
      RED.events.removeListener("flows:started", onFlowsStarted);
      RED.events.removeListener("node-status", onNodeStatus);
      engine.off("start", onStart);
      engine.off("end", onEnd);
    },
  };
}
