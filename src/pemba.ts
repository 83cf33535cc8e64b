/**
 * Pemba: the library entry point. Wires a datastore, the schema and the engine behind one object
 * whose methods mirror SpiceDB's PermissionsService and SchemaService.
 *
 * @example
 * const pemba = await Pemba.open();
 * await pemba.writeSchema(`definition user {}\ndefinition doc {\n relation reader: user\n}`);
 * await pemba.writeRelationships({ updates: [{ operation: 'TOUCH', relationship: parseRelationship('doc:1#reader@user:ann') }] });
 * const { permissionship } = await pemba.check({ resource: { type: 'doc', id: '1' }, permission: 'reader',
 *   subject: { type: 'user', id: 'ann', relation: '...' }, consistency: { mode: 'fully_consistent' } });
 */
import type { Datastore, RelationshipKey, Revision, SnapshotReader } from './datastore/datastore.js';
import { keyOf, queryPredicate } from './datastore/datastore.js';
import { formatRelationship } from './relationships/relationship-string.js';
import { createMemoryDatastore } from './datastore/memory/memory-datastore.js';
import { resolveRevision } from './consistency/consistency.js';
import { decodeToken, encodeToken } from './consistency/zedtoken.js';
import { decodeCursor, encodeCursor, isExportPosition, isRelationshipKey, requestFingerprint } from './requests/cursor.js';
import { failedPrecondition, invalidArgument, PembaError } from './errors/index.js';
import { Checker, usesExpiration, type SharedDispatch } from './engine/check.js';
import { Dispatcher } from './engine/dispatcher.js';
import { NestedGroupIndex, type NestedGroupIndexStats } from './engine/nested-group-index.js';
import { DEFAULT_MAX_DEPTH } from './engine/depth.js';
import { DEFAULT_MAX_EXPAND_SIZE, expand } from './engine/expand.js';
import { isLookupPosition, lookupResources, type LookupPosition } from './engine/lookup-resources.js';
import { CandidateCache } from './engine/candidate-cache.js';
import { sortPaced } from './engine/paced-sort.js';
import { nextTurn, sliceSpent, stepDue } from './engine/time-slice.js';
import { SubjectLookup } from './engine/lookup-subjects.js';
import { RequestReader } from './engine/request-reader.js';
import { CaveatEvaluator } from './engine/caveat-evaluator.js';
import { validateRelationshipContext } from './caveats/index.js';
import type { Membership } from './engine/membership.js';
import type { Precondition, SubjectRef } from './relationships/relationship.js';
import { checkFilterAgainstSchema, filterToQuery, watchPatterns } from './relationships/relationship-filter.js';
import type {
  CheckRequest, CheckResult, Consistency, DeleteRelationshipsRequest, DeleteRelationshipsResult, ExpandRequest,
  ExpandTree, LookupResourcesRequest, LookupResourcesResult, LookupSubjectsRequest, LookupSubjectsResult,
  ReadRelationshipsRequest, ReadRelationshipsResult, WriteRelationshipsRequest, CheckBulkItem, CheckBulkResult,
  WatchEvent, WatchRequest, Permissionship, Cancellable,
} from './requests/requests.js';
import type { Relationship, RelationshipFilter } from './relationships/relationship.js';
import { compileSchema, validateRelationship } from './schema/index.js';
import type { CompiledSchema } from './schema/ir.js';
import { ELLIPSIS } from './schema/ir.js';
import { assertNoStrandedRelationships } from './schema/stranded-relationships.js';
import { ImportWatchdog, type ImportLimits } from './datastore/import-watchdog.js';

export interface PembaOptions {
  /** Defaults to a new in-memory datastore. */
  datastore?: Datastore;
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
   * edges would exceed it is no longer indexed (logged as a warning) and is evaluated normally.
   */
  nestedGroupIndexBytes?: number;
  /** Where the engine reports what an operator should know (a pino logger fits). */
  log?: { warn(obj: object, msg: string): void };
  /** Bounds on how long one importRelationships may wait for a batch and hold the writer (default: none). */
  importLimits?: ImportLimits;
}

/** Longest a read waits for the nested-group index to apply its revision before evaluating without it. */
const INDEX_CATCH_UP_MS = 1000;

