/**
 * A SpiceDB schema as an OpenFGA model, for the constructs both languages have: relations with their
 * allowed types (plain, subject sets, wildcards, caveats as conditions), permissions built from
 * relations, arrows, union, intersection and exclusion. The same relationships then answer the same on
 * both front ends (test/openfga/differential.test.ts holds Pemba's OpenFGA front end to real SpiceDB).
 *
 * `nil` (the empty set) has no OpenFGA form and is simplified away: it leaves a union, empties an
 * intersection, and a permission that is wholly empty becomes `r but not r`. `.all()` arrows, `self`,
 * expiration and caveats are refused with the construct's name; OpenFGA's own model rules (no subject
 * sets or wildcards on a relation an arrow walks, every relation reachable from some type) are the
 * model validation's to report.
 */
import { ELLIPSIS, type CompiledSchema, type Rewrite } from '../schema/ir.js';
import type { AuthorizationModel, RelationReference, TypeDefinition, Userset } from './model/types.js';

/** The schema uses something OpenFGA cannot express; `construct` names it (`.all()`, `self`, ...). */
export class NotExpressibleError extends Error {
  override readonly name = 'NotExpressibleError';
  constructor(readonly construct: string) {
    super(`OpenFGA has no equivalent of SpiceDB's ${construct}`);
  }
}

/** The OpenFGA model (schema 1.1) of a compiled SpiceDB schema; throws NotExpressibleError. */
export function openFgaModelOf(schema: CompiledSchema): AuthorizationModel {
  if (schema.useSelf) throw new NotExpressibleError('self');
  if (schema.caveats.size > 0) throw new NotExpressibleError('caveats');
  const typeDefinitions: TypeDefinition[] = [];
  for (const def of schema.definitions.values()) {
    const relations: Record<string, Userset> = {};
    const metadata: Record<string, { directly_related_user_types: RelationReference[] }> = {};
    const names = [...def.relations.keys()];
    for (const rel of def.relations.values()) {
      if (rel.kind === 'relation') {
        metadata[rel.name] = { directly_related_user_types: rel.allowedSubjects.map(reference) };
      }
      relations[rel.name] = usersetOf(rel.rewrite, rel.name, names);
    }
    const hasMetadata = Object.keys(metadata).length > 0;
    typeDefinitions.push({ type: def.name, relations, ...(hasMetadata ? { metadata: { relations: metadata } } : {}) });
  }
  return { schema_version: '1.1', type_definitions: typeDefinitions };
}

function reference(t: { type: string; relation: string; wildcard: boolean; expiration: boolean }): RelationReference {
  if (t.expiration) throw new NotExpressibleError('with expiration');
  if (t.wildcard) return { type: t.type, wildcard: {} };
  return t.relation === ELLIPSIS ? { type: t.type } : { type: t.type, relation: t.relation };
}

/** The empty set, while it is being simplified away. */
const EMPTY = Symbol('nil');

function usersetOf(rw: Rewrite, relation: string, relations: string[]): Userset {
  const out = translate(rw);
  if (out !== EMPTY) return out;
  const other = relations.find((r) => r !== relation);
  if (other === undefined) throw new NotExpressibleError('nil');
  return {
    difference: { base: { computedUserset: { relation: other } }, subtract: { computedUserset: { relation: other } } },
  };
}

function translate(rw: Rewrite): Userset | typeof EMPTY {
  switch (rw.kind) {
    case 'this':
      return { this: {} };
    case 'computed':
      return { computedUserset: { relation: rw.relation } };
    case 'tupleToUserset':
      if (rw.mode === 'all') throw new NotExpressibleError('.all()');
      return { tupleToUserset: { tupleset: { relation: rw.tupleset }, computedUserset: { relation: rw.computed } } };
    case 'nil':
      return EMPTY;
    case 'self':
      throw new NotExpressibleError('self');
    case 'exclusion': {
      const base = translate(rw.base);
      const subtract = translate(rw.subtract);
      if (base === EMPTY || subtract === EMPTY) return base;
      return { difference: { base, subtract } };
    }
    case 'union':
    case 'intersection': {
      const children = rw.children.map(translate);
      if (rw.kind === 'intersection' && children.includes(EMPTY)) return EMPTY;
      const child = children.filter((c): c is Userset => c !== EMPTY);
      if (child.length === 0) return EMPTY;
      if (child.length === 1) return child[0];
      return rw.kind === 'union' ? { union: { child } } : { intersection: { child } };
    }
  }
}
