/**
 * Pemba: the library entry point. Wires a datastore, the schema and the engine behind one object
 * whose methods mirror SpiceDB's PermissionsService and SchemaService.
 *
 * Every read opens the same way (see `reading`): consistency → snapshot (once the nested-group index
 * has caught up with it) → compiled schema → the request validated against it; then the Engine
 * evaluates and the answer is put in SpiceDB's shapes (permissionships, cursors, tokens).
 *
 * @example
 * const pemba = await Pemba.open();
 * await pemba.writeSchema(`definition user {}\ndefinition doc {\n relation reader: user\n}`);
 * await pemba.writeRelationships({ updates: [{ operation: 'TOUCH', relationship: parseRelationship('doc:1#reader@user:ann') }] });
 * const { permissionship } = await pemba.check({ resource: { type: 'doc', id: '1' }, permission: 'reader',
 *   subject: { type: 'user', id: 'ann', relation: '...' }, consistency: { mode: 'fully_consistent' } });
 */
import type {
  Datastore,
  RelationshipKey,
  Revision,
  RevisionChanges,
  SnapshotReader,
  TransactionMetadata,
} from './datastore/datastore.js';
import { keyOf, queryPredicate } from './datastore/datastore.js';
import { openMemoryDatastore } from './datastore/memory/datastore.js';
import { ImportWatchdog, type ImportLimits } from './datastore/import-watchdog.js';
import { resolveRevision } from './consistency/consistency.js';
import type { MismatchedTokenBehavior } from './consistency/consistency.js';
import { decodeToken, encodeToken } from './consistency/zedtoken.js';
import {
  decodeCursor,
  encodeCursor,
  isExportPosition,
  isRelationshipKey,
  requestFingerprint,
} from './requests/cursor.js';
import {
  assertCheckBulkCount,
  assertPreconditionCount,
  assertWriteRequest,
  DEFAULT_MAX_CHECK_BULK_ITEMS,
  DEFAULT_WRITE_LIMITS,
  validateCheck,
  validateObjectAndRelation,
  validateSubject,
  WriteValidator,
} from './requests/request-validation.js';
import type { WriteLimits } from './requests/request-validation.js';
import {
  noSchema,
  preconditionFailed,
  invalidArgument,
  tooManyToDelete,
  transactionMetadataTooLarge,
} from './errors/index.js';
import { Engine, type EngineOptions, type FoundSubject } from './engine/engine.js';
import type { NestedGroupIndexStats } from './engine/nested-group-index.js';
import { isLookupPosition, type LookupPosition } from './engine/lookup-resources.js';
import { nextTurn, sliceSpent, stepDue } from './engine/time-slice.js';
import type { Membership } from './engine/membership.js';
import type { Precondition } from './relationships/relationship.js';
import { filterToQuery, validateFilterAgainstSchema, watchPatterns } from './relationships/relationship-filter.js';
import type {
  CheckRequest,
  CheckResult,
  Consistency,
  DeleteRelationshipsRequest,
  DeleteRelationshipsResult,
  ExpandRequest,
  ExpandTree,
  LookupResourcesRequest,
  LookupResourcesResult,
  LookupSubjectsRequest,
  LookupSubjectsResult,
  ReadRelationshipsRequest,
  ReadRelationshipsResult,
  WriteRelationshipsRequest,
  CheckBulkItem,
  CheckBulkResult,
  WatchEvent,
  WatchRequest,
  Permissionship,
  Cancellable,
} from './requests/requests.js';
import type { Relationship, RelationshipFilter } from './relationships/relationship.js';
import type { CompiledSchema } from './schema/ir.js';
import { ELLIPSIS } from './schema/ir.js';
import { utf8Length } from './runtime/bytes.js';
import { assertNoStrandedRelationships } from './schema/stranded-relationships.js';

export {
  MAX_UPDATES_PER_WRITE,
  MAX_PRECONDITIONS_PER_WRITE,
  DEFAULT_MAX_CHECK_BULK_ITEMS,
} from './requests/request-validation.js';

