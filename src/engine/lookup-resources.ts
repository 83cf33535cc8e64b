/**
 * LookupResources: walk the schema backwards from the subject (reachability over relationships read
 * through the subject index) to find candidate resources, then confirm each candidate with Check
 * unless the permission is a pure union, where reachability already is the answer.
 */
import type { CompiledSchema } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import type { SubjectRef } from '../relationship.js';
import type { RequestReader } from './request-reader.js';
import type { Checker } from './check.js';
import { StaleNestedGroupViewError, type NestedGroupIndex, type NestedGroupView } from './nested-group-index.js';
import { isMonotoneUnion, reverseSchema } from './reachability.js';
import type { Membership } from './membership.js';
import { MEMBER } from './membership.js';

export interface FoundResource {
  id: string;
  membership: Membership;
}

/** Every id of `resourceType` on which `subject` has `permission` (perhaps conditionally), sorted by id. */
export async function lookupResources(
  schema: CompiledSchema,
  resourceType: string,
  permission: string,
  checker: Checker,
  index?: NestedGroupIndex,
): Promise<FoundResource[]> {
  const reached = await reachableUsersets(schema, checker.reader, checker.subject, index);
  const candidates = [...(reached.get(`${resourceType}#${permission}`) ?? [])].sort();
  if (isMonotoneUnion(schema, resourceType, permission)) return candidates.map((id) => ({ id, membership: MEMBER }));
  const out: FoundResource[] = [];
  for (const id of candidates) {
    const membership = await checker.check({ type: resourceType, id }, permission);
    if (membership.kind !== 'not-member') out.push({ id, membership });
  }
  return out;
}

/**
 * Every userset (`type#relation` → ids) the subject can flow into, ignoring intersections and
 * exclusions (a superset of the true answer).
 */
async function reachableUsersets(
  schema: CompiledSchema,
  reader: RequestReader,
  subject: SubjectRef,
  index: NestedGroupIndex | undefined,
): Promise<Map<string, Set<string>>> {
  const reverse = reverseSchema(schema);
  const reached = new Map<string, Set<string>>();
  let frontier = new Map<string, Set<string>>();
  const views = new Map<string, NestedGroupView | null>();
  const reach = (type: string, relation: string, id: string, viaIndex = false) => {
    const key = `${type}#${relation}`;
    let ids = reached.get(key);
    if (!ids) reached.set(key, (ids = new Set()));
    if (ids.has(id)) return;
    ids.add(id);
    let next = frontier.get(key);
    if (!next) frontier.set(key, (next = new Set()));
    next.add(id);
    // A nested group reaches every group it is nested in at once (their subject reads then find nothing new).
    if (viaIndex || !index) return;
    let nesting = views.get(key);
    if (nesting === undefined) views.set(key, (nesting = index.at(reader.snapshot.revision, type, relation) ?? null));
    if (!nesting) return;
    let ancestors: ReadonlySet<string>;
    try {
      ancestors = nesting.ancestors(id);
    } catch (error) {
      // The view outlived its revision (the index applied a newer nesting change since): walk on without it.
      if (!(error instanceof StaleNestedGroupViewError)) throw error;
      views.set(key, null);
      return;
    }
    for (const a of ancestors) reach(type, relation, a, true);
  };
  reach(subject.type, subject.relation, subject.id);

  while (frontier.size > 0) {
    const current = frontier;
    frontier = new Map();
    for (const [key, idSet] of current) {
      const hash = key.lastIndexOf('#');
      const type = key.slice(0, hash);
      const relation = key.slice(hash + 1);
      const ids = [...idSet];
      // Relationships whose subject is this userset (and, for plain objects, the type's wildcard).
      const subjectIds = relation === ELLIPSIS && !idSet.has('*') ? [...ids, '*'] : ids;
      for (const r of await reader.query({ subjectType: type, subjectIds, subjectRelation: relation })) {
        reach(r.resource.type, r.relation, r.resource.id);
      }
      for (const permission of reverse.computedBy.get(key) ?? []) {
        for (const id of ids) reach(type, permission, id);
      }
      for (const edge of reverse.arrowsOver.get(key) ?? []) {
        const rels = await reader.query({ resourceType: edge.type, relation: edge.tupleset, subjectType: type, subjectIds: ids });
        for (const r of rels) reach(edge.type, edge.relation, r.resource.id);
      }
    }
  }
  return reached;
}
