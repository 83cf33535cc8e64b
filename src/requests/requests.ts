/** Request and response shapes of Pemba's library API (mirroring authzed.api.v1, in plain TypeScript). */
import type {
  ObjectRef,
  Precondition,
  Relationship,
  RelationshipFilter,
  RelationshipUpdate,
  SubjectRef,
} from '../relationships/relationship.js';

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
}

export interface CheckResult {
  permissionship: Permissionship;
  /** For CONDITIONAL_PERMISSION: the caveat parameters that were missing. */
  missingContext?: string[];
  token: string;
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
}

export interface DeleteRelationshipsRequest extends Cancellable {
  filter: RelationshipFilter;
  preconditions?: Precondition[];
  /** Delete at most this many. Without allowPartialDeletions, more matches than the limit is an error. */
  limit?: number;
  allowPartialDeletions?: boolean;
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
  | { item: CheckBulkItem; permissionship: Permissionship; missingContext?: string[]; error?: undefined }
  | { item: CheckBulkItem; error: Error };

export interface WatchRequest extends Cancellable {
  /** Resume after this token; absent means "from now". */
  afterToken?: string;
  /** Only changes to resources of these types (empty: all). */
  objectTypes?: string[];
  /** Only changes matching any of these filters (empty: all). */
  filters?: RelationshipFilter[];
}

export interface WatchEvent {
  changes: Array<{ operation: 'TOUCH' | 'DELETE'; relationship: Relationship }>;
  /** The token of the revision these changes were committed at; resume from it. */
  token: string;
}
