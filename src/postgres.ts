/**
 * `pemba/postgres`: the PostgreSQL datastore (pg), for Node only; several Pemba processes may share
 * one database. The database must be migrated first: `migratePostgresDatastore(uri)` here, or
 * `pemba datastore migrate --datastore-engine postgres --datastore-conn-uri URI`.
 *
 * @example
 * import { Pemba } from 'pemba';
 * import { migratePostgresDatastore, openPostgresDatastore } from 'pemba/postgres';
 * await migratePostgresDatastore('postgres://user:password@host:5432/db'); // idempotent
 * const pemba = await Pemba.open({ datastore: await openPostgresDatastore('postgres://user:password@host:5432/db') });
 * // Reads at revisions a streaming replica has applied go to it:
 * await openPostgresDatastore(primaryUri, { readReplicaUris: [replicaUri] });
 */
import { migratePostgres } from './datastore/postgres/migrations.js';
import type { MigrationResult } from './datastore/postgres/migrations.js';
import { createPool } from './datastore/postgres/pool.js';

export { openPostgresDatastore, PostgresDatastore } from './datastore/postgres/datastore.js';
export type {
  PostgresDatastoreOptions,
  ReplicaSetOptions as PostgresReplicaOptions,
  ReplicaStats as PostgresReplicaStats,
} from './datastore/postgres/datastore.js';
export { migratePostgres, POSTGRES_SCHEMA_VERSION } from './datastore/postgres/migrations.js';
export type { MigrationResult as PostgresMigrationResult } from './datastore/postgres/migrations.js';
export type { PoolOptions as PostgresPoolOptions } from './datastore/postgres/pool.js';
export type { GcResult } from './datastore/common/options.js';

/**
 * Creates or upgrades the datastore's tables in the database (and schema, from the URI's search_path)
 * that `connUri` names, in one transaction; idempotent. Refuses a database migrated by a newer Pemba.
 * `migratePostgres` does the same on a `pg.Pool` of your own.
 */
export async function migratePostgresDatastore(connUri: string): Promise<MigrationResult> {
  const pool = createPool(connUri, { maxConnections: 1 });
  try {
    return await migratePostgres(pool);
  } finally {
    await pool.end();
  }
}
