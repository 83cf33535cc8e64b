/**
 * Whether a relationship may be written under a schema, with SpiceDB's checks and wording. Format
 * errors and disallowed subjects are INVALID_ARGUMENT; unknown definitions and relations are
 * FAILED_PRECONDITION, as SpiceDB answers them.
 */
import { failedPrecondition, invalidArgument } from '../errors/index.js';
import type { Relationship } from '../relationships/relationship.js';
import { DEFINITION_NAME, RELATION_NAME, SUBJECT_RELATION_NAME, namePattern } from './compiler.js';
import { type AllowedSubjectType, type CompiledSchema, ELLIPSIS } from './ir.js';
import { printAllowedType } from './printer.js';

const OBJECT_ID = /^[a-zA-Z0-9/_|\-=+]{1,1024}$/;
const MAX_ID_LENGTH = 1024;

export function validateRelationship(schema: CompiledSchema, rel: Relationship): void {
  checkFormat(rel);
  const { resource, relation, subject } = rel;
  const def = schema.definitions.get(resource.type);
  if (!def) throw unknownDefinition(resource.type);
  const target = def.relations.get(relation);
  if (!target) throw unknownRelation(relation, resource.type);
  if (target.kind === 'permission') {
    throw invalidArgument(
      `cannot write a relationship to permission \`${relation}\` under definition \`${resource.type}\``,
      'ERROR_REASON_CANNOT_UPDATE_PERMISSION',
    );
  }
  const subjectDef = schema.definitions.get(subject.type);
  if (!subjectDef) throw unknownDefinition(subject.type);
  if (subject.relation !== ELLIPSIS && !subjectDef.relations.has(subject.relation)) {
    throw unknownRelation(subject.relation, subject.type);
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
  if (allowed.some((a) => sameSubject(a, written) && a.caveat === written.caveat && a.expiration === written.expiration)) return;

  const where = `relation \`${resource.type}#${relation}\``;
  const label = `\`${printAllowedType(written)}\``;
  const sameKind = allowed.filter((a) => sameSubject(a, written));
  if (sameKind.length && written.caveat === undefined && sameKind.every((a) => a.caveat !== undefined)) {
    const caveats = [...new Set(sameKind.map((a) => a.caveat))].join(', ');
    throw invalidArgument(
      `subjects of type ${label} are not allowed on ${where} without one of the following caveats: ${caveats}`,
      'ERROR_REASON_INVALID_SUBJECT_TYPE',
    );
  }
  const list = allowed.map((a) => `\`${printAllowedType(a)}\``).join(', ');
  const near = sameKind.length ? sameKind : allowed.filter((a) => a.type === subject.type);
  const hint = near.length ? `; did you mean ${near.map((a) => `\`${printAllowedType(a)}\``).join(' or ')}?` : '';
  throw invalidArgument(
    `subjects of type ${label} are not allowed on ${where}${hint} (allowed subject types: ${list})`,
    wildcard && !allowed.some((a) => a.wildcard && a.type === subject.type)
      ? 'ERROR_REASON_WILDCARD_NOT_ALLOWED'
      : 'ERROR_REASON_INVALID_SUBJECT_TYPE',
  );
}

/** Same subject type, relation and wildcard-ness; caveat and expiration aside. */
const sameSubject = (a: AllowedSubjectType, b: AllowedSubjectType) =>
  a.type === b.type && a.wildcard === b.wildcard && (a.wildcard || a.relation === b.relation);

function pattern(what: string, value: string, re: RegExp, source: string): void {
  if (!re.test(value)) throw invalidArgument(`${what} \`${value}\` does not match regex pattern \`${source}\``);
}

function checkFormat(rel: Relationship): void {
  const { resource, relation, subject } = rel;
  pattern('resource object type', resource.type, DEFINITION_NAME, namePattern.definition);
  if (resource.id === '*') {
    throw invalidArgument('resource object id `*` is not allowed: wildcards are only valid as subjects', 'ERROR_REASON_WILDCARD_NOT_ALLOWED');
  }
  checkId('resource object id', resource.id);
  pattern('relation', relation, RELATION_NAME, namePattern.relation);
  pattern('subject object type', subject.type, DEFINITION_NAME, namePattern.definition);
  if (subject.id !== '*') checkId('subject object id', subject.id);
  pattern('subject relation', subject.relation, SUBJECT_RELATION_NAME, namePattern.subjectRelation);
  if (subject.id === '*' && subject.relation !== ELLIPSIS) {
    throw invalidArgument(
      `wildcard subject \`${subject.type}:*\` cannot have a relation (found \`#${subject.relation}\`)`,
      'ERROR_REASON_WILDCARD_NOT_ALLOWED',
    );
  }
}

function checkId(what: string, id: string): void {
  if (id.length > MAX_ID_LENGTH) throw invalidArgument(`${what} must be at most ${MAX_ID_LENGTH} bytes (found ${id.length})`);
  if (!OBJECT_ID.test(id)) {
    throw invalidArgument(`${what} \`${id}\` does not match regex pattern \`^(([a-zA-Z0-9/_|\\-=+]{1,})|\\*)$\``);
  }
}

const unknownDefinition = (type: string) =>
  failedPrecondition(`object definition \`${type}\` not found`, 'ERROR_REASON_UNKNOWN_DEFINITION');

const unknownRelation = (relation: string, type: string) =>
  failedPrecondition(
    `relation/permission \`${relation}\` not found under definition \`${type}\``,
    'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION',
  );
