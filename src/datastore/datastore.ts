/**
 * The Datastore contract: MVCC snapshot reads, serialisable read-write transactions and a change feed.
 * Every backend (memory, sqlite, postgres) implements exactly this and runs the same contract suite
 * (`runDatastoreContract` in test/datastore/contract.ts). Validation against the schema happens above
 * this layer; a datastore stores what it is given.
 */
import type { Relationship, RelationshipUpdate } from '../relationships/relationship.js';
import type { RelationPattern } from './relation-patterns.js';

export type { RelationPattern } from './relation-patterns.js';

/** A point in the datastore's history. Every commit creates a new, larger revision. */
export type Revision = bigint;

/**
 * What to read. Fields are ANDed; list fields match any of their values. This is richer than the
 * API's RelationshipFilter (the engine batches many ids into one query).
 */
export interface RelationshipQuery {
  resourceType?: string;
  resourceIds?: readonly string[];
  resourceIdPrefix?: string;
  relation?: string;
  subjectType?: string;
  subjectIds?: readonly string[];
  /** `...` selects direct subjects only; absent means any subject relation. */
  subjectRelation?: string;
}

/** Results are ordered by this key: resource type, resource id, relation, subject type, id, relation. */
export interface RelationshipKey {
  resourceType: string;
  resourceId: string;
  relation: string;
  subjectType: string;
  subjectId: string;
  subjectRelation: string;
}

export interface QueryOptions {
  /** Return at most this many relationships. */
  limit?: number;
  /** Return only relationships strictly after this key (cursor-based pagination). */
  after?: RelationshipKey;
}

export interface SnapshotOptions {
  /** Read from the primary only (fully_consistent reads), never from a read replica. */
  primary?: boolean;
}

export interface StoredSchema {
  text: string;
  /** The revision whose commit wrote this schema text. */
  revision: Revision;
}

/** Reads at one fixed revision. Relationships whose `expiresAt` has passed are not returned. */
export interface SnapshotReader {
  readonly revision: Revision;
  /** Opened with `{ primary: true }`: reads only the primary, never a read replica. */
  readonly primary?: boolean;
  queryRelationships(query: RelationshipQuery, options?: QueryOptions): Promise<Relationship[]>;
  /** The schema as of this revision, if one was ever written. */
  readSchema(): Promise<StoredSchema | undefined>;
}

/** A read-write transaction. Reads see the latest committed state plus this transaction's writes. */
export interface ReadWriteTransaction {
  queryRelationships(query: RelationshipQuery, options?: QueryOptions): Promise<Relationship[]>;
  readSchema(): Promise<StoredSchema | undefined>;
  /**
   * Apply updates in order. CREATE throws `AlreadyExistsError`-style PembaError (code ALREADY_EXISTS)
   * when the relationship (same resource, relation, subject) exists; TOUCH upserts (replacing caveat
   * and expiration); DELETE of an absent relationship is a no-op. An expired relationship counts as
   * absent. A call that throws applies none of its updates (the transaction is as before the call).
   */
  write(updates: readonly RelationshipUpdate[]): Promise<void>;
  /**
   * Delete up to `limit` matching relationships (all when absent), the first ones in key order;
   * returns how many were deleted.
   */
  deleteMatching(query: RelationshipQuery, limit?: number): Promise<number>;
  writeSchema(text: string): Promise<void>;
}

export interface WriteOptions {
  /**
   * The caller's signal (its deadline, cancellation or shutdown). A transaction whose signal aborts
   * before it commits never commits: waiting for the writer stops at once, the transaction's methods
   * reject, the commit is not attempted, and readWrite rejects with the signal's reason. The check
   * is the last step before COMMIT; once COMMIT is under way, its real outcome is what readWrite returns.
   */
  signal?: AbortSignal;
  /**
   * Stored with the commit and carried by the change feed (RevisionChanges.metadata): the API's
   * optional_transaction_metadata. A JSON object; it is stored as its JSON text, so it reads back as
   * JSON.parse(JSON.stringify(metadata)).
   */
  metadata?: TransactionMetadata;
}

/** A commit's transaction metadata: a JSON object (a google.protobuf.Struct on the API). */
export type TransactionMetadata = Readonly<Record<string, unknown>>;

export interface RelationshipChange {
  operation: 'TOUCH' | 'DELETE';
  relationship: Relationship;
}

/** Everything one commit changed. */
export interface RevisionChanges {
  revision: Revision;
  changes: RelationshipChange[];
  /** Present when the commit wrote a schema. */
  schema?: string;
  /** Present when the commit was written with metadata (WriteOptions.metadata). */
  metadata?: TransactionMetadata;
  /** When the commit was made, in epoch ms (the backend's clock; non-decreasing in revision order). */
  committedAt?: number;
}

