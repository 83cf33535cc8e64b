/**
 * The loop every backend's watch runs: read the commits after a cursor a batch at a time, wait for
 * a newer commit when there are none, and deliver them paced (pacer.ts), ending quietly once the
 * watcher's signal aborts or the datastore closes. Each backend supplies how to read and wait.
 */
import type { Revision, RevisionChanges } from '../datastore.js';
import { Pacer } from './pacer.js';

export interface CommitSource<C extends { revision: Revision }> {
  /** Whether the datastore has closed. */
  closed(): boolean;
  /** The commits after `cursor`, ascending (empty: none yet); undefined ends the watch quietly. */
  read(cursor: Revision): readonly C[] | undefined | Promise<readonly C[] | undefined>;
  /** Resolves once a commit after `cursor` may exist, or when the watcher's signal aborts or the datastore closes. */
  wait(cursor: Revision): Promise<void>;
  /** What the watcher receives for `commit`. */
  deliver(commit: C): RevisionChanges;
}

/** Every commit of `source` after `after`, in revision order, until `signal` aborts or the datastore closes. */
export async function* watchCommits<C extends { revision: Revision }>(
  after: Revision,
  signal: AbortSignal | undefined,
  source: CommitSource<C>,
): AsyncGenerator<RevisionChanges> {
  const pacer = new Pacer();
  let cursor = after;
  while (!signal?.aborted && !source.closed()) {
    // A synchronous read is not awaited, so a watcher that finds nothing starts waiting in the same
    // turn: a commit or close in between would otherwise go unseen where waiters are only woken.
    const read = source.read(cursor);
    const commits = read instanceof Promise ? await read : read;
    if (!commits) return;
    if (commits.length === 0) {
      await source.wait(cursor);
      pacer.restart();
      continue;
    }
    for (const c of commits) {
      await pacer.pace();
      if (signal?.aborted || source.closed()) return;
      yield source.deliver(c);
      cursor = c.revision;
    }
  }
}
