/**
 * The runner for every process that is not a run's tool: helper commands (version probes,
 * password commands, `restic unlock`), restic for the snapshot browser, and hooks. Like the
 * run tools (process.ts), each starts through startTool: an argument array (never a shell), a
 * process group of its own so one signal stops it and every child it starts (ssh), killable,
 * ended by a timeout when asked, its output bounded. Groups still running when Node-RED exits
 * are stopped, so no helper outlives it.
 *
 * Two forms: `runCommand` collects the (bounded) output and resolves when the process ended;
 * `startCommand` streams stdout to a caller that parses it (restic's NDJSON, a file's bytes).
 */
import type { ChildProcess } from "node:child_process";
import { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { startTool } from "./tool";
import { LineSplitter, type LineSink } from "./process";

export interface CommandRequest {
  command: string;
  args: string[];
  /** Added to Node-RED's own environment (secrets go here, never into `args`). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to the command's standard input, then closed; none: stdin is /dev/null. */
  stdin?: string;
  /** The process group gets SIGTERM after this long (then SIGKILL 5 s later). */
  timeoutMs?: number;
  /** Each line of output as it comes (for a log). Never give it a command that prints a secret. */
  line?: LineSink;
}

export interface CommandExit {
  code: number | null;
  signal: string | null;
  /** Why the command could not start (a sentence), or null when it did. */
  spawnError: string | null;
  /** Set when the timeout stopped it. */
  timedOut: boolean;
  /** The last `maxStderr` bytes of stderr. */
  stderr: string;
}

export interface CommandResult extends CommandExit {
  /** The first `maxStdout` bytes of stdout. */
  stdout: string;
  /** True when stdout was longer than what was kept. */
  truncated: boolean;
}

export interface StartedCommand {
  readonly pid: number | undefined;
  /** The command's standard output, for the caller to read (it must be read or resumed). */
  stdout: Readable;
  /** Resolves when the process has ended; never rejects. */
  done: Promise<CommandExit>;
  /**
   * Stops the whole process group (SIGTERM unless told otherwise); its output is drained from
   * then on, and a group still there 5 s later gets SIGKILL.
   */
  kill(signal?: NodeJS.Signals): void;
}

const KILL_AFTER_MS = 5000;
const live = new Set<number>();
let hooked = false;

/** Helpers must not outlive Node-RED: they are in groups of their own, which a parent's death does not reach. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", () => {
    for (const pid of live) {
      try { process.kill(-pid, "SIGTERM"); } catch { /* gone */ }
    }
  });
}

export function spawnErrorSentence(command: string, err: { message: string; code?: string | null }): string {
  if (err.code === "ENOENT") return `${command} is not installed (command not found)`;
  // The code, not the message: the message repeats the command line.
  return `${command} could not be started (${err.code ?? "its arguments cannot be passed"})`;
}

interface Started {
  child: ChildProcess | null;
  pid: number | undefined;
  done: Promise<CommandExit>;
  kill(signal?: NodeJS.Signals): void;
}

function start(req: CommandRequest, maxStderr: number, stdoutLines: boolean): Started {
  hookExit();
  let child: ChildProcess;
  try {
    child = startTool({ command: req.command, args: req.args, env: { ...process.env, ...(req.env ?? {}) }, cwd: req.cwd, stdin: req.stdin });
  } catch (err) {
    // Arguments that cannot be passed (a NUL) throw at once rather than emitting "error".
    const spawnError = spawnErrorSentence(req.command, { message: (err as Error).message });
    return { child: null, pid: undefined, done: Promise.resolve({ code: null, signal: null, spawnError, timedOut: false, stderr: "" }), kill: () => undefined };
  }
  const pid = child.pid;
  if (pid) live.add(pid);
  let ended = false;
  let spawnError: string | null = null;
  let timedOut = false;
  let stderr = "";
  let hard: ReturnType<typeof setTimeout> | null = null;
  const kill = (signal: NodeJS.Signals = "SIGTERM") => {
    if (!pid || ended) return;
    try { process.kill(-pid, signal); } catch { /* already gone */ }
    if (signal === "SIGKILL") return;
    // Stopped, nobody reads its output any more: drained, so a tool that catches the signal and
    // ends in order (restic 0.17+ does) is not held on a full pipe; and killed if it lingers.
    child.stdout?.resume();
    hard ??= setTimeout(() => kill("SIGKILL"), KILL_AFTER_MS);
    hard.unref();
  };
  child.on("error", (err: NodeJS.ErrnoException) => { spawnError = spawnErrorSentence(req.command, { message: err.message, code: err.code ?? null }); });
  const errLines = req.line ? new LineSplitter("stderr", req.line) : null;
  const errText = new StringDecoder("utf8");
  child.stderr?.on("data", (b: Buffer) => {
    const s = errText.write(b);
    stderr = (stderr + s).slice(-maxStderr);
    errLines?.push(s);
  });
  let outLines: LineSplitter | null = null;
  if (stdoutLines && req.line && child.stdout) {
    const splitter = new LineSplitter("stdout", req.line);
    const dec = new StringDecoder("utf8");
    outLines = splitter;
    child.stdout.on("data", (b: Buffer) => splitter.push(dec.write(b)));
  }
  const timer = req.timeoutMs ? setTimeout(() => {
    timedOut = true;
    kill("SIGTERM");
  }, req.timeoutMs) : null;
  timer?.unref();
  // "close" comes after the exit and after the output streams ended, so all output is in.
  const done = new Promise<CommandExit>((resolve) => {
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      ended = true;
      if (timer) clearTimeout(timer);
      if (hard) clearTimeout(hard);
      if (pid) live.delete(pid);
      errLines?.end();
      outLines?.end();
      resolve(spawnError ? { code: null, signal: null, spawnError, timedOut, stderr } : { code, signal, spawnError: null, timedOut, stderr });
    });
  });
  return { child, pid, done, kill };
}

/**
 * Runs a helper command to its end and collects its output: the first `maxStdout` bytes of
 * stdout, the last `maxStderr` of stderr (a command that prints more is still read to its end,
 * so it never blocks on a full pipe). Never rejects: a command that cannot start says why in
 * `spawnError`.
 */
export async function runCommand(req: CommandRequest, limits: { maxStdout?: number; maxStderr?: number } = {}): Promise<CommandResult> {
  const maxStdout = limits.maxStdout ?? 1024 * 1024;
  const s = start(req, limits.maxStderr ?? 64 * 1024, true);
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  s.child?.stdout?.on("data", (b: Buffer) => {
    if (kept >= maxStdout) { truncated = true; return; }
    const part = kept + b.length > maxStdout ? b.subarray(0, maxStdout - kept) : b;
    if (part !== b) truncated = true;
    chunks.push(part);
    kept += part.length;
  });
  const exit = await s.done;
  return { ...exit, stdout: Buffer.concat(chunks).toString("utf8"), truncated };
}

/**
 * Starts a command whose standard output the caller reads as a stream (and must read: a full
 * pipe holds the command). Stderr is kept, its last `maxStderr` bytes, for classifying a failure.
 */
export function startCommand(req: CommandRequest, limits: { maxStderr?: number } = {}): StartedCommand {
  const s = start(req, limits.maxStderr ?? 16 * 1024, false);
  // A command that could not start has no pipe: an empty stream ends at once.
  const stdout = s.child?.stdout ?? Readable.from([]);
  return { pid: s.pid, stdout, done: s.done, kill: s.kill };
}
