/**
 * Three-valued membership: a subject is a member, is not, or is a member only if caveat conditions
 * that could not be evaluated (context was missing) hold. Combined with Kleene's logic, carrying the
 * names of the missing context parameters.
 */
export type Membership =
  { kind: 'member' } | { kind: 'not-member' } | { kind: 'conditional'; missing: readonly string[] };

export const MEMBER: Membership = Object.freeze({ kind: 'member' });
export const NOT_MEMBER: Membership = Object.freeze({ kind: 'not-member' });

/** `missing` keeps the caveat's order (SpiceDB's); combining conditions concatenates without repeats. */
export function conditional(missing: readonly string[]): Membership {
  return { kind: 'conditional', missing };
}

function merged(a: readonly string[], b: readonly string[]): Membership {
  return conditional([...new Set([...a, ...b])]);
}

export function or(a: Membership, b: Membership): Membership {
  if (a.kind === 'member' || b.kind === 'member') return MEMBER;
  if (a.kind === 'not-member') return b;
  if (b.kind === 'not-member') return a;
  return merged(a.missing, b.missing);
}

export function and(a: Membership, b: Membership): Membership {
  if (a.kind === 'not-member' || b.kind === 'not-member') return NOT_MEMBER;
  if (a.kind === 'member') return b;
  if (b.kind === 'member') return a;
  return merged(a.missing, b.missing);
}

export function not(a: Membership): Membership {
  return a.kind === 'member' ? NOT_MEMBER : a.kind === 'not-member' ? MEMBER : a;
}

/** Equal for the purpose of representing a set: conditions compare by kind. */
export function sameKind(a: Membership, b: Membership): boolean {
  return a.kind === b.kind;
}
