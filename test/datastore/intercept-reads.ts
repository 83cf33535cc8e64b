import type { Datastore, QueryOptions, RelationshipQuery } from '../../src/datastore/datastore.js';

/**
 * The datastore with `before` run ahead of every relationship query of its snapshots: a delay (so
 * concurrent requests interleave inside their evaluations) or a counter.
 */
export function interceptReads(inner: Datastore, before: (q: RelationshipQuery) => void | Promise<void>): Datastore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'snapshot') return Reflect.get(target, prop, receiver);
      return (revision: bigint) => {
        const snap = target.snapshot(revision);
        return {
          revision: snap.revision,
          readSchema: () => snap.readSchema(),
          queryRelationships: async (q: RelationshipQuery, options?: QueryOptions) => {
            await before(q);
            return snap.queryRelationships(q, options);
          },
        };
      };
    },
  });
}

/** Reads that take up to `maxMs` milliseconds. */
export const slowReads = (inner: Datastore, maxMs: number) =>
  interceptReads(inner, () => new Promise((resolve) => setTimeout(resolve, Math.random() * maxMs)));
