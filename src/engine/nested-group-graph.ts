/**
 * The nesting graph of one indexable relation, with its transitive closure computed on demand.
 * Synchronous and datastore-free: NestedGroupIndex (nested-group-index.ts) feeds it each commit's edges.
 *
 * An edge `g → h` is the relationship `T:g#R@T:h#R` ("h is nested in g"). `descendants(g)` is every
 * node reachable from g over one or more edges (so g itself only when g is on a cycle);
 * `ancestors(h)` is the reverse.
 *
 * Why on demand: a materialised closure costs Σ reach, which a hub makes quadratic (N groups
 * containing "everyone", which contains M teams, is N×M pairs: 9,000 × 9,000 exhausted the heap).
 * The graph itself costs O(edges); a closure set is computed by one traversal when asked for and
 * kept in a byte-bounded LRU (ReachCache) shared by every relation of the index. A traversal that
 * would reach more than `maxReach` nodes gives up (undefined): the engine then evaluates normally.
 *
 * Cache exactness. A cached set is exact for the current edges. When a batch changes edges g → h,
 * desc(a) can change only if a = g or a reached g before the batch (a new path's first new edge starts
 * at a node a reached over old edges; a lost path passed through g), i.e. only if g ∈ {a} ∪ desc(a)
 * as cached. Symmetrically anc(d) changes only if h ∈ {d} ∪ anc(d). Those entries are dropped, the
 * rest stay. Published sets are never mutated, so a set already handed out stays a valid snapshot.
 */

/** Rough V8 costs (bytes), to keep the budget proportional to real heap use. */
const EDGE_BYTES = 80; // a slot in a children set and in a parents set (~37 bytes each, measured)
const NODE_BYTES = 300; // map entries and set objects on both sides, plus the id strings' headers
const SET_BYTES = 64;
const SET_ENTRY_BYTES = 40;
/** Past this much invalidation work in one batch, the relation's cache is simply cleared. */
const MAX_INVALIDATION_WORK = 200_000;

const EMPTY: ReadonlySet<string> = new Set<string>();
/** Cached for a traversal that gave up, so a hot oversized node is not traversed on every request. */
const TOO_LARGE = Symbol('too large');

export interface EdgeChange {
  op: 'add' | 'remove';
  /** The containing group (resource id). */
  parent: string;
  /** The nested group (subject id). */
  child: string;
}

type Direction = 'desc' | 'anc';

interface CacheEntry {
  graph: NestingGraph;
  direction: Direction;
  node: string;
  value: ReadonlySet<string> | typeof TOO_LARGE;
  bytes: number;
}

export interface ReachCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

/** Closure sets of every graph of one index, least recently used first out, within `maxBytes`. */
export class ReachCache {
  /** Map order is recency: a hit moves its entry to the end. */
  private readonly entries = new Map<string, CacheEntry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  put(key: string, entry: CacheEntry): void {
    if (entry.bytes > this.maxBytes) return;
    this.delete(key);
    while (this.bytes + entry.bytes > this.maxBytes) {
      const [oldest, e] = this.entries.entries().next().value as [string, CacheEntry];
      this.delete(oldest);
      e.graph.forget(oldest, e.direction);
      this.evictions++;
    }
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }

