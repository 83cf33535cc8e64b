/**
 * `pemba backup create|restore`: a running server's schema and relationships, at one revision, in
 * zed's backup format (backup-format.ts), so a backup taken with `zed backup create` restores into
 * Pemba and the other way round. `backup parse-schema|parse-revision|parse-relationships` read a
 * backup file without a server.
 */
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { Option } from 'commander';
import { addClientOptions } from '../client-options.js';
import type { ClientOptions } from '../client-options.js';
import { startProgress, summaryLine } from '../progress.js';
import { BackupFormatError, BackupWriter, readBackup } from './backup-format.js';
import type { Backup } from './backup-format.js';
import { consoleIO, parsePositiveInt, relationshipString, runClientCommand, UsageError, withNote } from './common.js';
import type { ClientIO } from './common.js';
import { loadRelationships } from './load.js';
import type { LoadMode } from './load.js';

export interface BackupCreateOptions extends ClientOptions {
  pageLimit?: string | number;
}

/** Opens FILE for a new backup (never over an existing file), or stdout for `-`. */
async function openOutput(file: string, io: ClientIO): Promise<{ out: Writable; close(ok: boolean): Promise<void> }> {
  if (file === '-') return { out: io.stdout, close: async () => undefined };
  const out: WriteStream = createWriteStream(file, { flags: 'wx' });
  try {
    await once(out, 'open');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`${file} already exists: remove it or choose another name`);
    throw new UsageError(`cannot create ${file}: ${(error as Error).message}`);
  }
  return {
    out,
    async close(ok) {
      if (ok) {
        await new Promise<void>((resolve, reject) =>
          out.end((error?: Error | null) => (error ? reject(error) : resolve())),
        );
      } else {
        out.destroy();
        rmSync(file, { force: true });
      }
    },
  };
}

/**
 * `pemba backup create FILE`: the schema (ReadSchema) and every relationship at the revision it was
 * read at (ExportBulkRelationships at that exact snapshot). FILE `-` is stdout.
 */
export function backupCreate(file: string, options: BackupCreateOptions, io: ClientIO = consoleIO): Promise<number> {
  const started = Date.now();
  return runClientCommand(
    options,
    io,
    () => parsePositiveInt(options.pageLimit ?? 0, '--page-limit', true),
    async (client, pageLimit) => {
      let schema: v1.ReadSchemaResponse;
      try {
        schema = await client.promises.readSchema(v1.ReadSchemaRequest.create());
      } catch (error) {
        if ((error as Partial<grpc.ServiceError>).code === grpc.status.NOT_FOUND)
          throw new Error('the server has no schema: there is nothing to back up');
        throw error;
      }
      const token = schema.readAt?.token;
      const output = await openOutput(file, io);
      const progress = startProgress(io.progress ?? { write: () => undefined }, 'backing up');
      let count = 0;
      let ok = false;
      try {
        const writer = new BackupWriter(output.out, schema.schemaText, token);
        const call = client.exportBulkRelationships(
          v1.ExportBulkRelationshipsRequest.create({
            consistency: token
              ? { requirement: { oneofKind: 'atExactSnapshot', atExactSnapshot: { token } } }
              : { requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } },
            optionalLimit: pageLimit,
          }),
        );
        for await (const page of call as AsyncIterable<v1.ExportBulkRelationshipsResponse>) {
          for (const r of page.relationships) await writer.append(r);
          count += page.relationships.length;
          progress.update(count);
        }
        await writer.finish();
        ok = true;
      } catch (error) {
        throw file === '-' ? error : withNote(error, `${file} was not written`);
      } finally {
        progress.clear();
        await output.close(ok);
      }
      io.err(
        `${summaryLine('backed up', count, Date.now() - started)}, with the schema, ${file === '-' ? 'to stdout' : `to ${file}`}${token ? ` (revision ${token})` : ''}`,
      );
    },
  );
}

export interface BackupRestoreOptions extends ClientOptions {
  conflictStrategy?: string;
  batchSize?: string | number;
}

export const CONFLICT_STRATEGIES = ['fail', 'touch', 'skip'] as const;
const MODE_OF: Record<(typeof CONFLICT_STRATEGIES)[number], LoadMode> = {
  fail: 'create',
  touch: 'touch',
  skip: 'skip',
};
export const DEFAULT_RESTORE_BATCH_SIZE = 1000;

function openInput(file: string, io: ClientIO): Readable {
  return file === '-' ? io.stdin : createReadStream(file);
}

async function openBackup(file: string, io: ClientIO): Promise<Backup> {
  try {
    return await readBackup(openInput(file, io));
  } catch (error) {
    throw describeFileError(file, error);
  }
}

function describeFileError(file: string, error: unknown): Error {
  if (error instanceof BackupFormatError) return new Error(`${file}: ${error.message}`);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES')
    return new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  return error as Error;
}

/**
 * `pemba backup restore FILE`: writes the backup's schema, then loads its relationships: with
 * --conflict-strategy fail (the default) in one ImportBulkRelationships transaction, with touch or
 * skip a batch per WriteRelationships call (client/load.ts).
 */
