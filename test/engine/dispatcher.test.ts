import { describe, expect, it } from 'vitest';
import { DispatchCache } from '../../src/engine/dispatch-cache.js';
import { Dispatcher, type Lane, type Outcome } from '../../src/engine/dispatcher.js';
import { MEMBER, NOT_MEMBER, type Membership } from '../../src/engine/membership.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { slowReads } from '../datastore/intercept-reads.js';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import { parseRelationship, parseSubject } from '../../src/relationships/relationship-string.js';

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));
const lane = (): Lane => ({ current: undefined });
/** At depth 0, an answer that relied on a cut above it (cut -1) may not be shared. */
const outcome = (m: Membership, shareable = true): Outcome => ({ m, cut: shareable ? Infinity : -1 });

/** Fails the test instead of hanging when `p` never settles (a deadlock). */
function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)),
  ]);
}

describe('DispatchCache', () => {
  it('stores a key the second time it is offered (one-hit wonders never enter)', () => {
    const cache = new DispatchCache<number>(1 << 20);
    cache.set('once', 1);
    expect(cache.get('once')).toBeUndefined();
    cache.set('once', 1);
    expect(cache.get('once')).toBe(1);
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, i);
    expect(cache.stats().entries).toBeLessThan(30); // false positives of the doorkeeper only
    expect(cache.stats().refused).toBeGreaterThan(970);
  });

  it('evicts the least recently used entries once over its byte budget', () => {
    const cache = new DispatchCache<number>(1000, () => 0);
    const store = (key: string, v: number) => (cache.set(key, v), cache.set(key, v));
    // Each entry costs its key (2 bytes a character) plus a fixed overhead of 96: 116 bytes here.
    for (let i = 0; i < 8; i++) store(`key-${i}-xxx`, i);
    expect(cache.stats().entries).toBe(8);
    expect(cache.get('key-0-xxx')).toBe(0); // now the most recently used
    store('key-8-xxx', 8);
    store('key-9-xxx', 9);
    expect(cache.stats().bytes).toBeLessThanOrEqual(1000);
    expect(cache.get('key-1-xxx')).toBeUndefined();
    expect(cache.get('key-2-xxx')).toBeUndefined();
    expect(cache.get('key-0-xxx')).toBe(0);
    expect(cache.get('key-9-xxx')).toBe(9);
    expect(cache.stats().evictions).toBe(2);
  });

  it('stores nothing with a budget of 0', () => {
    const cache = new DispatchCache<number>(0);
    cache.set('a', 1);
    expect(cache.get('a')).toBeUndefined();
  });
});

describe('Dispatcher', () => {
  it('runs identical concurrent sub-problems once and caches the answer', async () => {
    const d = new Dispatcher({ cacheBytes: 1 << 20 });
    let runs = 0;
    const compute = async () => {
      runs++;
      await tick();
      return outcome(MEMBER);
    };
    const answers = await Promise.all([1, 2, 3].map(() => d.run('k', lane(), 0, true, compute)));
    expect(answers.map((a) => a.m.kind)).toEqual(['member', 'member', 'member']);
    expect(runs).toBe(1);
    expect(d.stats().joined).toBe(2);
    await d.run('k', lane(), 0, true, compute); // offered a second time: now stored
    expect(runs).toBe(2);
    await d.run('k', lane(), 0, true, compute);
    expect(runs).toBe(2);
    expect(d.stats().hits).toBe(1);
  });

  it('does not cache what is not cacheable, and recomputes an answer that may not be shared', async () => {
    const d = new Dispatcher({ cacheBytes: 1 << 20 });
    let runs = 0;
    const unshareable = async () => {
      runs++;
      await tick();
      return outcome(NOT_MEMBER, false);
    };
    await Promise.all([d.run('u', lane(), 0, true, unshareable), d.run('u', lane(), 0, true, unshareable)]);
    expect(runs).toBe(2);
    await d.run('v', lane(), 0, false, async () => outcome(MEMBER));
    expect(d.cache.get('v')).toBeUndefined();
  });

  it('computes privately instead of joining a computation that waits on the joiner (no deadlock on cycles)', async () => {
    const d = new Dispatcher({ cacheBytes: 0 });
    const runs: string[] = [];
    // Request 1 computes A, which needs B; request 2 computes B, which needs A.
    const solve = (key: string, other: string, l: Lane, depth: number): Promise<Outcome> =>
      d.run(key, l, 0, true, async () => {
        runs.push(key);
        await tick();
        if (depth === 0) await solve(other, key, l, 1);
        return outcome(NOT_MEMBER);
      });
    const l1 = lane();
    const l2 = lane();
    await within(Promise.all([solve('A', 'B', l1, 0), solve('B', 'A', l2, 0)]));
    // One request joined the other's computation; the other, whose join would have closed the loop,
    // computed that sub-problem itself: three computations, not four, and no hang.
    expect(runs).toHaveLength(3);
    expect(d.stats().joined).toBe(1);
  });

  it('with dedupe off, every caller computes', async () => {
    const d = new Dispatcher({ cacheBytes: 0, dedupe: false });
    let runs = 0;
    await Promise.all(
      [1, 2].map(() => d.run('k', lane(), 0, true, async () => (runs++, await tick(), outcome(MEMBER)))),
    );
    expect(runs).toBe(2);
  });
});