/** SpiceDB's limits on one write. */
export const MAX_UPDATES_PER_WRITE = 1000;
export const MAX_PRECONDITIONS_PER_WRITE = 1000;
export const MAX_BULK_CHECK_ITEMS = 10000;

export class Pemba {
  private readonly compiled = new Map<string, CompiledSchema>();
  /** Candidates of paged LookupResources, for their next pages. */
  private readonly candidates = new CandidateCache();

  private constructor(
    readonly datastore: Datastore,
    private readonly maxDepth: number,
    private readonly dispatcher: Dispatcher,
    private readonly index: NestedGroupIndex | undefined,
    private readonly importLimits: ImportLimits = {},
    private readonly maxExpandSize = DEFAULT_MAX_EXPAND_SIZE,
  ) {}

  static async open(options: PembaOptions = {}): Promise<Pemba> {
    const datastore = options.datastore ?? createMemoryDatastore();
    const dispatcher = new Dispatcher({ cacheBytes: options.dispatchCacheBytes, dedupe: options.dedupe });
    const index = options.nestedGroupIndex === false ? undefined : await NestedGroupIndex.open(datastore, {
      maxBytes: options.nestedGroupIndexBytes,
      onBudgetExceeded: (e) => options.log?.warn({ ...e, revision: String(e.revision) },
        `nested-group index: ${e.relation} exceeds the index's memory budget (${e.edges} edges, ~${e.bytes} of ${e.budget} bytes); it is evaluated without the index until the next restart`),
    });
    return new Pemba(datastore, options.maxDepth ?? DEFAULT_MAX_DEPTH, dispatcher, index, options.importLimits, options.maxExpandSize);
  }

  /** Counters of the shared sub-problem cache (hits, misses, evictions, size) and of joined computations. */
  dispatchStats(): ReturnType<Dispatcher['stats']> {
    return this.dispatcher.stats();
  }

  /** Sizes of the nested-group index, its memory budget and the relations it dropped for exceeding it. */
  nestedGroupIndexStats(): NestedGroupIndexStats | undefined {
    return this.index?.stats();
  }

  async writeSchema(schema: string, options: Cancellable = {}): Promise<{ token: string }> {
    const next = compileSchema(schema);
    const { revision } = await this.datastore.readWrite(async (tx) => {
      const stored = await tx.readSchema();
      if (stored) await assertNoStrandedRelationships(tx, this.compile(stored.text), next);
      await tx.writeSchema(schema);
    }, { signal: options.signal });
    this.compiled.set(schema, next);
    return { token: this.token(revision) };
  }

  async readSchema(consistency?: Consistency): Promise<{ schema: string; token: string }> {
    const snapshot = await this.snapshot(consistency);
    const stored = await snapshot.readSchema();
    // SpiceDB answers NOT_FOUND here (elsewhere a missing schema is a FAILED_PRECONDITION).
    if (!stored) throw new PembaError('NOT_FOUND', 'No schema has been defined; please call WriteSchema to start');
    return { schema: stored.text, token: this.token(snapshot.revision) };
  }

  async writeRelationships(request: WriteRelationshipsRequest): Promise<{ token: string }> {
    const { updates, preconditions = [] } = request;
    if (updates.length > MAX_UPDATES_PER_WRITE) {
      throw invalidArgument(`update count of ${updates.length} is greater than maximum allowed of ${MAX_UPDATES_PER_WRITE}`,
        'ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST');
    }
    checkPreconditionCount(preconditions);
    const seen = new Set<string>();
    for (const u of updates) {
      const key = JSON.stringify(keyOf(u.relationship));
      if (seen.has(key)) {
        throw invalidArgument(`found more than one update with relationship \`${formatRelationship(u.relationship)}\` in this request; a relationship can only be specified in an update once per request`,
          'ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP');
      }
      seen.add(key);
    }
    const { revision } = await this.datastore.readWrite(async (tx) => {
      const schema = this.compile((await tx.readSchema())?.text);
      for (const u of updates) {
        if (u.operation === 'DELETE') checkFilterAgainstSchema(schema, { resourceType: u.relationship.resource.type, relation: u.relationship.relation });
        else validateWrite(schema, u.relationship);
      }
      await this.checkPreconditions(tx, schema, preconditions);
      await tx.write(updates);
    }, { signal: request.signal });
    return { token: this.token(revision) };
  }

