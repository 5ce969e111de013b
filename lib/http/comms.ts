import { promises as fsp } from "node:fs";
import { join } from "node:path";
import type { Request, Response } from "express";
import type { Engine, ActiveRun } from "../runs/engine";
import { RUN_ID } from "../runs/history";
import type { RunRecord } from "../runs/types";
import { fail, wrap, type AdminRED } from "./shared";

/**
 * Live run state for the editor, over Node-RED's comms websocket.
 *
 * Topics (the editor subscribes to `highball/run/#`):
 * - `highball/run/<runId>/start`    `{runId, jobId, job, engine, command, startedAt}`
 * - `highball/run/<runId>/progress` `{runId, jobId, progress}` (the engine sends at most 2/s)
 * - `highball/run/<runId>/end`      the run's result (also for runs found `interrupted`)
 * - `highball/run/<runId>/log`      `{runId, after, from, to, lines, skipped}`: new log lines
 *
 * Start, progress and end are small and go out for every run. Log lines go out only for runs
 * an editor follows: the log viewer asks with `POST highball/runs/:runId/follow {client}`, a
 * lease it renews while the viewer stays open, and drops with DELETE (or lets lapse). The
 * runtime cannot address one websocket session through the plugin API, so a followed run's
 * lines reach every connected editor, as Node-RED's own debug messages do.
 *
 * The lines come from the run's log file, not from the engine's `line` events: those carry the
 * tool's raw output, while the log file is what RunLog wrote after masking secrets. So nothing
 * is masked here, and each batch's byte offsets (`from`, `to`) are those of the file, so the
 * viewer joins them to what it read by byte range without a gap or a repeated line. The `line`
 * events only wake the batcher; transient lines (progress redraws) never reach the log.
 * Every 250 ms a followed run's new lines are sent as one batch of at most 500 lines: they
 * cover bytes [from, to) of the file; the `skipped` lines between the previous batch's end
 * (`after`) and `from` were left out and stay readable by byte range.
 */

export interface CommsRED extends AdminRED {
  comms: { publish(topic: string, data: unknown, retain?: boolean): void };
}

export const BATCH_MS = 250;
export const MAX_LINES = 500;
export const LEASE_MS = 30_000;
/** A batch reads at most this much of the file; older lines are skipped, not sent. */
const MAX_READ = 1024 * 1024;
const CLIENT = /^[A-Za-z0-9_-]{1,64}$/;
/** Leases kept per run: a reader cannot grow the table without bound by inventing clients. */
const MAX_LEASES = 64;

interface Follow {
  /** File offset the next batch starts at (always just after a newline). */
  sent: number;
  leases: Map<string, number>;
  /** Until when the file may still grow from lines already seen; checked on each tick. */
  awake: number;
}

function countNewlines(buf: Buffer, end = buf.length): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

export class CommsBridge {
  private readonly follows = new Map<string, Follow>();
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private readonly off: (() => void)[] = [];

  constructor(private readonly engine: Engine, private readonly publish: (topic: string, data: unknown) => void) {
    const onStart = (run: ActiveRun) => this.started(run);
    const onEnd = (r: RunRecord) => { void this.ended(r); };
    const onInterrupted = (r: RunRecord) => this.publish(`highball/run/${r.runId}/end`, result(r));
    engine.on("start", onStart);
    engine.on("end", onEnd);
    engine.on("interrupted", onInterrupted);
    this.off.push(() => engine.off("start", onStart), () => engine.off("end", onEnd), () => engine.off("interrupted", onInterrupted));
  }

  private started(run: ActiveRun): void {
    const base = { runId: run.runId, jobId: run.key };
    this.publish(`highball/run/${run.runId}/start`, { ...base, job: run.job.name, engine: run.job.engine, command: run.req.command, startedAt: run.startedAt });
    run.on("progress", (progress) => this.publish(`highball/run/${run.runId}/progress`, { ...base, progress }));
    run.on("line", (_stream: string, _line: string, transient: boolean) => {
      const f = this.follows.get(run.runId);
      if (f && !transient) f.awake = Date.now() + 2 * BATCH_MS;
    });
  }

  private async ended(r: RunRecord): Promise<void> {
    const f = this.follows.get(r.runId);
    if (f) {
      // The log is closed: send what is left, then say the run is over.
      f.awake = Infinity;
      await this.flushOne(r.runId, f, r.logFile).catch(() => undefined);
      this.follows.delete(r.runId);
      this.schedule();
    }
    this.publish(`highball/run/${r.runId}/end`, result(r));
  }

  /**
   * Starts or renews `client`'s lease on a running run's lines. Answers the offset from which
   * batches will come, so the viewer reads everything before it by byte range.
   */
  async follow(runId: string, client: string): Promise<{ running: boolean; offset: number | null; leaseMs: number }> {
    const run = this.engine.get(runId);
    if (!run) return { running: false, offset: null, leaseMs: 0 };
    let f = this.follows.get(runId);
    if (!f) {
      let size = 0;
      try { size = (await fsp.stat(this.file(run.logFile))).size; } catch { /* not written yet */ }
      // The stat may have waited: another request may have started following meanwhile.
      f = this.follows.get(runId) ?? { sent: size, leases: new Map(), awake: Date.now() + BATCH_MS };
      this.follows.set(runId, f);
    }
    f.leases.delete(client);
    f.leases.set(client, Date.now() + LEASE_MS);
    while (f.leases.size > MAX_LEASES) f.leases.delete(f.leases.keys().next().value as string);
    this.schedule();
    return { running: true, offset: f.sent, leaseMs: LEASE_MS };
  }

