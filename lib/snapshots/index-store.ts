/**
 * The snapshot indexes of one storage folder: `<home>/snapshot-index/<repository key>/<id>.hbx`.
 * Snapshots never change, so an index never goes stale; it goes when its snapshot is gone from
 * the repository (`prune`, from each listing of the snapshots), when the folder grows past its
 * bound (the least recently used go first), or when it is found damaged (then rebuilt).
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ensureDir } from "../util/fsx";
import { IndexReader, IndexWriter, IndexCorrupt, type IndexMeta } from "./index-file";
import { Slots } from "./runner";

const MB = 1024 * 1024;
export const DEFAULT_INDEX_MB = 2048;
const FULL_ID = /^[0-9a-f]{64}$/;
const HEX = /^[0-9a-f]{1,64}$/;
/** A used index's time is refreshed at most this often (it orders the evictions). */
const TOUCH_MS = 60_000;

export interface IndexStoreOptions {
  /** Bound of the folder, in MiB (settings.highball.snapshotIndexMB). */
  maxMB?: number;
  /** Entries per chunk (tests make it small to cover many-chunk folders). */
  chunk?: number;
}

/** Feeds a writer: runs `restic ls` and hands each node over; answers the snapshot's full id. */
export type IndexSource = (writer: IndexWriter) => Promise<string>;

export class SnapshotIndexes {
  private static readonly stores = new Map<string, SnapshotIndexes>();
  readonly dir: string;
  maxBytes: number;
  readonly chunk: number | undefined;
  /** Full ids of the indexes on disk, per repository key (read once from the folder). */
  private readonly known = new Map<string, Set<string>>();
  private readonly building = new Map<string, Promise<IndexMeta | null>>();
  /** Snapshots (repo/id as asked and in full) whose index alone was over the bound, not built again. */
  private readonly tooBig = new Set<string>();
  private readonly touched = new Map<string, number>();
  /** One index is built at a time: it reads a whole snapshot. */
  private readonly slots = new Slots(1);
  /** Failures of background builds, newest last (for the log and tests). */
  readonly failures: { snapshot: string; error: string }[] = [];

  constructor(home: string, opts: IndexStoreOptions = {}) {
    this.dir = join(home, "snapshot-index");
    this.maxBytes = boundOf(opts.maxMB);
    this.chunk = opts.chunk;
  }

  /** The store of a storage folder (one per folder and process). */
  static at(home: string, opts: IndexStoreOptions = {}): SnapshotIndexes {
    let s = SnapshotIndexes.stores.get(home);
    if (!s) SnapshotIndexes.stores.set(home, s = new SnapshotIndexes(home, opts));
    else if (opts.maxMB !== undefined) s.maxBytes = boundOf(opts.maxMB);
    return s;
  }

  private file(repo: string, id: string): string {
    return join(this.dir, repo, `${id}.hbx`);
  }

  private async ids(repo: string): Promise<Set<string>> {
    let set = this.known.get(repo);
    if (!set) {
      set = new Set();
      try {
        for (const f of await fsp.readdir(join(this.dir, repo))) {
          const m = /^([0-9a-f]{64})\.hbx$/.exec(f);
          if (m) set.add(m[1]!);
        }
      } catch { /* no index of this repository yet */ }
      this.known.set(repo, set);
    }
    return set;
  }

  /** The full id of the indexed snapshot that `snap` (an id or a unique prefix) names, or null. */
  async lookup(repo: string, snap: string): Promise<string | null> {
    if (!HEX.test(snap)) return null;
    const set = await this.ids(repo);
    if (set.has(snap)) return snap;
    let found: string | null = null;
    for (const id of set) {
      if (!id.startsWith(snap)) continue;
      if (found) return null; // ambiguous here: restic will say so
      found = id;
    }
    return found;
  }

  async indexed(repo: string): Promise<Set<string>> {
    return new Set(await this.ids(repo));
  }

