/**
 * After a restic backup through the pipeline, its snapshot is indexed in the background: once
 * the run's record is on disk (the result has gone out before that), one streamed
 * `restic ls --json <snapshot>` at a time, so browsing it later starts no restic ls at all.
 */
import type { Engine, ActiveRun } from "../runs/engine";
import type { RunRecord } from "../runs/types";
import { resolveProfile } from "../profile/resolve";
import type { SnapshotBrowser } from "./browser";
import type { SnapshotIndexes } from "./index-store";

const attached = new WeakSet<object>();
/** After the record is saved: the result message is out by then, and any work it started. */
const DELAY_MS = 200;

export function indexAfterBackups(engine: Engine, browser: SnapshotBrowser, idx: SnapshotIndexes): void {
  if (attached.has(engine)) return;
  attached.add(engine);
  const profiles = new Map<string, string>();
  engine.on("start", (run: ActiveRun) => {
    if (run.job.engine === "restic" && run.job.profile) profiles.set(run.runId, run.job.profile);
    // Runs that end without an "end" (none known) must not leave their entry for ever.
    void run.result.catch(() => undefined).finally(() => setTimeout(() => profiles.delete(run.runId), 60_000).unref());
  });
  engine.on("end", (record: RunRecord) => {
    const ref = profiles.get(record.runId);
    profiles.delete(record.runId);
    if (!ref || record.command !== "backup" || !record.snapshotId || (record.status !== "success" && record.status !== "warning")) return;
    const snap = record.snapshotId;
    void engine.history.settled().then(() => new Promise((r) => setTimeout(r, DELAY_MS))).then(async () => {
      const name = engine.profileName(ref);
      if (!name) return;
      const p = resolveProfile(name, engine.profileSet());
      await browser.index(p, snap, idx);
    }).catch(() => undefined);
  });
}
