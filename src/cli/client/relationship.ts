/**
 * `pemba relationship create|touch|delete|read|watch`, in the shape of zed's commands:
 *
 *   pemba relationship create document:1 viewer user:alice
 *   pemba relationship touch document:1 viewer group:eng#member --caveat 'on_weekdays:{"days":[1,2]}'
 *   pemba relationship delete document:1 viewer user:alice
 *   pemba relationship read document:1 viewer
 *   pemba relationship watch document --revision GgYKBDEyMzQ=
 *
 * create/touch/delete take one relationship as three arguments, or many from stdin (one per line,
 * `resource relation subject` or `resource#relation@subject`), written --batch-size per
 * WriteRelationships call; each call prints the token it was written at.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { Option } from 'commander';
import { toApiRelationship } from '../../api/convert.js';
import { parseRelationship } from '../../relationships/relationship-string.js';
import type { Relationship } from '../../relationships/relationship.js';
import { addClientOptions } from '../client-options.js';
import type { ClientOptions } from '../client-options.js';
import {
  addConsistencyOptions,
  addJsonOption,
  clientAction,
  clientCommand,
  consistencyFrom,
  consoleIO,
  jsonLine,
  pagedResponses,
  parseContext,
  parsePositiveInt,
  prettyJson,
  readAll,
  relationshipLine,
  runClientCommand,
  UsageError,
} from './common.js';
import type { ClientIO, ConsistencyOptions, JsonOption } from './common.js';

export type WriteOperation = 'create' | 'touch' | 'delete';

const OPERATIONS: Record<WriteOperation, v1.RelationshipUpdate_Operation> = {
  create: v1.RelationshipUpdate_Operation.CREATE,
  touch: v1.RelationshipUpdate_Operation.TOUCH,
  delete: v1.RelationshipUpdate_Operation.DELETE,
};

export const DEFAULT_WRITE_BATCH_SIZE = 100;

export interface RelationshipWriteOptions extends ClientOptions, JsonOption {
  /** `name` or `name:{"json":"context"}` (create, touch). */
  caveat?: string;
  /** RFC 3339 (create, touch). */
  expirationTime?: string;
  batchSize?: string | number;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const CAVEAT_NAME = /^[a-z][a-z0-9_]*(\/[a-z][a-z0-9_]*)*$/;

function usage(error: unknown, where?: string): never {
  const message = (error as Error).message;
  throw new UsageError(where ? `${where}: ${message}` : message);
}

/** One relationship from zed's three arguments (or one `resource#relation@subject` string). */
function relationshipFromArgs(args: string[], where?: string): Relationship {
  let text: string;
  if (args.length === 3) text = `${args[0]}#${args[1]}@${args[2]}`;
  else if (args.length === 1 && args[0].includes('@')) text = args[0];
  else
    throw new UsageError(
      `${where ? `${where}: ` : ''}expected 3 arguments (resource:id relation subject:id), got ${args.length}`,
    );
  try {
    return parseRelationship(text);
  } catch (error) {
    usage(error, where);
  }
}

function applyFlags(r: Relationship, options: RelationshipWriteOptions, where?: string): Relationship {
  if (options.caveat !== undefined) {
    if (r.caveat) usage(new Error('cannot give a caveat both in the relationship and with --caveat'), where);
    const colon = options.caveat.indexOf(':');
    const name = colon < 0 ? options.caveat : options.caveat.slice(0, colon);
    if (!CAVEAT_NAME.test(name))
      throw new UsageError(`--caveat must be caveat_name or caveat_name:{"some":"context"}, not \`${options.caveat}\``);
    r = { ...r, caveat: { name } };
    if (colon >= 0) {
      const context = parseContext(options.caveat.slice(colon + 1), '--caveat context');
      r.caveat = { name, context: v1.PbStruct.toJson(context) as Record<string, unknown> };
    }
  }
  if (options.expirationTime !== undefined) {
    if (r.expiresAt)
      usage(new Error('cannot give an expiration both in the relationship and with --expiration-time'), where);
    const date = new Date(options.expirationTime);
    if (!RFC3339.test(options.expirationTime) || Number.isNaN(date.getTime()))
      throw new UsageError(
        `--expiration-time must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z, not \`${options.expirationTime}\``,
      );
    r = { ...r, expiresAt: date };
  }
  return r;
}

