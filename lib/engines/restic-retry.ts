/**
 * A locked repository, met by any restic run (a node's job, or a check/forget/prune/restore
 * started from the Snapshots tab): a stale lock (old enough, on this host, its process gone) is
 * removed with `restic unlock`; a live one is waited for with back-off, within the profile's
 * wait-for-lock. This is the engine's `retry` of a run's step (lib/runs/engine.ts), so every
 * restic run honours the profile the same way.
 */
import { hostname } from "node:os";
import { runCommand } from "../runs/command";
import type { Step, StartRequest } from "../runs/engine";
import type { EffectiveProfile } from "../profile/resolve";
import { profileToRestic } from "../profile/restic";
import { lockPolicy, type ResticVersion } from "./restic";
import { isStale, nextLockDelay, type LockInfo } from "./restic-lock";

/** Stale locks removed within one run at most this often, so a lock that comes back is not fought for ever. */
const UNLOCKS = 3;

/**
 * The retry for a run of `profile`'s restic: `again(retryLockMs)` makes the step anew, asking
 * restic itself to wait that long for the lock when given (restic 0.16+, --retry-lock).
 */
export function lockRetry(profile: EffectiveProfile, version: ResticVersion, again: (retryLockMs?: number) => Step): NonNullable<StartRequest["retry"]> {
  const lock = lockPolicy(profile, version);
  return async (_step, outcome, attempt, run) => {
    const held = (outcome.details as { lock?: LockInfo } | undefined)?.lock;
    if (outcome.status !== "failed" || !held) return null;
    if (lock.staleAgeMs !== null && isStale(held, { maxAgeMs: lock.staleAgeMs, hostname: hostname() })) {
      const unlock = profileToRestic(profile, "unlock", []);
      const r = await runCommand({ command: unlock.command, args: unlock.args, env: unlock.env, timeoutMs: 120_000 });
      run.note(`removed a stale lock of PID ${held.pid} on ${held.host} (restic unlock: exit ${r.code ?? r.spawnError ?? r.signal})`);
      if (r.code === 0 && attempt <= UNLOCKS) return again();
    }
    const delay = nextLockDelay(attempt - 1, Date.now() - run.startedAt, lock.waitMs);
    if (delay === null) return null;
    const s = Math.round(delay / 1000);
    // restic 0.16+ wait inside the next attempt and take the lock as soon as it is free.
    run.note(`the repository is locked by PID ${held.pid} on ${held.host}; ${lock.byRestic ? `restic ${version.version} waits up to ${s} s for it (--retry-lock)` : `trying again in ${s} s`}`);
    if (lock.byRestic) return again(delay);
    return (await run.sleep(delay)) ? again() : null;
  };
}
