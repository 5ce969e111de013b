// The ping channel: a dead-man's switch (healthchecks.io and its clones, Uptime Kuma's push
// monitors) told that a run started and how it ended. Every run pings, whatever the alert policy
// and batching say: the monitor counts on hearing of each run, and on silence meaning trouble.
//
//  - healthchecks style: `<url>/start` as the run starts, `<url>` on success or warning, and
//    `<url>/fail` on failed, cancelled or interrupted, with the error and the log's last lines
//    as the body (at most 10 KB).
//  - Uptime Kuma (a URL with /api/push/ in its path): `?status=up|down&msg=...&ping=<ms>` at the
//    end; Kuma's push has no start.
//
// The URL is a secret (whoever has it can ping): no sentence here shows more than its origin.
import { sleep, type Clock } from "./clock";
import { clip } from "./format";
import type { NotifyEvent } from "./types";

export type PingKind = "healthchecks" | "kuma";

export interface PingTarget {
  kind: PingKind;
  url: URL;
}

const BODY_MAX = 10 * 1024;

/** The target a URL names, or a sentence saying why it cannot be one. */
export function pingTarget(raw: string): PingTarget | { error: string } {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return { error: "The ping URL is not a URL: it must start with http:// or https://." };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { error: "The ping URL must start with http:// or https://." };
  return { kind: /\/api\/push\//.test(url.pathname) ? "kuma" : "healthchecks", url };
}

export interface PingOptions {
  attempts: number;
  baseMs: number;
  maxMs: number;
  timeoutMs: number;
  clock: Clock;
  /** Aborted when the notifier closes: waits end, requests under way are cut off. */
  stop: AbortSignal;
}

/** What a ping that could not be delivered tells its listener. */
export interface PingFailure {
  what: "start" | "end";
  job: string;
  runId?: string;
  error: string;
  attempts: number;
}

/** A run node's output-2 message (the start, or progress): never an alert, only a start ping. */
export function isProgress(msg: unknown): boolean {
  const p = (msg as { payload?: unknown } | null)?.payload;
  return !!p && typeof p === "object" && !Array.isArray(p) && "percent" in p && (p as { status?: unknown }).status === undefined;
}

const ENDED = new Set(["success", "warning", "failed", "cancelled", "interrupted"]);

export class Pinger {
  /** Runs whose start was pinged (bounded): later progress messages of a run ping nothing. */
  private readonly started = new Set<string>();
  private readonly origin: string;

  constructor(readonly target: PingTarget, private readonly o: PingOptions, private readonly onFailure: (f: PingFailure) => void) {
    this.origin = target.url.origin;
  }

  /**
   * A run node's output-2 message: the first one of a run (payload.percent 0, msg.run.runId)
   * pings the start; the rest are progress and ping nothing. True when the message was one.
   */
  progress(msg: unknown): boolean {
    if (!isProgress(msg)) return false;
    const m = msg as { run?: { runId?: unknown }; runId?: unknown; topic?: unknown } | null;
    const runId = typeof m?.run?.runId === "string" ? m.run.runId : typeof m?.runId === "string" ? m.runId : "";
    if (!runId || this.started.has(runId)) return true;
    this.started.add(runId);
    if (this.started.size > 1000) this.started.delete(this.started.values().next().value as string);
    if (this.target.kind === "healthchecks") {
      const job = typeof m?.topic === "string" ? m.topic : "";
      void this.send(this.url("/start", { rid: runId }), undefined, { what: "start", job, runId });
    }
    return true;
  }

  /** A run's end: success or warning is up, anything else down. */
  end(e: NotifyEvent): Promise<void> {
    if (!ENDED.has(e.outcome)) return Promise.resolve();
    if (e.runId) this.started.delete(e.runId);
    const up = e.outcome === "success" || e.outcome === "warning";
    const who = { what: "end" as const, job: e.job, ...(e.runId ? { runId: e.runId } : {}) };
    const said = `${e.job}: ${e.outcome}${e.error ? ` - ${e.error}` : ""}`;
    if (this.target.kind === "kuma") {
      const q: Record<string, string> = { status: up ? "up" : "down", msg: clip(said, 200) };
      if (e.durationMs !== undefined) q.ping = String(Math.round(e.durationMs));
      return this.send(this.url("", q), undefined, who);
    }
    const rid = e.runId ? { rid: e.runId } : undefined;
    if (up) return this.send(this.url("", rid), e.outcome === "warning" ? clip(said, BODY_MAX) : undefined, who);
    const body = [said, ...(e.logTail.length ? ["", "Last lines of the log:", ...e.logTail] : [])].join("\n");
    return this.send(this.url("/fail", rid), tail(body, BODY_MAX), who);
  }

  private url(suffix: string, query?: Record<string, string>): URL {
    const u = new URL(this.target.url.href);
    if (suffix) u.pathname = u.pathname.replace(/\/+$/, "") + suffix;
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u;
  }

  /** One ping with retries; never rejects (a failure goes to onFailure as a sentence). */
  private async send(url: URL, body: string | undefined, who: Omit<PingFailure, "error" | "attempts">): Promise<void> {
    const { attempts, baseMs, maxMs, timeoutMs, clock, stop } = this.o;
    let error = "";
    for (let n = 1; ; n++) {
      if (stop.aborted) return;
      let retry = true;
      try {
        const res = await fetch(url, {
          method: body === undefined ? "GET" : "POST",
          ...(body === undefined ? {} : { body, headers: { "Content-Type": "text/plain; charset=utf-8" } }),
          signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]),
          redirect: "follow",
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        error = `The ping server at ${this.origin} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}${res.status === 404 ? ": check the ping URL" : ""}.`;
        // 4xx other than 408/429 will answer the same again.
        retry = res.status >= 500 || res.status === 408 || res.status === 429;
      } catch (err) {
        if (stop.aborted) return;
        error = describe(err, this.origin, timeoutMs);
      }
      if (!retry || n >= attempts) {
        this.onFailure({ ...who, error: `${error}${n > 1 ? ` Gave up after ${n} attempts.` : ""}`, attempts: n });
        return;
      }
      await sleep(clock, Math.min(maxMs, baseMs * 2 ** (n - 1)), stop);
    }
  }
}

/** The end of a text within `max` bytes: the log's last lines matter most. */
function tail(s: string, max: number): string {
  const b = Buffer.from(s, "utf8");
  if (b.length <= max) return s;
  return "…" + b.subarray(b.length - max + 4).toString("utf8").replace(/^\uFFFD+/, "");
}

function describe(err: unknown, origin: string, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string } } | null;
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `The ping server at ${origin} did not answer within ${Math.round(timeoutMs / 1000)} s.`;
  const code = e?.cause?.code;
  if (code === "ECONNREFUSED") return `The ping server at ${origin} refused the connection (nothing listens there).`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `The ping server's host in ${origin} was not found (DNS).`;
  if (code) return `The ping to ${origin} failed (${code}).`;
  return `The ping to ${origin} failed.`;
}
