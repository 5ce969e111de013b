/**
 * Restores from a snapshot, with a dry run that lists what would be written and what exists
 * there already, overwrite protection, the restore roots' bounds, and one restore at a time per
 * repository.
 */
import { lstat, readdir } from "node:fs/promises";
import type { EffectiveProfile } from "../profile/resolve";
import { ignoredSnapshot } from "./errors";
import { checkRestoreTarget, checkExisting, type RestoreBounds } from "./roots";
import { SnapshotError, snapshotId, snapshotPath, targetPath, within, literalPattern } from "./validate";
import { ResticAccess, repoKey, num, str, kindOf } from "./access";

export interface RestoreRequest {
  snapshot: unknown;
  paths: unknown;
  target: unknown;
  dryRun?: unknown;
  overwrite?: unknown;
  /** Where this restore may write (lib/snapshots/roots.ts); a dry run is bounded too. */
  bounds?: RestoreBounds;
}

export interface RestoreSummary {
  dryRun: boolean;
  snapshot: string;
  paths: string[];
  /** "original" or the folder restored into (paths keep their full path beneath it). */
  target: string;
  files: number;
  dirs: number;
  others: number;
  bytes: number;
  /** Files of the restore that exist already where they would be written. */
  existing: number;
  /** The first few files that exist already (destination paths). */
  existingSample: string[];
  /** The first entries of the restore: snapshot path, where it goes, whether something is there. */
  sample: { path: string; type: string; size: number | null; destination: string; exists: boolean }[];
  /** Whether the target folder held anything (null for a restore in place). */
  targetEmpty: boolean | null;
  /** Why the restore would be refused (dry run) or null when it may go ahead. */
  refused: string | null;
  restored: boolean;
  durationMs: number;
}

const SAMPLE = 200;
const MAX_RESTORE_PATHS = 100;

export class Restores {
  private readonly restoring = new Set<string>();

  constructor(private readonly r: ResticAccess) {}

