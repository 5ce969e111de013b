/**
 * PRestic's snapshot browser, for deployed profiles: snapshots, one directory level at a time,
 * a file's bytes or a folder as an archive, the difference of two snapshots with sizes, and
 * restores with a dry run and overwrite protection.
 *
 * Memory stays bounded whatever the snapshot's size: restic lists one level (`ls <snap> <dir>`
 * walks no deeper, and anything deeper is dropped unread), listings are kept in an LRU cache
 * bounded by entries and bytes, one listing keeps at most `maxListing` entries, and a diff
 * tracks at most `maxChanges` changes. Snapshots never change, so a cached listing never goes
 * stale; it is dropped when its snapshot disappears from the repository.
 */
import { createHash } from "node:crypto";
import { lstat, readdir } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { EffectiveProfile } from "../profile/resolve";
import { profileToRestic } from "../profile/restic";
import { ProfileError } from "../profile/options";
import { detectResticVersion, atLeast, type ResticVersion } from "../engines/restic";
import type { ProcessPlan } from "../engines/types";
import { LruCache, type CacheStats } from "./cache";
import { withPriorities } from "../runs/process";
import { startRestic, readNdjson, Slots, type Exit, type ResticProcess } from "./runner";
import { resticFailure, ignoredSnapshot, type FailureContext } from "./errors";
import type { SnapshotIndexes } from "./index-store";
import type { IndexMeta } from "./index-file";
import { withIndex, feed, sizesFromIndexes } from "./index-browse";
import { checkRestoreTarget, checkExisting, type RestoreBounds } from "./roots";
import { SnapshotError, snapshotId, snapshotPath, targetPath, parentOf, baseName, within, literalPattern } from "./validate";

export interface SnapshotInfo {
  id: string;
  shortId: string;
  /** epoch ms */
  time: number;
  host: string;
  username: string;
  paths: string[];
  tags: string[];
  parent: string | null;
  /** restic >= 0.17 stores a summary with each snapshot. */
  summary: { files: number | null; bytes: number | null } | null;
  /** Its tree is in the snapshot index: browsing it starts no `restic ls`. */
  indexed: boolean;
}

export interface Entry {
  name: string;
  type: string;
  path: string;
  size: number | null;
  /** epoch ms */
  mtime: number | null;
  permissions: string | null;
}

/** One directory level as cached: paths are derived from the directory, not stored. */
interface Stored { name: string; type: string; size: number | null; mtime: number | null; permissions: string | null }
interface Listing { id: string | null; self: Stored | null; entries: Stored[]; total: number }

export interface LsResult {
  snapshot: string;
  path: string;
  entries: Entry[];
  /** Entries restic listed in this directory. */
  total: number;
  offset: number;
  /** The directory holds more entries than one listing keeps. */
  truncated: boolean;
  cached: boolean;
  /** Answered from the snapshot index. */
  indexed?: boolean;
}

export type ChangeKind = "added" | "removed" | "modified" | "type" | "metadata" | "other";
export interface Change {
  path: string;
  type: "file" | "dir";
  change: ChangeKind;
  sizeBefore: number | null;
  sizeAfter: number | null;
  /** sizeAfter − sizeBefore (a missing side counts 0). */
  growth: number;
}

export interface DiffResult {
  from: string;
  to: string;
  path: string;
  changes: Change[];
  counts: Record<ChangeKind, number>;
  /** Changes within `path`. */
  total: number;
  /** Changes tracked with sizes (at most maxChanges, the first ones restic reported). */
  tracked: number;
  truncated: boolean;
  /** Bytes of the tracked changes: grown by, shrunk by. */
  bytesAdded: number;
  bytesRemoved: number;
  /** restic's own statistics for the whole snapshots (diff --json, restic >= 0.13). */
  statistics: Record<string, unknown> | null;
}

export interface RestoreRequest {
  snapshot: unknown;
  paths: unknown;
  target: unknown;
  dryRun?: unknown;
  overwrite?: unknown;
  /** Where this restore may write (lib/snapshots/roots.ts); a dry run is bounded too. */
  bounds?: RestoreBounds;
}

export interface RestoreSummary {
  dryRun: boolean;
  snapshot: string;
  paths: string[];
  /** "original" or the folder restored into (paths keep their full path beneath it). */
  target: string;
  files: number;
  dirs: number;
  others: number;
  bytes: number;
  /** Files of the restore that exist already where they would be written. */
  existing: number;
  /** The first few files that exist already (destination paths). */
  existingSample: string[];
  /** The first entries of the restore: snapshot path, where it goes, whether something is there. */
  sample: { path: string; type: string; size: number | null; destination: string; exists: boolean }[];
  /** Whether the target folder held anything (null for a restore in place). */
  targetEmpty: boolean | null;
  /** Why the restore would be refused (dry run) or null when it may go ahead. */
  refused: string | null;
  restored: boolean;
  durationMs: number;
}

export interface DownloadStream {
  kind: "file" | "archive";
  format: "zip" | "tar" | null;
  entry: Entry;
  contentType: string;
  fileName: string;
  /** Known for a file, unknown for an archive. */
  size: number | null;
  /** The first bytes, already read from `stream` (for sniffing text). */
  head: Buffer;
  /** The rest of the bytes, paused. */
  stream: Readable;
  /** restic has already sent everything (`head` is the whole content). */
  ended: boolean;
  done: Promise<Exit>;
  /** Ends restic (the client went away); also gives back the process slot. */
  stop(): void;
}