/** A line of stdin: `resource relation subject` (the subject may hold spaces in its caveat) or one string. */
function lineArgs(line: string): string[] {
  const fields = line.trim().split(/\s+/);
  return fields.length > 3 ? [fields[0], fields[1], fields.slice(2).join(' ')] : fields;
}

/** `pemba relationship create|touch|delete`: prints the written-at token of each WriteRelationships call. */
export function relationshipWrite(
  operation: WriteOperation,
  args: string[],
  options: RelationshipWriteOptions,
  io: ClientIO = consoleIO,
): Promise<number> {
  return runClientCommand(
    options,
    io,
    () => {
      const batchSize = parsePositiveInt(options.batchSize ?? DEFAULT_WRITE_BATCH_SIZE, '--batch-size');
      if (operation === 'delete' && (options.caveat !== undefined || options.expirationTime !== undefined))
        throw new UsageError('delete takes no --caveat or --expiration-time');
      if (args.length === 0 && io.stdin.isTTY)
        throw new UsageError('give a relationship as arguments (resource:id relation subject:id) or on stdin');
      const single = args.length > 0 ? [applyFlags(relationshipFromArgs(args), options)] : undefined;
      return { batchSize, single };
    },
    async (client, { batchSize, single }) => {
      let relationships = single;
      if (!relationships) {
        // All of stdin is parsed first, so a bad line stops the command before anything is written.
        relationships = [];
        const lines = (await readAll(io.stdin)).split(/\r?\n/);
        for (let i = 0; i < lines.length; i++) {
          const line = lines[i].trim();
          if (!line || line.startsWith('//')) continue;
          const where = `stdin:${i + 1}`;
          relationships.push(applyFlags(relationshipFromArgs(lineArgs(line), where), options, where));
        }
        if (relationships.length === 0) throw new UsageError('no relationships on stdin');
      }
      for (let i = 0; i < relationships.length; i += batchSize) {
        const response = await client.promises.writeRelationships(
          v1.WriteRelationshipsRequest.create({
            updates: relationships
              .slice(i, i + batchSize)
              .map((r) => ({ operation: OPERATIONS[operation], relationship: toApiRelationship(r) })),
          }),
        );
        io.out(options.json ? prettyJson(v1.WriteRelationshipsResponse, response) : (response.writtenAt?.token ?? ''));
      }
    },
  );
}

export interface RelationshipReadOptions extends ClientOptions, JsonOption, ConsistencyOptions {
  subjectFilter?: string;
  pageLimit?: string | number;
}

export const DEFAULT_READ_PAGE_LIMIT = 1000;

/** `type`, `type:id`, `type:id#relation`, `type#relation` → a SubjectFilter. */
export function parseSubjectFilter(text: string): v1.SubjectFilter {
  const hash = text.indexOf('#');
  const object = hash < 0 ? text : text.slice(0, hash);
  const colon = object.indexOf(':');
  const subjectType = colon < 0 ? object : object.slice(0, colon);
  const subjectId = colon < 0 ? '' : object.slice(colon + 1);
  if (!CAVEAT_NAME.test(subjectType) || (colon >= 0 && !subjectId))
    throw new UsageError(`subject filter \`${text}\` must have the form type[:id][#relation]`);
  const filter: v1.SubjectFilter = { subjectType, optionalSubjectId: subjectId };
  if (hash >= 0) {
    const relation = text.slice(hash + 1);
    filter.optionalRelation = { relation: relation === '...' ? '' : relation };
  }
  return filter;
}

