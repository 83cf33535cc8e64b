/**
 * `pemba export`: every relationship of a running server, read with ExportBulkRelationships at one
 * revision, written as text or JSON lines to stdout or --output FILE.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { v1 } from '@authzed/authzed-node';
import type { Command } from 'commander';
import { Option } from 'commander';
import { relationship } from '../api/convert.js';
import { addClientOptions, connect, describeCallError } from './client-options.js';
import type { ClientOptions } from './client-options.js';
import { startProgress, summaryLine } from './progress.js';
import type { ProgressStream } from './progress.js';
import { formatOf, formatRelationshipLine, JSON_LINES_FORMAT, RELATIONSHIP_FORMATS } from './relationship-file.js';

export interface ExportOptions extends ClientOptions {
  format?: string;
  output?: string;
}

export interface ExportIO {
  /** Where the relationships go without --output. */
  stdout: Writable;
  /** Errors, the progress bar (on a TTY) and the summary line. */
  stderr: ProgressStream;
}

const consoleIO: ExportIO = { stdout: process.stdout, stderr: process.stderr };

/** Exports; returns the process exit code. */
export async function exportCommand(options: ExportOptions, io: ExportIO = consoleIO): Promise<number> {
  const started = Date.now();
  let client: v1.ZedClientInterface;
  let format;
  try {
    format = formatOf(options.output, options.format);
    client = connect(options);
  } catch (error) {
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }
  const out = options.output ? createWriteStream(options.output) : io.stdout;
  const progress = startProgress(io.stderr, 'exporting');
  let count = 0;
  try {
    const call = client.exportBulkRelationships(
      v1.ExportBulkRelationshipsRequest.create({
        consistency: v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } }),
      }),
    );
    for await (const response of call as AsyncIterable<v1.ExportBulkRelationshipsResponse>) {
      let chunk = '';
      for (const r of response.relationships) chunk += `${formatRelationshipLine(relationship(r), format)}\n`;
      count += response.relationships.length;
      if (!out.write(chunk)) await once(out, 'drain');
      progress.update(count);
    }
    if (options.output)
      await new Promise<void>((resolve, reject) =>
        out.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    progress.clear();
    io.stderr.write(`${summaryLine('exported', count, Date.now() - started)}\n`);
    return 0;
  } catch (error) {
    progress.clear();
    if (options.output) out.destroy();
    io.stderr.write(`error: ${describeCallError(error, options)}\n`);
    if (options.output) io.stderr.write(`${options.output} is incomplete (${count} relationships written)\n`);
    return 1;
  } finally {
    client.close();
  }
}

export function registerExport(program: Command): Command {
  const command = program
    .command('export')
    .description(
      'write every relationship of a running server (ExportBulkRelationships, at one revision) to stdout or a file',
    )
    .addOption(new Option('--output <file>', 'write to this file instead of stdout'))
    .addOption(
      new Option(
        '--format <format>',
        `${RELATIONSHIP_FORMATS.join(' or ')} (default: jsonl when --output ends in .jsonl/.ndjson/.json, text otherwise)`,
      ).choices([...RELATIONSHIP_FORMATS]),
    );
  addClientOptions(command).addHelpText(
    'after',
    `
Formats (what \`pemba import\` reads back):
  text: one relationship per line, e.g. document:readme#reader@group:eng#member
  ${JSON_LINES_FORMAT.replace(/\n/g, '\n  ')}

A progress line is drawn on stderr on a terminal; a summary line goes to stderr at the end.

Examples:
  pemba export --insecure --token somerandomkeyhere > relationships.txt
  PEMBA_TOKEN=somerandomkeyhere pemba export --endpoint pemba.internal:50051 --output backup.jsonl`,
  );
  return command.action(async (options: ExportOptions) => {
    process.exitCode = await exportCommand(options);
  });
}
