/**
 * `pemba datastore …`, SpiceDB's `spicedb datastore` commands:
 * - `migrate`: create or upgrade a datastore's tables (PostgreSQL needs it before `pemba serve`);
 * - `head`: print the newest migration this Pemba knows for the engine (what `migrate` brings a
 *   datastore to), without connecting to anything;
 * - `gc`: run one garbage collection now, with the server's --datastore-gc-window;
 * - `repair`: SpiceDB repairs PostgreSQL transaction ids after a restore; Pemba has nothing to
 *   repair (see REPAIR_REFUSAL) and says so.
 * Options and environment variables are those of `pemba serve` (PEMBA_…, or SpiceDB's SPICEDB_…).
 */
import { existsSync } from 'node:fs';
import { Option } from 'commander';
import type { Command } from 'commander';
import {
  DATASTORE_ENGINES,
  DEFAULT_SQLITE_PATH,
  headMigration,
  migrateDatastore,
  openDatastore,
} from '../datastore/factory.js';
import { ConfigError, envName, parseDuration } from '../server/config.js';
import { withSpicedbEnv } from './env.js';
import type { Output } from './validate.js';

const consoleOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export interface MigrateOptions {
  datastoreEngine: string;
  datastoreConnUri?: string;
}

/** Migrates; returns the process exit code. */
export async function migrateCommand(options: MigrateOptions, output: Output = consoleOutput): Promise<number> {
  const engine = options.datastoreEngine;
  try {
    const result = await migrateDatastore({ engine, connUri: options.datastoreConnUri });
    if (result.engine === 'memory') {
      output.out('the memory datastore has no tables to migrate');
    } else if (result.from === result.to) {
      output.out(`${engine} datastore already at schema version ${result.to} (datastore id ${result.datastoreId})`);
    } else {
      output.out(
        `${engine} datastore migrated from schema version ${result.from} to ${result.to} (datastore id ${result.datastoreId})`,
      );
    }
    return 0;
  } catch (error) {
    output.err(`error: ${(error as Error).message}`);
    return 1;
  }
}

/** `pemba datastore head`: the newest migration version for the engine, alone on one line. */
export function headCommand(options: Pick<MigrateOptions, 'datastoreEngine'>, output: Output = consoleOutput): number {
  try {
    output.out(String(headMigration(options.datastoreEngine)));
    return 0;
  } catch (error) {
    output.err(`error: unable to compute head revision: ${(error as Error).message}`);
    return 1;
  }
}

export interface GcOptions extends MigrateOptions {
  /** A duration (e.g. 24h, 1d): superseded revisions older than this are collected. */
  datastoreGcWindow: string;
}

