/**
 * Prometheus text exposition (format 0.0.4) of the jobs: made from the jobs summary and the
 * running runs, so a scrape costs O(jobs) and never reads a history file.
 */
import type { JobSummary } from "./summary";
import type { RunStatus } from "./types";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The number highball_job_last_status takes for each status (SPEC). */
export const STATUS_CODE: Readonly<Record<RunStatus, number>> = { success: 0, warning: 1, failed: 2, cancelled: 3, interrupted: 4 };
const STATUSES = Object.keys(STATUS_CODE) as RunStatus[];

export interface MetricJob {
  name: string;
  engine: string;
  summary: JobSummary | undefined;
  running: boolean;
  /** Epoch ms of the next scheduled run, when a schedule told it. */
  nextRun: number | null;
}

export interface MetricRepository {
  profile: string;
  size: number | null;
  snapshots: number;
}

/** A label value as the format wants it: backslash, double quote and line feed escaped. */
export function labelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(l: Record<string, string>): string {
  return `{${Object.entries(l).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",")}}`;
}

interface Family { name: string; help: string; type: "gauge" | "counter"; samples: string[] }

export function renderMetrics(jobs: MetricJob[], repos: MetricRepository[] = []): string {
  const fam = (name: string, type: Family["type"], help: string): Family => ({ name, help, type, samples: [] });
  const status = fam("highball_job_last_status", "gauge", "Status of the job's last run: 0 success, 1 warning, 2 failed, 3 cancelled, 4 interrupted.");
  const lastRun = fam("highball_job_last_run_timestamp_seconds", "gauge", "When the job's last run finished (Unix time).");
  const lastSuccess = fam("highball_job_last_success_timestamp_seconds", "gauge", "When the job's last successful run (success or warning) finished (Unix time).");
  const duration = fam("highball_job_last_duration_seconds", "gauge", "How long the job's last run took.");
  const bytes = fam("highball_job_last_bytes_transferred", "gauge", "Bytes the job's last run transferred (rsync) or added (restic).");
  const files = fam("highball_job_last_files_changed", "gauge", "Files the job's last run changed or added.");
  const running = fam("highball_job_running", "gauge", "1 while the job runs, else 0.");
  const next = fam("highball_job_next_run_timestamp_seconds", "gauge", "When the job's schedule runs it next (Unix time).");
  const total = fam("highball_job_runs_total", "counter", "Runs of the job recorded, by status.");
  const size = fam("highball_repository_size_bytes", "gauge", "Size of the restic repository on disk, as last read (restic stats --mode raw-data).");
  const snaps = fam("highball_repository_snapshots", "gauge", "Snapshots in the restic repository, as last read.");
  const num = (v: number) => (Number.isFinite(v) ? String(v) : "NaN");
  const seen = new Set<string>();
  for (const j of jobs) {
    // Two jobs of one name would make one series twice, which Prometheus rejects whole: the first wins.
    const id = `${j.name}\u0000${j.engine}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const l = labels({ job: j.name, engine: j.engine });
    const s = j.summary;
    const last = s?.last;
    if (last) {
      status.samples.push(`${status.name}${l} ${STATUS_CODE[last.status] ?? 2}`);
      lastRun.samples.push(`${lastRun.name}${l} ${num(last.finishedAt / 1000)}`);
      duration.samples.push(`${duration.name}${l} ${num(last.durationMs / 1000)}`);
      if (last.bytesTransferred !== null && last.bytesTransferred !== undefined) bytes.samples.push(`${bytes.name}${l} ${num(last.bytesTransferred)}`);
      if (last.filesChanged !== null && last.filesChanged !== undefined) files.samples.push(`${files.name}${l} ${num(last.filesChanged)}`);
    }
    if (s?.lastSuccess) lastSuccess.samples.push(`${lastSuccess.name}${l} ${num(s.lastSuccess.finishedAt / 1000)}`);
    running.samples.push(`${running.name}${l} ${j.running ? 1 : 0}`);
    if (j.nextRun) next.samples.push(`${next.name}${l} ${num(j.nextRun / 1000)}`);
    const totals = s?.totals ?? s?.counts ?? {};
    // Every status appears from the first scrape on, so rate() and increase() see a run's first failure.
    for (const st of STATUSES) total.samples.push(`${total.name}${labels({ job: j.name, engine: j.engine, status: st })} ${totals[st] ?? 0}`);
  }
  for (const r of repos) {
    const l = labels({ profile: r.profile });
    if (r.size !== null) size.samples.push(`${size.name}${l} ${num(r.size)}`);
    snaps.samples.push(`${snaps.name}${l} ${num(r.snapshots)}`);
  }
  const out: string[] = [];
  for (const f of [status, lastRun, lastSuccess, duration, bytes, files, running, next, total, size, snaps]) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.samples);
  }
  return out.join("\n") + "\n";
}
