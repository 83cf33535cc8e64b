/** `pemba serve-testing`: SpiceDB's testing server (a separate in-memory datastore per bearer token). */
import type { Command } from 'commander';
import { addFlags } from './env.js';
import { runUntilSignalled } from './run-server.js';
import { ConfigError, envName } from '../server/config.js';
import type { RawFlags } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { resolveTestingConfig, SERVE_TESTING_FLAGS } from '../server/testing-config.js';
import { startTestingServer } from '../server/testing-server.js';

export function registerServeTesting(program: Command): Command {
  const command = program
    .command('serve-testing')
    .description(
      'test server with in-memory datastores: no authentication, each bearer token gets its own isolated datastore',
    )
    .addHelpText(
      'after',
      `
Every flag can also be set from the environment: --load-configs is ${envName('load-configs')} (or SPICEDB_LOAD_CONFIGS), and so on.

Examples:
  pemba serve-testing
  pemba serve-testing --load-configs schema-and-data.yaml --http-enabled`,
    );

  addFlags(command, SERVE_TESTING_FLAGS);

  command.action(async (opts: RawFlags) => {
    let config;
    try {
      config = resolveTestingConfig(opts, process.stderr.isTTY === true);
    } catch (error) {
      if (error instanceof ConfigError) command.error(`error: ${error.message}`);
      throw error;
    }
    const logger = createLogger(config.logLevel, config.logFormat);
    await runUntilSignalled(() => startTestingServer(config, { logger }), logger);
  });
  return command;
}
