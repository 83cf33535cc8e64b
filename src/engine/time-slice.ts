/**
 * Cooperative time slicing of the one event-loop thread. A memory or SQLite read resolves without
 * letting timers or I/O run, so a long evaluation would hold the loop: other callers would wait for
 * it, and its own deadline timer could not even fire. The engine asks `sliceSpent()` at its reads and
 * in long loops; once engine work has run for SLICE_MS since the loop last had a turn, it awaits
 * `nextTurn()`.
 *
 * The slice is global, not per request: what other callers wait for is the time since the loop last
 * ran, whoever held it. It starts at the first question after a turn and ends at the next turn (an
 * immediate scheduled then), so a request resumed by real I/O does not yield again for nothing. A
 * request resumed by `nextTurn()` starts a slice of its own: without that, a trivial request resumed
 * after a long one (in the same turn) would find the slice spent and wait again, for ever.
 */
import { later } from '../runtime/next-turn.js';

/** Longest engine work runs before timers, sockets and other calls get a turn. */
export const SLICE_MS = 2;

let sliceStart = 0;
/** A slice is running: its end is scheduled for the next turn. */
let inSlice = false;
const endSlice = (): void => {
  inSlice = false;
};

/**
 * Reading the clock costs 100–400 ns, more than many loop steps that ask (a memo hit): `stepDue()`
 * reads it every `every` questions only, a count tuned as it goes so that the clock is read every
 * sixteenth to quarter of a slice. A read of the datastore, which may take anything from a
 * microsecond to a second, asks `sliceSpent()`, which always reads it.
 */
const MAX_EVERY = 256;
let every = 1;
let countdown = 1;
let lastRead = 0;

function startSlice(now: number): void {
  sliceStart = now;
  lastRead = now;
  countdown = every;
  if (!inSlice) {
    inSlice = true;
    later(endSlice);
  }
}

/** True once engine work has held the event loop for SLICE_MS. */
export function sliceSpent(): boolean {
  const now = performance.now();
  if (!inSlice) {
    startSlice(now);
    return false;
  }
  lastRead = now;
  countdown = every;
  return now - sliceStart >= SLICE_MS;
}

/** `sliceSpent()` for the steps of a loop, most of them cheap: it reads the clock now and then. */
export function stepDue(): boolean {
  if (inSlice && --countdown > 0) return false;
  if (!inSlice) {
    startSlice(performance.now());
    return false;
  }
  const now = performance.now();
  const gap = now - lastRead;
  if (gap < SLICE_MS / 16 && every < MAX_EVERY) every *= 2;
  else if (gap > SLICE_MS / 4 && every > 1) every >>= 1;
  lastRead = now;
  countdown = every;
  return now - sliceStart >= SLICE_MS;
}

/** Resolves once timers and I/O have had a turn, in a fresh slice. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) =>
    later(() => {
      startSlice(performance.now());
      resolve();
    }),
  );
}

/** What a long loop asks now and then (a RequestReader answers for its request: its slice and its signal). */
export interface Pacing {
  /** The loop must stop or give the event loop a turn: then await `pause()`. */
  due(): boolean;
  /** Gives the event loop a turn; throws if the request was aborted. */
  pause(): Promise<void>;
}
