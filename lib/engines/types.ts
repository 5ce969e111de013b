/**
 * What every engine (rsync, restic, and later others) gives the run machinery.
 * An engine turns a job into a process plan, and that process's output into
 * progress and an outcome. It never spawns, logs or persists anything itself:
 * lib/runs does that the same way for every engine.
 */

export type RunStatus = "success" | "warning" | "failed" | "cancelled" | "interrupted";

/** One process to run. Arguments are an array: nothing is ever parsed by a shell on this host. */
export interface ProcessPlan {
  command: string;
  args: string[];
  /** Extra environment (secrets such as RESTIC_PASSWORD or RSYNC_PASSWORD go here, never in args). */
  env?: Record<string, string>;
  /** Written to the child's stdin, then stdin is closed (passwords for remote commands). */
  stdin?: string;
  cwd?: string;
  /** nice(1) value and ionice(1) class to apply to the child ("idle", "low", "normal", "high"). */
  cpuPriority?: Priority;
  ioPriority?: Priority;
  /** Words that must never reach a log line or an error (secrets); the runner masks them. */
  secrets?: string[];
  /**
   * The tool's stdout may go straight into the log file (it carries no secret to mask and the
   * tool writes whole lines): far cheaper than piping a large listing through Node-RED.
   */
  directOutput?: boolean;
}

export type Priority = "idle" | "low" | "normal" | "high";

/** Progress, as the SPEC's second output carries it. Unknown values are null. */
export interface Progress {
  percent: number | null;
  bytesDone: number | null;
  bytesTotal: number | null;
  filesDone: number | null;
  filesTotal: number | null;
  /** bytes per second */
  rate: number | null;
  etaSeconds: number | null;
}

/** The numbers an engine reports at the end; they fill the result payload. */
export interface RunStats {
  filesTotal: number | null;
  filesChanged: number | null;
  bytesTotal: number | null;
  bytesTransferred: number | null;
  snapshotId: string | null;
}

export interface Outcome {
  status: Exclude<RunStatus, "interrupted">;
  /** One plain sentence for a person; null on success. */
  error: string | null;
  stats: RunStats;
  /** Engine-specific details for msg.run (parsed summary, itemized changes, ...). */
  details?: Record<string, unknown>;
}

/** Parses one run's output line by line; created fresh for every run. */
export interface OutputParser {
  stdout(line: string): void;
  stderr(line: string): void;
  /** The latest progress, or null if none was seen since the last call. */
  takeProgress(): Progress | null;
  /** Called once when the process ended (code null when killed by a signal). */
  finish(exitCode: number | null, signal: string | null): Outcome;
  /**
   * True once the output shows the run cannot succeed however long the tool goes on (restic
   * retrying an untrusted certificate for 15 minutes): the runner then stops the tool, and
   * finish() gives the reason.
   */
  hopeless?(): boolean;
}

export const emptyStats = (): RunStats => ({
  filesTotal: null, filesChanged: null, bytesTotal: null, bytesTransferred: null, snapshotId: null,
});
