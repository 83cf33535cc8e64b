/**
 * The snapshot an OpenFGA evaluation reads: the datastore's snapshot seen through one authorization
 * model.
 *
 * - Stored tuples the model does not allow are left out, as OpenFGA ignores them: a tuple written
 *   under an earlier model whose type restrictions (user type, userset relation, wildcard or
 *   condition) the current model no longer has, or on a relation that no longer takes direct tuples.
 * - Contextual tuples (the request's own, validated by the caller) are merged in, in key order,
 *   honouring every RelationshipQuery field, `limit` and `after` as a datastore does.
 */
import type {
  QueryOptions,
  RelationshipKey,
  RelationshipQuery,
  SnapshotReader,
  StoredSchema,
} from '../datastore/datastore.js';
import { compareKeys, keyOf, queryPredicate } from '../datastore/datastore.js';
import type { Relationship } from '../relationships/relationship.js';
import type { CompiledSchema, RelationDefinition } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import { OpenFgaError } from './errors.js';

const WILDCARD = '*';

/** Whether the model allows a stored relationship: its relation takes direct tuples of its user's kind. */
export function allowedByModel(schema: CompiledSchema, r: Relationship): boolean {
  const relation = schema.definitions.get(r.resource.type)?.relations.get(r.relation);
  return relation !== undefined && allowedByRelation(relation, r);
}

/**
 * OpenFGA's type-restriction check (ValidateTupleForRead): the user's kind (`user`, `user:*` or
 * `group#member`) must be one of the relation's restrictions; a tuple without a condition needs that
 * restriction without one, and a tuple's condition must be one a restriction of the user's type names.
 */
function allowedByRelation(relation: RelationDefinition, r: Relationship): boolean {
  const { type, id, relation: subjectRelation } = r.subject;
  const wildcard = id === WILDCARD;
  const caveat = r.caveat?.name;
  let kind = false;
  let plain = false;
  let condition = false;
  for (const a of relation.allowedSubjects) {
    if (a.type !== type) continue;
    if (caveat !== undefined && a.caveat === caveat) condition = true;
    const sameKind =
      subjectRelation !== ELLIPSIS
        ? a.relation === subjectRelation
        : wildcard
          ? a.wildcard
          : !a.wildcard && a.relation === ELLIPSIS;
    if (!sameKind) continue;
    kind = true;
    if (a.caveat === undefined) plain = true;
  }
  return kind && (caveat === undefined ? plain : condition);
}

export class ModelSnapshot implements SnapshotReader {
  /** The contextual tuples, sorted by key, without repeats. */
  private readonly contextual: Relationship[];

  /**
   * `strictContext`: the request's context, when every condition met on the way must have all its
   * parameters (OpenFGA's ListUsers fails on any condition it cannot evaluate, even one a found user
   * does not need): reading a conditioned tuple that lacks one is then a validation_error.
   */
  constructor(
    private readonly inner: SnapshotReader,
    private readonly schema: CompiledSchema,
    contextual: readonly Relationship[] = [],
    private readonly strictContext?: Record<string, unknown>,
  ) {
    const sorted = [...contextual].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
    this.contextual = sorted.filter((r, i) => i === 0 || compareKeys(keyOf(sorted[i - 1]), keyOf(r)) !== 0);
  }

  get revision(): bigint {
    return this.inner.revision;
  }

  get primary(): boolean | undefined {
    return this.inner.primary;
  }

  /** Whether the request carries tuples of its own (its evaluation then shares nothing with others). */
  get hasContextualTuples(): boolean {
    return this.contextual.length > 0;
  }

  readSchema(): Promise<StoredSchema | undefined> {
    return this.inner.readSchema();
  }

  async queryRelationships(query: RelationshipQuery, options: QueryOptions = {}): Promise<Relationship[]> {
    const found = await this.query(query, options);
    if (this.strictContext) for (const r of found) if (r.caveat) this.assertEvaluable(r);
    return found;
  }

  private assertEvaluable(r: Relationship): void {
    const def = this.schema.caveats.get(r.caveat!.name);
    if (!def) return;
    const context = this.strictContext!;
    const stored = r.caveat!.context ?? {};
    const missing = [...def.parameters.keys()].filter((p) => stored[p] === undefined && context[p] === undefined);
    if (missing.length > 0) {
      throw new OpenFgaError(
        'validation_error',
        `failed to evaluate relationship condition '${def.name}': context is missing parameters '${missing.join(', ')}'`,
      );
    }
  }

  private async query(query: RelationshipQuery, options: QueryOptions): Promise<Relationship[]> {
    const { limit, after } = options;
    const stored = await this.stored(query, limit, after);
    if (this.contextual.length === 0) return stored;
    const matches = queryPredicate(query);
    const extra = this.contextual.filter((r) => {
      const key = keyOf(r);
      return matches(key) && (after === undefined || compareKeys(key, after) > 0);
    });
    if (extra.length === 0) return stored;
    // Merge in key order; a contextual tuple replaces a stored one with the same key.
    const merged: Relationship[] = [];
    let i = 0;
    let j = 0;
    while (i < stored.length || j < extra.length) {
      if (limit !== undefined && merged.length >= limit) break;
      if (j >= extra.length) merged.push(stored[i++]);
      else if (i >= stored.length) merged.push(extra[j++]);
      else {
        const c = compareKeys(keyOf(stored[i]), keyOf(extra[j]));
        if (c < 0) merged.push(stored[i++]);
        else if (c > 0) merged.push(extra[j++]);
        else {
          merged.push(extra[j++]);
          i++;
        }
      }
    }
    return merged;
  }

  /** Stored relationships the model allows, `limit` of them when there are that many. */
  private async stored(
    query: RelationshipQuery,
    limit: number | undefined,
    after: RelationshipKey | undefined,
  ): Promise<Relationship[]> {
    const kept: Relationship[] = [];
    let cursor = after;
    for (;;) {
      const want = limit === undefined ? undefined : limit - kept.length;
      const page = await this.inner.queryRelationships(query, {
        ...(want !== undefined ? { limit: want } : {}),
        ...(cursor ? { after: cursor } : {}),
      });
      for (const r of page) if (allowedByModel(this.schema, r)) kept.push(r);
      // Complete when the datastore had no more, or when enough were kept.
      if (want === undefined || page.length < want || kept.length >= (limit ?? 0)) return kept;
      cursor = keyOf(page[page.length - 1]);
    }
  }
}
