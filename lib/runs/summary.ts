import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { writeAtomic, ensureDir, readJsonOrQuarantine } from "../util/fsx";
import type { RunRecord, RunStatus } from "./types";

/** A job's history as one small record: what the job list, the node status and MQTT need. */
export interface JobSummary {
  key: string;
  name: string;
  engine: string;
  /** The newest run's record, without its details. */
  last: Omit<RunRecord, "details"> | null;
  /** The newest run that succeeded (success or warning); kept after retention drops its record. */
  lastSuccess: { runId: string; finishedAt: number } | null;
  /** Records kept in the history, by status. */
  counts: Partial<Record<RunStatus, number>>;
  /**
   * Runs ever recorded, by status: only ever grows (retention drops records, not these), so
   * Prometheus can take it as a counter (highball_job_runs_total).
   */
  totals?: Partial<Record<RunStatus, number>>;
  runs: number;
  /**
   * The history file as it was when this summary was made. A file that differs at start was
   * written after it (Node-RED stopped between the two writes): only that file is read again.
   */
  file: { size: number; mtimeMs: number } | null;
}

/** The history file's shape, as far as a summary reads it. */
export interface HistoryLike { key: string; name: string; runs: RunRecord[] }

const SUCCESS = new Set<string>(["success", "warning"]);

/**
 * The fields of a job's last run in the job list: its outcome and what a card shows. The job's
 * names are the list item's own, the log is reached by run id (its path is the server's), and
 * the totals are in the run's record: each would be paid for on every poll of every job.
 */
const LISTED = ["runId", "command", "status", "ok", "startedAt", "finishedAt", "durationMs", "exitCode", "filesChanged", "bytesTransferred", "snapshotId", "error"];
const VERSION = 1;

export function summarize(h: HistoryLike, before: JobSummary | null): JobSummary {
  const counts: Partial<Record<RunStatus, number>> = {};
  let success: JobSummary["lastSuccess"] = null;
  for (const r of h.runs) {
    counts[r.status] = (counts[r.status] ?? 0) + 1;
    if (!success && SUCCESS.has(r.status)) success = { runId: r.runId, finishedAt: r.finishedAt };
  }
  // Retention may have dropped every success; the last one is still the last one.
  const older = before?.lastSuccess;
  if (older && (!success || older.finishedAt > success.finishedAt)) success = older;
  const first = h.runs[0];
  let last: JobSummary["last"] = null;
  if (first) {
    const { details: _details, ...rest } = first;
    last = rest;
  }
  return { key: h.key, name: h.name, engine: first?.engine ?? before?.engine ?? "rsync", last, lastSuccess: success, counts, totals: totalsOf(h.runs, before, counts), runs: h.runs.length, file: before?.file ?? null };
}

/** The totals before, plus the runs newer than the run that was last then (newest first). */
function totalsOf(runs: RunRecord[], before: JobSummary | null, counts: JobSummary["counts"]): JobSummary["totals"] {
  const old = before?.totals;
  const lastId = before?.last?.runId;
  if (!old || !lastId) return { ...counts };
  const totals = { ...old };
  for (const r of runs) {
    if (r.runId === lastId) return totals;
    totals[r.status] = (totals[r.status] ?? 0) + 1;
  }
  // The run that was last is gone from the history (a file replaced): never below the old totals or what is kept.
  const kept = { ...old };
  for (const [k, n] of Object.entries(counts) as Array<[RunStatus, number]>) kept[k] = Math.max(old[k] ?? 0, n);
  return kept;
}

/**
 * Every job's summary, kept in memory and in one file beside the history (`summary.json`),
 * rewritten after each history write, so listing the jobs never reads a history file. The
 * file is written after the history file it sums up; the stat of each history file at start
 * catches the run that ended in between. Cost at start: one read of this file and one stat
 * per job; a history file is read only when it changed behind the summary's back, and all of
 * them only once, when there is no summary yet (the first start after an upgrade) or it does
 * not parse (moved aside as summary.json.corrupt-<time>) — one file at a time, so memory holds one job's history at most.
 */
export class Summaries {
  readonly file: string;
  private readonly map = new Map<string, JobSummary>();
  private writing: Promise<void> | null = null;
  private dirty = false;

  constructor(home: string, private readonly historyDir: string, private readonly fileOf: (key: string) => string) {
    this.file = join(home, "summary.json");
  }