  async deleteRelationships(request: DeleteRelationshipsRequest): Promise<DeleteRelationshipsResult> {
    const { filter, preconditions = [], limit, allowPartialDeletions = false } = request;
    checkPreconditionCount(preconditions);
    const query = filterToQuery(filter);
    if (limit !== undefined && limit < 0) throw invalidArgument('optional_limit must not be negative');
    const { revision, result } = await this.datastore.readWrite(async (tx) => {
      const schema = this.compile((await tx.readSchema())?.text);
      checkFilterAgainstSchema(schema, filter);
      await this.checkPreconditions(tx, schema, preconditions);
      if (limit) {
        const matching = (await tx.queryRelationships(query, { limit: limit + 1 })).length;
        if (matching > limit && !allowPartialDeletions) {
          throw failedPrecondition(
            `found more than ${limit} relationships to be deleted and partial deletion was not requested`,
            'ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE',
          );
        }
        const deletedCount = await tx.deleteMatching(query, limit);
        return { deletedCount, partial: matching > limit };
      }
      return { deletedCount: await tx.deleteMatching(query), partial: false };
    }, { signal: request.signal });
    return { token: this.token(revision), ...result };
  }

  async *readRelationships(request: ReadRelationshipsRequest): AsyncIterable<ReadRelationshipsResult> {
    const query = filterToQuery(request.filter);
    const fingerprint = requestFingerprint(['read', request.filter]);
    const after = request.cursor ? decodeCursor<RelationshipKey>(this.datastore.id, request.cursor, fingerprint, isRelationshipKey) : undefined;
    const snapshot = await this.snapshot(request.consistency);
    checkFilterAgainstSchema(await this.schemaOf(snapshot), request.filter);
    const token = this.token(snapshot.revision);
    request.signal?.throwIfAborted();
    const rels = await snapshot.queryRelationships(query, { limit: request.limit || undefined, after });
    for (let i = 0; i < rels.length; i++) {
      if ((i & 1023) === 1023) await paced(request.signal);
      const relationship = rels[i];
      yield { relationship, cursor: encodeCursor(this.datastore.id, fingerprint, keyOf(relationship)), token };
    }
  }

  async check(request: CheckRequest): Promise<CheckResult> {
    const snapshot = await this.snapshot(request.consistency);
    const schema = await this.schemaOf(snapshot);
    checkObjectAndRelation(schema, request.resource.type, request.permission);
    checkSubject(schema, request.subject);
    const checker = this.checker(schema, new RequestReader(snapshot, request.signal), request.subject, request.context);
    const membership = await checker.check(request.resource, request.permission);
    return { ...permissionshipOf(membership), token: this.token(snapshot.revision) };
  }

  /** Many checks at one revision; each item gets its answer or its own error, in request order. */
  async checkBulk(items: CheckBulkItem[], consistency?: Consistency, options: Cancellable = {}): Promise<{ results: CheckBulkResult[]; token: string }> {
    if (items.length > MAX_BULK_CHECK_ITEMS) {
      throw invalidArgument(`check bulk item count of ${items.length} is greater than maximum allowed of ${MAX_BULK_CHECK_ITEMS}`,
        'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST');
    }
    const snapshot = await this.snapshot(consistency);
    const schema = await this.schemaOf(snapshot);
    const reader = new RequestReader(snapshot, options.signal);
    const checkers = new Map<string, Checker>();
    const results: CheckBulkResult[] = [];
    for (const item of items) {
      try {
        checkObjectAndRelation(schema, item.resource.type, item.permission);
        checkSubject(schema, item.subject);
        const key = JSON.stringify([item.subject, item.context ?? null]);
        let checker = checkers.get(key);
        if (!checker) {
          checker = this.checker(schema, reader, item.subject, item.context);
          checkers.set(key, checker);
        }
        results.push({ item, ...permissionshipOf(await checker.check(item.resource, item.permission)) });
      } catch (error) {
        // An item's own failure is its answer; the call's deadline or cancellation ends them all.
        options.signal?.throwIfAborted();
        results.push({ item, error: error as Error });
      }
    }
    return { results, token: this.token(snapshot.revision) };
  }

