/** LookupResources and LookupSubjects: one query's latency is until its last result arrived. */
import type { Workload } from './workload.js';
import { sequential } from './workload.js';

export const lookupResources: Workload = {
  name: 'lookup-resources',
  title: 'LookupResources (every result)',
  unit: 'queries/s',
  opsKey: 'lookup',
  digestLabel: 'results',
  run(system, dataset, rng, ops) {
    const queries = Array.from({ length: ops }, () => dataset.sampleLookupResources(rng));
    return sequential(ops, (i) => system.lookupResources(queries[i]));
  },
};

export const lookupSubjects: Workload = {
  name: 'lookup-subjects',
  title: 'LookupSubjects (every result)',
  unit: 'queries/s',
  opsKey: 'lookup',
  digestLabel: 'results',
  run(system, dataset, rng, ops) {
    const queries = Array.from({ length: ops }, () => dataset.sampleLookupSubjects(rng));
    return sequential(ops, (i) => system.lookupSubjects(queries[i]));
  },
};
