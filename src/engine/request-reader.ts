/**
 * A request-scoped view of one snapshot: identical relationship reads made while answering one
 * request are served once (a read is a pure function of the snapshot, so this is always safe), and
 * reads of many objects are batched: one query for a list of resource ids fills one entry per id, so
 * sub-problems that later ask for a single object find their rows already read.
 */
import type { RelationshipQuery, SnapshotReader } from '../datastore/datastore.js';
import type { Relationship } from '../relationship.js';

/** A query on one resource type and relation, without the resource ids. */
export type PerObjectQuery = Omit<RelationshipQuery, 'resourceIds' | 'resourceIdPrefix'> & { resourceType: string; relation: string };

export class RequestReader {
  private readonly cache = new Map<string, Promise<Relationship[]>>();
  /** Relationship queries sent to the datastore (for tests and benchmarks). */
  queries = 0;

  constructor(readonly snapshot: SnapshotReader) {}

  /** Every relationship on `relation` of the given resources. */
  byResource(type: string, ids: readonly string[], relation: string): Promise<Relationship[]> {
    return this.perObject({ resourceType: type, relation }, ids);
  }

  /**
   * The rows matching `q` on each of `ids`, concatenated in id order. Ids not read before in this
   * request are fetched together in one query.
   */
  async perObject(q: PerObjectQuery, ids: readonly string[]): Promise<Relationship[]> {
    const parts = this.prefetch(q, ids);
    if (parts.length === 1) return parts[0];
    return (await Promise.all(parts)).flat();
  }

  /** Starts reading the ids not yet read (one query) and returns each id's pending rows. */
  prefetch(q: PerObjectQuery, ids: readonly string[]): Promise<Relationship[]>[] {
    const base = queryKey(q) + '\u0000';
    const missing = ids.filter((id) => !this.cache.has(base + id));
    if (missing.length === 1) {
      this.queries++;
      this.cache.set(base + missing[0], handled(this.snapshot.queryRelationships({ ...q, resourceIds: missing })));
    } else if (missing.length > 1) {
      const unique = [...new Set(missing)];
      this.queries++;
      const byId = this.snapshot.queryRelationships({ ...q, resourceIds: unique }).then(groupById);
      for (const id of unique) this.cache.set(base + id, handled(byId.then((groups) => groups.get(id) ?? [])));
    }
    return ids.map((id) => this.cache.get(base + id)!);
  }

  query(q: RelationshipQuery): Promise<Relationship[]> {
    const key = queryKey(q) + '\u0001' + JSON.stringify([q.resourceIds, q.resourceIdPrefix]);
    let hit = this.cache.get(key);
    if (!hit) {
      this.queries++;
      hit = this.snapshot.queryRelationships(q);
      this.cache.set(key, hit);
    }
    return hit;
  }
}

function queryKey(q: RelationshipQuery): string {
  return JSON.stringify([q.resourceType, q.relation, q.subjectType, q.subjectIds, q.subjectRelation]);
}

/** A prefetched read nobody awaits must not become an unhandled rejection; awaiting it still throws. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

function groupById(rows: Relationship[]): Map<string, Relationship[]> {
  const groups = new Map<string, Relationship[]>();
  for (const r of rows) {
    const group = groups.get(r.resource.id);
    if (group) group.push(r);
    else groups.set(r.resource.id, [r]);
  }
  return groups;
}
