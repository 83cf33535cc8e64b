/**
 * The engine behind one front door: permission checks, Expand and the two lookups over a snapshot
 * and the schema it holds. It owns what those share across requests: the dispatcher (the cache of
 * sub-problem answers and the table of running ones) and its keys, the nested-group index, the depth
 * and Expand size limits, the kept candidates of paged LookupResources and the compiled schemas.
 *
 * Each operation stops once the request's signal aborts (a deadline, a client cancel).
 *
 * It answers in the engine's terms (memberships, trees, ids) and validates nothing: a front end (the
 * Pemba facade and its SpiceDB API, an OpenFGA one, a remote dispatch) resolves the snapshot, checks
 * the request against the schema, and turns answers into its own shapes.
 */
import type { Datastore, Revision, SnapshotReader } from '../datastore/datastore.js';
import type { ObjectRef, SubjectRef } from '../relationships/relationship.js';
import type { Cancellable, CheckTraceNode, ExpandTree } from '../requests/requests.js';
import { compileSchema } from '../schema/index.js';
import { analysisOf } from '../schema/analysis.js';
import type { CompiledSchema } from '../schema/ir.js';
import { CandidateCache } from './candidate-cache.js';
import { CaveatEvaluator } from './caveat-evaluator.js';
import { Checker, type SharedDispatch } from './check.js';
import { traceChecks } from './check-trace.js';
import { DEFAULT_MAX_DEPTH } from './depth.js';
import { checkKeyPrefix, lookupResourcesKey } from './dispatch-keys.js';
import { Dispatcher } from './dispatcher.js';
import { DEFAULT_MAX_EXPAND_SIZE, expand } from './expand.js';
import { lookupResources, type FoundResource } from './lookup-resources.js';
import { SubjectLookup } from './lookup-subjects.js';
import type { Membership } from './membership.js';
import {
  NestedGroupIndex,
  type BudgetExceeded,
  type NestedGroupIndexStats,
  type NestedGroups,
} from './nested-group-index.js';
import { sortPaced } from './paced-sort.js';
import type {
  CheckSubproblem,
  RemoteDispatch,
  SubjectsOutcome,
  SubjectsSubproblem,
  SubproblemOutcome,
} from './remote-dispatch.js';
import { RequestReader } from './request-reader.js';

export interface EngineOptions {
  /** Maximum dispatch depth of one query (default 50). */
  maxDepth?: number;
  /**
   * Largest Expand answer, in tree nodes plus the subjects their leaves list (default 100,000);
   * past it Expand fails with RESOURCE_EXHAUSTED.
   */
  maxExpandSize?: number;
  /**
   * Budget in bytes of the cache of sub-problem answers shared across requests (default 64 MiB;
   * 0 turns it off). Entries are keyed by revision, so they never go stale.
   */
  dispatchCacheBytes?: number;
  /** Run identical concurrent sub-problems of different requests once (default true). */
  dedupe?: boolean;
  /**
   * Maintain the nested-group (Leopard) index from the datastore's change feed and answer
   * nested-group membership from it where it is exact (default true).
   */
  nestedGroupIndex?: boolean;
  /**
   * Memory budget of the nested-group index in bytes (default 128 MiB). A relation whose nesting
   * edges would exceed it is no longer indexed and is evaluated normally.
   */
  nestedGroupIndexBytes?: number;
  /** Told when a relation's nesting edges exceed the index's budget (it is then evaluated without the index). */
  onBudgetExceeded?: (event: BudgetExceeded) => void;
  /** Other nodes that own check sub-problems (a dispatch cluster); absent, every one is evaluated here. */
  remoteDispatch?: RemoteDispatch;
}

/**
 * How one call's evaluation may use what the engine shares across calls. The default (no scope) is
 * the SpiceDB front end's: the stored schema at the snapshot's revision, the shared cache, the
 * nested-group index and other nodes. A front end that evaluates other schemas at the same revision
 * (OpenFGA's model versions) names them; one whose snapshot holds data no other call sees (OpenFGA's
 * contextual tuples) keeps the call private.
 */
export interface EvaluationScope {
  /**
   * The schema's identity when it is not the stored one (an OpenFGA model id): part of every shared
   * cache key. The nested-group index is consulted only for relations indexable in this schema; it
   * keeps them once the schema was registered (Engine.registerSchema).
   */
  schemaKey?: string;
  /** Share nothing with other calls: no shared cache, no nested-group index, no remote dispatch. */
  private?: boolean;
  /** This call's dispatch depth limit instead of the engine's. */
  maxDepth?: number;
  /**
   * OpenFGA's reading of a cycle under an exclusion: when the subtracted part reached a userset already
   * being evaluated on the current path (a cycle back through this evaluation) and found no membership,
   * the exclusion is undecided and grants nothing (OpenFGA answers false), where the least fixed point
   * would grant the base. Off (the least fixed point) unless an OpenFGA model asks for it.
   */
  cycleDeniesExclusion?: boolean;
}

