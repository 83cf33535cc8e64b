/**
 * Sets of subject ids that may include a wildcard, each member possibly conditional on caveats: the
 * values LookupSubjects combines. `concrete` lists ids found explicitly; `wildcard`, when present,
 * stands for every other id, minus its exclusions (an exclusion may itself be conditional).
 *
 * Every operation is defined pointwise — the result's membership of id x is the operator applied to
 * the operands' memberships of x — and then represented with as few entries as SpiceDB would list:
 * concrete ids stay listed while they remain members; ids the wildcard does not cover as it covers
 * everyone else become exclusions.
 */
import type { Membership } from './membership.js';
import { and, MEMBER, not, NOT_MEMBER, or, sameKind } from './membership.js';
import type { Pacing } from './time-slice.js';

export interface Wildcard {
  membership: Membership;
  /** Ids the wildcard does not include: NOT entirely (MEMBER here) or only conditionally. */
  excluded: Map<string, Membership>;
}

export class SubjectSet {
  constructor(
    readonly concrete: Map<string, Membership> = new Map(),
    readonly wildcard: Wildcard | null = null,
  ) {}

  static empty(): SubjectSet {
    return new SubjectSet();
  }

  /** Membership of every id not mentioned explicitly. */
  private get everyone(): Membership {
    return this.wildcard?.membership ?? NOT_MEMBER;
  }

  membership(id: string): Membership {
    const viaWildcard = this.wildcard
      ? and(this.wildcard.membership, not(this.wildcard.excluded.get(id) ?? NOT_MEMBER))
      : NOT_MEMBER;
    return or(this.concrete.get(id) ?? NOT_MEMBER, viaWildcard);
  }

  has(id: string): boolean {
    return this.membership(id).kind !== 'not-member';
  }

  isEmpty(): boolean {
    return this.concrete.size === 0 && this.wildcard === null;
  }

  union(other: SubjectSet): SubjectSet {
    return this.combine(other, or);
  }

  /**
   * `sets[0].union(sets[1]).union(sets[2])…`, in linear time: a union copies both operands, so folding
   * thousands of sets (a team of teams) was quadratic. Runs of sets without wildcards, the common
   * case, are merged in place into one copy, with the same memberships `union` gives.
   */
  static async unionAll(sets: readonly SubjectSet[], pacing: Pacing): Promise<SubjectSet> {
    if (sets.length === 0) return SubjectSet.empty();
    let acc = sets[0];
    /** `acc.concrete` when it is this call's own copy, free to grow. */
    let own: Map<string, Membership> | undefined;
    for (let i = 1; i < sets.length; i++) {
      const s = sets[i];
      if (acc.wildcard !== null || s.wildcard !== null) {
        acc = acc.union(s);
        own = undefined;
        continue;
      }
      if (own === undefined) acc = new SubjectSet((own = new Map(acc.concrete)));
      for (const [id, m] of s.concrete) {
        const prev = own.get(id);
        const next = prev === undefined ? m : or(prev, m);
        if (next.kind === 'not-member') own.delete(id);
        else own.set(id, next);
        if (pacing.due()) await pacing.pause();
      }
    }
    return acc;
  }

  intersect(other: SubjectSet): SubjectSet {
    return this.combine(other, and);
  }

  subtract(other: SubjectSet): SubjectSet {
    return this.combine(other, (a, b) => and(a, not(b)));
  }

  /** Every member, only where `condition` also holds (a caveat on the relationship that led here). */
  restrict(condition: Membership): SubjectSet {
    if (condition.kind === 'member') return this;
    return this.combine(new SubjectSet(new Map(), { membership: condition, excluded: new Map() }), and);
  }

  private combine(other: SubjectSet, op: (a: Membership, b: Membership) => Membership): SubjectSet {
    const everyone = op(this.everyone, other.everyone);
    const concrete = new Map<string, Membership>();
    const excluded = new Map<string, Membership>();
    const mentioned = new Set<string>([...this.concrete.keys(), ...other.concrete.keys()]);
    for (const w of [this.wildcard, other.wildcard]) if (w) for (const id of w.excluded.keys()) mentioned.add(id);
    for (const id of mentioned) {
      const m = op(this.membership(id), other.membership(id));
      const listed = this.concrete.has(id) || other.concrete.has(id);
      if (m.kind !== 'not-member' && (listed || !sameKind(m, everyone))) concrete.set(id, m);
      if (everyone.kind !== 'not-member') {
        if (m.kind === 'not-member') excluded.set(id, MEMBER);
        else if (m.kind === 'conditional' && everyone.kind === 'member') excluded.set(id, m);
      }
    }
    // An id excluded outright is not listed; a conditional one may be listed with its condition.
    for (const [id, e] of excluded) if (e.kind === 'member') concrete.delete(id);
    const wildcard = everyone.kind === 'not-member' ? null : { membership: everyone, excluded };
    return new SubjectSet(concrete, wildcard);
  }
}
