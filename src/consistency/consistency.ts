/** Turns a request's consistency requirement into the revision it reads at. */
import type { Datastore, Revision } from '../datastore/datastore.js';
import { invalidArgument } from '../errors/index.js';
import type { Consistency } from '../requests/requests.js';
import { decodeToken } from './zedtoken.js';

export async function resolveRevision(datastore: Datastore, consistency: Consistency | undefined): Promise<Revision> {
  switch (consistency?.mode) {
    case undefined:
    case 'minimize_latency':
      return datastore.optimizedRevision();
    case 'at_least_as_fresh': {
      const wanted = decodeToken(consistency.token, datastore.id);
      const optimized = await datastore.optimizedRevision();
      if (wanted <= optimized) return optimized;
      // Newer than the shared revision: it must exist (a token from the future is an error). It
      // cannot have expired, being newer than a revision that has not: so a revision known to be
      // committed needs no check.
      if (!datastore.knownCommitted?.(wanted)) await datastore.assertRevisionReadable(wanted);
      return wanted;
    }
    case 'at_exact_snapshot': {
      const wanted = decodeToken(consistency.token, datastore.id);
      await datastore.assertRevisionReadable(wanted);
      return wanted;
    }
    case 'fully_consistent':
      return datastore.headRevision();
    default:
      throw invalidArgument(`unknown consistency mode \`${String((consistency as { mode: unknown }).mode)}\``);
  }
}
