/**
 * A request-scoped view of one snapshot: identical relationship reads made while answering one
 * request are served once (a read is a pure function of the snapshot, so this is always safe).
 */
import type { RelationshipQuery, SnapshotReader } from '../datastore/datastore.js';
import type { Relationship } from '../relationship.js';

export class RequestReader {
  private readonly cache = new Map<string, Promise<Relationship[]>>();

  constructor(readonly snapshot: SnapshotReader) {}

  /** Relationships on `relation` of the given resources. */
  byResource(type: string, ids: readonly string[], relation: string): Promise<Relationship[]> {
    return this.query({ resourceType: type, resourceIds: ids, relation });
  }

  query(q: RelationshipQuery): Promise<Relationship[]> {
    const key = JSON.stringify([
      q.resourceType, q.resourceIds, q.resourceIdPrefix, q.relation, q.subjectType, q.subjectIds, q.subjectRelation,
    ]);
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.snapshot.queryRelationships(q);
      this.cache.set(key, hit);
    }
    return hit;
  }
}
