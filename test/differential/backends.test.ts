/**
 * The differential test on the durable datastores: a few seeds answered by SpiceDB and by Pemba on
 * SQLite and on PostgreSQL, compared as in differential.test.ts (which runs many seeds on memory).
 * The engine is the same on every backend; this catches a datastore returning other rows than
 * memory would (filters, subject relations, wildcards, pagination cursors). The same seeds also run
 * on memory with the cross-request cache, deduplication and the nested-group index turned off, so
 * the plain evaluation path stays right too.
 *
 *   PEMBA_DIFF_BACKEND_SEEDS=1,2,3,4,5 npx vitest run test/differential/backends.test.ts
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BACKENDS, useTestBackends } from '../datastore/test-backends.js';
import { FAILING, formatReport, runCase } from './compare.js';
import type { CaseResult } from './compare.js';
import { generateCase } from './generator.js';
import { PembaEngine } from './pemba-engine.js';
import { OPTIMISATIONS_OFF } from '../engine/optimisations.js';
import { SpiceDBProcess } from './spicedb-process.js';

/** Acyclic and cyclic cases (34 makes SpiceDB report max depth) with every schema feature between them. */
const SEEDS = (process.env.PEMBA_DIFF_BACKEND_SEEDS ?? '1,2,3,34').split(',').map(Number);
const MAX_ATTEMPTS = 5;

const backends = useTestBackends();
let spicedb: SpiceDBProcess;
beforeAll(async () => {
  spicedb = await SpiceDBProcess.start();
}, 60_000);
afterAll(() => spicedb?.close());

const VARIANTS = [
  ...BACKENDS.filter((b) => b !== 'memory').map((backend) => ({ label: backend, backend, pemba: {} })),
  { label: 'memory with caches and index off', backend: 'memory' as const, pemba: OPTIMISATIONS_OFF },
];

describe.each(VARIANTS)(
  'differential on $label: Pemba vs SpiceDB',
  ({ label: backend, backend: engine, pemba: options }) => {
    const pemba = new PembaEngine({ datastore: () => backends.open(engine), pemba: options });
    const results: CaseResult[] = [];

    afterAll(async () => {
      await pemba.close();
      const sum = (f: (r: CaseResult) => number) => results.reduce((s, r) => s + f(r), 0);
      console.log(
        `differential on ${backend}: ${results.length} cases (seeds ${SEEDS.join(', ')}), ${sum((r) => r.queries)} queries, ` +
          `${sum((r) => r.agreed)} agreed; time SpiceDB ${(sum((r) => r.ms.spicedb) / 1000).toFixed(1)} s / Pemba ${(sum((r) => r.ms.pemba) / 1000).toFixed(1)} s`,
      );
    });

    for (const seed of SEEDS) {
      it(`seed ${seed}`, async () => {
        let result: CaseResult | undefined;
        for (let attempt = 0; attempt < MAX_ATTEMPTS && !result; attempt++) {
          const r = await runCase(generateCase(seed, attempt), spicedb, pemba, { pageSize: 2 });
          if (r.rejectedBySpiceDB === undefined) result = r;
        }
        if (!result) throw new Error(`SpiceDB rejected ${MAX_ATTEMPTS} generated schemas for seed ${seed}`);
        results.push(result);
        const bad = result.discrepancies.filter((d) => FAILING.has(d.kind));
        if (bad.length > 0)
          throw new Error(
            `Pemba on ${backend} disagrees with SpiceDB\n${formatReport({ ...result, discrepancies: bad }, FAILING)}`,
          );
      }, 180_000);
    }
  },
);