  /**
   * Restores `paths` of a snapshot into `target` (a folder: each path keeps its full path
   * beneath it), or to their original place (`target: "original"`). A non-empty target folder,
   * or files that exist at their original place, are refused unless `overwrite` is true. A dry
   * run writes nothing: it lists what would be restored and which of it exists already (restic
   * 0.14 has no restore --dry-run, so the listing is ours, the same for every version).
   */
  async restore(p: EffectiveProfile, req: RestoreRequest): Promise<RestoreSummary> {
    const started = Date.now();
    const snap = snapshotId(req.snapshot);
    if (!Array.isArray(req.paths) || req.paths.length === 0) throw new SnapshotError(400, "paths must be a list of at least one absolute path in the snapshot");
    if (req.paths.length > MAX_RESTORE_PATHS) throw new SnapshotError(400, `at most ${MAX_RESTORE_PATHS} paths can be restored at once; restore their common folder instead`);
    const paths = outermost(req.paths.map((x) => snapshotPath(x, "each path")));
    if (req.target === undefined || req.target === null || req.target === "") throw new SnapshotError(400, `target must be "original" (restore in place) or an absolute folder`);
    const inPlace = req.target === "original";
    const target = inPlace ? "/" : targetPath(req.target);
    if (req.dryRun !== undefined && typeof req.dryRun !== "boolean") throw new SnapshotError(400, "dryRun must be true or false");
    if (req.overwrite !== undefined && typeof req.overwrite !== "boolean") throw new SnapshotError(400, "overwrite must be true or false");
    const dryRun = req.dryRun === true;
    const overwrite = req.overwrite === true;
    const dest = (path: string) => (inPlace ? path : `${target === "/" ? "" : target}${path}`);
    const bounds = req.bounds;
    if (bounds) checkRestoreTarget(bounds, inPlace ? "original" : target, paths.map(dest));
    const repo = repoKey(p);
    if (!dryRun) {
      if (this.restoring.has(repo)) throw new SnapshotError(409, `a restore from the repository of profile "${p.name}" is already running`);
      this.restoring.add(repo);
    }
    try {
      const summary: RestoreSummary = {
        dryRun, snapshot: snap, paths, target: inPlace ? "original" : target,
        files: 0, dirs: 0, others: 0, bytes: 0, existing: 0, existingSample: [], sample: [],
        targetEmpty: null, refused: null, restored: false, durationMs: 0,
      };
      let probe = true;
      if (!inPlace) {
        const state = await folderState(target);
        if (state === "not-a-folder") throw new SnapshotError(400, "target exists and is not a folder");
        summary.targetEmpty = state !== "non-empty";
        // Into an empty or new folder nothing can exist already: no need to look for each file.
        probe = state === "non-empty";
      }
      const found = new Set<string>();
      let outside: unknown = null;
      let snapshotSeen = false;
      let batch: { dest: string; sample: RestoreSummary["sample"][number] | null }[] = [];
      const flush = async () => {
        const b = batch;
        batch = [];
        const exists = await Promise.all(b.map((x) => lstat(x.dest).then(() => true, () => false)));
        b.forEach((x, i) => {
          if (!exists[i]) return;
          summary.existing++;
          if (summary.existingSample.length < SAMPLE) summary.existingSample.push(x.dest);
          if (x.sample) x.sample.exists = true;
        });
      };
      const exit = await this.r.ndjson(p, "ls", ["--json", "--recursive", "--", snap, ...paths], { profile: p.name, action: "list what to restore", snapshot: snap }, (o) => {
        const kind = kindOf(o);
        if (kind === "snapshot") { snapshotSeen = true; summary.snapshot = str(o.id) ?? snap; return; }
        if (kind !== "node" || typeof o.path !== "string") return;
        const path = o.path;
        if (!paths.some((x) => within(x, path))) return;
        found.add(path);
        const type = String(o.type ?? "file");
        const size = type === "file" ? num(o.size) ?? 0 : null;
        if (type === "dir") summary.dirs++;
        else if (type === "file") { summary.files++; summary.bytes += size ?? 0; } else summary.others++;
        const sample = summary.sample.length < SAMPLE ? { path, type, size, destination: dest(path), exists: false } : null;
        if (sample) summary.sample.push(sample);
        // Over existing files, a symlink there must not lead the restore outside its bounds.
        if (probe && bounds && outside === null) {
          try { checkExisting(bounds, dest(path)); } catch (err) { outside = err; }
        }
        if (type !== "dir" && probe) {
          batch.push({ dest: dest(path), sample });
          if (batch.length >= 256) return flush();
        }
      });
      if (batch.length) await flush();
      if (outside) throw outside;
      if (!snapshotSeen || ignoredSnapshot(exit.stderr)) throw new SnapshotError(404, `the repository of profile "${p.name}" has no snapshot ${snap}`);
      const missing = paths.filter((x) => x !== "/" && !found.has(x));
      if (missing.length) throw new SnapshotError(404, `there is no ${missing[0]} in snapshot ${snap.slice(0, 8)}`);
      if (!overwrite) {
        if (!inPlace && summary.targetEmpty === false) summary.refused = "the target folder is not empty; tick overwrite to restore into it anyway";
        else if (inPlace && summary.existing > 0) {
          summary.refused = `${summary.existing} ${summary.existing === 1 ? "file exists" : "files exist"} already at the original place; tick overwrite to replace ${summary.existing === 1 ? "it" : "them"}`;
        }
      }
      if (!dryRun) {
        if (summary.refused) throw new SnapshotError(409, summary.refused);
        const includes = paths.includes("/") ? [] : paths.map((x) => `--include=${literalPattern(x)}`);
        await this.r.ndjson(p, "restore", [`--target=${target}`, ...includes, "--", snap], { profile: p.name, action: "restore", snapshot: snap }, () => undefined, 0);
        summary.restored = true;
      }
      summary.durationMs = Date.now() - started;
      return summary;
    } finally {
      if (!dryRun) this.restoring.delete(repo);
    }
  }
}

/** The given paths without those inside another one ("/" covers everything). */
function outermost(paths: string[]): string[] {
  const uniq = [...new Set(paths)].sort();
  return uniq.filter((x) => !uniq.some((y) => y !== x && within(y, x)));
}

async function folderState(dir: string): Promise<"missing" | "empty" | "non-empty" | "not-a-folder"> {
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) return "not-a-folder";
  } catch {
    return "missing";
  }
  try {
    return (await readdir(dir)).length ? "non-empty" : "empty";
  } catch {
    return "non-empty"; // unreadable: be careful, treat it as holding something
  }
}
