/**
 * The notify node's MQTT channel: retained job state and Home Assistant discovery, sent on the
 * node's second output for a core `mqtt out` node (docs/mqtt.md). It mirrors every job of this
 * Node-RED's run engine, whatever is wired to the node, and takes run commands from a core
 * `mqtt in` node wired to its input. The topics and payloads are built by MqttBridge; this
 * decides when they go out. Knows no Node-RED: the node hands in how to send and remember,
 * and tells when the flows started and when the mqtt out node's connection came up.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { MqttBridge, type DeployedJob } from "./bridge";
import { homeAssistantStatusTopic, mqttSettings, type MqttMessage } from "./topics";
import type { Engine, ActiveRun } from "../runs/engine";
import type { RunRecord } from "../runs/types";

/** The channel's settings, as the notify node's editor saves them. */
export interface MqttDef {
  mqtt?: boolean | string;
  mqttBase?: string;
  mqttInstance?: string;
  mqttDiscovery?: boolean | string;
  mqttPrefix?: string;
  /** The notify node's stale limit, which the Stale sensors use too. */
  staleHours?: number | string;
}

/** What the channel asks of its host (the node). */
export interface MqttHost {
  /** Messages for the second output. */
  send(list: MqttMessage[]): void;
  /** What the channel knows of its jobs, kept across redeploys (the node's context). */
  remember(state: unknown): void;
}

/** A message as the node receives it: topic, payload, action. */
export interface ChannelMsg {
  topic?: unknown;
  payload?: unknown;
  action?: unknown;
}

function version(): string {
  try {
    // dist/lib/mqtt/ → the package root
    return (JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8")) as { version?: string }).version ?? "";
  } catch {
    return "";
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function mqttEnabled(def: MqttDef): boolean {
  return def.mqtt === true || def.mqtt === "true";
}

export class MqttChannel {
  /** Plain sentences for settings that cannot work. */
  readonly problems: string[];
  private readonly bridge: MqttBridge;
  private readonly haStatus: string | null;
  private closing = false;
  private started = false;
  private readonly fallback: ReturnType<typeof setTimeout>;
  private readonly staleTimer: ReturnType<typeof setInterval> | undefined;
  private readonly fills = new Map<string, string | undefined>();
  private readonly onStart = (run: ActiveRun): void => {
    if (!this.started || this.problems.length) return;
    this.send(this.bridge.runStarted(run.key, run.job.name, run.job.engine));
  };
  private readonly onEnd = (record: RunRecord): void => {
    if (!this.started || this.problems.length) return;
    this.send(this.bridge.update(record));
  };

  /** `remembered` is what the host kept of an earlier channel of this node (see MqttHost.remember). */
  constructor(def: MqttDef, remembered: unknown, private readonly engine: Engine, private readonly host: MqttHost) {
    const { settings, problems } = mqttSettings(
      { base: def.mqttBase, instance: def.mqttInstance, discovery: def.mqttDiscovery, discoveryPrefix: def.mqttPrefix, version: version(), staleHours: def.staleHours },
      hostname(),
    );
    this.problems = problems;
    this.bridge = new MqttBridge(settings, remembered);
    this.haStatus = homeAssistantStatusTopic(settings);
    // Runtimes that never say the flows started (none known) still get the announcement.
    this.fallback = setTimeout(() => this.flowsStarted(), 1500);
    engine.on("start", this.onStart);
    engine.on("end", this.onEnd);
    // A job turns stale with no event at all: look at the clock a tenth of the limit at a time (1 s to 1 min).
    if (settings.staleMs > 0) {
      this.staleTimer = setInterval(() => {
        if (this.started && !this.problems.length) this.send(this.bridge.staleCheck(Date.now()));
      }, Math.min(60_000, Math.max(1000, Math.floor(settings.staleMs / 10))));
      this.staleTimer.unref();
    }
  }

  /** The flows (re)started: the first time, announce everything; later, what the deploy changed. */
  flowsStarted(): void {
    if (this.closing || this.problems.length) return;
    if (!this.started) {
      this.started = true;
      clearTimeout(this.fallback);
      this.bridge.deploy(this.deployed());
      void this.seed().then(() => this.announce(), () => this.announce());
    } else {
      // A later deploy that left this node alone: new, renamed, disabled and removed jobs.
      this.send(this.bridge.deploy(this.deployed()));
      void this.seed().then((l) => this.send(l), () => undefined);
    }
  }

  /**
   * The status colour of an mqtt out node wired to the second output: it turns green once its
   * broker connection is up (again), which is when retained messages can be (re)published.
   * Messages sent before are lost.
   */
  outputStatus(id: string, fill: string | undefined): void {
    if (this.closing) return;
    const before = this.fills.get(id);
    this.fills.set(id, fill);
    if (fill === "green" && before !== "green" && this.started) this.announce();
  }

  /** Takes a message meant for the channel (a run command, Home Assistant's birth, `announce`); true when it did. */
  input(m: ChannelMsg, done: (err?: Error) => void): boolean {
    if (this.problems.length) return false;
    if (m.action === "announce") {
      this.announce();
      done();
      return true;
    }
    if (this.haStatus && m.topic === this.haStatus) {
      if (String(m.payload).trim() === "online") this.announce();
      done();
      return true;
    }
    const target = this.bridge.runTarget(m.topic);
    if (!target) return false;
    if ("error" in target) {
      done(new Error(target.error));
      return true;
    }
    const entry = this.engine.jobs.get(target.jobId);
    if (!entry) {
      done(new Error(`The job "${target.name}" is not deployed.`));
      return true;
    }
    try {
      // Through the backup-job node's own wiring, as the editor's run-now does.
      entry.trigger();
      done();
    } catch (err) {
      done(new Error(`The job "${target.name}" could not be started: ${messageOf(err)}`));
    }
    return true;
  }

  /** Sees a message the notifier gets too: run results and delay notices update the state topics. */
  observe(m: ChannelMsg): void {
    if (this.problems.length || !this.started) return;
    this.send(this.bridge.update(m.payload, m.topic));
  }

  /** Removes a job's entities and topics; false when the channel does not know it. */
  forget(idOrName: string): boolean {
    const out = this.bridge.forget(idOrName);
    if (!out) return false;
    this.send(out);
    return true;
  }

  close(): void {
    this.closing = true;
    clearTimeout(this.fallback);
    clearInterval(this.staleTimer);
    this.engine.off("start", this.onStart);
    this.engine.off("end", this.onEnd);
  }

  private send(list: MqttMessage[] | null): void {
    if (this.closing || !list || list.length === 0) return;
    this.host.send(list);
    this.host.remember(this.bridge.snapshot());
  }

  private announce(): void {
    if (this.problems.length) return;
    this.send(this.bridge.announce());
  }

  private deployed(): DeployedJob[] {
    return [...this.engine.jobs.entries()].map(([jobId, e]) => ({
      jobId, name: e.job.name, engine: e.job.engine, enabled: e.job.enabled !== false,
    }));
  }

  /** After a restart (or for a job deployed later) the channel knows nothing of the last runs: the jobs' summaries do. */
  private async seed(): Promise<MqttMessage[]> {
    const out: MqttMessage[] = [];
    await this.engine.history.ready().catch(() => undefined);
    for (const job of this.bridge.snapshot()) {
      if (job.state && job.lastSuccessAt !== undefined) continue;
      // The job's summary, never its history file.
      const s = this.engine.history.summary(job.jobId);
      out.push(...this.bridge.seed(job.jobId, (s?.last as unknown as Record<string, unknown>) ?? null, s?.lastSuccess?.finishedAt));
    }
    return out;
  }
}