export interface BrowserOptions {
  /** Cache bound: directory entries over all cached listings. */
  cacheEntries?: number;
  /** Cache bound: an estimate of the bytes they hold. */
  cacheBytes?: number;
  /** Entries kept of one directory's listing; the rest are counted only. */
  maxListing?: number;
  /** Changes of a diff tracked with sizes. */
  maxChanges?: number;
  /** restic processes for browsing at once. */
  concurrency?: number;
  /** Limit for a listing, a diff or a dry run (ms). */
  timeoutMs?: number;
  /**
   * After a folder is listed cold, list all its sub-folders in one background restic run, so
   * the next click is answered from the cache (default on).
   */
  prefetch?: boolean;
  /** Entries one prefetch keeps at most. */
  maxPrefetchEntries?: number;
}

const SNIFF = 8192;
const SAMPLE = 200;
const MAX_RESTORE_PATHS = 100;
/** Beyond this many folders (or this many bytes of them), a diff's sizes come from one recursive listing. */
const MAX_DIFF_DIRS = 2000;
const MAX_DIFF_ARG_BYTES = 96 * 1024;
/** A prefetch covers at most this many sub-folders, named in at most this many argument bytes. */
const MAX_PREFETCH_DIRS = 256;
const MAX_PREFETCH_ARG_BYTES = 96 * 1024;

const KINDS: Record<string, ChangeKind> = { "+": "added", "-": "removed", M: "modified", T: "type", U: "metadata" };

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function time(v: unknown): number | null {
  if (typeof v !== "string") return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

function kindOf(o: Record<string, unknown>): string | null {
  return str(o.message_type) ?? str(o.struct_type);
}

function stored(o: Record<string, unknown>): Stored {
  return { name: String(o.name ?? ""), type: String(o.type ?? "file"), size: num(o.size), mtime: time(o.mtime), permissions: str(o.permissions) };
}

function entryOf(dir: string, s: Stored): Entry {
  return { name: s.name, type: s.type, path: dir === "/" ? `/${s.name}` : `${dir}/${s.name}`, size: s.size, mtime: s.mtime, permissions: s.permissions };
}

function costOf(l: Listing): { entries: number; bytes: number } {
  let bytes = 160;
  for (const e of l.entries) bytes += 2 * e.name.length + 120;
  return { entries: l.entries.length + 1, bytes };
}

const ROOT: Stored = { name: "", type: "dir", size: null, mtime: null, permissions: null };

/** Whether the first bytes of a file look like text: UTF-8 without NULs or many control bytes. */
export function looksLikeText(head: Buffer, complete: boolean): boolean {
  if (head.length === 0) return true;
  let control = 0;
  for (const b of head) {
    if (b === 0) return false;
    if (b < 32 && b !== 9 && b !== 10 && b !== 13 && b !== 12 && b !== 27 && b !== 8) control++;
  }
  if (control > head.length / 20) return false;
  // A sample cut inside a multi-byte character is still text: try without its last 1–3 bytes.
  for (let cut = 0; cut <= (complete ? 0 : 3) && cut < head.length; cut++) {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(0, head.length - cut));
      return true;
    } catch { /* try shorter */ }
  }
  return false;
}

/**
 * Work nobody waits for (indexing a snapshot) gives way to everything else: restic at idle CPU
 * and disk priority (nice 19, ionice idle), which a backup or a browse outruns at once.
 */
export function backgroundPlan(plan: ProcessPlan): ProcessPlan {
  return { ...plan, ...withPriorities({ ...plan, cpuPriority: "idle", ioPriority: "idle" }), cpuPriority: undefined, ioPriority: undefined };
}

/** The repository a profile names, as a key: two profiles of one repository share listings and indexes. */
export function repoKey(p: EffectiveProfile): string {
  const o = p.options;
  return createHash("sha256").update(JSON.stringify([o.repository ?? null, o["repository-file"] ?? null, o.option ?? []])).digest("hex").slice(0, 24);
}

export class SnapshotBrowser {
  private readonly cache: LruCache<Listing>;
  private readonly diffs: LruCache<Omit<DiffResult, "changes"> & { all: Change[] }>;
  private readonly inflight = new Map<string, Promise<Listing>>();
  private readonly slots: Slots;
  private readonly restoring = new Set<string>();
  private readonly prefetching = new Set<Promise<void>>();
  /** Prefetched folders someone has asked for while the prefetch ran. */
  private readonly waiting = new Set<string>();
  readonly prefetch: boolean;
  readonly maxPrefetchEntries: number;
  readonly maxListing: number;
  readonly maxChanges: number;
  readonly timeoutMs: number;

  constructor(opts: BrowserOptions = {}) {
    this.cache = new LruCache(opts.cacheEntries ?? 200_000, opts.cacheBytes ?? 48 * 1024 * 1024);
    this.diffs = new LruCache(opts.maxChanges ? opts.maxChanges * 4 : 80_000, 32 * 1024 * 1024);
    this.maxListing = opts.maxListing ?? 20_000;
    this.maxChanges = opts.maxChanges ?? 20_000;
    this.slots = new Slots(opts.concurrency ?? 4);
    this.timeoutMs = opts.timeoutMs ?? 5 * 60_000;
    this.prefetch = opts.prefetch ?? true;
    this.maxPrefetchEntries = opts.maxPrefetchEntries ?? 50_000;
  }

