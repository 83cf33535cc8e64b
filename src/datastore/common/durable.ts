/**
 * What the durable backends (sqlite/, postgres/) run alike besides their storage: their own
 * background garbage collection, and stopping their background work in order when they close.
 */
import type { CommitNotifier } from './commit-notifier.js';
import { startGcLoop } from './gc-loop.js';
import type { GcLoop } from './gc-loop.js';
import type { Mutex } from './mutex.js';

/** The datastore's background GC loop: a run that fails because the datastore closed meanwhile is not reported. */
export function startOwnGcLoop(gc: () => Promise<unknown>, intervalMs: number, closed: () => boolean): GcLoop {
  return startGcLoop(
    () =>
      gc().catch((e: unknown) => {
        if (!closed()) throw e;
      }),
    intervalMs,
  );
}

/**
 * On close (the datastore already marked closed): ends the watches waiting for commits, then waits for
 * a GC run in progress and for the transaction in progress and those queued, so the datastore can
 * close its connections after.
 */
export async function stopBackgroundWork(notifier: CommitNotifier, gcLoop: GcLoop, writers: Mutex): Promise<void> {
  notifier.close();
  await gcLoop.stop();
  await writers.run(async () => undefined);
}
