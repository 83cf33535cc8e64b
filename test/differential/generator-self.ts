/**
 * The generator's `self` extension (`use self`). Drawn from a random stream of its own, after the
 * wildcard extension, so that a case it leaves alone is exactly as before; in SELF_SHARE of the cases it
 *   - declares `use self` and gives `user` a permission `myself` made of `self` (alone, or beside
 *     `manager` when generator-wildcards.ts added that relation: `self + manager`, `manager - self`,
 *     `manager & self`);
 *   - lets some relations that take plain users take `user#myself` too, with relationships using it;
 *   - appends `+ self` to some permissions of `group`, `folder` and `document`;
 *   - turns some leaves of permissions into arrows `rel->myself` or `rel.all(myself)` over relations
 *     that take plain users.
 *
 * SpiceDB v1.54's LookupResources fails ("BUG: cannot call HintForEntrypoint for kind
 * SELF_ENTRYPOINT") on a permission that holds `self` itself (not through another permission or an
 * arrow) in the first operand of an intersection, in an exclusion's base, or after a `.all()` arrow
 * in a union: `self & viewer`, `(viewer + self) - banned`, `banned.all(myself) + self`. Pemba
 * answers those (docs/compatibility.md); here `self` is only ever appended (`… + self`), to
 * permissions without `.all()`, and since `+` binds tightest that puts it in the last operand of
 * every operator around it; `myself` has it only where SpiceDB copes.
 */
import type { Relationship } from '../../src/relationships/relationship.js';
import { Rng, formatRelationship, reachesWildcard } from './generator.js';
import type { Expr, RelModel, SchemaModel } from './generator.js';

/** Share of cases the extension changes (PEMBA_DIFF_SELF_SHARE: 0 leaves every case as the base generator makes it). */
export const SELF_SHARE = Number(process.env.PEMBA_DIFF_SELF_SHARE ?? 0.2);

/** The `user` permission made of `self`. */
export const MYSELF = 'myself';

function arrowTuplesets(e: Expr | undefined, out: Set<string>): void {
  if (!e) return;
  if (e.op === 'arrow') out.add(e.tupleset);
  else if (e.op === '+' || e.op === '&' || e.op === '-') {
    arrowTuplesets(e.left, out);
    arrowTuplesets(e.right, out);
  }
}

/** Whether `e` has a `.all()` arrow. */
function hasAll(e: Expr): boolean {
  if (e.op === 'arrow') return e.fn === 'all';
  return (e.op === '+' || e.op === '&' || e.op === '-') && (hasAll(e.left) || hasAll(e.right));
}

/** The leaves of `e` (relations, arrows, `nil`), each with a setter that replaces it in place. */
function leaves(e: Expr, set: (x: Expr) => void, out: { leaf: Expr; set: (x: Expr) => void }[]): void {
  if (e.op === '+' || e.op === '&' || e.op === '-') {
    leaves(e.left, (x) => (e.left = x), out);
    leaves(e.right, (x) => (e.right = x), out);
  } else out.push({ leaf: e, set });
}

/** Changes `model` and appends to `relationships` (both the base case's), for some seeds. */
export function addSelf(model: SchemaModel, relationships: Relationship[], seed: number): void {
  const rng = new Rng(Math.imul(seed, 0x7feb352d) ^ 0x846ca68b);
  if (!rng.chance(SELF_SHARE)) return;
  model.useSelf = true;
  const user = model.definitions.find((d) => d.name === 'user')!;
  const written = new Set(relationships.map(formatRelationship));
  const add = (type: string, id: string, relation: string, subject: Relationship['subject']) => {
    const r: Relationship = { resource: { type, id }, relation, subject };
    if (written.has(formatRelationship(r))) return;
    written.add(formatRelationship(r));
    relationships.push(r);
  };

  const self: Expr = { op: 'self' };
  const manager: Expr = { op: 'ref', name: 'manager' };
  const shapes: Expr[] = [self];
  if (user.relations.some((r) => r.name === 'manager')) {
    shapes.push(
      { op: '+', left: self, right: manager, parens: false },
      { op: '-', left: manager, right: self, parens: false },
      { op: '&', left: manager, right: self, parens: false },
    );
  }
  user.relations.push({ name: MYSELF, kind: 'permission', types: [], expr: rng.pick(shapes) });

  const others = model.definitions.filter((d) => d.name !== 'user');
  const takesUsers = (r: RelModel) =>
    r.kind === 'relation' && r.types.some((t) => t.type === 'user' && !t.relation && !t.wildcard);

  // `user#myself` in type lists (not on arrows' left sides: the base generator decided those).
  for (const def of others) {
    const tuplesets = new Set<string>();
    for (const r of def.relations) arrowTuplesets(r.expr, tuplesets);
    for (const rel of def.relations.filter((r) => takesUsers(r) && !tuplesets.has(r.name))) {
      if (!rng.chance(0.3)) continue;
      rel.types.push({ type: 'user', relation: MYSELF });
      for (const id of def.ids) {
        if (rng.chance(0.4)) add(def.name, id, rel.name, { type: 'user', id: rng.pick(user.ids), relation: MYSELF });
      }
    }
  }

  // `+ self` at the end of permissions, and arrows to `myself`.
  for (const def of others) {
    // An arrow's left side must not reach a wildcard (generator-wildcards.ts may have added some).
    const over = def.relations.filter((r) => takesUsers(r) && !reachesWildcard(model, def.name, r.name));
    for (const perm of def.relations.filter((r) => r.kind === 'permission')) {
      if (over.length > 0 && rng.chance(0.3)) {
        const spots: { leaf: Expr; set: (x: Expr) => void }[] = [];
        leaves(perm.expr!, (x) => (perm.expr = x), spots);
        const fn = rng.weighted([
          ['->', 3],
          ['all', 1],
        ] as const);
        rng.pick(spots).set({ op: 'arrow', tupleset: rng.pick(over).name, target: MYSELF, fn });
      }
      if (rng.chance(0.3) && !hasAll(perm.expr!)) perm.expr = { op: '+', left: perm.expr!, right: self, parens: false };
    }
  }
}
