import { describe, expect, it } from 'vitest';
import { SubjectSet } from '../../src/engine/subject-set.js';
import { conditional, MEMBER, type Membership } from '../../src/engine/membership.js';
import { nextTurn, sliceSpent } from '../../src/engine/time-slice.js';

const set = (concrete: string[], excluded?: string[]) =>
  new SubjectSet(
    new Map(concrete.map((id) => [id, MEMBER])),
    excluded ? { membership: MEMBER, excluded: new Map(excluded.map((id) => [id, MEMBER])) } : null,
  );
const show = (s: SubjectSet) => ({
  concrete: [...s.concrete.keys()].sort(),
  wildcard: s.wildcard ? [...s.wildcard.excluded.keys()].sort() : null,
});

describe('SubjectSet', () => {
  it('union keeps concrete ids and narrows wildcard exclusions', () => {
    expect(show(set(['a'], ['b', 'c']).union(set(['b'])))).toEqual({ concrete: ['a', 'b'], wildcard: ['c'] });
    expect(show(set([], ['b', 'c']).union(set([], ['c', 'd'])))).toEqual({ concrete: [], wildcard: ['c'] });
  });

  it('intersection with a wildcard keeps the concrete ids the wildcard admits', () => {
    expect(show(set(['a', 'b']).intersect(set([], ['b'])))).toEqual({ concrete: ['a'], wildcard: null });
    expect(show(set([], ['x']).intersect(set([], ['y'])))).toEqual({ concrete: [], wildcard: ['x', 'y'] });
  });

  it('subtraction from a wildcard excludes the subtracted ids', () => {
    expect(show(set(['a'], []).subtract(set(['b'])))).toEqual({ concrete: ['a'], wildcard: ['b'] });
    expect(show(set(['a', 'b']).subtract(set([], ['a'])))).toEqual({ concrete: ['a'], wildcard: null });
  });

  it('a wildcard minus a wildcard leaves what only the right side excluded', () => {
    expect(show(set([], ['a']).subtract(set([], ['a', 'b'])))).toEqual({ concrete: ['b'], wildcard: null });
  });

  it('has() honours exclusions', () => {
    const s = set(['z'], ['b']);
    expect([s.has('a'), s.has('b'), s.has('z')]).toEqual([true, false, true]);
  });

  it('carries caveat conditions through the operators', () => {
    const cond = conditional(['ip']);
    const caveated = new SubjectSet(new Map([['a', cond]]));
    expect(caveated.union(set(['a'])).membership('a')).toEqual(MEMBER);
    expect(set(['a', 'b']).intersect(caveated).membership('a')).toEqual(cond);
    expect(set(['a', 'b']).intersect(caveated).has('b')).toBe(false);
    // Everyone except a conditionally excluded subject: the exclusion is listed with its condition.
    const everyoneButMaybeA = set([], []).subtract(caveated);
    expect(everyoneButMaybeA.wildcard?.excluded.get('a')).toEqual(cond);
    expect(everyoneButMaybeA.membership('a')).toEqual(cond);
    expect(everyoneButMaybeA.membership('z')).toEqual(MEMBER);
    expect(set(['a']).restrict(cond).membership('a')).toEqual(cond);
  });

  it('unionAll is the left fold of union, representation and all', async () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const memberships: Membership[] = [MEMBER, conditional(['a']), conditional(['b', 'a'])];
    const entries = (n: number) =>
      new Map(Array.from({ length: n }, () => [`s${rnd(12)}`, memberships[rnd(3)]] as [string, Membership]));
    const random = () =>
      new SubjectSet(
        entries(rnd(6)),
        rnd(4) === 0 ? { membership: memberships[rnd(3)], excluded: entries(rnd(3)) } : null,
      );
    const full = (s: SubjectSet) => ({
      concrete: [...s.concrete].sort(([a], [b]) => (a < b ? -1 : 1)),
      wildcard: s.wildcard && {
        membership: s.wildcard.membership,
        excluded: [...s.wildcard.excluded].sort(([a], [b]) => (a < b ? -1 : 1)),
      },
    });
    for (let round = 0; round < 500; round++) {
      const sets = Array.from({ length: 1 + rnd(6) }, random);
      const folded = sets.slice(1).reduce((acc, s) => acc.union(s), sets[0]);
      expect(full(await SubjectSet.unionAll(sets, { due: sliceSpent, pause: nextTurn }))).toEqual(full(folded));
    }
    expect((await SubjectSet.unionAll([], { due: sliceSpent, pause: nextTurn })).isEmpty()).toBe(true);
  });
});
