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
import type { EffectiveProfile } from "../profile/resolve";
import type { CacheStats } from "./cache";
import type { SnapshotIndexes } from "./index-store";
import type { IndexMeta } from "./index-file";
import { ResticAccess, repoKey } from "./access";
import { Listings, type SnapshotInfo, type Entry, type LsResult } from "./listing";
import { Diffs, type DiffResult } from "./diff";
import { Archives, type DownloadStream } from "./archive";
import { Restores, type RestoreRequest, type RestoreSummary } from "./restore";

export { repoKey, backgroundPlan } from "./access";
export { looksLikeText, type DownloadStream } from "./archive";
export type { SnapshotInfo, Entry, LsResult } from "./listing";
export type { Change, ChangeKind, DiffResult } from "./diff";
export type { RestoreRequest, RestoreSummary } from "./restore";

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

/**
 * The browser's one face: each concept lives in a module of its own (listing.ts: snapshots,
 * listings, cache, prefetch, the index as first source; diff.ts; archive.ts; restore.ts), all
 * reaching restic through access.ts. This joins them and owns what spans them: a snapshot gone
 * from the repository takes its listings and diffs with it.
 */
export class SnapshotBrowser {
  private readonly restic: ResticAccess;
  private readonly listings: Listings;
  private readonly diffs: Diffs;
  private readonly archives: Archives;
  private readonly restores: Restores;
  readonly prefetch: boolean;
  readonly maxPrefetchEntries: number;
  readonly maxListing: number;
  readonly maxChanges: number;
  readonly timeoutMs: number;

  constructor(opts: BrowserOptions = {}) {
    this.restic = new ResticAccess(opts.concurrency ?? 4, opts.timeoutMs ?? 5 * 60_000);
    this.listings = new Listings(this.restic, opts);
    this.diffs = new Diffs(this.restic, opts);
    this.archives = new Archives(this.restic, this.listings);
    this.restores = new Restores(this.restic);
    this.maxListing = this.listings.maxListing;
    this.maxChanges = this.diffs.maxChanges;
    this.timeoutMs = this.restic.timeoutMs;
    this.prefetch = this.listings.prefetch;
    this.maxPrefetchEntries = this.listings.maxPrefetchEntries;
  }

  /** Resolves when no background prefetch is running (tests and benchmarks wait for it). */
  settled(): Promise<void> {
    return this.listings.settled();
  }

  cacheStats(): CacheStats {
    return this.listings.cacheStats();
  }

  clearCache(): void {
    this.listings.clearCache();
    this.diffs.clearCache();
  }

  async snapshots(p: EffectiveProfile, idx?: SnapshotIndexes): Promise<SnapshotInfo[]> {
    const out = await this.listings.snapshots(p, idx);
    this.diffs.forgetGone(repoKey(p), (snap) => !out.some((s) => s.id.startsWith(snap)));
    return out;
  }

  /** One level of `dir` in snapshot `snap`, `limit` entries from `offset`. */
  ls(p: EffectiveProfile, snapIn: unknown, dirIn: unknown, page: { offset?: number; limit?: number } = {}, idx?: SnapshotIndexes): Promise<LsResult> {
    return this.listings.ls(p, snapIn, dirIn, page, idx);
  }

  index(p: EffectiveProfile, snapIn: unknown, idx: SnapshotIndexes): Promise<IndexMeta | null> {
    return this.listings.index(p, snapIn, idx);
  }

  stat(p: EffectiveProfile, snapIn: unknown, pathIn: unknown, idx?: SnapshotIndexes): Promise<Entry & { snapshot: string }> {
    return this.listings.stat(p, snapIn, pathIn, idx);
  }

  open(p: EffectiveProfile, snapIn: unknown, pathIn: unknown, idx?: SnapshotIndexes): Promise<DownloadStream> {
    return this.archives.open(p, snapIn, pathIn, idx);
  }

  diff(p: EffectiveProfile, fromIn: unknown, toIn: unknown, opts: { path?: unknown; limit?: number; index?: SnapshotIndexes } = {}): Promise<DiffResult> {
    return this.diffs.diff(p, fromIn, toIn, opts);
  }

  restore(p: EffectiveProfile, req: RestoreRequest): Promise<RestoreSummary> {
    return this.restores.restore(p, req);
  }
}