/** The engine's options (limits, caches, the nested-group index) and the facade's own. */
export interface PembaOptions extends Omit<EngineOptions, 'onBudgetExceeded'> {
  /** Defaults to a new in-memory datastore. */
  datastore?: Datastore;
  /** Where the engine reports what an operator should know (a pino logger fits). */
  log?: { warn(obj: object, msg: string): void };
  /** Bounds on how long one importRelationships may wait for a batch and hold the writer (default: none). */
  importLimits?: ImportLimits;
  /** Most items one checkBulk may ask (default 10,000); the server passes its `limits.maxCheckBulkItems`. */
  maxCheckBulkItems?: number;
  /** Most updates one writeRelationships may carry (default 1,000, as SpiceDB). */
  maxUpdatesPerWrite?: number;
  /** Most preconditions one writeRelationships or deleteRelationships may carry (default 1,000, as SpiceDB). */
  maxPreconditionsPerCall?: number;
  /** What a read whose consistency token another datastore issued does (default `error`; the server's default is SpiceDB's, `full-consistency`). */
  mismatchedTokens?: MismatchedTokenBehavior;
}

/** PembaOptions' limits and policies, defaults applied. */
interface Settings {
  importLimits: ImportLimits;
  maxCheckBulkItems: number;
  writeLimits: WriteLimits;
  mismatchedTokens: MismatchedTokenBehavior;
}

/** A read's opening: the snapshot, its schema (compiled, and its text) and the token naming its revision. */
interface Reading {
  snapshot: SnapshotReader;
  schema: CompiledSchema;
  text: string;
  token: string;
}

export class Pemba {
  private constructor(
    readonly datastore: Datastore,
    /** Evaluates checks, Expand and lookups; owns the caches they share. */
    readonly engine: Engine,
    private readonly settings: Settings,
  ) {}

  static async open(options: PembaOptions = {}): Promise<Pemba> {
    const datastore = options.datastore ?? openMemoryDatastore();
    const engine = await Engine.open(datastore, {
      ...options,
      onBudgetExceeded: (e) =>
        options.log?.warn(
          { ...e, revision: String(e.revision) },
          `nested-group index: ${e.relation} exceeds the index's memory budget (${e.edges} edges, ~${e.bytes} of ${e.budget} bytes); it is evaluated without the index until the next restart`,
        ),
    });
    return new Pemba(datastore, engine, {
      importLimits: options.importLimits ?? {},
      maxCheckBulkItems: options.maxCheckBulkItems ?? DEFAULT_MAX_CHECK_BULK_ITEMS,
      writeLimits: {
        maxUpdates: options.maxUpdatesPerWrite ?? DEFAULT_WRITE_LIMITS.maxUpdates,
        maxPreconditions: options.maxPreconditionsPerCall ?? DEFAULT_WRITE_LIMITS.maxPreconditions,
      },
      mismatchedTokens: options.mismatchedTokens ?? 'error',
    });
  }

  /** Counters of the shared sub-problem cache (hits, misses, evictions, size) and of joined computations. */
  dispatchStats(): ReturnType<Engine['dispatchStats']> {
    return this.engine.dispatchStats();
  }

  /** Sizes of the nested-group index, its memory budget and the relations it dropped for exceeding it. */
  nestedGroupIndexStats(): NestedGroupIndexStats | undefined {
    return this.engine.nestedGroupIndexStats();
  }

  async writeSchema(schema: string, options: Cancellable = {}): Promise<{ token: string }> {
    const next = this.engine.compile(schema);
    const { revision } = await this.datastore.readWrite(
      async (tx) => {
        const stored = await tx.readSchema();
        if (stored) await assertNoStrandedRelationships(tx, this.engine.compile(stored.text), next);
        await tx.writeSchema(schema);
      },
      { signal: options.signal },
    );
    return { token: this.token(revision) };
  }

  async readSchema(consistency?: Consistency): Promise<{ schema: string; token: string }> {
    const snapshot = await this.snapshot(consistency);
    const stored = await snapshot.readSchema();
    if (!stored) throw noSchema();
    return { schema: stored.text, token: this.token(snapshot.revision) };
  }

