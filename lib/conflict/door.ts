/**
 * One conflict-gate node's door onto the runtime's shared Gate: its settings (delay, maximum
 * wait, tags, destinations), what an input message asks (gate a job, or an action), the three
 * outputs it sends on, the status it shows. Knows no Node-RED: the node hands in how to send,
 * log and show.
 */
import { validateJob, jobProblems, jobKey } from "../job/validate";
import type { Job } from "../job/schema";
import { named, AuthorityError, type DeployedJob } from "../job/authority";
import { Gate, gaveUpText, waitText, type WaitInfo } from "./gate";
import { jobResources, parseTags, type Granularity } from "./resources";

const MINUTE = 60_000;

/** The node's settings, as the editor saves them. */
export interface DoorSettings {
  id: string;
  delay?: string | number;
  maxWait?: string | number;
  tags?: string;
  destinations?: string;
}

export interface DoorLook {
  fill: "red" | "grey" | "yellow" | "blue" | "green";
  shape: "ring" | "dot";
  text: string;
}

/** What the door asks of its host (the node). */
export interface DoorHost {
  look(l: DoorLook): void;
  log(text: string): void;
  warn(text: string): void;
  /** The restic repository of a deployed profile (id or name), when there is one. */
  repositoryOf(profile: string): string | undefined;
  /** The jobs deployed by backup-job nodes: a string msg.job names one of them. */
  deployed(): DeployedJob[];
}

/** The three outputs: admitted (or passed on), delayed, gave up. */
export type DoorSend = (out: [unknown, unknown, unknown]) => void;

