/**
 * The listing side of the snapshot browser: the repository's snapshots, and one directory level
 * of a snapshot at a time, kept in an LRU cache bounded by entries and bytes (snapshots never
 * change, so a cached listing never goes stale; it is dropped when its snapshot disappears),
 * with sub-folders prefetched in one background restic run. Where a snapshot has an index
 * (index-*.ts) it is the listing's first source: `ls` and `stat` ask it before the cache and
 * restic, and the first browse of a snapshot builds it in the background.
 */
import type { EffectiveProfile } from "../profile/resolve";
import { LruCache, type CacheStats } from "./cache";
import { startRestic } from "./runner";
import { resticFailure, ignoredSnapshot } from "./errors";
import type { SnapshotIndexes } from "./index-store";
import type { IndexMeta } from "./index-file";
import { withIndex, feed } from "./index-browse";
import { SnapshotError, snapshotId, snapshotPath, parentOf, baseName } from "./validate";
import { ResticAccess, repoKey, num, str, time, kindOf } from "./access";

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

/** A prefetch covers at most this many sub-folders, named in at most this many argument bytes. */
const MAX_PREFETCH_DIRS = 256;
const MAX_PREFETCH_ARG_BYTES = 96 * 1024;

function stored(o: Record<string, unknown>): Stored {
  return { name: String(o.name ?? ""), type: String(o.type ?? "file"), size: num(o.size), mtime: time(o.mtime), permissions: str(o.permissions) };
}

export function entryOf(dir: string, s: Stored): Entry {
  return { name: s.name, type: s.type, path: dir === "/" ? `/${s.name}` : `${dir}/${s.name}`, size: s.size, mtime: s.mtime, permissions: s.permissions };
}

function costOf(l: Listing): { entries: number; bytes: number } {
  let bytes = 160;
  for (const e of l.entries) bytes += 2 * e.name.length + 120;
  return { entries: l.entries.length + 1, bytes };
}

const ROOT: Stored = { name: "", type: "dir", size: null, mtime: null, permissions: null };

export interface ListingOptions {
  cacheEntries?: number;
  cacheBytes?: number;
  maxListing?: number;
  prefetch?: boolean;
  maxPrefetchEntries?: number;
}

export class Listings {
  private readonly cache: LruCache<Listing>;
  private readonly inflight = new Map<string, Promise<Listing>>();
  private readonly prefetching = new Set<Promise<void>>();
  /** Prefetched folders someone has asked for while the prefetch ran. */
  private readonly waiting = new Set<string>();
  readonly prefetch: boolean;
  readonly maxPrefetchEntries: number;
  readonly maxListing: number;

  constructor(private readonly r: ResticAccess, opts: ListingOptions = {}) {
    this.cache = new LruCache(opts.cacheEntries ?? 200_000, opts.cacheBytes ?? 48 * 1024 * 1024);
    this.maxListing = opts.maxListing ?? 20_000;
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
  }

  async snapshots(p: EffectiveProfile, idx?: SnapshotIndexes): Promise<SnapshotInfo[]> {
    const plan = this.r.plan(p, "snapshots", ["--json"]);
    const ctx = { profile: p.name, action: "list the snapshots" };
    const text = await this.r.slots.run(async () => {
      const proc = startRestic(plan, { timeoutMs: this.r.timeoutMs });
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
    const repo = repoKey(p);
    const gone = (snap: string) => !out.some((s) => s.id.startsWith(snap));
    this.cache.deleteWhere((k) => k.startsWith(`${repo}\0`) && gone(k.split("\0")[1] ?? ""));
    if (idx) {
      // Indexes of forgotten snapshots go with them.
      await idx.prune(repo, out.map((s) => s.id));
      const have = await idx.indexed(repo);
      for (const s of out) s.indexed = have.has(s.id);
    }
    return out;
  }

  listing(p: EffectiveProfile, snap: string, dir: string, prefetch = false): { promise: Promise<Listing>; cached: boolean } {
    const key = `${repoKey(p)}\0${snap}\0${dir}`;
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
    const repo = repoKey(p);
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
      await this.r.ndjson(p, "ls", ["--json", "--", snap, ...subs], { profile: p.name, action: `list the folders of ${dir}`, snapshot: snap }, (o) => {
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

  cachedListing(p: EffectiveProfile, snap: string, dir: string): Listing | undefined {
    return this.cache.peek(`${repoKey(p)}\0${snap}\0${dir}`);
  }

  /**
   * `restic ls --json <snap> <dir>`: the directory itself, then its children. restic walks no
   * deeper than that; anything deeper (another version's habit) is dropped unread.
   */
  private async readListing(p: EffectiveProfile, snap: string, dir: string): Promise<Listing> {
    const l: Listing = { id: null, self: dir === "/" ? ROOT : null, entries: [], total: 0 };
    const max = this.maxListing;
    const exit = await this.r.ndjson(p, "ls", ["--json", "--", snap, dir], { profile: p.name, action: `list ${dir}`, snapshot: snap }, (o) => {
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
    if (idx && !idx.isBuilding(repoKey(p), l.id ?? snap)) void this.index(p, l.id ?? snap, idx);
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
    return withIndex(idx, repoKey(p), snap, async (r) => {
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
    return idx.build(repoKey(p), snap, async (w) => {
      let id: string | undefined;
      const exit = await this.r.ndjson(p, "ls", ["--json", "--", snap], { profile: p.name, action: "index the snapshot", snapshot: snap }, (o) => {
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
      const known = await withIndex(idx, repoKey(p), snap, async (r) => {
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
}
