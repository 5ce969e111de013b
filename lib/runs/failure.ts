/**
 * Who a run that failed before its tool started belongs to. Its message's job may be anything
 * (that is often why it failed), yet the failure must land in a history the user looks at.
 */
import { CONSOLE_KEY } from "../job/authority";

/** What is known of a run that could not start. */
export interface FailedStart {
  key: string;
  name: string;
  engine: "rsync" | "restic";
  command: string;
  /** The plain sentence: why it did not start. */
  error: string;
  nodeId?: string;
}

/** The job a node runs when its message brings none: where its failures go otherwise. */
export type OwnJob = Omit<FailedStart, "error" | "nodeId">;

const COMMAND = /^[a-z][a-z0-9-]*$/;

function usable(v: unknown): string | null {
  if (typeof v !== "string") return null;
  const s = v.trim();
  return s && s.length <= 200 && !/[\u0000-\u001f\u007f]/.test(s) ? s : null;
}

/**
 * The history a failed start is written to. A message's job with a usable id or name keeps
 * its own history (so a backup-job's failure shows on that job, and a job from `http in` under
 * its name); anything else goes to the node's own job. A message that names a deployed job's
 * id under another name, or whose name is a deployed job's id, looks forged: it must not write
 * into that job's history, so it goes to the node's own job too.
 * (The one place this choice is made; message authority may tighten it.)
 */
export function failedKey(input: unknown, own: OwnJob, deployed: (id: string) => { name: string } | undefined): OwnJob {
  if (!input || typeof input !== "object" || Array.isArray(input)) return own;
  const j = input as Record<string, unknown>;
  const id = usable(j.id);
  const name = usable(j.name);
  const engine = j.engine === "rsync" || j.engine === "restic" ? j.engine : own.engine;
  const restic = j.restic && typeof j.restic === "object" ? (j.restic as Record<string, unknown>).command : undefined;
  const command = engine === "rsync" ? "sync" : typeof restic === "string" && COMMAND.test(restic) ? restic : engine === own.engine ? own.command : "backup";
  // The console's repository actions and restores keep their histories to themselves.
  if ((id && CONSOLE_KEY.test(id)) || (name && CONSOLE_KEY.test(name))) return own;
  if (id) {
    const job = deployed(id);
    if (job && job.name !== name) return own;
    return { key: id, name: name ?? job?.name ?? id, engine, command };
  }
  if (name) {
    if (deployed(name)) return own;
    return { key: name, name, engine, command };
  }
  return own;
}
