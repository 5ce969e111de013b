import type { NodeAPI, Node, NodeStatus } from "node-red";
import { Engine } from "../../lib/runs/engine";
import { onQuarantine } from "../../lib/util/fsx";
import { highballHome, type HighballSettings } from "../../lib/home";
import type { RunRecord, RunResult } from "../../lib/runs/types";
import type { Progress } from "../../lib/engines/types";

const told = new WeakSet<object>();

/** The one engine of this runtime, in the storage folder its settings name. */
export function engineOf(RED: NodeAPI): Engine {
  const settings = RED.settings as unknown as HighballSettings & { highball?: { retention?: Record<string, number> } };
  const home = highballHome(settings);
  if (!told.has(RED.log)) {
    told.add(RED.log);
    // Each moved-aside state file is said once in Node-RED's log; the Backups tab lists them.
    onQuarantine((q) => {
      if (q.file.startsWith(`${home}/`)) RED.log.warn(`[highball] ${q.file} could not be read (${q.reason}); it was moved to ${q.movedTo} and Highball carries on without it`);
    });
  }
  return Engine.get(home, { retention: settings.highball?.retention });
}

/** The deployed flows' node settings (wires, links), to see what is wired to what. */
export function flowNodes(RED: NodeAPI): { id: string; type?: string; wires?: unknown; links?: unknown }[] {
  const list: { id: string; type?: string; wires?: unknown; links?: unknown }[] = [];
  RED.nodes.eachNode((n) => { list.push(n as unknown as { id: string }); });
  return list;
}

const COLOURS = { success: "green", warning: "yellow", failed: "red", cancelled: "grey", interrupted: "red" } as const;

function clock(t: number): string {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** One status language for every node (README, "Status"). */
export function resultStatus(r: Pick<RunResult, "status" | "finishedAt"> & { details?: Record<string, unknown> }): NodeStatus {
  // A restic run names the release that ran it: what a user checks first when restic behaves differently.
  const restic = (r.details?.restic as { version?: unknown } | undefined)?.version;
  return { fill: COLOURS[r.status], shape: "dot", text: `${r.status} ${clock(r.finishedAt)}${typeof restic === "string" ? ` · restic ${restic}` : ""}` };
}

export function progressStatus(p: Progress | null): NodeStatus {
  return { fill: "blue", shape: "dot", text: p?.percent != null ? `running ${Math.floor(p.percent)}%` : "running" };
}

/** The SPEC's flat payload: the record without its storage details. */
export function payloadOf(r: RunRecord): RunResult {
  const { job, jobId, runId, engine, command, status, ok, startedAt, finishedAt, durationMs, exitCode,
    filesTotal, filesChanged, bytesTotal, bytesTransferred, snapshotId, error } = r;
  return { job, jobId, runId, engine, command, status, ok, startedAt, finishedAt, durationMs, exitCode,
    filesTotal, filesChanged, bytesTotal, bytesTransferred, snapshotId, error };
}

/** The callbacks waiting for "flows:started", one set and one listener per runtime. */
const waiting = new WeakMap<object, Set<() => void>>();

/**
 * Calls `fn` once the flows have started (sending earlier could reach nodes that do not exist
 * yet), or after a short delay in runtimes that never say so. One listener serves every node:
 * a listener per node made Node.js warn of a memory leak from the 11th node on.
 */
export function afterStart(RED: NodeAPI, node: Node, fn: () => void): void {
  let set = waiting.get(RED.events);
  if (!set) {
    const all = new Set<() => void>();
    set = all;
    waiting.set(RED.events, all);
    RED.events.on("flows:started", () => { for (const f of [...all]) f(); });
  }
  const pending = set;
  let done = false;
  const once = () => { if (!done) { done = true; clearTimeout(timer); pending.delete(once); fn(); } };
  const timer = setTimeout(once, 1500);
  pending.add(once);
  node.on("close", () => { done = true; clearTimeout(timer); pending.delete(once); });
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
