import { EventEmitter } from "node:events";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { appendFileSync, openSync, closeSync, fstatSync, mkdirSync } from "node:fs";
import { LogFollower } from "./follow";
import { ensureDir, DIR_MODE, FILE_MODE } from "../util/fsx";
import type { Job } from "../job/schema";
import type { OutputParser, Outcome, ProcessPlan, Progress, RunStats } from "../engines/types";
import { emptyStats } from "../engines/types";
import { History } from "./history";
import { Registry, alive, commandLine } from "./registry";
import { RunLog, logName } from "./log";
import { spawnPlan, type Spawned } from "./process";
import { Spawner } from "./spawner";
import type { RunRecord, RunningEntry, Retention } from "./types";
import { resolveProfile, type ProfileDef } from "../profile/resolve";
import type { FailedStart } from "./failure";
import { runHook, hookName, type HookRan } from "./hooks";
import type { StartedCommand } from "./command";
import type { Hook, HookWhen } from "../job/schema";
import { DISK_FULL, MIN_FREE_BYTES, diskFullError, freeBytes, productFullSentence } from "./diskfull";

export interface Step {
  plan: ProcessPlan;
  parser: OutputParser;
  /**
   * Progress read from outside the tool's output, asked every half second while it runs, for
   * a tool that prints none while it works (restic restore before 0.16). Gets the tool's pid.
   */
  sample?: (pid: number) => Progress | null;
}

export interface StartRequest {
  job: Job;
  key: string;
  command: string;
  steps: Step[];
  nodeId?: string;
  resources?: string[];
  /** Days to keep this run's log when it did not fail (a profile's prune-logs-after). */
  logDays?: number;
  /** The tool and its release, for the log's first line ("restic 0.19.1"). */
  tool?: string;
  /**
   * Runs before each step; returning a step replaces it, so an engine can retry a step
   * (restic waiting for a lock) without the run machinery knowing why.
   */
  retry?: (step: Step, outcome: Outcome, attempt: number, run: ActiveRun) => Promise<Step | null>;
  /** The run failed before any tool could start, for this reason: it is recorded, nothing is spawned. */
  failure?: string;
}

export class AlreadyRunningError extends Error {
  constructor(readonly job: string, readonly runId: string) {
    super(`job "${job}" is already running (run ${runId}); this trigger did not start a second run`);
    this.name = "AlreadyRunningError";
  }
}

const RANK = { success: 0, warning: 1, failed: 2, cancelled: 3 } as const;
const KILL_GRACE_MS = 5000;
const PROGRESS_EVERY_MS = 500;

function newRunId(now: number): string {
  const d = new Date(now).toISOString().replace(/[-:]/g, "").slice(0, 15);
  return `${d}-${randomBytes(3).toString("hex")}`;
}

function addStats(a: RunStats, b: RunStats): RunStats {
  const sum = (x: number | null, y: number | null) => (x === null && y === null ? null : (x ?? 0) + (y ?? 0));
  return {
    filesTotal: sum(a.filesTotal, b.filesTotal),
    filesChanged: sum(a.filesChanged, b.filesChanged),
    bytesTotal: sum(a.bytesTotal, b.bytesTotal),
    bytesTransferred: sum(a.bytesTransferred, b.bytesTransferred),
    snapshotId: b.snapshotId ?? a.snapshotId,
  };
}

/** One run: its steps run one after the other, into one log, with one result. */
export class ActiveRun extends EventEmitter {
  readonly runId: string;
  readonly startedAt: number;
  readonly logFile: string;
  progress: Progress | null = null;
  readonly result: Promise<RunRecord>;
  /** Settles once the run's history record is on disk; rejects when it could not be written. */
  readonly saved: Promise<void>;
  private settleSaved: (written: Promise<void>) => void = () => undefined;
  private proc: Spawned | null = null;
  /** The hook running now, so cancel and the run's timeout stop it too. */
  private hookProc: StartedCommand | null = null;
  private stopReason: string | null = null;
  private timedOut = false;
  private lastProgress = 0;
  private exitCode: number | null = null;
  /** The first line a tool wrote saying a disk was full. */
  private diskLine: string | null = null;

