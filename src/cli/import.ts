/**
 * `pemba import FILE`: loads relationships into a running server, streaming the file in batches
 * (it is read twice, never held in memory). The first pass parses every line and checks it against
 * the server's schema, so a bad line is reported with its line number before anything is sent.
 * --mode chooses what happens to relationships that already exist (client/load.ts): `create` (the
 * default) imports with ImportBulkRelationships as one transaction, so an error the server finds (a
 * relationship that already exists) leaves nothing imported either; `touch` overwrites them and
 * `skip` leaves them as they are, both with WriteRelationships a batch at a time.
 */
import { statSync } from 'node:fs';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { Option } from 'commander';
import { toApiRelationship } from '../api/convert.js';
import { compileSchema, validateRelationship } from '../schema/index.js';
import type { CompiledSchema } from '../schema/ir.js';
import { addClientOptions, connect, describeCallError } from './client-options.js';
import type { ClientOptions } from './client-options.js';
import { LOAD_MODES, loadRelationships } from './client/load.js';
import type { LoadMode } from './client/load.js';
import { startProgress, summaryLine } from './progress.js';
import type { ProgressStream } from './progress.js';
import {
  formatOf,
  JSON_LINES_FORMAT,
  readRelationships,
  RELATIONSHIP_FORMATS,
  RelationshipFileError,
} from './relationship-file.js';
import type { RelationshipFormat } from './relationship-file.js';

export interface ImportOptions extends ClientOptions {
  format?: string;
  batchSize?: string | number;
  /** What to do with relationships that already exist: create (fail), touch (overwrite) or skip. */
  mode?: string;
}

export interface ImportIO {
  out(line: string): void;
  err(line: string): void;
  /** Where the progress bar goes (drawn only if it is a TTY). */
  progress: ProgressStream;
}

const consoleIO: ImportIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  progress: process.stderr,
};

export const DEFAULT_BATCH_SIZE = 1000;

/** Server answers that mean the transaction was refused (so nothing was written). */
const REFUSED = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.ALREADY_EXISTS,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.RESOURCE_EXHAUSTED,
]);

/** Imports; returns the process exit code. */
export async function importCommand(file: string, options: ImportOptions, io: ImportIO = consoleIO): Promise<number> {
  const started = Date.now();
  let client: v1.ZedClientInterface;
  let format: RelationshipFormat;
  let batchSize;
  let size;
  let mode: LoadMode;
  try {
    format = formatOf(file, options.format);
    mode = modeOf(options.mode);
    batchSize = positiveInt(options.batchSize ?? DEFAULT_BATCH_SIZE, '--batch-size');
    size = statSync(file).size;
    client = connect(options);
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 2;
  }
  const checking = startProgress(io.progress, 'checking');
  const progress = startProgress(io.progress, 'importing');
  let handled = 0;
  try {
    const schema = await serverSchema(client);
    if (!schema) {
      io.err('error: the server has no schema yet: write one first (WriteSchema, or `zed schema write`), then import');
      return 1;
    }
    // First pass: parse and check every line, so that a bad line stops the import before anything
    // is sent. Cancelling the call later would not be a reliable rollback: a grpc-js client
    // half-closes the stream before it resets it, and a quick server may take that as the end.
    let total = 0;
    const first = readRelationships(file, format);
    for await (const { line, relationship } of first) {
      try {
        validateRelationship(schema, relationship);
      } catch (error) {
        throw new RelationshipFileError(file, line, (error as Error).message);
      }
      if (++total % batchSize === 0) checking.update(total, size > 0 ? first.bytesRead() / size : undefined);
    }
    checking.clear();

    async function* relationships(): AsyncIterable<v1.Relationship> {
      try {
        for await (const { relationship } of readRelationships(file, format)) yield toApiRelationship(relationship);
      } catch (error) {
        if (error instanceof RelationshipFileError)
          throw new Error(`${file} changed during the import (${error.message}); the import was cancelled`);
        throw error;
      }
    }
    const { written, skipped } = await loadRelationships(client, relationships(), {
      mode,
      batchSize,
      onProgress: (count) => {
        handled = count;
        progress.update(count, count / total);
      },
    });
    progress.clear();
    const ms = Date.now() - started;
    if (mode === 'touch') io.out(summaryLine('touched', written, ms));
    else if (mode === 'skip')
      io.out(`${summaryLine('imported', written, ms)}; skipped ${skipped} that already existed`);
    else io.out(summaryLine('imported', written, ms));
    return 0;
  } catch (error) {
    checking.clear();
    progress.clear();
    if (error instanceof RelationshipFileError) {
      io.err(`error: ${error.message}`);
      io.err('nothing was imported');
      return 1;
    }
    io.err(`error: ${describeCallError(error, options)}`);
    const code = (error as Partial<grpc.ServiceError>).code;
    if (mode !== 'create') {
      io.err(
        `${handled} relationships were ${mode === 'touch' ? 'written' : 'written or skipped'} before the error (with --mode ${mode} each batch commits on its own); importing the file again with --mode ${mode} completes it`,
      );
    } else if (code !== undefined && REFUSED.has(code)) io.err('nothing was imported (an import is one transaction)');
    return 1;
  } finally {
    client.close();
  }
}

