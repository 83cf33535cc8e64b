import { describe, expect, it } from 'vitest';
import { resolveRevision } from '../../src/consistency/consistency.js';
import { encodeToken } from '../../src/consistency/zedtoken.js';
import type { RevisionChanges } from '../../src/datastore/datastore.js';
import { createMemoryDatastore, MemoryDatastore } from '../../src/datastore/memory/memory-datastore.js';
import type { ReadWriteTransaction } from '../../src/datastore/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { rel, runDatastoreContract } from './contract.js';

runDatastoreContract('memory', async () => createMemoryDatastore());
runDatastoreContract('memory (no quantization)', async () => createMemoryDatastore({ quantizationMs: 0 }));

const HOUR = 3_600_000;

/** A datastore on a clock the test moves. */
function clocked(options: { quantizationMs?: number; gcWindowMs?: number; start?: number } = {}) {
  const clock = { t: options.start ?? 1_000_000 };
  const ds = createMemoryDatastore({ ...options, now: () => clock.t });
  const write = async (...updates: RelationshipUpdate[]) => (await ds.readWrite((tx) => tx.write(updates))).revision;
  const tuples = async (revision: bigint) =>
    (await ds.snapshot(revision).queryRelationships({})).map((r) => `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.id}`);
  return { clock, ds, write, tuples };
}

const touch = (s: string, extra = {}): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s, extra) });
const del = (s: string): RelationshipUpdate => ({ operation: 'DELETE', relationship: rel(s) });

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof PembaError ? e.code : String(e);
  }
}

