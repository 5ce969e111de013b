import type { NodeAPI, Node, NodeMessageInFlow } from "node-red";
import { join } from "node:path";
import type { Job } from "../../lib/job/schema";
import { AlreadyRunningError, type ActiveRun, type StartRequest } from "../../lib/runs/engine";
import { failedKey, type OwnJob } from "../../lib/runs/failure";
import { authorize, deployedJobs, cancelKey, cancelRefusal, mayUseProfile, reaching, AuthorityError, type Authorized } from "../../lib/job/authority";
import type { RunRecord } from "../../lib/runs/types";
import { resultTail } from "../../lib/runs/logread";

import { engineOf, flowNodes, payloadOf, progressStatus, resultStatus, afterStart, message } from "./runtime";
import { mountAdminRoutes } from "../../lib/http/routes";

export type RunMsg = NodeMessageInFlow & { job?: Job | string; overrides?: unknown; action?: string; run?: unknown };

/** What an engine's node adds to the common run-node behaviour: turning a message into a run. */
export interface RunNodeSpec {
  /** Lines of the log's end to put in msg.run.logTail. */
  logTail: number;
  /** A problem with the node's own settings, found at deploy: every input then fails with it. */
  configError: string | null;
  engine: "rsync" | "restic";
  /** What messages may do here (lib/job/authority.ts): whole jobs, deletes; the node's own job. */
  acceptJobs: boolean;
  allowDeletes: boolean;
  ownJob?: Job;
  /** restic: the node's own profile (a job from a message may use it). */
  ownProfile?: string;
  /**
   * The run to start for this message, whose job has passed authorize() (throws a plain-sentence
   * Error when it cannot). Null: nothing to run.
   */
  prepare(msg: RunMsg, auth: Authorized): Promise<Omit<StartRequest, "nodeId"> | null>;
  /** The job this node runs when a message brings none: where a failure that names no job is recorded. */
  own(): OwnJob;
}

/**
 * The behaviour every run node shares: cancel by message, one run per job, progress on the
 * second output, the result on the first (and done(err) when it failed), interrupted runs
 * sent after a crash, and every run stopped when the node closes.
 */