  /** The compiled schema and its text at a revision (ReflectSchema and friends read it). */
  async schemaAt(consistency?: Consistency): Promise<{ schema: CompiledSchema; text: string; token: string }> {
    const snapshot = await this.snapshot(consistency);
    const stored = await snapshot.readSchema();
    if (!stored) throw noSchema();
    return { schema: this.compile(stored.text), text: stored.text, token: this.token(snapshot.revision) };
  }

  /**
   * Write many relationships in one transaction (ImportBulkRelationships): every one is validated,
   * a relationship that already exists fails the whole import, nothing is written on failure. The
   * import holds the writer throughout, so it is bounded by the import limits.
   */
  async importRelationships(relationships: AsyncIterable<Relationship[]> | Iterable<Relationship[]>, options: Cancellable = {}): Promise<{ token: string; count: number }> {
    const watchdog = new ImportWatchdog(this.importLimits, options.signal);
    try {
      const { revision, result } = await this.datastore.readWrite(async (tx) => {
        watchdog.holding();
        const schema = this.compile((await tx.readSchema())?.text);
        let count = 0;
        for await (const batch of watchdog.batches(relationships)) {
          for (const r of batch) validateWrite(schema, r);
          await tx.write(batch.map((relationship) => ({ operation: 'CREATE' as const, relationship })));
          count += batch.length;
        }
        return count;
      }, { signal: watchdog.signal });
      return { token: this.token(revision), count: result };
    } finally {
      watchdog.dispose();
    }
  }

  /** Every relationship at one revision, in key order, in pages (ExportBulkRelationships). */
  async *exportRelationships(options: Cancellable & { consistency?: Consistency; cursor?: string; pageSize?: number; filter?: RelationshipFilter } = {}): AsyncIterable<{ relationships: Relationship[]; cursor: string; token: string }> {
    const fingerprint = requestFingerprint(['export', options.filter ?? null]);
    let position = options.cursor ? decodeCursor<{ r: string; k?: RelationshipKey }>(this.datastore.id, options.cursor, fingerprint, isExportPosition) : undefined;
    const snapshot = position ? this.datastore.snapshot(BigInt(position.r)) : await this.snapshot(options.consistency ?? { mode: 'fully_consistent' });
    if (position) await this.datastore.checkRevision(snapshot.revision);
    const query = options.filter ? filterToQuery(options.filter) : {};
    const token = this.token(snapshot.revision);
    const pageSize = options.pageSize || 1000;
    for (;;) {
      await paced(options.signal);
      const page = await snapshot.queryRelationships(query, { limit: pageSize, after: position?.k });
      if (page.length === 0) return;
      position = { r: snapshot.revision.toString(), k: keyOf(page[page.length - 1]) };
      yield { relationships: page, cursor: encodeCursor(this.datastore.id, fingerprint, position), token };
      if (page.length < pageSize) return;
    }
  }

  /**
   * Every committed change after the token (or from now), in revision order, each revision once,
   * filtered by resource type or relationship filters; runs until the signal aborts.
   */
  async *watch(request: WatchRequest = {}): AsyncIterable<WatchEvent> {
    const after = request.afterToken !== undefined
      ? decodeToken(request.afterToken, this.datastore.id)
      : await this.datastore.headRevision();
    if (request.afterToken !== undefined) await this.datastore.checkRevision(after);
    const queries = (request.filters ?? []).map(filterToQuery);
    const filters = queries.map(queryPredicate);
    const types = new Set(request.objectTypes ?? []);
    const wanted = (r: Relationship) =>
      (types.size === 0 || types.has(r.resource.type)) &&
      (filters.length === 0 || filters.some((matches) => matches(keyOf(r))));
    // The datastore leaves out changes no filter could want (a bulk import of other types stays in SQL).
    const patterns = watchPatterns([...types], queries);
    const everything = types.size === 0 && filters.length === 0;
    for await (const commit of this.datastore.watch(after, request.signal, patterns)) {
      let changes = commit.changes;
      if (!everything) {
        changes = [];
        // A catch-up commit can hold a million changes: filter them in slices.
        for (let i = 0; i < commit.changes.length; i++) {
          if (stepDue()) {
            await nextTurn();
            if (request.signal?.aborted) return;
          }
          if (wanted(commit.changes[i].relationship)) changes.push(commit.changes[i]);
        }
      }
      if (request.signal?.aborted) return;
      if (changes.length > 0) yield { changes, token: this.token(commit.revision) };
    }
  }

