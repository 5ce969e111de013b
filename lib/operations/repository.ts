/**
 * Repository actions started from the Snapshots tab (check, forget, prune, unlock, init) and the
 * restores it starts, each a run like any other: a history record, a log, start and end events
 * (so the Backups tab, GET highball/jobs and MQTT see them), and a failure before restic starts
 * recorded as a failed run. They go through the run machinery (Engine.start / Engine.fail).
 *
 * Under which job: one per profile and kind, keyed `repository:<profile>` (named
 * "<profile> · repository") for the maintenance commands and `restore:<profile>` ("<profile> ·
 * restore") for restores. One key per profile means two maintenance commands on one repository
 * never run at once (the engine refuses a second run of a key), while a restore may run beside a
 * check.
 */
import type { Engine, ActiveRun, Step } from "../runs/engine";
import { AlreadyRunningError } from "../runs/engine";
import type { Job } from "../job/schema";
import type { RunRecord } from "../runs/types";
import type { JobSummary } from "../runs/summary";
import { writeProgress } from "../runs/written";
import type { EffectiveProfile } from "../profile/resolve";
import { withPassword } from "../profile/restic";
import { resticStep, detectResticVersion, atLeast, type ForgetPolicy, type ResticVersion } from "../engines/restic";
import { lockRetry } from "../engines/restic-retry";

export type RepositoryAction = "check" | "forget" | "prune" | "unlock" | "init";
export const ACTIONS: readonly RepositoryAction[] = ["check", "forget", "prune", "unlock", "init"];

export function maintenanceKey(profile: string): string { return `repository:${profile}`; }
export function restoreKey(profile: string): string { return `restore:${profile}`; }
export function maintenanceName(profile: string): string { return `${profile} · repository`; }
export function restoreName(profile: string): string { return `${profile} · restore`; }

/** A run refused because another of the same key is running: its sentence and the run. */
export class BusyError extends Error {
  constructor(message: string, readonly runId: string) { super(message); this.name = "BusyError"; }
}

export interface ActionOptions {
  /** check: --read-data-subset ("5%", "1/10", "500M"). */
  readDataSubset?: string;
  /** forget: the keep policy. */
  keep?: ForgetPolicy;
  /** forget: --dry-run (nothing is removed; the run says what would be). */
  dryRun?: boolean;
}

interface Plan { key: string; name: string; command: string; argv: string[]; opts: { keep?: ForgetPolicy; readDataSubset?: string } }

function planOf(profile: string, action: RepositoryAction, o: ActionOptions): Plan {
  const argv: string[] = [action];
  if (action === "forget" && o.dryRun) argv.push("--dry-run");
  return {
    key: maintenanceKey(profile), name: maintenanceName(profile), command: action, argv,
    opts: { keep: action === "forget" ? o.keep : undefined, readDataSubset: action === "check" ? o.readDataSubset : undefined },
  };
}

/**
 * Starts one restic command for `profile`'s repository as a run. A profile whose password or
 * command cannot be prepared is a failed run with that sentence (nothing spawned). A second
 * run of the same key while one runs is refused with BusyError.
 */
export async function startRepositoryRun(engine: Engine, profile: EffectiveProfile, action: RepositoryAction, o: ActionOptions = {}): Promise<ActiveRun> {
  const p = planOf(profile.name, action, o);
  return startRestic(engine, profile, p);
}

/** What a run adds for the detected restic: arguments, and a progress sampler where restic prints none. */
type ForVersion = (v: ResticVersion) => { argv: string[]; sample?: Step["sample"] };

async function startRestic(engine: Engine, profile: EffectiveProfile, p: Plan, version?: ForVersion): Promise<ActiveRun> {
  const busy = engine.runningFor(p.key);
  if (busy) throw new BusyError(`"${p.name}" is already running (run ${busy.runId}); wait for it to end`, busy.runId);
  const job = { name: p.name, engine: "restic", profile: profile.name } as Job;
  try {
    const eff = await withPassword(profile);
    const v = await detectResticVersion(eff.options.executable ?? "restic");
    const more = version?.(v);
    const argv = more ? [...p.argv, ...more.argv] : p.argv;
    const step = (retryLockMs?: number): Step => {
      const s = resticStep(job, eff, v, { argv, ...p.opts, retryLockMs });
      return { plan: s.plan, parser: s.parser, sample: more?.sample };
    };
    // A backup holding the lock: waited for within the profile's wait-for-lock, a stale one
    // removed, as a node's run does (lib/engines/restic-retry.ts).
    return engine.start({
      job, key: p.key, command: p.command, steps: [step()], tool: `restic ${v.version}`, retry: lockRetry(eff, v, step),
      resources: eff.options.repository ? [`restic:${eff.options.repository}`] : [], logDays: eff.options["prune-logs-after"],
    });
  } catch (err) {
    if (err instanceof AlreadyRunningError) throw new BusyError(err.message, err.runId);
    return engine.fail({ key: p.key, name: p.name, engine: "restic", command: p.command, error: (err as Error).message });
  }
}

/** One snapshot as forget's JSON names it. */
export interface ForgetSnapshot { id: string; shortId: string; time: string; host: string; paths: string[]; tags: string[] }
export interface ForgetPlan { keep: ForgetSnapshot[]; remove: ForgetSnapshot[]; truncated: boolean }