  async writeRelationships(request: WriteRelationshipsRequest): Promise<{ token: string }> {
    const { updates, preconditions = [] } = request;
    const metadata = storedMetadata(request.metadata);
    assertWriteRequest(updates, preconditions, this.settings.writeLimits);
    const { revision } = await this.datastore.readWrite(
      async (tx) => {
        const schema = this.compile((await tx.readSchema())?.text);
        const validator = new WriteValidator(schema);
        for (const u of updates) {
          const r = u.relationship;
          if (u.operation === 'DELETE') {
            validateFilterAgainstSchema(schema, { resourceType: r.resource.type, relation: r.relation });
          } else {
            validator.validate(r);
          }
        }
        await assertPreconditions(tx, schema, preconditions);
        await tx.write(updates);
      },
      { signal: request.signal, metadata },
    );
    return { token: this.token(revision) };
  }

  async deleteRelationships(request: DeleteRelationshipsRequest): Promise<DeleteRelationshipsResult> {
    const { filter, preconditions = [], limit, allowPartialDeletions = false } = request;
    const metadata = storedMetadata(request.metadata);
    assertPreconditionCount(preconditions, this.settings.writeLimits.maxPreconditions);
    const query = filterToQuery(filter);
    if (limit !== undefined && limit < 0) throw invalidArgument('optional_limit must not be negative');
    const { revision, result } = await this.datastore.readWrite(
      async (tx) => {
        const schema = this.compile((await tx.readSchema())?.text);
        validateFilterAgainstSchema(schema, filter);
        await assertPreconditions(tx, schema, preconditions);
        if (limit) {
          const matching = (await tx.queryRelationships(query, { limit: limit + 1 })).length;
          if (matching > limit && !allowPartialDeletions) throw tooManyToDelete(limit);
          const deletedCount = await tx.deleteMatching(query, limit);
          return { deletedCount, partial: matching > limit };
        }
        return { deletedCount: await tx.deleteMatching(query), partial: false };
      },
      { signal: request.signal, metadata },
    );
    return { token: this.token(revision), ...result };
  }

  async *readRelationships(request: ReadRelationshipsRequest): AsyncIterable<ReadRelationshipsResult> {
    const query = filterToQuery(request.filter);
    const fingerprint = requestFingerprint(['read', request.filter]);
    const after = request.cursor
      ? decodeCursor<RelationshipKey>(this.datastore.id, request.cursor, fingerprint, isRelationshipKey)
      : undefined;
    const { snapshot, token } = await this.reading(request.consistency, (schema) =>
      validateFilterAgainstSchema(schema, request.filter),
    );
    request.signal?.throwIfAborted();
    const rels = await snapshot.queryRelationships(query, { limit: request.limit || undefined, after });
    for (let i = 0; i < rels.length; i++) {
      if ((i & 1023) === 1023) await paced(request.signal);
      const relationship = rels[i];
      yield { relationship, cursor: encodeCursor(this.datastore.id, fingerprint, keyOf(relationship)), token };
    }
  }

  async check(request: CheckRequest): Promise<CheckResult> {
    const { snapshot, schema, text, token } = await this.reading(request.consistency, (schema) =>
      validateCheck(schema, request),
    );
    const result: CheckResult = { ...permissionshipOf(await this.engine.check(snapshot, schema, request)), token };
    if (request.trace) {
      const [check] = await this.engine.traceChecks(snapshot, schema, [request], { signal: request.signal });
      if (check) result.trace = { check, schema: text.trim() };
    }
    return result;
  }

  /**
   * Many checks at one revision; each item gets its answer or its own error, in request order.
   * `trace`: each answered item also gets the trace of its evaluation (see `check`).
   */
  async checkBulk(
    items: CheckBulkItem[],
    consistency?: Consistency,
    options: Cancellable & { trace?: boolean } = {},
  ): Promise<{ results: CheckBulkResult[]; token: string }> {
    assertCheckBulkCount(items.length, this.settings.maxCheckBulkItems);
    const { snapshot, schema, text, token } = await this.reading(consistency);
    // An item the schema refuses answers with its error; the others are evaluated together.
    const invalid = new Map<CheckBulkItem, Error>();
    for (const item of items) {
      try {
        validateCheck(schema, item);
      } catch (error) {
        options.signal?.throwIfAborted();
        invalid.set(item, error as Error);
      }
    }
    const answers = await this.engine.checkBulk(
      snapshot,
      schema,
      items.filter((item) => !invalid.has(item)),
      options,
    );
    let next = 0;
    const results = items.map((item): CheckBulkResult => {
      const error = invalid.get(item);
      if (error) return { item, error };
      const answer = answers[next++];
      return answer.error ? { item, error: answer.error } : { item, ...permissionshipOf(answer.membership) };
    });
    if (options.trace) {
      const answered = results.filter((r) => !r.error);
      const traces = await this.engine.traceChecks(
        snapshot,
        schema,
        answered.map((r) => r.item),
        { signal: options.signal, bulk: true },
      );
      answered.forEach((r, i) => {
        const check = traces[i];
        if (check && !r.error) r.trace = { check, schema: text.trim() };
      });
    }
    return { results, token };
  }

