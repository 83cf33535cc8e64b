/**
 * The generator's wildcard extension: wildcards that subject-set subjects are asked against. The base
 * generator's only wildcard is `user:*`, and `user` has no relations, so no subject set it asks about
 * (`group:g1#member`, …) is ever of a wildcard's type. Here, drawn from a separate stream so that every
 * base case stays as it was, some cases get
 *   - wildcards of other types (`group:*`, `folder:*`, `document:*`) on relations, of a type some
 *     subject set in the schema has, so that `group:g1#member` meets `group:*`;
 *   - a relation `user.manager: user`, and `user#manager` beside `user:*`, so that `user:u1#manager`
 *     meets `user:*`;
 * with relationships using them. SpiceDB's type checks still hold: a relation given a wildcard is not
 * the target of any subject set and not an arrow's left side, and `user#manager` reaches no wildcard.
 */
import type { Relationship } from '../../src/relationships/relationship.js';
import { ELLIPSIS, Rng, formatRelationship, typeRefToString } from './generator.js';
import type { Expr, RelModel, SchemaModel, TypeRef } from './generator.js';

/** Share of cases the extension changes. */
const SHARE = 0.6;

function arrowTuplesets(e: Expr | undefined, out: Set<string>): void {
  if (!e) return;
  if (e.op === 'arrow') out.add(e.tupleset);
  else if (e.op === '+' || e.op === '&' || e.op === '-') {
    arrowTuplesets(e.left, out);
    arrowTuplesets(e.right, out);
  }
}

/** Relations (`type#name`) that may take a wildcard: no subject set targets them, no arrow walks them. */
function eligible(model: SchemaModel): { type: string; rel: RelModel }[] {
  const targeted = new Set<string>();
  for (const def of model.definitions)
    for (const rel of def.relations) for (const t of rel.types) if (t.relation) targeted.add(`${t.type}#${t.relation}`);
  const out: { type: string; rel: RelModel }[] = [];
  for (const def of model.definitions) {
    const tuplesets = new Set<string>();
    for (const rel of def.relations) arrowTuplesets(rel.expr, tuplesets);
    for (const rel of def.relations) {
      if (rel.kind === 'relation' && !tuplesets.has(rel.name) && !targeted.has(`${def.name}#${rel.name}`))
        out.push({ type: def.name, rel });
    }
  }
  return out;
}

function addType(rel: RelModel, t: TypeRef): boolean {
  if (rel.types.some((x) => typeRefToString(x) === typeRefToString(t))) return false;
  rel.types.push(t);
  return true;
}

/** Changes `model` and appends to `relationships` (both the base case's), for some seeds. */
export function addWildcardSubjectSets(model: SchemaModel, relationships: Relationship[], seed: number): void {
  const rng = new Rng(Math.imul(seed, 0x2c1b3c6d) ^ 0x5bd1e995);
  if (!rng.chance(SHARE)) return;
  const idsOf = (type: string) => model.definitions.find((d) => d.name === type)!.ids;
  const written = new Set(relationships.map(formatRelationship));
  const add = (type: string, id: string, relation: string, subject: Relationship['subject']) => {
    const r: Relationship = { resource: { type, id }, relation, subject };
    if (written.has(formatRelationship(r))) return;
    written.add(formatRelationship(r));
    relationships.push(r);
  };
  const candidates = eligible(model);
  if (candidates.length === 0) return;

  // Wildcards of the types subject sets have.
  const setTypes = [
    ...new Set(
      model.definitions.flatMap((d) =>
        d.relations.flatMap((r) => r.types.filter((t) => t.relation).map((t) => t.type)),
      ),
    ),
  ];
  if (setTypes.length > 0) {
    for (const { type, rel } of rng.sample(candidates, rng.int(1, Math.min(3, candidates.length)))) {
      const wildcardType = rng.pick(setTypes);
      if (!addType(rel, { type: wildcardType, wildcard: true })) continue;
      for (const id of idsOf(type))
        if (rng.chance(0.5)) add(type, id, rel.name, { type: wildcardType, id: '*', relation: ELLIPSIS });
    }
  }

  // `user#manager` beside `user:*` where there is one, elsewhere alone.
  if (rng.chance(0.5)) {
    const user = model.definitions.find((d) => d.name === 'user')!;
    user.relations.push({ name: 'manager', kind: 'relation', types: [{ type: 'user' }] });
    for (const id of user.ids)
      if (rng.chance(0.5)) add('user', id, 'manager', { type: 'user', id: rng.pick(user.ids), relation: ELLIPSIS });
    const withWildcard = candidates.filter(({ rel }) => rel.types.some((t) => t.type === 'user' && t.wildcard));
    const chosen = [...withWildcard, ...rng.sample(candidates, 1)].slice(0, 2);
    for (const { type, rel } of chosen) {
      addType(rel, { type: 'user', relation: 'manager' });
      for (const id of idsOf(type))
        if (rng.chance(0.4)) add(type, id, rel.name, { type: 'user', id: rng.pick(user.ids), relation: 'manager' });
      if (!rel.types.some((t) => t.type === 'user' && t.wildcard) && rng.chance(0.5)) {
        addType(rel, { type: 'user', wildcard: true });
        add(type, rng.pick(idsOf(type)), rel.name, { type: 'user', id: '*', relation: ELLIPSIS });
      }
    }
  }
}
