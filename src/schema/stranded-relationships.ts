/**
 * A schema change must not strand stored relationships: removing a definition, a relation or an
 * allowed subject type that relationships still use is refused, naming what is in use and the first
 * relationship in the way, as SpiceDB does (same checks, same order, same messages).
 *
 * An allowed type is the whole entry as written: `user`, `user with cav`, `user with expiration`,
 * `user with cav and expiration`, `user:*`, `group#member`… Going from `user | user with cav` to
 * `user with cav` removes `user`, refused while a relationship to a plain `user` (no caveat, no
 * expiration) exists. Like SpiceDB, a removed `user` also counts a `user:*` relationship as using it.
 *
 * The datastore's queries cannot filter on caveat or expiration, so the relationships of a removed
 * allowed type are read in pages (never all at once) and the scan stops at the first one that uses
 * it; the removed types that share a subject type and relation are decided by one scan.
 */
import type { ReadWriteTransaction, RelationshipKey, RelationshipQuery } from '../datastore/datastore.js';
import { keyOf } from '../datastore/datastore.js';
import {
  allowedTypeInUse,
  caveatParameterRemoved,
  caveatParameterRetyped,
  definitionInUse,
  relationInUse,
} from '../errors/index.js';
import { formatRelationship } from '../relationships/relationship-string.js';
import type { Relationship } from '../relationships/relationship.js';
import { type AllowedSubjectType, type CompiledSchema, ELLIPSIS } from './ir.js';
import { printAllowedType, printCaveatType } from './printer.js';

/** The first page read when looking for a relationship that uses a removed allowed type; later pages grow. */
const FIRST_PAGE = 64;
const MAX_PAGE = 4096;

export async function assertNoStrandedRelationships(
  tx: ReadWriteTransaction,
  previous: CompiledSchema,
  next: CompiledSchema,
): Promise<void> {
  assertCaveatParametersKept(previous, next);
  // The definitions that stay, in the new schema's order (SpiceDB checks them before removed ones).
  for (const [type, nextDef] of next.definitions) {
    const def = previous.definitions.get(type);
    if (!def) continue;
    const relations = [...def.relations.values()].filter((r) => r.kind === 'relation');
    // Relations removed, or turned into permissions (permissions hold nothing: removing one is free).
    for (const { name } of relations) {
      if (nextDef.relations.get(name)?.kind === 'relation') continue;
      const under = await first(tx, { resourceType: type, relation: name });
      if (under) throw relationInUse(type, name, formatRelationship(under));
      const referencing = await first(tx, { subjectType: type, subjectRelation: name });
      if (referencing) throw relationInUse(type, name, formatRelationship(referencing), true);
    }
    for (const rel of relations) {
      const nextRel = nextDef.relations.get(rel.name);
      if (nextRel?.kind !== 'relation') continue;
      await assertAllowedTypesUnused(tx, type, rel.name, rel.allowedSubjects, nextRel.allowedSubjects);
    }
  }
  for (const type of previous.definitions.keys()) {
    if (next.definitions.has(type)) continue;
    const under = await first(tx, { resourceType: type });
    if (under) throw definitionInUse(type, formatRelationship(under));
    // Unreachable for relationships the old schema allowed (the checks above find them first); kept
    // so that relationships stranded before these checks existed cannot outlive their definition.
    const referencing = await first(tx, { subjectType: type });
    if (referencing) throw definitionInUse(type, formatRelationship(referencing), true);
  }
}

/** SpiceDB refuses removing a caveat's parameter or changing its type, with or without relationships. */
function assertCaveatParametersKept(previous: CompiledSchema, next: CompiledSchema): void {
  for (const [name, caveat] of next.caveats) {
    const before = previous.caveats.get(name);
    if (!before) continue;
    for (const [parameter, type] of before.parameters) {
      const now = caveat.parameters.get(parameter);
      if (!now) throw caveatParameterRemoved(name, parameter);
      if (printCaveatType(now) !== printCaveatType(type)) throw caveatParameterRetyped(name, parameter);
    }
  }
}

async function first(tx: ReadWriteTransaction, query: RelationshipQuery): Promise<Relationship | undefined> {
  return (await tx.queryRelationships(query, { limit: 1 }))[0];
}

/** Whether a stored relationship is one that `allowed` admits: same caveat (or none), same expiration trait. */
function uses(r: Relationship, allowed: AllowedSubjectType): boolean {
  const caveat = allowed.caveat === undefined ? r.caveat === undefined : r.caveat?.name === allowed.caveat;
  return caveat && (r.expiresAt !== undefined) === allowed.expiration;
}

/**
 * Refuses the first removed allowed type (in the old schema's order) that a relationship uses. The
 * removed types with the same subject type, subject relation and wildcard-ness are one group, read
 * by one scan: it stops as soon as the type being decided is found in use, else runs to the end and
 * so decides the rest of its group too.
 */
async function assertAllowedTypesUnused(
  tx: ReadWriteTransaction,
  type: string,
  relation: string,
  before: readonly AllowedSubjectType[],
  after: readonly AllowedSubjectType[],
): Promise<void> {
  const kept = new Set(after.map(printAllowedType));
  const removed = before.filter((a) => !kept.has(printAllowedType(a)));
  if (removed.length === 0) return;
  const groupOf = (a: AllowedSubjectType) => `${a.type}#${a.wildcard ? '*' : a.relation}`;
  /** Per group, once its scan has run to the end: the first relationship using each of its types. */
  const scanned = new Map<string, Map<AllowedSubjectType, Relationship>>();
  for (const allowed of removed) {
    const group = groupOf(allowed);
    let found = scanned.get(group)?.get(allowed);
    if (!scanned.has(group)) {
      const members = removed.filter((a) => groupOf(a) === group);
      const result = await scanGroup(tx, type, relation, allowed, members);
      if (result.complete) scanned.set(group, result.found);
      found = result.found.get(allowed);
    }
    if (found) throw allowedTypeInUse(type, relation, printAllowedType(allowed), formatRelationship(found));
  }
}

async function scanGroup(
  tx: ReadWriteTransaction,
  type: string,
  relation: string,
  wanted: AllowedSubjectType,
  members: readonly AllowedSubjectType[],
): Promise<{ found: Map<AllowedSubjectType, Relationship>; complete: boolean }> {
  const query: RelationshipQuery = {
    resourceType: type,
    relation,
    subjectType: wanted.type,
    // Wildcards are stored with the ellipsis relation.
    subjectRelation: wanted.wildcard ? ELLIPSIS : wanted.relation,
    ...(wanted.wildcard ? { subjectIds: ['*'] } : {}),
  };
  const found = new Map<AllowedSubjectType, Relationship>();
  let after: RelationshipKey | undefined;
  for (let limit = FIRST_PAGE; ; limit = Math.min(limit * 4, MAX_PAGE)) {
    const page = await tx.queryRelationships(query, after ? { limit, after } : { limit });
    for (const r of page) {
      for (const a of members) if (!found.has(a) && uses(r, a)) found.set(a, r);
      if (found.has(wanted)) return { found, complete: false };
    }
    if (page.length < limit) return { found, complete: true };
    after = keyOf(page[page.length - 1]);
  }
}
