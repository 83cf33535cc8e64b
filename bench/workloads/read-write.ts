/**
 * 99:1 reads to writes: every hundredth operation TOUCHes a new grant, and the checks after it
 * read at least as fresh as that write (so a revision-keyed cache sees fresh revisions).
 */
import type { Workload } from './workload.js';
import { sequential } from './workload.js';

export const readWriteMix: Workload = {
  name: 'read-write-99-1',
  title: 'Check + WriteRelationships, 99:1',
  unit: 'ops/s',
  opsKey: 'mix',
  digestLabel: 'allowed',
  writes: true,
  run(system, dataset, rng, ops) {
    const plan = Array.from({ length: ops }, (_, i) =>
      i % 100 === 99 ? { write: dataset.sampleWrite(rng) } : { check: dataset.sampleCheck(rng, 'negative') },
    );
    return sequential(ops, async (i) => {
      const step = plan[i];
      if (step.write) {
        await system.touch(step.write);
        return 0;
      }
      return (await system.check(step.check!)) ? 1 : 0;
    });
  },
};
