/**
 * What a message may ask of a run node. Messages come from anywhere a flow listens (http in,
 * mqtt in: no admin auth), so a message never has more authority than the flow gave it:
 *
 * (a) it names a deployed job — `msg.job = "<id or name>"`, or the very job a backup-job node
 *     attached (the same content as the deployed job: a registry check, not a mark a sender
 *     could copy) — and that job runs as configured, with its credentials, into its history,
 *     with at most the safe overrides of `msg.overrides` (tags, a subset of the job's own
 *     paths, a dry run);
 * (b) it carries a whole job descriptor only where the run node opts in ("accept jobs from
 *     messages"). Such a job gets no credentials of the flow, never writes into a deployed
 *     job's history, sends data only to destinations the flow's own jobs use, and its tool
 *     arguments pass a per-engine allow-list of harmless flags (no program, no other place,
 *     no secret; deletes only where the node allows them).
 *
 * Every refusal is an AuthorityError with one plain sentence.
 */
import { realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, resolve } from "node:path";
import type { Job, JobDestination, JobSource, PathEntry } from "./schema";
import { validateJob } from "./validate";

export class AuthorityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthorityError";
  }
}

/** A job deployed by a backup-job node (the flow's own configuration). */
export interface DeployedJob { id: string; job: Job }

export interface AuthorityOptions {
  engine: "rsync" | "restic";
  /** The node's "accept jobs from messages" setting (off by default). */
  acceptJobs: boolean;
  /** The node's "messages may delete" setting: rsync --delete*, restic forget and prune. */
  allowDeletes: boolean;
  /** The node's own configured job, if any: its destination is one the flow configured. */
  own?: Job;
  /**
   * restic: whether a job from a message may use this profile (a config node id or name): the
   * node's own, or one a deployed job wired to the node uses. Unset: any.
   */
  profileAllowed?: (ref: string) => boolean;
}

export type Origin = "deployed" | "message" | "node";

export interface Authorized {
  origin: Origin;
  /** The job to run; undefined: the node's own (no msg.job). */
  job?: Job;
  /** The deployed job's id when origin is "deployed". */
  id?: string;
}

const ENGINES = { rsync: "rsync", restic: "restic" } as const;

/** JSON with sorted keys, so two descriptors compare by content, whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** What the runtime's registry holds for a deployed job (lib/runs/engine.ts JobEntry). */
interface JobEntryLike { nodeId: string; job: Job }

/** The deployed jobs of a runtime, as authority and the conflict gate read them. */
export function deployedJobs(entries: Iterable<JobEntryLike>): DeployedJob[] {
  return [...entries].map((e) => ({ id: e.nodeId, job: e.job }));
}

/**
 * The deployed job a message names by id or by name (a name must be unique). The one
 * resolution of a string msg.job: the run node runs it, the conflict gate gates it.
 */
export function named(ref: string, deployed: DeployedJob[]): DeployedJob {
  const byId = deployed.find((d) => d.id === ref);
  if (byId) return byId;
  const byName = deployed.filter((d) => d.job.name === ref);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new AuthorityError(`msg.job names "${ref}", but ${byName.length} deployed jobs have that name; name it by its id`);
  throw new AuthorityError(`msg.job names "${ref.slice(0, 100)}", which is no deployed job's id or name`);
}

/**
 * Keys of the console's own runs (lib/operations: `repository:<profile>` for check, forget and
 * prune, `restore:<profile>` for restores). A message never names them: a job of that name would
 * write into their history and, while it runs, refuse them as already running.
 */
export const CONSOLE_KEY = /^\s*(repository|restore):/;

/** The key of the run a cancel message names (a deployed job by id or name, or a job object), or null: every run of the node. */
export function cancelKey(msgJob: unknown, deployed: DeployedJob[]): string | null {
  if (typeof msgJob === "string") {
    try { return named(msgJob, deployed).id; } catch { return msgJob; }
  }
  if (msgJob && typeof msgJob === "object" && !Array.isArray(msgJob)) {
    const { id, name } = msgJob as { id?: unknown; name?: unknown };
    if (typeof id === "string" && id) return id;
    if (typeof name === "string" && name) return name;
  }
  return null;
}

