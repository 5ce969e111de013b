/**
 * A restore's dry run as a list the user can page through: every file and folder the restore
 * would write, where it would go, and whether something is there already (which it would
 * overwrite). restic 0.14 has no `restore --dry-run`, so the list is computed the same way on
 * every version: the snapshot's listing (`restic ls --json --recursive`) against the target's
 * files (lstat).
 *
 * That costs the whole restore (every entry listed, every destination looked at), so it is
 * done once per restore asked about and the pages are read from what it found: each entry's
 * path, type, size and whether it exists, written as it streams to a file of its own under the
 * storage folder (and a second file of those that exist, for "only what it overwrites"), with a
 * byte offset every STEP entries, so a page reads about one page of the file and memory holds
 * a few numbers per thousand entries however big the restore is. Why a file and not memory: a
 * million-file restore is ~100 MB of paths. Why not the snapshot index (lib/snapshots/index-*):
 * only indexed snapshots have one, and the overwrite check needs the lstat pass anyway.
 *
 * The lists are kept briefly (what exists at the target changes; a restore run drops them all), bounded in number and bytes, and made once however many requests ask at
 * the same time (single flight). restic runs in a slot of its own (at most `concurrency` at
 * once) and is stopped when every request waiting for it has gone away.
 */
import { lstatSync, mkdirSync, rmSync, promises as fsp } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createHash, randomBytes } from "node:crypto";
import type { EffectiveProfile } from "../profile/resolve";
import { profileToRestic, withPassword } from "../profile/restic";
import { checkRestoreTarget, type RestoreBounds } from "../snapshots/roots";
import { repoKey } from "../snapshots/access";
import { SnapshotError, snapshotId, snapshotPath, targetPath, within, startRestic, readNdjson, resticFailure, Slots } from "../snapshots";
import type { ProcessPlan } from "../engines/types";

export interface PlannedFile { path: string; type: string; size: number | null; destination: string; exists: boolean }
export interface RestoreFiles {
  snapshot: string;
  target: string;
  offset: number;
  /** The page: at most `limit` entries from `offset` (of those that exist only, when asked). */
  entries: PlannedFile[];
  /** Entries in the whole restore (of the asked kind). */
  total: number;
  /** Files in the whole restore that exist already where they would be written. */
  existing: number;
}

export interface RestoreFilesRequest { snapshot: unknown; paths: unknown; target: unknown; offset?: number; limit?: number; existingOnly?: boolean; bounds?: RestoreBounds }

const MAX_PATHS = 100;
export const MAX_PAGE = 1000;
const TIMEOUT_MS = 10 * 60_000;
/** Entries between two remembered byte offsets: a page reads at most this many lines more than it shows. */
const STEP = 128;
const FLUSH_BYTES = 256 * 1024;

/** One stored entry: path, type, size (files), 1 when something is at its destination. */
type Row = [string, string, number | null, 0 | 1];

/** One sequence of rows in a file: how many, and where every STEP-th starts. */
interface Seq { file: string; count: number; marks: number[] }

interface Listing { all: Seq; existing: Seq; bytes: number; madeAt: number }

export interface RestoreListOptions {
  /** Where the lists' files go (emptied when the first list is made). */
  dir: string;
  /** A list answers pages for this long after it was made (ms). */
  ttlMs?: number;
  /** Lists kept at most. */
  maxLists?: number;
  /** Bytes of all kept lists' files at most; a restore whose list is bigger is listed page by page. */
  maxBytes?: number;
  /** restic processes listing restores at once. */
  concurrency?: number;
  timeoutMs?: number;
}

/** The request went away before its answer: nothing is answered. */
export class Abandoned extends Error {
  constructor() { super("the request was closed before its answer"); this.name = "Abandoned"; }
}

/** What one request asks, checked. */
interface Asked { snap: string; paths: string[]; inPlace: boolean; target: string; offset: number; limit: number; existingOnly: boolean }

