/** The errors a datastore raises for revisions it cannot serve (shared wording for every backend). */
import { failedPrecondition, invalidArgument, PembaError } from '../../errors/index.js';
import type { Revision } from '../datastore.js';

export function negativeRevision(revision: Revision): PembaError {
  return invalidArgument(`invalid revision ${revision}: revisions are never negative`);
}

export function futureRevision(revision: Revision, head: Revision): PembaError {
  return failedPrecondition(`revision ${revision} is in the future: the newest revision is ${head}`);
}

export function expiredRevision(revision: Revision, oldest: Revision): PembaError {
  return failedPrecondition(
    `revision ${revision} has expired: it was garbage collected (the oldest readable revision is ${oldest}); retry with a newer consistency token`,
  );
}

export function closedDatastore(): PembaError {
  return new PembaError('UNAVAILABLE', 'the datastore is closed');
}
