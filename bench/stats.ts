/** Latency summaries and the median across repetitions. */

export interface Summary {
  ops: number;
  /** Latency percentiles in ms. */
  p5: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** Operations (or items, see the workload's unit) per second of wall time. */
  throughput: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(latenciesMs: number[], elapsedMs: number, units = latenciesMs.length): Summary {
  const sorted = Float64Array.from(latenciesMs).sort();
  let total = 0;
  for (const x of sorted) total += x;
  return {
    ops: sorted.length,
    p5: percentile(sorted, 5),
    p25: percentile(sorted, 25),
    p50: percentile(sorted, 50),
    p75: percentile(sorted, 75),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    mean: total / sorted.length,
    throughput: units / (elapsedMs / 1000),
  };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Each figure is the median of that figure over the repetitions (not a percentile of the pooled samples). */
export function medianSummary(reps: Summary[]): Summary {
  const keys = Object.keys(reps[0]) as Array<keyof Summary>;
  return Object.fromEntries(keys.map((k) => [k, median(reps.map((r) => r[k]))])) as unknown as Summary;
}