  /** The compiled schema and its text at a revision (ReflectSchema and friends read it). */
  async schemaAt(consistency?: Consistency): Promise<{ schema: CompiledSchema; text: string; token: string }> {
    const { schema, text, token } = await this.reading(consistency);
    return { schema, text, token };
  }

  /**
   * Write many relationships in one transaction (ImportBulkRelationships): every one is validated,
   * a relationship that already exists fails the whole import, nothing is written on failure. The
   * import holds the writer throughout, so it is bounded by the import limits.
   */
  async importRelationships(
    relationships: AsyncIterable<Relationship[]> | Iterable<Relationship[]>,
    options: Cancellable = {},
  ): Promise<{ token: string; count: number }> {
    const watchdog = new ImportWatchdog(this.settings.importLimits, options.signal);
    try {
      const { revision, result } = await this.datastore.readWrite(
        async (tx) => {
          watchdog.holding();
          const validator = new WriteValidator(this.compile((await tx.readSchema())?.text));
          let count = 0;
          for await (const batch of watchdog.batches(relationships)) {
            for (const r of batch) validator.validate(r);
            await tx.write(batch.map((relationship) => ({ operation: 'CREATE' as const, relationship })));
            count += batch.length;
          }
          return count;
        },
        { signal: watchdog.signal },
      );
      return { token: this.token(revision), count: result };
    } finally {
      watchdog.dispose();
    }
  }

