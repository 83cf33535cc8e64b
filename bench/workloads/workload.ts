/** A workload: one repetition issues `ops` operations drawn from the dataset with a seeded RNG. */
import type { Dataset } from '../datasets/dataset.js';
import type { Rng } from '../rng.js';
import type { System } from '../systems/system.js';

export interface RepOutcome {
  latenciesMs: number[];
  elapsedMs: number;
  /** What throughput counts (operations, or checks for bulk checks). */
  units: number;
  /** Answers summarized (positives, result counts): equal across systems, or the systems disagree. */
  digest: number;
}

export interface Workload {
  name: string;
  title: string;
  /** Throughput unit for the report. */
  unit: string;
  /** Operations per repetition, from the profile, by this key. */
  opsKey: 'check' | 'bulk' | 'lookup' | 'mix' | 'concurrent';
  /** What the digest counts, for the report. */
  digestLabel: string;
  /** True when it writes: its warm-up then stays the same for every system (see child.ts). */
  writes?: boolean;
  run(system: System, dataset: Dataset, rng: Rng, ops: number): Promise<RepOutcome>;
}

/** Runs `n` operations one after another, timing each. */
export async function sequential(n: number, op: (i: number) => Promise<number>): Promise<RepOutcome> {
  const latenciesMs: number[] = [];
  let digest = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    digest += await op(i);
    latenciesMs.push(performance.now() - t);
  }
  return { latenciesMs, elapsedMs: performance.now() - start, units: n, digest };
}
