/** Small relationship helpers the backends share: identity, equality, defensive copies. Pure functions, no state. */
import type { Relationship } from '../../relationships/relationship.js';

/** The subject part of a relationship key, unique within one (resource, relation). */
export function subjectKey(type: string, id: string, relation: string): string {
  return `${type}\u0000${id}\u0000${relation}`;
}

/**
 * A frozen copy: stored versions are shared with every reader, so a caller mutating what it wrote
 * or read must not rewrite history. Absent optional fields are omitted, not `undefined`.
 */
export function freezeCopy(r: Relationship): Relationship {
  const copy: Relationship = {
    resource: Object.freeze({ type: r.resource.type, id: r.resource.id }),
    relation: r.relation,
    subject: Object.freeze({ type: r.subject.type, id: r.subject.id, relation: r.subject.relation }),
  };
  if (r.caveat) {
    copy.caveat = Object.freeze(
      r.caveat.context === undefined
        ? { name: r.caveat.name }
        : { name: r.caveat.name, context: deepFreeze(structuredClone(r.caveat.context)) },
    );
  }
  if (r.expiresAt) copy.expiresAt = new Date(r.expiresAt.getTime());
  return Object.freeze(copy);
}

/**
 * `r` itself frozen, for a relationship its holder made and shares no further (the change feed makes
 * new objects for each watcher): the same guarantee as freezeCopy without the copy.
 */
export function freezeOwn(r: Relationship): Relationship {
  if (Object.isFrozen(r)) return r;
  Object.freeze(r.resource);
  Object.freeze(r.subject);
  if (r.caveat) deepFreeze(r.caveat);
  return Object.freeze(r);
}

/** Same caveat (name and context) and same expiration: a TOUCH with these changes nothing. */
export function sameAttributes(a: Relationship, b: Relationship): boolean {
  return (
    a.caveat?.name === b.caveat?.name &&
    deepEqual(a.caveat?.context, b.caveat?.context) &&
    a.expiresAt?.getTime() === b.expiresAt?.getTime()
  );
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && deepEqual(ra[k], rb[k]));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