describe('memory datastore', () => {
  it('numbers revisions 1, 2, 3… from head 0', async () => {
    const { ds, write } = clocked();
    expect(await ds.headRevision()).toBe(0n);
    expect(await write(touch('doc:1#r@user:a'))).toBe(1n);
    expect((await ds.readWrite(async () => undefined)).revision).toBe(2n);
    expect(await write(touch('doc:2#r@user:a'))).toBe(3n);
  });

  it('hides a relationship from the moment it expires (expiresAt <= now)', async () => {
    const { clock, ds, write } = clocked();
    await write(touch('doc:1#r@user:a', { expiresAt: new Date(clock.t + 5000) }));
    const count = async () => (await ds.snapshot(1n).queryRelationships({ resourceType: 'doc', resourceIds: ['1'] })).length;
    clock.t += 4999;
    expect(await count()).toBe(1);
    clock.t += 1;
    expect(await count()).toBe(0);
  });

  describe('optimizedRevision', () => {
    it('is the newest revision committed by the start of the quantization window', async () => {
      const { clock, ds, write } = clocked({ quantizationMs: 1000, start: 10_500 });
      expect(await ds.optimizedRevision()).toBe(0n);
      await write(touch('doc:1#r@user:a')); // r1 at 10_500
      // Nothing committed by 10_000: a young datastore serves head rather than the empty revision 0.
      expect(await ds.optimizedRevision()).toBe(1n);
      clock.t = 11_200;
      await write(touch('doc:2#r@user:a')); // r2 at 11_200
      expect(await ds.optimizedRevision()).toBe(1n);
      clock.t = 11_999;
      expect(await ds.optimizedRevision()).toBe(1n);
      clock.t = 12_000;
      expect(await ds.optimizedRevision()).toBe(2n);
      await write(touch('doc:3#r@user:a')); // r3 at exactly the window start 12_000
      expect(await ds.optimizedRevision()).toBe(3n);
      clock.t = 12_400;
      await write(touch('doc:4#r@user:a'));
      expect(await ds.optimizedRevision()).toBe(3n);
      expect(await resolveRevision(ds, { mode: 'minimize_latency' })).toBe(3n);
      expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 4n) })).toBe(4n);
      expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 2n) })).toBe(3n);
      expect(await resolveRevision(ds, { mode: 'fully_consistent' })).toBe(4n);
    });

    it('is head when quantization is 0', async () => {
      const { ds, write } = clocked({ quantizationMs: 0 });
      await write(touch('doc:1#r@user:a'));
      await write(touch('doc:2#r@user:a'));
      expect(await ds.optimizedRevision()).toBe(2n);
    });

    it('never goes backwards as time passes', async () => {
      const { clock, ds, write } = clocked({ quantizationMs: 700, start: 0 });
      let last = 0n;
      for (let i = 0; i < 60; i++) {
        if (i % 3 !== 0) await write(touch(`doc:${i}#r@user:a`));
        clock.t += 150;
        const r = await ds.optimizedRevision();
        expect(r).toBeGreaterThanOrEqual(last);
        expect(r).toBeLessThanOrEqual(await ds.headRevision());
        last = r;
      }
    });

    it('rejects a negative quantization', () => {
      expect(() => createMemoryDatastore({ quantizationMs: -1 })).toThrow(PembaError);
    });
  });

  describe('garbage collection', () => {
    it('expires revisions superseded before the window, by time even before gc runs', async () => {
      const { clock, ds, write } = clocked({ gcWindowMs: 2 * HOUR });
      const t0 = clock.t;
      await write(touch('doc:1#r@user:a')); // r1 at t0
      clock.t = t0 + HOUR;
      await write(del('doc:1#r@user:a')); // r2 at t0+1h
      clock.t = t0 + 2.5 * HOUR; // window starts at t0+0.5h, when r1 was current
      expect(await code(ds.checkRevision(0n))).toBe('FAILED_PRECONDITION');
      expect(await code(ds.checkRevision(1n))).toBe('ok');
      clock.t = t0 + 3.5 * HOUR; // window starts at t0+1.5h, when r2 was current
      const e = await ds.checkRevision(1n).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PembaError);
      expect((e as PembaError).message).toMatch(/expired/);
      expect(await code(ds.checkRevision(2n))).toBe('ok');
      expect(await code(resolveRevision(ds, { mode: 'at_exact_snapshot', token: encodeToken(ds.id, 1n) }))).toBe('FAILED_PRECONDITION');
      // An old at_least_as_fresh token is fine: a newer revision satisfies it.
      expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 1n) })).toBe(2n);
      // Not collected yet, so reads of r1 still work.
      expect(await ds.snapshot(1n).queryRelationships({})).toHaveLength(1);
    });

    it('drops row versions deleted before the window and keeps everything readable revisions need', async () => {
      const { clock, ds, write, tuples } = clocked({ gcWindowMs: 2 * HOUR });
      const t0 = clock.t;
      await write(touch('doc:1#r@user:a'), touch('doc:2#r@user:a')); // r1
      clock.t = t0 + HOUR;
      await write(del('doc:1#r@user:a'), touch('doc:2#r@user:b')); // r2
      clock.t = t0 + 2 * HOUR;
      await write(del('doc:2#r@user:a')); // r3

      clock.t = t0 + 2.5 * HOUR; // r1 is the oldest readable: nothing deleted at or before r1
      expect(await ds.gc()).toEqual({ oldestReadable: 1n, versions: 0, commits: 0 });
      expect(await tuples(1n)).toEqual(['doc:1#r@a', 'doc:2#r@a']);

      clock.t = t0 + 3.5 * HOUR; // r2 is the oldest readable: doc:1@a (deleted at r2) goes
      expect(await ds.gc()).toEqual({ oldestReadable: 2n, versions: 1, commits: 1 });
      expect(await tuples(2n)).toEqual(['doc:2#r@a', 'doc:2#r@b']);
      expect(await tuples(3n)).toEqual(['doc:2#r@b']);
      expect(await code(ds.snapshot(1n).queryRelationships({}))).toBe('FAILED_PRECONDITION');
      expect(await code(ds.watch(1n)[Symbol.asyncIterator]().next())).toBe('FAILED_PRECONDITION');

      // Watch from the oldest readable revision still replays everything after it.
      const ac = new AbortController();
      const iter = ds.watch(2n, ac.signal)[Symbol.asyncIterator]();
      expect(((await iter.next()).value as RevisionChanges).revision).toBe(3n);
      ac.abort();

      clock.t = t0 + 100 * HOUR;
      expect(await ds.gc()).toEqual({ oldestReadable: 3n, versions: 1, commits: 1 });
      expect(await tuples(3n)).toEqual(['doc:2#r@b']);
      // Re-creating a collected relationship works as usual.
      expect(await write(touch('doc:1#r@user:a'))).toBe(4n);
      expect(await tuples(4n)).toEqual(['doc:1#r@a', 'doc:2#r@b']);
    });

    it('keeps the schema that was current at the oldest readable revision', async () => {
      const { clock, ds } = clocked({ gcWindowMs: HOUR });
      const t0 = clock.t;
      await ds.readWrite((tx) => tx.writeSchema('one')); // r1
      clock.t = t0 + 10;
      await ds.readWrite((tx) => tx.writeSchema('two')); // r2
      clock.t = t0 + 20;
      await ds.readWrite(async () => undefined); // r3
      clock.t = t0 + 30;
      await ds.readWrite((tx) => tx.writeSchema('four')); // r4
      clock.t = t0 + HOUR + 25; // r3 was current at the window start
      await ds.gc();
      expect(await ds.snapshot(3n).readSchema()).toEqual({ text: 'two', revision: 2n });
      expect(await ds.snapshot(4n).readSchema()).toEqual({ text: 'four', revision: 4n });
    });

    it('drops relationships that expired before the window', async () => {
      const { clock, ds, write } = clocked({ gcWindowMs: HOUR });
      const t0 = clock.t;
      await write(touch('doc:1#r@user:a', { expiresAt: new Date(t0 + 1000) }), touch('doc:2#r@user:a'));
      clock.t = t0 + HOUR; // expired, but not before the window
      expect((await ds.gc()).versions).toBe(0);
      clock.t = t0 + HOUR + 1000;
      expect((await ds.gc()).versions).toBe(1);
      expect((await ds.snapshot(1n).queryRelationships({})).map((r) => r.resource.id)).toEqual(['2']);
      expect(await write({ operation: 'CREATE', relationship: rel('doc:1#r@user:a') })).toBe(2n);
    });
  });

  describe('transactions', () => {
    it('refuse use after their callback finished', async () => {
      const ds = createMemoryDatastore();
      let leaked: ReadWriteTransaction | undefined;
      await ds.readWrite(async (tx) => {
        leaked = tx;
      });
      expect(await code(leaked!.write([touch('doc:1#r@user:a')]))).toBe('INTERNAL');
      expect(await ds.snapshot(1n).queryRelationships({})).toEqual([]);
    });

    it('leave no trace of versions created and deleted within one transaction', async () => {
      const { ds, write, tuples } = clocked();
      await write(touch('doc:1#r@user:a'));
      await write(touch('doc:1#r@user:a', { caveat: { name: 'c' } }), del('doc:1#r@user:a'), touch('doc:2#r@user:a'));
      expect(await tuples(1n)).toEqual(['doc:1#r@a']);
      expect(await tuples(2n)).toEqual(['doc:2#r@a']);
      expect((await ds.gc()).versions).toBe(0);
    });

    it('roll back slots created by a failed transaction', async () => {
      const { ds, tuples } = clocked();
      await ds.readWrite(async (tx) => {
        await tx.write([touch('doc:9#r@user:a')]);
        throw new Error('no');
      }).catch(() => undefined);
      await ds.readWrite(async () => undefined);
      expect(await tuples(1n)).toEqual([]);
      expect(await ds.snapshot(1n).queryRelationships({ subjectType: 'user', subjectIds: ['a'] })).toEqual([]);
    });

    it('reject a negative limit', async () => {
      const ds = createMemoryDatastore();
      expect(await code(ds.snapshot(0n).queryRelationships({}, { limit: -1 }))).toBe('INVALID_ARGUMENT');
      expect(await code(ds.readWrite((tx) => tx.deleteMatching({}, -1)))).toBe('INVALID_ARGUMENT');
    });
  });

  it('returns frozen relationships that readers cannot corrupt', async () => {
    const { ds, write } = clocked();
    await write(touch('doc:1#r@user:a', { caveat: { name: 'c', context: { x: [1] } } }));
    const [r] = await ds.snapshot(1n).queryRelationships({});
    expect(Object.isFrozen(r)).toBe(true);
    expect(() => {
      (r.caveat!.context!.x as number[]).push(2);
    }).toThrow(TypeError);
  });

  it('refuses snapshot reads beyond head', async () => {
    const ds = createMemoryDatastore();
    expect(await code(ds.snapshot(1n).queryRelationships({}))).toBe('FAILED_PRECONDITION');
  });

  it('ends watches and refuses work once closed', async () => {
    const ds = new MemoryDatastore();
    const iter = ds.watch(0n)[Symbol.asyncIterator]();
    const pending = iter.next();
    await ds.close();
    expect((await pending).done).toBe(true);
    expect(await code(ds.headRevision())).toBe('UNAVAILABLE');
    expect(await code(ds.readWrite(async () => undefined))).toBe('UNAVAILABLE');
  });

  it('answers batched lookups through the indexes, not by scanning', async () => {
    const ds = createMemoryDatastore();
    const docs = 20_000;
    for (let start = 0; start < docs; start += 5000) {
      await ds.readWrite((tx) =>
        tx.write(
          Array.from({ length: 5000 }, (_, i) => touch(`doc:${start + i}#reader@user:u${(start + i) % 997}`)),
        ),
      );
    }
    const snap = ds.snapshot(await ds.headRevision());
    const began = performance.now();
    let found = 0;
    for (let q = 0; q < 2000; q++) {
      const ids = Array.from({ length: 20 }, (_, i) => String((q * 37 + i * 101) % docs));
      found += (await snap.queryRelationships({ resourceType: 'doc', resourceIds: ids, relation: 'reader' })).length;
      found += (await snap.queryRelationships({ subjectType: 'user', subjectIds: [`u${q % 997}`] })).length;
    }
    const elapsed = performance.now() - began;
    expect(found).toBeGreaterThan(2000 * 20);
    // A full scan per query would take tens of seconds; indexed lookups take well under one.
    expect(elapsed).toBeLessThan(3000);
  });
});
