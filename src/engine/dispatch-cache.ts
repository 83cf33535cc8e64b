/**
 * A least-recently-used map bounded by an estimate of the bytes it holds, for sub-problem answers
 * shared across requests. Keys name a revision, so an entry never goes stale: it is only evicted.
 *
 * Admission is by a doorkeeper (as in TinyLFU, which SpiceDB's Ristretto cache uses): a key is stored
 * the second time it is offered. Most sub-problems of random traffic are never asked again; storing
 * them would only churn the map and make every young-generation GC copy them (a pause of several ms).
 * The doorkeeper is a Bloom filter over key hashes in one typed array, so it retains no objects.
 */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Answers not stored because their key was offered for the first time. */
  refused: number;
  entries: number;
  bytes: number;
}

/** Per-entry overhead on V8 beyond the key's characters (Map slot, boxed value), measured roughly. */
const ENTRY_OVERHEAD_BYTES = 96;

/** 2^22 bits (512 KiB); reset after this many keys, keeping false positives around 1%. */
const DOORKEEPER_BITS = 1 << 22;
const DOORKEEPER_KEYS = DOORKEEPER_BITS / 10;

export class DispatchCache<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private bytes = 0;
  private readonly counts = { hits: 0, misses: 0, evictions: 0, refused: 0 };
  private doorkeeper: Uint32Array | undefined;
  private offered = 0;

  /** `maxBytes` 0 disables the cache. */
  constructor(
    readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number = () => 16,
  ) {}

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

  /** Offers an answer; it is stored if this key was offered before (see the doorkeeper above). */
  set(key: string, value: V): void {
    const bytes = key.length * 2 + this.sizeOf(value) + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxBytes) return;
    if (!this.entries.has(key) && this.firstOffer(key)) {
      this.counts.refused++;
      return;
    }
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

  /** Records `key` in the doorkeeper; true if it was not there yet. */
  private firstOffer(key: string): boolean {
    this.doorkeeper ??= new Uint32Array(DOORKEEPER_BITS / 32);
    if (++this.offered > DOORKEEPER_KEYS) {
      this.doorkeeper.fill(0);
      this.offered = 1;
    }
    // Two FNV-1a variants over the UTF-16 code units: independent enough for two Bloom probes.
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
    }
    const a = this.mark((h1 >>> 0) % DOORKEEPER_BITS);
    const b = this.mark((h2 >>> 0) % DOORKEEPER_BITS);
    return a || b;
  }

  /** Sets one doorkeeper bit; true if it was clear. */
  private mark(bit: number): boolean {
    const door = this.doorkeeper!;
    const mask = 1 << (bit & 31);
    if ((door[bit >>> 5] & mask) !== 0) return false;
    door[bit >>> 5] |= mask;
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): CacheStats {
    return { ...this.counts, entries: this.entries.size, bytes: this.bytes };
  }
}
