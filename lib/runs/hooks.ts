/**
 * Hooks: commands a job runs before and after its backup (SPEC "Hooks"), through the one
 * runner for helper commands (command.ts: an argument array, a process group of its own,
 * killable, a timeout), locally or on the ssh source host with the job's own ssh settings and
 * host-key checks. Their output goes into the run's log.
 */
import { StringDecoder } from "node:string_decoder";
import { startCommand, type StartedCommand } from "./command";
import { LineSplitter, type LineSink } from "./process";
import { sshExec, sshFailure } from "../remote/ssh";
import type { Hook, HookWhen, Job } from "../job/schema";

/** What `msg.run.hooks` lists of each hook that ran. */
export interface HookRan {
  when: HookWhen;
  run: string[];
  exitCode: number | null;
  durationMs: number;
  on?: "source";
  error?: string;
}

export interface HookOutcome {
  ok: boolean;
  /** Why it failed, as words for the run's error ("exit 3", "not installed ..."). */
  why: string;
  ran: HookRan;
}

/** A hook as the log and the errors name it: its argument array, quoted where needed. */
export function hookName(h: Pick<Hook, "run">): string {
  return h.run.map((a) => (/[\s'"$`\\;|&<>()]/.test(a) || a === "" ? JSON.stringify(a) : a)).join(" ");
}

/**
 * Runs one hook to its end. `env` is the HIGHBALL_* environment; on the source host it is
 * passed through `env` on the remote side (ssh does not carry the local environment).
 * `started` gets the running command, so a cancel can stop its process group.
 */
export async function runHook(
  when: HookWhen, h: Hook, job: Job, env: Record<string, string>, knownHostsFile: string,
  write: (line: string) => void, started: (c: StartedCommand | null) => void,
): Promise<HookOutcome> {
  const t0 = Date.now();
  const remote = h.on === "source";
  const src = job.source ?? {};
  let command: string;
  let args: string[];
  if (remote) {
    const target = { host: src.host ?? "", port: src.port, user: src.user, identityFile: src.identityFile, acceptNewHostKey: src.acceptNewHostKey };
    command = "ssh";
    args = sshExec(target, knownHostsFile, ["env", "--", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...h.run]);
  } else {
    command = h.run[0] ?? "";
    args = h.run.slice(1);
  }
  write(`# ${when} hook: ${hookName(h)}${remote ? ` (on ${src.host})` : ""}`);
  const stderr: string[] = [];
  const sink: LineSink = (stream, line, transient) => {
    if (transient) return;
    if (stream === "stderr") {
      stderr.push(line);
      if (stderr.length > 50) stderr.shift();
    }
    write(stream === "stderr" ? `! ${line}` : line);
  };
  const limit = (h.timeoutSeconds ?? 0) * 1000;
  const c = startCommand({ command, args, env: remote ? {} : env, timeoutMs: limit > 0 ? limit : undefined, line: sink });
  const out = new LineSplitter("stdout", sink);
  const dec = new StringDecoder("utf8");
  c.stdout.on("data", (b: Buffer) => out.push(dec.write(b)));
  c.stdout.on("end", () => out.end());
  started(c);
  const end = await c.done;
  started(null);
  const durationMs = Date.now() - t0;
  let why = "";
  if (end.spawnError) why = end.spawnError;
  else if (end.timedOut) why = `it took longer than its limit of ${h.timeoutSeconds} s and was stopped`;
  else if (remote && end.code === 255) why = sshFailure(stderr) ?? "ssh to the source host failed (exit 255)";
  else if (end.signal) why = `it was stopped by ${end.signal}`;
  else if (end.code !== 0) why = `exit ${end.code}${stderr.length ? `: ${stderr[stderr.length - 1]!.slice(0, 300)}` : ""}`;
  const ok = why === "";
  write(`# ${when} hook ${ok ? "finished" : `failed: ${why}`} (${durationMs} ms)`);
  return { ok, why, ran: { when, run: [...h.run], exitCode: end.code, durationMs, ...(remote ? { on: "source" as const } : {}), ...(ok ? {} : { error: why }) } };
}