  constructor(private readonly engine: Engine, readonly req: StartRequest) {
    super();
    this.startedAt = Date.now();
    this.runId = newRunId(this.startedAt);
    this.logFile = logName(this.startedAt, req.job.name, this.runId);
    this.saved = new Promise<void>((resolve) => { this.settleSaved = resolve; });
    this.saved.catch(() => undefined);
    this.result = this.execute();
    this.result.catch(() => this.settleSaved(Promise.resolve()));
  }

  get job(): Job { return this.req.job; }
  get key(): string { return this.req.key; }
  get pid(): number | null { return this.proc?.pid ?? null; }

  private wake: (() => void) | null = null;

  /** Waits between attempts (a lock held by someone else); false when the run was cancelled meanwhile. */
  sleep(ms: number): Promise<boolean> {
    if (this.stopReason) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(true); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = null; resolve(false); };
    });
  }

  /** A line of the run machinery's own in the run's log (a lock removed, a retry). */
  note(text: string): void {
    this.log?.write(`# ${text}`);
  }
  private log: RunLog | null = null;

  /** Stops the whole process tree; the run ends `cancelled` with `reason` as its sentence. */
  cancel(reason = "the run was cancelled"): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.wake?.();
    this.kill();
  }

  private kill(): void {
    this.hookProc?.kill("SIGTERM");
    const hook = this.hookProc;
    if (hook) setTimeout(() => hook.kill("SIGKILL"), KILL_GRACE_MS).unref();
    const proc = this.proc;
    if (!proc) return;
    proc.kill("SIGTERM");
    const hard = setTimeout(() => proc.kill("SIGKILL"), KILL_GRACE_MS);
    hard.unref();
    void proc.done.then(() => clearTimeout(hard));
  }

  private async execute(): Promise<RunRecord> {
    const { req, engine } = this;
    // A microtask, so start() registers the run (and its listeners attach) before it spawns.
    await null;
    // Synchronous: an mkdir of a folder that exists is one cheap system call, not a trip
    // through the thread pool before every run.
    mkdirSync(engine.history.logsDir, { recursive: true, mode: DIR_MODE });
    const secrets = req.steps.flatMap((s) => s.plan.secrets ?? []);
    const log = new RunLog(join(engine.history.logsDir, this.logFile), secrets);
    this.log = log;
    log.write(`# run ${this.runId} of job "${req.job.name}" (${req.job.engine} ${req.command}${req.tool ? `, ${req.tool}` : ""}) started ${new Date(this.startedAt).toISOString()}`);
    const timeoutMs = (req.job.timeoutSeconds ?? 0) * 1000;
    const timer = timeoutMs > 0 ? setTimeout(() => { this.timedOut = true; this.stopReason = `the run took longer than its limit of ${req.job.timeoutSeconds} s and was stopped`; this.kill(); }, timeoutMs) : null;
    timer?.unref();

    let stats = emptyStats();
    let status: Outcome["status"] = "success";
    const errors: string[] = [];
    const details: Record<string, unknown>[] = [];
    if (req.failure !== undefined) {
      status = "failed";
      errors.push(req.failure);
      log.write(`# the run could not start: ${req.failure}`);
    }
    // A run needs room for its log and its record: on a full disk it says so rather than
    // starting a tool whose every line is lost.
    const free = freeBytes(engine.home);
    const full = req.failure === undefined && free !== null && free < MIN_FREE_BYTES;
    if (full) {
      status = "failed";
      errors.push(productFullSentence(engine.home, "a run needs room there for its log and its history record, so the tool was not started"));
    }
    // Hooks come from the deployed backup-job node of this job only: a message cannot bring commands to run.
    const hooks = this.engine.jobs.get(req.key)?.job.hooks ?? {};
    const ran: HookRan[] = [];
    const env: Record<string, string> = { HIGHBALL_JOB: req.job.name, HIGHBALL_RUN_ID: this.runId, HIGHBALL_ENGINE: req.job.engine };
    const hook = async (when: HookWhen, h: Hook, e: Record<string, string>) => {
      const o = await runHook(when, h, req.job, e, engine.knownHostsFile, (l) => log.write(l), (c) => {
        this.hookProc = c;
        // Cancelled while it started: before hooks stop at once; after hooks are the clean-up and run to their end.
        if (c && when === "before" && this.stopReason) c.kill();
      });
      ran.push(o.ran);
      return o;
    };
    let skip = false;
    if (req.failure === undefined && !full) {
      for (const h of hooks.before ?? []) {
        const o = await hook("before", h, env);
        if (this.stopReason) { skip = true; break; }
        if (o.ok || h.onError === "ignore") continue;
        status = "failed";
        errors.push(`the before hook ${hookName(h)} failed (${o.why}); the backup did not run`);
        skip = true;
        break;
      }
    }
    try {
      for (let i = 0; i < req.steps.length && !this.stopReason && !full && !skip; i++) {
        let step = req.steps[i]!;
        for (let attempt = 1; ; attempt++) {
          const outcome = await this.runStep(step, log);
          if (this.stopReason) break;
          const again = req.retry ? await req.retry(step, outcome, attempt, this) : null;
          if (again && !this.stopReason) {
            log.write(`# retrying step ${i + 1} (attempt ${attempt + 1})`);
            step = again;
            continue;
          }
          stats = addStats(stats, outcome.stats);
          if (outcome.details) details.push(outcome.details);
          if (RANK[outcome.status] > RANK[status]) status = outcome.status;
          if (outcome.error) errors.push(req.steps.length > 1 ? `${outcome.error}` : outcome.error);
          break;
        }
      }
    } catch (err) {
      status = "failed";
      errors.push(`the run could not be carried out: ${(err as Error).message}`);
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (this.stopReason) {
      status = this.timedOut ? "failed" : "cancelled";
      errors.unshift(this.stopReason);
    }
    // A full disk is said as such, naming which one: the tools' own words are kept after it.
    const disk = log.failure?.code === "ENOSPC" || log.failure?.code === "EDQUOT"
      ? productFullSentence(engine.home, "the run's log could not be written completely")
      : diskFullError(req.job, engine.home, this.diskLine);
    if (disk && !full) {
      status = "failed";
      errors.unshift(disk);
    }
    // After the run: success or failure hooks, then finally; they see the outcome, and only a
    // failing success hook changes it (to a warning).
    const after = { ...env, HIGHBALL_STATUS: status, HIGHBALL_ERROR: errors.length ? log.mask(errors.join("; ")) : "", HIGHBALL_SNAPSHOT_ID: stats.snapshotId ?? "" };
    const ok = status === "success" || status === "warning";
    for (const h of (ok ? hooks.success : hooks.failure) ?? []) {
      const o = await hook(ok ? "success" : "failure", h, after);
      if (!o.ok && ok && h.onError !== "ignore") {
        if (status === "success") status = "warning";
        errors.push(`the success hook ${hookName(h)} failed (${o.why})`);
      }
    }
    for (const h of hooks.finally ?? []) await hook("finally", h, after);
    const finishedAt = Date.now();
    const record: RunRecord = {
      job: req.job.name,
      jobId: req.key,
      runId: this.runId,
      engine: req.job.engine,
      command: req.command,
      status,
      ok: status === "success" || status === "warning",
      startedAt: this.startedAt,
      finishedAt,
      durationMs: finishedAt - this.startedAt,
      exitCode: this.exitCode,
      ...stats,
      error: errors.length ? log.mask(errors.join("; ")) : null,
      logFile: this.logFile,
      nodeId: req.nodeId,
      details: details.length === 1 ? details[0] : details.length ? { steps: details } : undefined,
      logDays: req.logDays,
      ...(ran.length ? { hooks: ran } : {}),
    };
    log.write(`# finished ${new Date(finishedAt).toISOString()}: ${status}${this.exitCode !== null ? ` (exit ${this.exitCode})` : ""}${record.error ? `: ${record.error}` : ""}`);
    await log.close();
    this.settleSaved(engine.finished(this, record));
    return record;
  }

  private async runStep(step: Step, log: RunLog): Promise<Outcome> {
    const { plan, parser } = step;
    log.write(`# ${[plan.command, ...plan.args].map((a) => (/[\s'"$`\\;|&<>()]/.test(a) ? JSON.stringify(a) : a)).join(" ")}`);
    let hopeless = false;
    const show = (p: Progress) => {
      this.lastProgress = Date.now();
      this.progress = p;
      this.emit("progress", p);
    };
    const onLine = (stream: "stdout" | "stderr", line: string, transient: boolean) => {
      if (stream === "stdout") parser.stdout(line); else parser.stderr(line);
      if (!hopeless && parser.hopeless?.()) { hopeless = true; this.kill(); } // finish() says why
      if (this.diskLine === null && stream === "stderr" && DISK_FULL.test(line)) this.diskLine = line;
      this.emit("line", stream, line, transient);
      if (Date.now() - this.lastProgress >= PROGRESS_EVERY_MS) {
        const p = parser.takeProgress();
        if (p) show(p);
      }
    };
    // Direct output: the tool writes into the log file itself, a follower reads it back for
    // the parser. Otherwise every line passes through here and is masked on its way to disk.
    let follower: LogFollower | null = null;
    if (plan.directOutput) {
      // What the run machinery has written so far goes first; the tool appends after it.
      const fd = openSync(log.file, "a", FILE_MODE);
      try {
        if (!log.flushInto(fd)) await log.flush();
        follower = new LogFollower(log.file, fstatSync(fd).size, (line, transient) => onLine("stdout", line, transient));
      } finally {
        closeSync(fd);
      }
    }
    const proc = spawnPlan(plan, (stream, line, transient) => {
      if (!transient) log.write(stream === "stderr" ? `! ${line}` : line);
      onLine(stream, line, transient);
    }, log, follower ? log.file : undefined);
    follower?.start(PROGRESS_EVERY_MS / 2);
    this.proc = proc;
    let sampler: NodeJS.Timeout | null = null;
    let ended = false;
    void proc.started.then((pid) => {
      if (!pid) return;
      this.engine.registry.update(this.runId, { pid });
      const sample = step.sample;
      if (sample && !sampler && !ended) {
        sampler = setInterval(() => {
          const p = sample(pid);
          if (p) show(p);
        }, PROGRESS_EVERY_MS);
      }
    });
    if (this.stopReason) this.kill();
    const end = await proc.done;
    ended = true;
    if (sampler) clearInterval(sampler);
    sampler = null;
    follower?.stop();
    this.exitCode = end.code;
    if (end.spawnError) return { status: "failed", error: end.spawnError, stats: emptyStats() };
    return parser.finish(end.code, end.signal);
  }
}

export interface EngineOptions { retention?: Partial<Retention> }

/** Secrets of a job, held in memory only: they come from Node-RED credentials, never from msg. */
export interface JobSecrets { rsyncdPassword?: string }

/** A job a backup-job node has deployed: what the admin API lists and "run now" triggers. */
export interface JobEntry {
  job: Job;
  nodeId: string;
  secrets: JobSecrets;
  trigger: () => void;
}

/**
 * The engine of one Node-RED runtime (one per storage folder): starts runs, owns the registry
 * of running runs, the history and the logs, and tells listeners about starts and ends.
 */
export class Engine extends EventEmitter {
  private static readonly engines = new Map<string, Engine>();
  readonly history: History;
  readonly registry: Registry;
  readonly knownHostsFile: string;
  private readonly active = new Map<string, ActiveRun>();
  private readonly interrupted = new Map<string, RunRecord[]>();
  /** Interrupted restic runs whose repository may still hold their lock, until their profile unlocks it. */
  private readonly lockLeft: RunningEntry[] = [];
  readonly jobs = new Map<string, JobEntry>();
  /** Deployed restic profiles by config node id (secrets in memory only). */
  readonly profiles = new Map<string, { name: string; def: ProfileDef }>();
  /** Next scheduled run per job node id, told by the schedule triggers wired to it. */
  readonly nextRuns = new Map<string, number | null>();
  readonly ready: Promise<void>;

  static get(home: string, options: EngineOptions = {}): Engine {
    let e = Engine.engines.get(home);
    if (!e) {
      e = new Engine(home, options);
      Engine.engines.set(home, e);
    } else if (options.retention) {
      e.history.retention = { ...e.history.retention, ...options.retention };
    }
    return e;
  }

  private constructor(readonly home: string, options: EngineOptions) {
    super();
    this.setMaxListeners(0);
    this.history = new History(home);
    if (options.retention) this.history.retention = { ...this.history.retention, ...options.retention };
    this.registry = new Registry(home);
    Spawner.shared()?.warm();
    this.knownHostsFile = join(home, "ssh", "known_hosts");
    this.ready = this.recover();
    this.ready.catch(() => undefined);
  }

  /** Runs that were running when an earlier Node-RED process died are recorded `interrupted`. */
  private async recover(): Promise<void> {
    await ensureDir(this.home);
    await ensureDir(join(this.home, "ssh"));
    await this.history.ready();
    const orphans = this.registry.orphans();
    for (const o of orphans) {
      // The tool may outlive Node-RED (it has its own process group); stop what is left of it.
      if (o.pid && alive(o.pid) && /rsync|restic|ssh|nice|ionice/.test(commandLine(o.pid).join(" "))) {
        try { process.kill(-o.pid, "SIGKILL"); } catch { /* gone */ }
      }
      // Ended, and its record written, just before the crash took the registry's update with it.
      if (await this.history.has(o.key, o.runId)) continue;
      const now = Date.now();
      const record: RunRecord = {
        job: o.job, jobId: o.key, runId: o.runId, engine: o.engine, command: o.command,
        status: "interrupted", ok: false, startedAt: o.startedAt, finishedAt: now, durationMs: now - o.startedAt,
        exitCode: null, ...emptyStats(),
        error: "Node-RED stopped while this run was running; the run did not finish",
        logFile: o.logFile, nodeId: o.nodeId,
      };
      try { appendFileSync(join(this.history.logsDir, o.logFile), `# interrupted: Node-RED stopped while this run was running (noticed ${new Date(now).toISOString()})\n`); } catch { /* no log */ }
      await this.history.add(record, now);
      if (o.engine === "restic" && o.profile) this.lockLeft.push(o);
      const pending = this.interrupted.get(o.nodeId ?? "") ?? [];
      pending.push(record);
      this.interrupted.set(o.nodeId ?? "", pending);
      this.emit("interrupted", record);
    }
    if (orphans.length) {
      this.registry.clearOrphans();
      await this.registry.settled();
    }
  }

  /** Interrupted runs a node started before the crash, handed over once so it can emit them. */
  async takeInterrupted(nodeId: string): Promise<RunRecord[]> {
    await this.ready;
    const list = this.interrupted.get(nodeId) ?? [];
    this.interrupted.delete(nodeId);
    return list;
  }

  /**
   * Interrupted restic runs of the profile `name` (their entries name it by id or by name),
   * handed over once, so the profile can remove the locks they left.
   */
  async takeLocksLeft(name: string): Promise<RunningEntry[]> {
    await this.ready;
    const mine = this.lockLeft.filter((o) => this.profileName(o.profile!) === name);
    for (const o of mine) this.lockLeft.splice(this.lockLeft.indexOf(o), 1);
    return mine;
  }

  running(): ActiveRun[] {
    return [...this.active.values()];
  }

  runningFor(key: string): ActiveRun | undefined {
    for (const r of this.active.values()) if (r.key === key) return r;
    return undefined;
  }

  get(runId: string): ActiveRun | undefined {
    return this.active.get(runId);
  }

  /** Starts a run now; a job that is already running is refused, never started twice. */
  start(req: StartRequest): ActiveRun {
    const busy = this.runningFor(req.key);
    if (busy) throw new AlreadyRunningError(req.job.name, busy.runId);
    return this.begin(req);
  }

  /**
   * Records a run that failed before its tool could start (an invalid job, a missing profile
   * or password): it goes the way of every run (registry, start and end events, log, history),
   * so the sidebar, MQTT, GET highball/jobs and the node's result all see it. No tool starts.
   */
  fail(f: FailedStart): ActiveRun {
    const job = { name: f.name, engine: f.engine } as Job;
    return this.begin({ job, key: f.key, command: f.command, steps: [], nodeId: f.nodeId, failure: f.error });
  }

  private begin(req: StartRequest): ActiveRun {
    const run = new ActiveRun(this, req);
    this.active.set(run.runId, run);
    const entry: RunningEntry = {
      runId: run.runId, key: req.key, job: req.job.name, engine: req.job.engine, command: req.command,
      nodeId: req.nodeId, startedAt: run.startedAt, pid: null, ownerPid: process.pid, logFile: run.logFile,
      resources: req.resources ?? [], deadline: req.job.timeoutSeconds ? run.startedAt + req.job.timeoutSeconds * 1000 : null,
      ...(req.job.engine === "restic" && req.job.profile ? { profile: req.job.profile } : {}),
    };
    this.registry.add(entry);
    this.emit("start", run);
    return run;
  }

  cancel(runId: string, reason?: string): boolean {
    const run = this.active.get(runId);
    if (!run) return false;
    run.cancel(reason);
    return true;
  }

  /**
   * Called by a run when it has ended and its log is closed. The record is in the history for
   * every reader at once and the end is told then; the file is written right after, and
   * `run.saved` says when (or why not), so the result never waits for the disk.
   */
  finished(run: ActiveRun, record: RunRecord): Promise<void> {
    this.active.delete(run.runId);
    const saved = this.history.add(record).catch((err: NodeJS.ErrnoException) => {
      // The record stays in memory (readers see it) and reaches the disk with the next write.
      if (err.code === "ENOSPC" || err.code === "EDQUOT") throw new Error(productFullSentence(this.home, "the run's history record could not be written yet; it is kept and written with the next run"));
      throw err;
    });
    saved.catch(() => undefined);
    this.registry.remove(run.runId, saved);
    this.emit("end", record);
    return saved;
  }

  /** Resolves once every ended run's record and the registry are on disk. */
  async settled(): Promise<void> {
    await this.history.settled();
    await this.registry.settled();
  }

  /** Every deployed profile by name, for inheritance; two profiles of one name are an error. */
  profileSet(): Map<string, ProfileDef> {
    const set = new Map<string, ProfileDef>();
    for (const p of this.profiles.values()) {
      if (set.has(p.name)) throw new Error(`two profiles are named "${p.name}"; profile names must be unique`);
      set.set(p.name, p.def);
    }
    return set;
  }

  /** A profile's name from its name or its config node's id. */
  profileName(nameOrId: string): string | null {
    const byId = this.profiles.get(nameOrId);
    if (byId) return byId.name;
    for (const p of this.profiles.values()) if (p.name === nameOrId) return p.name;
    return null;
  }

  /** The repository a deployed profile (with its ancestors) names, if it resolves. */
  repositoryOf(profileRef: string): string | undefined {
    const name = this.profileName(profileRef);
    if (!name) return undefined;
    try {
      return resolveProfile(name, this.profileSet()).options.repository;
    } catch {
      return undefined;
    }
  }

  /** Secrets of the job with this key, if a deployed backup-job holds any. */
  secretsFor(key: string): JobSecrets {
    return this.jobs.get(key)?.secrets ?? {};
  }

  /** Cancels every run (Node-RED is stopping) and waits until each is recorded. */
  async stopAll(reason: string): Promise<void> {
    const runs = this.running();
    for (const r of runs) r.cancel(reason);
    await Promise.all(runs.map((r) => r.result.catch(() => undefined)));
    await this.settled();
  }
}
