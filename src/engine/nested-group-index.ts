/**
 * A Leopard-style nested-group index (Zanzibar paper §3.2.4), exact at every revision it answers for.
 *
 * Leopard splits group membership into GROUP2GROUP (which groups are nested, transitively, in which)
 * and MEMBER2GROUP (which groups a user is directly in). This module keeps only the GROUP2GROUP half:
 * for every *indexable relation* — a `relation` R of type T whose allowed subject types include
 * `T#R` itself with no caveat and no expiration (`definition team { relation member: user | team#member }`)
 * — it keeps the nesting edges `T:g#R@T:h#R` ("h is nested in g"), and their transitive closure both
 * ways on demand (NestingGraph, nested-group-graph.ts). The MEMBER2GROUP half is not duplicated here: the
 * engine reads a subject's direct memberships from the datastore's subject index at the exact query
 * revision and combines them with `ancestors()` / `descendants()`.
 * Only `T#R → T#R` edges count: `T:g#R@T:h#R2` with R2 ≠ R, and members of other types, are not edges.
 *
 * Exactness. The index is built at the datastore's head and then follows `watch()` commit by commit.
 * Per relation it tracks `changedAt`, the newest revision at which that relation's edge set (or its
 * indexability) changed — at a build, the build revision, since older history is unknown — and the
 * index tracks `revision`, the last commit applied. The relation's state equals the data at every Q
 * with changedAt <= Q <= revision, and `at(Q, ...)` answers only for such Q; otherwise it returns
 * undefined and the engine evaluates normally. Edges carrying a caveat or an expiration (the schema
 * forbids them for an indexable relation, but a datastore stores what it is given) are not graph
 * edges: while one exists the relation does not answer at all.
 *
 * Schema commits: the indexable set is recomputed from the new schema. A relation indexable before
 * and after keeps its graph and its changedAt (the closure depends only on the edges); a newly
 * indexable one is read from a snapshot at the commit's revision (changedAt = that revision); one no
 * longer indexable is dropped. A schema that fails to compile indexes nothing (but the registered
 * relations, below).
 *
 * Registered relations. A front end that evaluates schemas other than the stored one (OpenFGA's
 * models) registers their indexable relations with `follow()`; the index then keeps those too, built
 * from a snapshot at the revision it has applied (paged, like a relation a schema commit makes newly
 * indexable; changedAt = that revision) and followed from there. They are kept across schema commits
 * (the indexable set is the stored schema's plus the registered ones) and included in every rebuild.
 * The index knows only `type#relation` keys: a caller evaluating some schema must consult it only for
 * relations indexable in that schema (the engine's indexFor guards this).
 *
 * Memory. The index has a byte budget (`maxBytes`): three quarters for the edges of every relation,
 * one quarter for the cache of closure sets. A relation whose edges would exceed the budget (at a
 * build or after a commit) is dropped — no longer indexed or followed — and `onBudgetExceeded` is
 * told; the engine then evaluates it normally (correct, slower). It is tried again at the next
 * rebuild. Builds read in pages and yield the event loop between them.
 *
 * Failure: if the change feed throws (a PostgreSQL connection drop, a collected revision after a long
 * stall) the index stops answering at once and rebuilds from the head after a backoff. If the feed
 * ends without close() (the datastore was closed) the index stops answering for good. Nothing is
 * logged; pass `onError` to observe feed errors.
 *
 * Views. `at()` returns a view for one (revision, relation). Use it synchronously: the sets it returns
 * are immutable snapshots (maintenance copies a set before changing it, so a set already returned is
 * never modified), but the view itself reads the live state, and once maintenance has moved the
 * relation past its revision the view throws StaleNestedGroupViewError rather than answer for the
 * wrong revision. Do not hold a view across an await.
 */
