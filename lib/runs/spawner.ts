import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { ToolRequest } from "./tool";

/** Node-RED → spawner. */
export type ToSpawner =
  | ({ t: "spawn"; id: number } & ToolRequest)
  | { t: "pause" | "resume"; id: number };

/** Spawner → Node-RED; for one id: `started` (unless it could not start), `out`s, then `end`. */
export type FromSpawner =
  | { t: "ready" }
  | { t: "started"; id: number; pid: number }
  | { t: "out"; id: number; stream: 1 | 2; data: Uint8Array }
  | { t: "end"; id: number; code: number | null; signal: NodeJS.Signals | null; error: string | null; errno: string | null };


export interface SpawnEvents {
  started(pid: number): void;
  out(stream: "stdout" | "stderr", data: Buffer): void;
  end(code: number | null, signal: NodeJS.Signals | null, error: { message: string; code: string | null } | null): void;
}

export interface Flow { pause(): void; resume(): void }

/** Restarts after which the spawner is given up for this process, and tools start directly. */
const MAX_RESTARTS = 3;

/**
 * Node-RED's side of the spawner (lib/runs/spawner-main.ts): one small long-lived process that
 * starts the tools, so no run pays for fork() of the whole Node-RED process. It is started
 * ahead of the first run, restarted if it dies, and given up (tools then start directly from
 * Node-RED, as before) if it keeps dying or cannot start. HIGHBALL_SPAWNER=off turns it off.
 */
export class Spawner {
  private static instance: Spawner | null | undefined;
  private child: ChildProcess | null = null;
  private ready = false;
  private queue: ToSpawner[] = [];
  private readonly pending = new Map<number, { events: SpawnEvents; pid: number | null }>();
  private seq = 0;
  private restarts = 0;
  private broken = false;

  /** The process-wide spawner, or null when tools start directly. */
  static shared(): Spawner | null {
    if (Spawner.instance === undefined) Spawner.instance = process.env.HIGHBALL_SPAWNER === "off" ? null : new Spawner();
    return Spawner.instance && !Spawner.instance.broken ? Spawner.instance : null;
  }

  /** Starts the process now, so the first run does not wait for it. */
  warm(): void {
    if (!this.broken) this.ensure();
  }

  /** The spawner's PID (tests, diagnostics); null before it started. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  private ensure(): ChildProcess | null {
    if (this.child) return this.child;
    let child: ChildProcess;
    try {
      child = fork(join(__dirname, "spawner-main.js"), [], {
        // Not Node-RED's own flags (--inspect would fight over its port, heap sizes are Node-RED's).
        execArgv: [],
        serialization: "advanced", // output travels as bytes, not as JSON text
        stdio: ["ignore", "ignore", "inherit", "ipc"],
        // Its own process group: a Ctrl-C meant for Node-RED must not take it before the runs end.
        detached: true,
      });
    } catch {
      this.broken = true;
      return null;
    }
    this.child = child;
    this.ready = false;
    child.unref();
    child.channel?.unref();
    child.on("message", (m: FromSpawner) => this.receive(m));
    child.on("error", () => undefined); // a failed fork also ends in "exit"
    child.once("exit", () => this.lost(child));
    return child;
  }

  private receive(m: FromSpawner): void {
    if (m.t === "ready") {
      this.ready = true;
      this.restarts = 0;
      const queued = this.queue;
      this.queue = [];
      for (const q of queued) this.child?.send(q);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.t === "started") {
      p.pid = m.pid;
      p.events.started(m.pid);
    } else if (m.t === "out") {
      p.events.out(m.stream === 1 ? "stdout" : "stderr", Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    } else {
      this.settle(m.id);
      p.events.end(m.code, m.signal, m.error === null ? null : { message: m.error, code: m.errno });
    }
  }

  private settle(id: number): void {
    this.pending.delete(id);
    // Idle, it must not keep Node-RED (or a test process) alive.
    if (!this.pending.size) this.child?.channel?.unref();
  }

  /** The spawner died: its tools' exit statuses are lost, so they are stopped and their runs end. */
  private lost(child: ChildProcess): void {
    if (this.child !== child) return;
    this.child = null;
    this.ready = false;
    this.queue = [];
    if (++this.restarts > MAX_RESTARTS) this.broken = true;
    const orphans = [...this.pending.entries()];
    this.pending.clear();
    for (const [, p] of orphans) {
      if (p.pid) { try { process.kill(-p.pid, "SIGKILL"); } catch { /* gone */ } }
      p.events.end(null, null, { message: "the process that started the tool (Highball's spawner) ended unexpectedly, so the tool was stopped", code: "ESPAWNER" });
    }
  }

  private post(m: ToSpawner): void {
    if (this.ready) this.child?.send(m);
    else this.queue.push(m);
  }

  /** Starts a tool; false when the spawner is unavailable (start it directly instead). */
  run(req: ToolRequest, events: SpawnEvents): Flow | false {
    if (this.broken || !this.ensure()) return false;
    const id = ++this.seq;
    this.pending.set(id, { events, pid: null });
    this.child!.channel?.ref();
    this.post({ t: "spawn", id, ...req });
    return {
      pause: () => { if (this.pending.has(id)) this.post({ t: "pause", id }); },
      resume: () => { if (this.pending.has(id)) this.post({ t: "resume", id }); },
    };
  }
}
