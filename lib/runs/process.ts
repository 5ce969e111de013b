import { spawn, type ChildProcess } from "node:child_process";
import type { ProcessPlan, Priority } from "../engines/types";

export type Stream = "stdout" | "stderr";

/** A line of output; `transient` lines ended in a bare CR (progress redraws). */
export type LineSink = (stream: Stream, line: string, transient: boolean) => void;

export interface Spawned {
  pid: number | undefined;
  /** Resolves when the process ended (never rejects). */
  done: Promise<{ code: number | null; signal: string | null; spawnError: string | null }>;
  /** Signal the whole process group (the tool and every child it started, such as ssh). */
  kill(signal: NodeJS.Signals): void;
}

const NICE: Record<Priority, string> = { idle: "19", low: "10", normal: "0", high: "-10" };
const IONICE: Record<Priority, string[]> = { idle: ["-c", "3"], low: ["-c", "2", "-n", "7"], normal: ["-c", "2", "-n", "4"], high: ["-c", "2", "-n", "0"] };

/** nice and ionice exec the tool in place, so the priorities stick to the tool's own PID. */
export function withPriorities(plan: ProcessPlan): { command: string; args: string[] } {
  let command = plan.command;
  let args = plan.args;
  if (plan.cpuPriority && plan.cpuPriority !== "normal") {
    args = ["-n", NICE[plan.cpuPriority], command, ...args];
    command = "nice";
  }
  if (plan.ioPriority && plan.ioPriority !== "normal") {
    args = [...IONICE[plan.ioPriority], command, ...args];
    command = "ionice";
  }
  return { command, args };
}

const MAX_LINE = 64 * 1024;

/** Splits a byte stream into lines on LF, CRLF or a bare CR, without holding more than one line. */
export class LineSplitter {
  private rest = "";
  constructor(private readonly stream: Stream, private readonly sink: LineSink) {}
  push(chunk: string): void {
    let text = this.rest + chunk;
    let start = 0;
    // indexOf scans natively: a verbose rsync writes megabytes of short lines a second.
    let lf = text.indexOf("\n");
    let cr = text.indexOf("\r");
    for (;;) {
      if (lf < 0 && cr < 0) break;
      if (cr < 0 || (lf >= 0 && lf < cr)) {
        this.sink(this.stream, text.slice(start, lf), false);
        start = lf + 1;
        lf = text.indexOf("\n", start);
        continue;
      }
      // A CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (cr === text.length - 1) break;
      const crlf = lf === cr + 1;
      this.sink(this.stream, text.slice(start, cr), !crlf);
      start = crlf ? lf + 1 : cr + 1;
      if (crlf) lf = text.indexOf("\n", start);
      cr = text.indexOf("\r", start);
    }
    text = text.slice(start);
    if (text.length > MAX_LINE) {
      this.sink(this.stream, text, false);
      text = "";
    }
    this.rest = text;
  }
  end(): void {
    if (this.rest) this.sink(this.stream, this.rest.replace(/\r$/, ""), false);
    this.rest = "";
  }
}

/**
 * Starts a plan's process in its own process group and streams its output line by line.
 * `write` returns false when the consumer (the log file) wants the producer to wait.
 */
export function spawnPlan(plan: ProcessPlan, sink: LineSink, backpressure?: { wait(): Promise<void> | null }, stdoutFd?: number): Spawned {
  const { command, args } = withPriorities(plan);
  // node:child_process directly, not execa: this is the one spawn on every run's critical path,
  // and execa's option handling cost 1.5 ms of a 190 ms no-op sync in a 125 MB Node-RED
  // (bench/rsync). Short helper commands elsewhere keep execa.
  let child: ChildProcess;
  let spawnError: string | null = null;
  try {
    child = spawn(command, args, {
      env: { ...process.env, ...(plan.env ?? {}) },
      cwd: plan.cwd,
      detached: true,
      // With a file descriptor the tool writes its output straight into the log file.
      stdio: [plan.stdin === undefined ? "ignore" : "pipe", stdoutFd ?? "pipe", "pipe"],
    });
  } catch (err) {
    // Invalid arguments (a NUL in a path) throw at once rather than emitting "error".
    const message = (err as Error).message;
    return { pid: undefined, done: Promise.resolve({ code: null, signal: null, spawnError: `the process could not be started: ${message}` }), kill() { /* nothing runs */ } };
  }
  child.on("error", (err: NodeJS.ErrnoException) => {
    spawnError = err.code === "ENOENT" ? `${command} is not installed (command not found)` : `the process could not be started: ${err.message}`;
  });
  if (plan.stdin !== undefined && child.stdin) {
    child.stdin.on("error", () => undefined); // the tool may exit before reading its password
    child.stdin.end(plan.stdin);
  }
  for (const stream of (stdoutFd === undefined ? ["stdout", "stderr"] : ["stderr"]) as ("stdout" | "stderr")[]) {
    const source = child[stream];
    if (!source) continue;
    source.setEncoding("utf8");
    const splitter = new LineSplitter(stream, sink);
    source.on("data", (chunk: string) => {
      splitter.push(chunk);
      const waiting = backpressure?.wait();
      if (waiting) {
        source.pause();
        void waiting.then(() => source.resume());
      }
    });
    source.on("end", () => splitter.end());
  }
  const pid = child.pid;
  // "close" comes after the exit and after the output streams ended, so every line is in.
  const done = new Promise<{ code: number | null; signal: string | null; spawnError: string | null }>((resolve) => {
    child.once("close", (code, signal) => resolve({ code: spawnError ? null : code, signal: spawnError ? null : signal, spawnError }));
  });
  return {
    pid,
    done,
    kill(signal) {
      if (!pid) return;
      try { process.kill(-pid, signal); } catch { /* already gone */ }
    },
  };
}