  /** Resolves when no background prefetch is running (tests and benchmarks wait for it). */
  async settled(): Promise<void> {
    while (this.prefetching.size) await Promise.all([...this.prefetching]);
  }

  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  clearCache(): void {
    this.cache.clear();
    this.diffs.clear();
  }

  private repoKey(p: EffectiveProfile): string {
    return repoKey(p);
  }

  private plan(p: EffectiveProfile, command: string, args: string[]): ProcessPlan {
    try {
      return profileToRestic(p, command, args);
    } catch (err) {
      if (err instanceof ProfileError) throw new SnapshotError(409, err.message);
      throw err;
    }
  }

  private async version(p: EffectiveProfile): Promise<ResticVersion> {
    try {
      return await detectResticVersion(p.options.executable ?? "restic");
    } catch (err) {
      throw new SnapshotError(500, (err as Error).message);
    }
  }

  /** Runs restic to its end, handing NDJSON objects to `each`; throws the classified failure. */
  private async ndjson(p: EffectiveProfile, command: string, args: string[], ctx: FailureContext, each: (o: Record<string, unknown>) => boolean | void | Promise<boolean | void>, timeoutMs: number | undefined = this.timeoutMs, background = false): Promise<Exit> {
    const plan = background ? backgroundPlan(this.plan(p, command, args)) : this.plan(p, command, args);
    return this.slots.run(async () => {
      const proc = startRestic(plan, { timeoutMs });
      let stopped = false;
      try {
        await readNdjson(proc.stdout, (o) => {
          const r = each(o);
          if (r === false) stopped = true;
          return r;
        });
      } catch (err) {
        proc.kill();
        await proc.done;
        throw err;
      }
      if (stopped) proc.kill();
      const exit = await proc.done;
      if (!stopped && (exit.code !== 0 || exit.spawnError)) throw resticFailure(exit, ctx);
      return exit;
    });
  }

  // ---------------------------------------------------------------- snapshots