function snap(v: unknown): ForgetSnapshot | null {
  if (!v || typeof v !== "object") return null;
  const s = v as Record<string, unknown>;
  if (typeof s.id !== "string") return null;
  const list = (x: unknown) => (Array.isArray(x) ? x.filter((y): y is string => typeof y === "string") : []);
  return {
    id: s.id, shortId: typeof s.short_id === "string" ? s.short_id : s.id.slice(0, 8), time: typeof s.time === "string" ? s.time : "",
    host: typeof s.hostname === "string" ? s.hostname : "", paths: list(s.paths), tags: list(s.tags),
  };
}

/** What a forget run (dry or not) kept and removed, from restic's JSON groups in the run's details. */
export function forgetPlan(record: RunRecord): ForgetPlan {
  const d = (record.details ?? {}) as { result?: unknown; resultTruncated?: boolean };
  const groups = Array.isArray(d.result) ? d.result : d.result ? [d.result] : [];
  const out: ForgetPlan = { keep: [], remove: [], truncated: d.resultTruncated === true };
  for (const g of groups) {
    if (!g || typeof g !== "object") continue;
    const grp = g as { keep?: unknown; remove?: unknown };
    for (const s of Array.isArray(grp.keep) ? grp.keep : []) { const x = snap(s); if (x) out.keep.push(x); }
    for (const s of Array.isArray(grp.remove) ? grp.remove : []) { const x = snap(s); if (x) out.remove.push(x); }
  }
  const newest = (a: ForgetSnapshot, b: ForgetSnapshot) => (a.time < b.time ? 1 : -1);
  out.keep.sort(newest);
  out.remove.sort(newest);
  return out;
}

/**
 * A restore as a run: restic restore of `includes` of `snapshot` into `target`. `expected` is
 * what its dry run counted (bytes and files of the selection).
 */
export async function startRestoreRun(engine: Engine, profile: EffectiveProfile, snapshot: string, target: string, includes: string[], expected?: { bytes: number; files: number }): Promise<ActiveRun> {
  const p: Plan = { key: restoreKey(profile.name), name: restoreName(profile.name), command: "restore", argv: ["restore", `--target=${target}`, ...includes], opts: {} };
  // restic 0.16 and later report restore progress as JSON status lines. Older ones print nothing
  // while restoring: their progress is what restic has written against what the dry run counted.
  return startRestic(engine, profile, p, (v) => atLeast(v, 0, 16)
    ? { argv: ["--json", "--", snapshot] }
    : { argv: ["--", snapshot], sample: expected ? writeProgress(expected.bytes, expected.files) : undefined });
}

/** Where a restic backup run's snapshot came from, for the Snapshots tab's "made by". */
export interface SnapshotOrigin { job: string; jobId: string; runId: string; startedAt: number; status: string }

/**
 * The runs that made snapshots of `repository`: every restic job whose profile names that
 * repository, and their recorded runs (history is bounded by its retention, so this is too).
 * Keyed by the full snapshot id and by its first 8 digits (0.14 records the short id).
 */
export async function snapshotOrigins(engine: Engine, repository: string): Promise<Record<string, SnapshotOrigin>> {
  const out: Record<string, SnapshotOrigin> = {};
  const keys = new Set<string>();
  for (const j of engine.jobs.values()) {
    if (j.job.engine === "restic" && j.job.profile && engine.repositoryOf(j.job.profile) === repository) keys.add(j.nodeId);
  }
  for (const h of await engine.history.keys()) {
    if (keys.has(h.key)) continue;
    const s = engine.history.summary(h.key);
    if (s?.engine !== "restic" || h.key.startsWith("repository:") || h.key.startsWith("restore:")) continue;
    // A job no node owns any more (or one from msg.job): its own profile is not known here,
    // so its runs are matched by snapshot id alone, which is unique across repositories.
    keys.add(h.key);
  }
  for (const key of keys) {
    for (const [id, o] of await originsOf(engine, key)) {
      out[id] ??= o;
      out[id.slice(0, 8)] ??= o;
    }
  }
  return out;
}

/**
 * The snapshots one job's recorded runs made, newest first. The history store replaces a job's
 * summary object whenever a run of it is recorded (lib/runs/summary.ts), so the list made from a
 * summary holds until that summary is replaced: an unchanged history is not read again on every
 * look at the Snapshots tab. Weakly held: a replaced summary takes its list with it.
 */
const origins = new WeakMap<JobSummary, [string, SnapshotOrigin][]>();

async function originsOf(engine: Engine, key: string): Promise<[string, SnapshotOrigin][]> {
  const summary = engine.history.summary(key);
  if (!summary) return []; // no history: no runs, no snapshots
  const known = origins.get(summary);
  if (known) return known;
  const list: [string, SnapshotOrigin][] = [];
  for (const r of await engine.history.list(key, { limit: 1000 })) {
    if (r.snapshotId) list.push([r.snapshotId, { job: r.job, jobId: r.jobId, runId: r.runId, startedAt: r.startedAt, status: r.status }]);
  }
  // A run recorded while the history was read replaced the summary: keep the list for the old
  // one only, so the next look reads again.
  origins.set(summary, list);
  return list;
}