function asked(req: RestoreFilesRequest): Asked {
  const snap = snapshotId(req.snapshot);
  if (!Array.isArray(req.paths) || req.paths.length === 0 || req.paths.length > MAX_PATHS) throw new SnapshotError(400, `paths must be a list of 1 to ${MAX_PATHS} absolute paths in the snapshot`);
  const paths = [...new Set(req.paths.map((x) => snapshotPath(x, "each path")))];
  if (req.target === undefined || req.target === null || req.target === "") throw new SnapshotError(400, `target must be "original" (restore in place) or an absolute folder`);
  const inPlace = req.target === "original";
  const target = inPlace ? "/" : targetPath(req.target);
  return {
    snap, paths, inPlace, target,
    offset: Math.max(0, req.offset ?? 0), limit: Math.max(1, Math.min(req.limit ?? 200, MAX_PAGE)), existingOnly: req.existingOnly === true,
  };
}

function destinationOf(a: Asked): (path: string) => string {
  return (path) => (a.inPlace ? path : `${a.target === "/" ? "" : a.target}${path}`);
}

/** Settles with `p`, or rejects with Abandoned as soon as `signal` aborts. */
// Synchronous on purpose: a callback that returns a promise for every entry lost entries of
// restic's listing (seen with 130 files: 60 came through); one lstat is a few microseconds.
function exists(path: string): boolean {
  try { lstatSync(path); return true; } catch { return false; }
}

/**
 * One object of restic's `ls --json --recursive` as the restore would write it: a file or folder
 * under the asked paths with where it goes and whether something is there; "snapshot" for the
 * snapshot's own line; null for anything else.
 */
function plannedOf(o: Record<string, unknown>, a: Asked, dest: (path: string) => string): PlannedFile | "snapshot" | null {
  const kind = typeof o.message_type === "string" ? o.message_type : typeof o.struct_type === "string" ? o.struct_type : null;
  if (kind === "snapshot") return "snapshot";
  if (kind !== "node" || typeof o.path !== "string") return null;
  const path = o.path;
  if (!a.paths.some((x) => within(x, path))) return null;
  const type = typeof o.type === "string" ? o.type : "file";
  const size = type === "file" && typeof o.size === "number" ? o.size : null;
  const destination = dest(path);
  // Folders are merged into, never overwritten: only what is not a folder counts as existing.
  return { path, type, size, destination, exists: type !== "dir" && exists(destination) };
}

function unlessAbandoned<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new Abandoned());
  return new Promise<T>((resolve, reject) => {
    const gone = () => reject(new Abandoned());
    signal.addEventListener("abort", gone, { once: true });
    p.then((v) => { signal.removeEventListener("abort", gone); resolve(v); }, (e: unknown) => { signal.removeEventListener("abort", gone); reject(e); });
  });
}

