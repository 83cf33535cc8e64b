/**
 * `pemba/sqlite`: the SQLite datastore (better-sqlite3, a native module), for Node only. The main
 * entry `pemba` stays free of it so that it can be bundled for browsers and edge runtimes.
 *
 * @example
 * import { Pemba } from 'pemba';
 * import { openSqliteDatastore } from 'pemba/sqlite';
 * const pemba = await Pemba.open({ datastore: openSqliteDatastore('./pemba.db') }); // created and migrated on open
 */
export { openSqliteDatastore, SqliteDatastore } from './datastore/sqlite/datastore.js';
export type { SqliteDatastoreOptions } from './datastore/sqlite/datastore.js';
export type { MigrationResult as SqliteMigrationResult } from './datastore/sqlite/migrations.js';
export type { GcResult } from './datastore/common/options.js';
