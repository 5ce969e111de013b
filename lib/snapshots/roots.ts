/**
 * Where a restore may write. A restore runs with Node-RED's rights (often root): without a
 * bound, a user with highball.write could restore a snapshot over /etc. The bound is the
 * `highball.restoreRoots` setting, or by default: Highball's restore folder (new folders
 * under it), and the source paths of the jobs and the profile that back up into this
 * repository (putting files back where they came from). Symlinks are resolved before the
 * check, so a link inside a root that points outside it does not widen it.
 */
import { realpathSync, lstatSync } from "node:fs";
import { dirname, join, resolve, isAbsolute } from "node:path";
import { SnapshotError, within } from "./validate";
import type { Engine } from "../runs/engine";
import type { EffectiveProfile } from "../profile/resolve";

export interface RestoreSettings {
  highball?: { restoreRoots?: unknown; restoreFolder?: unknown };
}

export interface RestoreBounds {
  /** Absolute folders a restore may write into (each resolved through its symlinks). */
  roots: string[];
  /** Where restores go by default; new folders are made under it. */
  folder: string;
}

function resolved(path: string): string {
  // The nearest existing folder decides where a path really leads.
  let p = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try { return join(realpathSync(p), ...rest.reverse()); } catch { /* not there (yet) */ }
    const up = dirname(p);
    if (up === p) return join(p, ...rest.reverse());
    rest.push(p.slice(up.length).replace(/^\//, ""));
    p = up;
  }
}

/** The bounds for a profile: settings first, else the defaults (see the file's comment). */
export function restoreBounds(settings: RestoreSettings | undefined, home: string, sourcePaths: string[]): RestoreBounds {
  const s = settings?.highball ?? {};
  const folder = typeof s.restoreFolder === "string" && isAbsolute(s.restoreFolder) ? resolve(s.restoreFolder) : join(home, "restore");
  const configured = Array.isArray(s.restoreRoots) ? s.restoreRoots.filter((r): r is string => typeof r === "string" && isAbsolute(r)) : null;
  const roots = configured ?? [folder, ...sourcePaths.filter((p) => isAbsolute(p))];
  return { roots: [...new Set(roots.map(resolved))], folder: resolved(folder) };
}

function inside(bounds: RestoreBounds, path: string): boolean {
  const real = resolved(path);
  return bounds.roots.some((r) => within(r, real));
}

const HOW = "restores may write only into Highball's restore folder, where the profile's jobs back up from, or the folders of the highball.restoreRoots setting";

/**
 * Refuses (403, one sentence) a restore whose target — or, in place, any of its paths — lies
 * outside the bounds once symlinks are followed.
 */
export function checkRestoreTarget(bounds: RestoreBounds, target: string | "original", paths: string[]): void {
  if (target === "original") {
    for (const p of paths) {
      if (!inside(bounds, p)) throw new SnapshotError(403, `${p} is outside the folders a restore may write to in place; ${HOW}`);
    }
    return;
  }
  if (!inside(bounds, target)) throw new SnapshotError(403, `the target ${target} is outside the folders a restore may write to; ${HOW}`);
}

/**
 * For a restore over existing files: a folder on the way that is a symlink must still lead
 * inside the bounds (restic follows it when it writes beneath it).
 */
export function checkExisting(bounds: RestoreBounds, dest: string): void {
  let st;
  try { st = lstatSync(dest); } catch { return; }
  if (st.isSymbolicLink() && !inside(bounds, dest)) {
    throw new SnapshotError(403, `${dest} is a symbolic link that leads outside the folders a restore may write to; ${HOW}`);
  }
}

/** A profile's restore bounds: the settings' roots, or the sources of the restic jobs that back up into it. */
export function profileRestoreBounds(e: Pick<Engine, "jobs" | "profileName" | "home">, settings: unknown, p: EffectiveProfile): RestoreBounds {
  const sources: string[] = [];
  for (const j of e.jobs.values()) {
    if (j.job.engine !== "restic" || !j.job.profile || e.profileName(j.job.profile) !== p.name) continue;
    for (const entry of j.job.source?.paths ?? []) sources.push(entry.path);
  }
  if (p.options.command?.[0] === "backup") sources.push(...(p.options.args ?? []).filter((a) => a.startsWith("/")));
  return restoreBounds(settings as RestoreSettings, e.home, sources);
}