/** Rows `offset` .. `offset + limit` of a sequence, read from the nearest remembered offset. */
async function readRows(seq: Seq, offset: number, limit: number): Promise<Row[]> {
  const out: Row[] = [];
  if (offset >= seq.count) return out;
  const mark = Math.floor(offset / STEP);
  let skip = offset - mark * STEP;
  let pos = seq.marks[mark]!;
  const fh = await fsp.open(seq.file, "r");
  try {
    const buf = Buffer.alloc(64 * 1024);
    let rest = Buffer.alloc(0);
    while (out.length < limit) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (!bytesRead) break;
      pos += bytesRead;
      const chunk = rest.length ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1 && out.length < limit; nl = chunk.indexOf(10, start)) {
        if (skip > 0) skip--;
        else out.push(JSON.parse(chunk.toString("utf8", start, nl)) as Row);
        start = nl + 1;
      }
      rest = Buffer.from(chunk.subarray(start)); // a copy: buf is read into again
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** A file being written row by row, in large writes, with its remembered offsets. */
class SeqWriter {
  readonly seq: Seq;
  private pending: string[] = [];
  private pendingBytes = 0;
  bytes = 0;
  private fh: fsp.FileHandle | null = null;

  constructor(file: string) { this.seq = { file, count: 0, marks: [] }; }

  async open(): Promise<void> { this.fh = await fsp.open(this.seq.file, "wx", 0o600); }

  /** Adds a row; a promise when it wrote (the caller holds restic's output meanwhile). */
  add(row: Row): Promise<void> | null {
    if (this.seq.count % STEP === 0) this.seq.marks.push(this.bytes);
    this.seq.count++;
    const line = JSON.stringify(row) + "\n";
    const n = Buffer.byteLength(line);
    this.bytes += n;
    this.pending.push(line);
    this.pendingBytes += n;
    return this.pendingBytes >= FLUSH_BYTES ? this.flush() : null;
  }

  async flush(): Promise<void> {
    if (!this.pending.length || !this.fh) return;
    const text = this.pending.join("");
    this.pending = [];
    this.pendingBytes = 0;
    await this.fh.write(text);
  }

  async close(): Promise<void> {
    try { await this.flush(); } finally { await this.fh?.close(); this.fh = null; }
  }
}

/** The list of a restore could not be kept: too big for the bound. */
const TOO_BIG = "too big";

interface Flight { promise: Promise<Listing | typeof TOO_BIG>; waiting: number; stop: AbortController }

export class RestoreLists {
  readonly slots: Slots;
  private readonly ttlMs: number;
  private readonly maxLists: number;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  private readonly lists = new Map<string, Listing>();
  /** Restores whose list is bigger than the bound, listed page by page (until the TTL passes). */
  private readonly tooBig = new Map<string, number>();
  private readonly flights = new Map<string, Flight>();
  private prepared = false;
  private sweeper: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly opts: RestoreListOptions) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.maxLists = opts.maxLists ?? 8;
    this.maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
    this.timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
    this.slots = new Slots(opts.concurrency ?? 2);
    every.add(this);
  }

  /** One page of what restoring `req` would write. `signal`: the request went away. */
  async page(profile: EffectiveProfile, req: RestoreFilesRequest, signal?: AbortSignal): Promise<RestoreFiles> {
    const a = asked(req);
    const dest = destinationOf(a);
    // What a restore may not write to, a listing does not look at either (issue 19's restoreRoots).
    if (req.bounds) checkRestoreTarget(req.bounds, a.inPlace ? "original" : a.target, a.paths.map(dest));
    let p: EffectiveProfile;
    let plan: ProcessPlan;
    try {
      p = await withPassword(profile);
      plan = profileToRestic(p, "ls", ["--json", "--recursive", "--no-lock", "--", a.snap, ...a.paths]);
    } catch (err) {
      throw new SnapshotError(409, (err as Error).message);
    }
    const key = createHash("sha256").update(JSON.stringify([repoKey(p), a.snap, [...a.paths].sort(), a.inPlace ? "original" : a.target])).digest("hex").slice(0, 32);
    const head = { snapshot: a.snap, target: a.inPlace ? "original" : a.target, offset: a.offset };
    for (let tries = 0; ; tries++) {
      this.sweep();
      const list = this.lists.get(key) ?? (this.tooBig.has(key) ? TOO_BIG : await this.listing(key, a, p, plan, signal));
      if (list === TOO_BIG) return { ...head, ...(await this.streamPage(a, p, plan, signal)) };
      const seq = a.existingOnly ? list.existing : list.all;
      try {
        const rows = await readRows(seq, a.offset, a.limit);
        const entries = rows.map(([path, type, size, there]) => ({ path, type, size, destination: dest(path), exists: there === 1 }));
        return { ...head, entries, total: seq.count, existing: list.existing.count };
      } catch (err) {
        // Dropped (a bound, a restore into its target) between finding it and reading it: again, once.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || tries > 0) throw err;
        this.drop(key);
      }
    }
  }

  /** Drops every list (and its files). */
  clear(): void {
    for (const key of [...this.lists.keys()]) this.drop(key);
    this.tooBig.clear();
  }

  /** Lists kept, the bytes of their files, lists being made and the requests waiting for them. */
  stats(): { lists: number; bytes: number; making: number; waiting: number } {
    let bytes = 0;
    for (const l of this.lists.values()) bytes += l.bytes;
    let waiting = 0;
    for (const f of this.flights.values()) waiting += f.waiting;
    return { lists: this.lists.size, bytes, making: this.flights.size, waiting };
  }

  private drop(key: string): void {
    const l = this.lists.get(key);
    this.lists.delete(key);
    this.tooBig.delete(key);
    if (l) for (const f of [l.all.file, l.existing.file]) void fsp.rm(f, { force: true }).catch(() => undefined);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, l] of this.lists) if (now - l.madeAt >= this.ttlMs) this.drop(key);
    for (const [key, at] of this.tooBig) if (now - at >= this.ttlMs) this.tooBig.delete(key);
  }

  /** Sweeps once the oldest list has passed its time, so no file outlives it by much. */
  private schedule(): void {
    if (this.sweeper || !this.lists.size) return;
    const oldest = Math.min(...[...this.lists.values()].map((l) => l.madeAt));
    this.sweeper = setTimeout(() => { this.sweeper = null; this.sweep(); this.schedule(); }, Math.max(1000, oldest + this.ttlMs - Date.now()));
    this.sweeper.unref();
  }

  /** The list of one restore: kept, being made (joined), or made now. */
  private async listing(key: string, a: Asked, p: EffectiveProfile, plan: ProcessPlan, signal?: AbortSignal): Promise<Listing | typeof TOO_BIG> {
    let f = this.flights.get(key);
    if (!f) {
      const stop = new AbortController();
      const flight: Flight = { promise: this.make(key, a, p, plan, stop.signal), waiting: 0, stop };
      f = flight;
      this.flights.set(key, flight);
      void flight.promise.then(undefined, () => undefined).finally(() => { if (this.flights.get(key) === flight) this.flights.delete(key); });
    }
    const flight = f;
    flight.waiting++;
    try {
      return await unlessAbandoned(flight.promise, signal);
    } finally {
      // The last request waiting for it went away: nobody wants the list, restic is stopped.
      if (--flight.waiting === 0 && signal?.aborted) {
        flight.stop.abort();
        if (this.flights.get(key) === flight) this.flights.delete(key);
      }
    }
  }

  private prepare(): void {
    if (this.prepared) return;
    // Lists of an earlier process are of no use (their offsets were in its memory).
    rmSync(this.opts.dir, { recursive: true, force: true });
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
    this.prepared = true;
  }

  /** Waits for a slot, giving up (and the slot) when `signal` aborts first. */
  private async slot(signal: AbortSignal): Promise<() => void> {
    const got = this.slots.acquire();
    try {
      return await unlessAbandoned(got, signal);
    } catch (err) {
      void got.then((release) => release());
      throw err;
    }
  }

  private async make(key: string, a: Asked, p: EffectiveProfile, plan: ProcessPlan, stop: AbortSignal): Promise<Listing | typeof TOO_BIG> {
    this.prepare();
    const release = await this.slot(stop);
    const base = join(this.opts.dir, `${key}-${randomBytes(4).toString("hex")}`);
    const all = new SeqWriter(`${base}.all`);
    const existing = new SeqWriter(`${base}.existing`);
    let kept = false;
    try {
      await all.open();
      await existing.open();
      if (stop.aborted) throw new Abandoned();
      const dest = destinationOf(a);
      let seen = false;
      let tooBig = false;
      const proc = startRestic(plan, { timeoutMs: this.timeoutMs });
      const kill = () => proc.kill();
      stop.addEventListener("abort", kill, { once: true });
      try {
        await readNdjson(proc.stdout, (o) => {
          const f = plannedOf(o, a, dest);
          if (f === "snapshot") { seen = true; return; }
          if (!f) return;
          if (all.bytes + existing.bytes > this.maxBytes) {
            // Too big to keep: restic stops, and this restore is listed page by page.
            tooBig = true;
            return false;
          }
          const row: Row = [f.path, f.type, f.size, f.exists ? 1 : 0];
          const w1 = all.add(row);
          const w2 = f.exists ? existing.add(row) : null;
          if (w1 || w2) return Promise.all([w1, w2]).then(() => undefined);
        });
      } catch (err) {
        proc.kill();
        await proc.done;
        throw err;
      } finally {
        stop.removeEventListener("abort", kill);
      }
      if (tooBig) proc.kill();
      const exit = await proc.done;
      if (stop.aborted) throw new Abandoned();
      if (tooBig) {
        this.tooBig.set(key, Date.now());
        return TOO_BIG;
      }
      if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, { profile: p.name, action: "list what to restore", snapshot: a.snap });
      if (!seen) throw new SnapshotError(404, `the repository of profile "${p.name}" has no snapshot ${a.snap}`);
      await all.close();
      await existing.close();
      const list: Listing = { all: all.seq, existing: existing.seq, bytes: all.bytes + existing.bytes, madeAt: Date.now() };
      this.keep(key, list);
      kept = true;
      return list;
    } finally {
      release();
      if (!kept) {
        await all.close().catch(() => undefined);
        await existing.close().catch(() => undefined);
        await fsp.rm(all.seq.file, { force: true }).catch(() => undefined);
        await fsp.rm(existing.seq.file, { force: true }).catch(() => undefined);
      }
    }
  }

  /** Keeps a list within the bounds: the oldest go first. */
  private keep(key: string, list: Listing): void {
    this.drop(key);
    this.lists.set(key, list);
    let bytes = 0;
    for (const l of this.lists.values()) bytes += l.bytes;
    for (const [k, l] of this.lists) {
      if (this.lists.size <= this.maxLists && bytes <= this.maxBytes) break;
      if (k === key) continue;
      bytes -= l.bytes;
      this.drop(k);
    }
    this.schedule();
  }

  /**
   * One page of a restore too big to keep: restic lists it whole for this page, keeping only
   * the page (memory stays bounded; the cost is the restore's, for every page).
   */
  private async streamPage(a: Asked, p: EffectiveProfile, plan: ProcessPlan, signal?: AbortSignal): Promise<{ entries: PlannedFile[]; total: number; existing: number }> {
    const stop = new AbortController();
    const gone = () => stop.abort();
    signal?.addEventListener("abort", gone, { once: true });
    const release = await this.slot(signal ?? stop.signal);
    try {
      const dest = destinationOf(a);
      const out = { entries: [] as PlannedFile[], total: 0, existing: 0 };
      let seen = false;
      const proc = startRestic(plan, { timeoutMs: this.timeoutMs });
      const kill = () => proc.kill();
      stop.signal.addEventListener("abort", kill, { once: true });
      try {
        await readNdjson(proc.stdout, (o) => {
          const f = plannedOf(o, a, dest);
          if (f === "snapshot") { seen = true; return; }
          if (!f) return;
          if (f.exists) out.existing++;
          if (a.existingOnly && !f.exists) return;
          const n = out.total++;
          if (n >= a.offset && n < a.offset + a.limit) out.entries.push(f);
        });
      } catch (err) {
        proc.kill();
        await proc.done;
        throw err;
      } finally {
        stop.signal.removeEventListener("abort", kill);
      }
      const exit = await proc.done;
      if (stop.signal.aborted) throw new Abandoned();
      if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, { profile: p.name, action: "list what to restore", snapshot: a.snap });
      if (!seen) throw new SnapshotError(404, `the repository of profile "${p.name}" has no snapshot ${a.snap}`);
      return out;
    } finally {
      signal?.removeEventListener("abort", gone);
      release();
    }
  }
}

/** Every RestoreLists of this process, so a restore run can drop what they knew of its target. */
const every = new Set<RestoreLists>();

/**
 * A restore was carried out: what exists where restores go changed, so no kept list answers
 * again (restores are rare; a list is made again at its next look).
 */
export function forgetRestoreLists(): void {
  for (const l of every) l.clear();
}

const byDir = new Map<string, RestoreLists>();

/** The lists of one storage folder (one per Node-RED), shared by every editor. */
export function restoreLists(home: string): RestoreLists {
  const dir = join(home, "restore-lists");
  let l = byDir.get(dir);
  if (!l) byDir.set(dir, (l = new RestoreLists({ dir })));
  return l;
}

/** One page of a restore's list; without `lists`, those of a temporary folder of this process. */
export async function restoreFiles(profile: EffectiveProfile, req: RestoreFilesRequest, lists?: RestoreLists, signal?: AbortSignal): Promise<RestoreFiles> {
  return (lists ?? restoreLists(join(tmpdir(), `highball-${process.pid}`))).page(profile, req, signal);
}