  async snapshots(p: EffectiveProfile, idx?: SnapshotIndexes): Promise<SnapshotInfo[]> {
    const plan = this.plan(p, "snapshots", ["--json"]);
    const ctx = { profile: p.name, action: "list the snapshots" };
    const text = await this.slots.run(async () => {
      const proc = startRestic(plan, { timeoutMs: this.timeoutMs });
      const chunks: Buffer[] = [];
      let size = 0;
      proc.stdout.on("data", (b: Buffer) => {
        size += b.length;
        if (size <= 256 * 1024 * 1024) chunks.push(b);
      });
      const exit = await proc.done;
      if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, ctx);
      return Buffer.concat(chunks).toString("utf8");
    });
    let list: unknown;
    try { list = JSON.parse(text.trim() || "[]"); } catch { throw new SnapshotError(502, "restic's list of snapshots could not be read"); }
    if (!Array.isArray(list)) throw new SnapshotError(502, "restic's list of snapshots could not be read");
    const out: SnapshotInfo[] = [];
    for (const raw of list) {
      if (!raw || typeof raw !== "object") continue;
      const o = raw as Record<string, unknown>;
      const id = str(o.id);
      if (!id) continue;
      const summary = o.summary && typeof o.summary === "object" ? o.summary as Record<string, unknown> : null;
      out.push({
        id,
        shortId: str(o.short_id) ?? id.slice(0, 8),
        time: time(o.time) ?? 0,
        host: str(o.hostname) ?? "",
        username: str(o.username) ?? "",
        paths: Array.isArray(o.paths) ? o.paths.map(String) : [],
        tags: Array.isArray(o.tags) ? o.tags.map(String) : [],
        parent: str(o.parent),
        summary: summary ? { files: num(summary.total_files_processed), bytes: num(summary.total_bytes_processed) } : null,
        indexed: false,
      });
    }
    out.sort((a, b) => b.time - a.time || a.id.localeCompare(b.id));
    // Listings of snapshots that are gone (forget) go too.
    const repo = this.repoKey(p);
    const gone = (snap: string) => !out.some((s) => s.id.startsWith(snap));
    this.cache.deleteWhere((k) => k.startsWith(`${repo}\0`) && gone(k.split("\0")[1] ?? ""));
    this.diffs.deleteWhere((k) => {
      const [r, from, to] = k.split("\0");
      return r === repo && (gone(from ?? "") || gone(to ?? ""));
    });
    if (idx) {
      // Indexes of forgotten snapshots go with them.
      await idx.prune(repo, out.map((s) => s.id));
      const have = await idx.indexed(repo);
      for (const s of out) s.indexed = have.has(s.id);
    }
    return out;
  }

  // ---------------------------------------------------------------- one directory level

  private listing(p: EffectiveProfile, snap: string, dir: string, prefetch = false): { promise: Promise<Listing>; cached: boolean } {
    const key = `${this.repoKey(p)}\0${snap}\0${dir}`;
    const hit = this.cache.get(key);
    if (hit) return { promise: Promise.resolve(hit), cached: true };
    let running = this.inflight.get(key);
    if (running) this.waiting.add(key);
    else {
      running = this.readListing(p, snap, dir).then((l) => {
        this.cache.set(key, l, costOf(l));
        if (prefetch && this.prefetch) this.prefetchChildren(p, snap, dir, l);
        return l;
      });
      this.track(key, running);
    }
    return { promise: running, cached: false };
  }

  private track(key: string, running: Promise<Listing>): void {
    this.inflight.set(key, running);
    const forget = () => {
      if (this.inflight.get(key) !== running) return;
      this.inflight.delete(key);
      this.waiting.delete(key);
    };
    running.then(forget, forget);
  }

  /**
   * Lists every sub-folder of `dir` in one restic run (`ls <snap> <sub1> <sub2> ...` lists one
   * level of each, sub-folder by sub-folder), so opening any of them next is answered from the
   * cache. Each sub-folder is registered as in flight meanwhile: a click on one waits for this
   * run (which started earlier) instead of starting its own. Sub-folders the run could not
   * finish (entry cap, failure) are listed on demand as usual.
   */
  private prefetchChildren(p: EffectiveProfile, snap: string, dir: string, l: Listing): void {
    const repo = this.repoKey(p);
    const keyOf = (d: string) => `${repo}\0${snap}\0${d}`;
    const subs: string[] = [];
    let argBytes = 0;
    for (const e of l.entries) {
      if (e.type !== "dir") continue;
      const sub = entryOf(dir, e).path;
      if (this.cache.peek(keyOf(sub)) || this.inflight.has(keyOf(sub))) continue;
      subs.push(sub);
      argBytes += sub.length + 1;
      if (subs.length > MAX_PREFETCH_DIRS || argBytes > MAX_PREFETCH_ARG_BYTES) return;
    }
    if (!subs.length) return;
    const wanted = new Set(subs);
    const done = new Map<string, Listing>();
    const run = (async () => {
      const lists = new Map<string, Listing>();
      let open: string | null = null;
      let entries = 0;
      await this.ndjson(p, "ls", ["--json", "--", snap, ...subs], { profile: p.name, action: `list the folders of ${dir}`, snapshot: snap }, (o) => {
        const kind = kindOf(o);
        if (kind === "snapshot") return;
        if (kind !== "node" || typeof o.path !== "string") return;
        const path = o.path;
        if (wanted.has(path)) {
          // restic lists sub-folder by sub-folder: a new one means the one before is whole.
          if (open) done.set(open, lists.get(open)!);
          open = path;
          lists.set(path, { id: l.id, self: stored(o), entries: [], total: 0 });
          return;
        }
        const parent = parentOf(path);
        const into = parent === open ? lists.get(parent) : undefined;
        if (!into) return;
        into.total++;
        if (into.entries.length < this.maxListing) into.entries.push(stored(o));
        if (++entries >= this.maxPrefetchEntries) return false;
        return undefined;
      });
      if (open && entries < this.maxPrefetchEntries) done.set(open, lists.get(open)!);
    })();
    const settled = run.then(() => undefined, () => undefined);
    for (const sub of subs) {
      const key = keyOf(sub);
      const mine = settled.then(() => {
        const got = done.get(sub);
        const asked = this.waiting.delete(key);
        if (got) return got;
        // Not finished here: listed on its own, but only for someone who is waiting for it.
        if (asked) return this.readListing(p, snap, sub);
        throw new SnapshotError(503, "not prefetched");
      }).then((x) => {
        this.cache.set(key, x, costOf(x));
        return x;
      });
      mine.catch(() => undefined);
      this.track(key, mine);
    }
    const tracked = settled.then(() => Promise.all(subs.map((s) => this.inflight.get(keyOf(s))?.catch(() => undefined)))).then(() => undefined);
    this.prefetching.add(tracked);
    void tracked.then(() => this.prefetching.delete(tracked));
  }

  private cachedListing(p: EffectiveProfile, snap: string, dir: string): Listing | undefined {
    return this.cache.peek(`${this.repoKey(p)}\0${snap}\0${dir}`);
  }

  /**
   * `restic ls --json <snap> <dir>`: the directory itself, then its children. restic walks no
   * deeper than that; anything deeper (another version's habit) is dropped unread.
   */
  private async readListing(p: EffectiveProfile, snap: string, dir: string): Promise<Listing> {
    const l: Listing = { id: null, self: dir === "/" ? ROOT : null, entries: [], total: 0 };
    const max = this.maxListing;
    const exit = await this.ndjson(p, "ls", ["--json", "--", snap, dir], { profile: p.name, action: `list ${dir}`, snapshot: snap }, (o) => {
      const kind = kindOf(o);
      if (kind === "snapshot") {
        l.id = str(o.id);
        return;
      }
      if (kind !== "node") return;
      const path = str(o.path);
      if (!path) return;
      if (path === dir) {
        l.self = stored(o);
        return;
      }
      if (parentOf(path) !== dir) return;
      l.total++;
      if (l.entries.length < max) l.entries.push(stored(o));
    });
    if (!l.id || ignoredSnapshot(exit.stderr)) throw new SnapshotError(404, `the repository of profile "${p.name}" has no snapshot ${snap}`);
    return l;
  }

  /** One level of `dir` in snapshot `snap`, `limit` entries from `offset`. */
  async ls(p: EffectiveProfile, snapIn: unknown, dirIn: unknown, page: { offset?: number; limit?: number } = {}, idx?: SnapshotIndexes): Promise<LsResult> {
    const snap = snapshotId(snapIn);
    const dir = snapshotPath(dirIn ?? "/");
    if (idx) {
      const fromIndex = await this.lsIndexed(p, snap, dir, page, idx);
      if (fromIndex) return fromIndex;
    }
    const { promise, cached } = this.listing(p, snap, dir, true);
    const l = await promise;
    // The first browse of a snapshot indexes it, in the background: once restic has answered
    // (the listing does not share the machine with it, and a snapshot that is not there is not tried).
    if (idx && !idx.isBuilding(this.repoKey(p), l.id ?? snap)) void this.index(p, l.id ?? snap, idx);
    if (!l.self) throw new SnapshotError(404, `there is no ${dir} in snapshot ${snap.slice(0, 8)}`);
    if (l.self.type !== "dir") throw new SnapshotError(400, `${dir} is a ${l.self.type}, not a folder`);
    const offset = Math.max(0, Math.min(page.offset ?? 0, l.entries.length));
    const limit = Math.max(1, Math.min(page.limit ?? l.entries.length, this.maxListing));
    return {
      snapshot: l.id ?? snap,
      path: dir,
      entries: l.entries.slice(offset, offset + limit).map((e) => entryOf(dir, e)),
      total: l.total,
      offset,
      truncated: l.entries.length < l.total,
      cached,
    };
  }

  /** A page of `dir` from the snapshot's index; undefined when it has none (or it is damaged). */
  private lsIndexed(p: EffectiveProfile, snap: string, dir: string, page: { offset?: number; limit?: number }, idx: SnapshotIndexes): Promise<LsResult | undefined> {
    return withIndex(idx, this.repoKey(p), snap, async (r) => {
      const limit = Math.max(1, Math.min(page.limit ?? this.maxListing, this.maxListing));
      const offset = Math.max(0, page.offset ?? 0);
      const got = await r.list(dir, { offset, limit });
      if (!got) {
        const self = await r.stat(dir);
        if (!self) throw new SnapshotError(404, `there is no ${dir} in snapshot ${snap.slice(0, 8)}`);
        throw new SnapshotError(400, `${dir} is a ${self.type}, not a folder`);
      }
      return {
        snapshot: r.meta.snapshot, path: dir, entries: got.entries.map((e) => entryOf(dir, e)), total: got.total,
        offset: Math.min(offset, got.total), truncated: false, cached: false, indexed: true,
      };
    });
  }

  /**
   * Writes the index of `snap` from one streamed `restic ls --json <snap>` (once; a second call
   * meanwhile waits for the first). Null when restic could not list it (see idx.failures).
   */
  index(p: EffectiveProfile, snapIn: unknown, idx: SnapshotIndexes): Promise<IndexMeta | null> {
    const snap = snapshotId(snapIn);
    return idx.build(this.repoKey(p), snap, async (w) => {
      let id: string | undefined;
      const exit = await this.ndjson(p, "ls", ["--json", "--", snap], { profile: p.name, action: "index the snapshot", snapshot: snap }, (o) => {
        const got = feed(w, o);
        if (got) id = got;
        if (w.pending >= 512 * 1024) return w.drain();
        return undefined;
      }, 0, true);
      if (!id || ignoredSnapshot(exit.stderr)) throw new SnapshotError(404, `the repository of profile "${p.name}" has no snapshot ${snap}`);
      return id;
    });
  }

  /** What `path` is in the snapshot: from its index, a cached listing, else from restic. */
  async stat(p: EffectiveProfile, snapIn: unknown, pathIn: unknown, idx?: SnapshotIndexes): Promise<Entry & { snapshot: string }> {
    const snap = snapshotId(snapIn);
    const path = snapshotPath(pathIn);
    if (idx) {
      const known = await withIndex(idx, this.repoKey(p), snap, async (r) => {
        const e = await r.stat(path);
        if (!e) throw new SnapshotError(404, `there is no ${path} in snapshot ${snap.slice(0, 8)}`);
        return { ...entryOf(parentOf(path), { ...e, name: baseName(path) }), path, snapshot: r.meta.snapshot };
      });
      if (known) return known;
    }
    const own = this.cachedListing(p, snap, path);
    if (own?.self) return { ...entryOf(parentOf(path), { ...own.self, name: baseName(path) }), path, snapshot: own.id ?? snap };
    if (path !== "/") {
      const parent = this.cachedListing(p, snap, parentOf(path));
      if (parent) {
        const name = baseName(path);
        const e = parent.entries.find((x) => x.name === name);
        if (e) return { ...entryOf(parentOf(path), e), snapshot: parent.id ?? snap };
        if (parent.entries.length === parent.total) throw new SnapshotError(404, `there is no ${path} in snapshot ${snap.slice(0, 8)}`);
      }
    }
    const l = await this.listing(p, snap, path).promise;
    if (!l.self) throw new SnapshotError(404, `there is no ${path} in snapshot ${snap.slice(0, 8)}`);
    return { ...entryOf(parentOf(path), { ...l.self, name: baseName(path) }), path, snapshot: l.id ?? snap };
  }

  // ---------------------------------------------------------------- bytes

  /**
   * A file's bytes (`restic dump`), or a folder as a zip (restic >= 0.12; a tar before). Resolves
   * once restic has sent its first bytes, or has ended: a failure before any byte is thrown as
   * a SnapshotError, so the caller can still answer with a status.
   */
  async open(p: EffectiveProfile, snapIn: unknown, pathIn: unknown, idx?: SnapshotIndexes): Promise<DownloadStream> {
    const entry = await this.stat(p, snapIn, pathIn, idx);
    const snap = snapshotId(snapIn);
    if (entry.type !== "file" && entry.type !== "dir") throw new SnapshotError(400, `${entry.path} is a ${entry.type}; only files and folders can be downloaded`);
    let format: "zip" | "tar" | null = null;
    const args: string[] = [];
    if (entry.type === "dir") {
      format = atLeast(await this.version(p), 0, 12) ? "zip" : "tar";
      args.push(`--archive=${format}`);
    }
    const plan = this.plan(p, "dump", [...args, "--", snap, entry.path]);
    const release = await this.slots.acquire();
    let proc: ResticProcess;
    try {
      proc = startRestic(plan);
    } catch (err) {
      release();
      throw err;
    }
    void proc.done.then(release, release);
    const ctx = { profile: p.name, action: `read ${entry.path}`, snapshot: snap };
    const head = await readHead(proc.stdout, SNIFF);
    if (head.ended) {
      // Everything restic had to say is here: a failure can still be answered with a status.
      const exit = await proc.done;
      if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, ctx);
    }
    const complete = head.ended || (entry.size !== null && head.bytes.length >= entry.size);
    const name = entry.path === "/" ? `snapshot-${(entry.snapshot || snap).slice(0, 8)}` : baseName(entry.path);
    return {
      kind: entry.type === "dir" ? "archive" : "file",
      format,
      entry,
      contentType: format === "zip" ? "application/zip" : format === "tar" ? "application/x-tar"
        : looksLikeText(head.bytes, complete) ? "text/plain; charset=utf-8" : "application/octet-stream",
      fileName: format ? `${name}.${format}` : name,
      size: entry.type === "file" ? entry.size : null,
      head: head.bytes,
      stream: proc.stdout,
      ended: head.ended,
      done: proc.done,
      stop: () => proc.kill(),
    };
  }

  // ---------------------------------------------------------------- diff

  /**
   * What changed from snapshot `from` to `to` within `path`: added, removed and modified files
   * and folders with their sizes in both snapshots, sorted by growth (largest first). restic's
   * diff gives no sizes, so they come from `ls` of the changed files' folders in both snapshots
   * (or one recursive listing when there are very many folders), matched against the tracked
   * changes as the listing streams by.
   */
  async diff(p: EffectiveProfile, fromIn: unknown, toIn: unknown, opts: { path?: unknown; limit?: number; index?: SnapshotIndexes } = {}): Promise<DiffResult> {
    const from = snapshotId(fromIn, "from");
    const to = snapshotId(toIn, "to");
    const scope = snapshotPath(opts.path === undefined || opts.path === "" ? "/" : opts.path);
    const limit = Math.max(1, Math.min(opts.limit ?? 500, this.maxChanges));
    const key = `${this.repoKey(p)}\0${from}\0${to}\0${scope}`;
    let d = this.diffs.get(key);
    if (!d) {
      d = await this.computeDiff(p, from, to, scope, opts.index);
      this.diffs.set(key, d, { entries: d.all.length + 1, bytes: d.all.reduce((n, c) => n + 2 * c.path.length + 100, 200) });
    }
    const { all, ...rest } = d;
    return { ...rest, changes: all.slice(0, limit) };
  }

  private async computeDiff(p: EffectiveProfile, from: string, to: string, scope: string, idx?: SnapshotIndexes): Promise<Omit<DiffResult, "changes"> & { all: Change[] }> {
    const version = await this.version(p);
    const json = atLeast(version, 0, 13);
    const counts: Record<ChangeKind, number> = { added: 0, removed: 0, modified: 0, type: 0, metadata: 0, other: 0 };
    const tracked = new Map<string, Change>();
    let total = 0;
    let statistics: Record<string, unknown> | null = null;
    const ctx = { profile: p.name, action: "compare the snapshots", snapshot: `${from.slice(0, 8)} or ${to.slice(0, 8)}` };
    const add = (modifier: string, rawPath: string) => {
      const isDir = rawPath.length > 1 && rawPath.endsWith("/");
      const path = isDir ? rawPath.replace(/\/+$/, "") : rawPath;
      if (!path.startsWith("/") || !within(scope, path)) return;
      const change = KINDS[modifier] ?? "other";
      counts[change]++;
      total++;
      if (tracked.size < this.maxChanges) tracked.set(path, { path, type: isDir ? "dir" : "file", change, sizeBefore: null, sizeAfter: null, growth: 0 });
    };
    if (json) {
      await this.ndjson(p, "diff", ["--json", "--", from, to], ctx, (o) => {
        const kind = str(o.message_type);
        if (kind === "change" && typeof o.path === "string") add(String(o.modifier ?? "?").trim(), o.path);
        else if (kind === "statistics") statistics = o;
      });
    } else {
      await this.text(p, "diff", ["--", from, to], ctx, (line) => {
        const m = /^([+\-MTU?]) {4}(\/.*)$/.exec(line);
        if (m) add(m[1]!, m[2]!);
      });
    }
    // Sizes from the two snapshots' indexes when both have one, else from restic ls.
    if (tracked.size && !(idx && await sizesFromIndexes(idx, this.repoKey(p), from, to, tracked))) await this.diffSizes(p, from, to, scope, tracked);
    // A folder's size is that of the tracked files beneath it.
    const dirs = new Map<string, Change>();
    for (const c of tracked.values()) if (c.type === "dir") dirs.set(c.path, c);
    if (dirs.size) {
      for (const c of tracked.values()) {
        if (c.type !== "file") continue;
        for (let up = parentOf(c.path); ; up = parentOf(up)) {
          const d = dirs.get(up);
          if (d) {
            if (c.sizeBefore !== null) d.sizeBefore = (d.sizeBefore ?? 0) + c.sizeBefore;
            if (c.sizeAfter !== null) d.sizeAfter = (d.sizeAfter ?? 0) + c.sizeAfter;
          }
          if (up === "/") break;
        }
      }
    }
    let bytesAdded = 0;
    let bytesRemoved = 0;
    const all = [...tracked.values()];
    for (const c of all) {
      c.growth = (c.sizeAfter ?? 0) - (c.sizeBefore ?? 0);
      if (c.type === "file") {
        if (c.growth > 0) bytesAdded += c.growth;
        else bytesRemoved -= c.growth;
      }
    }
    all.sort((a, b) => b.growth - a.growth || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const stats = statistics as Record<string, unknown> | null;
    return {
      from: (stats && str(stats.source_snapshot)) || from,
      to: (stats && str(stats.target_snapshot)) || to,
      path: scope, all, counts, total, tracked: tracked.size, truncated: tracked.size < total,
      bytesAdded, bytesRemoved, statistics: stats,
    };
  }

  /** Sizes of the tracked changes in both snapshots, from restic ls as it streams. */
  private async diffSizes(p: EffectiveProfile, from: string, to: string, scope: string, tracked: Map<string, Change>): Promise<void> {
    const dirs = new Set<string>();
    let argBytes = 0;
    for (const path of tracked.keys()) {
      const d = parentOf(path);
      if (!dirs.has(d)) {
        dirs.add(d);
        argBytes += d.length + 1;
      }
    }
    const oneLevel = dirs.size <= MAX_DIFF_DIRS && argBytes <= MAX_DIFF_ARG_BYTES;
    const args = oneLevel ? [...dirs] : [scope];
    const side = (snap: string, before: boolean) => this.ndjson(p, "ls", ["--json", ...(oneLevel ? [] : ["--recursive"]), "--", snap, ...args],
      { profile: p.name, action: "list the changed files", snapshot: snap }, (o) => {
        if (kindOf(o) !== "node" || typeof o.path !== "string") return;
        const c = tracked.get(o.path);
        if (!c) return;
        const size = o.type === "file" ? num(o.size) ?? 0 : null;
        if (size === null) return;
        if (before) c.sizeBefore = size; else c.sizeAfter = size;
      });
    await Promise.all([side(from, true), side(to, false)]);
  }

  /** Plain-text output line by line (restic < 0.13 has no diff --json). */
  private async text(p: EffectiveProfile, command: string, args: string[], ctx: FailureContext, each: (line: string) => void): Promise<void> {
    const plan = this.plan(p, command, args);
    await this.slots.run(async () => {
      const proc = startRestic(plan, { timeoutMs: this.timeoutMs });
      let rest = "";
      proc.stdout.setEncoding("utf8");
      proc.stdout.on("data", (s: string) => {
        const lines = (rest + s).split("\n");
        rest = lines.pop() ?? "";
        if (rest.length > 1024 * 1024) rest = "";
        for (const l of lines) each(l);
      });
      const exit = await proc.done;
      if (rest) each(rest);
      if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, ctx);
    });
  }

  // ---------------------------------------------------------------- restore

  /**
   * Restores `paths` of a snapshot into `target` (a folder: each path keeps its full path
   * beneath it), or to their original place (`target: "original"`). A non-empty target folder,
   * or files that exist at their original place, are refused unless `overwrite` is true. A dry
   * run writes nothing: it lists what would be restored and which of it exists already (restic
   * 0.14 has no restore --dry-run, so the listing is ours, the same for every version).
   */
  async restore(p: EffectiveProfile, req: RestoreRequest): Promise<RestoreSummary> {
    const started = Date.now();
    const snap = snapshotId(req.snapshot);
    if (!Array.isArray(req.paths) || req.paths.length === 0) throw new SnapshotError(400, "paths must be a list of at least one absolute path in the snapshot");
    if (req.paths.length > MAX_RESTORE_PATHS) throw new SnapshotError(400, `at most ${MAX_RESTORE_PATHS} paths can be restored at once; restore their common folder instead`);
    const paths = outermost(req.paths.map((x) => snapshotPath(x, "each path")));
    if (req.target === undefined || req.target === null || req.target === "") throw new SnapshotError(400, `target must be "original" (restore in place) or an absolute folder`);
    const inPlace = req.target === "original";
    const target = inPlace ? "/" : targetPath(req.target);
    if (req.dryRun !== undefined && typeof req.dryRun !== "boolean") throw new SnapshotError(400, "dryRun must be true or false");
    if (req.overwrite !== undefined && typeof req.overwrite !== "boolean") throw new SnapshotError(400, "overwrite must be true or false");
    const dryRun = req.dryRun === true;
    const overwrite = req.overwrite === true;
    const dest = (path: string) => (inPlace ? path : `${target === "/" ? "" : target}${path}`);
    const bounds = req.bounds;
    if (bounds) checkRestoreTarget(bounds, inPlace ? "original" : target, paths.map(dest));
    const repo = this.repoKey(p);
    if (!dryRun) {
      if (this.restoring.has(repo)) throw new SnapshotError(409, `a restore from the repository of profile "${p.name}" is already running`);
      this.restoring.add(repo);
    }
    try {
      const summary: RestoreSummary = {
        dryRun, snapshot: snap, paths, target: inPlace ? "original" : target,
        files: 0, dirs: 0, others: 0, bytes: 0, existing: 0, existingSample: [], sample: [],
        targetEmpty: null, refused: null, restored: false, durationMs: 0,
      };
      let probe = true;
      if (!inPlace) {
        const state = await folderState(target);
        if (state === "not-a-folder") throw new SnapshotError(400, "target exists and is not a folder");
        summary.targetEmpty = state !== "non-empty";
        // Into an empty or new folder nothing can exist already: no need to look for each file.
        probe = state === "non-empty";
      }
      const found = new Set<string>();
      let outside: unknown = null;
      let snapshotSeen = false;
      let batch: { dest: string; sample: RestoreSummary["sample"][number] | null }[] = [];
      const flush = async () => {
        const b = batch;
        batch = [];
        const exists = await Promise.all(b.map((x) => lstat(x.dest).then(() => true, () => false)));
        b.forEach((x, i) => {
          if (!exists[i]) return;
          summary.existing++;
          if (summary.existingSample.length < SAMPLE) summary.existingSample.push(x.dest);
          if (x.sample) x.sample.exists = true;
        });
      };
      const exit = await this.ndjson(p, "ls", ["--json", "--recursive", "--", snap, ...paths], { profile: p.name, action: "list what to restore", snapshot: snap }, (o) => {
        const kind = kindOf(o);
        if (kind === "snapshot") { snapshotSeen = true; summary.snapshot = str(o.id) ?? snap; return; }
        if (kind !== "node" || typeof o.path !== "string") return;
        const path = o.path;
        if (!paths.some((x) => within(x, path))) return;
        found.add(path);
        const type = String(o.type ?? "file");
        const size = type === "file" ? num(o.size) ?? 0 : null;
        if (type === "dir") summary.dirs++;
        else if (type === "file") { summary.files++; summary.bytes += size ?? 0; } else summary.others++;
        const sample = summary.sample.length < SAMPLE ? { path, type, size, destination: dest(path), exists: false } : null;
        if (sample) summary.sample.push(sample);
        // Over existing files, a symlink there must not lead the restore outside its bounds.
        if (probe && bounds && outside === null) {
          try { checkExisting(bounds, dest(path)); } catch (err) { outside = err; }
        }
        if (type !== "dir" && probe) {
          batch.push({ dest: dest(path), sample });
          if (batch.length >= 256) return flush();
        }
      });
      if (batch.length) await flush();
      if (outside) throw outside;
      if (!snapshotSeen || ignoredSnapshot(exit.stderr)) throw new SnapshotError(404, `the repository of profile "${p.name}" has no snapshot ${snap}`);
      const missing = paths.filter((x) => x !== "/" && !found.has(x));
      if (missing.length) throw new SnapshotError(404, `there is no ${missing[0]} in snapshot ${snap.slice(0, 8)}`);
      if (!overwrite) {
        if (!inPlace && summary.targetEmpty === false) summary.refused = "the target folder is not empty; tick overwrite to restore into it anyway";
        else if (inPlace && summary.existing > 0) {
          summary.refused = `${summary.existing} ${summary.existing === 1 ? "file exists" : "files exist"} already at the original place; tick overwrite to replace ${summary.existing === 1 ? "it" : "them"}`;
        }
      }
      if (!dryRun) {
        if (summary.refused) throw new SnapshotError(409, summary.refused);
        const includes = paths.includes("/") ? [] : paths.map((x) => `--include=${literalPattern(x)}`);
        await this.ndjson(p, "restore", [`--target=${target}`, ...includes, "--", snap], { profile: p.name, action: "restore", snapshot: snap }, () => undefined, 0);
        summary.restored = true;
      }
      summary.durationMs = Date.now() - started;
      return summary;
    } finally {
      if (!dryRun) this.restoring.delete(repo);
    }
  }
}