  async expand(request: ExpandRequest): Promise<{ tree: ExpandTree; token: string }> {
    const snapshot = await this.snapshot(request.consistency);
    const schema = await this.schemaOf(snapshot);
    checkObjectAndRelation(schema, request.resource.type, request.permission);
    const tree = await expand(schema, new RequestReader(snapshot, request.signal), request.resource, request.permission, this.maxDepth, this.maxExpandSize);
    return { tree, token: this.token(snapshot.revision) };
  }

  async *lookupResources(request: LookupResourcesRequest): AsyncIterable<LookupResourcesResult> {
    const fingerprint = requestFingerprint(['lr', request.resourceType, request.permission, request.subject, request.context ?? null]);
    const after = request.cursor ? decodeCursor<LookupPosition>(this.datastore.id, request.cursor, fingerprint, isLookupPosition) : undefined;
    // A cursor pins its revision, as SpiceDB's do: every page reads the same snapshot (and its kept candidates).
    const snapshot = await this.snapshot(after ? { mode: 'at_exact_snapshot', token: this.token(BigInt(after.r)) } : request.consistency);
    const schema = await this.schemaOf(snapshot);
    checkObjectAndRelation(schema, request.resourceType, request.permission);
    checkSubject(schema, request.subject);
    const checker = this.checker(schema, new RequestReader(snapshot, request.signal), request.subject, request.context);
    const found = lookupResources(schema, request.resourceType, request.permission, checker, this.index, {
      after: after?.id, limit: request.limit || undefined, cache: this.candidates, key: `${snapshot.revision}|${fingerprint}`,
    });
    const token = this.token(snapshot.revision);
    const r = snapshot.revision.toString();
    for await (const { id: resourceId, membership } of found) {
      yield { resourceId, ...permissionshipOf(membership), cursor: encodeCursor(this.datastore.id, fingerprint, { r, id: resourceId }), token };
    }
  }

