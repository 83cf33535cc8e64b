/**
 * Garbage collection for PostgreSQL, with the memory datastore's semantics (memory/gc.ts).
 * It takes no lock that writers or readers wait for: it raises the oldest readable revision first (in
 * its own statement, so readers at older revisions fail cleanly instead of seeing half-collected
 * data), then deletes only versions no readable revision can see, in batches. Writers only touch
 * current versions; if one retires a version GC is deleting for having expired, the row lock orders
 * them and either outcome is invisible. Several processes may collect at once: every step is idempotent.
 */
import type pg from 'pg';
import type { GcResult } from '../common/options.js';
import { query } from './pool.js';

const BATCH = 5_000;

export async function collectGarbage(pool: pg.Pool, nowMs: number, gcWindowMs: number): Promise<GcResult> {
  const cutoff = new Date(nowMs - gcWindowMs);
  // The boundary: the revision current at the cutoff, never lowering what another collector set.
  const { rows } = await query<{ value: string }>(
    pool,
    `UPDATE metadata SET value = GREATEST(value::bigint, coalesce(
       (SELECT revision FROM commits WHERE committed_at <= $1 ORDER BY committed_at DESC, revision DESC LIMIT 1), 0))::text
     WHERE key = 'oldest_readable' RETURNING value`,
    [cutoff],
  );
  const boundary = rows[0].value;
  let versions = 0;
  for (const [where, bound] of [
    ['deleted_rev <= $1', boundary],
    ['expires_at <= $1', cutoff],
  ] as const) {
    for (;;) {
      const { rowCount } = await query(
        pool,
        `DELETE FROM relationships WHERE id IN (SELECT id FROM relationships WHERE ${where} LIMIT ${BATCH})`,
        [bound],
      );
      versions += rowCount ?? 0;
      if ((rowCount ?? 0) < BATCH) break;
    }
  }
  const { rowCount: commits } = await query(
    pool,
    `WITH ch AS (DELETE FROM changes WHERE revision < $1),
          -- Keep the schema that was current at the boundary.
          s AS (DELETE FROM schemas WHERE revision < (SELECT max(revision) FROM schemas WHERE revision <= $1))
     DELETE FROM commits WHERE revision < $1`,
    [boundary],
  );
  return { oldestReadable: BigInt(boundary), versions, commits: commits ?? 0 };
}
