/**
 * A large transaction (ImportBulk) refreshes the table statistics itself as it grows, so the
 * planner keeps looking keys up by index instead of scanning every row for each batch (which made a
 * 1,000,000-relationship import quadratic: 60k rel/s falling under 5k rel/s).
 */
import { expect, it } from 'vitest';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { openPostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import { describeBackend } from './chosen-backends.js';
import { rel } from './contract.js';
import { useTestPostgres } from './postgres-harness.js';

const postgres = useTestPostgres();

describeBackend('postgres', 'postgres bulk transactions', () => {
  it('analyze the relationships table inside the transaction once it has inserted 10,000 rows', async () => {
    const uri = await postgres.migratedUri();
    const schema = /search_path%3D(\w+)/.exec(uri)![1];
    const ds = await openPostgresDatastore(uri, { gcIntervalMs: 0, maxConnections: 2 });
    const tuples = async () => {
      const { rows } = await postgres.admin().query<{ reltuples: number }>(
        `SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = 'relationships'`,
        [schema],
      );
      return Number(rows[0].reltuples);
    };
    try {
      await ds.readWrite(async (tx) => {
        for (let b = 0; b < 12; b++) {
          await tx.write(
            Array.from({ length: 1000 }, (_, i): RelationshipUpdate => ({
              operation: 'CREATE',
              relationship: rel(`doc:b${b}_${i}#viewer@user:u${i % 50}`),
            })),
          );
        }
        // ANALYZE writes the row count in place: it is visible from outside before the commit.
        expect(await tuples()).toBeGreaterThanOrEqual(10_000);
      });
    } finally {
      await ds.close();
    }
  }, 60_000);
});
