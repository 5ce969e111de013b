/**
 * Every rule a job must follow, as issues: the field it is about, a code and its values (the
 * editor words them from its catalogue) and the runtime's sentence. The schema's own errors
 * come from a checker passed in (ajv at run time, ajv's standalone code of the same schema in
 * the editor), so both sides judge a job by one schema and one set of rules. No Node.js here:
 * this module also runs in the browser (scripts/build.js bundles it as a resource).
 */
import { HOST_PATTERN, USER_PATTERN, MODULE_PATTERN, HOOK_WHEN, type Job } from "./schema";
import { checkRsyncArg } from "../engines/rsync-options";

/** An ajv error, as ajv (and its standalone code) reports it. */
export interface SchemaError { instancePath: string; keyword: string; params: Record<string, unknown>; message?: string }
/** ajv's compiled function: true when valid, its errors on `.errors` otherwise. */
export type SchemaCheck = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

export interface Issue {
  /** Dotted path of the field: "destination.path", "source.paths.0.path", "profile". */
  field: string;
  code: string;
  params: Record<string, string | number>;
  /** The runtime's sentence. */
  text: string;
}

const host = new RegExp(HOST_PATTERN);
const user = new RegExp(USER_PATTERN);
const moduleName = new RegExp(MODULE_PATTERN);

/** ajv's error as an issue, said as a sentence a person can act on. */
function schemaIssue(e: SchemaError): Issue {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "";
  const label = where || "job";
  switch (e.keyword) {
    case "required": {
      const field = `${where ? where + "." : ""}${String(e.params.missingProperty)}`;
      return { field, code: "required", params: {}, text: `${field} is required` };
    }
    case "enum": {
      const values = (e.params.allowedValues as unknown[]).map(String).join(", ");
      return { field: where, code: "enum", params: { values }, text: `${label} must be one of ${values}` };
    }
    case "type": {
      const type = String(e.params.type);
      return { field: where, code: type === "integer" ? "wholeNumber" : "type", params: { type }, text: `${label} must be ${type === "integer" ? "a whole number" : /^hooks\.\w+\.\d+\.run$/.test(where) ? "an argument array such as [\"systemctl\", \"stop\", \"db\"] (a shell string is not run; write [\"sh\", \"-c\", \"...\"] knowingly)" : type === "array" || type === "object" ? `an ${type}` : `a ${type}`}` };
    }
    case "additionalProperties": {
      const name = String(e.params.additionalProperty);
      return { field: where, code: "unknownField", params: { name }, text: `${label} has an unknown field "${name}"` };
    }
    case "pattern": return { field: where, code: "invalid", params: {}, text: `${label} has an invalid value` };
    case "minLength": return { field: where, code: "required", params: {}, text: `${label} ${e.message ?? "is invalid"}` };
    case "minItems": return { field: where, code: "needsOne", params: {}, text: `${label} ${e.message ?? "is invalid"}` };
    case "maxLength": case "maxItems": case "maximum": return { field: where, code: "tooLarge", params: { limit: Number(e.params.limit) }, text: `${label} ${e.message ?? "is invalid"}` };
    case "minimum": return { field: where, code: "tooSmall", params: { limit: Number(e.params.limit) }, text: `${label} ${e.message ?? "is invalid"}` };
    default: return { field: where, code: "invalid", params: {}, text: `${label} ${e.message ?? "is invalid"}` };
  }
}

// Node-RED runs on POSIX systems: an absolute path starts with "/" (node:path's isAbsolute there).
const absolute = (p: string): boolean => p.startsWith("/");

function safePath(field: string, p: string | undefined, issues: Issue[], mustBeAbsolute = true, label = field): void {
  if (p === undefined || p === "") { issues.push({ field, code: "required", params: {}, text: `${label} is required` }); return; }
  if (p.includes("\0") || /[\r\n]/.test(p)) issues.push({ field, code: "controlChar", params: {}, text: `${label} contains a control character` });
  else if (mustBeAbsolute && !absolute(p)) issues.push({ field, code: "absolute", params: { value: p }, text: `${label} must be an absolute path (got ${JSON.stringify(p)})` });
}

