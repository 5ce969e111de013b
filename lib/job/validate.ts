import Ajv from "ajv";
import { jobSchema, type Job } from "./schema";
import { jobIssues, type Issue, type IssueOptions, type SchemaCheck } from "./rules";

const ajv = new Ajv({ allErrors: true, strict: false });
const check = ajv.compile(jobSchema) as unknown as SchemaCheck;

/** Every issue of a job, with its field and code (see lib/job/rules.ts). */
export function issuesOf(input: unknown, options?: IssueOptions): Issue[] {
  return jobIssues(input, check, options);
}

/**
 * Every problem of a job, as plain sentences (empty when valid). Structure comes from the
 * schema; the rest are rules a schema cannot say well: absolute paths, host names that cannot
 * be mistaken for options, and rsync arguments from the allow-list (lib/job/rules.ts).
 */
export function jobProblems(input: unknown, options?: IssueOptions): string[] {
  return issuesOf(input, options).map((i) => i.text);
}

export class JobError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid job: ${problems.join("; ")}`);
    this.name = "JobError";
  }
}

/** The job, checked; throws a JobError listing every problem. */
export function validateJob(input: unknown, options?: IssueOptions): Job {
  const problems = jobProblems(input, options);
  if (problems.length) throw new JobError(problems);
  return input as Job;
}

/** The key a job's history lives under: the backup-job node id, else its name (SPEC). */
export function jobKey(job: Pick<Job, "id" | "name">): string {
  return job.id || job.name;
}

const DESCRIPTOR = ["name", "engine", "enabled", "source", "destination", "profile", "rsync", "restic", "resources", "timeoutSeconds", "hooks"] as const;

/** The job as SPEC's descriptor, from a backup-job node's properties (nothing of Node-RED's). */
export function descriptorOf(props: Record<string, unknown>, id: string): Job {
  const job: Record<string, unknown> = { id };
  for (const k of DESCRIPTOR) if (props[k] !== undefined && props[k] !== "") job[k] = props[k];
  if (job.enabled === undefined) job.enabled = true;
  if (typeof job.timeoutSeconds === "string") job.timeoutSeconds = Number(job.timeoutSeconds) || 0;
  return job as unknown as Job;
}