/** The server's schema, compiled; undefined when it has none. */
async function serverSchema(client: v1.ZedClientInterface): Promise<CompiledSchema | undefined> {
  try {
    const { schemaText } = await client.promises.readSchema(v1.ReadSchemaRequest.create());
    return compileSchema(schemaText);
  } catch (error) {
    if ((error as Partial<grpc.ServiceError>).code === grpc.status.NOT_FOUND) return undefined;
    throw error;
  }
}

function modeOf(value: string | undefined): LoadMode {
  if (value === undefined) return 'create';
  if ((LOAD_MODES as readonly string[]).includes(value)) return value as LoadMode;
  throw new Error(`--mode must be one of ${LOAD_MODES.join(', ')}, not "${value}"`);
}

function positiveInt(value: string | number, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, not "${value}"`);
  return n;
}

export function registerImport(program: Command): Command {
  const command = program
    .command('import')
    .argument('<file>', 'relationships: text (one relationship per line), a validation YAML file, or JSON lines')
    .description('load relationships into a running server (by default with ImportBulkRelationships: all or nothing)')
    .addOption(
      new Option(
        '--format <format>',
        `${RELATIONSHIP_FORMATS.join(' or ')} (default: jsonl for .jsonl/.ndjson/.json files, text otherwise)`,
      ).choices([...RELATIONSHIP_FORMATS]),
    )
    .addOption(
      new Option(
        '--mode <mode>',
        'create: one transaction, failing if a relationship exists; touch: overwrite existing ones; skip: keep existing ones',
      )
        .choices([...LOAD_MODES])
        .default('create'),
    )
    .addOption(
      new Option(
        '--batch-size <n>',
        'relationships per ImportBulkRelationships message (create) or per WriteRelationships call (touch, skip)',
      ).default(String(DEFAULT_BATCH_SIZE)),
    );
  addClientOptions(command).addHelpText(
    'after',
    `
Formats:
  text: one relationship per line, as in validation files; blank lines and // comments are skipped:
    document:readme#reader@group:eng#member
    document:readme#reader@user:*
    document:readme#reader@user:ann[on_weekdays:{"days":[1,2,3,4,5]}][expiration:2030-01-01T00:00:00Z]
  A .yaml/.yml file is read as a validation file: its \`relationships\` block is imported (the schema
  must already be on the server).
  ${JSON_LINES_FORMAT.replace(/\n/g, '\n  ')}

The server's schema must allow every relationship (every line is checked before anything is sent).
--mode create (the default): a relationship that already exists fails the import, which is one
transaction: on any error nothing is imported. --mode touch overwrites relationships that exist
(caveat and expiration replaced); --mode skip leaves them as they are. touch and skip write a batch
per WriteRelationships call (at most the server's --write-relationships-max-updates-per-call, 1000
by default), each committed on its own: after an error, importing the same file again completes it.
On a terminal a progress bar is drawn on stderr; otherwise one summary line is printed at the end.

Examples:
  pemba import --insecure --token somerandomkeyhere relationships.txt
  pemba import --insecure --token somerandomkeyhere --mode touch relationships.txt
  PEMBA_TOKEN=somerandomkeyhere pemba import --endpoint pemba.internal:50051 export.jsonl`,
  );
  return command.action(async (file: string, options: ImportOptions) => {
    process.exitCode = await importCommand(file, options);
  });
}
