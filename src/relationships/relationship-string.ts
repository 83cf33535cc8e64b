/**
 * SpiceDB's relationship string syntax, as used by zed, validation files and the playground:
 *
 *   document:doc1#reader@user:tom
 *   document:doc1#reader@group:eng#member
 *   document:doc1#reader@user:*
 *   document:doc1#reader@user:tom[only_on_tuesday:{"day":"tue"}][expiration:2030-01-01T00:00:00Z]
 */
import { invalidArgument } from '../errors/index.js';
import type { ContextualizedCaveat, ObjectRef, Relationship, SubjectRef } from './relationship.js';
import { ELLIPSIS } from '../schema/ir.js';

/** `document:doc1#view`: an object and one of its relations or permissions. */
export interface ObjectAndRelation extends ObjectRef {
  relation: string;
}

// Character sets follow SpiceDB's; lengths are left to the schema and the datastore.
const TYPE = /^[a-z][a-z0-9_]*(\/[a-z][a-z0-9_]*)*$/;
const RELATION = /^[a-z][a-z0-9_]*$/;
const OBJECT_ID = /^[a-zA-Z0-9/_|\-=+]+$/;
const MAX_ID_LENGTH = 1024;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function fail(text: string, problem: string): never {
  throw invalidArgument(`invalid relationship string \`${text}\`: ${problem}`);
}

function validateType(text: string, type: string, role: string): void {
  if (!type) fail(text, `missing ${role} type`);
  if (!TYPE.test(type)) fail(text, `${role} type \`${type}\` is not a valid definition name`);
}

function validateId(text: string, id: string, role: string, allowWildcard: boolean): void {
  if (!id) fail(text, `missing ${role} id`);
  if (id === '*') {
    if (!allowWildcard) fail(text, `${role} id cannot be the wildcard \`*\``);
    return;
  }
  if (id.length > MAX_ID_LENGTH) fail(text, `${role} id is longer than ${MAX_ID_LENGTH} characters`);
  if (!OBJECT_ID.test(id)) fail(text, `${role} id \`${id}\` contains characters other than a-z A-Z 0-9 / _ | - = +`);
}

function validateRelation(text: string, relation: string, role: string): void {
  if (!relation) fail(text, `missing ${role} relation after \`#\``);
  if (relation !== ELLIPSIS && !RELATION.test(relation))
    fail(text, `${role} relation \`${relation}\` is not a valid name`);
}

function splitObject(text: string, part: string, role: string): { type: string; id: string; relation?: string } {
  const colon = part.indexOf(':');
  if (colon < 0) fail(text, `${role} \`${part}\` needs the form type:id`);
  const type = part.slice(0, colon);
  const rest = part.slice(colon + 1);
  const hash = rest.indexOf('#');
  const id = hash < 0 ? rest : rest.slice(0, hash);
  validateType(text, type, role);
  if (hash < 0) return { type, id };
  return { type, id, relation: rest.slice(hash + 1) };
}

/** `document:doc1#view`; the relation is required. */
export function parseObjectAndRelation(text: string): ObjectAndRelation {
  const o = splitObject(text, text.trim(), 'object');
  validateId(text, o.id, 'object', false);
  if (o.relation === undefined) fail(text, 'expected type:id#relation');
  validateRelation(text, o.relation, 'object');
  if (o.relation === ELLIPSIS) fail(text, '`...` is not a relation of the object');
  return { type: o.type, id: o.id, relation: o.relation };
}

/** `user:tom`, `user:tom#...`, `group:eng#member`, `user:*`. A missing relation means ELLIPSIS. */
export function parseSubject(text: string): SubjectRef {
  return subjectIn(text, text.trim());
}

function subjectIn(text: string, part: string): SubjectRef {
  const s = splitObject(text, part, 'subject');
  validateId(text, s.id, 'subject', true);
  const relation = s.relation ?? ELLIPSIS;
  validateRelation(text, relation, 'subject');
  if (s.id === '*' && relation !== ELLIPSIS) fail(text, 'a wildcard subject cannot have a relation');
  return { type: s.type, id: s.id, relation };
}