/** The given paths without those inside another one ("/" covers everything). */
function outermost(paths: string[]): string[] {
  const uniq = [...new Set(paths)].sort();
  return uniq.filter((x) => !uniq.some((y) => y !== x && within(y, x)));
}

async function folderState(dir: string): Promise<"missing" | "empty" | "non-empty" | "not-a-folder"> {
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) return "not-a-folder";
  } catch {
    return "missing";
  }
  try {
    return (await readdir(dir)).length ? "non-empty" : "empty";
  } catch {
    return "non-empty"; // unreadable: be careful, treat it as holding something
  }
}

/** The first `n` bytes of a stream (fewer if it ends), leaving the stream paused with the rest. */
function readHead(stream: Readable, n: number): Promise<{ bytes: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (ended: boolean) => {
      stream.removeListener("data", onData);
      stream.removeListener("end", onEnd);
      stream.removeListener("error", onEnd);
      if (!ended) stream.pause();
      const all = Buffer.concat(chunks);
      if (all.length > n) {
        stream.unshift(all.subarray(n));
        resolve({ bytes: all.subarray(0, n), ended: false });
      } else {
        resolve({ bytes: all, ended });
      }
    };
    const onData = (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      if (size >= n) done(false);
    };
    const onEnd = () => done(true);
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onEnd);
  });
}