/**
 * Why a run node may not stop, for a message, the running run of `key` that it did not start
 * itself, or null. A message stops only what its node could have started: a deployed job of the
 * node's engine (a message may name any of them). The console's repository actions and
 * restores, another node's own or message jobs, and the other engine's jobs are not its own.
 */
export function cancelRefusal(key: string, deployed: DeployedJob[], engine: "rsync" | "restic"): string | null {
  const job = deployed.find((d) => d.id === key);
  if (job && job.job.engine === engine) return null;
  const what = CONSOLE_KEY.test(key) ? "it is one of the console's repository actions or restores" : job ? `it is a ${job.job.engine} job` : "this node did not start it";
  return `the run of "${key.slice(0, 100)}" was not stopped: ${what}, and a message stops only the runs its ${engine} node started or could start (deployed ${engine} jobs); stop it in the editor's Backups tab or with POST highball/runs/:runId/cancel`;
}

// ------------------------------------------------------------------ overrides

export interface Overrides { tags?: string[]; paths?: string[]; dryRun?: boolean }

const TAG = /^[A-Za-z0-9._:@+-]{1,64}$/;
const OVERRIDE_KEYS = new Set(["tags", "paths", "dryRun"]);
const DRY_RUN_COMMANDS = new Set(["backup", "forget", "prune"]);

