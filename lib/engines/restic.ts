/**
 * The restic engine: which restic is installed, what it can do, and the process plan for a
 * job's restic command with a profile. Output parsing lives in restic-parser.ts, locks in
 * restic-lock.ts, the ssh variant in restic-remote.ts.
 */
import { runCommand } from "../runs/command";
import type { Job } from "../job/schema";
import type { ProcessPlan } from "./types";
import { repositoryUrlPassword, type EffectiveProfile } from "../profile/resolve";
import { profileToRestic, repositoryEnv, resolvePassword } from "../profile/restic";
import { goDuration } from "../profile/options";
import { keepOf } from "../profile/keep";
import { ResticParser } from "./restic-parser";
import { remoteResticPlan } from "./restic-remote";

export { ResticParser } from "./restic-parser";
export { parseLockInfo, isStale, nextLockDelay, pidAlive, parseGoDuration, type LockInfo } from "./restic-lock";
export { shellQuote, remoteResticPlan, REMOTE_ENV_SCRIPT } from "./restic-remote";
export { resolvePassword };

export interface ResticVersion { version: string; major: number; minor: number; patch: number }

export class ResticPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResticPlanError";
  }
}

/** "restic 0.14.0 compiled with go1.19.8 on linux/amd64" (also "0.16.4-dev (compiled manually)"). */
export function parseResticVersion(text: string): ResticVersion | null {
  const m = /restic (?:v)?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return null;
  return { version: `${m[1]}.${m[2]}.${m[3]}`, major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export function atLeast(v: ResticVersion, major: number, minor: number, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

export interface ResticFeatures {
  /** --retry-lock (0.16): restic waits for a lock itself. */
  retryLock: boolean;
  /** Exit codes 10 (no repository) and 11 (locked), 0.17. */
  exitCodesRepoLock: boolean;
  /** Exit code 12 (wrong password), 0.17.1. */
  exitCodeWrongPassword: boolean;
  /** copy --from-repo and RESTIC_FROM_* (0.14); before that copy --repo2 with -r as source. */
  fromRepo: boolean;
  /** Full 64-digit snapshot_id in backup summaries (0.16; 0.14 prints the short id). */
  fullSnapshotId: boolean;
  /** Fatal errors as {"message_type":"exit_error"} JSON on stderr with --json (0.18). */
  jsonExitError: boolean;
}

export function resticFeatures(v: ResticVersion): ResticFeatures {
  return {
    retryLock: atLeast(v, 0, 16),
    exitCodesRepoLock: atLeast(v, 0, 17),
    exitCodeWrongPassword: atLeast(v, 0, 17, 1),
    fromRepo: atLeast(v, 0, 14),
    fullSnapshotId: atLeast(v, 0, 16),
    jsonExitError: atLeast(v, 0, 18),
  };
}

const versions = new Map<string, Promise<ResticVersion>>();

/** `restic version`, once per executable (a failed probe is not cached, so a later install is seen). */
export function detectResticVersion(executable: string | string[] = "restic"): Promise<ResticVersion> {
  const words = Array.isArray(executable) ? executable : [executable];
  const key = JSON.stringify(words);
  let p = versions.get(key);
  if (!p) {
    p = (async () => {
      const [cmd, ...pre] = words;
      const r = await runCommand({ command: cmd!, args: [...pre, "version"], timeoutMs: 20_000 }, { maxStdout: 64 * 1024 });
      if (r.spawnError) throw new ResticPlanError(r.spawnError);
      const v = parseResticVersion(r.stdout);
      const why = r.timedOut ? "it did not answer within 20 s" : r.stderr || r.stdout || `exit code ${r.code ?? r.signal}`;
      if (r.code !== 0 || !v) throw new ResticPlanError(`could not tell the version of ${cmd}: ${why.trim().slice(0, 200)}`);
      return v;
    })();
    versions.set(key, p);
    p.catch(() => versions.delete(key));
  }
  return p;
}

export function forgetVersionCache(): void {
  versions.clear();
}

/** Flags that would put a password (or where to find one) on the command line instead of the profile. */
const PASSWORD_FLAG = /^--?(password|password-file|password-command|password2|password-file2|password-command2|from-password|from-password-file|from-password-command|new-password-file|new-password)(=|$)/;

/** A plain sentence for an argument a job may not give restic, or null when it may. */
export function checkResticArg(arg: string): string | null {
  if (arg.includes("\0")) return "a restic argument contains a NUL character";
  if (PASSWORD_FLAG.test(arg) || /^-p($|[^-])/.test(arg)) {
    return `restic argument ${arg.split("=")[0]} is not allowed: the password belongs in the profile (password, password-file or password-command), never on the command line`;
  }
  return null;
}

/** Checks every argument before "--" (after it, words are paths). Throws ResticPlanError. */
export function validateResticArgs(args: string[]): void {
  for (const a of args) {
    if (a === "--") return;
    const why = checkResticArg(a);
    if (why) throw new ResticPlanError(why);
  }
  for (const a of args) if (a.includes("\0")) throw new ResticPlanError("a restic argument contains a NUL character");
}

export interface ForgetPolicy {
  last?: number; hourly?: number; daily?: number; weekly?: number; monthly?: number; yearly?: number;
  /** Go-style durations such as "1y5m7d" */
  within?: string;
  tags?: string[];
}

export interface ResticPlanOptions {
  /** PRestic's one-shot mode: the restic command and its arguments, replacing the job's and profile's. */
  argv?: string[];
  /** copy: the profile whose repository receives the snapshots. */
  copyTo?: EffectiveProfile;
  /** forget: a keep policy besides any --keep-* in the arguments. */
  keep?: ForgetPolicy;
  /** check: --read-data-subset, "5%", "1/10" or "500M". */
  readDataSubset?: string;
  /** A remote (ssh source) backup: the product's known_hosts file. */
  knownHostsFile?: string;
  /** A remote backup: the password already read by resolvePassword (a local file or command means nothing there). */
  password?: string;
  /** restic >= 0.16 waits this long for a lock itself (--retry-lock); ignored before 0.16. */
  retryLockMs?: number;
}

/** Commands that print JSON with --json in every supported restic version. */
const JSON_COMMANDS = new Set(["backup", "snapshots", "stats", "forget", "ls", "find", "diff", "key", "cat"]);
const NO_LOCK_WAIT = new Set(["init", "unlock", "version", "help", "cache", "generate", "self-update"]);

/** The restic command and its arguments for a job, before the profile's flags are added. */
export function resticCommand(job: Job, profile: EffectiveProfile, opts: ResticPlanOptions = {}): { command: string; args: string[] } {
  if (opts.argv && opts.argv.length) return { command: opts.argv[0]!, args: opts.argv.slice(1) };
  if (job.restic?.command) return { command: job.restic.command, args: [...(job.restic.args ?? [])] };
  const pc = profile.options.command ?? [];
  if (pc.length) return { command: pc[0]!, args: [...pc.slice(1), ...(profile.options.args ?? []), ...(job.restic?.args ?? [])] };
  return { command: "backup", args: [...(job.restic?.args ?? [])] };
}

function hasPositional(args: string[]): boolean {
  return args.some((a) => a === "--" || !a.startsWith("-"));
}

/** A path entry's excludes, scoped to that path the way rsync scopes them to its source. */
export function scopedExcludes(root: string, patterns: string[]): string[] {
  const base = root.replace(/\/+$/, "") || "";
  return patterns.map((p) => {
    const pat = p.replace(/\/+$/, "");
    if (!pat) throw new ResticPlanError(`exclude pattern ${JSON.stringify(p)} of ${root} is empty`);
    return pat.startsWith("/") ? `${base}${pat}` : `${base}/**/${pat}`;
  });
}

const SUBSET = /^(\d+(\.\d+)?%|\d+\/\d+|\d+(\.\d+)?[kKmMgGtT]?)$/;

function policyArgs(k: ForgetPolicy): string[] {
  const out: string[] = [];
  for (const [name, v] of [["last", k.last], ["hourly", k.hourly], ["daily", k.daily], ["weekly", k.weekly], ["monthly", k.monthly], ["yearly", k.yearly]] as const) {
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 0) throw new ResticPlanError(`keep ${name} must be a whole number, not ${JSON.stringify(v)}`);
    if (v > 0) out.push(`--keep-${name}=${v}`);
  }
  if (k.within) {
    if (!/^(\d+[ymdh])+$/.test(k.within)) throw new ResticPlanError(`keep within ${JSON.stringify(k.within)} must look like 1y5m7d2h`);
    out.push(`--keep-within=${k.within}`);
  }
  for (const t of k.tags ?? []) out.push(`--keep-tag=${t}`);
  return out;
}

function tagArgs(tags: string[] | undefined): string[] {
  return (tags ?? []).filter((t) => t !== "").map((t) => `--tag=${t}`);
}

/**
 * How a profile's wait-for-lock is honoured. The run machinery drives it on every version: the
 * first attempt never waits, so a lock is reported at once (and a stale one, which every
 * version up to 0.19 reports like a live one, is removed); then each retry waits its back-off
 * delay, inside restic (--retry-lock, so restic takes the lock the moment it is free) when
 * `byRestic`, else by sleeping before it starts restic again.
 */
export interface LockPolicy {
  waitMs: number;
  byRestic: boolean;
  staleAgeMs: number | null;
}

export function lockPolicy(profile: EffectiveProfile, version: ResticVersion): LockPolicy {
  const waitMs = profile.options["wait-for-lock"] ?? 0;
  return { waitMs, byRestic: waitMs > 0 && resticFeatures(version).retryLock, staleAgeMs: profile.options["stale-lock-age"] ?? null };
}

function addEnv(plan: ProcessPlan, env: Record<string, string>, what: string): void {
  const into = (plan.env ??= {});
  for (const [k, v] of Object.entries(env)) {
    if (into[k] !== undefined && into[k] !== "" && v !== "" && into[k] !== v) throw new ResticPlanError(`${what} sets ${k} differently; restic can only use one value`);
    if (into[k] === undefined || v !== "") into[k] = v;
  }
}

/**
 * The process plan for a job's restic command with `profile`: backup (sources, tags, excludes,
 * --json), forget (keep policy), prune, check (--read-data-subset), snapshots, stats, copy (to
 * opts.copyTo's repository), unlock, init, or any other command as given. A backup of an
 * ssh source runs restic on that host over ssh.
 */
export function resticPlan(job: Job, profile: EffectiveProfile, version: ResticVersion, opts: ResticPlanOptions = {}): ProcessPlan {
  const { command, args: extra } = resticCommand(job, profile, opts);
  if (!/^[a-z][a-z0-9-]*$/.test(command)) throw new ResticPlanError(`"${command}" is not a restic command`);
  validateResticArgs(extra);
  const features = resticFeatures(version);
  const args: string[] = [];
  if (JSON_COMMANDS.has(command) && !extra.includes("--json")) args.push("--json");
  if (opts.retryLockMs && opts.retryLockMs > 0 && features.retryLock && !NO_LOCK_WAIT.has(command) && !extra.some((a) => a.startsWith("--retry-lock"))) {
    args.push(`--retry-lock=${goDuration(opts.retryLockMs)}`);
  }

  const paths = job.source?.paths ?? [];
  let tail: string[] = [];
  switch (command) {
    case "backup": {
      args.push(...tagArgs(job.restic?.tags));
      for (const entry of paths) {
        if (entry.include?.length) {
          throw new ResticPlanError(`restic has no include rules, but the source path ${entry.path} lists some; back up the wanted sub-folders as paths of their own instead`);
        }
        for (const e of scopedExcludes(entry.path, entry.exclude ?? [])) args.push(`--exclude=${e}`);
      }
      if (paths.length) tail = extra.includes("--") ? paths.map((p) => p.path) : ["--", ...paths.map((p) => p.path)];
      else if (!hasPositional(extra) && !extra.some((a) => a.startsWith("--files-from") || a === "--stdin")) {
        throw new ResticPlanError("a backup needs at least one source path");
      }
      break;
    }
    case "forget": {
      if (opts.keep) args.push(...policyArgs(opts.keep));
      args.push(...tagArgs(job.restic?.tags));
      const own = args.some((a) => a.startsWith("--keep-")) || extra.some((a) => /^(--keep-|-[lHdwmy]$)/.test(a)) || hasPositional(extra);
      // A forget that names no policy and no snapshots takes its profile's (keep-* options).
      const kept = own ? null : keepOf(profile);
      if (kept) args.push(...policyArgs(kept));
      else if (!own) {
        throw new ResticPlanError(`forget needs a keep policy: set keep-daily, keep-last, ... on profile "${profile.name}", give one to the node (or --keep-daily 7), or name snapshot IDs; without one it would remove nothing`);
      }
      break;
    }
    case "check":
      if (opts.readDataSubset !== undefined) {
        if (!SUBSET.test(opts.readDataSubset)) throw new ResticPlanError(`--read-data-subset ${JSON.stringify(opts.readDataSubset)} must be a percentage (5%), a part (1/10) or a size (500M)`);
        args.push(`--read-data-subset=${opts.readDataSubset}`);
      }
      break;
    case "copy":
      args.push(...tagArgs(job.restic?.tags));
      break;
    default:
      break;
  }

  if (command === "backup" && job.source?.type === "ssh") return remoteBackup(job, profile, [...args, ...extra, ...tail], opts);

  let plan: ProcessPlan;
  if (command === "copy") {
    if (!opts.copyTo) throw new ResticPlanError("copy needs a destination profile (the repository that receives the snapshots)");
    if (features.fromRepo) {
      // restic >= 0.14: -r is where snapshots go, --from-repo (here RESTIC_FROM_*) where they come from.
      plan = profileToRestic(opts.copyTo, command, [...args, ...extra]);
      const from = repositoryEnv(profile, { prefix: "RESTIC_FROM_" });
      addEnv(plan, { ...from.env, RESTIC_REPOSITORY2: "", RESTIC_REPOSITORY_FILE2: "", RESTIC_PASSWORD2: "", RESTIC_PASSWORD_FILE2: "", RESTIC_PASSWORD_COMMAND2: "" }, "copy");
      addEnv(plan, profile.env, `profiles "${profile.name}" and "${opts.copyTo.name}" both set a variable that`);
      plan.secrets = [...new Set([...(plan.secrets ?? []), ...from.secrets])];
      if (profile.options["cpu-priority"]) plan.cpuPriority = profile.options["cpu-priority"];
      if (profile.options["io-priority"]) plan.ioPriority = profile.options["io-priority"];
    } else {
      // restic < 0.14: -r is the source, --repo2 (RESTIC_REPOSITORY2 ...) the destination.
      plan = profileToRestic(profile, command, [...args, ...extra]);
      const to = repositoryEnv(opts.copyTo, { suffix: "2" });
      addEnv(plan, to.env, "copy");
      addEnv(plan, opts.copyTo.env, `profiles "${profile.name}" and "${opts.copyTo.name}" both set a variable that`);
      plan.secrets = [...new Set([...(plan.secrets ?? []), ...to.secrets])];
    }
  } else {
    plan = profileToRestic(profile, command, [...args, ...extra, ...tail]);
  }
  if (command === "backup" && plan.env && plan.env.RESTIC_PROGRESS_FPS === undefined) plan.env.RESTIC_PROGRESS_FPS = "2";
  guardSecrets(plan);
  return plan;
}

/** The password must never reach an argument, whatever a profile or job says. */
function guardSecrets(plan: ProcessPlan): void {
  for (const s of plan.secrets ?? []) {
    if (s.length < 4) continue;
    if (plan.command.includes(s) || plan.args.some((a) => a.includes(s))) {
      throw new ResticPlanError("a restic argument contains the repository password or another secret; it must only be set in the profile");
    }
  }
}

function remoteBackup(job: Job, profile: EffectiveProfile, args: string[], opts: ResticPlanOptions): ProcessPlan {
  const src = job.source!;
  if (!src.host) throw new ResticPlanError("an ssh source needs a host");
  if (!opts.knownHostsFile) throw new ResticPlanError("a backup of an ssh source needs the product's known_hosts file");
  const password = opts.password ?? profile.options.password;
  if (password === undefined) {
    throw new ResticPlanError(`profile "${profile.name}" reads its password from a file or a command on this host: read it first (resolvePassword) and pass it to the plan`);
  }
  // The profile's own plan, minus what only makes sense here: its local cache folder.
  const local = profileToRestic({ ...profile, options: { ...profile.options, "cache-dir": undefined } }, "backup", args);
  const env: Record<string, string> = { ...(local.env ?? {}), RESTIC_PASSWORD: password, RESTIC_PASSWORD_FILE: "", RESTIC_PASSWORD_COMMAND: "", RESTIC_PROGRESS_FPS: local.env?.RESTIC_PROGRESS_FPS ?? "2" };
  const plan = remoteResticPlan([local.command, ...local.args], {
    target: {
      host: src.host,
      port: src.port || profile.options["ssh-port"],
      user: src.user || undefined,
      identityFile: src.identityFile || profile.options["ssh-identity"],
      acceptNewHostKey: src.acceptNewHostKey,
    },
    knownHostsFile: opts.knownHostsFile,
    env,
    cpuPriority: local.cpuPriority,
    ioPriority: local.ioPriority,
    secrets: [...(local.secrets ?? []), password],
  });
  guardSecrets(plan);
  return plan;
}

/** What the run machinery needs for one restic run: the plan and a fresh parser for its output. */
export function resticStep(job: Job, profile: EffectiveProfile, version: ResticVersion, opts: ResticPlanOptions = {}): { command: string; plan: ProcessPlan; parser: ResticParser } {
  const plan = resticPlan(job, profile, version, opts);
  const { command } = resticCommand(job, profile, opts);
  const repo = command === "copy" && opts.copyTo ? opts.copyTo.options.repository : profile.options.repository;
  const pw = repositoryUrlPassword(repo);
  return { command, plan, parser: new ResticParser(command, { repository: pw && repo ? repo.replace(`:${pw}@`, ":***@") : repo, version: version.version }) };
}
