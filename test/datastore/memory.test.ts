/**
 * What only the memory datastore promises beyond the contract (contract.ts, run here for memory):
 * frozen shared relationships, slots a failed transaction leaves none of, index-backed lookups.
 */
import { expect, it } from 'vitest';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import { describeBackend } from './chosen-backends.js';
import { rel, runDatastoreContract } from './contract.js';

runDatastoreContract({ backend: 'memory' }, async (settings) => openMemoryDatastore(settings));
runDatastoreContract({ backend: 'memory', variant: 'no quantization', clockTests: false }, async (settings) =>
  openMemoryDatastore({ quantizationMs: 0, ...settings }),
);

/** A datastore on a clock the test moves. */
function clocked(options: { quantizationMs?: number; gcWindowMs?: number; start?: number } = {}) {
  const clock = { t: options.start ?? 1_000_000 };
  const ds = openMemoryDatastore({ ...options, now: () => clock.t });
  const write = async (...updates: RelationshipUpdate[]) => (await ds.readWrite((tx) => tx.write(updates))).revision;
  const tuples = async (revision: bigint) =>
    (await ds.snapshot(revision).queryRelationships({})).map(
      (r) => `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.id}`,
    );
  return { clock, ds, write, tuples };
}

const touch = (s: string, extra = {}): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s, extra) });

describeBackend('memory', 'memory datastore', () => {
  it('rejects a negative quantization', () => {
    expect(() => openMemoryDatastore({ quantizationMs: -1 })).toThrow(PembaError);
  });

  it('roll back slots created by a failed transaction', async () => {
    const { ds, tuples } = clocked();
    await ds
      .readWrite(async (tx) => {
        await tx.write([touch('doc:9#r@user:a')]);
        throw new Error('no');
      })
      .catch(() => undefined);
    await ds.readWrite(async () => undefined);
    expect(await tuples(1n)).toEqual([]);
    expect(await ds.snapshot(1n).queryRelationships({ subjectType: 'user', subjectIds: ['a'] })).toEqual([]);
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

  it('answers batched lookups through the indexes, not by scanning', async () => {
    const ds = openMemoryDatastore();
    const docs = 20_000;
    for (let start = 0; start < docs; start += 5000) {
      await ds.readWrite((tx) =>
        tx.write(Array.from({ length: 5000 }, (_, i) => touch(`doc:${start + i}#reader@user:u${(start + i) % 997}`))),
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
