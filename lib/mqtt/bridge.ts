// What the MQTT channel knows of each job, and the messages each event turns into. Pure: the
// notify node feeds it deploys, run starts and ends, results and delay notices, and sends what
// it returns to a core `mqtt out` node. State topics are retained, so every message for a topic
// carries the whole current value and repeating one is harmless.
import { discoveryMessages, removalMessages, STATES } from "./discovery";
import { instanceTopics, jobTopics, message, runSlugOf, slug, type MqttMessage, type MqttSettings } from "./topics";

export type JobState = (typeof STATES)[number];

/** The result payload fields published on `…/last` (SPEC's flat result). */
export const RESULT_FIELDS = [
  "job", "jobId", "runId", "engine", "command", "status", "ok", "startedAt", "finishedAt", "durationMs",
  "exitCode", "filesTotal", "filesChanged", "bytesTotal", "bytesTransferred", "snapshotId", "error",
] as const;

export type LastResult = Partial<Record<(typeof RESULT_FIELDS)[number], string | number | boolean | null>>;

/** One job as the channel remembers it (kept in the node's context across redeploys). */
export interface KnownJob {
  jobId: string;
  name: string;
  slug: string;
  engine?: string;
  /** A deployed backup-job node: it can be run from MQTT. */
  runnable: boolean;
  /** Its backup-job node is enabled (or it has no node). */
  enabled: boolean;
  state?: JobState;
  last?: LastResult;
  lastSuccessAt?: number;
  runId?: string;
  /** What the Stale sensor was last told. */
  stale?: boolean;
}

/** A deployed backup-job node, as the notify node reads it from the run engine. */
export interface DeployedJob {
  jobId: string;
  name: string;
  engine?: string;
  enabled?: boolean;
}

const RUN_STATUSES = new Set(["success", "warning", "failed", "cancelled", "interrupted"]);
const SUCCESSFUL = new Set(["success", "warning"]);

