export {
  SnapshotBrowser, looksLikeText, repoKey, backgroundPlan,
  type SnapshotInfo, type Entry, type LsResult, type Change, type ChangeKind, type DiffResult,
  type RestoreRequest, type RestoreSummary, type DownloadStream, type BrowserOptions,
} from "./browser";
export { SnapshotError, snapshotId, snapshotPath, targetPath, literalPattern, parentOf, baseName, within } from "./validate";
export { LruCache, type CacheStats, type Cost } from "./cache";
export { readNdjson, startRestic, Slots, type Exit, type ResticProcess } from "./runner";
export { resticFailure } from "./errors";
export { SnapshotIndexes, DEFAULT_INDEX_MB, type IndexStoreOptions } from "./index-store";
export { IndexReader, IndexWriter, IndexCorrupt, type IndexEntry, type IndexMeta } from "./index-file";
export { restoreBounds, checkRestoreTarget, type RestoreBounds, type RestoreSettings } from "./roots";
