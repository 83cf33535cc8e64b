/**
 * Multi-version relationship rows. Each version records the revision that created it and the one that
 * deleted it, so a read at revision R sees versions with createdRev <= R < deletedRev — the same
 * shape as a SQL table with created_rev/deleted_rev columns. At most one version of a key is
 * undeleted at any time.
 *
 * Rows live in a slot per relationship key, indexed by resource (type → id → relation → subject) and
 * by subject (type → id → slots), so batched lookups touch only the rows they ask for.
 */
import { invalidArgument } from '../../errors.js';
import type { Relationship } from '../../relationship.js';
import type { QueryOptions, RelationshipKey, RelationshipQuery, Revision } from '../datastore.js';
import { compareKeys, keyOf, queryPredicate } from '../datastore.js';
import { subjectKey } from './relationships.js';

export interface RowVersion {
  /** Frozen; shared with readers. */
  readonly relationship: Relationship;
  readonly createdRev: Revision;
  deletedRev?: Revision;
  /** expiresAt in epoch ms, cached for the hot read path. */
  readonly expiresAtMs?: number;
}

export class Slot {
  /** Ascending by createdRev. */
  versions: RowVersion[] = [];

  constructor(readonly key: RelationshipKey) {}

  /** The version visible at `revision`, if any. Reads are usually near head, so search backwards. */
  at(revision: Revision): RowVersion | undefined {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const v = this.versions[i];
      if (v.createdRev <= revision) return v.deletedRev === undefined || v.deletedRev > revision ? v : undefined;
    }
    return undefined;
  }

  /** The undeleted version, if any. */
  current(): RowVersion | undefined {
    const last = this.versions[this.versions.length - 1];
    return last && last.deletedRev === undefined ? last : undefined;
  }
}

export const isExpired = (v: RowVersion, nowMs: number) => v.expiresAtMs !== undefined && v.expiresAtMs <= nowMs;

type BySubject = Map<string, Slot>;
type ByRelation = Map<string, BySubject>;

export class RowStore {
  private readonly byResource = new Map<string, Map<string, ByRelation>>();
  private readonly bySubject = new Map<string, Map<string, Set<Slot>>>();

  slotFor(r: Relationship): Slot | undefined {
    const s = subjectKey(r.subject.type, r.subject.id, r.subject.relation);
    return this.byResource.get(r.resource.type)?.get(r.resource.id)?.get(r.relation)?.get(s);
  }

  /** The slot for `r`, created and indexed if missing. */
  ensureSlot(r: Relationship): Slot {
    const existing = this.slotFor(r);
    if (existing) return existing;
    const slot = new Slot(keyOf(r));
    const ids = getOrInit(this.byResource, r.resource.type, () => new Map<string, ByRelation>());
    const rels = getOrInit(ids, r.resource.id, () => new Map<string, BySubject>());
    getOrInit(rels, r.relation, () => new Map<string, Slot>()).set(subjectKey(r.subject.type, r.subject.id, r.subject.relation), slot);
    const sids = getOrInit(this.bySubject, r.subject.type, () => new Map<string, Set<Slot>>());
    getOrInit(sids, r.subject.id, () => new Set<Slot>()).add(slot);
    return slot;
  }

  /** Unindex a slot that has no versions left, pruning empty index maps. */
  removeSlot(slot: Slot): void {
    const k = slot.key;
    const ids = this.byResource.get(k.resourceType);
    const rels = ids?.get(k.resourceId);
    const subjects = rels?.get(k.relation);
    subjects?.delete(subjectKey(k.subjectType, k.subjectId, k.subjectRelation));
    if (subjects?.size === 0) rels!.delete(k.relation);
    if (rels?.size === 0) ids!.delete(k.resourceId);
    if (ids?.size === 0) this.byResource.delete(k.resourceType);
    const sids = this.bySubject.get(k.subjectType);
    const set = sids?.get(k.subjectId);
    set?.delete(slot);
    if (set?.size === 0) sids!.delete(k.subjectId);
    if (sids?.size === 0) this.bySubject.delete(k.subjectType);
  }

  /** Relationships visible at `revision` and unexpired at `nowMs`, in key order, after `after`, at most `limit`. */
  query(q: RelationshipQuery, revision: Revision, nowMs: number, options: QueryOptions = {}): Relationship[] {
    const { limit, after } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw invalidArgument(`invalid query limit ${limit}: it must be a non-negative integer`);
    }
    const match = queryPredicate(q);
    const hits: { key: RelationshipKey; v: RowVersion }[] = [];
    for (const slot of this.candidates(q)) {
      if (!match(slot.key) || (after && compareKeys(slot.key, after) <= 0)) continue;
      const v = slot.at(revision);
      if (v && !isExpired(v, nowMs)) hits.push({ key: slot.key, v });
    }
    hits.sort((a, b) => compareKeys(a.key, b.key));
    if (limit !== undefined && hits.length > limit) hits.length = limit;
    return hits.map((h) => h.v.relationship);
  }

  /** Every slot (for garbage collection). */
  *allSlots(): Iterable<Slot> {
    for (const ids of this.byResource.values()) for (const rels of ids.values()) yield* slotsOf(rels);
  }

  /**
   * The slots a query can possibly match, narrowed by the most selective index available: resource
   * ids first (the engine's hot path), then subject ids, then a type's whole index.
   */
  private *candidates(q: RelationshipQuery): Iterable<Slot> {
    if (q.resourceIds?.length === 0 || q.subjectIds?.length === 0) return;
    const bySubjectIds = q.subjectType !== undefined && q.subjectIds !== undefined;
    if (q.resourceType !== undefined && (q.resourceIds !== undefined || !bySubjectIds)) {
      const ids = this.byResource.get(q.resourceType);
      if (!ids) return;
      if (q.resourceIds) {
        for (const id of new Set(q.resourceIds)) {
          const rels = ids.get(id);
          if (rels) yield* slotsOf(rels, q.relation);
        }
      } else {
        for (const [id, rels] of ids) {
          if (q.resourceIdPrefix === undefined || id.startsWith(q.resourceIdPrefix)) yield* slotsOf(rels, q.relation);
        }
      }
      return;
    }
    if (q.subjectType !== undefined) {
      const sids = this.bySubject.get(q.subjectType);
      if (!sids) return;
      if (q.subjectIds) {
        for (const id of new Set(q.subjectIds)) yield* sids.get(id) ?? [];
      } else {
        for (const set of sids.values()) yield* set;
      }
      return;
    }
    yield* this.allSlots();
  }
}

function* slotsOf(rels: ByRelation, relation?: string): Iterable<Slot> {
  if (relation !== undefined) {
    yield* rels.get(relation)?.values() ?? [];
    return;
  }
  for (const subjects of rels.values()) yield* subjects.values();
}

function getOrInit<K, V>(map: Map<K, V>, key: K, init: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = init();
    map.set(key, v);
  }
  return v;
}
