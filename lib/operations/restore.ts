/**
 * A restore's dry run as a list the user can page through: every file and folder the restore
 * would write, where it would go, and whether something is there already (which it would
 * overwrite). restic 0.14 has no `restore --dry-run`, so the list is computed the same way on
 * every version: the snapshot's listing (`restic ls --json --recursive`) against the target's
 * files (lstat), reading restic's output as a stream and keeping one page only, so memory stays
 * bounded however many files the restore holds.
 */
import { lstatSync } from "node:fs";
import type { EffectiveProfile } from "../profile/resolve";
import { profileToRestic, withPassword } from "../profile/restic";
import { checkRestoreTarget, type RestoreBounds } from "../snapshots/roots";
import { SnapshotError, snapshotId, snapshotPath, targetPath, within, startRestic, readNdjson, resticFailure } from "../snapshots";

export interface PlannedFile { path: string; type: string; size: number | null; destination: string; exists: boolean }
export interface RestoreFiles {
  snapshot: string;
  target: string;
  offset: number;
  /** The page: at most `limit` entries from `offset` (of those that exist only, when asked). */
  entries: PlannedFile[];
  /** Entries in the whole restore (of the asked kind). */
  total: number;
  /** Files in the whole restore that exist already where they would be written. */
  existing: number;
}

export interface RestoreFilesRequest { snapshot: unknown; paths: unknown; target: unknown; offset?: number; limit?: number; existingOnly?: boolean; bounds?: RestoreBounds }

const MAX_PATHS = 100;
export const MAX_PAGE = 1000;
const TIMEOUT_MS = 10 * 60_000;

export async function restoreFiles(profile: EffectiveProfile, req: RestoreFilesRequest): Promise<RestoreFiles> {
  const snap = snapshotId(req.snapshot);
  if (!Array.isArray(req.paths) || req.paths.length === 0 || req.paths.length > MAX_PATHS) throw new SnapshotError(400, `paths must be a list of 1 to ${MAX_PATHS} absolute paths in the snapshot`);
  const paths = [...new Set(req.paths.map((x) => snapshotPath(x, "each path")))];
  if (req.target === undefined || req.target === null || req.target === "") throw new SnapshotError(400, `target must be "original" (restore in place) or an absolute folder`);
  const inPlace = req.target === "original";
  const target = inPlace ? "/" : targetPath(req.target);
  const offset = Math.max(0, req.offset ?? 0);
  const limit = Math.max(1, Math.min(req.limit ?? 200, MAX_PAGE));
  const existingOnly = req.existingOnly === true;
  const dest = (path: string) => (inPlace ? path : `${target === "/" ? "" : target}${path}`);
  // What a restore may not write to, a listing does not look at either (issue 19's restoreRoots).
  if (req.bounds) checkRestoreTarget(req.bounds, inPlace ? "original" : target, paths.map(dest));
  // Synchronous on purpose: a callback that returns a promise for every entry lost entries of
  // restic's listing (seen with 130 files: 60 came through); one lstat is a few microseconds.
  const exists = (p: string) => { try { lstatSync(p); return true; } catch { return false; } };

  let p: EffectiveProfile;
  try {
    p = await withPassword(profile);
  } catch (err) {
    throw new SnapshotError(409, (err as Error).message);
  }
  let plan;
  try {
    plan = profileToRestic(p, "ls", ["--json", "--recursive", "--no-lock", "--", snap, ...paths]);
  } catch (err) {
    throw new SnapshotError(409, (err as Error).message);
  }
  const out: RestoreFiles = { snapshot: snap, target: inPlace ? "original" : target, offset, entries: [], total: 0, existing: 0 };
  let seen = false;
  const proc = startRestic(plan, { timeoutMs: TIMEOUT_MS });
  try {
    await readNdjson(proc.stdout, (o) => {
      const kind = typeof o.message_type === "string" ? o.message_type : typeof o.struct_type === "string" ? o.struct_type : null;
      if (kind === "snapshot") { seen = true; return; }
      if (kind !== "node" || typeof o.path !== "string") return;
      const path = o.path;
      if (!paths.some((x) => within(x, path))) return;
      const type = typeof o.type === "string" ? o.type : "file";
      const size = type === "file" && typeof o.size === "number" ? o.size : null;
      const to = dest(path);
      // Folders are merged into, never overwritten: only what is not a folder counts as existing.
      const there = type !== "dir" && exists(to);
      if (there) out.existing++;
      if (existingOnly && !there) return;
      const n = out.total++;
      if (n >= offset && n < offset + limit) out.entries.push({ path, type, size, destination: to, exists: there });
    });
  } catch (err) {
    proc.kill();
    await proc.done;
    throw err;
  }
  const exit = await proc.done;
  if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, { profile: p.name, action: "list what to restore", snapshot: snap });
  if (!seen) throw new SnapshotError(404, `the repository of profile "${p.name}" has no snapshot ${snap}`);
  return out;
}
