/**
 * The sorted candidates of a paged LookupResources, kept for its following pages. Finding them walks
 * everything the subject reaches (a second or more on a hundred thousand resources), while a page of
 * a few results needs only its slice of them. Keys name the revision (the cursor pins it) and the
 * request, so an entry never goes stale; it is only evicted, least recently used first, beyond a
 * budget of bytes. A page whose entry was evicted (or was served by another process) walks again.
 */

/** Per entry beyond its ids: the key, the array, the Map slot. */
const ENTRY_OVERHEAD_BYTES = 128;
/** Per id: its characters are counted separately; this is the array slot and string header. */
const ID_OVERHEAD_BYTES = 24;

export const DEFAULT_CANDIDATE_CACHE_BYTES = 32 * 1024 * 1024;

export class CandidateCache {
  private readonly entries = new Map<string, { ids: readonly string[]; bytes: number }>();
  private bytes = 0;

  constructor(private readonly maxBytes = DEFAULT_CANDIDATE_CACHE_BYTES) {}

  get(key: string): readonly string[] | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    // Re-insert so Map order (oldest first) is recency order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.ids;
  }

  set(key: string, ids: readonly string[]): void {
    let bytes = ENTRY_OVERHEAD_BYTES + key.length * 2;
    for (const id of ids) bytes += ID_OVERHEAD_BYTES + id.length * 2;
    if (bytes > this.maxBytes || this.entries.has(key)) return;
    this.entries.set(key, { ids, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }
}
