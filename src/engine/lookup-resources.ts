/**
 * LookupResources: walk the schema backwards from the subject (reachability over relationships read
 * through the subject index) to find candidate resources, then confirm each candidate with Check
 * unless the permission is a pure union, where reachability already is the answer.
 *
 * Results come in id order, a page at a time: candidates are confirmed only as far as the page needs,
 * and the candidates of a paged lookup are kept (CandidateCache) so the next page starts from them
 * instead of walking everything again.
 */
import type { CompiledSchema } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import type { RelationshipQuery } from '../datastore/datastore.js';
import type { Relationship, SubjectRef } from '../relationships/relationship.js';
import type { RequestReader } from './request-reader.js';
import { analysisOf } from '../schema/analysis.js';
import type { Checker } from './check.js';
import type { CandidateCache } from './candidate-cache.js';
import { StaleNestedGroupViewError, type NestedGroups, type NestedGroupView } from './nested-group-index.js';
import { byCodeUnits, sortPaced } from './paced-sort.js';
import type { Membership } from './membership.js';
import { MEMBER } from './membership.js';
import { WILDCARD } from './wildcard.js';

export interface FoundResource {
  id: string;
  membership: Membership;
}

/** Where a page resumes: after resource `id`, at revision `r` (SpiceDB's cursors pin the revision too). */
export interface LookupPosition {
  r: string;
  id: string;
}

export function isLookupPosition(p: unknown): p is LookupPosition {
  if (typeof p !== 'object' || p === null) return false;
  const { r, id } = p as Record<string, unknown>;
  return typeof r === 'string' && /^\d{1,20}$/.test(r) && typeof id === 'string';
}

export interface LookupPage {
  /** Resume after this id. */
  after?: string;
  /** At most this many results. */
  limit?: number;
  /** Keeps a paged lookup's candidates for its next pages, under `key` (naming the revision and the request). */
  cache?: CandidateCache;
  key?: string;
}

/**
 * The ids of `resourceType` on which the checker's subject has `permission` (perhaps conditionally),
 * in id order: those after `page.after`, at most `page.limit`.
 */
export async function* lookupResources(
  schema: CompiledSchema,
  resourceType: string,
  permission: string,
  checker: Checker,
  index: NestedGroups | undefined,
  page: LookupPage = {},
): AsyncGenerator<FoundResource> {
  const { after, limit = Infinity, cache, key } = page;
  const reader = checker.reader;
  const analysis = analysisOf(schema);
  const kept = key === undefined ? undefined : cache?.get(key);
  let candidates = kept;
  if (!candidates) {
    const toward = analysis.usersetsReaching(resourceType, permission);
    const reached = (await reachableUsersets(schema, reader, checker.subject, index, toward)).get(
      `${resourceType}#${permission}`,
    );
    candidates = await sortPaced([...(reached ?? [])], byCodeUnits, reader);
  }
  const start = after === undefined ? 0 : firstAfter(candidates, after);
  // Kept only when a next page is likely: a lookup read in one go never needs them again.
  if (!kept && key !== undefined && candidates.length - start > limit) cache?.set(key, candidates);
  // Kept candidates of a pure union are confirmed again if relationships may have expired since.
  const confirmed = analysis.isMonotoneUnion(resourceType, permission) && !(kept && analysis.usesExpiration);
  let emitted = 0;
  for (let i = start; i < candidates.length && emitted < limit; i++) {
    const id = candidates[i];
    if (confirmed) {
      if (reader.due()) await reader.pause();
      emitted++;
      yield { id, membership: MEMBER };
      continue;
    }
    const membership = await checker.check({ type: resourceType, id }, permission);
    if (membership.kind === 'not-member') continue;
    emitted++;
    yield { id, membership };
  }
}