import { sleep } from '../runtime/sleep.js';
import { keyOf } from '../datastore/datastore.js';
import type {
  Datastore,
  RelationPattern,
  RelationshipChange,
  RelationshipKey,
  Revision,
  RevisionChanges,
} from '../datastore/datastore.js';
import type { Relationship } from '../relationships/relationship.js';
import type { CompiledSchema } from '../schema/ir.js';
import { compileSchema } from '../schema/index.js';
import { analysisOf } from '../schema/analysis.js';
import { NestingGraph, ReachCache } from './nested-group-graph.js';
import type { EdgeChange, ReachCacheStats } from './nested-group-graph.js';
import { laterTurn } from '../runtime/next-turn.js';

export interface NestedGroupView {
  /**
   * Every group nested in `id`, transitively (`id` itself only if on a cycle); empty set when none;
   * undefined when there are too many to answer from the index (evaluate normally).
   */
  descendants(id: string): ReadonlySet<string> | undefined;
  /** Every group `id` is nested in, transitively; empty set when none; undefined when too many. */
  ancestors(id: string): ReadonlySet<string> | undefined;
  /** The revision this view answers for. */
  readonly revision: Revision;
  /** The relation's changedAt when the view was made (<= revision). */
  readonly changedAt: Revision;
}

/** What evaluation asks of the index (NestedGroupIndex, or a view of it restricted to one schema's relations). */
export interface NestedGroups {
  /** A view that answers exactly for revision `q`, or undefined when it cannot. */
  at(q: Revision, type: string, relation: string): NestedGroupView | undefined;
}

export interface NestedGroupIndexOptions {
  /** Called with each change-feed or rebuild error (the index then stops answering and retries). */
  onError?: (error: unknown) => void;
  /** First retry delay in ms after a feed error (default 100); doubles up to retryMaxMs. */
  retryMinMs?: number;
  /** Largest retry delay in ms (default 10000). */
  retryMaxMs?: number;
  /** Relationships read per page when building a relation from a snapshot (default 5000). */
  pageSize?: number;
  /** Memory budget in bytes (default 128 MiB): 3/4 for edges, 1/4 for cached closure sets. */
  maxBytes?: number;
  /** A closure set larger than this many groups is not answered from the index (default 100,000). */
  maxReach?: number;
  /** Called when a relation is dropped because its edges exceed the budget. */
  onBudgetExceeded?: (event: BudgetExceeded) => void;
  /**
   * Compiles stored schema text (default compileSchema). Pass the engine's cached compile so the
   * schema a commit writes is compiled once, for readers and the index alike.
   */
  compile?: (text: string) => CompiledSchema;
}

export interface BudgetExceeded {
  relation: string;
  /** Edges read or held when the relation was dropped. */
  edges: number;
  /** Estimated bytes of every relation's edges, this one included, and the edges' budget. */
  bytes: number;
  budget: number;
  revision: Revision;
}

export const DEFAULT_NESTED_GROUP_INDEX_BYTES = 128 * 1024 * 1024;
/** Most watch patterns, one per indexed relation; past it, one per relation name (see patterns()). */
const MAX_PATTERNS = 64;
/** Changes per synchronous step when applying a commit; a larger commit is applied in steps. */
const LARGE_COMMIT = 20_000;

/** A view was used after the index moved its relation past the view's revision (held across an await). */
export class StaleNestedGroupViewError extends Error {
  constructor(key: string, revision: Revision) {
    super(`NestedGroupView for ${key} at revision ${revision} used after the index moved on; use views synchronously`);
    this.name = 'StaleNestedGroupViewError';
  }
}

export type NestedGroupIndexStatus = 'live' | 'rebuilding' | 'stopped' | 'closed';

export interface NestedGroupIndexStats {
  revision: Revision;
  status: NestedGroupIndexStatus;
  /** Per `type#relation`: direct edges, their estimated bytes and changedAt. */
  relations: Record<string, { edges: number; bytes: number; changedAt: Revision }>;
  /** Relations left to normal evaluation because their edges exceeded the budget. */
  dropped: Record<string, BudgetExceeded>;
  /** Estimated bytes of all edges, and their budget. */
  edgeBytes: number;
  edgeBudget: number;
  cache: ReachCacheStats;
}

