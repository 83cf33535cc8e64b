/** Relationship tuples and references, in SpiceDB's vocabulary. */

export interface ObjectRef {
  type: string;
  id: string;
}

/** A subject: an object, optionally with a relation (`group:eng#member`). `...` means the object itself. */
export interface SubjectRef {
  type: string;
  id: string;
  /** `...` (ELLIPSIS) when the subject is the object itself. */
  relation: string;
}

export interface ContextualizedCaveat {
  name: string;
  /** Partial context stored with the relationship; it wins over request context. */
  context?: Record<string, unknown>;
}

export interface Relationship {
  resource: ObjectRef;
  relation: string;
  subject: SubjectRef;
  caveat?: ContextualizedCaveat;
  /** Absent: never expires. */
  expiresAt?: Date;
}

/** Filters by subject (for reverse lookups and ReadRelationships' optional subject filter). */
export interface SubjectFilter {
  type: string;
  id?: string;
  /**
   * Absent: any relation. `...` (ELLIPSIS): only direct subjects. Otherwise that subject relation.
   * (The API's `optional_relation: {relation: ""}` maps to ELLIPSIS.)
   */
  relation?: string;
}

/** SpiceDB's RelationshipFilter. Every field but at most one of resourceId / resourceIdPrefix is optional. */
export interface RelationshipFilter {
  resourceType?: string;
  resourceId?: string;
  resourceIdPrefix?: string;
  relation?: string;
  subject?: SubjectFilter;
}

export type UpdateOperation = 'CREATE' | 'TOUCH' | 'DELETE';

export interface RelationshipUpdate {
  operation: UpdateOperation;
  relationship: Relationship;
}

export interface Precondition {
  operation: 'MUST_MATCH' | 'MUST_NOT_MATCH';
  filter: RelationshipFilter;
}
