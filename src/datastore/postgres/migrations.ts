/**
 * Versioned migrations of the PostgreSQL datastore's tables, run explicitly by `pemba datastore
 * migrate` (a server never changes a shared database's schema on its own). The `metadata` table
 * records the migration version and the datastore id, a random UUID made by the first migration.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { failedPrecondition } from '../../errors/index.js';
import type { MigrationResult } from '../common/migrations.js';
import { newerSchema } from '../common/migrations.js';
import { query, withClient } from './pool.js';

interface Migration {
  version: number;
  up: (client: pg.PoolClient) => Promise<void>;
}

/** COLLATE "C": byte order, the order results and cursors are defined in, whatever the database's locale. */
const RELATIONSHIP_COLUMNS = `
  resource_type text COLLATE "C" NOT NULL,
  resource_id text COLLATE "C" NOT NULL,
  relation text COLLATE "C" NOT NULL,
  subject_type text COLLATE "C" NOT NULL,
  subject_id text COLLATE "C" NOT NULL,
  subject_relation text COLLATE "C" NOT NULL,
  caveat_name text,
  caveat_context jsonb,
  expires_at timestamptz`;

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: async (client) => {
      await query(
        client,
        `
        CREATE TABLE metadata (key text PRIMARY KEY, value text NOT NULL);
        -- Row versions: visible at revisions created_rev <= R < deleted_rev (NULL: not deleted).
        CREATE TABLE relationships (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          ${RELATIONSHIP_COLUMNS},
          created_rev bigint NOT NULL,
          deleted_rev bigint
        );
        -- At most one current version per relationship; also the engine's by-resource lookups.
        CREATE UNIQUE INDEX relationships_current_by_resource
          ON relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
          WHERE deleted_rev IS NULL;
        CREATE INDEX relationships_current_by_subject
          ON relationships (subject_type, subject_id, subject_relation) WHERE deleted_rev IS NULL;
        -- Reads at older revisions and garbage collection.
        CREATE INDEX relationships_deleted ON relationships (deleted_rev) WHERE deleted_rev IS NOT NULL;
        CREATE INDEX relationships_expiring ON relationships (expires_at) WHERE expires_at IS NOT NULL;
        -- One row per revision; committed_at (non-decreasing) serves quantization and GC.
        CREATE TABLE commits (revision bigint PRIMARY KEY, committed_at timestamptz NOT NULL);
        CREATE INDEX commits_by_time ON commits (committed_at, revision);
        -- The change log for Watch, written in the committing transaction.
        CREATE TABLE changes (
          revision bigint NOT NULL,
          ordinal integer NOT NULL,
          operation text NOT NULL,
          ${RELATIONSHIP_COLUMNS},
          PRIMARY KEY (revision, ordinal)
        );
        CREATE TABLE schemas (revision bigint PRIMARY KEY, text text NOT NULL);
      `,
      );
      await query(client, "INSERT INTO metadata (key, value) VALUES ('datastore_id', $1), ('oldest_readable', '0')", [
        randomUUID(),
      ]);
    },
  },
  {
    // A commit's transaction metadata (WriteRelationships/DeleteRelationships'
    // optional_transaction_metadata) as JSON text, NULL for none: text, not jsonb, so any JSON a
    // client sends is stored as sent (jsonb refuses \u0000 in a string, which would fail the whole group).
    version: 2,
    up: async (client) => {
      await query(client, 'ALTER TABLE commits ADD COLUMN metadata text');
    },
  },
  {
    // The OpenFGA front end's catalog (src/openfga/catalog/postgres-catalog.ts): stores, their
    // immutable models and the models' assertions. Ids are ULIDs, compared by bytes (COLLATE "C").
    // JSON is text, kept as written (jsonb would reorder keys and refuse \u0000).
    version: 3,
    up: async (client) => {
      await query(
        client,
        `
        CREATE TABLE openfga_stores (
          id text COLLATE "C" PRIMARY KEY,
          name text COLLATE "C" NOT NULL,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          deleted_at timestamptz
        );
        CREATE INDEX openfga_stores_by_name ON openfga_stores (name, id) WHERE deleted_at IS NULL;
        CREATE TABLE openfga_models (
          store_id text COLLATE "C" NOT NULL REFERENCES openfga_stores (id),
          id text COLLATE "C" NOT NULL,
          model_json text NOT NULL,
          created_at timestamptz NOT NULL,
          PRIMARY KEY (store_id, id)
        );
        CREATE TABLE openfga_assertions (
          store_id text COLLATE "C" NOT NULL,
          model_id text COLLATE "C" NOT NULL,
          assertions_json text NOT NULL,
          PRIMARY KEY (store_id, model_id),
          FOREIGN KEY (store_id, model_id) REFERENCES openfga_models (store_id, id) ON DELETE CASCADE
        );
      `,
      );
    },
  },
];

/** The migration version this build of Pemba creates and understands. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

const DATABASE = 'the PostgreSQL database';

/** With the schema's name, keys the advisory lock that serialises concurrent migrators of one datastore. */
const MIGRATION_LOCK_CLASS = 1_885_693_281;

export type { MigrationResult } from '../common/migrations.js';

async function schemaVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows: tables } = await query<{ exists: boolean }>(db, "SELECT to_regclass('metadata') IS NOT NULL AS exists");
  if (!tables[0].exists) return 0;
  const { rows } = await query<{ value: string }>(db, "SELECT value FROM metadata WHERE key = 'migration_version'");
  return rows.length === 0 ? 0 : Number(rows[0].value);
}

/** Bring the database to POSTGRES_SCHEMA_VERSION in one transaction (idempotent); refuse a newer one. */
export async function migratePostgres(pool: pg.Pool): Promise<MigrationResult> {
  return withClient(pool, async (client) => {
    await query(client, 'BEGIN');
    try {
      await query(client, 'SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [MIGRATION_LOCK_CLASS]);
      const from = await schemaVersion(client);
      if (from > POSTGRES_SCHEMA_VERSION) throw newerSchema(DATABASE, from, POSTGRES_SCHEMA_VERSION);
      for (const m of MIGRATIONS) if (m.version > from) await m.up(client);
      await query(
        client,
        "INSERT INTO metadata (key, value) VALUES ('migration_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [String(POSTGRES_SCHEMA_VERSION)],
      );
      const { rows } = await query<{ value: string }>(client, "SELECT value FROM metadata WHERE key = 'datastore_id'");
      await query(client, 'COMMIT');
      return { from, to: POSTGRES_SCHEMA_VERSION, datastoreId: rows[0].value };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  });
}

/** The datastore id, after checking the database is migrated to exactly the version this Pemba knows. */
export async function readDatastoreId(pool: pg.Pool): Promise<string> {
  const version = await schemaVersion(pool);
  if (version > POSTGRES_SCHEMA_VERSION) throw newerSchema(DATABASE, version, POSTGRES_SCHEMA_VERSION);
  if (version < POSTGRES_SCHEMA_VERSION) {
    throw failedPrecondition(
      `${DATABASE} is not migrated (datastore schema version ${version}, this Pemba needs ${POSTGRES_SCHEMA_VERSION}): ` +
        'run `pemba datastore migrate --datastore-engine postgres --datastore-conn-uri URI` with the same URI first',
    );
  }
  const { rows } = await query<{ value: string }>(pool, "SELECT value FROM metadata WHERE key = 'datastore_id'");
  return rows[0].value;
}
