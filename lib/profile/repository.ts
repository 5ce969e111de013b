/**
 * A profile's repository as a whole: create it (`restic init`), remove its stale locks
 * (`restic unlock`) and say how big it is (`restic stats`, `restic snapshots`). restic runs
 * through lib/runs' runner for helper commands (its own process group, bounded output, a timeout).
 */
import { runCommand } from "../runs/command";
import { profileToRestic, withPassword } from "./restic";
import type { EffectiveProfile } from "./resolve";
import { SnapshotError } from "../snapshots/validate";
import { resticFailure } from "../snapshots/errors";
import { hostname } from "node:os";
import { pidAlive } from "../engines/restic-lock";

const TIMEOUT_MS = 10 * 60_000;
const STDERR_KEEP = 16 * 1024;
const STDOUT_KEEP = 8 * 1024 * 1024;

interface Ran { code: number | null; signal: string | null; spawnError: string | null; timedOut: boolean; stdout: string; stderr: string; truncated: boolean }

/** One restic command of the profile to its end, its output kept within bounds. */
async function restic(p: EffectiveProfile, command: string, args: string[], timeoutMs = TIMEOUT_MS, maxStdout = STDOUT_KEEP): Promise<Ran> {
  let plan;
  try {
    plan = profileToRestic(p, command, args);
  } catch (err) {
    // A profile that cannot make a restic command (no repository, a bad option): its sentence.
    throw new SnapshotError(409, (err as Error).message);
  }
  return runCommand({ command: plan.command, args: plan.args, env: plan.env, timeoutMs }, { maxStdout, maxStderr: STDERR_KEEP });
}

/** The profile, its password read; a missing or unreadable password is a 409 with its sentence. */
async function ready(p: EffectiveProfile): Promise<EffectiveProfile> {
  try {
    return await withPassword(p);
  } catch (err) {
    throw new SnapshotError(409, (err as Error).message);
  }
}

function failed(r: Ran, profile: string, action: string): SnapshotError {
  return resticFailure({ code: r.code, signal: r.signal, stderr: r.stderr, spawnError: r.spawnError, timedOut: r.timedOut }, { profile, action });
}

/** The repository's location as shown to a person: a REST server's password left out. */
function shown(p: EffectiveProfile): string {
  const repo = p.options.repository ?? p.options["repository-file"] ?? "";
  return repo.replace(/^(rest:[a-z]+:\/\/[^:/@]*):[^@/]*@/i, "$1@");
}

/** `restic init`: 201-like success, or a 409 when a repository is already there. */
export async function initRepository(profile: EffectiveProfile): Promise<{ repository: string; created: true }> {
  const p = await ready(profile);
  const r = await restic(p, "init", []);
  if (r.code === 0) return { repository: shown(p), created: true };
  if (/config file already exists|repository master key and config already initialized|already initialized/i.test(r.stderr)) {
    throw new SnapshotError(409, `the repository of profile "${p.name}" already exists; it was left as it is`);
  }
  throw failed(r, p.name, "create the repository");
}

/** How many locks the repository holds (restic list locks). */
export async function lockCount(p: EffectiveProfile): Promise<number> {
  const r = await restic(p, "list", ["locks", "--no-lock"]);
  if (r.code !== 0) throw failed(r, p.name, "list the repository's locks");
  return r.stdout.split("\n").filter((l) => /^[0-9a-f]{64}$/.test(l.trim())).length;
}

/** `restic unlock`: removes the locks whose holder is gone (never a live one); how many went. */
export async function unlockRepository(profile: EffectiveProfile): Promise<{ removed: number }> {
  const p = await ready(profile);
  const before = await lockCount(p);
  const r = await restic(p, "unlock", []);
  if (r.code !== 0) throw failed(r, p.name, "remove stale locks");
  return { removed: Math.max(0, before - (await lockCount(p))) };
}

/** The repository's locks, each with its holder as restic recorded it. */
async function locks(p: EffectiveProfile): Promise<{ id: string; hostname: string; pid: number; exclusive: boolean }[]> {
  const r = await restic(p, "list", ["locks", "--no-lock"]);
  if (r.code !== 0) throw failed(r, p.name, "list the repository's locks");
  const out = [];
  for (const id of r.stdout.split("\n").map((l) => l.trim()).filter((l) => /^[0-9a-f]{64}$/.test(l))) {
    const c = await restic(p, "cat", ["lock", id, "--no-lock"]);
    if (c.code !== 0) continue; // released meanwhile
    type Lock = { hostname?: unknown; pid?: unknown; exclusive?: unknown };
    const j = ((): Lock | null => { try { return JSON.parse(c.stdout) as Lock; } catch { return null; } })();
    if (j && typeof j.hostname === "string" && typeof j.pid === "number") out.push({ id, hostname: j.hostname, pid: j.pid, exclusive: j.exclusive === true });
  }
  return out;
}

/**
 * After a crash: removes the locks that processes of this host which are gone left (the
 * interrupted run's restic), through restic's own `unlock`, which removes only stale locks
 * (this host's whose process is gone, and any not refreshed for 30 minutes, which restic
 * ignores anyway) — never a live one. Nothing runs when no such lock is there.
 */
