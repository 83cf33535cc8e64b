/**
 * OpenFGA's Expand: one level of a relation's userset-rewrite tree, in OpenFGA's JSON shape. Unlike
 * SpiceDB's Expand it does not follow computed usersets or tuple-to-usersets: a computed userset is a
 * leaf naming `object#relation`, a tuple-to-userset a leaf listing the usersets its tupleset reaches,
 * and only direct tuples are listed as users (`user:anne`, `user:*`, `group:eng#member`).
 */
import type { Relationship } from '../relationships/relationship.js';
import type { Userset } from './model/types.js';

export interface UsersetTreeNode {
  name: string;
  leaf?:
    | { users: { users: string[] } }
    | { computed: { userset: string } }
    | { tupleToUserset: { tupleset: string; computed: { userset: string }[] } };
  union?: { nodes: UsersetTreeNode[] };
  intersection?: { nodes: UsersetTreeNode[] };
  difference?: { base: UsersetTreeNode; subtract: UsersetTreeNode };
}

export interface ExpandReads {
  /** The relationships stored on `object#relation` (unprefixed names), already filtered by the model. */
  direct(relation: string): Promise<Relationship[]>;
  /** A relationship's user in OpenFGA's syntax. */
  userOf(r: Relationship): string;
  /** A relationship's user object `type:id` (for tuple-to-userset), undefined for a userset or wildcard. */
  objectOf(r: Relationship): string | undefined;
  signal?: AbortSignal;
}

/** The tree of `object#relation` whose rewrite is `rewrite`. */
export async function expandUserset(
  object: string,
  relation: string,
  rewrite: Userset,
  reads: ExpandReads,
): Promise<UsersetTreeNode> {
  const name = `${object}#${relation}`;
  reads.signal?.throwIfAborted();
  if (rewrite.this) {
    const users = (await reads.direct(relation)).map((r) => reads.userOf(r));
    return { name, leaf: { users: { users } } };
  }
  if (rewrite.computedUserset) {
    return { name, leaf: { computed: { userset: `${object}#${rewrite.computedUserset.relation}` } } };
  }
  if (rewrite.tupleToUserset) {
    const tupleset = rewrite.tupleToUserset.tupleset.relation;
    const computedRelation = rewrite.tupleToUserset.computedUserset.relation;
    const computed: { userset: string }[] = [];
    for (const r of await reads.direct(tupleset)) {
      const target = reads.objectOf(r);
      if (target !== undefined) computed.push({ userset: `${target}#${computedRelation}` });
    }
    return { name, leaf: { tupleToUserset: { tupleset: `${object}#${tupleset}`, computed } } };
  }
  if (rewrite.union || rewrite.intersection) {
    const children = (rewrite.union ?? rewrite.intersection)!.child;
    const nodes: UsersetTreeNode[] = [];
    for (const child of children) nodes.push(await expandUserset(object, relation, child, reads));
    return rewrite.union ? { name, union: { nodes } } : { name, intersection: { nodes } };
  }
  if (rewrite.difference) {
    const base = await expandUserset(object, relation, rewrite.difference.base, reads);
    const subtract = await expandUserset(object, relation, rewrite.difference.subtract, reads);
    return { name, difference: { base, subtract } };
  }
  // An empty rewrite (not valid in a written model): no users.
  return { name, leaf: { users: { users: [] } } };
}
