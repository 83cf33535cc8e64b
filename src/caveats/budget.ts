/**
 * The evaluation cost budget. @bufbuild/cel has no cost limit, so Pemba charges one itself: every
 * comprehension iteration (by the size of its body) and every operation whose time grows with its
 * operands (concatenation, comparison and search of long strings, lists and maps, regular expressions).
 * One unit is roughly 10 ns of work; the default limit stops a hostile caveat in tens of milliseconds,
 * far above what real caveats use (a comparison of two parameters costs a handful of units).
 *
 * Evaluation is synchronous, so one module-level meter serves every evaluation in turn.
 */

/** Units charged per expression node evaluated in a comprehension iteration. */
export const COST_PER_NODE = 3;

/** Default budget of one caveat evaluation. */
export const DEFAULT_COST_LIMIT = 5_000_000;

/** Largest string (code units), bytes or list a caveat may build by concatenation. */
export const MAX_VALUE_SIZE = 1_000_000;

export class CostLimitExceeded extends Error {
  constructor(readonly limit: number) {
    super(`caveat evaluation exceeded its cost limit of ${limit}`);
  }
}

const meter = { used: 0, limit: DEFAULT_COST_LIMIT, exceeded: false };

/** Starts metering one evaluation. */
export function resetBudget(limit: number): void {
  meter.used = 0;
  meter.limit = limit;
  meter.exceeded = false;
}

/** Adds cost; throws (inside CEL, becoming an error value) once the budget is spent. */
export function charge(units: number): void {
  meter.used += units;
  if (meter.used > meter.limit) {
    meter.exceeded = true;
    throw new CostLimitExceeded(meter.limit);
  }
}

/** Units still available (for walks that must stop early). */
export function remainingBudget(): number {
  return Math.max(0, meter.limit - meter.used);
}

/** Whether the current evaluation ran out of budget, even if an `||` or `&&` absorbed the error. */
export function budgetExceeded(): boolean {
  return meter.exceeded;
}
