/**
 * A request-scoped view of one snapshot: identical relationship reads made while answering one
 * request are served once (a read is a pure function of the snapshot, so this is always safe), and
 * reads of many objects are batched: one query for a list of resource ids fills one entry per id, so
 * sub-problems that later ask for a single object find their rows already read.
 *
 * Every read of a request passes here, so this is also where a request stops once its signal aborts
 * (deadline, client cancel) and where it gives the event loop a turn when its slice is spent.
 */
import type { RelationshipQuery, SnapshotReader } from '../datastore/datastore.js';
import type { Relationship } from '../relationships/relationship.js';
import { nextTurn, sliceSpent, stepDue } from './time-slice.js';

/** A query on one resource type and relation, without the resource ids. */
export type PerObjectQuery = Omit<RelationshipQuery, 'resourceIds' | 'resourceIdPrefix'> & {
  resourceType: string;
  relation: string;
};

type Rows = Promise<Relationship[]>;

export class RequestReader {
  /** Reads by the query's shape (without ids), then by resource id. */
  private readonly perId = new Map<string, Map<string, Rows>>();
  private readonly other = new Map<string, Rows>();
  /** Relationship queries sent to the datastore (for tests and benchmarks). */
  queries = 0;

  constructor(
    readonly snapshot: SnapshotReader,
    readonly signal?: AbortSignal,
  ) {}

  /**
   * Whether the request must give the event loop a turn: loops that do no reads ask this, and then
   * `await pause()`, which also stops an aborted request. (Reads check the signal themselves: an abort
   * arrives in a turn of the loop, which is a read's or a pause's await.)
   */
  due(): boolean {
    return stepDue();
  }

  /** Gives the event loop a turn; throws the signal's reason if the request was aborted. */
  async pause(): Promise<void> {
    this.signal?.throwIfAborted();
    await nextTurn();
    this.signal?.throwIfAborted();
  }

  /** Every relationship on `relation` of the given resources. */
  byResource(type: string, ids: readonly string[], relation: string): Rows {
    if (this.signal?.aborted || sliceSpent()) return this.pause().then(() => this.byResource(type, ids, relation));
    const key = `${type}#${relation}`;
    if (ids.length === 1) {
      const hit = this.perId.get(key)?.get(ids[0]);
      if (hit) return hit;
    }
    return this.rows(key, { resourceType: type, relation }, ids);
  }

  /**
   * The rows matching `q` on each of `ids`, concatenated in id order. Ids not read before in this
   * request are fetched together in one query.
   */
  perObject(q: PerObjectQuery, ids: readonly string[]): Rows {
    if (this.signal?.aborted || sliceSpent()) return this.pause().then(() => this.perObject(q, ids));
    return this.rows(queryKey(q), q, ids);
  }

  /** Starts reading the ids not yet read (one query) and returns each id's pending rows. */
  prefetch(q: PerObjectQuery, ids: readonly string[]): Rows[] {
    return this.start(this.shape(queryKey(q)), q, ids);
  }

  private rows(key: string, q: PerObjectQuery, ids: readonly string[]): Rows {
    const byId = this.shape(key);
    if (ids.length === 1) {
      let rows = byId.get(ids[0]);
      if (!rows) {
        this.queries++;
        rows = this.snapshot.queryRelationships({ ...q, resourceIds: ids });
        byId.set(ids[0], rows);
      }
      return rows;
    }
    return Promise.all(this.start(byId, q, ids)).then((parts) => parts.flat());
  }

  private start(byId: Map<string, Rows>, q: PerObjectQuery, ids: readonly string[]): Rows[] {
    const missing = [...new Set(ids.filter((id) => !byId.has(id)))];
    if (missing.length === 1) {
      this.queries++;
      byId.set(missing[0], handled(this.snapshot.queryRelationships({ ...q, resourceIds: missing })));
    } else if (missing.length > 1) {
      this.queries++;
      const grouped = this.snapshot.queryRelationships({ ...q, resourceIds: missing }).then(groupById);
      for (const id of missing) byId.set(id, handled(grouped.then((groups) => groups.get(id) ?? [])));
    }
    return ids.map((id) => byId.get(id)!);
  }

  query(q: RelationshipQuery): Rows {
    if (this.signal?.aborted || sliceSpent()) return this.pause().then(() => this.query(q));
    const key = queryKey(q) + '\u0001' + JSON.stringify([q.resourceIds, q.resourceIdPrefix]);
    let hit = this.other.get(key);
    if (!hit) {
      this.queries++;
      hit = this.snapshot.queryRelationships(q);
      this.other.set(key, hit);
    }
    return hit;
  }

  private shape(key: string): Map<string, Rows> {
    let byId = this.perId.get(key);
    if (!byId) this.perId.set(key, (byId = new Map()));
    return byId;
  }
}

/** Memoised per query object: the engine reuses its query shapes for a whole request. */
const keys = new WeakMap<RelationshipQuery, string>();

function queryKey(q: RelationshipQuery): string {
  let key = keys.get(q);
  if (key === undefined) {
    key =
      q.subjectType === undefined && q.subjectIds === undefined && q.subjectRelation === undefined
        ? `${q.resourceType}#${q.relation}`
        : JSON.stringify([q.resourceType, q.relation, q.subjectType, q.subjectIds, q.subjectRelation]);
    keys.set(q, key);
  }
  return key;
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
