import { promises as fsp } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readJsonOrQuarantine, readJsonOrQuarantineSync, writeJson, writeAtomic, ensureDir } from "../util/fsx";
import { type RunRecord, type Retention, defaultRetention } from "./types";
import { Summaries, type JobSummary } from "./summary";

interface HistoryFile { key: string; name: string; runs: RunRecord[] }

const DAY = 24 * 3600 * 1000;

/** A history file as this code writes it; anything else is moved aside, not half-used. */
function isHistory(v: unknown): boolean {
  const h = v as HistoryFile | null;
  return !!h && typeof h === "object" && typeof h.key === "string" && Array.isArray(h.runs)
    && h.runs.every((r) => !!r && typeof r === "object" && typeof r.runId === "string");
}

interface DeletedFile { key: string; deletedAt: number; config: Record<string, unknown> }

function isDeleted(v: unknown): boolean {
  const d = v as DeletedFile | null;
  return !!d && typeof d === "object" && typeof d.key === "string" && typeof d.deletedAt === "number" && !!d.config && typeof d.config === "object";
}

/** File names come from a hash of the key, so no job name or id can steer a path. */
export function keyFile(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 32);
}

export const RUN_ID = /^[A-Za-z0-9_-]{1,80}$/;

/** History files kept parsed in memory, most recently used last: the jobs that run. */
const CACHED_FILES = 64;

/**
 * Run history per job (keyed by the backup-job node id, so renaming keeps it), the last
 * config of deleted jobs, and log retention. Each job's history is one JSON file rewritten
 * atomically after each run: runs end rarely, and a reader never sees half a file. A run's
 * record is in memory at once, for every reader here; the file follows in the background, so
 * the run's result never waits for the disk (bench/rsync) and a long history costs no blocking.
 */
export class History {
  readonly dir: string;
  readonly logsDir: string;
  readonly deletedDir: string;
  private readonly byRun = new Map<string, string>();
  private readonly files = new Map<string, HistoryFile>();
  /** Writes queued per job key. */
  private readonly unsaved = new Map<string, number>();
  private indexed: Promise<void> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /** Each job's last result, last success and counts: what listing the jobs reads. */
  readonly summaries: Summaries;
  private loaded: Promise<{ read: number }> | null = null;

  constructor(readonly home: string, public retention: Retention = defaultRetention) {
    this.dir = join(home, "history");
    this.logsDir = join(home, "logs");
    this.deletedDir = join(home, "deleted");
    this.summaries = new Summaries(home, this.dir, keyFile);
  }

  /**
   * Resolves once the summaries are read (and brought up to date with the history files that
   * changed behind them); answers how many history files that had to read.
   */
  ready(): Promise<{ read: number }> {
    this.loaded ??= this.summaries.load((f) => readJsonOrQuarantine<HistoryFile | null>(f, null, isHistory).catch(() => null));
    return this.loaded;
  }

  /** A job's summary (last result, last success, counts); undefined: no history. */
  summary(key: string): JobSummary | undefined {
    return this.summaries.get(key);
  }

  private file(key: string): string {
    return join(this.dir, `${keyFile(key)}.json`);
  }

  /** Serialises the writers, in the order the runs ended. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every record added so far is on disk. */
  async settled(): Promise<void> {
    for (let q = this.queue; ; q = this.queue) {
      await q;
      if (q === this.queue) return;
    }
  }

  private remember(key: string, h: HistoryFile): HistoryFile {
    this.files.delete(key);
    this.files.set(key, h);
    if (this.files.size > CACHED_FILES) {
      // A file with a write still queued stays: on disk it is older than here.
      for (const k of this.files.keys()) {
        if (this.unsaved.has(k)) continue;
        this.files.delete(k);
        break;
      }
    }
    return h;
  }

  /** The parsed file of `key`; a file that does not parse is moved aside and the job starts afresh. */
  private loadSync(key: string): HistoryFile | null {
    const cached = this.files.get(key);
    if (cached) return this.remember(key, cached);
    const h = readJsonOrQuarantineSync<HistoryFile | null>(this.file(key), null, isHistory);
    return h ? this.remember(key, h) : null;
  }

  private async load(key: string): Promise<HistoryFile | null> {
    const cached = this.files.get(key);
    if (cached) return this.remember(key, cached);
    const h = await readJsonOrQuarantine<HistoryFile | null>(this.file(key), null, isHistory);
    // A record added while the file was read is in the cache now, and newer than the file.
    const now = this.files.get(key);
    if (now) return this.remember(key, now);
    return h ? this.remember(key, h) : null;
  }

  private async index(): Promise<void> {
    this.indexed ??= (async () => {
      await ensureDir(this.dir);
      for (const f of await fsp.readdir(this.dir)) {
        if (!f.endsWith(".json")) continue;
        const h = await readJsonOrQuarantine<HistoryFile | null>(join(this.dir, f), null, isHistory).catch(() => null);
        for (const r of h?.runs ?? []) if (!this.byRun.has(r.runId)) this.byRun.set(r.runId, h!.key);
      }
    })();
    return this.indexed;
  }