export async function removeLocksLeft(profile: EffectiveProfile): Promise<{ found: number; removed: number }> {
  const p = await ready(profile);
  const here = hostname();
  const left = (await locks(p)).filter((l) => l.hostname === here && !pidAlive(l.pid));
  if (!left.length) return { found: 0, removed: 0 };
  const r = await restic(p, "unlock", []);
  if (r.code !== 0) throw failed(r, p.name, "remove the locks an interrupted run left");
  const still = new Set((await locks(p)).map((l) => l.id));
  return { found: left.length, removed: left.filter((l) => !still.has(l.id)).length };
}

export interface SnapshotStats { id: string; shortId: string; time: string; paths: string[]; files: number | null; size: number | null }
export interface RepositoryStats { repository: string; size: number | null; snapshotCount: number; snapshots: SnapshotStats[] }

function parseJson(text: string): unknown {
  try { return JSON.parse(text.trim().split("\n").filter(Boolean).pop() ?? "null"); } catch { return null; }
}

/** The last stats read of each profile's repository (by profile name): what metrics report, never a restic run of their own. */
const known = new Map<string, { size: number | null; snapshots: number; at: number }>();

export function knownRepositoryStats(): ReadonlyMap<string, { size: number | null; snapshots: number; at: number }> {
  return known;
}

/**
 * What `restic stats <id>` counted of each snapshot, by repository and snapshot id: a snapshot
 * never changes, so it is asked once, not on every look (bounded: the oldest answers go first).
 */
const perSnapshotStats = new Map<string, { files: number | null; size: number | null }>();
const PER_SNAPSHOT_KEPT = 20_000;

function rememberStats(key: string, v: { files: number | null; size: number | null }): void {
  perSnapshotStats.set(key, v);
  for (const k of perSnapshotStats.keys()) {
    if (perSnapshotStats.size <= PER_SNAPSHOT_KEPT) break;
    perSnapshotStats.delete(k);
  }
}

/** The repository as a cache key (two profiles of one repository share it); never its password. */
function repositoryKey(p: EffectiveProfile): string {
  return JSON.stringify([p.options.repository ?? null, p.options["repository-file"] ?? null, p.options.option ?? []]);
}

export interface StatsOptions {
  /** Snapshots (newest first) whose files and size are counted; the others say null. */
  perSnapshot?: number;
  /** Bytes of `restic snapshots --json` read at most; a longer list is refused with a sentence. */
  maxList?: number;
}

/**
 * The repository's size on disk (`stats --mode raw-data`), its snapshot count and, per snapshot,
 * its files and size as `restic stats <id>` counts them (restore size; folders count as files),
 * the same on every restic version (a newer restic's snapshot summary counts differently), for
 * the newest `perSnapshot` snapshots only, so the cost stays bounded however many snapshots
 * there are (the others say null). A snapshot's counts are kept once read, so a second look
 * runs restic twice, not 2 + perSnapshot times.
 */
export async function repositoryStats(profile: EffectiveProfile, opts: StatsOptions | number = {}): Promise<RepositoryStats> {
  const { perSnapshot = 20, maxList = STDOUT_KEEP } = typeof opts === "number" ? { perSnapshot: opts } : opts;
  const p = await ready(profile);
  const raw = await restic(p, "stats", ["--json", "--mode", "raw-data", "--no-lock"]);
  if (raw.code !== 0) throw failed(raw, p.name, "read the repository's size");
  const size = (parseJson(raw.stdout) as { total_size?: unknown } | null)?.total_size;
  const list = await restic(p, "snapshots", ["--json", "--no-lock"], TIMEOUT_MS, maxList);
  if (list.code !== 0) throw failed(list, p.name, "list the snapshots");
  // A cut list would read as no snapshots at all: say so instead of reporting 0.
  if (list.truncated) throw new SnapshotError(502, `the snapshot list of profile "${p.name}" is longer than ${Math.round(maxList / 1024 / 1024 * 10) / 10} MiB; its statistics were not counted`);
  type Snap = { id: string; short_id?: string; time: string; paths?: string[] };
  const parsed = parseJson(list.stdout);
  if (!Array.isArray(parsed)) throw new SnapshotError(502, `restic's snapshot list of profile "${p.name}" could not be read`);
  const snaps = (parsed as Snap[]).slice().sort((a, b) => (a.time < b.time ? 1 : -1));
  const out: SnapshotStats[] = snaps.map((s) => ({
    id: s.id, shortId: s.short_id ?? s.id.slice(0, 8), time: s.time, paths: s.paths ?? [], files: null, size: null,
  }));
  const repo = repositoryKey(p);
  for (const s of out.slice(0, Math.max(0, perSnapshot))) {
    const key = `${repo}\0${s.id}`;
    const known = perSnapshotStats.get(key);
    if (known) { s.files = known.files; s.size = known.size; continue; }
    const r = await restic(p, "stats", ["--json", "--no-lock", s.id]);
    const j = r.code === 0 ? (parseJson(r.stdout) as { total_size?: number; total_file_count?: number } | null) : null;
    if (j) {
      s.files = j.total_file_count ?? null;
      s.size = j.total_size ?? null;
      rememberStats(key, { files: s.files, size: s.size }); // a failure is asked again next time
    }
  }
  const result = { repository: shown(p), size: typeof size === "number" ? size : null, snapshotCount: out.length, snapshots: out };
  known.set(p.name, { size: result.size, snapshots: result.snapshotCount, at: Date.now() });
  return result;
}
