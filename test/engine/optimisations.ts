import type { PembaOptions } from '../../src/pemba.js';

/** Pemba with every cross-request optimisation off: each answer comes from plain evaluation. */
export const OPTIMISATIONS_OFF: Omit<PembaOptions, 'datastore'> = {
  dispatchCacheBytes: 0,
  dedupe: false,
  nestedGroupIndex: false,
};