  /**
   * Adds a run's record: every reader sees it when this returns; the promise settles once it
   * is on disk (or rejects, when the disk refused it).
   */
  add(record: RunRecord, now = Date.now()): Promise<void> {
    let h: HistoryFile;
    let dropped: string[];
    try {
      h = this.loadSync(record.jobId) ?? this.remember(record.jobId, { key: record.jobId, name: record.job, runs: [] });
      h.name = record.job;
      h.runs.unshift(record);
      this.byRun.set(record.runId, record.jobId);
      dropped = this.prune(h, now);
      this.summaries.update(h);
    } catch (err) {
      return Promise.reject(err);
    }
    const key = record.jobId;
    this.unsaved.set(key, (this.unsaved.get(key) ?? 0) + 1);
    return this.serial(async () => {
      try {
        for (const log of dropped) await fsp.rm(join(this.logsDir, log), { force: true });
        // The file gets what memory holds when its turn comes: a newer record in an earlier
        // write only brings it to disk sooner.
        await writeAtomic(this.file(key), JSON.stringify(h) + "\n");
        // After the history file: a summary never counts a record the history lacks.
        await this.summaries.written(key).catch(() => undefined); // checked again at the next start
      } finally {
        const n = (this.unsaved.get(key) ?? 1) - 1;
        if (n > 0) this.unsaved.set(key, n); else this.unsaved.delete(key);
      }
    });
  }

  /** Drops records past the limits; answers the logs past their retention (failed runs' live longer). */
  private prune(h: HistoryFile, now: number): string[] {
    const r = this.retention;
    const keep: RunRecord[] = [];
    const dropped: string[] = [];
    for (const [i, run] of h.runs.entries()) {
      const failed = run.status === "failed" || run.status === "interrupted";
      const logDays = failed ? Math.max(r.failedLogDays, run.logDays ?? 0) : (run.logDays ?? r.logDays);
      const age = now - run.finishedAt;
      const keepRecord = i < r.maxRuns && age <= r.maxDays * DAY;
      if (run.logFile && (!keepRecord || age > logDays * DAY)) {
        dropped.push(run.logFile);
        if (keepRecord) run.logFile = "";
      }
      if (keepRecord) keep.push(run);
      else this.byRun.delete(run.runId);
    }
    h.runs = keep;
    return dropped;
  }

  /** Every job key that has history, with its last name: from the summaries, no file read. */
  async keys(): Promise<{ key: string; name: string }[]> {
    await this.ready();
    return this.summaries.all().map((s) => ({ key: s.key, name: s.name }));
  }

  async list(key: string, opts: { limit?: number; before?: number } = {}): Promise<RunRecord[]> {
    const h = await this.load(key);
    let runs = h?.runs ?? [];
    if (opts.before !== undefined) runs = runs.filter((r) => r.startedAt < opts.before!);
    return runs.slice(0, Math.max(0, Math.min(opts.limit ?? 50, 1000)));
  }

  async last(key: string): Promise<RunRecord | null> {
    return (await this.list(key, { limit: 1 }))[0] ?? null;
  }

  /** Whether the history of `key` holds run `runId` (one job's file, not all of them). */
  async has(key: string, runId: string): Promise<boolean> {
    return (await this.list(key, { limit: 1000 })).some((r) => r.runId === runId);
  }

  /**
   * A run's record by its id alone. The jobs in memory are looked at first (a log asked for is
   * nearly always a recent run's); only then are all history files read, once, for an index.
   */
  async find(runId: string): Promise<RunRecord | null> {
    if (!RUN_ID.test(runId)) return null;
    for (const h of this.files.values()) {
      const r = h.runs.find((x) => x.runId === runId);
      if (r) return r;
    }
    await this.index();
    const key = this.byRun.get(runId);
    if (!key) return null;
    return (await this.list(key, { limit: 1000 })).find((r) => r.runId === runId) ?? null;
  }

  /** Keeps a removed job's last config beside its history, so it can be restored. */
  async rememberDeleted(key: string, config: Record<string, unknown>, now = Date.now()): Promise<void> {
    await writeJson(join(this.deletedDir, `${keyFile(key)}.json`), { key, deletedAt: now, config });
    (await this.deletedKeys()).add(key);
  }

  async forgetDeleted(key: string): Promise<void> {
    await fsp.rm(join(this.deletedDir, `${keyFile(key)}.json`), { force: true });
    (await this.deletedKeys()).delete(key);
  }

  private deletedSet: Promise<Set<string>> | null = null;

  /** The keys of deleted jobs: the folder is read once, then kept up to date here. */
  private deletedKeys(): Promise<Set<string>> {
    const set = this.deletedSet ??= this.deleted().then((list) => new Set(list.map((d) => d.key)));
    set.catch(() => { if (this.deletedSet === set) this.deletedSet = null; });
    return set;
  }

  /** Whether each key's job was deleted (read once per process, not per request). */
  async deletedTest(): Promise<(key: string) => boolean> {
    const keys = await this.deletedKeys();
    return (key) => keys.has(key);
  }

  async deleted(): Promise<{ key: string; deletedAt: number; config: Record<string, unknown> }[]> {
    await ensureDir(this.deletedDir);
    const out = [];
    for (const f of await fsp.readdir(this.deletedDir)) {
      if (!f.endsWith(".json")) continue;
      const d = await readJsonOrQuarantine<DeletedFile | null>(join(this.deletedDir, f), null, isDeleted).catch(() => null);
      if (d) out.push(d);
    }
    return out.sort((a, b) => b.deletedAt - a.deletedAt);
  }
}
