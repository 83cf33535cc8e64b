/**
 * Sorting a large result without holding the event loop: sorting a million ids takes more than a
 * second in one call. Runs short enough to sort within a slice are sorted natively, then merged
 * pairwise, pausing between runs and every few thousand merged items.
 */
import type { Pacing } from './time-slice.js';

/** Items sorted natively in one go: about a slice's worth of string comparisons. */
const RUN = 4096;

/** `items` sorted by `compare` (stable, as Array.prototype.sort); sorts in place when small. */
export async function sortPaced<T>(items: T[], compare: (a: T, b: T) => number, pacing: Pacing): Promise<T[]> {
  if (items.length <= RUN) return items.sort(compare);
  let runs: T[][] = [];
  for (let i = 0; i < items.length; i += RUN) {
    if (pacing.due()) await pacing.pause();
    runs.push(items.slice(i, i + RUN).sort(compare));
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let i = 0; i < runs.length; i += 2)
      merged.push(i + 1 < runs.length ? await merge(runs[i], runs[i + 1], compare, pacing) : runs[i]);
    runs = merged;
  }
  return runs[0];
}

/** The code-unit order of Array.prototype.sort without a comparator, for strings. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function merge<T>(a: T[], b: T[], compare: (a: T, b: T) => number, pacing: Pacing): Promise<T[]> {
  const out = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    // Ties take from `a`, the earlier run: stable.
    out[k++] = compare(b[j], a[i]) < 0 ? b[j++] : a[i++];
    if (pacing.due()) await pacing.pause();
  }
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}
