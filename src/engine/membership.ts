/**
 * Three-valued membership: a subject is a member, is not, or is a member only if caveat conditions
 * that could not be evaluated (context was missing) hold. Combined with Kleene's logic, carrying the
 * names of the missing context parameters.
 *
 * A traced check (check-trace.ts) keeps caveats unevaluated, as SpiceDB's dispatch does: its
 * conditional memberships also carry `expr`, the caveat expression they rest on, which the
 * combinators build up. Ordinary checks never set it.
 */
export type Membership =
  { kind: 'member' } | { kind: 'not-member' } | { kind: 'conditional'; missing: readonly string[]; expr?: CaveatExpr };

/** The caveats a conditional membership rests on, and how they combine (traced checks only). */
export type CaveatExpr =
  | { op: 'caveat'; name: string; context: Readonly<Record<string, unknown>> | undefined }
  | { op: 'and' | 'or'; children: readonly [CaveatExpr, CaveatExpr] }
  | { op: 'not'; child: CaveatExpr };

type Conditional = Extract<Membership, { kind: 'conditional' }>;

export const MEMBER: Membership = Object.freeze({ kind: 'member' });
export const NOT_MEMBER: Membership = Object.freeze({ kind: 'not-member' });

/** `missing` keeps the caveat's order (SpiceDB's); combining conditions concatenates without repeats. */
export function conditional(missing: readonly string[], expr?: CaveatExpr): Membership {
  return expr ? { kind: 'conditional', missing, expr } : { kind: 'conditional', missing };
}

function merged(a: Conditional, b: Conditional, op: 'and' | 'or'): Membership {
  const missing = [...new Set([...a.missing, ...b.missing])];
  return a.expr && b.expr ? conditional(missing, { op, children: [a.expr, b.expr] }) : conditional(missing);
}

export function or(a: Membership, b: Membership): Membership {
  if (a.kind === 'member' || b.kind === 'member') return MEMBER;
  if (a.kind === 'not-member') return b;
  if (b.kind === 'not-member') return a;
  return merged(a, b, 'or');
}

export function and(a: Membership, b: Membership): Membership {
  if (a.kind === 'not-member' || b.kind === 'not-member') return NOT_MEMBER;
  if (a.kind === 'member') return b;
  if (b.kind === 'member') return a;
  return merged(a, b, 'and');
}

export function not(a: Membership): Membership {
  if (a.kind !== 'conditional') return a.kind === 'member' ? NOT_MEMBER : MEMBER;
  return a.expr ? conditional(a.missing, { op: 'not', child: a.expr }) : a;
}

/** Equal for the purpose of representing a set: conditions compare by kind. */
export function sameKind(a: Membership, b: Membership): boolean {
  return a.kind === b.kind;
}
