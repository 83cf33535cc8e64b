/**
 * What the client commands (`pemba schema|relationship|permission|backup …`) share: their I/O
 * (injectable, so tests drive them in-process), the connection and consistency flags (zed's
 * names), argument parsing in zed's shapes, output (text by default, `--json`), and turning a
 * failure into one `error: …` line and an exit code: 2 for a bad argument or flag (nothing was
 * sent), 1 for a call that failed.
 */
import type { Readable, Writable } from 'node:stream';
import { v1 } from '@authzed/authzed-node';
import type { IMessageType } from '@protobuf-ts/runtime';
import type { Command, OptionValues } from 'commander';
import { Option } from 'commander';
import { relationship as fromApiRelationship } from '../../api/convert.js';
import { formatRelationship } from '../../relationships/relationship-string.js';
import { connect, describeCallError } from '../client-options.js';
import type { ClientOptions } from '../client-options.js';
import type { ProgressStream } from '../progress.js';

export interface ClientIO {
  /** One line of output (without its newline). */
  out(line: string): void;
  /** One line for stderr. */
  err(line: string): void;
  /** Bytes for stdout (a backup written to `-`). */
  stdout: Writable;
  /** Input when a command reads stdin (relationships to write, a schema, a backup from `-`). */
  stdin: Readable & { isTTY?: boolean };
  /** Where a progress bar is drawn (only if it is a TTY); none when left out. */
  progress?: ProgressStream;
  /** Ends a long-running command (watch) cleanly; SIGINT/SIGTERM do this on a terminal. */
  signal?: AbortSignal;
}

export const consoleIO: ClientIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  stdout: process.stdout,
  stdin: process.stdin,
  progress: process.stderr,
};

/** A bad argument or flag: reported with exit code 2, before anything is sent. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Parses the arguments, connects, runs, and turns any failure into one `error:` line and an exit
 * code. `run` returns the exit code (default 0).
 */
export async function runClientCommand<T>(
  options: ClientOptions,
  io: ClientIO,
  parse: () => T,
  run: (client: v1.ZedClientInterface, parsed: T) => Promise<number | void>,
): Promise<number> {
  let parsed: T;
  let client: v1.ZedClientInterface;
  try {
    parsed = parse();
    client = connect(options);
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 2;
  }
  try {
    return (await run(client, parsed)) ?? 0;
  } catch (error) {
    io.err(`error: ${error instanceof UsageError ? error.message : describeCallError(error, options)}`);
    for (const note of (error as { notes?: string[] }).notes ?? []) io.err(note);
    return error instanceof UsageError ? 2 : 1;
  } finally {
    client.close();
  }
}

/**
 * A client command as a function of its arguments, flags and I/O: `parse` checks the arguments and
 * flags (nothing is sent when it throws), `run` makes the calls (see runClientCommand).
 */
export function clientCommand<A, O extends ClientOptions, T>(
  parse: (args: A, options: O, io: ClientIO) => T,
  run: (client: v1.ZedClientInterface, parsed: T, options: O, io: ClientIO) => Promise<number | void>,
): (args: A, options: O, io?: ClientIO) => Promise<number> {
  return (args, options, io = consoleIO) =>
    runClientCommand(
      options,
      io,
      () => parse(args, options, io),
      (client, parsed) => run(client, parsed, options, io),
    );
}

/**
 * Makes `command` run `run` (a clientCommand) with the positional arguments given, in order, and the
 * flags; its exit code becomes the process's.
 */
export function clientAction<O extends OptionValues>(
  command: Command,
  run: (args: string[], options: O, io: ClientIO) => Promise<number>,
  io: ClientIO,
): Command {
  return command.action(async () => {
    const args = (command.processedArgs as (string | undefined)[]).filter((a): a is string => a !== undefined);
    process.exitCode = await run(args, command.opts<O>(), io);
  });
}

/**
 * The responses of a paged read (ReadRelationships, LookupResources): `page` is called for pages of
 * `pageLimit` (0: one unpaged call) until one comes back short or without a cursor. Pages after the
 * first are read at the first page's revision (`revisionOf` its responses), so the whole read is one
 * snapshot.
 */
export async function* pagedResponses<R extends { afterResultCursor?: v1.Cursor }>(
  pageLimit: number,
  first: { consistency?: v1.Consistency; cursor?: v1.Cursor },
  revisionOf: (response: R) => string | undefined,
  page: (consistency: v1.Consistency | undefined, cursor: v1.Cursor | undefined) => AsyncIterable<R>,
): AsyncGenerator<R> {
  let cursor = first.cursor;
  let at: string | undefined;
  for (;;) {
    const consistency: v1.Consistency | undefined = at
      ? { requirement: { oneofKind: 'atExactSnapshot', atExactSnapshot: { token: at } } }
      : first.consistency;
    let count = 0;
    for await (const response of page(consistency, cursor)) {
      count++;
      at ??= revisionOf(response);
      cursor = response.afterResultCursor;
      yield response;
    }
    if (pageLimit === 0 || count < pageLimit || !cursor) return;
  }
}

/** Attaches a line to print after the error's (what a failure left behind, what to do next). */
export function withNote(error: unknown, note: string): unknown {
  if (typeof error === 'object' && error !== null) {
    const e = error as { notes?: string[] };
    e.notes = [...(e.notes ?? []), note];
  }
  return error;
}

// ---------------------------------------------------------------------------------------------
// Flags

export interface ConsistencyOptions {
  consistencyMinLatency?: boolean;
  consistencyFull?: boolean;
  consistencyAtLeast?: string;
  consistencyAtExactly?: string;
}

