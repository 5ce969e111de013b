import type { NodeAPI, Node, NodeDef, NodeMessageInFlow } from "node-red";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { validateJob, jobKey } from "../../lib/job/validate";
import type { Job } from "../../lib/job/schema";
import { rsyncSteps, rsyncVersion } from "../../lib/engines/rsync";
import { checkRsyncArg } from "../../lib/engines/rsync-options";
import type { ActiveRun } from "../../lib/runs/engine";
import type { RunRecord } from "../../lib/runs/types";
import { tailLines } from "../../lib/runs/logread";
import { engineOf, payloadOf, progressStatus, resultStatus, afterStart, message } from "../shared/runtime";
import { mountAdminRoutes } from "../../lib/http/routes";

interface RsyncRunDef extends NodeDef {
  job?: string;
  args?: string;
  bwlimit?: string;
  logTail?: number | string;
}
type Creds = { rsyncdPassword: string };
type RunMsg = NodeMessageInFlow & { job?: Job; action?: string; run?: unknown };

function readKnownHosts(file: string): string {
  try { return readFileSync(file, "utf8"); } catch { return ""; }
}

export = function (RED: NodeAPI) {
  mountAdminRoutes(RED);

  function RsyncRunNode(this: Node<Creds>, def: RsyncRunDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const engine = engineOf(RED);
    const mine = new Map<string, ActiveRun>();
    const tail = Math.max(0, Math.min(Number(def.logTail ?? 20) || 0, 200));
    let configured: Job | undefined;
    let configError: string | null = null;
    const extraArgs = (def.args ?? "").split("\n").map((a) => a.trim()).filter(Boolean);
    const argProblems = extraArgs.map(checkRsyncArg).filter((x): x is string => x !== null);
    try {
      if (def.job && def.job.trim()) configured = JSON.parse(def.job) as Job;
    } catch (err) {
      configError = `the node's job setting is not valid JSON: ${message(err)}`;
    }
    if (argProblems.length) configError = argProblems.join("; ");
    if (configError) { node.status({ fill: "red", shape: "ring", text: "invalid settings" }); node.error(configError); }

    afterStart(RED, node, () => {
      void engine.takeInterrupted(node.id).then((records) => {
        for (const r of records) {
          node.status(resultStatus(r));
          node.send([{ topic: r.job, payload: payloadOf(r), run: { runId: r.runId, logFile: r.logFile } } as never, null]);
        }
      });
    });

    node.on("input", (msg, send, done) => {
      const m = msg as RunMsg;
      if (m.action === "cancel") {
        const key = m.job ? jobKey(m.job) : null;
        let n = 0;
        for (const run of mine.values()) if (!key || run.key === key) { run.cancel("the run was cancelled by a message"); n++; }
        if (!n && key) { const r = engine.runningFor(key); if (r) { r.cancel("the run was cancelled by a message"); n++; } }
        if (!n) node.warn(key ? `nothing to cancel: job "${m.job?.name ?? key}" is not running` : "nothing to cancel: no run of this node is running");
        done();
        return;
      }
      void (async () => {
        if (configError) throw new Error(configError);
        const raw = m.job ?? configured;
        if (!raw) throw new Error("no job to run: send msg.job (for example from a backup-job node) or set the node's job");
        const job = validateJob(raw);
        if (job.engine !== "rsync") throw new Error(`job "${job.name}" uses the ${job.engine} engine; wire it to a restic node`);
        if (job.enabled === false) { node.status({ fill: "grey", shape: "ring", text: "disabled: skipped" }); return; }
        const key = jobKey(job);
        await engine.ready;
        const steps = rsyncSteps(job, {
          knownHostsFile: engine.knownHostsFile,
          knownHosts: job.source?.type === "ssh" && job.destination?.type === "ssh" ? readKnownHosts(engine.knownHostsFile) : undefined,
          rsyncdPassword: engine.secretsFor(key).rsyncdPassword ?? node.credentials?.rsyncdPassword ?? undefined,
          extraArgs,
          bwlimit: def.bwlimit || undefined,
          version: await rsyncVersion(),
        });
        const run = engine.start({ job, key, command: "sync", steps, nodeId: node.id, resources: job.resources });
        mine.set(run.runId, run);
        node.status(progressStatus(null));
        run.on("progress", (p) => {
          node.status(progressStatus(p));
          send([null, { topic: job.name, payload: p, runId: run.runId, job: { id: key, name: job.name } } as never]);
        });
        const record: RunRecord = await run.result.finally(() => mine.delete(run.runId));
        m.topic = job.name;
        m.payload = payloadOf(record);
        m.run = {
          runId: record.runId,
          logFile: record.logFile,
          log: `highball/runs/${record.runId}/log`,
          logTail: tail && record.logFile ? await tailLines(join(engine.history.logsDir, record.logFile), tail).catch(() => []) : [],
          details: record.details,
        };
        node.status(resultStatus(record));
        send([m, null]);
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
      void Promise.all(runs.map((r) => r.result.catch(() => undefined))).then(() => done());
    });
  }

  RED.nodes.registerType<Node<Creds>, RsyncRunDef, unknown, Creds>("highball-rsync-run", RsyncRunNode, { credentials: { rsyncdPassword: { type: "password" } } });
};