  /** Every relationship at one revision, in key order, in pages (ExportBulkRelationships). */
  async *exportRelationships(
    options: Cancellable & {
      consistency?: Consistency;
      cursor?: string;
      pageSize?: number;
      filter?: RelationshipFilter;
    } = {},
  ): AsyncIterable<{ relationships: Relationship[]; cursor: string; token: string }> {
    const fingerprint = requestFingerprint(['export', options.filter ?? null]);
    let position = options.cursor
      ? decodeCursor<{ r: string; k?: RelationshipKey }>(
          this.datastore.id,
          options.cursor,
          fingerprint,
          isExportPosition,
        )
      : undefined;
    const snapshot = position
      ? this.datastore.snapshot(BigInt(position.r))
      : await this.snapshot(options.consistency ?? { mode: 'fully_consistent' });
    if (position) await this.datastore.assertRevisionReadable(snapshot.revision);
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
   * filtered by resource type or relationship filters; runs until the signal aborts. A commit's
   * wanted changes come as one event, with the commit's metadata; then, when asked for, a
   * `schemaUpdated` event if it wrote the schema and a `checkpoint` event, as SpiceDB sends them.
   * With checkpoints and `heartbeatMs`, a checkpoint at the last commit seen also comes whenever
   * the watch has sent nothing for that long (an idle stream stays alive through proxies).
   */
  async *watch(request: WatchRequest = {}): AsyncIterable<WatchEvent> {
    const after =
      request.afterToken !== undefined
        ? decodeToken(request.afterToken, this.datastore.id)
        : await this.datastore.headRevision();
    if (request.afterToken !== undefined) await this.datastore.assertRevisionReadable(after);
    const queries = (request.filters ?? []).map(filterToQuery);
    const filters = queries.map(queryPredicate);
    const types = new Set(request.objectTypes ?? []);
    const wanted = (r: Relationship) =>
      (types.size === 0 || types.has(r.resource.type)) &&
      (filters.length === 0 || filters.some((matches) => matches(keyOf(r))));
    // The datastore leaves out changes no filter could want (a bulk import of other types stays in SQL).
    const patterns = watchPatterns([...types], queries);
    const everything = types.size === 0 && filters.length === 0;
    const heartbeatMs =
      request.checkpoints && request.heartbeatMs !== undefined
        ? Math.max(MIN_WATCH_HEARTBEAT_MS, request.heartbeatMs)
        : undefined;
    const feed = this.datastore.watch(after, request.signal, patterns)[Symbol.asyncIterator]();
    /** The last commit seen: where a heartbeat's checkpoint is. */
    let through = after;
    /** The feed's step being waited for, if any. */
    let pending: Promise<IteratorResult<RevisionChanges>> | undefined;
    try {
      for (;;) {
        pending = feed.next();
        let step = heartbeatMs === undefined ? await pending : await beforeHeartbeat(pending, heartbeatMs);
        while (step === HEARTBEAT) {
          if (request.signal?.aborted) return;
          yield { changes: [], token: this.token(through), checkpoint: true };
          step = await beforeHeartbeat(pending, heartbeatMs!);
        }
        pending = undefined;
        if (step.done) return;
        const commit = step.value;
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
        through = commit.revision;
        const token = this.token(commit.revision);
        const { metadata } = commit;
        if (changes.length > 0) yield metadata ? { changes, token, metadata } : { changes, token };
        if (request.schemaUpdates && commit.schema !== undefined) {
          yield metadata
            ? { changes: [], token, metadata, schemaUpdated: true }
            : { changes: [], token, schemaUpdated: true };
        }
        if (request.checkpoints) yield { changes: [], token, checkpoint: true };
      }
    } finally {
      // Ended while waiting for the feed (a consumer that stopped between heartbeats): the step settles
      // at the next commit, abort or close; the feed ends then, and this does not wait for it.
      if (pending) {
        pending.then(
          () => feed.return?.(),
          () => undefined,
        );
      } else await feed.return?.();
    }
  }

  async expand(request: ExpandRequest): Promise<{ tree: ExpandTree; token: string }> {
    const { snapshot, schema, token } = await this.reading(request.consistency, (schema) =>
      validateObjectAndRelation(schema, request.resource.type, request.permission),
    );
    return { tree: await this.engine.expand(snapshot, schema, request), token };
  }

  async *lookupResources(request: LookupResourcesRequest): AsyncIterable<LookupResourcesResult> {
    const { resourceType, permission, subject } = request;
    const fingerprint = requestFingerprint(['lr', resourceType, permission, subject, request.context ?? null]);
    const after = request.cursor
      ? decodeCursor<LookupPosition>(this.datastore.id, request.cursor, fingerprint, isLookupPosition)
      : undefined;
    // A cursor pins its revision, as SpiceDB's do: every page reads the same snapshot (and its kept candidates).
    const consistency: Consistency | undefined = after
      ? { mode: 'at_exact_snapshot', token: this.token(BigInt(after.r)) }
      : request.consistency;
    const { snapshot, schema, token } = await this.reading(consistency, (schema) => {
      validateObjectAndRelation(schema, resourceType, permission);
      validateSubject(schema, subject);
    });
    const page = { after: after?.id, limit: request.limit || undefined };
    const found = this.engine.lookupResources(snapshot, schema, { ...request, ...page });
    const r = snapshot.revision.toString();
    for await (const { id: resourceId, membership } of found) {
      const cursor = encodeCursor(this.datastore.id, fingerprint, { r, id: resourceId });
      yield { resourceId, ...permissionshipOf(membership), cursor, token };
    }
  }

  async *lookupSubjects(request: LookupSubjectsRequest): AsyncIterable<LookupSubjectsResult> {
    const subjectRelation = request.subjectRelation || ELLIPSIS;
    const { snapshot, schema, token } = await this.reading(request.consistency, (schema) => {
      validateObjectAndRelation(schema, request.resource.type, request.permission);
      validateSubject(schema, { type: request.subjectType, id: 'x', relation: subjectRelation });
    });
    const { wildcard, subjects } = await this.engine.lookupSubjects(snapshot, schema, { ...request, subjectRelation });
    const resolved = ([id, membership]: FoundSubject) => ({ id, ...permissionshipOf(membership) });
    if (wildcard) {
      const excludedSubjects = wildcard.excluded.map(resolved);
      yield { subject: resolved(['*', wildcard.membership]), excludedSubjects, token };
    }
    for (const found of subjects) {
      if (stepDue()) await paced(request.signal);
      yield { subject: resolved(found), excludedSubjects: [], token };
    }
  }

  async close(): Promise<void> {
    await this.engine.close();
    await this.datastore.close();
  }

  private token(revision: Revision): string {
    return encodeToken(this.datastore.id, revision);
  }

  /** The snapshot the consistency asks for, once the nested-group index has caught up with it (see Engine.readyFor). */
  private async snapshot(consistency: Consistency | undefined): Promise<SnapshotReader> {
    const revision = await resolveRevision(this.datastore, consistency, this.settings.mismatchedTokens);
    await this.engine.readyFor(revision);
    // fully_consistent reads the primary's newest state from the primary itself, never a read replica.
    return this.datastore.snapshot(revision, { primary: consistency?.mode === 'fully_consistent' });
  }

  /** Every read's opening: consistency → snapshot → compiled schema → the request validated against it. */
  private async reading(
    consistency: Consistency | undefined,
    validate?: (schema: CompiledSchema) => void,
  ): Promise<Reading> {
    const snapshot = await this.snapshot(consistency);
    const text = (await snapshot.readSchema())?.text;
    const schema = this.compile(text);
    validate?.(schema);
    return { snapshot, schema, text: text ?? '', token: this.token(snapshot.revision) };
  }

  /**
   * The stored schema, compiled (cached by text). None written yet reads as an empty schema, as in
   * SpiceDB: a request then fails on the definition it names (``object definition `x` not found``).
   */
  private compile(text: string | undefined): CompiledSchema {
    return this.engine.compile(text ?? '');
  }
}

/** Each precondition's filter must name what the schema has, and match (MUST_MATCH) or not (MUST_NOT_MATCH). */
async function assertPreconditions(
  tx: { queryRelationships: SnapshotReader['queryRelationships'] },
  schema: CompiledSchema,
  preconditions: Precondition[],
): Promise<void> {
  for (const p of preconditions) {
    validateFilterAgainstSchema(schema, p.filter);
    const found = (await tx.queryRelationships(filterToQuery(p.filter), { limit: 1 })).length > 0;
    if (found !== (p.operation === 'MUST_MATCH')) throw preconditionFailed(p.operation, p.filter);
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

/** SpiceDB's bound on a write's transaction metadata, in bytes of its JSON. */
export const MAX_TRANSACTION_METADATA_BYTES = 65_000;

/** The shortest watch heartbeat (SpiceDB's datastores' minimum, which its 0 stands for). */
export const MIN_WATCH_HEARTBEAT_MS = 100;

/**
 * The metadata to store with a write: none for an empty object (SpiceDB's datastores keep only
 * non-empty metadata); INVALID_ARGUMENT past MAX_TRANSACTION_METADATA_BYTES or when not JSON.
 */
function storedMetadata(metadata: TransactionMetadata | undefined): TransactionMetadata | undefined {
  if (metadata === undefined || Object.keys(metadata).length === 0) return undefined;
  let text: string;
  try {
    text = JSON.stringify(metadata);
  } catch (e) {
    throw invalidArgument(`transaction metadata is not JSON: ${(e as Error).message}`);
  }
  const size = utf8Length(text);
  if (size > MAX_TRANSACTION_METADATA_BYTES) throw transactionMetadataTooLarge(size, MAX_TRANSACTION_METADATA_BYTES);
  return metadata;
}

const HEARTBEAT = Symbol('heartbeat');

/** What `step` settles with, or HEARTBEAT if that takes longer than `ms`. */
function beforeHeartbeat<T>(step: Promise<T>, ms: number): Promise<T | typeof HEARTBEAT> {
  let timer: NodeJS.Timeout | undefined;
  const beat = new Promise<typeof HEARTBEAT>((resolve) => {
    timer = setTimeout(() => resolve(HEARTBEAT), ms);
  });
  return Promise.race([step, beat]).finally(() => clearTimeout(timer));
}
