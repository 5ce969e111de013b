/**
 * restic processes for browsing: one argument array from the profile's plan (repository and
 * password in the environment, never on the command line), its own process group so a stop
 * reaches restic's ssh too, stdout as a stream, and only the tail of stderr kept.
 */
import { StringDecoder } from "node:string_decoder";
import type { Readable } from "node:stream";
import type { ProcessPlan } from "../engines/types";
import { startCommand, type CommandExit } from "../runs/command";
import { openRetry, OPEN_RETRIES } from "../engines/restic-parser";

export type Exit = CommandExit;

export interface ResticProcess {
  pid: number | undefined;
  stdout: Readable;
  /** Resolves when the process has ended; never rejects. */
  done: Promise<Exit>;
  /** Stops the whole process group (restic and, for sftp, its ssh). */
  kill(): void;
}

/** restic for the browser, through the one runner (lib/runs/command.ts): stdout streamed, the tail of stderr kept. */
export function startRestic(plan: ProcessPlan, opts: { timeoutMs?: number } = {}): ResticProcess {
  // restic 0.16+ retry opening an unreachable or untrusted server for 15 minutes: stop it, and
  // the failure is classified from what it said (errors.ts).
  let retries = 0;
  let hopeless = false;
  const line = (stream: string, text: string): void => {
    const why = stream === "stderr" ? openRetry(text) : null;
    if (why && !hopeless && (why === "certificate" || ++retries >= OPEN_RETRIES)) { hopeless = true; c.kill("SIGTERM"); }
  };
  const c = startCommand({ command: plan.command, args: plan.args, env: plan.env, cwd: plan.cwd, timeoutMs: opts.timeoutMs, line }, { maxStderr: 16 * 1024 });
  return { pid: c.pid, stdout: c.stdout, done: c.done, kill: () => c.kill("SIGTERM") };
}

const MAX_LINE = 1024 * 1024;

type Each = (o: Record<string, unknown>) => boolean | void | Promise<boolean | void>;

/**
 * Reads NDJSON from `stream`, handing each object to `each` as it arrives; `each` returning
 * false stops reading (the caller then stops the process), returning a promise holds the
 * stream until it settles. Lines that are not JSON objects (restic's rare plain-text notices)
 * and absurdly long lines are skipped, so memory stays at one line whatever the listing's size.
 */
export function readNdjson(stream: Readable, each: Each): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder("utf8");
    let rest = "";
    let skipping = false;
    let stopped = false;
    const finish = (err?: unknown) => {
      if (stopped) return;
      stopped = true;
      stream.removeListener("data", onData);
      stream.resume(); // drain what is left, so the process is never blocked on a full pipe
      if (err) reject(err); else resolve();
    };
    /** false: stop. */
    const line = (text: string): boolean | Promise<boolean> => {
      if (!text || text.charCodeAt(0) !== 123 /* { */) return true;
      let o: unknown;
      try { o = JSON.parse(text); } catch { return true; }
      if (o === null || typeof o !== "object" || Array.isArray(o)) return true;
      const r = each(o as Record<string, unknown>);
      return r instanceof Promise ? r.then((v) => v !== false) : r !== false;
    };
    const lines = async (text: string): Promise<void> => {
      let start = 0;
      for (let i = text.indexOf("\n"); i !== -1 && !stopped; i = text.indexOf("\n", start)) {
        const l = text.slice(start, i);
        start = i + 1;
        if (skipping) { skipping = false; continue; }
        let go = line(l);
        if (go instanceof Promise) go = await go;
        if (!go) return finish();
      }
      rest = text.slice(start);
      if (rest.length > MAX_LINE) {
        skipping = true;
        rest = "";
      }
    };
    // The chunk being worked on: "end" can come while it still waits for `each`.
    let busy: Promise<void> = Promise.resolve();
    const onData = (chunk: Buffer) => {
      if (stopped) return;
      stream.pause();
      busy = lines(rest + decoder.write(chunk)).then(() => { if (!stopped) stream.resume(); }, finish);
    };
    stream.on("data", onData);
    stream.once("error", (err) => finish(err));
    stream.once("end", () => {
      void busy.then(() => {
        if (stopped) return;
        const last = rest + decoder.end();
        let r: boolean | Promise<boolean>;
        try { r = skipping ? true : line(last); } catch (err) { return finish(err); }
        Promise.resolve(r).then(() => finish(), finish);
      });
    });
  });
}

/** At most `limit` restic processes for browsing at once; the rest wait their turn. */
export class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}

  /** Waits for a slot; the returned function gives it back (once). */
  async acquire(): Promise<() => void> {
    // A freed slot is handed straight to the next waiter, so nobody can slip in between.
    if (this.busy >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.busy--;
    };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