/** `type`, `type:id` or `type:prefix%` (and an optional relation and subject filter) → a RelationshipFilter. */
export function parseRelationshipFilterArgs(
  resource: string,
  relation: string | undefined,
  subject: string | undefined,
): v1.RelationshipFilter {
  const colon = resource.indexOf(':');
  const resourceType = colon < 0 ? resource : resource.slice(0, colon);
  if (!CAVEAT_NAME.test(resourceType))
    throw new UsageError(`\`${resource}\` must have the form type, type:id or type:id_prefix%`);
  const filter = v1.RelationshipFilter.create({ resourceType, optionalRelation: relation ?? '' });
  if (colon >= 0) {
    const id = resource.slice(colon + 1);
    if (!id) throw new UsageError(`\`${resource}\` has an empty id`);
    if (id.endsWith('%')) filter.optionalResourceIdPrefix = id.slice(0, -1);
    else filter.optionalResourceId = id;
  }
  if (subject) filter.optionalSubjectFilter = parseSubjectFilter(subject);
  return filter;
}

/** `pemba relationship read`: one line per relationship (`document:1 viewer user:alice`), or JSON lines. */
export const relationshipRead = clientCommand(
  (args: string[], options: RelationshipReadOptions) => {
    const [resource, relation, subject] = args;
    if (!resource || args.length > 3)
      throw new UsageError('expected <resource_type[:id]> [relation] [subject_type[:id][#relation]]');
    if (subject !== undefined && options.subjectFilter !== undefined)
      throw new UsageError('give the subject filter either as the third argument or with --subject-filter');
    return {
      filter: parseRelationshipFilterArgs(resource, relation, subject ?? options.subjectFilter),
      consistency: consistencyFrom(options),
      pageLimit: parsePositiveInt(options.pageLimit ?? DEFAULT_READ_PAGE_LIMIT, '--page-limit', true),
    };
  },
  async (client, { filter, consistency, pageLimit }, options, io) => {
    const responses = pagedResponses(
      pageLimit,
      { consistency },
      (r: v1.ReadRelationshipsResponse) => r.readAt?.token,
      (pageConsistency, cursor) =>
        client.readRelationships(
          v1.ReadRelationshipsRequest.create({
            relationshipFilter: filter,
            consistency: pageConsistency,
            optionalLimit: pageLimit,
            optionalCursor: cursor,
          }),
        ),
    );
    for await (const response of responses) {
      io.out(
        options.json ? jsonLine(v1.ReadRelationshipsResponse, response) : relationshipLine(response.relationship!),
      );
    }
  },
);

export interface RelationshipWatchOptions extends ClientOptions, JsonOption {
  object_types?: string[];
  revision?: string;
  filter?: string[];
  timestamp?: boolean;
}

/** zed's watch filter: `type[:id_or_prefix%][#relation][@subject_type[:id][#relation]]`. */
export function parseWatchFilter(text: string): v1.RelationshipFilter {
  const [resourcePart, subjectPart, ...rest] = text.split('@');
  const [resource, relation, ...extra] = resourcePart.split('#');
  if (rest.length > 0 || extra.length > 0 || !resource)
    throw new UsageError(`invalid --filter \`${text}\`: expected type[:id][#relation][@subject_type[:id][#relation]]`);
  return parseRelationshipFilterArgs(resource, relation, subjectPart);
}

const OPERATION_NAMES: Partial<Record<v1.RelationshipUpdate_Operation, string>> = {
  [v1.RelationshipUpdate_Operation.CREATE]: 'CREATED',
  [v1.RelationshipUpdate_Operation.TOUCH]: 'TOUCHED',
  [v1.RelationshipUpdate_Operation.DELETE]: 'DELETED',
};

/**
 * `pemba relationship watch`: one line per change (`CREATED document:1 viewer user:alice`,
 * `SCHEMA UPDATED`), or one WatchResponse per line with --json, until stopped (Ctrl-C: exit 0).
 */
