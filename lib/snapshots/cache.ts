/**
 * A least-recently-used cache bounded by cost (directory entries and an estimate of bytes), so
 * browsing any number of snapshots holds at most a fixed amount of memory. A Map keeps
 * insertion order: re-inserting on every hit makes the first key the least recently used.
 */
export interface Cost { entries: number; bytes: number }

export interface CacheStats { items: number; entries: number; bytes: number; hits: number; misses: number; evictions: number }

export class LruCache<V> {
  private readonly map = new Map<string, { value: V; cost: Cost }>();
  private entries = 0;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly maxEntries: number, readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const hit = this.map.get(key);
    if (!hit) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, hit);
    return hit.value;
  }

  /** Looks without counting or refreshing. */
  peek(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /** Stores `value`; one that alone exceeds a bound is not kept (and evicts nothing). */
  set(key: string, value: V, cost: Cost): boolean {
    this.delete(key);
    if (cost.entries > this.maxEntries || cost.bytes > this.maxBytes) return false;
    this.map.set(key, { value, cost });
    this.entries += cost.entries;
    this.bytes += cost.bytes;
    for (const [k, v] of this.map) {
      if (this.entries <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.entries -= v.cost.entries;
      this.bytes -= v.cost.bytes;
      this.evictions++;
    }
    return true;
  }

  delete(key: string): void {
    const old = this.map.get(key);
    if (!old) return;
    this.map.delete(key);
    this.entries -= old.cost.entries;
    this.bytes -= old.cost.bytes;
  }

  deleteWhere(pred: (key: string) => boolean): number {
    let n = 0;
    for (const k of [...this.map.keys()]) {
      if (pred(k)) {
        this.delete(k);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.map.clear();
    this.entries = 0;
    this.bytes = 0;
  }

  stats(): CacheStats {
    return { items: this.map.size, entries: this.entries, bytes: this.bytes, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }
}
