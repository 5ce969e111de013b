import type { ChildProcess } from "node:child_process";
import { StringDecoder } from "node:string_decoder";
import { Spawner } from "./spawner";
import { startTool, type ToolRequest } from "./tool";
import type { ProcessPlan, Priority } from "../engines/types";

export type Stream = "stdout" | "stderr";

/** A line of output; `transient` lines ended in a bare CR (progress redraws). */
export type LineSink = (stream: Stream, line: string, transient: boolean) => void;

export interface Spawned {
  /** Known once the tool has started (see `started`). */
  readonly pid: number | undefined;
  /** Resolves with the PID once the tool has started (undefined when it could not). */
  started: Promise<number | undefined>;
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

type End = { code: number | null; signal: string | null; spawnError: string | null };

function spawnErrorText(command: string, err: { message: string; code?: string | null }): string {
  if (err.code === "ENOENT") return `${command} is not installed (command not found)`;
  if (err.code === "ESPAWNER") return err.message;
  return `the process could not be started: ${err.message}`;
}

/** Output of one stream, split into lines, with the consumer's backpressure. */
function lineReader(stream: Stream, sink: LineSink): { push(data: Buffer): void; end(): void } {
  const decoder = new StringDecoder("utf8"); // keeps a character cut between two chunks
  const splitter = new LineSplitter(stream, sink);
  return {
    push: (data) => splitter.push(decoder.write(data)),
    end: () => { splitter.push(decoder.end()); splitter.end(); },
  };
}

/**
 * Starts a plan's process in its own process group and streams its output line by line; with
 * `stdoutFile` the tool appends its standard output to that file itself. The spawner process
 * starts it when there is one (lib/runs/spawner.ts), Node-RED itself otherwise.
 * `backpressure.wait()` returns a promise when the consumer (the log file) wants the producer to wait.
 */
export function spawnPlan(plan: ProcessPlan, sink: LineSink, backpressure?: { wait(): Promise<void> | null }, stdoutFile?: string): Spawned {
  const { command, args } = withPriorities(plan);
  const readers = { stdout: lineReader("stdout", sink), stderr: lineReader("stderr", sink) };
  let pid: number | undefined;
  let ended = false;
  let pendingSignal: NodeJS.Signals | null = null;
  let onStarted: (pid: number | undefined) => void = () => undefined;
  const started = new Promise<number | undefined>((resolve) => { onStarted = resolve; });
  let onEnd: (end: End) => void = () => undefined;
  const done = new Promise<End>((resolve) => { onEnd = resolve; });
  const signal = (sig: NodeJS.Signals) => { try { process.kill(-pid!, sig); } catch { /* already gone */ } };

  const req: ToolRequest = { command, args, env: { ...process.env, ...(plan.env ?? {}) }, cwd: plan.cwd, stdin: plan.stdin, stdoutFile };
  let held = false;
  const flow = Spawner.shared()?.run(req, {
    started(p) {
      pid = p;
      onStarted(p);
      // A cancel that came before the PID did.
      if (pendingSignal) signal(pendingSignal);
    },
    out(stream, data) {
      readers[stream].push(data);
      const waiting = held ? null : backpressure?.wait();
      if (waiting && flow) {
        // Once per wait: chunks already on their way arrive before the pause does.
        held = true;
        flow.pause();
        void waiting.then(() => { held = false; flow.resume(); });
      }
    },
    end(code, sig, error) {
      ended = true;
      readers.stdout.end();
      readers.stderr.end();
      onStarted(pid);
      onEnd(error ? { code: null, signal: null, spawnError: spawnErrorText(command, error) } : { code, signal: sig, spawnError: null });
    },
  });
  if (!flow) spawnDirect(req, readers, backpressure, (p) => { pid = p; onStarted(p); }, (end) => { ended = true; onStarted(pid); onEnd(end); });
  return {
    get pid() { return pid; },
    started,
    done,
    kill(sig) {
      if (ended) return;
      if (pid) signal(sig);
      else pendingSignal = sig;
    },
  };
}

/** Node-RED starts the tool itself: no spawner in this process. */
function spawnDirect(
  req: ToolRequest, readers: Record<Stream, ReturnType<typeof lineReader>>, backpressure: { wait(): Promise<void> | null } | undefined,
  started: (pid: number | undefined) => void, end: (end: End) => void,
): void {
  let child: ChildProcess;
  let spawnError: string | null = null;
  try {
    child = startTool(req);
  } catch (err) {
    // Invalid arguments (a NUL in a path) throw at once rather than emitting "error".
    started(undefined);
    end({ code: null, signal: null, spawnError: spawnErrorText(req.command, { message: (err as Error).message, code: null }) });
    return;
  }
  child.on("error", (err: NodeJS.ErrnoException) => { spawnError = spawnErrorText(req.command, { message: err.message, code: err.code ?? null }); });
  for (const stream of ["stdout", "stderr"] as const) {
    const source = child[stream];
    if (!source) continue;
    source.on("data", (chunk: Buffer) => {
      readers[stream].push(chunk);
      const waiting = backpressure?.wait();
      if (waiting) {
        source.pause();
        void waiting.then(() => source.resume());
      }
    });
  }
  started(child.pid);
  // "close" comes after the exit and after the output streams ended, so every line is in.
  child.once("close", (code, signal) => {
    readers.stdout.end();
    readers.stderr.end();
    end({ code: spawnError ? null : code, signal: spawnError ? null : signal, spawnError });
  });
}