export const relationshipWatch = clientCommand(
  (objectTypes: string[], options: RelationshipWatchOptions) => {
    const types = [...objectTypes, ...(options.object_types ?? []).flatMap((t) => t.split(','))].filter(Boolean);
    const filters = (options.filter ?? []).map(parseWatchFilter);
    if (types.length > 0 && filters.length > 0)
      throw new UsageError('give object types or --filter, not both (the server refuses both)');
    return v1.WatchRequest.create({
      optionalObjectTypes: types,
      optionalRelationshipFilters: filters,
      optionalStartCursor: options.revision ? { token: options.revision } : undefined,
      optionalUpdateKinds: [v1.WatchKind.INCLUDE_CHECKPOINTS, v1.WatchKind.INCLUDE_SCHEMA_UPDATES],
    });
  },
  async (client, request, options, io) => {
    if (io.signal?.aborted) return;
    const call = client.watch(request);
    const stop = () => call.cancel();
    io.signal?.addEventListener('abort', stop);
    let last = options.revision;
    const stamp = () => (options.timestamp ? `${new Date().toISOString()}: ` : '');
    io.err(
      `watching ${request.optionalObjectTypes.length > 0 ? request.optionalObjectTypes.join(', ') : 'all relationships'} from ${options.revision ? `revision ${options.revision}` : 'now'} (Ctrl-C to stop)`,
    );
    try {
      for await (const response of call as AsyncIterable<v1.WatchResponse>) {
        last = response.changesThrough?.token ?? last;
        if (response.isCheckpoint && response.updates.length === 0 && !response.schemaUpdated) continue;
        if (options.json) {
          io.out(jsonLine(v1.WatchResponse, response));
          continue;
        }
        if (response.schemaUpdated) io.out(`${stamp()}SCHEMA UPDATED`);
        for (const update of response.updates) {
          io.out(
            `${stamp()}${OPERATION_NAMES[update.operation] ?? 'UPDATED'} ${relationshipLine(update.relationship!)}`,
          );
        }
      }
      throw new Error('the server ended the watch');
    } catch (error) {
      if (io.signal?.aborted && (error as Partial<grpc.ServiceError>).code === grpc.status.CANCELLED) {
        io.err(`watch stopped${last ? `; resume with --revision ${last}` : ''}`);
        return;
      }
      if (last) io.err(`the watch ended at revision ${last}; resume with --revision ${last}`);
      throw error;
    } finally {
      io.signal?.removeEventListener('abort', stop);
    }
  },
);

