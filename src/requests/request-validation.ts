/**
 * What a request must satisfy before it is evaluated or written: SpiceDB's limits on one call, and
 * the types, relations and subjects it names against the schema. ("Check" is kept for permission
 * checks: these validate or assert.)
 */
import {
  duplicateUpdate,
  invalidArgument,
  tooManyChecks,
  tooManyPreconditions,
  tooManyUpdates,
  wildcardSubjectInCheck,
} from '../errors/index.js';
import { validateRelationshipContext } from '../caveats/index.js';
import { validateFilterAgainstSchema } from '../relationships/relationship-filter.js';
import type { Precondition, Relationship, RelationshipUpdate, SubjectRef } from '../relationships/relationship.js';
import { formatRelationship } from '../relationships/relationship-string.js';
import { validateRelationship } from '../schema/index.js';
import { validateObjectIds } from '../schema/relationship-validation.js';
import type { CompiledSchema } from '../schema/ir.js';

/** SpiceDB's limits on one write. */
export const MAX_UPDATES_PER_WRITE = 1000;
export const MAX_PRECONDITIONS_PER_WRITE = 1000;
/** Default of the most items one CheckBulk may ask (PembaOptions.maxCheckBulkItems; the server's config sets it). */
export const DEFAULT_MAX_CHECK_BULK_ITEMS = 10_000;

export function assertCheckBulkCount(count: number, max: number): void {
  if (count > max) throw tooManyChecks(count, max);
}

/** Most updates and preconditions one write may carry (SpiceDB's --write-relationships-max-updates-per-call and --update-relationships-max-preconditions-per-call). */
export interface WriteLimits {
  maxUpdates: number;
  maxPreconditions: number;
}
export const DEFAULT_WRITE_LIMITS: WriteLimits = {
  maxUpdates: MAX_UPDATES_PER_WRITE,
  maxPreconditions: MAX_PRECONDITIONS_PER_WRITE,
};

/** Within the write limits; no relationship updated twice. */
export function assertWriteRequest(
  updates: readonly RelationshipUpdate[],
  preconditions: readonly Precondition[],
  limits: WriteLimits = DEFAULT_WRITE_LIMITS,
): void {
  if (updates.length > limits.maxUpdates) throw tooManyUpdates(updates.length, limits.maxUpdates);
  assertPreconditionCount(preconditions, limits.maxPreconditions);
  const seen = new Set<string>();
  for (const u of updates) {
    const key = uniqueKey(u.relationship);
    if (seen.has(key)) throw duplicateUpdate(formatRelationship(u.relationship));
    seen.add(key);
  }
}

/** One string per relationship key (resource, relation, subject): each field length-prefixed, so no two keys share one. */
function uniqueKey(r: Relationship): string {
  const { resource, subject } = r;
  return (
    part(resource.type) +
    part(resource.id) +
    part(r.relation) +
    part(subject.type) +
    part(subject.id) +
    part(subject.relation)
  );
}

function part(s: string | undefined): string {
  return typeof s === 'string' ? `${s.length}:${s}` : `?${String(s)};`;
}

export function assertPreconditionCount(
  preconditions: readonly Precondition[],
  max: number = MAX_PRECONDITIONS_PER_WRITE,
): void {
  if (preconditions.length > max) throw tooManyPreconditions(preconditions.length, max);
}

/** The resource type and the permission or relation asked about exist. */
export function validateObjectAndRelation(schema: CompiledSchema, type: string, relation: string): void {
  validateFilterAgainstSchema(schema, { resourceType: type, relation });
  if (!relation) throw invalidArgument('a permission or relation name is required');
}

/** The subject's type (and relation) exist, and it is not a wildcard. */
export function validateSubject(schema: CompiledSchema, subject: SubjectRef): void {
  if (subject.id === '*') throw wildcardSubjectInCheck();
  validateFilterAgainstSchema(schema, { subject: { type: subject.type, relation: subject.relation } });
}

/** A permission check's resource, permission and subject. */
export function validateCheck(
  schema: CompiledSchema,
  q: { resource: { type: string }; permission: string; subject: SubjectRef },
): void {
  validateObjectAndRelation(schema, q.resource.type, q.permission);
  validateSubject(schema, q.subject);
}

/** The schema's rules, and a stored caveat context must name the caveat's parameters with values of their types. */
export function validateWrite(schema: CompiledSchema, r: Relationship): void {
  validateRelationship(schema, r);
  validateContext(schema, r);
}

/**
 * validateWrite for the many relationships of one call or import, with the schema's rules checked
 * once per shape (resource type, relation, subject type and relation, subject wildcard-ness, caveat
 * name, expiration: a call of 1,000 updates names a handful); for a relationship of a shape that
 * passed already, only what differs is checked (object ids, caveat context). Each relationship gets
 * exactly the error validateWrite would give it.
 */
export class WriteValidator {
  private readonly passed = new Set<string>();

  constructor(private readonly schema: CompiledSchema) {}

  validate(r: Relationship): void {
    const shape = shapeKey(r);
    if (this.passed.has(shape)) {
      validateObjectIds(r);
      validateContext(this.schema, r);
      return;
    }
    validateWrite(this.schema, r);
    this.passed.add(shape);
  }
}

function shapeKey(r: Relationship): string {
  const { resource, subject, caveat } = r;
  return (
    part(resource.type) +
    part(r.relation) +
    part(subject.type) +
    part(subject.relation) +
    (subject.id === '*' ? '*' : '.') +
    (caveat === undefined ? '-' : part(caveat.name)) +
    (r.expiresAt === undefined ? '-' : 'e')
  );
}

function validateContext(schema: CompiledSchema, r: Relationship): void {
  const caveat = r.caveat && schema.caveats.get(r.caveat.name);
  if (caveat && r.caveat?.context) validateRelationshipContext(caveat, r.caveat.context);
}
