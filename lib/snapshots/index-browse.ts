/**
 * The snapshot browser's answers from a snapshot index: a folder's page, what a path is, the
 * sizes of a diff's changes. Each opens the index, reads only the folders it needs and closes
 * it; a damaged index found on the way is discarded and `undefined` answered, so the caller
 * asks restic as if there were none (and builds it again).
 */
import { IndexCorrupt, type IndexEntry, type IndexReader, type IndexWriter } from "./index-file";
import type { SnapshotIndexes } from "./index-store";
import { parentOf, baseName } from "./validate";

/** Reads with the index of `snap`; undefined: there is none, or it was found damaged. */
export async function withIndex<T>(idx: SnapshotIndexes, repo: string, snap: string, read: (r: IndexReader) => Promise<T>): Promise<T | undefined> {
  const r = await idx.open(repo, snap);
  if (!r) return undefined;
  try {
    return await read(r);
  } catch (err) {
    if (!(err instanceof IndexCorrupt)) throw err;
    await idx.discard(repo, r.meta.snapshot);
    return undefined;
  } finally {
    await r.close();
  }
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function kindOf(o: Record<string, unknown>): string | null {
  // restic >= 0.17 says message_type (and still struct_type); older ones struct_type only.
  return str(o.message_type) ?? str(o.struct_type);
}

/**
 * One object of `restic ls --json <snap>` into the writer; answers the snapshot's id when the
 * object is the snapshot (restic's first line), undefined otherwise.
 */
export function feed(w: IndexWriter, o: Record<string, unknown>): string | undefined {
  const kind = kindOf(o);
  if (kind === "snapshot") return str(o.id) ?? undefined;
  if (kind !== "node") return undefined;
  const path = str(o.path);
  if (!path) return undefined;
  const t = typeof o.mtime === "string" ? Date.parse(o.mtime) : NaN;
  w.add(path, {
    name: str(o.name) ?? baseName(path),
    type: str(o.type) ?? "file",
    size: num(o.size),
    mtime: Number.isFinite(t) ? t : null,
    mode: num(o.mode),
    permissions: str(o.permissions),
  });
  return undefined;
}

/** Sizes of a diff's tracked changes in both snapshots, from their indexes: false when one has none. */
export async function sizesFromIndexes(
  idx: SnapshotIndexes, repo: string, from: string, to: string,
  tracked: Map<string, { type: string; sizeBefore: number | null; sizeAfter: number | null }>,
): Promise<boolean> {
  const byDir = new Map<string, string[]>();
  for (const path of tracked.keys()) {
    const d = parentOf(path);
    const names = byDir.get(d);
    if (names) names.push(path); else byDir.set(d, [path]);
  }
  const side = (snap: string, before: boolean) => withIndex(idx, repo, snap, async (r) => {
    for (const [dir, paths] of byDir) {
      const page = await r.list(dir);
      if (!page) continue;
      const sizes = new Map<string, IndexEntry>();
      for (const e of page.entries) sizes.set(e.name, e);
      for (const path of paths) {
        const e = sizes.get(baseName(path));
        if (!e || e.type !== "file") continue;
        const c = tracked.get(path)!;
        if (before) c.sizeBefore = e.size ?? 0; else c.sizeAfter = e.size ?? 0;
      }
    }
    return true;
  });
  if (!(await idx.lookup(repo, from)) || !(await idx.lookup(repo, to))) return false;
  const [a, b] = await Promise.all([side(from, true), side(to, false)]);
  return a === true && b === true;
}