/** The index of the first id after `after` in sorted `ids`. */
function firstAfter(ids: readonly string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Every userset (`type#relation` → ids) the subject can flow into on the way `toward` a target,
 * ignoring intersections and exclusions (a superset of the true answer).
 */
async function reachableUsersets(
  schema: CompiledSchema,
  reader: RequestReader,
  subject: SubjectRef,
  index: NestedGroups | undefined,
  toward: ReadonlySet<string>,
): Promise<Map<string, Set<string>>> {
  const reverse = analysisOf(schema).reverse;
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
    let ancestors: ReadonlySet<string> | undefined;
    try {
      ancestors = nesting.ancestors(id);
    } catch (error) {
      // The view outlived its revision (the index applied a newer nesting change since): walk on without it.
      if (!(error instanceof StaleNestedGroupViewError)) throw error;
      views.set(key, null);
      return;
    }
    // Too many to answer from the index: this id walks up through its stored relationships instead.
    if (!ancestors) return;
    for (const a of ancestors) reach(type, relation, a, true);
  };
  reach(subject.type, subject.relation, subject.id);
  // A stored `T:*` grants a subject set `T:x#rel` too (see wildcard.ts): walk on from the type's wildcard.
  if (subject.relation !== ELLIPSIS) reach(subject.type, ELLIPSIS, WILDCARD);

  while (frontier.size > 0) {
    const current = frontier;
    frontier = new Map();
    for (const [key, idSet] of current) {
      if (!toward.has(key)) continue;
      const hash = key.lastIndexOf('#');
      const type = key.slice(0, hash);
      const relation = key.slice(hash + 1);
      const ids = [...idSet];
      // Relationships whose subject is this userset (and, for plain objects, the type's wildcard).
      const subjectIds = relation === ELLIPSIS && !idSet.has(WILDCARD) ? [...ids, WILDCARD] : ids;
      for await (const rows of bySubjects(reader, { subjectType: type, subjectRelation: relation }, subjectIds)) {
        for (const r of rows) {
          reach(r.resource.type, r.relation, r.resource.id);
          if (reader.due()) await reader.pause();
        }
      }
      for (const permission of reverse.computedBy.get(key) ?? []) {
        if (!toward.has(`${type}#${permission}`)) continue;
        for (const id of ids) {
          // `T#...` flows through `self` as the object itself; the type's wildcard is no object.
          if (relation === ELLIPSIS && id === WILDCARD) continue;
          reach(type, permission, id);
          if (reader.due()) await reader.pause();
        }
      }
      for (const edge of reverse.arrowsOver.get(key) ?? []) {
        if (!toward.has(`${edge.type}#${edge.relation}`)) continue;
        for await (const rows of bySubjects(
          reader,
          { resourceType: edge.type, relation: edge.tupleset, subjectType: type },
          ids,
        )) {
          for (const r of rows) {
            reach(edge.type, edge.relation, r.resource.id);
            if (reader.due()) await reader.pause();
          }
        }
      }
    }
  }
  return reached;
}

/** About how many rows one read of the walk returns: SQLite takes ~10 µs a row, all in one synchronous call. */
const ROWS_PER_READ = 500;

/**
 * The rows of `q` for each of the subject `ids`, read a few ids at a time: one read of forty folders'
 * fifty thousand documents held the event loop for over half a second. The number of ids per read
 * starts at one and follows the rows they returned, so a frontier of ids that have no rows still
 * takes only a few reads.
 */
async function* bySubjects(
  reader: RequestReader,
  q: Omit<RelationshipQuery, 'subjectIds'>,
  ids: readonly string[],
): AsyncGenerator<Relationship[]> {
  let size = 1;
  for (let i = 0; i < ids.length;) {
    const chunk = ids.slice(i, i + size);
    i += chunk.length;
    const rows = await reader.query({ ...q, subjectIds: chunk });
    yield rows;
    size = Math.max(1, Math.min(size * 4, Math.floor((chunk.length * ROWS_PER_READ) / Math.max(rows.length, 1))));
  }
}