/** The job with a message's safe overrides applied (a copy); anything else is refused. */
export function applyOverrides(job: Job, raw: unknown): Job {
  if (raw === undefined || raw === null) return job;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new AuthorityError("msg.overrides must be an object with tags, paths or dryRun");
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!OVERRIDE_KEYS.has(k)) throw new AuthorityError(`msg.overrides.${k.slice(0, 40)} is not allowed: a message may override tags, paths (a subset of the job's own) and dryRun only`);
  }
  const out = structuredClone(job);
  if (o.tags !== undefined) {
    if (job.engine !== "restic") throw new AuthorityError("msg.overrides.tags applies to restic jobs only");
    if (!Array.isArray(o.tags) || o.tags.length > 20 || !o.tags.every((t) => typeof t === "string" && TAG.test(t))) {
      throw new AuthorityError("msg.overrides.tags must be a list of at most 20 tags of letters, digits and . _ : @ + -");
    }
    out.restic = { ...(out.restic ?? {}), tags: [...new Set([...(out.restic?.tags ?? []), ...(o.tags as string[])])] };
  }
  if (o.paths !== undefined) {
    const own = job.source?.paths ?? [];
    if (!Array.isArray(o.paths) || o.paths.length === 0 || !o.paths.every((p) => typeof p === "string")) throw new AuthorityError("msg.overrides.paths must be a non-empty list of the job's own source paths");
    const norm = (p: string) => normalize(p).replace(/(.)\/+$/, "$1");
    const picked: PathEntry[] = [];
    for (const p of o.paths as string[]) {
      const entry = own.find((e) => norm(e.path) === norm(p));
      if (!entry) throw new AuthorityError(`msg.overrides.paths names ${JSON.stringify(p.slice(0, 200))}, which is not one of the job's own source paths`);
      if (!picked.includes(entry)) picked.push(entry);
    }
    out.source = { ...(out.source ?? {}), paths: picked };
  }
  if (o.dryRun !== undefined) {
    if (typeof o.dryRun !== "boolean") throw new AuthorityError("msg.overrides.dryRun must be true or false");
    if (o.dryRun) {
      if (job.engine === "rsync") {
        out.rsync = { ...(out.rsync ?? {}), args: [...(out.rsync?.args ?? []), "--dry-run"] };
      } else {
        const command = job.restic?.command ?? "backup";
        if (!DRY_RUN_COMMANDS.has(command)) throw new AuthorityError(`msg.overrides.dryRun applies to restic backup, forget and prune, not ${command}`);
        out.restic = { ...(out.restic ?? {}), command, args: [...(out.restic?.args ?? []), "--dry-run"] };
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ allow-lists

/** rsync options a message may add: none runs a program, reads our files, writes elsewhere or changes ownership. */
const RSYNC_FLAGS = new Set([
  "--dry-run", "-n", "--checksum", "-c", "--compress", "-z", "--partial", "--hard-links", "-H",
  "--acls", "-A", "--xattrs", "-X", "--sparse", "-S", "--numeric-ids", "--one-file-system", "-x",
  "--no-perms", "--no-owner", "--no-group", "--no-times", "--ignore-existing", "--existing",
  "--update", "-u", "--size-only", "--verbose", "-v", "--itemize-changes", "-i", "--prune-empty-dirs",
  "-m", "--whole-file", "-W", "--no-whole-file", "--ignore-times", "-I", "--omit-dir-times", "-O",
  "--preallocate", "--atimes", "-U", "--crtimes", "-N", "--executability", "-E", "--links", "-l",
  "--safe-links", "--fuzzy", "-y", "--open-noatime", "--inplace", "--append-verify",
]);
const RSYNC_VALUED = new Set([
  "--exclude", "--include", "--max-size", "--min-size", "--timeout", "--contimeout", "--bwlimit",
  "--modify-window", "--compress-level", "--block-size", "--checksum-choice", "--compress-choice", "--skip-compress",
]);
const RSYNC_DELETES = new Set(["--delete", "--delete-before", "--delete-during", "--delete-delay", "--delete-after", "--delete-excluded"]);

/** Why a message may not pass this rsync argument, or null. */
export function checkMessageRsyncArg(arg: unknown, allowDeletes: boolean): string | null {
  if (typeof arg !== "string") return "rsync arguments from a message must be strings";
  const shown = JSON.stringify(arg.slice(0, 80));
  if (/[\0\r\n]/.test(arg)) return `rsync argument ${shown} contains a control character`;
  if (RSYNC_FLAGS.has(arg)) return null;
  const eq = arg.indexOf("=");
  const name = eq > 0 ? arg.slice(0, eq) : arg;
  if (RSYNC_DELETES.has(arg) || name === "--max-delete") {
    return allowDeletes ? null : `rsync argument ${name} deletes files, and this node does not let messages delete (its "messages may delete" setting)`;
  }
  if (eq > 2 && RSYNC_VALUED.has(name)) return null;
  if (RSYNC_VALUED.has(arg)) return `rsync argument ${arg} needs its value attached with "=", for example ${arg}=VALUE`;
  return `rsync argument ${shown} is not allowed from a message: a message may add only harmless rsync options (no program to run, no other place to write, no file of ours to read)`;
}

/** restic commands a message may run; forget and prune only where the node allows deletes. */
const RESTIC_COMMANDS = new Set(["backup", "check", "snapshots", "stats", "unlock"]);
const RESTIC_DELETE_COMMANDS = new Set(["forget", "prune"]);
const RESTIC_FLAGS = new Set([
  "--dry-run", "-n", "--verbose", "-v", "--quiet", "-q", "--json", "--one-file-system", "-x",
  "--exclude-caches", "--with-atime", "--ignore-inode", "--ignore-ctime", "--read-data", "--with-cache",
  "--compact", "-c", "--latest", "--prune", "--no-scan", "--skip-if-unchanged",
]);
const RESTIC_VALUED = new Set([
  "--exclude", "--iexclude", "--exclude-larger-than", "--exclude-if-present", "--tag", "--path", "--group-by",
  "--mode", "--read-data-subset", "--latest", "--max-unused", "--max-repack-size", "--keep-last", "--keep-hourly",
  "--keep-daily", "--keep-weekly", "--keep-monthly", "--keep-yearly", "--keep-within", "--keep-within-hourly",
  "--keep-within-daily", "--keep-within-weekly", "--keep-within-monthly", "--keep-within-yearly", "--keep-tag",
]);

export function checkMessageResticCommand(command: unknown, allowDeletes: boolean): string | null {
  if (typeof command !== "string" || !/^[a-z][a-z-]*$/.test(command)) return "a restic command from a message must be a word such as \"snapshots\"";
  if (RESTIC_COMMANDS.has(command)) return null;
  if (RESTIC_DELETE_COMMANDS.has(command)) return allowDeletes ? null : `restic ${command} deletes snapshots or data, and this node does not let messages delete (its "messages may delete" setting)`;
  return `restic ${command} cannot be run from a message: a message may run ${[...RESTIC_COMMANDS].join(", ")} (and forget, prune where the node lets messages delete)`;
}

/** Why a message may not pass this restic argument, or null. Values must be attached with "=". */
export function checkMessageResticArg(arg: unknown): string | null {
  if (typeof arg !== "string") return "restic arguments from a message must be strings";
  const shown = JSON.stringify(arg.slice(0, 80));
  if (/[\0\r\n]/.test(arg)) return `restic argument ${shown} contains a control character`;
  if (RESTIC_FLAGS.has(arg)) return null;
  const eq = arg.indexOf("=");
  if (eq > 2 && RESTIC_VALUED.has(arg.slice(0, eq))) return null;
  if (RESTIC_VALUED.has(arg)) return `restic argument ${arg} needs its value attached with "=", for example ${arg}=VALUE`;
  return `restic argument ${shown} is not allowed from a message: a message may add only harmless restic options (no repository, option, password, certificate, command or file of ours)`;
}

function firstProblem(problems: (string | null)[]): void {
  const p = problems.find((x) => x !== null);
  if (p) throw new AuthorityError(p);
}

// ------------------------------------------------------------------ whole jobs from messages

function sameEndpoint(a: JobDestination, b: JobDestination): boolean {
  return (a.type ?? "local") === (b.type ?? "local") && (a.host ?? "") === (b.host ?? "") && (a.port ?? 0) === (b.port ?? 0)
    && (a.user ?? "") === (b.user ?? "") && (a.module ?? "") === (b.module ?? "");
}

function pathWithin(root: string | undefined, p: string | undefined): boolean {
  const r = normalize(root ?? "/").replace(/(.)\/+$/, "$1");
  const q = normalize(p ?? "/").replace(/(.)\/+$/, "$1");
  if ((p ?? "").split("/").includes("..")) return false;
  return r === "/" || q === r || q.startsWith(`${r}/`);
}

/**
 * The path with its symlinks resolved: those of its longest existing part, the rest as written
 * (a destination folder rsync makes is not there yet).
 */
export async function realPath(path: string): Promise<string> {
  let p = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try { return join(await realpath(p), ...rest.reverse()); } catch { /* not there (yet) */ }
    const up = dirname(p);
    if (up === p) return join(p, ...rest.reverse());
    rest.push(p.slice(up.length).replace(/^\//, ""));
    p = up;
  }
}

/** The same ssh host (and port): where a remote backup sends what it needs, a restic password too. */
function sameHost(a: JobSource, b: JobSource): boolean {
  return a.type === "ssh" && b.type === "ssh" && (a.host ?? "").toLowerCase() === (b.host ?? "").toLowerCase() && (a.port ?? 22) === (b.port ?? 22);
}

/**
 * The nodes whose messages reach `target` along the flow's wires and link nodes: a deployed job
 * among them is one the target runs. `nodes` are the deployed flows' node settings.
 */
export function reaching(target: string, nodes: Iterable<{ id: string; type?: string; wires?: unknown; links?: unknown }>): Set<string> {
  const into = new Map<string, string[]>();
  const edge = (from: string, to: unknown) => {
    if (typeof to !== "string") return;
    const list = into.get(to) ?? [];
    list.push(from);
    into.set(to, list);
  };
  for (const n of nodes) {
    if (Array.isArray(n.wires)) for (const out of n.wires) if (Array.isArray(out)) for (const to of out) edge(n.id, to);
    // A link out (or link call) sends to the link in nodes it names.
    if ((n.type === "link out" || n.type === "link call") && Array.isArray(n.links)) for (const to of n.links) edge(n.id, to);
  }
  const seen = new Set<string>();
  const todo = [target];
  while (todo.length) {
    for (const from of into.get(todo.pop()!) ?? []) if (!seen.has(from)) { seen.add(from); todo.push(from); }
  }
  return seen;
}

/**
 * Whether a job from a message may use the restic profile `ref` at a node: the node's own
 * profile, or one that a deployed job wired to the node uses (`nameOf` resolves an id or name to
 * the deployed profile's name, null when there is none). A profile that is not deployed opens
 * nothing: the run node refuses it with its own sentence.
 */
export function mayUseProfile(ref: string, own: string | undefined, wired: DeployedJob[], nameOf: (ref: string) => string | null): boolean {
  const name = nameOf(ref);
  if (name === null) return true;
  return [own, ...wired.filter((d) => d.job.engine === "restic").map((d) => d.job.profile)].some((r) => !!r && nameOf(r) === name);
}

/** A whole job from a message (the node opted in): refused where it would exceed the flow. */
export async function checkMessageJob(job: Job, deployed: DeployedJob[], opts: AuthorityOptions): Promise<void> {
  for (const end of [job.source, job.destination]) {
    if (end?.acceptNewHostKey) throw new AuthorityError("a job from a message may not accept a new host key; accept it in the editor (Validate) first");
  }
  const keys = new Set(deployed.flatMap((d) => [d.job.source?.identityFile, d.job.destination?.identityFile]).concat(opts.own?.source?.identityFile, opts.own?.destination?.identityFile).filter(Boolean));
  for (const end of [job.source, job.destination]) {
    if (end?.identityFile && !keys.has(end.identityFile)) throw new AuthorityError("a job from a message may use only an ssh key that a deployed job uses");
  }
  const source = job.source ?? {};
  if (source.type === "ssh") {
    // A remote backup runs the tool on that host and gives it what it needs (a restic password).
    const hosts = deployed.map((d) => d.job.source).concat(opts.own?.source).filter((x): x is JobSource => !!x);
    if (!hosts.some((h) => sameHost(h, source))) throw new AuthorityError(`a job from a message may read over ssh only from a host that a deployed job backs up (${String(source.host).slice(0, 100)}${source.port ? `:${source.port}` : ""} is none)`);
  }
  if (job.engine === "rsync") {
    if (job.rsync?.delete && !opts.allowDeletes) throw new AuthorityError("a job from a message may not delete at the destination (rsync.delete): this node does not let messages delete");
    firstProblem((job.rsync?.args ?? []).map((a) => checkMessageRsyncArg(a, opts.allowDeletes)));
    const dest = job.destination ?? {};
    if (dest.type === "local" || dest.type === undefined) {
      if (!dest.path || !isAbsolute(dest.path)) throw new AuthorityError("a job from a message needs an absolute destination path");
    }
    const flowDests = deployed.filter((d) => d.job.engine === "rsync").map((d) => d.job.destination).concat(opts.own?.destination).filter((d): d is JobDestination => !!d);
    const flowDest = flowDests.filter((d) => sameEndpoint(d, dest) && pathWithin(d.path, dest.path));
    if (!flowDest.length) {
      throw new AuthorityError("a job from a message may send data only where a deployed job of the flow does (the same destination, at or below its path)");
    }
    // On this machine the folders are compared as they really are: a symlink inside a deployed
    // destination must not lead a message's data out of it.
    if (dest.type === "local" || dest.type === undefined) {
      const real = await realPath(dest.path!);
      const roots = await Promise.all(flowDest.map((d) => realPath(d.path ?? "/")));
      if (!roots.some((r) => pathWithin(r, real))) {
        throw new AuthorityError(`a job from a message may send data only where a deployed job of the flow does: ${JSON.stringify(dest.path!.slice(0, 200))} leads through a symlink to ${JSON.stringify(real.slice(0, 200))}, outside it`);
      }
    }
  } else {
    for (const ref of [job.profile, job.restic?.copyTo]) {
      if (ref && opts.profileAllowed && !opts.profileAllowed(ref)) {
        throw new AuthorityError(`a job from a message may use only this node's profile or one that a deployed job wired to this node uses, not "${ref.slice(0, 100)}"`);
      }
    }
    const command = job.restic?.command ?? "backup";
    const why = checkMessageResticCommand(command, opts.allowDeletes);
    if (why) throw new AuthorityError(why);
    firstProblem((job.restic?.args ?? []).map(checkMessageResticArg));
  }
}

/**
 * The run a message asks for, or an AuthorityError saying why not. `msg.job` absent: the
 * node's own job. A string: a deployed job by id or name. An object equal to a deployed job
 * (what a backup-job node attaches): that job. Any other object: a job from the message,
 * only where the node accepts them.
 */
export async function authorize(msgJob: unknown, overrides: unknown, deployed: DeployedJob[], opts: AuthorityOptions): Promise<Authorized> {
  if (msgJob === undefined || msgJob === null) {
    if (overrides !== undefined) throw new AuthorityError("msg.overrides needs msg.job naming a deployed job");
    return { origin: "node" };
  }
  let found: DeployedJob | null = null;
  if (typeof msgJob === "string") found = named(msgJob, deployed);
  else if (typeof msgJob === "object" && !Array.isArray(msgJob)) {
    const id = (msgJob as { id?: unknown }).id;
    const name = (msgJob as { name?: unknown }).name;
    const same = typeof id === "string" ? deployed.find((d) => d.id === id) : undefined;
    // A job without an id is kept under its name: a name that is a deployed job's id claims it too.
    const claimed = same ?? (typeof id !== "string" ? deployed.find((d) => d.id === name) : undefined);
    if (same && canonical(same.job) === canonical(msgJob)) found = same;
    else if (claimed) {
      throw new AuthorityError(`msg.job carries the id of deployed job "${claimed.job.name}" but not its settings; name the job (msg.job = "${claimed.id}") to run it as configured`);
    }
  } else {
    throw new AuthorityError("msg.job must name a deployed job (its id or name) or be a job object");
  }
  if (found) {
    if (found.job.engine !== opts.engine) throw new AuthorityError(`job "${found.job.name}" uses the ${found.job.engine} engine; wire it to a${found.job.engine === "rsync" ? "n rsync" : " restic"} node`);
    return { origin: "deployed", id: found.id, job: applyOverrides(found.job, overrides) };
  }
  if (!opts.acceptJobs) {
    throw new AuthorityError(`this ${ENGINES[opts.engine]} node does not accept jobs from messages: name a deployed job instead (msg.job = "<its id or name>"), or tick "accept jobs from messages" in the node`);
  }
  for (const v of [(msgJob as { id?: unknown }).id, (msgJob as { name?: unknown }).name]) {
    if (typeof v === "string" && CONSOLE_KEY.test(v)) {
      throw new AuthorityError(`a job from a message may not be called ${JSON.stringify(v.slice(0, 100))}: ids and names starting with "repository:" or "restore:" belong to the console's repository actions and restores`);
    }
  }
  const job = applyOverrides(validateJob(msgJob), overrides);
  if (job.engine !== opts.engine) return { origin: "message", job };
  await checkMessageJob(job, deployed, opts);
  // rsync leaves out a message's symlinks that lead outside what it copies: none is planted in
  // a deployed destination for a later message to write through.
  if (job.engine === "rsync" && !job.rsync?.args?.includes("--safe-links")) {
    return { origin: "message", job: { ...job, rsync: { ...job.rsync, args: [...(job.rsync?.args ?? []), "--safe-links"] } } };
  }
  return { origin: "message", job };
}