export function backupRestore(file: string, options: BackupRestoreOptions, io: ClientIO = consoleIO): Promise<number> {
  const started = Date.now();
  return runClientCommand(
    options,
    io,
    () => {
      const strategy = options.conflictStrategy ?? 'fail';
      if (!(CONFLICT_STRATEGIES as readonly string[]).includes(strategy))
        throw new UsageError(`--conflict-strategy must be one of ${CONFLICT_STRATEGIES.join(', ')}, not "${strategy}"`);
      if (file === '-' && io.stdin.isTTY) throw new UsageError('pipe the backup to stdin, or give a file');
      return {
        mode: MODE_OF[strategy as (typeof CONFLICT_STRATEGIES)[number]],
        batchSize: parsePositiveInt(options.batchSize ?? DEFAULT_RESTORE_BATCH_SIZE, '--batch-size'),
      };
    },
    async (client, { mode, batchSize }) => {
      const backup = await openBackup(file, io);
      let schemaWritten = false;
      let handled = 0;
      const progress = startProgress(io.progress ?? { write: () => undefined }, 'restoring');
      try {
        await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: backup.schema }));
        schemaWritten = true;
        async function* relationships(): AsyncIterable<v1.Relationship> {
          try {
            yield* backup.relationships();
          } catch (error) {
            throw describeFileError(file, error);
          }
        }
        const { written, skipped } = await loadRelationships(client, relationships(), {
          mode,
          batchSize,
          onProgress: (count) => {
            handled = count;
            progress.update(count);
          },
        });
        progress.clear();
        const summary = summaryLine('restored', written, Date.now() - started);
        io.err(`${summary}, and the schema${skipped > 0 ? `; skipped ${skipped} that already existed` : ''}`);
      } catch (error) {
        progress.clear();
        if (!schemaWritten) throw error;
        throw withNote(
          error,
          mode === 'create'
            ? 'the schema was written; no relationships were (they are restored in one transaction)'
            : `the schema was written, and ${handled} relationships before the error; restoring again with the same --conflict-strategy completes it`,
        );
      } finally {
        await backup.close();
      }
    },
  );
}

export type BackupParseWhat = 'schema' | 'revision' | 'relationships';

/** `pemba backup parse-schema|parse-revision|parse-relationships FILE`: no server needed. */
export async function backupParse(what: BackupParseWhat, file: string, io: ClientIO = consoleIO): Promise<number> {
  let backup: Backup | undefined;
  try {
    backup = await openBackup(file, io);
    if (what === 'schema') io.out(backup.schema);
    else if (what === 'revision') {
      if (!backup.token) throw new Error(`${file} records no revision`);
      io.out(backup.token);
    } else {
      try {
        for await (const r of backup.relationships()) io.out(relationshipString(r));
      } catch (error) {
        throw describeFileError(file, error);
      }
    }
    return 0;
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return error instanceof UsageError ? 2 : 1;
  } finally {
    await backup?.close();
  }
}

export function registerBackup(program: Command, io: ClientIO = consoleIO): Command {
  const backup = program
    .command('backup')
    .description("back up a running server's schema and relationships, and restore them (zed's backup format)");

  const create = backup
    .command('create')
    .argument('<file>', 'the backup file to write (must not exist); - for stdout')
    .description('back up the schema and every relationship, at one revision')
    .addOption(
      new Option(
        '--page-limit <n>',
        "relationships per ExportBulkRelationships page (0: the server's default)",
      ).default('0'),
    );
  addClientOptions(create)
    .addHelpText(
      'after',
      `
The file is zed's backup format (an Avro container holding the schema, the revision and the
relationships), so \`zed backup restore\` reads it and \`pemba backup restore\` reads zed's.

Examples:
  pemba backup create --insecure --token somerandomkeyhere pemba.backup
  pemba backup create - > pemba.backup`,
    )
    .action(async (file: string) => {
      process.exitCode = await backupCreate(file, create.opts<BackupCreateOptions>(), io);
    });

  const restore = backup
    .command('restore')
    .argument('<file>', 'a backup file (from pemba or zed backup create); - for stdin')
    .description("write a backup's schema to a running server, then its relationships")
    .addOption(
      new Option(
        '--conflict-strategy <strategy>',
        'when a relationship already exists: fail (one transaction, nothing restored), touch (overwrite it) or skip (keep it)',
      )
        .choices([...CONFLICT_STRATEGIES])
        .default('fail'),
    )
    .addOption(
      new Option(
        '--batch-size <n>',
        'relationships per ImportBulkRelationships message (fail) or WriteRelationships call (touch, skip)',
      ).default(String(DEFAULT_RESTORE_BATCH_SIZE)),
    );
  addClientOptions(restore)
    .addHelpText(
      'after',
      `
Examples:
  pemba backup restore --insecure --token somerandomkeyhere pemba.backup
  pemba backup restore --conflict-strategy touch zed-export.backup`,
    )
    .action(async (file: string) => {
      process.exitCode = await backupRestore(file, restore.opts<BackupRestoreOptions>(), io);
    });

  const parse = (what: BackupParseWhat, description: string) =>
    backup
      .command(`parse-${what}`)
      .argument('<file>', 'a backup file; - for stdin')
      .description(description)
      .action(async (file: string) => {
        process.exitCode = await backupParse(what, file, io);
      });
  parse('schema', "print a backup's schema");
  parse('revision', 'print the revision (ZedToken) a backup was taken at');
  parse('relationships', "print a backup's relationships, one per line (the text format `pemba import` reads)");
  return backup;
}