  get(key: string): JobSummary | undefined {
    return this.map.get(key);
  }

  private readonly fragments = new WeakMap<JobSummary, string>();

  /**
   * `"last":…,"lastSuccess":…,"counts":…` of `key` as JSON, made once per summary: the job list
   * is polled, and re-serialising every job's last record on each poll was most of its cost.
   * `last` is the run as a list shows it (LISTED); the whole record is the job's runs route's.
   */
  fragment(key: string): string {
    const s = this.map.get(key);
    if (!s) return `"last":null,"lastSuccess":null,"counts":{}`;
    let f = this.fragments.get(s);
    if (f === undefined) {
      f = `"last":${JSON.stringify(s.last, s.last ? LISTED : undefined)},"lastSuccess":${JSON.stringify(s.lastSuccess)},"counts":${JSON.stringify(s.counts)}`;
      this.fragments.set(s, f);
    }
    return f;
  }

  all(): JobSummary[] {
    return [...this.map.values()];
  }

  /** The record just added to `h` is in the summary at once (the files follow). */
  update(h: HistoryLike): JobSummary {
    const s = summarize(h, this.map.get(h.key) ?? null);
    this.map.set(h.key, s);
    return s;
  }

  /** After the history file of `key` was written: its size and time, and the summary to disk. */
  async written(key: string): Promise<void> {
    const s = this.map.get(key);
    if (!s) return;
    try {
      const st = await fsp.stat(join(this.historyDir, `${this.fileOf(key)}.json`));
      s.file = { size: st.size, mtimeMs: st.mtimeMs };
    } catch {
      s.file = null;
    }
    await this.save();
  }

  /** Writes the summary; writes asked for while one is on its way make one more, not many. */
  save(): Promise<void> {
    this.dirty = true;
    this.writing ??= (async () => {
      try {
        while (this.dirty) {
          this.dirty = false;
          await writeAtomic(this.file, JSON.stringify({ version: VERSION, jobs: this.all() }) + "\n");
        }
      } finally {
        this.writing = null;
      }
    })();
    return this.writing;
  }

  /**
   * Reads the summary and brings it up to date with the history folder. `read` parses one
   * history file (null when it does not parse: that job keeps the summary it had, if any).
   */
  async load(read: (file: string) => Promise<HistoryLike | null>): Promise<{ read: number }> {
    // Missing, or moved aside because it does not parse: rebuilt from the history, written anew.
    const valid = (v: unknown) => !!v && typeof v === "object" && Array.isArray((v as { jobs?: unknown }).jobs);
    const o = await readJsonOrQuarantine<{ version?: unknown; jobs?: JobSummary[] } | null>(this.file, null, valid).catch(() => null);
    const saved: JobSummary[] = o && o.version === VERSION ? o.jobs ?? [] : [];
    const byFile = new Map<string, JobSummary>();
    for (const s of saved) if (s && typeof s.key === "string") byFile.set(this.fileOf(s.key), s);
    await ensureDir(this.historyDir);
    let read_ = 0;
    let changed = false;
    const seen = new Set<string>();
    for (const f of await fsp.readdir(this.historyDir)) {
      if (!f.endsWith(".json") || f.startsWith(".")) continue;
      const base = f.slice(0, -5);
      seen.add(base);
      const known = byFile.get(base);
      let st;
      try { st = await fsp.stat(join(this.historyDir, f)); } catch { continue; }
      if (known?.file && known.file.size === st.size && known.file.mtimeMs === st.mtimeMs) {
        if (!this.map.has(known.key)) this.map.set(known.key, known);
        continue;
      }
      read_++;
      changed = true;
      const h = await read(join(this.historyDir, f));
      if (!h || typeof h.key !== "string" || !Array.isArray(h.runs)) {
        if (known && !this.map.has(known.key)) this.map.set(known.key, known);
        continue;
      }
      if (this.map.has(h.key)) continue; // a run ended while this was read: memory is newer
      const s = summarize(h, known ?? null);
      s.file = { size: st.size, mtimeMs: st.mtimeMs };
      this.map.set(h.key, s);
    }
    // Summaries whose history file is gone are dropped with it.
    for (const [base, s] of byFile) if (!seen.has(base) && !this.map.has(s.key)) changed = true;
    if (changed || saved.length === 0) await this.save().catch(() => undefined);
    return { read: read_ };
  }
}
