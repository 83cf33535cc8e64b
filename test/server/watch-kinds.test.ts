/**
 * Watch's optional_update_kinds, heartbeats and transaction metadata through authzed-node, on every
 * backend: checkpoints (after each commit, and every --watch-api-heartbeat while idle), schema
 * updates, and the metadata WriteRelationships/DeleteRelationships store with a commit coming back
 * with its changes. (watch-spicedb.test.ts holds the same scenarios against the real SpiceDB.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServeConfig } from '../../src/server/config.js';
import { grpcError, SCHEMA, startTestServer, update } from './harness.js';
import type { TestServer } from './harness.js';
import { describeResponse, openWatch } from './watch-stream.js';
import { isChosen } from '../datastore/chosen-backends.js';
import { useTestPostgres } from '../datastore/postgres-harness.js';

const { CHECKPOINTS, SCHEMA_UPDATES, RELATIONSHIP_UPDATES } = {
  CHECKPOINTS: v1.WatchKind.INCLUDE_CHECKPOINTS,
  SCHEMA_UPDATES: v1.WatchKind.INCLUDE_SCHEMA_UPDATES,
  RELATIONSHIP_UPDATES: v1.WatchKind.INCLUDE_RELATIONSHIP_UPDATES,
};

const postgres = useTestPostgres();
const dir = mkdtempSync(join(tmpdir(), 'pemba-watch-kinds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const struct = (o: Record<string, unknown>) => v1.PbStruct.fromJson(o as never);

describe.each(['memory', 'sqlite', 'postgres'] as const)('Watch kinds and metadata: %s', (backend) => {
  let t: TestServer;
  let p: v1.ZedPromiseClientInterface;
  let start: string;

  beforeAll(async () => {
    if (!isChosen(backend)) return;
    const flags =
      backend === 'memory'
        ? {}
        : backend === 'sqlite'
          ? { datastoreEngine: 'sqlite', datastoreConnUri: join(dir, 'watch.db') }
          : { datastoreEngine: 'postgres', datastoreConnUri: await postgres.migratedUri() };
    t = await startTestServer({ ...flags, watchApiHeartbeat: '200ms' });
    p = t.client.promises;
    start = (await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }))).writtenAt!.token;
  });

  afterAll(async () => {
    await t?.close();
  });

  const maybe = (name: string, fn: () => Promise<void>, timeout?: number) =>
    it.skipIf(!isChosen(backend))(name, fn, timeout);

  const write = async (updates: v1.RelationshipUpdate[], metadata?: Record<string, unknown>) =>
    (
      await p.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates,
          ...(metadata ? { optionalTransactionMetadata: struct(metadata) } : {}),
        }),
      )
    ).writtenAt!.token;

  describe('after a scripted history', () => {
    /** The tokens of the commits after `start`, in order. */
    let commits: string[];
    const at = (token: string | undefined) => (token === start ? 'start' : commits.indexOf(token!));
    const M1 = { request_id: 'r-1', nested: { list: [1, 'two', true, null], n: 2.5 } };
    const M2 = { deleted_by: 'cleanup' };

    beforeAll(async () => {
      if (!isChosen(backend)) return;
      commits = [
        await write([update('TOUCH', 'doc:w1#reader@user:a')], M1),
        await write([update('TOUCH', 'group:g#member@user:b'), update('TOUCH', 'doc:w2#reader@user:c')]),
        (
          await p.deleteRelationships(
            v1.DeleteRelationshipsRequest.create({
              relationshipFilter: { resourceType: 'doc', optionalResourceId: 'w1' },
              optionalTransactionMetadata: struct(M2),
            }),
          )
        ).deletedAt!.token,
        // Deletes nothing: a commit with no changes, and its metadata.
        (
          await p.deleteRelationships(
            v1.DeleteRelationshipsRequest.create({
              relationshipFilter: { resourceType: 'doc', optionalResourceId: 'none' },
              optionalTransactionMetadata: struct({ nothing: true }),
            }),
          )
        ).deletedAt!.token,
        (await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }))).writtenAt!.token,
        await write([update('TOUCH', 'doc:w3#reader@user:d')], {}),
      ];
    });

    const watchAll = async (request: Partial<v1.WatchRequest>, n: number) => {
      const w = openWatch(t.client, { optionalStartCursor: { token: start }, ...request });
      try {
        return (await w.take(n)).map((r) => describeResponse(r, at));
      } finally {
        w.cancel();
      }
    };

    maybe('without kinds: only relationship updates, with their commit’s metadata', async () => {
      expect(await watchAll({}, 4)).toEqual([
        { at: 0, kind: 'updates', updates: ['TOUCH doc:w1#reader@user:a'], metadata: M1, fullRevisionMetadata: [M1] },
        {
          at: 1,
          kind: 'updates',
          updates: ['TOUCH group:g#member@user:b', 'TOUCH doc:w2#reader@user:c'],
          metadata: undefined,
          fullRevisionMetadata: [],
        },
        { at: 2, kind: 'updates', updates: ['DELETE doc:w1#reader@user:a'], metadata: M2, fullRevisionMetadata: [M2] },
        // An empty metadata object is no metadata.
        {
          at: 5,
          kind: 'updates',
          updates: ['TOUCH doc:w3#reader@user:d'],
          metadata: undefined,
          fullRevisionMetadata: [],
        },
      ]);
    });

    maybe(
      'checkpoints: one after every commit, at its revision, also when nothing of it passed the filter',
      async () => {
        const got = await watchAll({ optionalUpdateKinds: [CHECKPOINTS], optionalObjectTypes: ['group'] }, 7);
        expect(got.map((r) => [r.at, r.kind, r.updates.length, r.metadata])).toEqual([
          [0, 'checkpoint', 0, undefined],
          [1, 'updates', 1, undefined],
          [1, 'checkpoint', 0, undefined],
          [2, 'checkpoint', 0, undefined],
          [3, 'checkpoint', 0, undefined],
          [4, 'checkpoint', 0, undefined],
          [5, 'checkpoint', 0, undefined],
        ]);
      },
    );

    maybe('schema updates: schema_updated at the revision of every schema write', async () => {
      const got = await watchAll({ optionalUpdateKinds: [SCHEMA_UPDATES], optionalObjectTypes: ['group'] }, 2);
      expect(got.map((r) => [r.at, r.kind, r.updates])).toEqual([
        [1, 'updates', ['TOUCH group:g#member@user:b']],
        [4, 'schema', []],
      ]);
    });

    maybe('every kind: per commit its updates, its schema change, then its checkpoint', async () => {
      const got = await watchAll({ optionalUpdateKinds: [RELATIONSHIP_UPDATES, SCHEMA_UPDATES, CHECKPOINTS] }, 11);
      expect(got.map((r) => [r.at, r.kind])).toEqual([
        [0, 'updates'],
        [0, 'checkpoint'],
        [1, 'updates'],
        [1, 'checkpoint'],
        [2, 'updates'],
        [2, 'checkpoint'],
        [3, 'checkpoint'],
        [4, 'schema'],
        [4, 'checkpoint'],
        [5, 'updates'],
        [5, 'checkpoint'],
      ]);
    });

    maybe(
      'object types with relationship filters: refused with relationship updates asked for, ANDed without',
      async () => {
        const both = {
          optionalObjectTypes: ['doc'],
          optionalRelationshipFilters: [
            v1.RelationshipFilter.create({ resourceType: 'doc', optionalResourceId: 'w2' }),
          ],
        };
        for (const kinds of [[], [RELATIONSHIP_UPDATES, CHECKPOINTS], [v1.WatchKind.UNSPECIFIED]]) {
          const w = openWatch(t.client, { optionalStartCursor: { token: start }, optionalUpdateKinds: kinds, ...both });
          expect(await w.error).toMatchObject({ code: status.INVALID_ARGUMENT });
        }
        const got = await watchAll({ optionalUpdateKinds: [SCHEMA_UPDATES], ...both }, 2);
        expect(got.map((r) => [r.at, r.kind, r.updates])).toEqual([
          [1, 'updates', ['TOUCH doc:w2#reader@user:c']],
          [4, 'schema', []],
        ]);
      },
    );

    maybe('resuming from a checkpoint’s token continues after it', async () => {
      const w = openWatch(t.client, { optionalStartCursor: { token: commits[2] }, optionalUpdateKinds: [CHECKPOINTS] });
      try {
        expect((await w.take(4)).map((r) => describeResponse(r, at)).map((r) => [r.at, r.kind])).toEqual([
          [3, 'checkpoint'],
          [4, 'checkpoint'],
          [5, 'updates'],
          [5, 'checkpoint'],
        ]);
      } finally {
        w.cancel();
      }
    });
  });

  maybe(
    'heartbeats: an idle watch with checkpoints gets one every --watch-api-heartbeat, at the last revision',
    async () => {
      const head = await write([update('TOUCH', 'doc:hb#reader@user:x')]);
      const quiet = openWatch(t.client, {});
      const w = openWatch(t.client, { optionalUpdateKinds: [CHECKPOINTS] });
      try {
        await w.started;
        const began = Date.now();
        const beats = await w.take(3, 3000);
        const elapsed = Date.now() - began;
        expect(beats.every((r) => r.isCheckpoint && r.updates.length === 0)).toBe(true);
        expect(beats.map((r) => r.changesThrough?.token)).toEqual([head, head, head]);
        expect(elapsed).toBeGreaterThanOrEqual(500);
        // A commit: its updates and checkpoint; heartbeats go on from it.
        const next = await write([update('TOUCH', 'doc:hb2#reader@user:x')], { after: 'heartbeats' });
        const more = await w.take(6, 3000);
        expect(more.slice(3).map((r) => [r.changesThrough?.token, r.isCheckpoint, r.updates.length])).toEqual([
          [next, false, 1],
          [next, true, 0],
          [next, true, 0],
        ]);
        expect(more[3].optionalTransactionMetadata).toEqual(struct({ after: 'heartbeats' }));
        // Without checkpoints asked for, an idle watch sends nothing.
        expect(quiet.responses.map((r) => r.changesThrough?.token)).toEqual([next]);
      } finally {
        w.cancel();
        quiet.cancel();
      }
    },
    10_000,
  );

  maybe('metadata over 65,000 bytes of JSON is refused, as SpiceDB does, and nothing is written', async () => {
    const big = { big: 'x'.repeat(64_991) }; // {"big":"…"}: 65,001 bytes
    const e = await grpcError(
      p.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: [update('TOUCH', 'doc:big#reader@user:x')],
          optionalTransactionMetadata: struct(big),
        }),
      ),
    );
    expect(e).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'metadata size of 65001 is greater than maximum allowed of 65000',
      reason: 'ERROR_REASON_TRANSACTION_METADATA_TOO_LARGE',
      metadata: { metadata_byte_size: '65001', maximum_allowed_metadata_byte_size: '65000' },
    });
    const d = await grpcError(
      p.deleteRelationships(
        v1.DeleteRelationshipsRequest.create({
          relationshipFilter: { resourceType: 'doc' },
          optionalTransactionMetadata: struct(big),
        }),
      ),
    );
    expect(d.reason).toBe('ERROR_REASON_TRANSACTION_METADATA_TOO_LARGE');
    const read = p.readRelationships(
      v1.ReadRelationshipsRequest.create({ relationshipFilter: { resourceType: 'doc', optionalResourceId: 'big' } }),
    );
    expect(await read).toEqual([]);
    // Exactly the maximum is accepted.
    await write([update('TOUCH', 'doc:big#reader@user:x')], { big: 'x'.repeat(64_990) });
  });
});

describe('--watch-api-heartbeat', () => {
  it('takes a duration, defaulting to SpiceDB’s 1s', () => {
    const config = (flags: Record<string, string>) =>
      resolveServeConfig({ grpcPresharedKey: ['k'], datastoreEngine: 'memory', ...flags });
    expect(config({}).limits.watchHeartbeatMs).toBe(1000);
    expect(config({ watchApiHeartbeat: '250ms' }).limits.watchHeartbeatMs).toBe(250);
    expect(config({ watchApiHeartbeat: '0' }).limits.watchHeartbeatMs).toBe(0);
    expect(() => config({ watchApiHeartbeat: 'often' })).toThrow(/--watch-api-heartbeat must be a duration/);
  });

  it('0 means the shortest heartbeat, 100ms', async () => {
    const t = await startTestServer({ watchApiHeartbeat: '0' });
    try {
      await t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
      const w = openWatch(t.client, { optionalUpdateKinds: [CHECKPOINTS] });
      await w.started;
      const began = Date.now();
      await w.take(3, 3000);
      const elapsed = Date.now() - began;
      w.cancel();
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(1500);
    } finally {
      await t.close();
    }
  });
});