/** Scans a JSON object starting at `start` (a `{`) and returns the index just past its closing `}`. */
function endOfJsonObject(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

interface Suffix {
  caveat?: ContextualizedCaveat;
  expiresAt?: Date;
}

/** Parses the `[caveat]`, `[caveat:{…}]` and `[expiration:…]` blocks after the subject, in that order. */
function parseSuffix(text: string, suffix: string): Suffix {
  const result: Suffix = {};
  let i = 0;
  while (i < suffix.length) {
    if (suffix[i] !== '[') fail(text, `unexpected \`${suffix.slice(i)}\` after the subject`);
    const nameEnd = suffix.slice(i + 1).search(/[:\]]/);
    if (nameEnd < 0) fail(text, 'unclosed `[`');
    const name = suffix.slice(i + 1, i + 1 + nameEnd);
    let j = i + 1 + nameEnd;
    if (name === 'expiration' && suffix[j] === ':' && suffix[j + 1] !== '{') {
      if (result.expiresAt) fail(text, 'expiration given twice');
      const close = suffix.indexOf(']', j);
      if (close < 0) fail(text, 'unclosed `[expiration:`');
      const stamp = suffix.slice(j + 1, close).trim();
      const date = new Date(stamp);
      if (!RFC3339.test(stamp) || Number.isNaN(date.getTime())) {
        fail(text, `expiration \`${stamp}\` is not an RFC 3339 timestamp such as 2030-01-01T00:00:00Z`);
      }
      result.expiresAt = date;
      i = close + 1;
      continue;
    }
    if (result.caveat) fail(text, 'only one caveat is allowed');
    if (result.expiresAt) fail(text, 'the caveat must come before the expiration');
    if (!TYPE.test(name)) fail(text, `caveat name \`${name}\` is not a valid name`);
    const caveat: ContextualizedCaveat = { name };
    if (suffix[j] === ':') {
      if (suffix[j + 1] !== '{') fail(text, `the context of caveat \`${name}\` must be a JSON object`);
      const end = endOfJsonObject(suffix, j + 1);
      if (end < 0) fail(text, `unterminated JSON context of caveat \`${name}\``);
      try {
        caveat.context = JSON.parse(suffix.slice(j + 1, end)) as Record<string, unknown>;
      } catch (error) {
        fail(text, `the context of caveat \`${name}\` is not valid JSON: ${(error as Error).message}`);
      }
      j = end;
    }
    if (suffix[j] !== ']') fail(text, `expected \`]\` after caveat \`${name}\``);
    result.caveat = caveat;
    i = j + 1;
  }
  return result;
}

/** Parses `resource:id#relation@subject:id[#relation][caveat][expiration]`. */
export function parseRelationship(text: string): Relationship {
  const trimmed = text.trim();
  const at = trimmed.indexOf('@');
  if (at < 0) fail(text, 'expected `@` between the resource and the subject');
  const resource = splitObject(text, trimmed.slice(0, at), 'resource');
  validateId(text, resource.id, 'resource', false);
  if (resource.relation === undefined) fail(text, 'expected resource:id#relation before `@`');
  validateRelation(text, resource.relation, 'resource');
  if (resource.relation === ELLIPSIS) fail(text, 'the resource relation cannot be `...`');

  const subjectPart = trimmed.slice(at + 1);
  const bracket = subjectPart.indexOf('[');
  const subject = subjectIn(text, bracket < 0 ? subjectPart : subjectPart.slice(0, bracket));
  const suffix = bracket < 0 ? {} : parseSuffix(text, subjectPart.slice(bracket));
  const rel: Relationship = {
    resource: { type: resource.type, id: resource.id },
    relation: resource.relation,
    subject,
  };
  if (suffix.caveat) rel.caveat = suffix.caveat;
  if (suffix.expiresAt) rel.expiresAt = suffix.expiresAt;
  return rel;
}

export function formatObjectAndRelation(onr: ObjectAndRelation): string {
  return `${onr.type}:${onr.id}#${onr.relation}`;
}

/** `user:tom`, or `group:eng#member` when the subject has a relation. */
export function formatSubject(subject: SubjectRef): string {
  const relation = subject.relation === ELLIPSIS ? '' : `#${subject.relation}`;
  return `${subject.type}:${subject.id}${relation}`;
}

/** RFC 3339 in UTC, without fractional seconds when there are none. */
function formatTimestamp(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

export function formatRelationship(rel: Relationship): string {
  let text = `${rel.resource.type}:${rel.resource.id}#${rel.relation}@${formatSubject(rel.subject)}`;
  if (rel.caveat) {
    const context =
      rel.caveat.context && Object.keys(rel.caveat.context).length > 0 ? `:${JSON.stringify(rel.caveat.context)}` : '';
    text += `[${rel.caveat.name}${context}]`;
  }
  if (rel.expiresAt) text += `[expiration:${formatTimestamp(rel.expiresAt)}]`;
  return text;
}
