/** Request and response shapes of Pemba's library API (mirroring authzed.api.v1, in plain TypeScript). */
import type {
  ObjectRef,
  Precondition,
  Relationship,
  RelationshipFilter,
  RelationshipUpdate,
  SubjectRef,
} from '../relationships/relationship.js';
import type { TransactionMetadata } from '../datastore/datastore.js';

/** A consistency requirement; tokens are the opaque strings Pemba returns (ZedTokens). */
export type Consistency =
  | { mode: 'minimize_latency' }
  | { mode: 'at_least_as_fresh'; token: string }
  | { mode: 'at_exact_snapshot'; token: string }
  | { mode: 'fully_consistent' };

export type Permissionship = 'HAS_PERMISSION' | 'NO_PERMISSION' | 'CONDITIONAL_PERMISSION';

/**
 * Every request may carry the caller's AbortSignal: the call's deadline, the client's cancellation or
 * shutdown. Work stops with the signal's reason soon after it aborts, and a write whose signal aborted
 * before it committed never commits.
 */
export interface Cancellable {
  signal?: AbortSignal;
}

export interface CheckRequest extends Cancellable {
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
  consistency?: Consistency;
  /**
   * Also answer with the trace of the evaluation (`CheckResult.trace`, SpiceDB's `with_tracing`). A
   * traced check is evaluated a second time, afresh: slower, and never shared with the caches.
   */
  trace?: boolean;
}

export interface CheckResult {
  permissionship: Permissionship;
  /** For CONDITIONAL_PERMISSION: the caveat parameters that were missing. */
  missingContext?: string[];
  token: string;
  /** When asked for (`trace: true`): the relations and permissions evaluated. */
  trace?: CheckTrace;
}

/** A check's trace (SpiceDB's DebugInformation): the tree of what it evaluated, and the schema it read. */
export interface CheckTrace {
  check: CheckTraceNode;
  /** The schema text the check read. */
  schema: string;
}

/**
 * One relation or permission evaluated on one or more objects (SpiceDB's CheckDebugTrace), with
 * the sub-problems it led to: its computed usersets, arrows and subject sets, in evaluation order.
 * As in SpiceDB, caveats are left unevaluated in the tree: a result resting on a caveat is
 * CONDITIONAL_PERMISSION, and `caveat` says what the caveat evaluates to under the request's context.
 */
export interface CheckTraceNode {
  resourceType: string;
  /**
   * The objects evaluated together: the objects one step reaches (an arrow's, a relation's subject
   * sets of one type) form one node, as SpiceDB batches them into one dispatch (`folder:a,b`).
   */
  resourceIds: string[];
  permission: string;
  permissionType: 'relation' | 'permission';
  subject: SubjectRef;
  /** UNSPECIFIED: a batch whose objects' answers differ where each one's was wanted. */
  result: Permissionship | 'UNSPECIFIED';
  /** For a CONDITIONAL_PERMISSION resting on one object's caveats: their evaluation under the request's context. */
  caveat?: CaveatTrace;
  /** Answered from a cache (never: traced checks are evaluated afresh). */
  cached: boolean;
  subProblems: CheckTraceNode[];
  durationMs: number;
  /** A unique id (a UUID). */
  traceId: string;
  /** The server that evaluated it (`pemba:…`). */
  source: string;
}

/** A caveat expression evaluated for a trace (SpiceDB's CaveatEvalInfo). */
export interface CaveatTrace {
  /** The caveat's CEL expression; several caveats combine as `(a) && (b)`, `(a) || (b)`, `!(a)`. */
  expression: string;
  result: 'TRUE' | 'FALSE' | 'MISSING_SOME_CONTEXT';
  /** The parameter values it saw (a name several caveats share is renamed `name__0`, `name__1`, …). */
  context: Record<string, unknown>;
  /** For MISSING_SOME_CONTEXT: the parameters it needs. */
  missingContext?: string[];
  /** The caveat's name, when the expression is one caveat. */
  caveatName: string;
}

export type ExpandTree =
  | {
      kind: 'intermediate';
      operation: 'union' | 'intersection' | 'exclusion';
      children: ExpandTree[];
      expandedObject: ObjectRef;
      expandedRelation: string;
    }
  | {
      kind: 'leaf';
      subjects: SubjectRef[];
      expandedObject: ObjectRef;
      expandedRelation: string;
    };

