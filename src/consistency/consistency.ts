/** Turns a request's consistency requirement into the revision it reads at. */
import type { Datastore, Revision } from '../datastore/datastore.js';
import { invalidArgument } from '../errors/index.js';
import type { Consistency } from '../requests/requests.js';
import { decodeOwnToken, decodeToken } from './zedtoken.js';

/**
 * What a request whose token another datastore issued reads at (SpiceDB's --mismatch-zed-token-behavior):
 * the head (`full-consistency`, SpiceDB's default), the shared recent revision (`min-latency`), or
 * nothing: INVALID_ARGUMENT (`error`).
 */
export type MismatchedTokenBehavior = 'full-consistency' | 'min-latency' | 'error';
export const MISMATCHED_TOKEN_BEHAVIORS: readonly MismatchedTokenBehavior[] = [
  'full-consistency',
  'min-latency',
  'error',
];

export async function resolveRevision(
  datastore: Datastore,
  consistency: Consistency | undefined,
  mismatched: MismatchedTokenBehavior = 'error',
): Promise<Revision> {
  switch (consistency?.mode) {
    case undefined:
    case 'minimize_latency':
      return datastore.optimizedRevision();
    case 'at_least_as_fresh':
    case 'at_exact_snapshot':
      if (mismatched !== 'error' && decodeOwnToken(consistency.token, datastore.id) === undefined) {
        return mismatched === 'full-consistency' ? datastore.headRevision() : datastore.optimizedRevision();
      }
      break;
    case 'fully_consistent':
      return datastore.headRevision();
    default:
      throw invalidArgument(`unknown consistency mode \`${String((consistency as { mode: unknown }).mode)}\``);
  }
  return consistency.mode === 'at_least_as_fresh'
    ? atLeastAsFresh(datastore, decodeToken(consistency.token, datastore.id))
    : exactly(datastore, decodeToken(consistency.token, datastore.id));
}

async function atLeastAsFresh(datastore: Datastore, wanted: Revision): Promise<Revision> {
  const optimized = await datastore.optimizedRevision();
  if (wanted <= optimized) return optimized;
  // Newer than the shared revision: it must exist (a token from the future is an error). It cannot
  // have expired, being newer than a revision that has not: so a revision known to be committed
  // needs no check.
  if (!datastore.knownCommitted?.(wanted)) await datastore.assertRevisionReadable(wanted);
  return wanted;
}

async function exactly(datastore: Datastore, wanted: Revision): Promise<Revision> {
  await datastore.assertRevisionReadable(wanted);
  return wanted;
}