/** One permission check: does `subject` have `permission` on `resource`, under `context`? */
export interface CheckQuery {
  scope?: EvaluationScope;
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
}

export interface ExpandQuery {
  scope?: EvaluationScope;
  resource: ObjectRef;
  permission: string;
}

export interface LookupResourcesQuery {
  scope?: EvaluationScope;
  resourceType: string;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
  /** Resume after this resource id (ids come in code-unit order). */
  after?: string;
  /** At most this many results. */
  limit?: number;
}

export interface LookupSubjectsQuery {
  scope?: EvaluationScope;
  resource: ObjectRef;
  permission: string;
  subjectType: string;
  /** `...` for plain subjects. */
  subjectRelation: string;
  context?: Record<string, unknown>;
}

/** A subject and its membership (HAS or CONDITIONAL). */
export type FoundSubject = [id: string, membership: Membership];

/** LookupSubjects' answer, every list in id order. */
export interface FoundSubjects {
  /** The wildcard's membership and the subjects it leaves out; absent when no wildcard applies. */
  wildcard?: { membership: Membership; excluded: FoundSubject[] };
  subjects: FoundSubject[];
}

/** An item of checkBulk answers with its membership or with the error evaluating it failed with. */
export type BulkAnswer = { membership: Membership; error?: undefined } | { membership?: undefined; error: Error };

/** Longest a read waits for the nested-group index to apply its revision before evaluating without it. */
const INDEX_CATCH_UP_MS = 1000;
/** Compiled schemas kept (by text): the stored schema changes rarely. */
const COMPILED_SCHEMAS = 16;

export class Engine {
  /** Candidates of paged LookupResources, for their next pages. */
  private readonly candidates = new CandidateCache();
  private readonly compiled = new Map<string, CompiledSchema>();
  private readonly dispatcher: Dispatcher;
  private index: NestedGroupIndex | undefined;
  /** The index restricted to one schema's indexable relations, per schema evaluated. */
  private readonly indexViews = new WeakMap<CompiledSchema, NestedGroups>();
  readonly maxDepth: number;
  readonly maxExpandSize: number;
  private readonly remote: RemoteDispatch | undefined;

  private constructor(
    private readonly datastore: Datastore,
    options: EngineOptions,
  ) {
    this.remote = options.remoteDispatch;
    this.dispatcher = new Dispatcher({ cacheBytes: options.dispatchCacheBytes, dedupe: options.dedupe });
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxExpandSize = options.maxExpandSize ?? DEFAULT_MAX_EXPAND_SIZE;
  }

  /** An engine over `datastore`; builds the nested-group index (unless turned off) before it returns. */
  static async open(datastore: Datastore, options: EngineOptions = {}): Promise<Engine> {
    const engine = new Engine(datastore, options);
    if (options.nestedGroupIndex !== false) {
      engine.index = await NestedGroupIndex.open(datastore, {
        maxBytes: options.nestedGroupIndexBytes,
        onBudgetExceeded: options.onBudgetExceeded,
        compile: (text) => engine.compile(text),
      });
    }
    return engine;
  }

  /** Schema text compiled, cached by text (compiling is not free); throws SchemaError when it is invalid. */
  compile(text: string): CompiledSchema {
    let schema = this.compiled.get(text);
    if (!schema) {
      schema = compileSchema(text);
      if (this.compiled.size > COMPILED_SCHEMAS) this.compiled.clear();
      this.compiled.set(text, schema);
    }
    return schema;
  }

  /**
   * Have the nested-group index keep the indexable relations of `schema`, a schema evaluated besides the
   * stored one (an OpenFGA model, compiled over its store's prefixed types), so that calls evaluating it
   * (with a `scope.schemaKey`) are answered with the index too. They are kept across schema commits and
   * index rebuilds, within the index's memory budget. Resolves once they are built (or dropped for the
   * budget); until then calls evaluate them normally. Never rejects; nothing to do without the index.
   */
  registerSchema(schema: CompiledSchema): Promise<void> {
    if (!this.index) return Promise.resolve();
    const keys = analysisOf(schema).indexableRelations;
    return keys.size > 0 ? this.index.follow(keys) : Promise.resolve();
  }

  /**
   * Before reading at `revision`: waits briefly for the nested-group index to apply it. The index answers
   * only at revisions it has applied, and its answer can differ from evaluation without it (a chain past
   * the depth limit); waiting keeps the same question's answer the same whether or not it had caught up.
   */
  async readyFor(revision: Revision): Promise<void> {
    if (this.index?.status === 'live' && this.index.revision < revision) {
      // Reading the head wakes the change feed at once when another node wrote the revision.
      await this.datastore.headRevision();
      await this.index.caughtUp(revision, INDEX_CATCH_UP_MS);
    }
  }

