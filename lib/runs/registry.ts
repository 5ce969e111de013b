import { join } from "node:path";
import { readFileSync } from "node:fs";
import { readJsonSync, writeAtomicSync } from "../util/fsx";
import type { RunningEntry } from "./types";

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
 * The runs that are running now, persisted on every change (synchronously: it is small, and a
 * crash right after a start must still find the run). The single truth for "is X running"
 * that the run nodes, the conflict gate and the admin API all read.
 */
export class Registry {
  readonly file: string;
  private readonly runs = new Map<string, RunningEntry>();

  constructor(home: string) {
    this.file = join(home, "running.json");
  }

  /** Entries left by an earlier process of ours that is gone (a crash or kill -9). */
  orphans(): RunningEntry[] {
    const saved = readJsonSync<{ runs: RunningEntry[] }>(this.file, { runs: [] });
    return saved.runs.filter((r) => r.ownerPid !== process.pid && !alive(r.ownerPid));
  }

  /** Entries of other live processes sharing this folder are kept as they are. */
  private foreign(): RunningEntry[] {
    const saved = readJsonSync<{ runs: RunningEntry[] }>(this.file, { runs: [] });
    return saved.runs.filter((r) => r.ownerPid !== process.pid && alive(r.ownerPid));
  }

  private save(): void {
    writeAtomicSync(this.file, JSON.stringify({ runs: [...this.foreign(), ...this.runs.values()] }, null, 1));
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

  remove(runId: string): void {
    if (this.runs.delete(runId)) this.save();
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
