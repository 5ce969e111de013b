import { join, resolve } from "node:path";
import { tmpdir } from "node:os";

/** The part of Node-RED's settings the engine reads. */
export interface HighballSettings {
  userDir?: string;
  highball?: { dir?: string; /** Bound of the snapshot index folder, in MiB (default 2048). */ snapshotIndexMB?: number };
}

/**
 * Where the product keeps history, logs, the run registry and schedule state:
 * `settings.highball.dir`, else `<userDir>/highball`. Without a userDir (embedded
 * runtimes, the test helper) a per-process temp folder keeps state out of the cwd.
 */
export function highballHome(settings: HighballSettings | undefined): string {
  const dir = settings?.highball?.dir;
  if (dir) return resolve(dir);
  if (settings?.userDir) return join(resolve(settings.userDir), "highball");
  return join(tmpdir(), `highball-${process.pid}`);
}
