/**
 * What changed between two snapshots, with sizes, sorted by growth: restic's diff names the
 * changes, their sizes come from the snapshots' indexes or from `ls` of the changed folders.
 * At most `maxChanges` changes are tracked; results are kept in an LRU cache.
 */
import type { EffectiveProfile } from "../profile/resolve";
import { atLeast } from "../engines/restic";
import { LruCache } from "./cache";
import type { SnapshotIndexes } from "./index-store";
import { sizesFromIndexes } from "./index-browse";
import { snapshotId, snapshotPath, parentOf, within } from "./validate";
import { ResticAccess, repoKey, num, str, kindOf } from "./access";

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

/** Beyond this many folders (or this many bytes of them), a diff's sizes come from one recursive listing. */
const MAX_DIFF_DIRS = 2000;
const MAX_DIFF_ARG_BYTES = 96 * 1024;

const KINDS: Record<string, ChangeKind> = { "+": "added", "-": "removed", M: "modified", T: "type", U: "metadata" };

export class Diffs {
  private readonly diffs: LruCache<Omit<DiffResult, "changes"> & { all: Change[] }>;
  readonly maxChanges: number;

  constructor(private readonly r: ResticAccess, opts: { maxChanges?: number } = {}) {
    this.diffs = new LruCache(opts.maxChanges ? opts.maxChanges * 4 : 80_000, 32 * 1024 * 1024);
    this.maxChanges = opts.maxChanges ?? 20_000;
  }

  clearCache(): void {
    this.diffs.clear();
  }

  /** Diffs that name a snapshot no longer in the repository go. */
  forgetGone(repo: string, gone: (snap: string) => boolean): void {
    this.diffs.deleteWhere((k) => {
      const [r, from, to] = k.split("\0");
      return r === repo && (gone(from ?? "") || gone(to ?? ""));
    });
  }

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
    const key = `${repoKey(p)}\0${from}\0${to}\0${scope}`;
    let d = this.diffs.get(key);
    if (!d) {
      d = await this.computeDiff(p, from, to, scope, opts.index);
      this.diffs.set(key, d, { entries: d.all.length + 1, bytes: d.all.reduce((n, c) => n + 2 * c.path.length + 100, 200) });
    }
    const { all, ...rest } = d;
    return { ...rest, changes: all.slice(0, limit) };
  }

  private async computeDiff(p: EffectiveProfile, from: string, to: string, scope: string, idx?: SnapshotIndexes): Promise<Omit<DiffResult, "changes"> & { all: Change[] }> {
    const version = await this.r.version(p);
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
      await this.r.ndjson(p, "diff", ["--json", "--", from, to], ctx, (o) => {
        const kind = str(o.message_type);
        if (kind === "change" && typeof o.path === "string") add(String(o.modifier ?? "?").trim(), o.path);
        else if (kind === "statistics") statistics = o;
      });
    } else {
      await this.r.text(p, "diff", ["--", from, to], ctx, (line) => {
        const m = /^([+\-MTU?]) {4}(\/.*)$/.exec(line);
        if (m) add(m[1]!, m[2]!);
      });
    }
    // Sizes from the two snapshots' indexes when both have one, else from restic ls.
    if (tracked.size && !(idx && await sizesFromIndexes(idx, repoKey(p), from, to, tracked))) await this.diffSizes(p, from, to, scope, tracked);
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
    const side = (snap: string, before: boolean) => this.r.ndjson(p, "ls", ["--json", ...(oneLevel ? [] : ["--recursive"]), "--", snap, ...args],
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
}
