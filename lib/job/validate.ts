import Ajv, { type ErrorObject } from "ajv";
import { isAbsolute } from "node:path";
import { jobSchema, HOST_PATTERN, USER_PATTERN, MODULE_PATTERN, type Job } from "./schema";
import { checkRsyncArg } from "../engines/rsync-options";

const ajv = new Ajv({ allErrors: true, strict: false });
const check = ajv.compile(jobSchema);

const host = new RegExp(HOST_PATTERN);
const user = new RegExp(USER_PATTERN);
const moduleName = new RegExp(MODULE_PATTERN);

/** ajv's error, said as a sentence a person can act on. */
function sentence(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "job";
  switch (e.keyword) {
    case "required": return `${where === "job" ? "" : where + "."}${String(e.params.missingProperty)} is required`;
    case "enum": return `${where} must be one of ${(e.params.allowedValues as unknown[]).map(String).join(", ")}`;
    case "type": return `${where} must be ${e.params.type === "integer" ? "a whole number" : `a ${String(e.params.type)}`}`;
    case "additionalProperties": return `${where} has an unknown field "${String(e.params.additionalProperty)}"`;
    case "pattern": return `${where} has an invalid value`;
    default: return `${where} ${e.message ?? "is invalid"}`;
  }
}

function safePath(label: string, p: string | undefined, problems: string[], mustBeAbsolute = true): void {
  if (p === undefined || p === "") { problems.push(`${label} is required`); return; }
  if (p.includes("\0") || /[\r\n]/.test(p)) problems.push(`${label} contains a control character`);
  else if (mustBeAbsolute && !isAbsolute(p)) problems.push(`${label} must be an absolute path (got ${JSON.stringify(p)})`);
}

function remote(label: string, r: { host?: string; user?: string; port?: number }, problems: string[]): void {
  if (!r.host) problems.push(`${label}.host is required for a remote ${label}`);
  else if (!host.test(r.host)) problems.push(`${label}.host ${JSON.stringify(r.host)} is not a valid host name or address`);
  if (r.user && !user.test(r.user)) problems.push(`${label}.user ${JSON.stringify(r.user)} is not a valid user name`);
}

/**
 * Every problem of a job, as plain sentences (empty when valid). Structure comes from the
 * schema; the rest are rules a schema cannot say well: absolute paths, host names that cannot
 * be mistaken for options, and rsync arguments from the allow-list.
 */
export function jobProblems(input: unknown): string[] {
  if (!check(input)) return (check.errors ?? []).map(sentence);
  const job = input as Job;
  const problems: string[] = [];
  const src = job.source ?? {};
  const dst = job.destination ?? {};
  if (!job.name.trim()) problems.push("name must not be blank");
  if ((src.type ?? "local") === "ssh") remote("source", src, problems);
  const paths = src.paths ?? [];
  if (job.engine === "rsync" && paths.length === 0) problems.push("source.paths needs at least one path");
  paths.forEach((p, i) => safePath(`source.paths[${i}].path`, p.path, problems));
  if (job.engine === "rsync") {
    const type = dst.type ?? "local";
    if (type === "ssh") remote("destination", dst, problems);
    if (type === "rsyncd") {
      remote("destination", dst, problems);
      if (!dst.module) problems.push("destination.module is required for an rsync daemon");
      else if (!moduleName.test(dst.module)) problems.push(`destination.module ${JSON.stringify(dst.module)} is not a valid module name`);
      // A module path is relative to the module; only ".." could leave it.
      if (dst.path) safePath("destination.path", dst.path, problems, false);
      if (dst.path && dst.path.split("/").includes("..")) problems.push("destination.path must not contain ..");
    } else {
      safePath("destination.path", dst.path, problems);
    }
    for (const a of job.rsync?.args ?? []) {
      const why = checkRsyncArg(a);
      if (why) problems.push(why);
    }
  }
  if (job.engine === "restic" && !job.profile) problems.push("profile is required for a restic job");
  return problems;
}

export class JobError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid job: ${problems.join("; ")}`);
    this.name = "JobError";
  }
}

/** The job, checked; throws a JobError listing every problem. */
export function validateJob(input: unknown): Job {
  const problems = jobProblems(input);
  if (problems.length) throw new JobError(problems);
  return input as Job;
}

/** The key a job's history lives under: the backup-job node id, else its name (SPEC). */
export function jobKey(job: Pick<Job, "id" | "name">): string {
  return job.id || job.name;
}

const DESCRIPTOR = ["name", "engine", "enabled", "source", "destination", "profile", "rsync", "restic", "resources", "timeoutSeconds"] as const;

/** The job as SPEC's descriptor, from a backup-job node's properties (nothing of Node-RED's). */
export function descriptorOf(props: Record<string, unknown>, id: string): Job {
  const job: Record<string, unknown> = { id };
  for (const k of DESCRIPTOR) if (props[k] !== undefined && props[k] !== "") job[k] = props[k];
  if (job.enabled === undefined) job.enabled = true;
  if (typeof job.timeoutSeconds === "string") job.timeoutSeconds = Number(job.timeoutSeconds) || 0;
  return job as unknown as Job;
}
