/**
 * Revision checks and arithmetic every backend does alike: whether a revision can be read (not
 * negative, not after head, not before the oldest readable one), the start of a quantization window,
 * and the later of two revisions.
 */
import { expiredRevision, futureRevision, negativeRevision } from '../../errors/index.js';
import type { Revision } from '../datastore.js';

/**
 * Refuses a negative revision (INVALID_ARGUMENT), one after `head` and one before `oldest`
 * (FAILED_PRECONDITION), in that order.
 */
export function assertRevisionInRange(revision: Revision, head: Revision, oldest: Revision): void {
  if (revision < 0n) throw negativeRevision(revision);
  if (revision > head) throw futureRevision(revision, head);
  if (revision < oldest) throw expiredRevision(revision, oldest);
}

/** The start, in epoch ms, of the quantization window `nowMs` falls in (quantizationMs > 0). */
export function quantizationWindowStart(nowMs: number, quantizationMs: number): number {
  return Math.floor(nowMs / quantizationMs) * quantizationMs;
}

export function laterRevision(a: Revision, b: Revision): Revision {
  return a > b ? a : b;
}