  async check(snapshot: SnapshotReader, schema: CompiledSchema, query: CheckQuery & Cancellable): Promise<Membership> {
    const checker = this.checker(schema, new RequestReader(snapshot, query.signal), query.subject, query.context, {
      scope: query.scope,
    });
    return checker.check(query.resource, query.permission);
  }

  /**
   * Many checks at one snapshot, in order; each answers with its membership or its own error. Checks
   * of the same subject and context share one checker (and what it has read). The signal's abort ends
   * them all.
   */
  async checkBulk(
    snapshot: SnapshotReader,
    schema: CompiledSchema,
    queries: readonly CheckQuery[],
    options: Cancellable = {},
  ): Promise<BulkAnswer[]> {
    const reader = new RequestReader(snapshot, options.signal);
    const checkers = new Map<string, Checker>();
    const answers: BulkAnswer[] = [];
    for (const q of queries) {
      try {
        const key = JSON.stringify([q.subject, q.context ?? null, q.scope ?? null]);
        let checker = checkers.get(key);
        if (!checker) {
          checker = this.checker(schema, reader, q.subject, q.context, { scope: q.scope });
          checkers.set(key, checker);
        }
        answers.push({ membership: await checker.check(q.resource, q.permission) });
      } catch (error) {
        // An item's own failure is its answer; the call's deadline or cancellation ends them all.
        options.signal?.throwIfAborted();
        answers.push({ error: error as Error });
      }
    }
    return answers;
  }

  /**
   * The traces (SpiceDB's CheckDebugTrace trees, see check-trace.ts) of checks, in order: each
   * evaluated afresh, past the shared cache, the nested-group index and other nodes. `bulk`: the
   * items of one CheckBulkPermissions, traced as SpiceDB batches them. Undefined for a check whose
   * evaluation failed before it began.
   */
  traceChecks(
    snapshot: SnapshotReader,
    schema: CompiledSchema,
    queries: readonly CheckQuery[],
    options: Cancellable & { bulk?: boolean } = {},
  ): Promise<(CheckTraceNode | undefined)[]> {
    const reader = new RequestReader(snapshot, options.signal);
    const maxDepth = queries[0]?.scope?.maxDepth ?? this.maxDepth;
    return traceChecks({ schema, reader, maxDepth }, queries, options.bulk);
  }

  async expand(
    snapshot: SnapshotReader,
    schema: CompiledSchema,
    query: ExpandQuery & Cancellable,
  ): Promise<ExpandTree> {
    const reader = new RequestReader(snapshot, query.signal);
    const maxDepth = query.scope?.maxDepth ?? this.maxDepth;
    return expand(schema, reader, query.resource, query.permission, maxDepth, this.maxExpandSize);
  }

  /**
   * The resources of `resourceType` on which the subject has the permission (perhaps conditionally), in
   * id order, after `query.after`, at most `query.limit`. The candidates of a lookup that will likely be
   * paged on are kept for its next pages.
   */
  lookupResources(
    snapshot: SnapshotReader,
    schema: CompiledSchema,
    query: LookupResourcesQuery & Cancellable,
  ): AsyncGenerator<FoundResource> {
    const { scope } = query;
    const checker = this.checker(schema, new RequestReader(snapshot, query.signal), query.subject, query.context, {
      scope,
    });
    return lookupResources(schema, query.resourceType, query.permission, checker, this.indexFor(scope, schema), {
      after: query.after,
      limit: query.limit,
      cache: scope?.private ? undefined : this.candidates,
      key: lookupResourcesKey(snapshot.revision, query, scope?.schemaKey),
    });
  }

  /**
   * The subjects with the permission on the resource, sorted by id. (An array, not a stream: the whole
   * set is computed before it can be sorted, and one async step per subject would double the cost.)
   */
  async lookupSubjects(
    snapshot: SnapshotReader,
    schema: CompiledSchema,
    query: LookupSubjectsQuery & Cancellable,
  ): Promise<FoundSubjects> {
    const reader = new RequestReader(snapshot, query.signal);
    const caveats = new CaveatEvaluator(schema, query.context);
    const { subjectType, subjectRelation, scope } = query;
    const lookup = new SubjectLookup({
      schema,
      reader,
      subjectType,
      subjectRelation,
      caveats,
      context: query.context,
      maxDepth: scope?.maxDepth ?? this.maxDepth,
      index: this.indexFor(scope, schema),
      remote: scope ? undefined : this.remote,
      cycleDeniesExclusion: scope?.cycleDeniesExclusion,
    });
    const set = await lookup.lookup(query.resource, query.permission);
    const byId = (a: FoundSubject, b: FoundSubject) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
    const subjects = await sortPaced([...set.concrete], byId, reader);
    if (!set.wildcard) return { subjects };
    const excluded = await sortPaced([...set.wildcard.excluded], byId, reader);
    return { wildcard: { membership: set.wildcard.membership, excluded }, subjects };
  }