export function addConsistencyOptions(command: Command): Command {
  return command
    .addOption(new Option('--consistency-min-latency', 'evaluate at the revision the server prefers (the default)'))
    .addOption(new Option('--consistency-full', 'evaluate at the newest revision'))
    .addOption(
      new Option('--consistency-at-least <zedtoken>', 'evaluate at a revision at least as fresh as this token'),
    )
    .addOption(new Option('--consistency-at-exactly <zedtoken>', "evaluate at exactly this token's revision"));
}

/** The consistency the flags ask for (zed's: minimize latency unless one flag says otherwise). */
export function consistencyFrom(options: ConsistencyOptions): v1.Consistency {
  const chosen: v1.Consistency['requirement'][] = [];
  if (options.consistencyMinLatency) chosen.push({ oneofKind: 'minimizeLatency', minimizeLatency: true });
  if (options.consistencyFull) chosen.push({ oneofKind: 'fullyConsistent', fullyConsistent: true });
  if (options.consistencyAtLeast !== undefined)
    chosen.push({ oneofKind: 'atLeastAsFresh', atLeastAsFresh: { token: nonEmpty(options.consistencyAtLeast) } });
  if (options.consistencyAtExactly !== undefined)
    chosen.push({
      oneofKind: 'atExactSnapshot',
      atExactSnapshot: { token: nonEmpty(options.consistencyAtExactly) },
    });
  if (chosen.length > 1)
    throw new UsageError(
      'provided multiple consistency flags: choose one of --consistency-min-latency, --consistency-full, --consistency-at-least, --consistency-at-exactly',
    );
  return v1.Consistency.create({ requirement: chosen[0] ?? { oneofKind: 'minimizeLatency', minimizeLatency: true } });
}

function nonEmpty(token: string): string {
  if (!token.trim()) throw new UsageError('a consistency token must not be empty');
  return token.trim();
}

export interface JsonOption {
  json?: boolean;
}

export function addJsonOption(command: Command, what = 'output as JSON'): Command {
  return command.addOption(new Option('--json', what));
}

// ---------------------------------------------------------------------------------------------
// Arguments in zed's shapes

const TYPE = /^[a-z][a-z0-9_]*(\/[a-z][a-z0-9_]*)*$/;

/** `document:1` → an ObjectReference. */
export function parseObjectArg(text: string, what = 'resource'): v1.ObjectReference {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1)
    throw new UsageError(`${what} \`${text}\` must have the form type:id (e.g. document:readme)`);
  const objectType = text.slice(0, colon);
  if (!TYPE.test(objectType)) throw new UsageError(`${what} type \`${objectType}\` is not a valid definition name`);
  return { objectType, objectId: text.slice(colon + 1) };
}

/** `user:alice`, `group:eng#member` → a SubjectReference. */
export function parseSubjectArg(text: string): v1.SubjectReference {
  const hash = text.indexOf('#');
  const object = parseObjectArg(hash < 0 ? text : text.slice(0, hash), 'subject');
  const relation = hash < 0 ? '' : text.slice(hash + 1);
  if (hash >= 0 && !relation) throw new UsageError(`subject \`${text}\` has an empty relation after \`#\``);
  return { object, optionalRelation: relation === '...' ? '' : relation };
}

/** `user` or `group#member` (lookup-subjects' subject type). */
export function parseSubjectType(text: string): { type: string; relation: string } {
  const [type, relation = '', ...rest] = text.split('#');
  if (!TYPE.test(type) || rest.length > 0)
    throw new UsageError(`subject type \`${text}\` must have the form type or type#relation (e.g. user, group#member)`);
  return { type, relation: relation === '...' ? '' : relation };
}

/** A caveat context given as JSON (--caveat-context, --caveat NAME:{…}). */
export function parseContext(text: string, flag: string): v1.PbStruct {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`${flag} must be a JSON object, e.g. '{"ip":"10.0.0.1"}'`);
  return v1.PbStruct.fromJson(value as never);
}

export function parsePositiveInt(value: string | number, flag: string, allowZero = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || (n === 0 && !allowZero))
    throw new UsageError(`${flag} must be a ${allowZero ? 'non-negative' : 'positive'} integer, not "${value}"`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Output

/** A response as zed prints it with --json: the message's canonical JSON, indented. */
export function prettyJson<T extends object>(type: IMessageType<T>, message: T): string {
  return type.toJsonString(message, { prettySpaces: 2 });
}

/** A streamed response as one line of JSON (JSON lines: one per result). */
export function jsonLine<T extends object>(type: IMessageType<T>, message: T): string {
  return type.toJsonString(message);
}

/** `document:1#viewer@user:alice[caveat:{…}][expiration:…]`, the text form `pemba import` reads. */
export function relationshipString(r: v1.Relationship): string {
  return formatRelationship(fromApiRelationship(r));
}

/** zed's `relationship read` line: `document:1 viewer user:alice` (then any caveat and expiration). */
export function relationshipLine(r: v1.Relationship): string {
  return relationshipString(r).replace('#', ' ').replace('@', ' ');
}

/** An ObjectReference as `type:id`. */
export const objectText = (o: v1.ObjectReference | undefined) => `${o?.objectType}:${o?.objectId}`;

/** A SubjectReference as `type:id` or `type:id#relation`. */
export const subjectText = (s: v1.SubjectReference | undefined) =>
  `${objectText(s?.object)}${s?.optionalRelation ? `#${s.optionalRelation}` : ''}`;

/** Reads all of a stream as text. */
export async function readAll(stream: AsyncIterable<Buffer | string>): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  return text;
}