type GateMsg = Record<string, unknown> & { job?: unknown; action?: unknown; repository?: unknown; gate?: unknown; payload?: unknown; topic?: unknown };

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function minutes(v: unknown, fallback: number, label: string): number {
  if (v === undefined || v === null || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${label} must be a number of minutes, 0 or more (got ${JSON.stringify(v)})`);
  return n;
}

/** The restic repository a caller may give beside the job (the profile is resolved elsewhere). */
function repositoryOf(m: GateMsg): string | string[] | undefined {
  const r = m.repository;
  if (r === undefined || r === null || r === "") return undefined;
  if (typeof r === "string") return r;
  if (Array.isArray(r) && r.every((x) => typeof x === "string")) return r as string[];
  throw new Error("msg.repository must be the restic repository as a string, or a list of them");
}

const names = (w: WaitInfo): string[] => [...new Set(w.blockedBy.map((b) => b.job))];

export class Door {
  /** Why the settings cannot be used (a sentence), or null. */
  readonly configError: string | null = null;
  private readonly id: string;
  private readonly tags: string[];
  private readonly destinations: Granularity;
  private readonly delayMs: number = 0;
  private readonly maxWaitMs: number = 0;
  private gaveUp: string | null = null;
  private shown = "";
  private readonly refresh = () => this.show();

  constructor(private readonly gate: Gate, settings: DoorSettings, private readonly host: DoorHost) {
    this.id = settings.id;
    this.tags = parseTags(settings.tags);
    this.destinations = settings.destinations === "share" ? "share" : "host";
    try {
      this.delayMs = minutes(settings.delay, 10, "the delay threshold") * MINUTE;
      this.maxWaitMs = minutes(settings.maxWait, 0, "the maximum wait") * MINUTE;
    } catch (err) {
      this.configError = messageOf(err);
    }
    gate.on("change", this.refresh);
    this.show();
  }

  /**
   * One input message: an action (msg.action), or a job to gate. `done` is called once, with the
   * error when the message could not be handled or the job gave up waiting.
   */
  input(m: GateMsg, send: DoorSend, done: (err?: Error) => void): void {
    try {
      if (m.action !== undefined && m.action !== null && m.action !== "") {
        this.control(m, String(m.action), send);
        this.show();
        done();
        return;
      }
      this.admit(m, send, done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(messageOf(err)));
    }
    this.show();
  }

  /** The node is redeployed or stopped: what waits behind it leaves the queue. */
  close(): void {
    this.gate.off("change", this.refresh);
    this.gate.flush(this.id, "the conflict gate node was redeployed or stopped");
  }

  private admit(m: GateMsg, send: DoorSend, done: (err?: Error) => void): void {
    const { gate, host } = this;
    if (this.configError) throw new Error(this.configError);
    if (m.job === undefined || m.job === null) {
      throw new Error("no job to gate: msg.job is missing; wire the conflict gate after a backup-job node, or send a job descriptor in msg.job");
    }
    // A string names a deployed job (its id or name), which the run node then runs as
    // configured: it is gated as that job, with that job's resources.
    const raw = typeof m.job === "string" ? this.deployedJob(m.job) : m.job;
    // An invalid job, or a name no deployed job has, will not run and holds nothing: it goes
    // straight on, so the run node after the gate refuses it and records the failure as a run
    // (SPEC "Every failure is a run"). The profile may still come from that restic node (SPEC
    // "Profiles, chosen once").
    if (raw === null || jobProblems(raw, { needsProfile: false }).length) {
      m.gate = { waitedMs: 0, queuedBehind: [], resources: [] };
      send([m, null, null]);
      done();
      return;
    }
    const job = validateJob(raw, { needsProfile: false });
    if (job.enabled === false) {
      // A disabled job will not run, so it holds nothing: the run node skips it.
      m.gate = { waitedMs: 0, queuedBehind: [], resources: [] };
      send([m, null, null]);
      done();
      return;
    }
    // A restic job's repository comes from its profile, so jobs on one repository wait for each other.
    const repository = repositoryOf(m) ?? (job.engine === "restic" && job.profile ? host.repositoryOf(job.profile) : undefined);
    const resources = jobResources(job, { repository, destinations: this.destinations, tags: this.tags });
    const ticket = gate.request({
      job, resources, owner: this.id, delayMs: this.delayMs, maxWaitMs: this.maxWaitMs,
      onAdmit: (a) => {
        this.gaveUp = null;
        m.gate = { waitedMs: a.waitedMs, queuedBehind: a.queuedBehind, resources: a.resources };
        send([m, null, null]);
        done();
      },
      onDelayed: (w) => {
        send([null, {
          topic: job.name,
          payload: { job: job.name, jobId: w.jobId, status: "delayed", waitedMs: w.waitedMs, blockedBy: names(w), paused: w.paused },
          gate: { since: w.since, resources: w.resources, blockedBy: w.blockedBy },
        }, null]);
      },
      onTimeout: (w) => {
        const error = gaveUpText(w);
        this.gaveUp = job.name;
        m.topic = job.name;
        m.payload = { job: job.name, jobId: w.jobId, status: "failed", ok: false, error, waitedMs: w.waitedMs, blockedBy: names(w) };
        m.gate = { waitedMs: w.waitedMs, since: w.since, resources: w.resources, blockedBy: w.blockedBy };
        send([null, null, m]);
        done(new Error(`job "${job.name}" ${error}`));
      },
      onDrop: (reason) => {
        host.log(`job "${job.name}" left the queue without running: ${reason}`);
        done();
      },
    });
    if (ticket.state === "merged") {
      host.warn(`job "${job.name}" is already waiting in the conflict gate (for ${waitText(ticket.waiting.waitedMs)}); this trigger was merged into it`);
      done();
    }
  }

  /** The deployed job a string names (the run node's own resolution), or null when none does. */
  private deployedJob(ref: string): Job | null {
    try {
      return named(ref, this.host.deployed()).job;
    } catch (err) {
      if (err instanceof AuthorityError) return null;
      throw err;
    }
  }

  private control(m: GateMsg, action: string, send: DoorSend): void {
    const { gate, host } = this;
    switch (action) {
      case "status":
        delete m.job;
        m.topic = "status";
        m.payload = gate.status();
        send([m, null, null]);
        return;
      case "pause": gate.pause(); return;
      case "resume": gate.resume(); return;
      case "flush": {
        const dropped = m.payload === "all" ? gate.flush(undefined, "the queue was flushed by a message") : gate.flush(this.id, "the queue was flushed by a message");
        if (dropped.length) host.log(`flushed ${dropped.length} waiting job(s): ${dropped.join(", ")}`);
        return;
      }
      case "release": {
        const job = (typeof m.job === "string" ? this.deployedJob(m.job) ?? { name: m.job } : m.job) as Partial<Job> | undefined;
        const targets = job && typeof job === "object" ? [job.id, job.name].filter((x): x is string => typeof x === "string" && x !== "")
          : typeof m.payload === "string" && m.payload.trim() ? [m.payload.trim()] : [];
        if (!targets.length) throw new Error("release needs the job: msg.job, or its name or id in msg.payload");
        const done = { dropped: [] as string[], released: [] as string[] };
        for (const t of targets) {
          const r = gate.release(t);
          done.dropped.push(...r.dropped);
          done.released.push(...r.released);
        }
        if (!done.dropped.length && !done.released.length) host.warn(`nothing to release: job "${targets[targets.length - 1]}" is neither waiting nor admitted (a running run is stopped with action "cancel" on its run node)`);
        return;
      }
      case "cancel": {
        // A waiting run never starts; the message goes on so a run node stops a running one.
        const job = (typeof m.job === "string" ? this.deployedJob(m.job) : m.job) as Partial<Job> | undefined;
        if (job && typeof job === "object" && typeof job.name === "string") gate.release(jobKey(job as Job), { reservations: false, reason: "cancelled by a message" });
        send([m, null, null]);
        return;
      }
      default:
        throw new Error(`unknown action ${JSON.stringify(action)}: the conflict gate takes release, flush, status, pause and resume (and passes cancel on)`);
    }
  }

  /** Shows the status, only when it changed. */
  private show(): void {
    const { gate, gaveUp } = this;
    let s: DoorLook;
    const { waiting, delayed } = gate.countOf(this.id);
    if (this.configError) s = { fill: "red", shape: "ring", text: "invalid settings" };
    else if (gate.paused) s = { fill: "grey", shape: "ring", text: waiting ? `paused, ${waiting} waiting` : "paused" };
    else if (delayed) {
      const text = `${waiting} waiting, ${delayed} delayed`;
      s = { fill: "yellow", shape: "ring", text: text.length <= 20 ? text : `${waiting} waiting (delayed)` };
    } else if (waiting) s = { fill: "blue", shape: "ring", text: `${waiting} waiting` };
    else if (gaveUp) s = { fill: "red", shape: "dot", text: `gave up: ${gaveUp}`.slice(0, 20) };
    else s = { fill: "green", shape: "dot", text: "free" };
    const key = JSON.stringify(s);
    if (key === this.shown) return;
    this.shown = key;
    this.host.look(s);
  }
}
