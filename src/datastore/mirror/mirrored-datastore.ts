/**
 * A durable datastore whose snapshot reads are answered from a RelationshipMirror whenever it covers
 * their revision, and by the datastore itself otherwise (see relationship-mirror.ts for why both
 * answers are the same). Writes, revisions, watch and everything else are the datastore's own.
 */
import type { Datastore, Revision, SnapshotOptions, SnapshotReader } from '../datastore.js';
import { withOverrides } from '../common/overridden.js';
import type { CollectableDatastore } from '../factory.js';
import { RelationshipMirror } from './relationship-mirror.js';
import type { RelationshipMirrorOptions, RelationshipMirrorStats } from './relationship-mirror.js';

export interface MirrorOptions extends RelationshipMirrorOptions {
  /**
   * How long a read at a revision the mirror has not applied yet (a commit moments old) waits for
   * the change feed before it reads the datastore instead, in ms (default 100).
   */
  catchUpMs?: number;
}

export type Mirrored<D extends Datastore> = D & {
  /** The mirror's state, sizes and how many reads it answered. */
  mirrorStats(): RelationshipMirrorStats;
  knownCommitted(revision: Revision): boolean;
};

/** `datastore`, its snapshot reads served from a node-local mirror of its relationships. */
export function mirrorDatastore<D extends Datastore>(datastore: D, options: MirrorOptions = {}): Mirrored<D> {
  const mirror = new RelationshipMirror(datastore, options);
  const catchUpMs = options.catchUpMs ?? 100;
  /** Whether the mirror answers at `revision` now, after waiting a little for the feed if need be. */
  const answers = async (revision: Revision): Promise<boolean> => {
    if ((await mirror.caughtUp(revision, catchUpMs)) && mirror.covers(revision)) return true;
    mirror.missed();
    return false;
  };

  function snapshot(revision: Revision, snapshotOptions?: SnapshotOptions): SnapshotReader {
    let inner: SnapshotReader | undefined;
    const direct = () => (inner ??= datastore.snapshot(revision, snapshotOptions));
    // The hot path (the mirror covers the revision) settles with no further hop, as the memory datastore's reads do.
    return {
      revision,
      ...(snapshotOptions?.primary ? { primary: true } : {}),
      queryRelationships: (query, queryOptions) => {
        const read = () => mirror.query(query, revision, queryOptions);
        if (mirror.covers(revision)) return settle(read);
        return answers(revision).then((ok) => (ok ? read() : direct().queryRelationships(query, queryOptions)));
      },
      readSchema: () => {
        if (mirror.covers(revision)) return Promise.resolve(mirror.schemaAt(revision));
        return answers(revision).then((ok) => (ok ? mirror.schemaAt(revision) : direct().readSchema()));
      },
    };
  }

  const collectable = datastore as Partial<CollectableDatastore>;
  const gc = collectable.gc?.bind(datastore);
  return withOverrides(datastore, {
    snapshot,
    // The mirror applies only committed revisions.
    knownCommitted: (revision: Revision) => mirror.applied(revision) || (datastore.knownCommitted?.(revision) ?? false),
    ...(gc && {
      gc: async (nowMs?: number) => {
        const result = await gc(nowMs);
        mirror.raiseFloor(result.oldestReadable);
        return result;
      },
    }),
    mirrorStats: () => mirror.stats(),
    close: async () => {
      await mirror.close();
      await datastore.close();
    },
  }) as Mirrored<D>;
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}
