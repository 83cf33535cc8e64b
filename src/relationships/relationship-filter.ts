/** RelationshipFilter (the API's shape) → RelationshipQuery (the datastore's), with validation. */
import type { RelationPattern, RelationshipQuery } from '../datastore/datastore.js';
import { invalidArgument, invalidFilter, unknownDefinition, unknownRelation } from '../errors/index.js';
import type { RelationshipFilter } from './relationship.js';
import type { CompiledSchema } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';

export function filterToQuery(filter: RelationshipFilter): RelationshipQuery {
  if (filter.resourceId !== undefined && filter.resourceIdPrefix !== undefined) {
    throw invalidFilter('a relationship filter cannot have both optional_resource_id and optional_resource_id_prefix');
  }
  const hasAny =
    filter.resourceType || filter.resourceId || filter.resourceIdPrefix || filter.relation || filter.subject;
  if (!hasAny) throw invalidFilter('a relationship filter must specify at least one field');
  const q: RelationshipQuery = {};
  if (filter.resourceType) q.resourceType = filter.resourceType;
  if (filter.resourceId) q.resourceIds = [filter.resourceId];
  if (filter.resourceIdPrefix) q.resourceIdPrefix = filter.resourceIdPrefix;
  if (filter.relation) q.relation = filter.relation;
  if (filter.subject) {
    if (!filter.subject.type) throw invalidArgument('a subject filter must specify a subject type');
    q.subjectType = filter.subject.type;
    if (filter.subject.id) q.subjectIds = [filter.subject.id];
    if (filter.subject.relation !== undefined) q.subjectRelation = filter.subject.relation || ELLIPSIS;
  }
  return q;
}

/** Types and relations a filter names must exist in the schema (SpiceDB answers FAILED_PRECONDITION). */
export function validateFilterAgainstSchema(schema: CompiledSchema, filter: RelationshipFilter): void {
  if (filter.resourceType) {
    const def = schema.definitions.get(filter.resourceType);
    if (!def) throw unknownDefinition(filter.resourceType);
    if (filter.relation && !def.relations.has(filter.relation)) {
      throw unknownRelation(filter.resourceType, filter.relation);
    }
  }
  const s = filter.subject;
  if (s?.type) {
    const def = schema.definitions.get(s.type);
    if (!def) throw unknownDefinition(s.type);
    if (s.relation && s.relation !== ELLIPSIS && !def.relations.has(s.relation)) {
      throw unknownRelation(s.type, s.relation);
    }
  }
}

/**
 * What a Watch for `objectTypes` and `queries` (both ANDed; empty: any) can ask the datastore for:
 * patterns that every wanted change matches (ids and prefixes are left to the caller's exact
 * filter); undefined when it wants everything.
 */
export function watchPatterns(
  objectTypes: readonly string[],
  queries: readonly RelationshipQuery[],
): RelationPattern[] | undefined {
  const types = new Set(objectTypes);
  if (queries.length === 0) return types.size === 0 ? undefined : [...types].map((resourceType) => ({ resourceType }));
  return queries.flatMap((q) => {
    const pattern: RelationPattern = {};
    if (q.relation !== undefined) pattern.relation = q.relation;
    if (q.subjectType !== undefined) pattern.subjectType = q.subjectType;
    if (q.subjectRelation !== undefined) pattern.subjectRelation = q.subjectRelation;
    if (q.resourceType !== undefined)
      return types.size === 0 || types.has(q.resourceType) ? [{ ...pattern, resourceType: q.resourceType }] : [];
    return types.size === 0 ? [pattern] : [...types].map((resourceType) => ({ ...pattern, resourceType }));
  });
}
