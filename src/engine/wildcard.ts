/**
 * SpiceDB's wildcard rule, in one place: a stored `T:*` stands for every subject of type T — plain
 * objects (`T:x`) and subject sets (`T:x#rel`) alike. (SpiceDB's Check matches `document:d#reader@user:*`
 * for `user:alice#manager` too; its lookups of subject sets do not, see docs/compatibility.md.)
 */
import type { SubjectRef } from '../relationships/relationship.js';
import { ELLIPSIS } from '../schema/ir.js';

export const WILDCARD = '*';

/** Is the stored subject `type:*`? */
export function isWildcardOf(stored: SubjectRef, type: string): boolean {
  return stored.id === WILDCARD && stored.type === type && stored.relation === ELLIPSIS;
}

/** Does a stored subject grant `subject` without following anything: it is the subject, or its type's wildcard. */
export function grantsDirectly(stored: SubjectRef, subject: SubjectRef): boolean {
  return (
    isWildcardOf(stored, subject.type) ||
    (stored.id === subject.id && stored.type === subject.type && stored.relation === subject.relation)
  );
}
