import type { NodeAPI, Node, NodeDef, NodeMessageInFlow } from "node-red";
import { jobProblems, descriptorOf } from "../../lib/job/validate";
import type { Job } from "../../lib/job/schema";
import type { ActiveRun } from "../../lib/runs/engine";
import type { RunRecord } from "../../lib/runs/types";
import { engineOf, payloadOf, progressStatus, resultStatus, message } from "../shared/runtime";
import { mountAdminRoutes } from "../../lib/http/routes";

interface BackupJobDef extends NodeDef, Omit<Job, "id" | "name"> {}
type Creds = { rsyncdPassword: string };

export = function (RED: NodeAPI) {
  mountAdminRoutes(RED);

  function BackupJobNode(this: Node<Creds>, def: BackupJobDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const engine = engineOf(RED);
    const job = descriptorOf(def as unknown as Record<string, unknown>, node.id);
    // A restic job may leave its profile to the restic node it is wired to.
    const problems = jobProblems(job, { needsProfile: false });
    const invalid = problems.length ? `invalid job "${job.name || node.id}": ${problems.join("; ")}` : null;

    const idle = () => {
      if (invalid) node.status({ fill: "red", shape: "ring", text: "invalid job" });
      else if (job.enabled === false) node.status({ fill: "grey", shape: "ring", text: "disabled" });
      else node.status({});
    };
    idle();
    if (invalid) node.error(invalid);

    engine.jobs.set(node.id, {
      job,
      nodeId: node.id,
      secrets: { rsyncdPassword: node.credentials?.rsyncdPassword || undefined },
      trigger: () => node.receive({ payload: "run now", topic: job.name } as unknown as NodeMessageInFlow),
    });
    void engine.history.forgetDeleted(node.id).catch(() => undefined);
    void engine.history.ready().then(() => {
      const r = engine.history.summary(node.id)?.last;
      if (r && !engine.runningFor(node.id) && !invalid) node.status(resultStatus(r));
    }, () => undefined);

    const onStart = (run: ActiveRun) => {
      if (run.key !== node.id) return;
      node.status(progressStatus(null));
      run.on("progress", (p) => node.status(progressStatus(p)));
    };
    const onEnd = (r: RunRecord) => { if (r.jobId === node.id) node.status(resultStatus(r)); };
    engine.on("start", onStart);
    engine.on("end", onEnd);

    node.on("input", (msg, send, done) => {
      // An invalid job goes on too: the run node refuses it and records the failure as a run
      // (history, result, Catch, notify), SPEC "Every failure is a run".
      const m = msg as NodeMessageInFlow & { job?: Job; action?: string; limit?: unknown };
      if (m.action === "history") {
        // The job's recent runs, newest first, each a run node's result payload (a dashboard fills
        // its table on start). The reply keeps action "history" and carries no msg.job, so a run
        // node wired after this one ignores it: a history request never starts a run.
        const limit = typeof m.limit === "number" && Number.isInteger(m.limit) && m.limit > 0 ? m.limit : 20;
        delete m.job;
        engine.history.list(node.id, { limit }).then((runs) => {
          m.topic = "history";
          m.payload = runs.map(payloadOf);
          send(m);
          done();
        }, (err: unknown) => done(new Error(`the history of job "${job.name}" could not be read: ${message(err)}`)));
        return;
      }
      if (job.enabled === false && m.action !== "cancel") {
        node.status({ fill: "grey", shape: "ring", text: "disabled: skipped" });
        done();
        return;
      }
      m.job = structuredClone(job);
      m.topic = job.name;
      send(m);
      done();
    });

    node.on("close", (removed: boolean, done: () => void) => {
      engine.off("start", onStart);
      engine.off("end", onEnd);
      engine.jobs.delete(node.id);
      // A deleted job's last config stays beside its history, so it can be restored.
      if (removed) void engine.history.rememberDeleted(node.id, { ...job, type: "highball-backup-job" }).then(done, () => done());
      else done();
    });
  }

  RED.nodes.registerType<Node<Creds>, BackupJobDef, unknown, Creds>("highball-backup-job", BackupJobNode, { credentials: { rsyncdPassword: { type: "password" } } });
};
