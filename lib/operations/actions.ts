/**
 * The admin API's answers for init, unlock and a real restore, each carried out as a run
 * (lib/operations/repository.ts) and waited for, so the answers keep their contract
 * ({repository, created}, {removed}, the restore summary) and add the run's id.
 */
import type { Engine } from "../runs/engine";
import type { RunRecord } from "../runs/types";
import type { EffectiveProfile } from "../profile/resolve";
import { withPassword } from "../profile/restic";
import { lockCount } from "../profile/repository";
import { SnapshotError, literalPattern, type SnapshotBrowser, type RestoreRequest, type RestoreSummary } from "../snapshots";
import { startRepositoryRun, startRestoreRun } from "./repository";
import { forgetRestoreLists } from "./restore";

/** The repository's location as shown to a person: a REST server's password left out. */
function shown(p: EffectiveProfile): string {
  const repo = p.options.repository ?? p.options["repository-file"] ?? "";
  return repo.replace(/^(rest:[a-z]+:\/\/[^:/@]*):[^@/]*@/i, "$1@");
}

/** A run that could not start (no password, no repository): the profile is at fault, a 409 with its sentence. */
function refusedBeforeStart(record: RunRecord): void {
  if (!record.ok && record.exitCode === null && record.status === "failed") throw new SnapshotError(409, record.error ?? "restic could not be started");
}

export async function initAsRun(engine: Engine, p: EffectiveProfile): Promise<{ repository: string; created: true; runId: string }> {
  const record = await (await startRepositoryRun(engine, p, "init")).result;
  if (record.ok) return { repository: shown(p), created: true, runId: record.runId };
  refusedBeforeStart(record);
  if (/config file already exists|already initialized|already exists/i.test(record.error ?? "")) {
    throw new SnapshotError(409, `the repository of profile "${p.name}" already exists; it was left as it is`);
  }
  throw new SnapshotError(502, record.error ?? "restic init failed");
}

export async function unlockAsRun(engine: Engine, p: EffectiveProfile): Promise<{ removed: number; runId: string }> {
  let eff: EffectiveProfile;
  try {
    eff = await withPassword(p);
  } catch {
    eff = p; // the run records the sentence
  }
  const before = await lockCount(eff).catch(() => null);
  const record = await (await startRepositoryRun(engine, p, "unlock")).result;
  refusedBeforeStart(record);
  if (!record.ok) throw new SnapshotError(502, record.error ?? "restic unlock failed");
  const after = before === null ? null : await lockCount(eff).catch(() => null);
  return { removed: before !== null && after !== null ? Math.max(0, before - after) : 0, runId: record.runId };
}

/**
 * A real restore: the browser's dry run checks it (paths exist, overwrite protection), then
 * restic restore runs as a run of `restore:<profile>`; the answer is the summary once it ended.
 */
export async function restoreAsRun(engine: Engine, browser: SnapshotBrowser, p: EffectiveProfile, req: RestoreRequest): Promise<RestoreSummary & { runId: string; status: string }> {
  const started = Date.now();
  const plan = await browser.restore(p, { ...req, dryRun: true });
  if (plan.refused) throw new SnapshotError(409, plan.refused);
  const target = plan.target === "original" ? "/" : plan.target;
  const includes = plan.paths.includes("/") ? [] : plan.paths.map((x) => `--include=${literalPattern(x)}`);
  const record = await (await startRestoreRun(engine, p, plan.snapshot, target, includes, { bytes: plan.bytes, files: plan.files })).result;
  forgetRestoreLists(); // what exists where it restored changed, even when it failed halfway
  refusedBeforeStart(record);
  if (!record.ok) throw new SnapshotError(502, record.error ?? "restic restore failed");
  return { ...plan, dryRun: false, restored: true, durationMs: Date.now() - started, runId: record.runId, status: record.status };
}
