/** Every workload, in the order a run executes them (the read/write mix last: it changes the data). */
import { checkBulk, checkNegative, checkPositive, concurrentCheck } from './checks.js';
import { lookupResources, lookupSubjects } from './lookups.js';
import { readWriteMix } from './read-write.js';
import type { Workload } from './workload.js';

export const WORKLOADS: Workload[] = [
  checkNegative,
  checkPositive,
  checkBulk,
  lookupResources,
  lookupSubjects,
  concurrentCheck,
  readWriteMix,
];