  /**
   * A check sub-problem another node sent here (see remote-dispatch.ts), evaluated on this node's share of
   * the fleet's cache; its own sub-problems may be dispatched on. The caller has made `snapshot` ready.
   */
  async checkSubproblem(
    snapshot: SnapshotReader,
    schema: CompiledSchema,
    problem: CheckSubproblem,
    signal?: AbortSignal,
  ): Promise<SubproblemOutcome> {
    const checker = this.checker(schema, new RequestReader(snapshot, signal), problem.subject, problem.context, {
      dispatched: { path: problem.path },
    });
    return checker.owned(problem.type, problem.id, problem.relation, problem.depth);
  }

  /** A LookupSubjects step another node sent here (see remote-dispatch.ts); the caller has made `snapshot` ready. */
  async subjectsSubproblem(
    snapshot: SnapshotReader,
    schema: CompiledSchema,
    problem: SubjectsSubproblem,
    signal?: AbortSignal,
  ): Promise<SubjectsOutcome> {
    const lookup = new SubjectLookup({
      schema,
      reader: new RequestReader(snapshot, signal),
      subjectType: problem.subjectType,
      subjectRelation: problem.subjectRelation,
      caveats: new CaveatEvaluator(schema, problem.context),
      context: problem.context,
      maxDepth: this.maxDepth,
      index: this.indexFor(undefined, schema),
      remote: this.remote,
      dispatched: { path: problem.path },
    });
    return lookup.owned(problem.type, problem.id, problem.relation, problem.depth);
  }

  /** Counters of the shared sub-problem cache (hits, misses, evictions, size) and of joined computations. */
  dispatchStats(): ReturnType<Dispatcher['stats']> {
    return this.dispatcher.stats();
  }

  /** Sizes of the nested-group index, its memory budget and the relations it dropped for exceeding it. */
  nestedGroupIndexStats(): NestedGroupIndexStats | undefined {
    return this.index?.stats();
  }

  /** Stops following the datastore's change feed (the datastore itself is the caller's to close). */
  async close(): Promise<void> {
    await this.index?.close();
  }

  /**
   * The nested-group index, when the scope allows it, for the relations indexable in `schema` only. The
   * index keeps the stored schema's indexable relations and those of registered schemas, by
   * `type#relation`: a relation another schema makes indexable may not be in this one (an OpenFGA model
   * version without `[team#member]`, or with a rewrite besides the direct tuples), and then it must be
   * evaluated normally. For the stored schema alone the index holds exactly its relations: no filter.
   */
  private indexFor(scope: EvaluationScope | undefined, schema: CompiledSchema): NestedGroups | undefined {
    const index = this.index;
    if (!index || scope?.private) return undefined;
    if (scope?.schemaKey === undefined && !index.hasRegistered) return index;
    let view = this.indexViews.get(schema);
    if (!view) {
      const indexable = analysisOf(schema).indexableRelations;
      view = {
        at: (q, type, relation) => (indexable.has(`${type}#${relation}`) ? index.at(q, type, relation) : undefined),
      };
      this.indexViews.set(schema, view);
    }
    return view;
  }

  /** A Checker that shares sub-problem answers with other requests at the same revision (unless its scope is private). */
  private checker(
    schema: CompiledSchema,
    reader: RequestReader,
    subject: SubjectRef,
    context: Record<string, unknown> | undefined,
    options: { dispatched?: { path: [string, number][] }; scope?: EvaluationScope } = {},
  ): Checker {
    const { dispatched, scope } = options;
    let shared: SharedDispatch | undefined;
    if (this.dispatcher.enabled && !scope?.private) {
      const prefix = checkKeyPrefix(reader.snapshot.revision, subject, context, scope?.schemaKey);
      const keyPrefix = this.dispatcher.keyPrefix(prefix);
      shared = { dispatcher: this.dispatcher, keyPrefix, cacheable: !analysisOf(schema).usesExpiration };
    }
    const caveats = new CaveatEvaluator(schema, context);
    return new Checker({
      schema,
      reader,
      subject,
      caveats,
      context,
      maxDepth: scope?.maxDepth ?? this.maxDepth,
      shared,
      index: this.indexFor(scope, schema),
      remote: scope ? undefined : this.remote,
      dispatched,
      cycleDeniesExclusion: scope?.cycleDeniesExclusion,
    });
  }
}