  /**
   * The index of `snap`, open (close it when done), or null when there is none. A damaged one
   * is removed and null answered: the caller asks restic and may build it again.
   */
  async open(repo: string, snap: string): Promise<IndexReader | null> {
    const id = await this.lookup(repo, snap);
    if (!id) return null;
    const file = this.file(repo, id);
    try {
      const r = await IndexReader.open(file);
      if (r.meta.snapshot !== id) {
        await r.close();
        throw new IndexCorrupt("it belongs to another snapshot");
      }
      this.touch(file);
      return r;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        this.known.get(repo)?.delete(id);
        return null;
      }
      await this.discard(repo, id);
      if (err instanceof IndexCorrupt) return null;
      throw err;
    }
  }

  /** Reading a damaged index failed midway: it goes, so it is never served again. */
  async discard(repo: string, id: string): Promise<void> {
    this.known.get(repo)?.delete(id);
    await fsp.rm(this.file(repo, id), { force: true }).catch(() => undefined);
  }

  private touch(file: string): void {
    const now = Date.now();
    if ((this.touched.get(file) ?? 0) > now - TOUCH_MS) return;
    this.touched.set(file, now);
    const t = new Date(now);
    void fsp.utimes(file, t, t).catch(() => undefined);
  }

  /** Whether an index of `snap` is being built now. */
  isBuilding(repo: string, snap: string): boolean {
    for (const k of this.building.keys()) if (k.startsWith(`${repo}/`) && k.slice(repo.length + 1).startsWith(snap)) return true;
    return false;
  }

  /**
   * Builds the index of `snap` (once: a second call while it is built waits for the first).
   * Resolves with its description, or null when restic could not list the snapshot (kept in
   * `failures`); never rejects.
   */
  build(repo: string, snap: string, source: IndexSource): Promise<IndexMeta | null> {
    const key = `${repo}/${snap}`;
    // Indexing is off (snapshotIndexMB 0), or this snapshot's index alone is over the bound:
    // listing it with restic again would only be thrown away again.
    if (this.maxBytes === 0 || this.tooBig.has(key)) return Promise.resolve(null);
    let b = this.building.get(key);
    if (b) return b;
    b = this.slots.run(async () => {
      if (await this.lookup(repo, snap)) return null; // built meanwhile under its full id
      await ensureDir(join(this.dir, repo));
      const tmp = join(this.dir, repo, `.${randomBytes(6).toString("hex")}.tmp`);
      const writer = await IndexWriter.create(tmp, { chunk: this.chunk });
      try {
        const id = await source(writer);
        if (!FULL_ID.test(id)) throw new Error("restic did not name the snapshot it listed");
        const meta = await writer.finish(id);
        await fsp.rename(tmp, this.file(repo, id));
        (await this.ids(repo)).add(id);
        if (!(await this.bound(this.file(repo, id)))) {
          this.tooBig.add(key).add(`${repo}/${id}`);
          return null;
        }
        return meta;
      } catch (err) {
        await writer.abort();
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
        this.failures.push({ snapshot: snap, error: (err as Error).message });
        if (this.failures.length > 20) this.failures.shift();
        return null;
      }
    }).finally(() => this.building.delete(key));
    this.building.set(key, b);
    return b;
  }

  /** Removes the indexes of snapshots of `repo` that are no longer in `existing` (full ids). */
  async prune(repo: string, existing: Iterable<string>): Promise<number> {
    const keep = new Set(existing);
    let n = 0;
    for (const id of [...await this.ids(repo)]) {
      if (keep.has(id)) continue;
      await this.discard(repo, id);
      n++;
    }
    return n;
  }

  /**
   * Keeps the folder within its bound: least recently used first, never `fresh` unless it alone
   * is too big; false when it had to go too.
   */
  private async bound(fresh: string): Promise<boolean> {
    const files: { file: string; repo: string; id: string; size: number; used: number }[] = [];
    let total = 0;
    for (const repo of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      for (const f of await fsp.readdir(join(this.dir, repo)).catch(() => [] as string[])) {
        const m = /^([0-9a-f]{64})\.hbx$/.exec(f);
        if (!m) continue;
        const file = join(this.dir, repo, f);
        const st = await fsp.stat(file).catch(() => null);
        if (!st) continue;
        files.push({ file, repo, id: m[1]!, size: st.size, used: st.mtimeMs });
        total += st.size;
      }
    }
    if (total <= this.maxBytes) return true;
    files.sort((a, b) => (a.file === fresh ? 1 : 0) - (b.file === fresh ? 1 : 0) || a.used - b.used);
    let kept = true;
    for (const f of files) {
      if (total <= this.maxBytes) break;
      await this.discard(f.repo, f.id);
      total -= f.size;
      if (f.file === fresh) kept = false;
    }
    return kept;
  }

  /** Bytes the folder holds now. */
  async size(): Promise<number> {
    let total = 0;
    for (const repo of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      for (const f of await fsp.readdir(join(this.dir, repo)).catch(() => [] as string[])) {
        if (f.endsWith(".hbx")) total += (await fsp.stat(join(this.dir, repo, f)).catch(() => ({ size: 0 }))).size;
      }
    }
    return total;
  }

  /** Resolves when no index is being built. */
  async settled(): Promise<void> {
    while (this.building.size) await Promise.all([...this.building.values()]);
  }
}

function boundOf(mb: number | undefined): number {
  const v = typeof mb === "number" && Number.isFinite(mb) ? mb : DEFAULT_INDEX_MB;
  return Math.max(0, Math.min(v, 1024 * 1024)) * MB;
}
