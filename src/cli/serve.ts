/** `pemba serve`: the SpiceDB-compatible server (gRPC, optional HTTP/JSON gateway). */
import { Command } from 'commander';
import { ConfigError, envName, resolveServeConfig, SERVE_FLAGS, spicedbEnvName } from '../server/config.js';
import type { RawFlags } from '../server/config.js';
import { DATASTORE_ENGINES } from '../datastore/factory.js';
import { createLogger } from '../server/logger.js';
import { startServer } from '../server/server.js';
import { addFlags } from './env.js';
import { runUntilSignalled } from './run-server.js';

export function registerServe(program: Command): Command {
  const serve = program
    .command('serve')
    .description(
      "serve the permissions database: authzed.api.v1 over gRPC and (with --http-enabled) HTTP/JSON; with --openfga-enabled, OpenFGA's HTTP API too",
    )
    .addHelpText(
      'after',
      `
Every flag can also be set from the environment: --grpc-preshared-key is ${envName('grpc-preshared-key')}, and so on.
SpiceDB's names are read too (${spicedbEnvName('grpc-preshared-key')}, …); PEMBA_ wins when both are set.
Durations take Go's units and days: 500ms, 90m, 1h30m, 1d.

Examples:
  pemba serve --grpc-preshared-key "somerandomkeyhere"
  ${envName('grpc-preshared-key')}=somerandomkeyhere pemba serve --http-enabled --log-format console
  pemba serve --grpc-preshared-key "somerandomkeyhere" --openfga-enabled --openfga-http-addr :8080`,
    );

  addFlags(serve, SERVE_FLAGS);

  serve.action(async (opts: RawFlags) => {
    let config;
    try {
      config = resolveServeConfig(opts, process.stderr.isTTY === true);
    } catch (error) {
      if (error instanceof ConfigError) serve.error(`error: ${error.message}`);
      throw error;
    }
    if (!(DATASTORE_ENGINES as readonly string[]).includes(config.datastoreEngine)) {
      serve.error(
        `error: unknown datastore engine "${config.datastoreEngine}": supported engines are ${DATASTORE_ENGINES.join(', ')}`,
      );
    }
    const logger = createLogger(config.logLevel, config.logFormat);
    await runUntilSignalled(() => startServer(config, { logger }), logger);
  });
  return serve;
}
