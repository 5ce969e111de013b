import { join } from "node:path";
import { readFileSync } from "node:fs";
import { readJsonOrQuarantineSync, writeAtomic } from "../util/fsx";
import type { RunningEntry } from "./types";

/** The registry file as this code writes it. */
function isRegistry(v: unknown): boolean {
  const r = v as { runs?: unknown } | null;
  return !!r && typeof r === "object" && Array.isArray(r.runs) && r.runs.every((e) => !!e && typeof e === "object" && typeof (e as RunningEntry).runId === "string");
}

export function alive(pid: number | null | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The runs that are running now, persisted on every change. The single truth for "is X
 * running" that the run nodes, the conflict gate and the admin API all read. Writes are
 * asynchronous and coalesced (a burst of changes is one write), off the event loop's path.
 */
export class Registry {
  readonly file: string;
  private readonly runs = new Map<string, RunningEntry>();
  /** Ended runs the file still lists until their history record is on disk. */
  private readonly leaving = new Map<string, RunningEntry>();

  private writing: Promise<void> | null = null;
  private dirty = false;
  /** Entries of other live processes sharing this folder, as found at start; kept as they are. */
  private readonly others: RunningEntry[];

  constructor(home: string) {
    this.file = join(home, "running.json");
    const saved = readJsonOrQuarantineSync<{ runs: RunningEntry[] }>(this.file, { runs: [] }, isRegistry);
    this.others = saved.runs.filter((r) => r.ownerPid !== process.pid && alive(r.ownerPid));
  }

  /** Entries left by an earlier process of ours that is gone (a crash or kill -9). */
  orphans(): RunningEntry[] {
    const saved = readJsonOrQuarantineSync<{ runs: RunningEntry[] }>(this.file, { runs: [] }, isRegistry);
    return saved.runs.filter((r) => r.ownerPid !== process.pid && !alive(r.ownerPid));
  }

  private save(): void {
    this.dirty = true;
    this.writing ??= (async () => {
      try {
        while (this.dirty) {
          this.dirty = false;
          await writeAtomic(this.file, JSON.stringify({ runs: [...this.others, ...this.leaving.values(), ...this.runs.values()] }, null, 1));
        }
      } catch {
        // A full disk must not stop runs; the next change tries again.
      } finally {
        this.writing = null;
      }
    })();
  }

  /** Resolves once what has changed so far is on disk. */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  add(entry: RunningEntry): void {
    this.runs.set(entry.runId, entry);
    this.save();
  }

  update(runId: string, patch: Partial<RunningEntry>): void {
    const e = this.runs.get(runId);
    if (!e) return;
    Object.assign(e, patch);
    this.save();
  }

  /**
   * Forgets a run now; with `recorded`, the file keeps it until that settles (its history record
   * is on disk), so a crash in between finds it and records it `interrupted` rather than nowhere.
   */
  remove(runId: string, recorded?: Promise<unknown>): void {
    const e = this.runs.get(runId);
    if (!e) return;
    this.runs.delete(runId);
    if (!recorded) {
      this.save();
      return;
    }
    this.leaving.set(runId, e);
    const gone = () => { this.leaving.delete(runId); this.save(); };
    recorded.then(gone, gone);
  }

  /** Forgets orphans once they have been recorded as interrupted. */
  clearOrphans(): void {
    this.save();
  }

  list(): RunningEntry[] {
    return [...this.runs.values()];
  }

  byKey(key: string): RunningEntry | undefined {
    for (const r of this.runs.values()) if (r.key === key) return r;
    return undefined;
  }
}
