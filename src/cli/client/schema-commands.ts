/**
 * `pemba schema read` and `pemba schema write [FILE]`: a running server's schema, as zed's commands.
 * addSchemaClientCommands adds both to a `schema` command, whoever owns it (`pemba schema compile`
 * lives beside them).
 */
import { readFileSync } from 'node:fs';
import { v1 } from '@authzed/authzed-node';
import type { Command } from 'commander';
import { addClientOptions } from '../client-options.js';
import type { ClientOptions } from '../client-options.js';
import {
  addJsonOption,
  clientCommand,
  consoleIO,
  prettyJson,
  readAll,
  runClientCommand,
  UsageError,
} from './common.js';
import type { ClientIO, JsonOption } from './common.js';

export type SchemaReadOptions = ClientOptions & JsonOption;

/** `pemba schema read`: the schema text (or the ReadSchemaResponse with --json). */
export function schemaRead(options: SchemaReadOptions, io: ClientIO = consoleIO): Promise<number> {
  return runClientCommand(
    options,
    io,
    () => undefined,
    async (client) => {
      const response = await client.promises.readSchema(v1.ReadSchemaRequest.create());
      io.out(options.json ? prettyJson(v1.ReadSchemaResponse, response) : response.schemaText);
    },
  );
}

export type SchemaWriteOptions = ClientOptions & JsonOption;

/** `pemba schema write [FILE]`: FILE, or stdin when there is none (or it is `-`). Silent unless --json. */
export const schemaWrite = clientCommand(
  (file: string | undefined, options: SchemaWriteOptions, io: ClientIO) => {
    if ((file === undefined || file === '-') && io.stdin.isTTY)
      throw new UsageError('give a schema file, or pipe the schema to stdin');
    return file;
  },
  async (client, file, options, io) => {
    let schema: string;
    if (file === undefined || file === '-') {
      schema = await readAll(io.stdin);
    } else {
      try {
        schema = readFileSync(file, 'utf8');
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
      }
    }
    if (!schema.trim()) throw new UsageError('attempted to write an empty schema');
    const response = await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
    if (options.json) io.out(prettyJson(v1.WriteSchemaResponse, response));
  },
);

/** Adds `read` and `write` to a `schema` command. */
export function addSchemaClientCommands(schema: Command, io: ClientIO = consoleIO): Command {
  const read = schema.command('read').description("print a running server's schema (ReadSchema)");
  addJsonOption(read, 'print the ReadSchemaResponse as JSON');
  addClientOptions(read).action(async (options: SchemaReadOptions) => {
    process.exitCode = await schemaRead(options, io);
  });

  const write = schema
    .command('write')
    .argument('[file]', 'the schema file (.zed); stdin when left out or `-`')
    .description('write a schema to a running server (WriteSchema); prints nothing on success');
  addJsonOption(write, 'print the WriteSchemaResponse (with its written_at token) as JSON');
  addClientOptions(write)
    .addHelpText(
      'after',
      `
Examples:
  pemba schema write --insecure --token somerandomkeyhere schema.zed
  cat schema.zed | pemba schema write --insecure --token somerandomkeyhere`,
    )
    .action(async (file: string | undefined, options: SchemaWriteOptions) => {
      process.exitCode = await schemaWrite(file, options, io);
    });
  return schema;
}