/** The indexed state of one relation. Replaced (not mutated) when the relation is rebuilt. */
interface RelationState {
  readonly type: string;
  readonly relation: string;
  readonly key: string;
  graph: NestingGraph;
  changedAt: Revision;
  /** Edges with a caveat or expiration, as `g\0h`: not in the closure; the relation answers only while none exist. */
  readonly irregular: Set<string>;
}

interface Waiter {
  q: Revision;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

export class NestedGroupIndex implements NestedGroups {
  private relations = new Map<string, RelationState>();
  /** Relations registered with follow(), kept whatever the stored schema says. */
  private readonly registered = new Map<string, readonly [type: string, relation: string]>();
  /** follow() calls so far, and how many of them the index has acted on (built or dropped their relations). */
  private followRequests = 0;
  private followsDone = 0;
  private readonly followWaiters: Array<{ request: number; resolve: () => void }> = [];
  /** Ends the current watch early, so the loop builds newly registered relations before following again. */
  private watchAbort: AbortController | undefined;
  private applied: Revision = 0n;
  private state: NestedGroupIndexStatus = 'rebuilding';
  private readonly abort = new AbortController();
  private readonly waiters = new Set<Waiter>();
  private loop: Promise<void> | undefined;
  private error: unknown;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly pageSize: number;
  private readonly edgeBudget: number;
  private readonly cache: ReachCache;
  private readonly maxReach: number;
  /** Relations over budget: indexable, but left to normal evaluation until the next rebuild. */
  private dropped = new Map<string, BudgetExceeded>();

  private constructor(
    private readonly datastore: Datastore,
    private readonly options: NestedGroupIndexOptions,
  ) {
    this.retryMinMs = options.retryMinMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 10_000;
    this.pageSize = options.pageSize ?? 5000;
    const maxBytes = options.maxBytes ?? DEFAULT_NESTED_GROUP_INDEX_BYTES;
    this.edgeBudget = Math.floor(maxBytes * 0.75);
    this.cache = new ReachCache(maxBytes - this.edgeBudget);
    this.maxReach = options.maxReach ?? 100_000;
  }

  /** Build at the datastore's head and follow its change feed until close(). A failing first build throws. */
  static async open(datastore: Datastore, options: NestedGroupIndexOptions = {}): Promise<NestedGroupIndex> {
    const index = new NestedGroupIndex(datastore, options);
    await index.rebuild();
    index.loop = index.run();
    return index;
  }

  /** The newest revision applied. */
  get revision(): Revision {
    return this.applied;
  }

  /** 'live' while answering; 'rebuilding' after a feed error; 'stopped' once the feed ended (datastore closed). */
  get status(): NestedGroupIndexStatus {
    return this.state;
  }

  /** The last feed or rebuild error, if any. */
  get lastError(): unknown {
    return this.error;
  }

  /** A view that answers exactly for revision `q`, or undefined when the index cannot (lagging, too old, not indexable). */
  at(q: Revision, type: string, relation: string): NestedGroupView | undefined {
    if (this.state !== 'live' || q > this.applied) return undefined;
    const rel = this.relations.get(`${type}#${relation}`);
    if (!rel || q < rel.changedAt || rel.irregular.size > 0) return undefined;
    const changedAt = rel.changedAt;
    const liveGraph = (): NestingGraph => {
      if (this.state !== 'live' || this.relations.get(rel.key) !== rel || rel.changedAt > q || rel.irregular.size > 0) {
        throw new StaleNestedGroupViewError(rel.key, q);
      }
      return rel.graph;
    };
    return {
      revision: q,
      changedAt,
      descendants: (id) => liveGraph().descendants(id),
      ancestors: (id) => liveGraph().ancestors(id),
    };
  }

  /** The revision range [changedAt, revision] `type#relation` answers for, or undefined when it answers for none. */
  window(type: string, relation: string): { changedAt: Revision; revision: Revision } | undefined {
    if (this.state !== 'live') return undefined;
    const rel = this.relations.get(`${type}#${relation}`);
    if (!rel || rel.irregular.size > 0) return undefined;
    return { changedAt: rel.changedAt, revision: this.applied };
  }