  unfollow(runId: string, client: string): void {
    const f = this.follows.get(runId);
    if (!f) return;
    f.leases.delete(client);
    if (!f.leases.size) this.follows.delete(runId);
    this.schedule();
  }

  /** Runs whose lines are being sent now (for tests and diagnostics). */
  followed(): string[] {
    return [...this.follows.keys()];
  }

  private file(logFile: string): string {
    return join(this.engine.history.logsDir, logFile);
  }

  /** The timer runs only while some run is followed. */
  private schedule(): void {
    if (this.follows.size && !this.timer) {
      this.timer = setInterval(() => { void this.tick(); }, BATCH_MS);
      this.timer.unref();
    } else if (!this.follows.size && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private async tick(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      const now = Date.now();
      for (const [runId, f] of [...this.follows]) {
        for (const [client, until] of f.leases) if (until < now) f.leases.delete(client);
        const run = this.engine.get(runId);
        if (!f.leases.size || !run) {
          // An ended run is flushed by its `end` event; a lapsed lease just stops.
          if (!f.leases.size) this.follows.delete(runId);
          continue;
        }
        if (f.awake < now) continue;
        await this.flushOne(runId, f, run.logFile).catch(() => undefined);
      }
    } finally {
      this.flushing = false;
      this.schedule();
    }
  }

  /** Sends the complete lines written since `f.sent`: the newest MAX_LINES of them. */
  private async flushOne(runId: string, f: Follow, logFile: string): Promise<void> {
    const fh = await fsp.open(this.file(logFile), "r");
    try {
      const size = (await fh.stat()).size;
      if (size <= f.sent) return;
      let skipped = 0;
      let start = f.sent;
      if (size - start > MAX_READ) {
        // Far behind: count the lines jumped over in blocks, without holding them.
        const jump = size - MAX_READ;
        const block = Buffer.alloc(Math.min(MAX_READ, jump - start));
        for (let pos = start; pos < jump; ) {
          const { bytesRead } = await fh.read(block, 0, Math.min(block.length, jump - pos), pos);
          if (!bytesRead) break;
          skipped += countNewlines(block, bytesRead);
          pos += bytesRead;
        }
        start = jump;
      }
      const buf = Buffer.alloc(size - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      const data = buf.subarray(0, bytesRead);
      // Only whole lines go out; half a line comes whole with the next batch.
      const cut = data.lastIndexOf(10);
      if (cut === -1) return;
      let from = start;
      let body = data.subarray(0, cut + 1);
      if (start !== f.sent) {
        // Jumped into the middle of a line: that partial line counts as skipped.
        const nl = body.indexOf(10);
        skipped += 1;
        from = start + nl + 1;
        body = body.subarray(nl + 1);
      }
      const to = from + body.length;
      let lines = body.length ? body.toString("utf8").replace(/\n$/, "").split("\n") : [];
      if (lines.length > MAX_LINES) {
        const drop = lines.length - MAX_LINES;
        // Byte offset of the first kept line, so the viewer can load the dropped ones later.
        let off = 0;
        for (let i = 0; i < drop; i++) off = body.indexOf(10, off) + 1;
        from += off;
        skipped += drop;
        lines = lines.slice(drop);
      }
      const prev = f.sent;
      f.sent = to;
      if (lines.length || skipped) this.publish(`highball/run/${runId}/log`, { runId, from, to, lines, skipped, after: prev });
    } finally {
      await fh.close();
    }
  }

  dispose(): void {
    for (const off of this.off) off();
    this.follows.clear();
    this.schedule();
  }
}

function result(r: RunRecord): Omit<RunRecord, "details"> {
  const { details: _details, ...rest } = r;
  return rest;
}

const bridges = new WeakMap<object, CommsBridge>();

/**
 * Bridges the engine's run events to RED.comms and mounts the follow routes; once per admin
 * app (a second call answers the first bridge).
 */
export function mountComms(RED: CommsRED, engine: Engine): CommsBridge {
  const app = RED.httpAdmin as unknown as object;
  const known = bridges.get(app);
  if (known) return known;
  const bridge = new CommsBridge(engine, (topic, data) => RED.comms.publish(topic, data, false));
  bridges.set(app, bridge);
  const read = RED.auth.needsPermission("highball.read");

  const parse = (req: Request, res: Response): { runId: string; client: string } | null => {
    const runId = String(req.params.runId);
    const body = (req.body ?? {}) as { client?: unknown };
    const client = String(body.client ?? req.query.client ?? "");
    if (!RUN_ID.test(runId)) { fail(res, 400, "that is not a run id"); return null; }
    if (!CLIENT.test(client)) { fail(res, 400, "client must be 1 to 64 letters, digits, - or _"); return null; }
    return { runId, client };
  };

  // Following is reading: a viewer with highball.read may watch a run's log.
  RED.httpAdmin.post("/highball/runs/:runId/follow", read, wrap(async (req, res) => {
    const p = parse(req, res);
    if (!p) return;
    res.json(await bridge.follow(p.runId, p.client));
  }));
  RED.httpAdmin.delete("/highball/runs/:runId/follow", read, wrap(async (req, res) => {
    const p = parse(req, res);
    if (!p) return;
    bridge.unfollow(p.runId, p.client);
    res.json({ ok: true });
  }));
  return bridge;
}
