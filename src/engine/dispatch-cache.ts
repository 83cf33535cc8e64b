/**
 * A least-recently-used map bounded by an estimate of the bytes it holds, for sub-problem answers
 * shared across requests. Keys name a revision, so an entry never goes stale: it is only evicted.
 */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
}

/** Per-entry overhead on V8 beyond the key's characters (Map slot, boxed value), measured roughly. */
const ENTRY_OVERHEAD_BYTES = 96;

export class DispatchCache<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private bytes = 0;
  private readonly counts = { hits: 0, misses: 0, evictions: 0 };

  /** `maxBytes` 0 disables the cache. */
  constructor(readonly maxBytes: number, private readonly sizeOf: (value: V) => number = () => 16) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    // Re-insert so Map order (oldest first) is recency order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    const bytes = key.length * 2 + this.sizeOf(value) + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.bytes;
      this.entries.delete(key);
    }
    this.entries.set(key, { value, bytes });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes) {
      const [oldest, entry] = this.entries.entries().next().value as [string, { bytes: number }];
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
      this.counts.evictions++;
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): CacheStats {
    return { ...this.counts, entries: this.entries.size, bytes: this.bytes };
  }
}
