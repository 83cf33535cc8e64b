/** Check workloads: single checks (two mixes), bulk checks, and checks at 64 in flight. */
import type { CheckMix, CheckQuery, Dataset } from '../datasets/dataset.js';
import type { Rng } from '../rng.js';
import type { System } from '../systems/system.js';
import type { RepOutcome, Workload } from './workload.js';
import { sequential } from './workload.js';

export const BULK_SIZE = 100;
export const CONCURRENCY = 64;

const checkWorkload = (mix: CheckMix, title: string): Workload => ({
  name: `check-${mix}`,
  title,
  unit: 'checks/s',
  opsKey: 'check',
  digestLabel: 'allowed',
  run: (system: System, dataset: Dataset, rng: Rng, ops: number) => {
    const queries = Array.from({ length: ops }, () => dataset.sampleCheck(rng, mix));
    return sequential(ops, async (i) => ((await system.check(queries[i])) ? 1 : 0));
  },
});

export const checkNegative = checkWorkload('negative', 'Check, mostly negative');
export const checkPositive = checkWorkload('positive', 'Check, positive-heavy');

export const checkBulk: Workload = {
  name: 'check-bulk',
  title: `CheckBulk (${BULK_SIZE} items, mostly negative)`,
  unit: 'checks/s',
  opsKey: 'bulk',
  digestLabel: 'allowed',
  async run(system, dataset, rng, ops) {
    const requests = Array.from({ length: ops }, () =>
      Array.from({ length: BULK_SIZE }, () => dataset.sampleCheck(rng, 'negative')),
    );
    const outcome = await sequential(ops, async (i) => (await system.checkBulk(requests[i])).filter(Boolean).length);
    return { ...outcome, units: ops * BULK_SIZE };
  },
};

/** `ops` checks issued by CONCURRENCY workers sharing one queue (so at most that many in flight). */
export const concurrentCheck: Workload = {
  name: 'check-concurrent',
  title: `Check at ${CONCURRENCY} in flight`,
  unit: 'checks/s',
  opsKey: 'concurrent',
  digestLabel: 'allowed',
  async run(system, dataset, rng, ops): Promise<RepOutcome> {
    const queries: CheckQuery[] = Array.from({ length: ops }, () => dataset.sampleCheck(rng, 'negative'));
    const latenciesMs: number[] = [];
    let digest = 0;
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < ops) {
          const q = queries[next++];
          const t = performance.now();
          if (await system.concurrentCheck(q)) digest++;
          latenciesMs.push(performance.now() - t);
        }
      }),
    );
    return { latenciesMs, elapsedMs: performance.now() - start, units: ops, digest };
  },
};
