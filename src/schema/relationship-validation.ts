/**
 * Whether a relationship may be written under a schema, with SpiceDB's rules and wording. Format
 * errors and disallowed subjects are INVALID_ARGUMENT; unknown definitions and relations are
 * FAILED_PRECONDITION, as SpiceDB answers them.
 */
import {
  caveatRequired,
  invalidArgument,
  subjectTypeNotAllowed,
  unknownDefinition,
  unknownRelation,
  wildcardResource,
  wildcardSubjectWithRelation,
  writeToPermission,
} from '../errors/index.js';
import type { Relationship } from '../relationships/relationship.js';
import { type AllowedSubjectType, type CompiledSchema, ELLIPSIS } from './ir.js';
import * as names from './names.js';
import { printAllowedType } from './printer.js';

const OBJECT_ID = /^[a-zA-Z0-9/_|\-=+]{1,1024}$/;
const MAX_ID_LENGTH = 1024;

export function validateRelationship(schema: CompiledSchema, rel: Relationship): void {
  validateFormat(rel);
  const { resource, relation, subject } = rel;
  const def = schema.definitions.get(resource.type);
  if (!def) throw unknownDefinition(resource.type);
  const target = def.relations.get(relation);
  if (!target) throw unknownRelation(resource.type, relation);
  if (target.kind === 'permission') throw writeToPermission(resource.type, relation);
  const subjectDef = schema.definitions.get(subject.type);
  if (!subjectDef) throw unknownDefinition(subject.type);
  if (subject.relation !== ELLIPSIS && !subjectDef.relations.has(subject.relation)) {
    throw unknownRelation(subject.type, subject.relation);
  }

  const wildcard = subject.id === '*';
  const written: AllowedSubjectType = {
    type: subject.type,
    relation: subject.relation,
    wildcard,
    caveat: rel.caveat?.name,
    expiration: rel.expiresAt !== undefined,
  };
  const allowed = target.allowedSubjects;
  if (
    allowed.some((a) => sameSubject(a, written) && a.caveat === written.caveat && a.expiration === written.expiration)
  )
    return;

  const where = `${resource.type}#${relation}`;
  const label = printAllowedType(written);
  const sameKind = allowed.filter((a) => sameSubject(a, written));
  if (sameKind.length && written.caveat === undefined && sameKind.every((a) => a.caveat !== undefined)) {
    throw caveatRequired(label, where, [...new Set(sameKind.map((a) => a.caveat!))]);
  }
  const near = sameKind.length ? sameKind : allowed.filter((a) => a.type === subject.type);
  throw subjectTypeNotAllowed(
    label,
    where,
    allowed.map(printAllowedType),
    near.map(printAllowedType),
    wildcard && !allowed.some((a) => a.wildcard && a.type === subject.type),
  );
}

/**
 * What validateRelationship checks of a relationship beyond its shape (its types, relations, subject
 * wildcard-ness, caveat name and expiration): its object ids, with the same errors in the same order.
 * A relationship whose shape another relationship passed validateRelationship with is valid when these pass.
 */
export function validateObjectIds(rel: Relationship): void {
  if (rel.resource.id === '*') throw wildcardResource();
  validateId('resource object id', rel.resource.id);
  if (rel.subject.id !== '*') validateId('subject object id', rel.subject.id);
}

/** Same subject type, relation and wildcard-ness; caveat and expiration aside. */
const sameSubject = (a: AllowedSubjectType, b: AllowedSubjectType) =>
  a.type === b.type && a.wildcard === b.wildcard && (a.wildcard || a.relation === b.relation);

function pattern(what: string, value: string, re: RegExp, source: string): void {
  if (!re.test(value)) throw invalidArgument(`${what} \`${value}\` does not match regex pattern \`${source}\``);
}

function validateFormat(rel: Relationship): void {
  const { resource, relation, subject } = rel;
  pattern('resource object type', resource.type, names.DEFINITION_NAME, names.DEFINITION_PATTERN);
  if (resource.id === '*') throw wildcardResource();
  validateId('resource object id', resource.id);
  pattern('relation', relation, names.RELATION_NAME, names.RELATION_PATTERN);
  pattern('subject object type', subject.type, names.DEFINITION_NAME, names.DEFINITION_PATTERN);
  if (subject.id !== '*') validateId('subject object id', subject.id);
  pattern('subject relation', subject.relation, names.SUBJECT_RELATION_NAME, names.SUBJECT_RELATION_PATTERN);
  if (subject.id === '*' && subject.relation !== ELLIPSIS) {
    throw wildcardSubjectWithRelation(subject.type, subject.relation);
  }
}

function validateId(what: string, id: string): void {
  if (id.length > MAX_ID_LENGTH)
    throw invalidArgument(`${what} must be at most ${MAX_ID_LENGTH} bytes (found ${id.length})`);
  if (!OBJECT_ID.test(id)) {
    throw invalidArgument(`${what} \`${id}\` does not match regex pattern \`^(([a-zA-Z0-9/_|\\-=+]{1,})|\\*)$\``);
  }
}