function str(v: unknown): string | undefined {
  if (typeof v === "string" && v.trim() !== "") return v.trim();
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function lastOf(r: Record<string, unknown>): LastResult {
  const out: LastResult = {};
  for (const k of RESULT_FIELDS) {
    const v = r[k];
    if (v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) out[k] = v;
  }
  return out;
}

export type RunTarget = { jobId: string; name: string } | { error: string };

export class MqttBridge {
  private readonly known = new Map<string, KnownJob>();

  constructor(readonly settings: MqttSettings, remembered?: unknown) {
    if (!Array.isArray(remembered)) return;
    for (const raw of remembered) {
      if (!raw || typeof raw !== "object") continue;
      const r = raw as Partial<KnownJob>;
      if (typeof r.jobId !== "string" || typeof r.name !== "string" || typeof r.slug !== "string") continue;
      const job: KnownJob = { jobId: r.jobId, name: r.name, slug: r.slug, runnable: r.runnable === true, enabled: r.enabled !== false };
      if (typeof r.engine === "string") job.engine = r.engine;
      if (typeof r.state === "string" && (STATES as readonly string[]).includes(r.state)) job.state = r.state as JobState;
      if (r.last && typeof r.last === "object") job.last = lastOf(r.last as Record<string, unknown>);
      if (typeof r.lastSuccessAt === "number") job.lastSuccessAt = r.lastSuccessAt;
      if (typeof r.runId === "string") job.runId = r.runId;
      // Slugs are kept as they were: a restart must not move a job's topics.
      if (!this.slugTaken(job.slug, job.jobId)) this.known.set(job.jobId, job);
    }
  }

  /** Every job known, for the node's context. */
  snapshot(): KnownJob[] {
    return [...this.known.values()].map((j) => ({ ...j, ...(j.last ? { last: { ...j.last } } : {}) }));
  }

  job(jobId: string): KnownJob | undefined {
    return this.known.get(jobId);
  }

  private slugTaken(s: string, jobId: string): boolean {
    for (const j of this.known.values()) if (j.slug === s && j.jobId !== jobId) return true;
    return false;
  }

  /** A free topic level for a name: its slug, or the slug with -2, -3, ... when another job has it. */
  private slugFor(name: string, jobId: string): string {
    const base = slug(name);
    let s = base;
    for (let n = 2; this.slugTaken(s, jobId); n++) s = `${base}-${n}`;
    return s;
  }

  private online(job: KnownJob): string {
    return job.enabled ? "online" : "offline";
  }

  /** The job's retained values as they are now (nothing for what is not known yet). */
  private stateMessages(job: KnownJob): MqttMessage[] {
    const s = this.settings;
    const t = jobTopics(s, job.slug);
    const out: MqttMessage[] = [];
    if (job.state) out.push(message(s, t.state, job.state));
    if (job.last) {
      out.push(message(s, t.last, JSON.stringify(job.last)));
      const ms = job.last.durationMs;
      if (typeof ms === "number") out.push(message(s, t.duration, String(Math.round(ms / 1000))));
    }
    if (job.lastSuccessAt !== undefined) out.push(message(s, t.lastSuccess, new Date(job.lastSuccessAt).toISOString()));
    if (s.staleMs > 0) {
      job.stale = this.isStale(job, Date.now());
      out.push(message(s, t.stale, job.stale ? "ON" : "OFF"));
    }
    return out;
  }

  /** No success within the stale limit (a job that never succeeded is stale: it has no backup). */
  private isStale(job: KnownJob, now: number): boolean {
    return job.lastSuccessAt === undefined || now - job.lastSuccessAt > this.settings.staleMs;
  }

  /** The Stale sensors whose value changed since they were last told (the channel asks now and then). */
  staleCheck(now: number): MqttMessage[] {
    const s = this.settings;
    if (s.staleMs <= 0) return [];
    const out: MqttMessage[] = [];
    for (const job of this.known.values()) {
      const stale = this.isStale(job, now);
      if (stale === job.stale) continue;
      job.stale = stale;
      out.push(message(s, jobTopics(s, job.slug).stale, stale ? "ON" : "OFF"));
    }
    return out;
  }

  /** Discovery, availability and state: everything a newcomer (or a broker that lost it) needs. */
  private jobMessages(job: KnownJob): MqttMessage[] {
    const s = this.settings;
    return [
      ...discoveryMessages(s, job),
      message(s, jobTopics(s, job.slug).availability, this.online(job)),
      ...this.stateMessages(job),
    ];
  }

  /** Empty retained messages on a slug's topics, so a renamed job leaves nothing behind. */
  private clearTopics(oldSlug: string): MqttMessage[] {
    const s = this.settings;
    const t = jobTopics(s, oldSlug);
    return [t.state, t.last, t.lastSuccess, t.duration, t.availability, t.stale].map((topic) => message(s, topic, ""));
  }

  /** A job seen for the first time, or under a new name: its messages. */
  private see(jobId: string, name: string, engine: string | undefined, runnable: boolean | null): { job: KnownJob; out: MqttMessage[] } {
    const existing = this.known.get(jobId);
    if (!existing) {
      const job: KnownJob = { jobId, name, slug: this.slugFor(name, jobId), runnable: runnable === true, enabled: true, ...(engine ? { engine } : {}) };
      this.known.set(jobId, job);
      return { job, out: this.jobMessages(job) };
    }
    const out: MqttMessage[] = [];
    let changed = false;
    if (existing.name !== name) {
      const next = this.slugFor(name, jobId);
      if (next !== existing.slug) out.push(...this.clearTopics(existing.slug));
      existing.name = name;
      existing.slug = next;
      changed = true;
    }
    if (engine && existing.engine !== engine) { existing.engine = engine; changed = true; }
    if (runnable !== null && existing.runnable !== runnable) { existing.runnable = runnable; changed = true; }
    if (changed) out.push(...this.jobMessages(existing));
    return { job: existing, out };
  }

  /**
   * Brings the known jobs in line with the deployed backup-job nodes: new ones are announced,
   * renamed ones move to their new topics, disabled and removed ones go offline (a removed
   * job keeps its entities until it is forgotten). Returns only what changed.
   */
  deploy(deployed: DeployedJob[]): MqttMessage[] {
    const out: MqttMessage[] = [];
    const ids = new Set<string>();
    for (const d of deployed) {
      ids.add(d.jobId);
      const { job, out: seen } = this.see(d.jobId, d.name, d.engine, true);
      out.push(...seen);
      const enabled = d.enabled !== false;
      if (job.enabled !== enabled) {
        job.enabled = enabled;
        out.push(message(this.settings, jobTopics(this.settings, job.slug).availability, this.online(job)));
      }
    }
    for (const job of this.known.values()) {
      if (!job.runnable || ids.has(job.jobId)) continue;
      job.runnable = false;
      job.enabled = false;
      out.push(...discoveryMessages(this.settings, job), message(this.settings, jobTopics(this.settings, job.slug).availability, "offline"));
    }
    return dedupe(out);
  }

  /** Everything, for every known job: at start, when the broker connection comes back, when Home Assistant restarts. */
  announce(): MqttMessage[] {
    const s = this.settings;
    const out = [message(s, instanceTopics(s).availability, "online")];
    for (const job of this.known.values()) out.push(...this.jobMessages(job));
    return out;
  }

  /** A run of a job started (any run of this Node-RED's engine). */
  runStarted(jobId: string, name: string, engine?: string): MqttMessage[] {
    const { job, out } = this.see(jobId, name, engine, null);
    if (job.state === "running") return out;
    job.state = "running";
    out.push(message(this.settings, jobTopics(this.settings, job.slug).state, "running"));
    return out;
  }

  /**
   * A run result (`msg.payload` of a run node, or the engine's record) or a conflict gate's delay
   * notice. Anything else returns null. A result already published (same runId) returns [].
   */
  update(payload: unknown, topic?: unknown): MqttMessage[] | null {
    if (!payload || typeof payload !== "object" || Array.isArray(payload)) return null;
    const r = payload as Record<string, unknown>;
    const status = str(r.status);
    const name = str(r.job) ?? str(topic) ?? str(r.jobId);
    if (!status || !name) return null;
    const jobId = str(r.jobId) ?? name;
    if (status === "delayed") {
      const { job, out } = this.see(jobId, name, undefined, null);
      if (job.state === "running" || job.state === "delayed") return out;
      job.state = "delayed";
      out.push(message(this.settings, jobTopics(this.settings, job.slug).state, "delayed"));
      return out;
    }
    if (!RUN_STATUSES.has(status)) return null;
    const runId = str(r.runId);
    const existing = this.known.get(jobId);
    if (existing && runId && existing.runId === runId && existing.state === status) return [];
    const { job, out } = this.see(jobId, name, str(r.engine), null);
    job.state = status as JobState;
    job.last = lastOf(r);
    if (runId) job.runId = runId;
    if (SUCCESSFUL.has(status)) job.lastSuccessAt = num(r.finishedAt) ?? Date.now();
    out.push(...this.stateMessages(job));
    return dedupe(out);
  }

  /**
   * What the engine's history says, for a job the channel has no state of yet (after a restart,
   * or a job deployed later). Returns the state messages when it learnt something.
   */
  seed(jobId: string, last: Record<string, unknown> | null, lastSuccessAt: number | undefined): MqttMessage[] {
    const job = this.known.get(jobId);
    if (!job) return [];
    let changed = false;
    if (!job.state && last && typeof last.status === "string" && RUN_STATUSES.has(last.status)) {
      job.state = last.status as JobState;
      job.last = lastOf(last);
      if (typeof last.runId === "string") job.runId = last.runId;
      changed = true;
    }
    if (lastSuccessAt !== undefined && (job.lastSuccessAt === undefined || lastSuccessAt > job.lastSuccessAt)) {
      job.lastSuccessAt = lastSuccessAt;
      changed = true;
    }
    return changed ? this.stateMessages(job) : [];
  }

  /** Stops publishing a job and removes it from Home Assistant and the broker. Null: not known. */
  forget(idOrName: string): MqttMessage[] | null {
    let job = this.known.get(idOrName);
    if (!job) for (const j of this.known.values()) if (j.name === idOrName || j.slug === idOrName) { job = j; break; }
    if (!job) return null;
    this.known.delete(job.jobId);
    return [...removalMessages(this.settings, job), ...this.clearTopics(job.slug)];
  }

  /** Which job a run command topic names. Null: not a run command of this instance. */
  runTarget(topic: unknown): RunTarget | null {
    const s = runSlugOf(this.settings, topic);
    if (s === null) return null;
    for (const job of this.known.values()) {
      if (job.slug !== s) continue;
      if (!job.runnable) return { error: `The job "${job.name}" (${String(topic)}) has no deployed backup-job node to run.` };
      return { jobId: job.jobId, name: job.name };
    }
    return { error: `No job of this Node-RED has the topic ${String(topic)}.` };
  }
}

/** Later messages for a topic win; keeps the order of each topic's last message. */
function dedupe(list: MqttMessage[]): MqttMessage[] {
  const last = new Map<string, number>();
  list.forEach((m, i) => last.set(m.topic, i));
  return list.filter((m, i) => last.get(m.topic) === i);
}