export interface ExpandRequest extends Cancellable {
  resource: ObjectRef;
  permission: string;
  consistency?: Consistency;
}

export interface LookupResourcesRequest extends Cancellable {
  resourceType: string;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
  consistency?: Consistency;
  /** Page size; absent or 0 means no limit. */
  limit?: number;
  /** The cursor of the last result of the previous page. */
  cursor?: string;
}

export interface LookupResourcesResult {
  resourceId: string;
  permissionship: Permissionship;
  missingContext?: string[];
  /** Resume after this result. */
  cursor: string;
  token: string;
}

export interface LookupSubjectsRequest extends Cancellable {
  resource: ObjectRef;
  permission: string;
  subjectType: string;
  /** Subject relation; absent or `...` for plain subjects. */
  subjectRelation?: string;
  context?: Record<string, unknown>;
  consistency?: Consistency;
}

export interface ResolvedSubject {
  /** An object id, or `*` for a wildcard. */
  id: string;
  permissionship: Permissionship;
  missingContext?: string[];
}

export interface LookupSubjectsResult {
  subject: ResolvedSubject;
  /** For a wildcard: the subjects it does not include. */
  excludedSubjects: ResolvedSubject[];
  token: string;
}

export interface WriteRelationshipsRequest extends Cancellable {
  updates: RelationshipUpdate[];
  preconditions?: Precondition[];
  /**
   * A JSON object stored with the commit and carried by Watch with its changes (the API's
   * optional_transaction_metadata): at most 65,000 bytes of JSON; an empty one is none.
   */
  metadata?: TransactionMetadata;
}

export interface DeleteRelationshipsRequest extends Cancellable {
  filter: RelationshipFilter;
  preconditions?: Precondition[];
  /** Delete at most this many. Without allowPartialDeletions, more matches than the limit is an error. */
  limit?: number;
  allowPartialDeletions?: boolean;
  /**
   * A JSON object stored with the commit and carried by Watch with its changes (the API's
   * optional_transaction_metadata): at most 65,000 bytes of JSON; an empty one is none.
   */
  metadata?: TransactionMetadata;
}

export interface DeleteRelationshipsResult {
  token: string;
  deletedCount: number;
  /** True when the limit was reached and matches remain. */
  partial: boolean;
}

export interface ReadRelationshipsRequest extends Cancellable {
  filter: RelationshipFilter;
  consistency?: Consistency;
  limit?: number;
  cursor?: string;
}

export interface ReadRelationshipsResult {
  relationship: Relationship;
  cursor: string;
  token: string;
}

export interface CheckBulkItem {
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
}

/** One answer per item, in request order: a result, or the error that item alone produced. */
export type CheckBulkResult =
  | {
      item: CheckBulkItem;
      permissionship: Permissionship;
      missingContext?: string[];
      /** When asked for (`trace: true`). */
      trace?: CheckTrace;
      error?: undefined;
    }
  | { item: CheckBulkItem; error: Error };

export interface WatchRequest extends Cancellable {
  /** Resume after this token; absent means "from now". */
  afterToken?: string;
  /** Only changes to resources of these types (empty: all). */
  objectTypes?: string[];
  /** Only changes matching any of these filters (empty: all). */
  filters?: RelationshipFilter[];
  /** Also a `schemaUpdated` event for every commit that wrote the schema (WATCH_KIND_INCLUDE_SCHEMA_UPDATES). */
  schemaUpdates?: boolean;
  /**
   * Also a `checkpoint` event after every commit, its changes filtered out or not
   * (WATCH_KIND_INCLUDE_CHECKPOINTS), and, with `heartbeatMs`, one whenever the watch has sent
   * nothing for that long.
   */
  checkpoints?: boolean;
  /** With `checkpoints`: the longest the watch stays silent while no commits come (at least 100 ms). */
  heartbeatMs?: number;
}

/**
 * One commit's wanted changes; or, when asked for, a schema change (`schemaUpdated`, no changes) or
 * a checkpoint (`checkpoint`, no changes: nothing at or before `token` is still to come).
 */
export interface WatchEvent {
  changes: Array<{ operation: 'TOUCH' | 'DELETE'; relationship: Relationship }>;
  /** The token of the revision these changes were committed at; resume from it. */
  token: string;
  /** The metadata the commit was written with, on its changes and schema events. */
  metadata?: TransactionMetadata;
  schemaUpdated?: true;
  checkpoint?: true;
}