/** `pemba datastore gc`: one garbage collection now; returns the process exit code. */
export async function gcCommand(options: GcOptions, output: Output = consoleOutput): Promise<number> {
  const engine = options.datastoreEngine;
  if (engine === 'memory') {
    output.err(
      "error: datastore of type 'memory' does not support garbage collection from the command line: a memory datastore lives in its server's process (which collects it every --datastore-gc-interval)",
    );
    return 1;
  }
  let gcWindowMs: number;
  try {
    gcWindowMs = parseDuration(options.datastoreGcWindow, 'datastore-gc-window');
    if (gcWindowMs <= 0) throw new ConfigError('--datastore-gc-window must be longer than 0');
  } catch (error) {
    output.err(`error: ${(error as Error).message}`);
    return 1;
  }
  const sqlitePath = options.datastoreConnUri || DEFAULT_SQLITE_PATH;
  if (engine === 'sqlite' && !existsSync(sqlitePath)) {
    output.err(`error: failed to create datastore: there is no SQLite datastore at ${sqlitePath}`);
    return 1;
  }
  let datastore;
  try {
    // No background GC, and no in-memory copy of the relationships: this process only collects.
    datastore = await openDatastore({
      engine,
      connUri: options.datastoreConnUri,
      gcWindowMs,
      gcIntervalMs: 0,
      mirror: { enabled: false },
    });
  } catch (error) {
    output.err(`error: failed to create datastore: ${(error as Error).message}`);
    return 1;
  }
  try {
    const result = await datastore.gc();
    output.out(
      `garbage collection completed: ${result.versions} relationship versions and ${result.commits} change-log entries removed; the oldest readable revision is ${result.oldestReadable} (--datastore-gc-window ${options.datastoreGcWindow})`,
    );
    return 0;
  } catch (error) {
    output.err(`error: garbage collection failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await datastore.close();
  }
}

/**
 * Why `pemba datastore repair` has nothing to do. SpiceDB's one repair operation (postgres,
 * `transaction-ids`) advances PostgreSQL's transaction id counter after a restore, because SpiceDB's
 * revisions are PostgreSQL transaction ids; Pemba numbers revisions itself, in its `commits` table,
 * which a backup restores with the data.
 */
export const REPAIR_REFUSAL =
  "Pemba's datastores have no repair operations: revisions are numbered by Pemba in the datastore's own commits table (not PostgreSQL transaction ids, which SpiceDB's `repair transaction-ids` advances after a restore), so a datastore restored from a backup (pg_dump/pg_restore, a copied SQLite file) needs no repair. Run `pemba datastore migrate` after restoring into a new database if it reports an older schema version.";

/** `pemba datastore repair [operation]`: refuses, saying why; returns the process exit code. */
export function repairCommand(
  options: Pick<MigrateOptions, 'datastoreEngine'>,
  operation: string | undefined,
  output: Output = consoleOutput,
): number {
  const engine = options.datastoreEngine;
  const what = operation ? `repair operation \`${operation}\`` : 'the repair operation';
  output.err(`error: datastore of type '${engine}' does not support ${what}. ${REPAIR_REFUSAL}`);
  return 1;
}

const engineOption = (fallback: string) =>
  new Option('--datastore-engine <engine>', `the datastore engine (${DATASTORE_ENGINES.join(', ')})`)
    .env(envName('datastore-engine'))
    .default(fallback);

const connUriOption = () =>
  new Option(
    '--datastore-conn-uri <uri>',
    `sqlite: a file path (default ${DEFAULT_SQLITE_PATH}); postgres: a postgres:// URI`,
  ).env(envName('datastore-conn-uri'));

export function registerDatastore(program: Command): Command {
  const datastore = program
    .command('datastore')
    .description('manage the datastore')
    .addHelpText(
      'after',
      "\nOptions are also read from PEMBA_<FLAG> or SpiceDB's SPICEDB_<FLAG> (e.g. SPICEDB_DATASTORE_CONN_URI); PEMBA_ wins.",
    );
  datastore
    .command('migrate')
    .description('create or upgrade the datastore tables (idempotent; refuses a schema newer than this Pemba knows)')
    // The same flags and environment variables as `pemba serve`.
    .addOption(engineOption('sqlite'))
    .addOption(connUriOption())
    .action(async (options: MigrateOptions) => {
      process.exitCode = await migrateCommand(options);
    });
  datastore
    .command('head')
    .description('print the newest migration version this Pemba knows for the engine (what migrate brings it to)')
    .addOption(engineOption('sqlite'))
    .action((options: MigrateOptions) => {
      process.exitCode = headCommand(options);
    });
  datastore
    .command('gc')
    .description('run garbage collection once, now: drop what is older than --datastore-gc-window')
    .addOption(engineOption('sqlite'))
    .addOption(connUriOption())
    .addOption(
      new Option('--datastore-gc-window <duration>', 'how long superseded revisions stay readable (e.g. 24h, 1d)')
        .env(envName('datastore-gc-window'))
        .default('24h'),
    )
    .action(async (options: GcOptions) => {
      process.exitCode = await gcCommand(options);
    });
  datastore
    .command('repair')
    .argument('[operation]', "SpiceDB's repair operation (e.g. transaction-ids)")
    .description('SpiceDB repairs PostgreSQL transaction ids after a restore; Pemba has nothing to repair and says why')
    .addOption(engineOption('sqlite'))
    .addOption(connUriOption())
    .action((operation: string | undefined, options: MigrateOptions) => {
      process.exitCode = repairCommand(options, operation);
    });
  withSpicedbEnv(datastore);
  return datastore;
}
