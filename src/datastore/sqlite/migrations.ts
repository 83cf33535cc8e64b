/**
 * Versioned migrations of the SQLite datastore's tables. The `metadata` table records the migration
 * version and the datastore id (a random UUID made by the first migration, so revision tokens stay
 * valid across restarts and are foreign to every other datastore).
 */
import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import type { MigrationResult } from '../common/migrations.js';
import { newerSchema } from '../common/migrations.js';

interface Migration {
  version: number;
  up: (db: BetterSqlite3.Database) => void;
}

const RELATIONSHIP_COLUMNS = `
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  relation TEXT NOT NULL,
  subject_type TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  subject_relation TEXT NOT NULL,
  caveat_name TEXT,
  caveat_context TEXT,
  expires_at INTEGER`;

/** The subject index as created, also by a large import that rebuilds it (deferred-index.ts). */
export const SUBJECT_INDEX =
  'CREATE INDEX relationships_current_by_subject ON relationships (subject_type, subject_id, subject_relation) WHERE deleted_rev IS NULL';

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: (db) => {
      db.exec(`
        CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- Row versions: visible at revisions created_rev <= R < deleted_rev (NULL: not deleted).
        CREATE TABLE relationships (
          id INTEGER PRIMARY KEY,
          ${RELATIONSHIP_COLUMNS},
          created_rev INTEGER NOT NULL,
          deleted_rev INTEGER
        );
        -- At most one current version per relationship; also the engine's by-resource lookups.
        CREATE UNIQUE INDEX relationships_current_by_resource
          ON relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
          WHERE deleted_rev IS NULL;
        ${SUBJECT_INDEX};
        -- Reads at older revisions and garbage collection.
        CREATE INDEX relationships_deleted ON relationships (deleted_rev) WHERE deleted_rev IS NOT NULL;
        CREATE INDEX relationships_expiring ON relationships (expires_at) WHERE expires_at IS NOT NULL;
        -- One row per revision; committed_at (epoch ms, non-decreasing) serves quantization and GC.
        CREATE TABLE commits (revision INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL);
        CREATE INDEX commits_by_time ON commits (committed_at, revision);
        -- The change log for Watch, written in the committing transaction.
        CREATE TABLE changes (
          revision INTEGER NOT NULL,
          ordinal INTEGER NOT NULL,
          operation TEXT NOT NULL,
          ${RELATIONSHIP_COLUMNS},
          PRIMARY KEY (revision, ordinal)
        ) WITHOUT ROWID;
        CREATE TABLE schemas (revision INTEGER PRIMARY KEY, text TEXT NOT NULL);
      `);
      const put = db.prepare('INSERT INTO metadata (key, value) VALUES (?, ?)');
      put.run('datastore_id', randomUUID());
      put.run('oldest_readable', '0');
    },
  },
  {
    // The id range of the rows a commit of CREATE-only batches created: its Watch changes are those
    // rows (create-batches.ts). Builds before this version kept it in metadata, as `created_ids:<rev>`.
    version: 2,
    up: (db) => {
      db.exec(`
        ALTER TABLE commits ADD COLUMN created_from INTEGER;
        ALTER TABLE commits ADD COLUMN created_to INTEGER;
        UPDATE commits SET created_from = json_extract(m.value, '$[0]'), created_to = json_extract(m.value, '$[1]')
          FROM metadata m WHERE m.key = 'created_ids:' || commits.revision;
        DELETE FROM metadata WHERE key GLOB 'created_ids:*';
      `);
    },
  },
  {
    // A commit's transaction metadata (WriteRelationships/DeleteRelationships'
    // optional_transaction_metadata), as JSON text; NULL for none.
    version: 3,
    up: (db) => {
      db.exec('ALTER TABLE commits ADD COLUMN metadata TEXT');
    },
  },
  {
    // The OpenFGA front end's catalog (src/openfga/catalog/sqlite-catalog.ts): stores, their
    // immutable models and the models' assertions. Ids are ULIDs; times are epoch ms.
    version: 4,
    up: (db) => {
      db.exec(`
        CREATE TABLE openfga_stores (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          deleted_at INTEGER
        );
        CREATE INDEX openfga_stores_by_name ON openfga_stores (name, id) WHERE deleted_at IS NULL;
        CREATE TABLE openfga_models (
          store_id TEXT NOT NULL,
          id TEXT NOT NULL,
          model_json TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          PRIMARY KEY (store_id, id)
        ) WITHOUT ROWID;
        CREATE TABLE openfga_assertions (
          store_id TEXT NOT NULL,
          model_id TEXT NOT NULL,
          assertions_json TEXT NOT NULL,
          PRIMARY KEY (store_id, model_id)
        ) WITHOUT ROWID;
      `);
    },
  },
];

/** The migration version this build of Pemba creates and understands. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export type { MigrationResult } from '../common/migrations.js';

/** The migration version of `db`; 0 when it has no Pemba tables. */
export function sqliteSchemaVersion(db: BetterSqlite3.Database): number {
  const hasMetadata = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metadata'").get();
  if (!hasMetadata) return 0;
  const row = db.prepare("SELECT value FROM metadata WHERE key = 'migration_version'").get() as
    { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

/**
 * Bring `db` to SQLITE_SCHEMA_VERSION in one transaction (idempotent). Refuses a database migrated by a
 * newer Pemba rather than guessing at tables it does not know.
 */
export function migrateSqlite(db: BetterSqlite3.Database, where = 'the SQLite database'): MigrationResult {
  return db
    .transaction(() => {
      const from = sqliteSchemaVersion(db);
      if (from > SQLITE_SCHEMA_VERSION) throw newerSchema(where, from, SQLITE_SCHEMA_VERSION);
      for (const m of MIGRATIONS) if (m.version > from) m.up(db);
      db.prepare(
        "INSERT INTO metadata (key, value) VALUES ('migration_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ).run(String(SQLITE_SCHEMA_VERSION));
      const id = db.prepare("SELECT value FROM metadata WHERE key = 'datastore_id'").get() as { value: string };
      return { from, to: SQLITE_SCHEMA_VERSION, datastoreId: id.value };
    })
    .immediate();
}