  /**
   * Resolves true once the index answers at `q` (it has applied `q` and is live), false after
   * `timeoutMs` or on close.
   */
  caughtUp(q: Revision, timeoutMs: number): Promise<boolean> {
    if (this.isCaughtUp(q)) return Promise.resolve(true);
    if (this.state === 'closed' || this.state === 'stopped' || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        q,
        resolve: (ok) => {
          clearTimeout(waiter.timer);
          this.waiters.delete(waiter);
          resolve(ok);
        },
        timer: setTimeout(() => waiter.resolve(false), timeoutMs),
      };
      waiter.timer.unref?.();
      this.waiters.add(waiter);
    });
  }

  /**
   * Keep the nesting of these relations too (`type#relation` → [type, relation]: the indexable relations
   * of a schema the engine evaluates besides the stored one), across schema commits and rebuilds. Resolves
   * once the index has built them (or dropped them for the budget), or when it stops; never rejects.
   */
  follow(keys: ReadonlyMap<string, readonly [type: string, relation: string]>): Promise<void> {
    let added = false;
    for (const [key, tr] of keys) {
      if (this.registered.has(key)) continue;
      this.registered.set(key, tr);
      added = true;
    }
    if (!added || this.state === 'closed' || this.state === 'stopped') return Promise.resolve();
    const request = ++this.followRequests;
    // The loop builds them before it follows the feed again; end the current watch to get there.
    this.watchAbort?.abort();
    return new Promise((resolve) => this.followWaiters.push({ request, resolve }));
  }

  /** Whether follow() registered any relation (callers then restrict the index to their schema's relations). */
  get hasRegistered(): boolean {
    return this.registered.size > 0;
  }

  /** Relations currently indexed, as `type#relation` (sorted). */
  indexedRelations(): string[] {
    return [...this.relations.keys()].sort();
  }

  /** Sizes, for diagnostics and benchmarks. */
  stats(): NestedGroupIndexStats {
    const relations: NestedGroupIndexStats['relations'] = {};
    for (const [key, rel] of this.relations) {
      relations[key] = { edges: rel.graph.edgeCount, bytes: rel.graph.bytes, changedAt: rel.changedAt };
    }
    return {
      revision: this.applied,
      status: this.state,
      relations,
      dropped: Object.fromEntries(this.dropped),
      edgeBytes: this.edgeBytes(this.relations),
      edgeBudget: this.edgeBudget,
      cache: this.cache.stats(),
    };
  }

  /** Stop following the feed; at() answers nothing afterwards. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.abort.abort();
    this.settleWaiters();
    this.settleFollows(this.followRequests);
    await this.loop;
  }

  private settleFollows(done: number): void {
    this.followsDone = Math.max(this.followsDone, done);
    const final = this.state === 'closed' || this.state === 'stopped';
    for (let i = this.followWaiters.length - 1; i >= 0; i--) {
      const w = this.followWaiters[i];
      if (final || w.request <= this.followsDone) {
        this.followWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  // --- following the feed ---------------------------------------------------------------------

  private async run(): Promise<void> {
    let delay = this.retryMinMs;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      // Made before building registered relations, so a follow() from then on ends the coming watch.
      const watchAbort = new AbortController();
      this.watchAbort = watchAbort;
      try {
        if (this.state !== 'live') await this.rebuild();
        delay = this.retryMinMs;
        await this.buildRegistered();
        // Only nesting edges of indexed relations: not the other rows of a million-row import. A
        // schema that indexes other relations ends this watch; the next one follows those.
        let refollow = false;
        const watchSignal = AbortSignal.any([signal, watchAbort.signal]);
        for await (const commit of this.datastore.watch(this.applied, watchSignal, this.patterns())) {
          if (watchSignal.aborted) break;
          refollow = await this.apply(commit);
          if (refollow || watchAbort.signal.aborted) break;
        }
        if (signal.aborted) return;
        if (refollow || watchAbort.signal.aborted) continue;
        // The feed ended without close(): the datastore was closed. Nothing more will come.
        this.state = 'stopped';
        this.settleWaiters();
        this.settleFollows(this.followRequests);
        return;
      } catch (e) {
        if (signal.aborted) return;
        // A watch ended by follow() (some datastores throw on abort): follow again, nothing failed.
        if (watchAbort.signal.aborted && this.state === 'live') continue;
        this.state = 'rebuilding';
        this.error = e;
        this.options.onError?.(e);
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, this.retryMaxMs);
    }
  }

  /** Read everything at the head and start answering from there. */
  private async rebuild(): Promise<void> {
    const head = await this.datastore.headRevision();
    const stored = await this.datastore.snapshot(head).readSchema();
    const requests = this.followRequests;
    const keys = this.withRegistered(indexableRelations(stored?.text, this.options.compile));
    const relations = new Map<string, RelationState>();
    const dropped = new Map<string, BudgetExceeded>();
    try {
      for (const [key, [type, relation]] of keys) {
        const built = await this.buildRelation(head, type, relation, this.edgeBytes(relations));
        if ('graph' in built) relations.set(key, built);
        else dropped.set(key, this.overBudget(built));
      }
    } catch (e) {
      for (const rel of relations.values()) rel.graph.dispose();
      throw e;
    }
    for (const rel of this.relations.values()) rel.graph.dispose();
    if (this.abort.signal.aborted) return;
    this.relations = relations;
    this.dropped = dropped;
    this.applied = head;
    this.state = 'live';
    this.settleWaiters();
    this.settleFollows(requests);
  }

  /** `keys` (a stored schema's indexable relations) and every registered relation. */
  private withRegistered(
    keys: ReadonlyMap<string, readonly [type: string, relation: string]>,
  ): ReadonlyMap<string, readonly [type: string, relation: string]> {
    if (this.registered.size === 0) return keys;
    const all = new Map(keys);
    for (const [key, tr] of this.registered) if (!all.has(key)) all.set(key, tr);
    return all;
  }

  /**
   * Builds the registered relations not yet indexed (nor dropped for the budget) from a snapshot at the
   * revision applied, while the feed is not followed; they answer from that revision on.
   */
  private async buildRegistered(): Promise<void> {
    if (this.state !== 'live') return;
    const requests = this.followRequests;
    const missing = [...this.registered].filter(([key]) => !this.relations.has(key) && !this.dropped.has(key));
    if (missing.length > 0) {
      const revision = this.applied;
      const fresh = new Map<string, RelationState>();
      const over = new Map<string, BudgetExceeded>();
      try {
        for (const [key, [type, relation]] of missing) {
          const otherBytes = this.edgeBytes(this.relations) + this.edgeBytes(fresh);
          const built = await this.buildRelation(revision, type, relation, otherBytes);
          if ('graph' in built) fresh.set(key, built);
          else over.set(key, this.overBudget(built));
        }
      } catch (e) {
        for (const rel of fresh.values()) rel.graph.dispose();
        throw e;
      }
      if (this.abort.signal.aborted) {
        for (const rel of fresh.values()) rel.graph.dispose();
        return;
      }
      // Nothing else changes the index meanwhile: the loop is its only writer, and it is here.
      this.relations = new Map([...this.relations, ...fresh]);
      this.dropped = new Map([...this.dropped, ...over]);
    }
    this.settleFollows(requests);
  }

  /**
   * The relation's edges at `revision`, read in pages (yielding between them), or what was read
   * when its edges pushed `otherBytes` (the other relations' edges) past the budget.
   */
  private async buildRelation(
    revision: Revision,
    type: string,
    relation: string,
    otherBytes: number,
  ): Promise<RelationState | BudgetExceeded> {
    const reader = this.datastore.snapshot(revision);
    const query = { resourceType: type, relation, subjectType: type, subjectRelation: relation };
    const graph = new NestingGraph(this.cache, this.maxReach);
    const irregular = new Set<string>();
    let after: RelationshipKey | undefined;
    for (;;) {
      const page = await reader.queryRelationships(query, { limit: this.pageSize, ...(after ? { after } : {}) });
      for (const r of page) {
        if (!isRegular(r)) irregular.add(edgeKey(r.resource.id, r.subject.id));
        else if (graph.add(r.resource.id, r.subject.id) && otherBytes + graph.bytes > this.edgeBudget) {
          graph.dispose();
          return {
            relation: `${type}#${relation}`,
            edges: graph.edgeCount,
            bytes: otherBytes + graph.bytes,
            budget: this.edgeBudget,
            revision,
          };
        }
      }
      if (page.length < this.pageSize) break;
      after = keyOf(page[page.length - 1]!);
      // Let other callers run between pages: a large build must not freeze the node.
      await laterTurn();
    }
    return { type, relation, key: `${type}#${relation}`, graph, changedAt: revision, irregular };
  }

  private overBudget(event: BudgetExceeded): BudgetExceeded {
    this.options.onBudgetExceeded?.(event);
    return event;
  }

  private edgeBytes(relations: ReadonlyMap<string, RelationState>): number {
    let n = 0;
    for (const rel of relations.values()) n += rel.graph.bytes;
    return n;
  }

  /**
   * What the watch follows: the edges `T:*#R@T:*#R` of every indexed relation. Past MAX_PATTERNS (many
   * OpenFGA stores each register their `team#member`), per relation name `*:*#R@*:*#R` instead: the SQL
   * datastores turn each pattern into conditions and parameters, and applyChanges skips what is not an
   * indexed relation's edge anyway.
   */
  private patterns(): RelationPattern[] {
    if (this.relations.size > MAX_PATTERNS) {
      const names = new Set([...this.relations.values()].map((r) => r.relation));
      return [...names].map((relation) => ({ relation, subjectRelation: relation }));
    }
    return [...this.relations.values()].map((r) => ({
      resourceType: r.type,
      relation: r.relation,
      subjectType: r.type,
      subjectRelation: r.relation,
    }));
  }

  /**
   * Apply one commit; true when it changed which relations are indexed (the watch must follow others).
   * A commit of up to LARGE_COMMIT changes is applied synchronously after the last await, so readers
   * never see half of it; a larger one is applied in steps while the index answers nothing.
   */
  private async apply(commit: RevisionChanges): Promise<boolean> {
    let relations = this.relations;
    let dropped = this.dropped;
    /** Relations read from a snapshot at this commit: they already include its changes. */
    const built = new Set<string>();
    if (commit.schema !== undefined) {
      // The stored schema's indexable relations, and the registered ones whatever it says.
      const keys = this.withRegistered(indexableRelations(commit.schema, this.options.compile));
      const next = new Map<string, RelationState>();
      const nextDropped = new Map<string, BudgetExceeded>();
      const fresh: RelationState[] = [];
      try {
        for (const [key, [type, relation]] of keys) {
          const kept = relations.get(key);
          const over = dropped.get(key);
          if (kept) next.set(key, kept);
          else if (over) nextDropped.set(key, over);
          else {
            const state = await this.buildRelation(
              commit.revision,
              type,
              relation,
              this.edgeBytes(relations) + this.edgeBytes(next),
            );
            if ('graph' in state) {
              next.set(key, state);
              fresh.push(state);
              built.add(key);
            } else nextDropped.set(key, this.overBudget(state));
          }
        }
      } catch (e) {
        for (const rel of fresh) rel.graph.dispose();
        throw e;
      }
      if (this.abort.signal.aborted) return false;
      for (const [key, rel] of relations) if (!next.has(key)) rel.graph.dispose();
      relations = next;
      dropped = nextDropped;
    }
    const following = this.relations;
    if (relations.size > 0) {
      // Small commits are applied synchronously, so readers never see half of one. A large one (a bulk
      // import of nesting edges) is applied in chunks with the index answering nothing meanwhile, so
      // that maintenance never holds the event loop for long.
      const large = commit.changes.length > LARGE_COMMIT;
      if (large) this.relations = new Map();
      const touched = new Set<RelationState>();
      for (let i = 0; i < commit.changes.length; i += LARGE_COMMIT) {
        if (i > 0) {
          await laterTurn();
          if (this.abort.signal.aborted) return false;
        }
        const chunk = large ? commit.changes.slice(i, i + LARGE_COMMIT) : commit.changes;
        for (const rel of this.applyChanges(relations, built, chunk, commit.revision)) touched.add(rel);
      }
      // A relation that grew past the budget stops being indexed; the engine evaluates it normally.
      if (this.edgeBytes(relations) > this.edgeBudget) {
        relations = new Map(relations);
        dropped = new Map(dropped);
        for (const rel of touched) {
          if (!relations.has(rel.key)) continue;
          const total = this.edgeBytes(relations);
          if (total <= this.edgeBudget) break;
          relations.delete(rel.key);
          rel.graph.dispose();
          dropped.set(
            rel.key,
            this.overBudget({
              relation: rel.key,
              edges: rel.graph.edgeCount,
              bytes: total,
              budget: this.edgeBudget,
              revision: commit.revision,
            }),
          );
        }
      }
    }
    const refollow = relations.size !== following.size || [...relations.keys()].some((k) => !following.has(k));
    this.relations = relations;
    this.dropped = dropped;
    this.applied = commit.revision;
    this.settleWaiters();
    return refollow;
  }

  /** Applies `changes` of the commit at `revision` to the relations they belong to; returns those it touched. */
  private applyChanges(
    relations: ReadonlyMap<string, RelationState>,
    built: ReadonlySet<string>,
    changes: readonly RelationshipChange[],
    revision: Revision,
  ): RelationState[] {
    const perRelation = new Map<RelationState, { changes: EdgeChange[]; irregularChanged: boolean }>();
    for (const { operation, relationship: r } of changes) {
      if (r.subject.type !== r.resource.type || r.subject.relation !== r.relation) continue;
      const key = `${r.resource.type}#${r.relation}`;
      const rel = relations.get(key);
      if (!rel || built.has(key)) continue;
      let entry = perRelation.get(rel);
      if (!entry) perRelation.set(rel, (entry = { changes: [], irregularChanged: false }));
      const g = r.resource.id;
      const h = r.subject.id;
      const ek = edgeKey(g, h);
      if (operation === 'TOUCH' && isRegular(r)) {
        if (rel.irregular.delete(ek)) entry.irregularChanged = true;
        entry.changes.push({ op: 'add', parent: g, child: h });
      } else {
        if (operation === 'TOUCH') {
          if (!rel.irregular.has(ek)) entry.irregularChanged = true;
          rel.irregular.add(ek);
        } else if (rel.irregular.delete(ek)) entry.irregularChanged = true;
        entry.changes.push({ op: 'remove', parent: g, child: h });
      }
    }
    for (const [rel, { changes: edges, irregularChanged }] of perRelation) {
      const changed = rel.graph.applyBatch(edges);
      if (changed || irregularChanged) rel.changedAt = revision;
    }
    return [...perRelation.keys()];
  }

  private isCaughtUp(q: Revision): boolean {
    return this.state === 'live' && this.applied >= q;
  }

  private settleWaiters(): void {
    const final = this.state === 'closed' || this.state === 'stopped';
    for (const w of [...this.waiters]) {
      if (this.isCaughtUp(w.q)) w.resolve(true);
      else if (final) w.resolve(false);
    }
  }
}

/**
 * The indexable relations of a schema text, keyed `type#relation` (see SchemaAnalysis.indexableRelations);
 * none when there is no schema or it does not compile.
 */
export function indexableRelations(
  schemaText: string | undefined,
  compile: (text: string) => CompiledSchema = compileSchema,
): ReadonlyMap<string, readonly [type: string, relation: string]> {
  if (schemaText === undefined) return new Map();
  let schema: CompiledSchema;
  try {
    schema = compile(schemaText);
  } catch {
    return new Map();
  }
  return analysisOf(schema).indexableRelations;
}

function isRegular(r: Relationship): boolean {
  return r.caveat === undefined && r.expiresAt === undefined;
}

function edgeKey(parent: string, child: string): string {
  return `${parent}\u0000${child}`;
}
