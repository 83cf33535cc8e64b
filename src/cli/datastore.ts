/** `pemba datastore migrate`: create or upgrade a datastore's tables (PostgreSQL needs it before `pemba serve`). */
import { Option } from 'commander';
import type { Command } from 'commander';
import { DATASTORE_ENGINES, DEFAULT_SQLITE_PATH, migrateDatastore } from '../datastore/factory.js';
import { envName } from '../server/config.js';
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

export function registerDatastore(program: Command): Command {
  const datastore = program.command('datastore').description('manage the datastore');
  datastore
    .command('migrate')
    .description('create or upgrade the datastore tables (idempotent; refuses a schema newer than this Pemba knows)')
    // The same flags and environment variables as `pemba serve`.
    .addOption(
      new Option('--datastore-engine <engine>', `the datastore engine (${DATASTORE_ENGINES.join(', ')})`)
        .env(envName('datastore-engine'))
        .default('sqlite'),
    )
    .addOption(
      new Option(
        '--datastore-conn-uri <uri>',
        `sqlite: a file path (default ${DEFAULT_SQLITE_PATH}); postgres: a postgres:// URI`,
      ).env(envName('datastore-conn-uri')),
    )
    .action(async (options: MigrateOptions) => {
      process.exitCode = await migrateCommand(options);
    });
  return datastore;
}
