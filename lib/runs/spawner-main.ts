/**
 * The spawner: a small process that starts Highball's tools for Node-RED. fork() copies the
 * page tables of the process that calls it, and exec() then tears them down in the child, so a
 * tool started by a 150 MB Node-RED costs milliseconds more (with the event loop stopped) than
 * one started from here; Python's multiprocessing "forkserver" exists for the same reason.
 * It only spawns, forwards output and reports exits: it decides nothing and logs nothing.
 * Protocol: lib/runs/spawner.ts.
 */
import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import type { ToSpawner, FromSpawner } from "./spawner";
import { startTool } from "./tool";

interface Tool { child: ChildProcess; streams: Readable[]; inFlight: number; parentPaused: boolean }
const tools = new Map<number, Tool>();

/** Output chunks sent but not yet written to the channel, above which the tool's pipes wait. */
const MAX_IN_FLIGHT = 16;

function send(m: FromSpawner, sent?: () => void): void {
  // A parent gone, even mid-write (EPIPE, reported here rather than as a crash): the
  // disconnect handler below ends this process.
  if (process.connected) process.send!(m, undefined, undefined, (err) => { if (!err) sent?.(); });
}

/** A busy Node-RED reads slower than a tool can write: hold the pipes, never the bytes in memory. */
function flowControl(tool: Tool): void {
  const hold = tool.parentPaused || tool.inFlight >= MAX_IN_FLIGHT;
  for (const s of tool.streams) {
    if (hold && !s.isPaused()) s.pause();
    else if (!hold && s.isPaused()) s.resume();
  }
}

function start(m: Extract<ToSpawner, { t: "spawn" }>): void {
  let child: ChildProcess;
  try {
    child = startTool(m);
  } catch (err) {
    send({ t: "end", id: m.id, code: null, signal: null, error: (err as Error).message, errno: (err as NodeJS.ErrnoException).code ?? null });
    return;
  }
  let error: NodeJS.ErrnoException | null = null;
  child.on("error", (err) => { error = err; });
  if (child.pid !== undefined) send({ t: "started", id: m.id, pid: child.pid });
  const tool: Tool = { child, streams: [], inFlight: 0, parentPaused: false };
  for (const [n, s] of [[1, child.stdout], [2, child.stderr]] as const) {
    if (!s) continue;
    tool.streams.push(s);
    s.on("data", (data: Buffer) => {
      tool.inFlight++;
      send({ t: "out", id: m.id, stream: n, data }, () => { tool.inFlight--; flowControl(tool); });
      flowControl(tool);
    });
  }
  tools.set(m.id, tool);
  // "close": the tool has exited and every byte of its output has been forwarded above.
  child.once("close", (code, signal) => {
    tools.delete(m.id);
    send({ t: "end", id: m.id, code: error ? null : code, signal: error ? null : signal, error: error?.message ?? null, errno: error?.code ?? null });
  });
}

process.on("message", (m: ToSpawner) => {
  if (m.t === "spawn") start(m);
  else if (m.t === "pause" || m.t === "resume") {
    const tool = tools.get(m.id);
    if (!tool) return;
    tool.parentPaused = m.t === "pause";
    flowControl(tool);
  }
});
// Node-RED gone (stopped, or killed): so is this. Running tools have process groups of their
// own and live on, as they would without a spawner; the next start records and stops them.
process.on("disconnect", () => process.exit(0));
// A Ctrl-C meant for Node-RED: Node-RED stops its runs through here, so stay until it is gone.
process.on("SIGINT", () => undefined);
send({ t: "ready" });
