import type { NodeAPI, Node, NodeDef, NodeMessageInFlow, NodeStatus } from "node-red";
import type { Request, Response } from "express";
import { validateJob, jobKey } from "../../lib/job/validate";
import type { Job } from "../../lib/job/schema";
import { Gate, gaveUpText, waitText, type WaitInfo } from "../../lib/conflict/gate";
import { jobResources, parseTags, type Granularity } from "../../lib/conflict/resources";
import { engineOf, message } from "../shared/runtime";

const TYPE = "highball-conflict-gate";

interface GateDef extends NodeDef {
  delay?: string | number;
  maxWait?: string | number;
  tags?: string;
  destinations?: string;
}

type GateMsg = NodeMessageInFlow & { job?: unknown; action?: unknown; repository?: unknown; gate?: unknown };
type Send = (msg: unknown) => void;

const MINUTE = 60_000;

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

const routed = new WeakSet<object>();

/** GET highball/gate: what holds and what waits, for the sidebar and for people. */
function registerGateRoutes(RED: NodeAPI): void {
  const app = RED.httpAdmin;
  if (!app || routed.has(app)) return;
  routed.add(app);
  app.get("/highball/gate", RED.auth.needsPermission("highball.read"), (_req: Request, res: Response) => {
    try {
      res.json(Gate.of(engineOf(RED)).status());
    } catch (err) {
      res.status(500).json({ error: message(err) });
    }
  });
}

export = function (RED: NodeAPI) {
  registerGateRoutes(RED);

  function ConflictGateNode(this: Node, def: GateDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const gate = Gate.of(engineOf(RED));
    const tags = parseTags(def.tags);
    const destinations: Granularity = def.destinations === "share" ? "share" : "host";
    let delayMs = 0;
    let maxWaitMs = 0;
    let configError: string | null = null;
    try {
      delayMs = minutes(def.delay, 10, "the delay threshold") * MINUTE;
      maxWaitMs = minutes(def.maxWait, 0, "the maximum wait") * MINUTE;
    } catch (err) {
      configError = message(err);
      node.error(configError);
    }

    let gaveUp: string | null = null;
    let shown = "";
    const refresh = () => {
      let s: NodeStatus;
      const { waiting, delayed } = gate.countOf(node.id);
      if (configError) s = { fill: "red", shape: "ring", text: "invalid settings" };
      else if (gate.paused) s = { fill: "grey", shape: "ring", text: waiting ? `paused, ${waiting} waiting` : "paused" };
      else if (delayed) {
        const text = `${waiting} waiting, ${delayed} delayed`;
        s = { fill: "yellow", shape: "ring", text: text.length <= 20 ? text : `${waiting} waiting (delayed)` };
      } else if (waiting) s = { fill: "blue", shape: "ring", text: `${waiting} waiting` };
      else if (gaveUp) s = { fill: "red", shape: "dot", text: `gave up: ${gaveUp}`.slice(0, 20) };
      else s = { fill: "green", shape: "dot", text: "free" };
      const key = JSON.stringify(s);
      if (key === shown) return;
      shown = key;
      node.status(s);
    };
    gate.on("change", refresh);
    refresh();

    function control(m: GateMsg, action: string, send: Send): void {
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
          const dropped = m.payload === "all" ? gate.flush(undefined, "the queue was flushed by a message") : gate.flush(node.id, "the queue was flushed by a message");
          if (dropped.length) node.log(`flushed ${dropped.length} waiting job(s): ${dropped.join(", ")}`);
          return;
        }
        case "release": {
          const job = m.job as Partial<Job> | undefined;
          const targets = job && typeof job === "object" ? [job.id, job.name].filter((x): x is string => typeof x === "string" && x !== "")
            : typeof m.payload === "string" && m.payload.trim() ? [m.payload.trim()] : [];
          if (!targets.length) throw new Error("release needs the job: msg.job, or its name or id in msg.payload");
          const done = { dropped: [] as string[], released: [] as string[] };
          for (const t of targets) {
            const r = gate.release(t);
            done.dropped.push(...r.dropped);
            done.released.push(...r.released);
          }
          if (!done.dropped.length && !done.released.length) node.warn(`nothing to release: job "${targets[targets.length - 1]}" is neither waiting nor admitted (a running run is stopped with action "cancel" on its run node)`);
          return;
        }
        case "cancel": {
          // A waiting run never starts; the message goes on so a run node stops a running one.
          const job = m.job as Partial<Job> | undefined;
          if (job && typeof job === "object" && typeof job.name === "string") gate.release(jobKey(job as Job), { reservations: false, reason: "cancelled by a message" });
          send([m, null, null]);
          return;
        }
        default:
          throw new Error(`unknown action ${JSON.stringify(action)}: the conflict gate takes release, flush, status, pause and resume (and passes cancel on)`);
      }
    }

    node.on("input", (msg, send, done) => {
      const m = msg as GateMsg;
      try {
        if (m.action !== undefined && m.action !== null && m.action !== "") {
          control(m, String(m.action), send as Send);
          refresh();
          done();
          return;
        }
        if (configError) throw new Error(configError);
        if (m.job === undefined || m.job === null) {
          throw new Error("no job to gate: msg.job is missing; wire the conflict gate after a backup-job node, or send a job descriptor in msg.job");
        }
        const job = validateJob(m.job);
        if (job.enabled === false) {
          // A disabled job will not run, so it holds nothing: the run node skips it.
          m.gate = { waitedMs: 0, queuedBehind: [], resources: [] };
          send([m, null, null] as never);
          done();
          return;
        }
        // A restic job's repository comes from its profile, so jobs on one repository wait for each other.
        const repository = repositoryOf(m) ?? (job.engine === "restic" && job.profile ? engineOf(RED).repositoryOf(job.profile) : undefined);
        const resources = jobResources(job, { repository, destinations, tags });
        const ticket = gate.request({
          job, resources, owner: node.id, delayMs, maxWaitMs,
          onAdmit: (a) => {
            gaveUp = null;
            m.gate = { waitedMs: a.waitedMs, queuedBehind: a.queuedBehind, resources: a.resources };
            send([m, null, null] as never);
            done();
          },
          onDelayed: (w) => {
            send([null, {
              topic: job.name,
              payload: { job: job.name, jobId: w.jobId, status: "delayed", waitedMs: w.waitedMs, blockedBy: names(w), paused: w.paused },
              gate: { since: w.since, resources: w.resources, blockedBy: w.blockedBy },
            }, null] as never);
          },
          onTimeout: (w) => {
            const error = gaveUpText(w);
            gaveUp = job.name;
            m.topic = job.name;
            m.payload = { job: job.name, jobId: w.jobId, status: "failed", ok: false, error, waitedMs: w.waitedMs, blockedBy: names(w) };
            m.gate = { waitedMs: w.waitedMs, since: w.since, resources: w.resources, blockedBy: w.blockedBy };
            send([null, null, m] as never);
            done(new Error(`job "${job.name}" ${error}`));
          },
          onDrop: (reason) => {
            node.log(`job "${job.name}" left the queue without running: ${reason}`);
            done();
          },
        });
        if (ticket.state === "merged") {
          node.warn(`job "${job.name}" is already waiting in the conflict gate (for ${waitText(ticket.waiting.waitedMs)}); this trigger was merged into it`);
          done();
        }
      } catch (err) {
        done(err instanceof Error ? err : new Error(message(err)));
      }
      refresh();
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      gate.off("change", refresh);
      gate.flush(node.id, "the conflict gate node was redeployed or stopped");
      done();
    });
  }

  RED.nodes.registerType(TYPE, ConflictGateNode);
};