  async *lookupSubjects(request: LookupSubjectsRequest): AsyncIterable<LookupSubjectsResult> {
    const snapshot = await this.snapshot(request.consistency);
    const schema = await this.schemaOf(snapshot);
    checkObjectAndRelation(schema, request.resource.type, request.permission);
    const subjectRelation = request.subjectRelation || ELLIPSIS;
    checkSubject(schema, { type: request.subjectType, id: 'x', relation: subjectRelation });
    const reader = new RequestReader(snapshot, request.signal);
    const lookup = new SubjectLookup(schema, reader, request.subjectType, subjectRelation,
      new CaveatEvaluator(schema, request.context), this.maxDepth, this.index);
    const set = await lookup.lookup(request.resource, request.permission);
    const token = this.token(snapshot.revision);
    const resolved = ([id, m]: [string, Membership]) => ({ id, ...permissionshipOf(m) });
    const byId = (a: [string, Membership], b: [string, Membership]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
    if (set.wildcard) {
      const excludedSubjects = (await sortPaced([...set.wildcard.excluded], byId, reader)).map(resolved);
      yield { subject: resolved(['*', set.wildcard.membership]), excludedSubjects, token };
    }
    for (const entry of await sortPaced([...set.concrete], byId, reader)) {
      if (reader.due()) await reader.pause();
      yield { subject: resolved(entry), excludedSubjects: [], token };
    }
  }

  async close(): Promise<void> {
    await this.index?.close();
    await this.datastore.close();
  }

  /** A Checker that shares sub-problem answers with other requests at the same revision. */
  private checker(schema: CompiledSchema, reader: RequestReader, subject: SubjectRef, context?: Record<string, unknown>): Checker {
    const caveats = new CaveatEvaluator(schema, context);
    let shared: SharedDispatch | undefined;
    if (this.dispatcher.enabled) {
      const prefix = [reader.snapshot.revision, subject.type, subject.id, subject.relation, JSON.stringify(context ?? {})].join('\u0000');
      shared = { dispatcher: this.dispatcher, keyPrefix: this.dispatcher.keyPrefix(prefix), cacheable: !usesExpiration(schema) };
    }
    return new Checker(schema, reader, subject, caveats, this.maxDepth, shared, this.index);
  }

  private token(revision: Revision): string {
    return encodeToken(this.datastore.id, revision);
  }

  private async snapshot(consistency: Consistency | undefined): Promise<SnapshotReader> {
    const revision = await resolveRevision(this.datastore, consistency);
    // The index answers only at revisions it has applied, and its answer can differ from evaluation
    // without it (a chain past the depth limit). Waiting briefly for it at a just-written revision keeps
    // the same question's answer the same whether or not the index had caught up.
    if (this.index?.status === 'live' && this.index.revision < revision) {
      // Reading the head wakes the change feed at once when another node wrote the revision.
      await this.datastore.headRevision();
      await this.index.caughtUp(revision, INDEX_CATCH_UP_MS);
    }
    return this.datastore.snapshot(revision);
  }

  private async schemaOf(snapshot: SnapshotReader): Promise<CompiledSchema> {
    return this.compile((await snapshot.readSchema())?.text);
  }

  /** Compiled schemas are cached by text: the stored schema changes rarely and compiling is not free. */
  private compile(text: string | undefined): CompiledSchema {
    if (text === undefined) throw noSchema();
    let schema = this.compiled.get(text);
    if (!schema) {
      schema = compileSchema(text);
      if (this.compiled.size > 16) this.compiled.clear();
      this.compiled.set(text, schema);
    }
    return schema;
  }

  private async checkPreconditions(
    tx: { queryRelationships: SnapshotReader['queryRelationships'] },
    schema: CompiledSchema,
    preconditions: Precondition[],
  ): Promise<void> {
    for (const p of preconditions) {
      checkFilterAgainstSchema(schema, p.filter);
      const found = (await tx.queryRelationships(filterToQuery(p.filter), { limit: 1 })).length > 0;
      if (found !== (p.operation === 'MUST_MATCH')) {
        throw failedPrecondition(
          `unable to satisfy write precondition: ${p.operation} ${JSON.stringify(p.filter)}`,
          'ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE',
        );
      }
    }
  }
}

/** Between pages or batches of a long read: stops once the call aborts, and gives the event loop a turn when its slice is spent. */
async function paced(signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  if (sliceSpent()) {
    await nextTurn();
    signal?.throwIfAborted();
  }
}

function permissionshipOf(m: Membership): { permissionship: Permissionship; missingContext?: string[] } {
  if (m.kind === 'member') return { permissionship: 'HAS_PERMISSION' };
  if (m.kind === 'not-member') return { permissionship: 'NO_PERMISSION' };
  return { permissionship: 'CONDITIONAL_PERMISSION', missingContext: [...m.missing] };
}

/** The schema's rules, and a stored caveat context must name the caveat's parameters with values of their types. */
function validateWrite(schema: CompiledSchema, r: Relationship): void {
  validateRelationship(schema, r);
  const caveat = r.caveat && schema.caveats.get(r.caveat.name);
  if (caveat && r.caveat?.context) validateRelationshipContext(caveat, r.caveat.context);
}

function noSchema(): PembaError {
  return failedPrecondition('No schema has been defined; please call WriteSchema to start', 'ERROR_REASON_SCHEMA_PARSE_ERROR');
}

function checkPreconditionCount(preconditions: Precondition[]): void {
  if (preconditions.length > MAX_PRECONDITIONS_PER_WRITE) {
    throw invalidArgument(
      `precondition count of ${preconditions.length} is greater than maximum allowed of ${MAX_PRECONDITIONS_PER_WRITE}`,
      'ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST',
    );
  }
}

function checkObjectAndRelation(schema: CompiledSchema, type: string, relation: string): void {
  checkFilterAgainstSchema(schema, { resourceType: type, relation });
  if (!relation) throw invalidArgument('a permission or relation name is required');
}

function checkSubject(schema: CompiledSchema, subject: SubjectRef): void {
  if (subject.id === '*') throw invalidArgument('cannot perform check on wildcard subject', 'ERROR_REASON_WILDCARD_NOT_ALLOWED');
  checkFilterAgainstSchema(schema, { subject: { type: subject.type, relation: subject.relation } });
}
