/**
 * The cross-request optimisations under concurrency: every query of random differential cases is
 * answered by a Pemba with the dispatch cache, deduplication and the nested-group index on — 64
 * queries in flight at once over a datastore whose reads take a few milliseconds, so identical
 * sub-problems of different requests overlap and join — and must get the answer a Pemba with all of
 * them off gives sequentially. (No SpiceDB here: differential.test.ts ties plain answers to it.)
 *
 *   PEMBA_CONCURRENCY_SEEDS=1,2,3 npx vitest run test/differential/concurrency.test.ts
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { OPTIMISATIONS_OFF } from '../engine/optimisations.js';
import { slowReads } from '../datastore/intercept-reads.js';
import { queriesFor } from './compare.js';
import { formatQuery, type Answer } from './engines.js';
import { generateCase } from './generator.js';
import { PembaEngine } from './pemba-engine.js';

const SEEDS = (process.env.PEMBA_CONCURRENCY_SEEDS ?? '1,2,3,4,5,6,34,63').split(',').map(Number);
const IN_FLIGHT = 64;

const show = (a: Answer) => (a.ok ? a.value.join(' ') : `error ${a.error}`);

describe('optimisations under concurrency agree with plain sequential evaluation', () => {
  let joined = 0;
  let evictions = 0;
  afterAll(() => {
    // Otherwise this test would not have exercised deduplication and eviction at all.
    expect(joined).toBeGreaterThan(0);
    expect(evictions).toBeGreaterThan(0);
  });
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const c = generateCase(seed);
      // Odd seeds get a cache of 16 KiB, so entries are evicted while requests run.
      const optimised = new PembaEngine({
        datastore: async () => slowReads(openMemoryDatastore(), 2),
        pemba: seed % 2 === 1 ? { dispatchCacheBytes: 16 * 1024 } : {},
      });
      const plain = new PembaEngine({ pemba: OPTIMISATIONS_OFF });
      try {
        await optimised.load(c.schema, c.relationships);
        await plain.load(c.schema, c.relationships);
        const queries = queriesFor(c).filter((q) => q.kind === 'check' || q.kind === 'lookupResources');
        const expected: Answer[] = [];
        for (const q of queries) expected.push(await plain.run(q));
        const got: Answer[] = new Array(queries.length);
        let next = 0;
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, async () => {
            while (next < queries.length) {
              const i = next++;
              got[i] = await optimised.run(queries[i]);
            }
          }),
        );
        // Plain evaluation stops at the depth limit where the index answers deep nesting outright.
        const wrong = queries.flatMap((q, i) =>
          show(got[i]) === show(expected[i]) || (!expected[i].ok && expected[i].error === 'max-depth')
            ? []
            : [`${formatQuery(q)}: optimised ${show(got[i])}, plain ${show(expected[i])}`],
        );
        expect(wrong).toEqual([]);
        expect(queries.length).toBeGreaterThan(100);
        const stats = optimised.dispatchStats()!;
        joined += stats.joined;
        evictions += stats.evictions;
      } finally {
        await optimised.close();
        await plain.close();
      }
    }, 120_000);
  }
});
