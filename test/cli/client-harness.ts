/**
 * Drives the client commands (`pemba schema|relationship|permission|backup …`) in-process through
 * commander, with captured I/O, against a real server from startTestServer.
 */
import { Readable, Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { registerBackup } from '../../src/cli/client/backup.js';
import type { ClientIO } from '../../src/cli/client/common.js';
import { registerPermission } from '../../src/cli/client/permission.js';
import { registerRelationship } from '../../src/cli/client/relationship.js';
import { addSchemaClientCommands } from '../../src/cli/client/schema-commands.js';
import { KEY } from '../server/harness.js';

export interface Captured extends ClientIO {
  lines: string[];
  errors: string[];
  /** Bytes written to stdout (a backup to `-`). */
  bytes(): Buffer;
}

export function capture(stdin: string | Buffer = '', options: { tty?: boolean; signal?: AbortSignal } = {}): Captured {
  const lines: string[] = [];
  const errors: string[] = [];
  const chunks: Buffer[] = [];
  const stdinStream = Object.assign(Readable.from([Buffer.from(stdin)]), { isTTY: options.tty ?? false });
  return {
    lines,
    errors,
    out: (line) => lines.push(line),
    err: (line) => errors.push(line),
    stdout: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(Buffer.from(chunk));
        callback();
      },
    }),
    stdin: stdinStream,
    signal: options.signal,
    bytes: () => Buffer.concat(chunks),
  };
}

export interface Result {
  code: number;
  out: string[];
  err: string[];
  io: Captured;
}

/** A `pemba` program with the client commands, writing to `io`. */
export function program(io: Captured): Command {
  const p = new Command('pemba').exitOverride().configureOutput({
    writeOut: (text) => io.out(text.trimEnd()),
    writeErr: (text) => io.err(text.trimEnd()),
  });
  addSchemaClientCommands(p.command('schema'), io);
  registerRelationship(p, io);
  registerPermission(p, io);
  registerBackup(p, io);
  return p;
}

/** Runs `pemba ARGS` in-process; returns its exit code and output. */
export async function run(args: string[], io: Captured = capture()): Promise<Result> {
  const saved = process.exitCode;
  process.exitCode = undefined;
  let code: number;
  try {
    await program(io).parseAsync(args, { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    code = error.exitCode;
  } finally {
    process.exitCode = saved;
  }
  return { code, out: io.lines, err: io.errors, io };
}

/** The connection flags for a test server. */
export const connection = (endpoint: string) => ['--endpoint', endpoint, '--token', KEY, '--insecure'];

/** Waits until `ready()` holds (polling), or fails after `ms`. */
export async function until(ready: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const SCHEMA = `use expiration

definition user {}

caveat on_level(level int, required int) {
  level >= required
}

definition group {
  relation member: user | group#member
}

definition document {
  relation owner: user
  relation viewer: user | user:* | group#member | user with on_level | user with expiration
  relation banned: user
  permission edit = owner
  permission view = (viewer + edit) - banned
}`;