  peek(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  stats(): ReachCacheStats {
    return {
      entries: this.entries.size,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }
}

let graphs = 0;

export class NestingGraph {
  /** Direct edges: children.get(g) = { h : g → h }, parents the reverse. */
  private readonly children = new Map<string, Set<string>>();
  private readonly parents = new Map<string, Set<string>>();
  /** Keys of this graph's entries in the shared cache, per direction. */
  private readonly cached: Record<Direction, Set<string>> = { desc: new Set(), anc: new Set() };
  private readonly prefix = `${graphs++}\u0000`;
  private edges = 0;
  private nodeBytes = 0;

  constructor(
    private readonly cache: ReachCache,
    /** A traversal reaching more nodes than this gives up (undefined): bounds the time of one query. */
    private readonly maxReach = 100_000,
  ) {}

  get edgeCount(): number {
    return this.edges;
  }

  /** Estimated heap bytes of the edges (the cache is counted by ReachCache). */
  get bytes(): number {
    return this.edges * EDGE_BYTES + this.nodeBytes;
  }

  hasEdge(parent: string, child: string): boolean {
    return this.children.get(parent)?.has(child) ?? false;
  }

  /** Every node reachable from `id`; undefined when more than maxReach nodes are. Never mutated afterwards. */
  descendants(id: string): ReadonlySet<string> | undefined {
    return this.reach('desc', id);
  }

  /** Every node that reaches `id`; undefined when more than maxReach nodes do. Never mutated afterwards. */
  ancestors(id: string): ReadonlySet<string> | undefined {
    return this.reach('anc', id);
  }

  /** Adds an edge while building (before any query); true if it was new. */
  add(parent: string, child: string): boolean {
    return this.addDirect(parent, child);
  }

  /**
   * Apply one commit's edge changes, in order (a TOUCH of a present edge and a DELETE of an absent
   * one are no-ops). Returns whether the edge set changed.
   */
  applyBatch(changes: Iterable<EdgeChange>): boolean {
    // Net effect per edge: present before the batch vs after it.
    const net = new Map<string, { parent: string; child: string; before: boolean; after: boolean }>();
    for (const c of changes) {
      const key = `${c.parent}\u0000${c.child}`;
      let e = net.get(key);
      if (!e) {
        const before = this.hasEdge(c.parent, c.child);
        e = { parent: c.parent, child: c.child, before, after: before };
        net.set(key, e);
      }
      e.after = c.op === 'add';
    }
    const sources = new Set<string>();
    const targets = new Set<string>();
    for (const e of net.values()) {
      if (e.before === e.after) continue;
      sources.add(e.parent);
      targets.add(e.child);
    }
    if (sources.size === 0) return false;
    // Invalidate against the cached (pre-batch) sets, then change the edges.
    this.invalidate('desc', sources);
    this.invalidate('anc', targets);
    for (const e of net.values()) {
      if (e.before && !e.after) this.removeDirect(e.parent, e.child);
      else if (!e.before && e.after) this.addDirect(e.parent, e.child);
    }
    return true;
  }

  /** Drops this graph's cache entries (the relation is no longer indexed). */
  dispose(): void {
    for (const direction of ['desc', 'anc'] as const) {
      for (const key of this.cached[direction]) this.cache.delete(key);
      this.cached[direction].clear();
    }
  }

  /** Called by the cache when it evicts one of this graph's entries. */
  forget(key: string, direction: Direction): void {
    this.cached[direction].delete(key);
  }

  private reach(direction: Direction, id: string): ReadonlySet<string> | undefined {
    const key = this.prefix + (direction === 'desc' ? 'd' : 'a') + id;
    const hit = this.cache.get(key);
    if (hit) return hit.value === TOO_LARGE ? undefined : hit.value;
    const next = direction === 'desc' ? this.children : this.parents;
    if (!next.has(id)) return EMPTY;
    const seen = traverse(next, id, this.maxReach);
    const value = seen ?? TOO_LARGE;
    this.cache.put(key, {
      graph: this,
      direction,
      node: id,
      value,
      bytes: SET_BYTES + (seen ? seen.size * SET_ENTRY_BYTES : 0) + 2 * key.length,
    });
    if (this.cache.peek(key)) this.cached[direction].add(key);
    return seen;
  }

  /** Drops every cached set of `direction` whose node reached (desc) or was reached from (anc) one of `ends`. */
  private invalidate(direction: Direction, ends: ReadonlySet<string>): void {
    const keys = this.cached[direction];
    if (keys.size === 0) return;
    let work = 0;
    const stale: string[] = [];
    for (const key of keys) {
      const e = this.cache.peek(key);
      if (!e) continue;
      let affected = ends.has(e.node) || e.value === TOO_LARGE;
      if (!affected) {
        const set = e.value as ReadonlySet<string>;
        if (set.size < ends.size) {
          for (const x of set)
            if (ends.has(x)) {
              affected = true;
              break;
            }
          work += set.size;
        } else {
          for (const x of ends)
            if (set.has(x)) {
              affected = true;
              break;
            }
          work += ends.size;
        }
      }
      if (affected) stale.push(key);
      if (work > MAX_INVALIDATION_WORK) {
        // Cheaper to recompute on demand than to keep checking.
        for (const k of keys) this.cache.delete(k);
        keys.clear();
        return;
      }
    }
    for (const key of stale) {
      this.cache.delete(key);
      keys.delete(key);
    }
  }

  private addDirect(g: string, h: string): boolean {
    if (this.children.get(g)?.has(h)) return false;
    const fresh = (this.present(g) ? 0 : nodeBytes(g)) + (h === g || this.present(h) ? 0 : nodeBytes(h));
    let cs = this.children.get(g);
    if (!cs) this.children.set(g, (cs = new Set()));
    cs.add(h);
    let ps = this.parents.get(h);
    if (!ps) this.parents.set(h, (ps = new Set()));
    ps.add(g);
    this.edges++;
    this.nodeBytes += fresh;
    return true;
  }

  private removeDirect(g: string, h: string): void {
    const cs = this.children.get(g);
    if (!cs?.delete(h)) return;
    if (cs.size === 0) this.children.delete(g);
    const ps = this.parents.get(h)!;
    ps.delete(g);
    if (ps.size === 0) this.parents.delete(h);
    this.edges--;
    if (!this.present(g)) this.nodeBytes -= nodeBytes(g);
    if (h !== g && !this.present(h)) this.nodeBytes -= nodeBytes(h);
  }

  private present(x: string): boolean {
    return this.children.has(x) || this.parents.has(x);
  }
}

function nodeBytes(id: string): number {
  return NODE_BYTES + 2 * id.length;
}

/** Every node reachable from `start` over `next` (start itself only on a cycle); undefined past `limit`. */
function traverse(next: Map<string, Set<string>>, start: string, limit: number): Set<string> | undefined {
  const seen = new Set<string>();
  const stack: string[] = [start];
  while (stack.length > 0) {
    const xs = next.get(stack.pop()!);
    if (!xs) continue;
    for (const x of xs) {
      if (seen.has(x)) continue;
      seen.add(x);
      if (seen.size > limit) return undefined;
      stack.push(x);
    }
  }
  return seen;
}
