/**
 * restic repository locks: reading restic's "already locked" message, deciding whether a
 * lock is stale, and the back-off for waiting on a live one. Pure functions: the retry loop
 * itself belongs to the run machinery.
 */
import { hostname as osHostname } from "node:os";

export interface LockInfo {
  pid: number;
  host: string;
  user: string;
  uid: number | null;
  gid: number | null;
  exclusive: boolean;
  /** Epoch ms, from the age restic printed (restic prints the creation time without a zone). */
  createdAt: number | null;
  /** ms since the lock was created (or last refreshed), as restic measured it. */
  age: number | null;
  /** The creation time as restic printed it, in the locking host's local time. */
  createdText: string | null;
  storageId: string | null;
}

const GO_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ns: 1e-6 };

/** Go's time.Duration.String() ("1h2m3.5s", "850ms", "1.1s") in milliseconds; null if not one. */
export function parseGoDuration(text: string): number | null {
  const t = text.trim();
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:h|ms|us|µs|μs|ns|m|s))+$/.exec(t);
  if (!m) return t === "0" ? 0 : null;
  let total = 0;
  for (const part of t.matchAll(/(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|μs|ns|m|s)/g)) total += Number(part[1]) * GO_UNITS[part[2]!]!;
  return m[1] === "-" ? -total : total;
}

/**
 * The lock restic reported, from its stderr text (0.14: plain lines; 0.18 --json: the
 * exit_error message). `now` anchors createdAt. Null when the text holds no lock report.
 */
export function parseLockInfo(stderr: string, now: number = Date.now()): LockInfo | null {
  const who = /already locked (exclusively )?by PID (\d+) on (\S+) by (.+?) \(UID (-?\d+), GID (-?\d+)\)/.exec(stderr);
  if (!who) return null;
  const created = /lock was created at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \(([^)]*) ago\)/.exec(stderr);
  const age = created ? parseGoDuration(created[2]!) : null;
  const storage = /storage ID ([0-9a-f]+)/.exec(stderr);
  return {
    pid: Number(who[2]),
    host: who[3]!,
    user: who[4]!,
    uid: Number(who[5]),
    gid: Number(who[6]),
    exclusive: who[1] !== undefined,
    createdAt: age === null ? null : Math.round(now - age),
    age: age === null ? null : Math.round(age),
    createdText: created ? created[1]! : null,
    storageId: storage ? storage[1]! : null,
  };
}

/** True when a process with this PID exists on this host (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** restic itself treats a lock not refreshed for 30 minutes as stale, whoever holds it. */
export const RESTIC_STALE_MS = 30 * 60_000;

export interface StaleOptions {
  /** A lock younger than this is never stale. */
  maxAgeMs: number;
  /** This host's name as restic records it (os.hostname()). */
  hostname?: string;
  now?: number;
  /** Injected for tests; defaults to a signal-0 probe. */
  isAlive?: (pid: number) => boolean;
}

/**
 * Stale means: older than maxAgeMs AND made on this host AND its process is gone. A lock from
 * another host is only stale once restic's own 30-minute limit has passed too (live restic
 * processes refresh their locks every 5 minutes), because its PID cannot be checked from here.
 */
export function isStale(lock: LockInfo, opts: StaleOptions): boolean {
  const now = opts.now ?? Date.now();
  const age = lock.age ?? (lock.createdAt !== null ? now - lock.createdAt : null);
  if (age === null || age < opts.maxAgeMs) return false;
  const here = opts.hostname ?? osHostname();
  if (lock.host === here) return !(opts.isAlive ?? pidAlive)(lock.pid);
  return age >= Math.max(opts.maxAgeMs, RESTIC_STALE_MS);
}

export const LOCK_DELAY_FIRST_MS = 5_000;
export const LOCK_DELAY_MAX_MS = 60_000;

/**
 * How long to wait before lock attempt `attempt` (0 = the first retry): 5 s, 10 s, 20 s, 40 s,
 * then every 60 s, never past the budget. Null when the budget is spent.
 */
export function nextLockDelay(attempt: number, elapsedMs: number, budgetMs: number): number | null {
  const left = budgetMs - elapsedMs;
  if (!(left > 0)) return null;
  const delay = Math.min(LOCK_DELAY_FIRST_MS * 2 ** Math.max(0, Math.min(attempt, 20)), LOCK_DELAY_MAX_MS);
  return Math.min(delay, left);
}