function remote(label: "source" | "destination", r: { host?: string; user?: string }, issues: Issue[]): void {
  if (!r.host) issues.push({ field: `${label}.host`, code: "hostRequired", params: {}, text: `${label}.host is required for a remote ${label}` });
  else if (!host.test(r.host)) issues.push({ field: `${label}.host`, code: "hostInvalid", params: { value: r.host }, text: `${label}.host ${JSON.stringify(r.host)} is not a valid host name or address` });
  if (r.user && !user.test(r.user)) issues.push({ field: `${label}.user`, code: "userInvalid", params: { value: r.user }, text: `${label}.user ${JSON.stringify(r.user)} is not a valid user name` });
}

export interface IssueOptions {
  /**
   * Whether a restic job must name its profile itself (true where it runs). A backup job and a
   * conflict gate say false: the restic node's own profile may still be the job's (SPEC,
   * "Profiles, chosen once").
   */
  needsProfile?: boolean;
}

/** Every issue of a job (empty when valid): the schema's first, then the rules it cannot say. */
export function jobIssues(input: unknown, check: SchemaCheck, options: IssueOptions = {}): Issue[] {
  if (!check(input)) return (check.errors ?? []).map(schemaIssue);
  const job = input as Job;
  const issues: Issue[] = [];
  const src = job.source ?? {};
  const dst = job.destination ?? {};
  if (!job.name.trim()) issues.push({ field: "name", code: "blank", params: {}, text: "name must not be blank" });
  if ((src.type ?? "local") === "ssh") remote("source", src, issues);
  const paths = src.paths ?? [];
  if (job.engine === "rsync" && paths.length === 0) issues.push({ field: "source.paths", code: "needsOne", params: {}, text: "source.paths needs at least one path" });
  paths.forEach((p, i) => safePath(`source.paths.${i}.path`, p.path, issues, true, `source.paths[${i}].path`));
  if (job.engine === "rsync") {
    const type = dst.type ?? "local";
    if (type === "ssh") remote("destination", dst, issues);
    if (type === "rsyncd") {
      remote("destination", dst, issues);
      if (!dst.module) issues.push({ field: "destination.module", code: "moduleRequired", params: {}, text: "destination.module is required for an rsync daemon" });
      else if (!moduleName.test(dst.module)) issues.push({ field: "destination.module", code: "moduleInvalid", params: { value: dst.module }, text: `destination.module ${JSON.stringify(dst.module)} is not a valid module name` });
      // A module path is relative to the module; only ".." could leave it.
      if (dst.path) safePath("destination.path", dst.path, issues, false);
      if (dst.path && dst.path.split("/").includes("..")) issues.push({ field: "destination.path", code: "dotDot", params: {}, text: "destination.path must not contain .." });
    } else {
      safePath("destination.path", dst.path, issues);
    }
    for (const a of job.rsync?.args ?? []) {
      const why = checkRsyncArg(a);
      if (why) issues.push({ field: "rsync.args", code: "rsyncArg", params: { value: a }, text: why });
    }
  }
  for (const when of HOOK_WHEN) {
    (job.hooks?.[when] ?? []).forEach((h, i) => {
      const field = `hooks.${when}.${i}`;
      const cmd = h.run[0] ?? "";
      if (!cmd.trim()) issues.push({ field, code: "hookEmpty", params: {}, text: `hooks.${when}[${i}] has an empty command: its first word is the program to run` });
      if (h.run.some((a) => a.includes("\0") || /[\r\n]/.test(a))) issues.push({ field, code: "controlChar", params: {}, text: `hooks.${when}[${i}] contains a control character` });
      if (h.on === "source" && (src.type ?? "local") !== "ssh") issues.push({ field, code: "hookSource", params: {}, text: `hooks.${when}[${i}] runs on the source host, but the source is local: set on to local, or make the source ssh` });
    });
  }
  if (job.engine === "restic" && !job.profile && options.needsProfile !== false) issues.push({ field: "profile", code: "profileRequired", params: {}, text: "profile is required for a restic job" });
  return issues;
}
