/**
 * Garbage collection for the memory datastore: drops the row versions no readable revision can see
 * (deleted at or before the boundary, or expired before the cutoff) and the commits and schema
 * versions older than the boundary. Runs between transactions (the datastore's mutex), in O(rows).
 */
import type { Revision } from '../datastore.js';
import type { GcResult } from '../common/options.js';
import type { CommitLog } from './commit-log.js';
import type { RowStore } from './row-store.js';

/** `boundary` becomes the oldest readable revision; versions that expired at or before `cutoffMs` go. */
export function collectGarbage(rows: RowStore, log: CommitLog, boundary: Revision, cutoffMs: number): GcResult {
  let versions = 0;
  for (const slot of [...rows.allSlots()]) {
    const kept = slot.versions.filter(
      (v) =>
        !(v.deletedRev !== undefined && v.deletedRev <= boundary) &&
        !(v.expiresAtMs !== undefined && v.expiresAtMs <= cutoffMs),
    );
    versions += slot.versions.length - kept.length;
    slot.versions = kept;
    if (kept.length === 0) rows.removeSlot(slot);
  }
  const commits = log.collect(boundary);
  return { oldestReadable: log.oldestReadable, versions, commits };
}