export function runNode(RED: NodeAPI, node: Node, spec: RunNodeSpec): void {
  mountAdminRoutes(RED);
  const engine = engineOf(RED);
  const mine = new Map<string, ActiveRun>();
  if (spec.configError) {
    node.status({ fill: "red", shape: "ring", text: "invalid settings" });
    node.error(spec.configError);
  }

  afterStart(RED, node, () => {
    void engine.takeInterrupted(node.id).then((records) => {
      for (const r of records) {
        node.status(resultStatus(r));
        node.send([{ topic: r.job, payload: payloadOf(r), run: { runId: r.runId, logFile: r.logFile, log: `highball/runs/${r.runId}/log` } } as never, null]);
      }
    }, (err: unknown) => node.warn(`runs interrupted when Node-RED stopped could not be read: ${(err as Error).message}`));
  });

  node.on("input", (msg, send, done) => {
    const m = msg as RunMsg;
    if (m.action === "cancel") {
      // A message stops only what this node started or could start (lib/job/authority.ts).
      const deployed = deployedJobs(engine.jobs.values());
      const key = cancelKey(m.job, deployed);
      let n = 0;
      for (const run of mine.values()) if (!key || run.key === key) { run.cancel("the run was cancelled by a message"); n++; }
      const other = !n && key ? engine.runningFor(key) : undefined;
      const refused = other ? cancelRefusal(other.key, deployed, spec.engine) : null;
      if (refused) { done(new Error(refused)); return; }
      if (other) { other.cancel("the run was cancelled by a message"); n++; }
      if (!n) node.warn(key ? `nothing to cancel: job "${typeof m.job === "object" ? m.job.name : key}" is not running` : "nothing to cancel: no run of this node is running");
      done();
      return;
    }
    // Other actions (a gate's or a schedule's status reply, pause, ...) are not for a run node:
    // a control message must never start a backup.
    if (typeof m.action === "string" && m.action !== "run") {
      done();
      return;
    }
    void (async () => {
      await engine.ready;
      let run: ActiveRun;
      let started = false;
      let auth: Authorized | null = null;
      try {
        if (spec.configError) throw new Error(spec.configError);
        const deployed = deployedJobs(engine.jobs.values());
        // restic: a job from a message takes the node's profile or that of a job wired to it.
        const wired = () => { const ids = reaching(node.id, flowNodes(RED)); return deployed.filter((d) => ids.has(d.id)); };
        const profileAllowed = (ref: string) => mayUseProfile(ref, spec.ownProfile, wired(), (r) => engine.profileName(r));
        auth = await authorize(m.job, m.overrides, deployed, { engine: spec.engine, acceptJobs: spec.acceptJobs, allowDeletes: spec.allowDeletes, own: spec.ownJob, profileAllowed });
        const req = await spec.prepare(m, auth);
        if (!req) return;
        run = engine.start({ ...req, nodeId: node.id });
        started = true;
      } catch (err) {
        // Refused because the job already runs: a trigger that was not a run.
        if (err instanceof AlreadyRunningError) throw err;
        // Anything else that stops a run before its tool starts is a run, recorded as failed: a
        // message refused by authorize() in the node's own history, never in a deployed job's
        // unless the message legitimately named it.
        const deployed = (id: string) => engine.jobs.get(id)?.job;
        const who = auth?.job ? failedKey(auth.job, spec.own(), deployed)
          : spec.acceptJobs && !(err instanceof AuthorityError) ? failedKey(m.job, spec.own(), deployed) : spec.own();
        run = engine.fail({ ...who, error: message(err), nodeId: node.id });
      }
      const job = run.job;
      mine.set(run.runId, run);
      node.status(progressStatus(null));
      const progress = (p: unknown, start = false) => send([null, { topic: job.name, payload: p, runId: run.runId, run: { runId: run.runId, ...(start ? { start } : {}) }, job: { id: run.key, name: job.name } } as never]);
      // A run that started sends its first message on output 2 at once (a notify node pings a
      // health check's /start); one that failed before its tool could start sends none.
      if (started) progress({ percent: 0, bytesDone: 0, bytesTotal: null, filesDone: 0, filesTotal: null, rate: null, etaSeconds: null }, true);
      run.on("progress", (p) => {
        node.status(progressStatus(p));
        progress(p);
      });
      const record: RunRecord = await run.result.finally(() => mine.delete(run.runId));
      m.topic = job.name;
      m.payload = payloadOf(record);
      m.run = {
        runId: record.runId,
        logFile: record.logFile,
        log: `highball/runs/${record.runId}/log`,
        logTail: spec.logTail && record.logFile ? await resultTail(join(engine.history.logsDir, record.logFile), spec.logTail) : [],
        details: record.details,
        hooks: record.hooks ?? [],
      };
      node.status(resultStatus(record));
      send([m, null]);
      // The result went out first; the history file follows it, and must not fail silently.
      await run.saved.catch((err: unknown) => node.warn(`the run's history record could not be written: ${message(err)}`));
      if (record.status === "failed") throw new Error(`job "${job.name}" failed: ${record.error}`);
    })().then(() => done(), (err: unknown) => {
      node.status({ fill: "red", shape: "dot", text: "failed" });
      done(err instanceof Error ? err : new Error(message(err)));
    });
  });

  node.on("close", (removed: boolean, done: () => void) => {
    const runs = [...mine.values()];
    const reason = removed ? "the node was removed by a deploy while the run was running" : "the node was redeployed or Node-RED stopped while the run was running";
    for (const r of runs) r.cancel(reason);
    void Promise.all(runs.map((r) => r.result.catch(() => undefined))).then(() => engine.settled()).then(() => done(), () => done());
  });
}
