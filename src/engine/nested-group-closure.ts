/**
 * The nesting graph of one indexable relation and its transitive closure in both directions, kept
 * exact under edge insertions and deletions. Synchronous and datastore-free: NestedGroupIndex
 * (nested-group-index.ts) feeds it the edges of each commit.
 *
 * An edge `g → h` is the relationship `T:g#R@T:h#R` ("h is nested in g"). `descendants(g)` is every
 * node reachable from g over one or more edges (so g itself only when g is on a cycle);
 * `ancestors(h)` is the reverse.
 *
 * Published sets are immutable: a set handed out by descendants()/ancestors() is never changed
 * afterwards. Maintenance is copy-on-write per batch — the first change to a set within a batch
 * replaces it with a copy, further changes in the same batch mutate that copy (no caller can hold it
 * yet, since a batch runs synchronously).
 *
 * Costs (n nodes, reach = size of a closure set):
 *  - build: one traversal per node, O(Σ reach(a) · out-degree) — output-sensitive.
 *  - add g→h: O(|{g} ∪ anc(g)| · |{h} ∪ desc(h)|) set probes, adding only missing pairs.
 *  - delete (a batch of edges): every a in {g} ∪ anc(g) over the deleted edges' g ("sources") is
 *    recomputed by a traversal that expands only through sources; a node outside the sources
 *    cannot reach a deleted edge, so its (unchanged) closure is copied in without expanding it.
 */

const EMPTY: ReadonlySet<string> = new Set<string>();

export interface EdgeChange {
  op: 'add' | 'remove';
  /** The containing group (resource id). */
  parent: string;
  /** The nested group (subject id). */
  child: string;
}

export class NestingClosure {
  /** Direct edges: children.get(g) = { h : g → h }, parents the reverse. */
  private readonly children = new Map<string, Set<string>>();
  private readonly parents = new Map<string, Set<string>>();
  private readonly desc = new Map<string, Set<string>>();
  private readonly anc = new Map<string, Set<string>>();
  /** Sets created during the batch in progress (not yet published, so mutable in place). */
  private readonly fresh = new Set<Set<string>>();
  private edges = 0;

  /** A closure over `edges` (duplicates ignored), computed from scratch. */
  static build(edges: Iterable<readonly [parent: string, child: string]>): NestingClosure {
    const c = new NestingClosure();
    for (const [g, h] of edges) c.addDirect(g, h);
    c.recompute(new Set(c.children.keys()));
    c.fresh.clear();
    return c;
  }

  get edgeCount(): number {
    return this.edges;
  }

  /** Nodes with a non-empty descendant set. */
  get groupsWithDescendants(): number {
    return this.desc.size;
  }

  /** Σ |descendants(a)|: the number of (ancestor, descendant) pairs stored (twice: both directions). */
  closurePairs(): number {
    let n = 0;
    for (const s of this.desc.values()) n += s.size;
    return n;
  }

  hasEdge(parent: string, child: string): boolean {
    return this.children.get(parent)?.has(child) ?? false;
  }

  /** Every direct edge, as [parent, child]. */
  *allEdges(): IterableIterator<[string, string]> {
    for (const [g, hs] of this.children) for (const h of hs) yield [g, h];
  }

  descendants(id: string): ReadonlySet<string> {
    return this.desc.get(id) ?? EMPTY;
  }

  ancestors(id: string): ReadonlySet<string> {
    return this.anc.get(id) ?? EMPTY;
  }

  directChildren(id: string): ReadonlySet<string> {
    return this.children.get(id) ?? EMPTY;
  }

  directParents(id: string): ReadonlySet<string> {
    return this.parents.get(id) ?? EMPTY;
  }