/** Aborted by SIGINT or SIGTERM (for a command that runs until stopped). */
function untilSignalled(): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    signal: controller.signal,
    done() {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRelationship(program: Command, io: ClientIO = consoleIO): Command {
  const relationship = program
    .command('relationship')
    .description('create, touch, delete, read and watch the relationships of a running server');

  const writeCommand = (operation: WriteOperation, description: string) => {
    const command = relationship
      .command(operation)
      .argument('[resource]', 'resource:id (e.g. document:readme)')
      .argument('[relation]', 'the relation (e.g. viewer)')
      .argument('[subject]', 'subject:id or subject:id#relation (e.g. user:alice, group:eng#member)')
      .description(description);
    if (operation !== 'delete') {
      command
        .addOption(
          new Option(
            '--caveat <caveat>',
            'the caveat for the relationship, with format: \'caveat_name:{"some":"context"}\'',
          ),
        )
        .addOption(new Option('--expiration-time <time>', 'when the relationship expires, in RFC 3339 format'));
    }
    command.addOption(
      new Option('-b, --batch-size <n>', 'relationships per WriteRelationships call, when reading stdin').default(
        String(DEFAULT_WRITE_BATCH_SIZE),
      ),
    );
    addJsonOption(command, 'print each WriteRelationshipsResponse as JSON');
    addClientOptions(command).addHelpText(
      'after',
      `
With no arguments, relationships are read from stdin, one per line: \`resource:id relation subject:id\`
or \`resource:id#relation@subject:id\` (blank lines and // comments are skipped); every line is parsed
before anything is written. Prints the token each WriteRelationships call was written at (use it with
--consistency-at-least).

Examples:
  pemba relationship ${operation} document:readme viewer user:alice --insecure --token somerandomkeyhere
  pemba relationship ${operation} document:readme viewer group:eng#member
  printf 'document:1 viewer user:a\\ndocument:2 viewer user:b\\n' | pemba relationship ${operation}`,
    );
    clientAction(
      command,
      (args, options: RelationshipWriteOptions) => relationshipWrite(operation, args, options, io),
      io,
    );
  };
  writeCommand('create', 'create a relationship (fails if it exists)');
  writeCommand('touch', 'create a relationship, or overwrite it (its caveat and expiration) if it exists');
  writeCommand('delete', 'delete a relationship (nothing happens if it does not exist)');

  const read = relationship
    .command('read')
    .argument('<resource>', 'resource_type, resource_type:id, or resource_type:id_prefix%')
    .argument('[relation]', 'only this relation')
    .argument('[subject]', 'only these subjects: subject_type[:id][#relation]')
    .description('print the relationships that match a filter (ReadRelationships)')
    .addOption(new Option('--subject-filter <filter>', 'subject_type[:id][#relation] (or the third argument)'))
    .addOption(
      new Option('--page-limit <n>', 'relationships per ReadRelationships page (0: one unpaged call)').default(
        String(DEFAULT_READ_PAGE_LIMIT),
      ),
    );
  addJsonOption(read, 'print each ReadRelationshipsResponse as one line of JSON');
  addConsistencyOptions(read);
  addClientOptions(read).addHelpText(
    'after',
    `
Each relationship is printed as \`document:readme viewer user:alice\` (then its [caveat] and
[expiration], if any). A subject filter without #relation matches every subject relation; with
#... only the subject itself. Pages after the first are read at the first page's revision.

Examples:
  pemba relationship read document --consistency-full
  pemba relationship read document:readme viewer
  pemba relationship read document:proj-% viewer group:eng#member`,
  );
  clientAction(read, relationshipRead, io);

  const watch = relationship
    .command('watch')
    .argument('[object_types...]', 'only relationships whose resource is of these types')
    .description('print relationship changes as they happen (Watch), until stopped')
    .addOption(new Option('--object_types <types>', 'only these resource types (comma separated)').argParser(collect))
    .addOption(new Option('--revision <zedtoken>', 'start after this revision (default: now)'))
    .addOption(
      new Option(
        '--filter <filter>',
        'only relationships that match: type[:id_or_prefix%][#relation][@subject_type[:id][#relation]] (repeatable)',
      ).argParser(collect),
    )
    .addOption(new Option('--timestamp', 'prefix each line with the time it arrived'));
  addJsonOption(watch, 'print each WatchResponse as one line of JSON');
  addClientOptions(watch)
    .addHelpText(
      'after',
      `
Each change is one line: \`CREATED document:readme viewer user:alice\`, \`TOUCHED …\`, \`DELETED …\`, and
\`SCHEMA UPDATED\` when the schema is written. Ctrl-C stops the watch (exit 0) and prints the revision
to resume from with --revision.

Examples:
  pemba relationship watch --insecure --token somerandomkeyhere
  pemba relationship watch document folder
  pemba relationship watch --filter document:readme#viewer --revision GgYKBDEyMzQ=`,
    )
    .action(async (types: string[]) => {
      const stop = io.signal ? undefined : untilSignalled();
      try {
        process.exitCode = await relationshipWatch(types, watch.opts<RelationshipWatchOptions>(), {
          ...io,
          signal: io.signal ?? stop?.signal,
        });
      } finally {
        stop?.done();
      }
    });
  return relationship;
}
