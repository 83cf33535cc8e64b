/**
 * Multi-version relationship rows. Each version records the revision that created it and the one that
 * deleted it, so a read at revision R sees versions with createdRev <= R < deletedRev — the same
 * shape as a SQL table with created_rev/deleted_rev columns. At most one version of a key is
 * undeleted at any time.
 *
 * Rows live in a slot per relationship key, indexed by resource (type → id → relation → subject) and
 * by subject (type → id → slots), so batched lookups touch only the rows they ask for.
 */
import type { Relationship } from '../../relationships/relationship.js';
import type { QueryOptions, RelationshipKey, RelationshipQuery, Revision } from '../datastore.js';
import { compareKeys, queryPredicate } from '../datastore.js';
import { validateLimit } from '../common/options.js';
import { subjectKey } from '../common/relationships.js';

export interface RowVersion {
  /** Frozen; shared with readers. */
  readonly relationship: Relationship;
  readonly createdRev: Revision;
  deletedRev?: Revision;
  /** expiresAt in epoch ms, cached for the hot read path. */
  readonly expiresAtMs?: number;
}

/** One relationship key (its fields are the slot's own, saving an object per row) and its versions. */
export class Slot implements RelationshipKey {
  readonly resourceType: string;
  readonly resourceId: string;
  readonly relation: string;
  readonly subjectType: string;
  readonly subjectId: string;
  readonly subjectRelation: string;
  /** Ascending by createdRev. */
  versions: RowVersion[] = [];

  constructor(r: Relationship) {
    this.resourceType = r.resource.type;
    this.resourceId = r.resource.id;
    this.relation = r.relation;
    this.subjectType = r.subject.type;
    this.subjectId = r.subject.id;
    this.subjectRelation = r.subject.relation;
  }

  /** The version visible at `revision`, if any. Reads are usually near head, so search backwards. */
  at(revision: Revision): RowVersion | undefined {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const v = this.versions[i];
      if (v.createdRev <= revision) return v.deletedRev === undefined || v.deletedRev > revision ? v : undefined;
    }
    return undefined;
  }

  /** Append a version; the first gets an array of exactly one (push onto [] reserves room for 17). */
  add(v: RowVersion): void {
    if (this.versions.length === 0) this.versions = [v];
    else this.versions.push(v);
  }

  /** Whether `r` has this slot's subject (the slot's resource and relation being given). */
  holdsSubject(r: Relationship): boolean {
    return (
      this.subjectId === r.subject.id &&
      this.subjectType === r.subject.type &&
      this.subjectRelation === r.subject.relation
    );
  }

  /** The undeleted version, if any. */
  current(): RowVersion | undefined {
    const last = this.versions[this.versions.length - 1];
    return last && last.deletedRev === undefined ? last : undefined;
  }
}

export const isExpired = (v: RowVersion, nowMs: number) => v.expiresAtMs !== undefined && v.expiresAtMs <= nowMs;

/**
 * The slots of one (resource, relation): most have a single subject, kept bare (a map and a key
 * string for each were much of a bulk import's memory and time); a map by subjectKey once there are more.
 */
type BySubject = Slot | Map<string, Slot>;
/** The slots of one subject (type and id): likewise bare while there is one. */
type SlotsOfSubject = Slot | Set<Slot>;
type ByRelation = Map<string, BySubject>;

export class RowStore {
  private readonly byResource = new Map<string, Map<string, ByRelation>>();
  /** Subject type → id → its slots: a bare slot for a subject with one (a Set per subject was much of a bulk write's time). */
  private readonly bySubject = new Map<string, Map<string, SlotsOfSubject>>();

  slotFor(r: Relationship): Slot | undefined {
    const subjects = this.byResource.get(r.resource.type)?.get(r.resource.id)?.get(r.relation);
    if (subjects instanceof Slot) return subjects.holdsSubject(r) ? subjects : undefined;
    return subjects?.get(subjectKey(r.subject.type, r.subject.id, r.subject.relation));
  }

