import type { NodeAPI, Node, NodeDef } from "node-red";
import { readFileSync } from "node:fs";
import { validateJob, jobKey } from "../../lib/job/validate";
import type { Job } from "../../lib/job/schema";
import { rsyncSteps, rsyncVersion } from "../../lib/engines/rsync";
import { checkRsyncArg } from "../../lib/engines/rsync-options";
import { engineOf, message } from "../shared/runtime";
import { runNode } from "../shared/run-node";

interface RsyncRunDef extends NodeDef {
  job?: string;
  args?: string;
  bwlimit?: string;
  logTail?: number | string;
  acceptJobs?: boolean;
  allowDeletes?: boolean;
}
type Creds = { rsyncdPassword: string };

function readKnownHosts(file: string): string {
  try { return readFileSync(file, "utf8"); } catch { return ""; }
}

export = function (RED: NodeAPI) {
  function RsyncRunNode(this: Node<Creds>, def: RsyncRunDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const engine = engineOf(RED);
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

    runNode(RED, node, {
      logTail: Math.max(0, Math.min(Number(def.logTail ?? 20) || 0, 200)),
      configError,
      engine: "rsync",
      acceptJobs: def.acceptJobs === true,
      allowDeletes: def.allowDeletes === true,
      ownJob: configured,
      own: () => {
        const name = (typeof configured?.name === "string" && configured.name) || def.name || "rsync";
        return { key: (typeof configured?.id === "string" && configured.id) || (configured?.name ? name : node.id), name, engine: "rsync", command: "sync" };
      },
      async prepare(_m, auth) {
        const raw = auth.job ?? configured;
        if (!raw) throw new Error("no job to run: send msg.job (for example from a backup-job node) or set the node's job");
        const job = validateJob(raw);
        if (job.engine !== "rsync") throw new Error(`job "${job.name}" uses the ${job.engine} engine; wire it to a restic node`);
        if (job.enabled === false) { node.status({ fill: "grey", shape: "ring", text: "disabled: skipped" }); return null; }
        const key = auth.id ?? jobKey(job);
        // Credentials go only where the flow configured them: a deployed job's own, the node's
        // for the flow's jobs and its own; a job from a message gets none.
        const rsyncdPassword = auth.origin === "message" ? undefined
          : (auth.origin === "deployed" ? engine.secretsFor(key).rsyncdPassword : undefined) ?? node.credentials?.rsyncdPassword ?? undefined;
        const steps = rsyncSteps(job, {
          knownHostsFile: engine.knownHostsFile,
          knownHosts: job.source?.type === "ssh" && job.destination?.type === "ssh" ? readKnownHosts(engine.knownHostsFile) : undefined,
          rsyncdPassword,
          extraArgs,
          bwlimit: def.bwlimit || undefined,
          version: await rsyncVersion(),
        });
        return { job, key, command: "sync", steps, resources: job.resources };
      },
    });
  }

  RED.nodes.registerType<Node<Creds>, RsyncRunDef, unknown, Creds>("highball-rsync-run", RsyncRunNode, { credentials: { rsyncdPassword: { type: "password" } } });
};
