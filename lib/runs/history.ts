import { promises as fsp } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readJson, readJsonSync, writeJson, writeAtomicSync, ensureDir } from "../util/fsx";
import { type RunRecord, type Retention, defaultRetention } from "./types";

interface HistoryFile { key: string; name: string; runs: RunRecord[] }

const DAY = 24 * 3600 * 1000;

/** File names come from a hash of the key, so no job name or id can steer a path. */
export function keyFile(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 32);
}

export const RUN_ID = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * Run history per job (keyed by the backup-job node id, so renaming keeps it), the last
 * config of deleted jobs, and log retention. Each job's history is one JSON file rewritten
 * atomically at the end of each run: runs end rarely, and a reader never sees half a file.
 */
export class History {
  readonly dir: string;
  readonly logsDir: string;
  readonly deletedDir: string;
  private readonly byRun = new Map<string, string>();
  private indexed: Promise<void> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly home: string, public retention: Retention = defaultRetention) {
    this.dir = join(home, "history");
    this.logsDir = join(home, "logs");
    this.deletedDir = join(home, "deleted");
  }

  private file(key: string): string {
    return join(this.dir, `${keyFile(key)}.json`);
  }

  /** Serialises writers: two runs of different jobs may end in the same tick. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async index(): Promise<void> {
    this.indexed ??= (async () => {
      await ensureDir(this.dir);
      for (const f of await fsp.readdir(this.dir)) {
        if (!f.endsWith(".json")) continue;
        const h = await readJson<HistoryFile | null>(join(this.dir, f), null).catch(() => null);
        for (const r of h?.runs ?? []) this.byRun.set(r.runId, h!.key);
      }
    })();
    return this.indexed;
  }

  async add(record: RunRecord, now = Date.now()): Promise<void> {
    await this.index();
    await this.serial(async () => {
      // Synchronous on purpose: one small file at a run's end, where nine trips through the
      // thread pool (read, temp write, rename) cost more than the blocking (bench/rsync).
      const file = this.file(record.jobId);
      const h = readJsonSync<HistoryFile>(file, { key: record.jobId, name: record.job, runs: [] });
      h.name = record.job;
      h.runs.unshift(record);
      this.byRun.set(record.runId, record.jobId);
      await this.prune(h, now);
      writeAtomicSync(file, JSON.stringify(h, null, 1) + "\n");
    });
  }

  /** Drops records past the limits and logs past their retention; failed runs' logs live longer. */
  private async prune(h: HistoryFile, now: number): Promise<void> {
    const r = this.retention;
    const keep: RunRecord[] = [];
    for (const [i, run] of h.runs.entries()) {
      const failed = run.status === "failed" || run.status === "interrupted";
      const logDays = failed ? Math.max(r.failedLogDays, run.logDays ?? 0) : (run.logDays ?? r.logDays);
      const age = now - run.finishedAt;
      const keepRecord = i < r.maxRuns && age <= r.maxDays * DAY;
      if (run.logFile && (!keepRecord || age > logDays * DAY)) {
        await fsp.rm(join(this.logsDir, run.logFile), { force: true });
        if (keepRecord) run.logFile = "";
      }
      if (keepRecord) keep.push(run);
      else this.byRun.delete(run.runId);
    }
    h.runs = keep;
  }

  /** Every job key that has history, with its last name. */
  async keys(): Promise<{ key: string; name: string }[]> {
    await ensureDir(this.dir);
    const out: { key: string; name: string }[] = [];
    for (const f of await fsp.readdir(this.dir)) {
      if (!f.endsWith(".json")) continue;
      const h = await readJson<HistoryFile | null>(join(this.dir, f), null).catch(() => null);
      if (h) out.push({ key: h.key, name: h.name });
    }
    return out;
  }

  async list(key: string, opts: { limit?: number; before?: number } = {}): Promise<RunRecord[]> {
    const h = await readJson<HistoryFile | null>(this.file(key), null);
    let runs = h?.runs ?? [];
    if (opts.before !== undefined) runs = runs.filter((r) => r.startedAt < opts.before!);
    return runs.slice(0, Math.max(0, Math.min(opts.limit ?? 50, 1000)));
  }

  async last(key: string): Promise<RunRecord | null> {
    return (await this.list(key, { limit: 1 }))[0] ?? null;
  }

  async find(runId: string): Promise<RunRecord | null> {
    if (!RUN_ID.test(runId)) return null;
    await this.index();
    const key = this.byRun.get(runId);
    if (!key) return null;
    return (await this.list(key, { limit: 1000 })).find((r) => r.runId === runId) ?? null;
  }

  /** Keeps a removed job's last config beside its history, so it can be restored. */
  async rememberDeleted(key: string, config: Record<string, unknown>, now = Date.now()): Promise<void> {
    await writeJson(join(this.deletedDir, `${keyFile(key)}.json`), { key, deletedAt: now, config });
  }

  async forgetDeleted(key: string): Promise<void> {
    await fsp.rm(join(this.deletedDir, `${keyFile(key)}.json`), { force: true });
  }

  async deleted(): Promise<{ key: string; deletedAt: number; config: Record<string, unknown> }[]> {
    await ensureDir(this.deletedDir);
    const out = [];
    for (const f of await fsp.readdir(this.deletedDir)) {
      if (!f.endsWith(".json")) continue;
      const d = await readJson<{ key: string; deletedAt: number; config: Record<string, unknown> } | null>(join(this.deletedDir, f), null).catch(() => null);
      if (d) out.push(d);
    }
    return out.sort((a, b) => b.deletedAt - a.deletedAt);
  }
}
