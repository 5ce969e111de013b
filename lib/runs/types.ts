import type { RunStatus, Progress } from "../engines/types";

/** The result payload of SPEC.md: flat, numbers as numbers, times as epoch ms. */
export interface RunResult {
  job: string;
  jobId: string;
  runId: string;
  engine: string;
  command: string;
  status: RunStatus;
  ok: boolean;
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  exitCode: number | null;
  filesTotal: number | null;
  filesChanged: number | null;
  bytesTotal: number | null;
  bytesTransferred: number | null;
  snapshotId: string | null;
  error: string | null;
}

/** A history record: the result, plus where its log is and what ran it. */
export interface RunRecord extends RunResult {
  /** Log file name inside the logs folder (never a path). */
  logFile: string;
  nodeId?: string;
  details?: Record<string, unknown>;
  /** The hooks that ran, in order (msg.run.hooks). */
  hooks?: Array<{ when: string; run: string[]; exitCode: number | null; durationMs: number; on?: string; error?: string }>;
  /** Days the log is kept (a profile's prune-logs-after); failed runs use the failed-log retention. */
  logDays?: number;
}

/** A run in progress, as the registry persists it so a crash leaves a trace. */
export interface RunningEntry {
  runId: string;
  key: string;
  job: string;
  engine: string;
  command: string;
  nodeId?: string;
  startedAt: number;
  pid: number | null;
  ownerPid: number;
  logFile: string;
  resources: string[];
  deadline: number | null;
  /** A restic run's profile (id or name): after a crash, the repository whose locks it left. */
  profile?: string;
}

export interface Retention {
  /** Records kept per job, newest first. */
  maxRuns: number;
  /** Records older than this are dropped. */
  maxDays: number;
  /** Logs of runs that did not fail. */
  logDays: number;
  /** Logs of failed (and interrupted) runs outlive the others. */
  failedLogDays: number;
}

export const defaultRetention: Retention = { maxRuns: 500, maxDays: 365, logDays: 30, failedLogDays: 180 };

export type { RunStatus, Progress };