  /** The slot for `r`, created and indexed if missing (one walk down the index: bulk imports call this per row). */
  ensureSlot(r: Relationship): Slot {
    const ids = getOrNew(this.byResource, r.resource.type, Map<string, ByRelation>);
    const rels = getOrNew(ids, r.resource.id, Map<string, BySubject>);
    const subjects = rels.get(r.relation);
    let slot: Slot;
    if (subjects === undefined) {
      slot = new Slot(r);
      rels.set(r.relation, slot);
    } else if (subjects instanceof Slot) {
      if (subjects.holdsSubject(r)) return subjects;
      slot = new Slot(r);
      rels.set(
        r.relation,
        new Map([
          [subjectKeyOf(subjects), subjects],
          [subjectKeyOf(slot), slot],
        ]),
      );
    } else {
      const s = subjectKey(r.subject.type, r.subject.id, r.subject.relation);
      const existing = subjects.get(s);
      if (existing) return existing;
      slot = new Slot(r);
      subjects.set(s, slot);
    }
    const sids = getOrNew(this.bySubject, r.subject.type, Map<string, SlotsOfSubject>);
    const held = sids.get(r.subject.id);
    if (held === undefined) sids.set(r.subject.id, slot);
    else if (held instanceof Slot) sids.set(r.subject.id, new Set([held, slot]));
    else held.add(slot);
    return slot;
  }

  /** Unindex a slot that has no versions left, pruning empty index maps. */
  removeSlot(slot: Slot): void {
    const ids = this.byResource.get(slot.resourceType);
    const rels = ids?.get(slot.resourceId);
    const subjects = rels?.get(slot.relation);
    if (subjects instanceof Map) subjects.delete(subjectKeyOf(slot));
    if (subjects === slot || (subjects instanceof Map && subjects.size === 0)) rels!.delete(slot.relation);
    if (rels?.size === 0) ids!.delete(slot.resourceId);
    if (ids?.size === 0) this.byResource.delete(slot.resourceType);
    const sids = this.bySubject.get(slot.subjectType);
    const held = sids?.get(slot.subjectId);
    if (held === slot) sids!.delete(slot.subjectId);
    else if (held instanceof Set) {
      held.delete(slot);
      if (held.size === 1) sids!.set(slot.subjectId, held.values().next().value!);
    }
    if (sids?.size === 0) this.bySubject.delete(slot.subjectType);
  }

  /** Relationships visible at `revision` and unexpired at `nowMs`, in key order, after `after`, at most `limit`. */
  query(q: RelationshipQuery, revision: Revision, nowMs: number, options: QueryOptions = {}): Relationship[] {
    const { limit, after } = options;
    validateLimit(limit, 'query');
    const match = queryPredicate(q);
    const hits: { key: RelationshipKey; v: RowVersion }[] = [];
    for (const slot of this.candidates(q)) {
      if (!match(slot) || (after && compareKeys(slot, after) <= 0)) continue;
      const v = slot.at(revision);
      if (v && !isExpired(v, nowMs)) hits.push({ key: slot, v });
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
        // The engine's "is this subject stored here" read names everything: look the slots up.
        const exact =
          q.relation !== undefined &&
          q.subjectType !== undefined &&
          q.subjectIds !== undefined &&
          q.subjectRelation !== undefined;
        for (const id of new Set(q.resourceIds)) {
          const rels = ids.get(id);
          if (!rels) continue;
          if (exact) yield* exactSlots(rels.get(q.relation!), q.subjectType!, q.subjectIds!, q.subjectRelation!);
          else yield* slotsOf(rels, q.relation);
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
        for (const id of new Set(q.subjectIds)) {
          const held = sids.get(id);
          if (held instanceof Slot) yield held;
          else if (held) yield* held;
        }
      } else {
        for (const held of sids.values()) {
          if (held instanceof Slot) yield held;
          else yield* held;
        }
      }
      return;
    }
    yield* this.allSlots();
  }
}

function* exactSlots(
  subjects: BySubject | undefined,
  type: string,
  ids: readonly string[],
  relation: string,
): Iterable<Slot> {
  if (subjects === undefined) return;
  if (subjects instanceof Slot) {
    if (subjects.subjectType === type && subjects.subjectRelation === relation && ids.includes(subjects.subjectId))
      yield subjects;
    return;
  }
  for (const id of new Set(ids)) {
    const slot = subjects.get(subjectKey(type, id, relation));
    if (slot) yield slot;
  }
}

function* slotsOf(rels: ByRelation, relation?: string): Iterable<Slot> {
  if (relation !== undefined) {
    const subjects = rels.get(relation);
    if (subjects instanceof Slot) yield subjects;
    else if (subjects) yield* subjects.values();
    return;
  }
  for (const subjects of rels.values()) {
    if (subjects instanceof Slot) yield subjects;
    else yield* subjects.values();
  }
}

const subjectKeyOf = (slot: Slot) => subjectKey(slot.subjectType, slot.subjectId, slot.subjectRelation);

function getOrNew<K, V>(map: Map<K, V>, key: K, make: new () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = new make();
    map.set(key, v);
  }
  return v;
}
