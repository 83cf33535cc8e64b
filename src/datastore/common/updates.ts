/**
 * The write rules, decided in one place for every backend: what one update does given the current
 * (undeleted) version of its relationship. CREATE of a live relationship fails with ALREADY_EXISTS;
 * CREATE otherwise, and TOUCH, replace the current version (a TOUCH that changes nothing keeps it, and
 * is still reported, as SpiceDB's Watch does); DELETE retires the current version, reporting only a
 * live one. An expired version counts as absent: CREATE may replace it and DELETE reports no change.
 * A backend only carries the decision out, in this order: retire, then insert, then report.
 */
import { invalidArgument, relationshipExists } from '../../errors/index.js';
import type { Relationship, RelationshipUpdate } from '../../relationships/relationship.js';
import { formatRelationship } from '../../relationships/relationship-string.js';
import { sameAttributes } from './relationships.js';

/** How a backend's stored version looks to the rules. */
export interface VersionView<V> {
  /** The version's expiration in epoch ms, if it has one. */
  expiresAtMs(v: V): number | undefined;
  /** The relationship the version stores (asked only for a TOUCH). */
  relationship(v: V): Relationship;
}

export interface UpdateDecision<V> {
  /** The current version, to mark deleted (or remove, when the transaction created it). */
  retire?: V;
  /** Store the update's relationship as the new current version, and report it as a TOUCH. */
  insert: boolean;
  /** Report a change of an existing version: a TOUCH that changed nothing, or the DELETE of a live one. */
  report?: { operation: 'TOUCH' | 'DELETE'; version: V };
}

/** Refuses an operation other than CREATE, TOUCH and DELETE. */
export function validateOperation(u: RelationshipUpdate): void {
  if (u.operation !== 'CREATE' && u.operation !== 'TOUCH' && u.operation !== 'DELETE') {
    throw invalidArgument(`unknown update operation ${String(u.operation)}`);
  }
}

/** What `u` does, given its relationship's `current` version (undefined: none) at `nowMs`. */
export function decideUpdate<V>(
  u: RelationshipUpdate,
  current: V | undefined,
  view: VersionView<V>,
  nowMs: number,
): UpdateDecision<V> {
  validateOperation(u);
  const r = u.relationship;
  const expiresAtMs = current === undefined ? undefined : view.expiresAtMs(current);
  const live = current !== undefined && !(expiresAtMs !== undefined && expiresAtMs <= nowMs) ? current : undefined;
  switch (u.operation) {
    case 'CREATE':
      if (live !== undefined) throw relationshipExists(formatKey(r));
      return { retire: current, insert: true };
    case 'TOUCH':
      if (current !== undefined && sameAttributes(view.relationship(current), r)) {
        return { insert: false, report: { operation: 'TOUCH', version: current } };
      }
      return { retire: current, insert: true };
    case 'DELETE':
      if (live === undefined) return { retire: current, insert: false };
      return { retire: current, insert: false, report: { operation: 'DELETE', version: live } };
  }
}

/** `doc:1#reader@user:ann`: the relationship's key, without caveat and expiration, as error messages name it. */
function formatKey(r: Relationship): string {
  return formatRelationship({ resource: r.resource, relation: r.relation, subject: r.subject });
}