  /**
   * Apply one commit's edge changes, in order (a TOUCH of a present edge and a DELETE of an absent
   * one are no-ops). Returns whether the edge set changed.
   */
  applyBatch(changes: Iterable<EdgeChange>): boolean {
    // Net effect per edge: present before the batch vs after it.
    const net = new Map<string, { parent: string; child: string; before: boolean; after: boolean }>();
    for (const c of changes) {
      const key = edgeKey(c.parent, c.child);
      let e = net.get(key);
      if (!e) {
        const before = this.hasEdge(c.parent, c.child);
        e = { parent: c.parent, child: c.child, before, after: before };
        net.set(key, e);
      }
      e.after = c.op === 'add';
    }
    const adds: [string, string][] = [];
    const removes: [string, string][] = [];
    for (const e of net.values()) {
      if (e.before && !e.after) removes.push([e.parent, e.child]);
      else if (!e.before && e.after) adds.push([e.parent, e.child]);
    }
    if (adds.length === 0 && removes.length === 0) return false;
    try {
      if (removes.length > 0) {
        // Only {g} ∪ anc(g) can lose descendants when g → h goes (closure as before the removals).
        const sources = new Set<string>();
        for (const [g] of removes) {
          sources.add(g);
          for (const a of this.ancestors(g)) sources.add(a);
        }
        for (const [g, h] of removes) this.removeDirect(g, h);
        this.recompute(sources);
      }
      for (const [g, h] of adds) {
        this.addDirect(g, h);
        this.addClosure(g, h);
      }
    } finally {
      this.fresh.clear();
    }
    return true;
  }

  private addDirect(g: string, h: string): void {
    let cs = this.children.get(g);
    if (!cs) this.children.set(g, (cs = new Set()));
    if (cs.has(h)) return;
    cs.add(h);
    let ps = this.parents.get(h);
    if (!ps) this.parents.set(h, (ps = new Set()));
    ps.add(g);
    this.edges++;
  }

  private removeDirect(g: string, h: string): void {
    const cs = this.children.get(g);
    if (!cs?.delete(h)) return;
    if (cs.size === 0) this.children.delete(g);
    const ps = this.parents.get(h)!;
    ps.delete(g);
    if (ps.size === 0) this.parents.delete(h);
    this.edges--;
  }

  /** Closure update for a new edge g → h: every a ∈ {g} ∪ anc(g) now reaches every d ∈ {h} ∪ desc(h). */
  private addClosure(g: string, h: string): void {
    // Snapshot both sides first: on a cycle the loop below extends the very sets it reads.
    const from = [g, ...this.ancestors(g)];
    const to = [h, ...this.descendants(h)];
    for (const a of from) {
      const da = this.desc.get(a);
      let target: Set<string> | undefined;
      for (const d of to) {
        if (da?.has(d) || target?.has(d)) continue;
        target ??= this.mutable(this.desc, a);
        target.add(d);
        this.mutable(this.anc, d).add(a);
      }
    }
  }

  /**
   * Recompute desc(a) for every a in `sources` from the direct edges, and fix anc for the pairs that
   * disappeared or appeared. Nodes outside `sources` must have correct closures already.
   */
  private recompute(sources: ReadonlySet<string>): void {
    const results = new Map<string, Set<string>>();
    for (const a of sources) results.set(a, this.traverse(a, sources));
    for (const [a, now] of results) {
      const old = this.desc.get(a) ?? EMPTY;
      for (const d of old) if (!now.has(d)) this.removeFrom(this.anc, d, a);
      for (const d of now) if (!old.has(d)) this.mutable(this.anc, d).add(a);
      if (now.size === 0) this.desc.delete(a);
      else {
        this.fresh.add(now);
        this.desc.set(a, now);
      }
    }
  }

  /** Every node reachable from `a`, expanding only nodes in `expand`; others contribute their stored closure. */
  private traverse(a: string, expand: ReadonlySet<string>): Set<string> {
    const seen = new Set<string>();
    const stack: string[] = [a];
    while (stack.length > 0) {
      const x = stack.pop()!;
      const cs = this.children.get(x);
      if (!cs) continue;
      for (const c of cs) {
        if (seen.has(c)) continue;
        seen.add(c);
        if (expand.has(c)) stack.push(c);
        else for (const d of this.descendants(c)) seen.add(d);
      }
    }
    return seen;
  }

  /** The set stored under `key`, made safe to mutate (created, or copied once per batch if published). */
  private mutable(map: Map<string, Set<string>>, key: string): Set<string> {
    let s = map.get(key);
    if (!s) {
      s = new Set();
      this.fresh.add(s);
      map.set(key, s);
    } else if (!this.fresh.has(s)) {
      s = new Set(s);
      this.fresh.add(s);
      map.set(key, s);
    }
    return s;
  }

  private removeFrom(map: Map<string, Set<string>>, key: string, value: string): void {
    const s = map.get(key);
    if (!s?.has(value)) return;
    if (s.size === 1) map.delete(key);
    else this.mutable(map, key).delete(value);
  }
}

function edgeKey(parent: string, child: string): string {
  return `${parent}\u0000${child}`;
}