export interface Datastore {
  /** Stable identity of this datastore; tokens carry it so a foreign token is recognised. */
  readonly id: string;
  /** The newest committed revision (0n when nothing was ever written). */
  headRevision(): Promise<Revision>;
  /**
   * A recent committed revision that many callers share (quantized by time), for minimize_latency.
   * Never newer than head.
   */
  optimizedRevision(): Promise<Revision>;
  /** Throws a PembaError (INVALID_ARGUMENT / FAILED_PRECONDITION) if `revision` is unknown, in the future or collected. */
  assertRevisionReadable(revision: Revision): Promise<void>;
  /**
   * Optional: true when `revision` is known, without a read, to be committed (not after head);
   * false when unsure. Lets a fresh consistency token skip a round trip (see resolveRevision).
   */
  knownCommitted?(revision: Revision): boolean;
  /** Reads at `revision`; a datastore with read replicas may serve them from one that has applied it. */
  snapshot(revision: Revision, options?: SnapshotOptions): SnapshotReader;
  /**
   * Run `fn` in a serialisable transaction and commit it as one new revision. If `fn` throws, nothing
   * is written and the error propagates. A transaction that changes nothing still commits a revision.
   */
  readWrite<T>(
    fn: (tx: ReadWriteTransaction) => Promise<T>,
    options?: WriteOptions,
  ): Promise<{ revision: Revision; result: T }>;
  /**
   * Every commit after `after`, in revision order, exactly once (empty commits included, and a TOUCH
   * is reported even when it changed nothing, as SpiceDB's Watch does); waits for new commits until
   * the signal aborts. With `only`, a commit carries just the changes that match one of the
   * patterns (every commit, and its schema, is still delivered): a follower of a few relations
   * then never materialises the rest of a million-row import. Catching up from far behind is done in
   * slices: the event loop runs between them and an aborted signal ends the watch at the next one.
   */
  watch(after: Revision, signal?: AbortSignal, only?: WatchPatterns): AsyncIterable<RevisionChanges>;
  /**
   * Optional: the newest revision committed at or before `ms` (epoch ms), 0n when none is (or every
   * such commit was garbage collected): where a change feed that starts at a time begins (OpenFGA's
   * ReadChanges start_time), by watching after it.
   */
  revisionAt?(ms: number): Promise<Revision>;
  close(): Promise<void>;
}

/** Total order on relationship keys, the order every backend returns results in. */
export function compareKeys(a: RelationshipKey, b: RelationshipKey): number {
  return (
    cmp(a.resourceType, b.resourceType) ||
    cmp(a.resourceId, b.resourceId) ||
    cmp(a.relation, b.relation) ||
    cmp(a.subjectType, b.subjectType) ||
    cmp(a.subjectId, b.subjectId) ||
    cmp(a.subjectRelation, b.subjectRelation)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function keyOf(r: Relationship): RelationshipKey {
  return {
    resourceType: r.resource.type,
    resourceId: r.resource.id,
    relation: r.relation,
    subjectType: r.subject.type,
    subjectId: r.subject.id,
    subjectRelation: r.subject.relation,
  };
}

/** A predicate for every query field: what a backend's index lookups narrow down, this decides. */
export function queryPredicate(q: RelationshipQuery): (k: RelationshipKey) => boolean {
  const resourceIds = q.resourceIds && oneOf(q.resourceIds);
  const subjectIds = q.subjectIds && oneOf(q.subjectIds);
  return (k) =>
    (q.resourceType === undefined || k.resourceType === q.resourceType) &&
    (resourceIds === undefined || resourceIds(k.resourceId)) &&
    (q.resourceIdPrefix === undefined || k.resourceId.startsWith(q.resourceIdPrefix)) &&
    (q.relation === undefined || k.relation === q.relation) &&
    (q.subjectType === undefined || k.subjectType === q.subjectType) &&
    (subjectIds === undefined || subjectIds(k.subjectId)) &&
    (q.subjectRelation === undefined || k.subjectRelation === q.subjectRelation);
}

/** Membership in a list: a scan for the one- or two-id lists of the engine's hot path, a Set beyond. */
function oneOf(values: readonly string[]): (v: string) => boolean {
  if (values.length <= 4) return (v) => values.includes(v);
  const set = new Set(values);
  return (v) => set.has(v);
}

/** The relation patterns a watch is limited to (none: every change). */
export type WatchPatterns = readonly RelationPattern[];