const groups = `definition user {}
definition group {
  relation member: user | group#member
  relation banned: user
  permission view = member - banned
}`;

async function load(options: PembaOptions, relationships: string[]): Promise<Pemba> {
  const pemba = await Pemba.open(options);
  await pemba.writeSchema(groups);
  await pemba.writeRelationships({
    updates: relationships.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
  });
  return pemba;
}

describe('Pemba with shared dispatch', () => {
  it('answers concurrent checks over cyclic groups like a Pemba with sharing off, without hanging', async () => {
    const rels = [
      'group:a#member@group:b#member',
      'group:b#member@group:c#member',
      'group:c#member@group:a#member',
      'group:c#member@group:d#member',
      'group:d#member@group:b#member',
      'group:b#member@user:x',
      'group:d#member@user:y',
      'group:a#banned@user:y',
    ];
    const shared = await load({ datastore: slowReads(openMemoryDatastore(), 3) }, rels);
    const plain = await load({ dispatchCacheBytes: 0, dedupe: false }, rels);
    const queries = [];
    for (const g of ['a', 'b', 'c', 'd'])
      for (const u of ['x', 'y', 'z']) for (const p of ['member', 'view']) queries.push({ g, u, p });
    const ask = (pemba: Pemba, q: { g: string; u: string; p: string }) =>
      pemba
        .check({
          resource: { type: 'group', id: q.g },
          permission: q.p,
          subject: parseSubject(`user:${q.u}`),
          consistency: { mode: 'fully_consistent' },
        })
        .then((r) => r.permissionship);
    const expected = await Promise.all(queries.map((q) => ask(plain, q)));
    for (let round = 0; round < 3; round++) {
      const got = await within(Promise.all([...queries, ...queries].map((q) => ask(shared, q))));
      expect(got).toEqual([...expected, ...expected]);
    }
    expect(shared.dispatchStats().hits).toBeGreaterThan(0);
  });

  it('keys answers by revision: a write is seen at once, an older snapshot keeps its answer', async () => {
    const pemba = await load({}, ['group:a#member@group:b#member', 'group:b#member@user:x']);
    const ask = async (consistency: Parameters<Pemba['check']>[0]['consistency']) =>
      (
        await pemba.check({
          resource: { type: 'group', id: 'a' },
          permission: 'view',
          subject: parseSubject('user:x'),
          consistency,
        })
      ).permissionship;
    const before = await pemba.check({
      resource: { type: 'group', id: 'a' },
      permission: 'view',
      subject: parseSubject('user:x'),
      consistency: { mode: 'fully_consistent' },
    });
    expect(before.permissionship).toBe('HAS_PERMISSION');
    await pemba.writeRelationships({
      updates: [{ operation: 'DELETE', relationship: parseRelationship('group:b#member@user:x') }],
    });
    expect(await ask({ mode: 'fully_consistent' })).toBe('NO_PERMISSION');
    expect(await ask({ mode: 'at_exact_snapshot', token: before.token })).toBe('HAS_PERMISSION');
  });

  it('does not cache across requests when relationships can expire', async () => {
    const pemba = await Pemba.open();
    await pemba.writeSchema(
      'use expiration\ndefinition user {}\ndefinition doc {\n  relation viewer: user with expiration\n}',
    );
    await pemba.writeRelationships({
      updates: [
        { operation: 'TOUCH', relationship: parseRelationship('doc:1#viewer@user:x[expiration:2300-01-01T00:00:00Z]') },
      ],
    });
    const r = await pemba.check({
      resource: { type: 'doc', id: '1' },
      permission: 'viewer',
      subject: parseSubject('user:x'),
      consistency: { mode: 'fully_consistent' },
    });
    expect(r.permissionship).toBe('HAS_PERMISSION');
    expect(pemba.dispatchStats().entries).toBe(0);
  });
});
