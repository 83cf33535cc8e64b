/**
 * A call without a valid key costs nothing before it is refused: gRPC checks the key from the
 * call's metadata, before the message is read (so never decoded, nor buffered), and the HTTP
 * gateway before it reads the body. Authenticated calls of every kind still work on both transports.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { grpcError, importBulk, KEY, rel, SCHEMA, startTestServer, update } from './harness.js';
import type { TestServer } from './harness.js';

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ grpcMaxMessageSize: String(MAX_MESSAGE_BYTES) });
  await t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
});

afterAll(async () => {
  await t?.close();
});

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * The bytes of a WriteRelationships of at least `bytes` bytes, made by repeating one encoded batch
 * of updates (a repeated field's entries concatenate), and the message itself, unencoded by us.
 */
function largeWrite(bytes: number): Buffer {
  const batch = Buffer.from(
    v1.WriteRelationshipsRequest.toBinary(
      v1.WriteRelationshipsRequest.create({
        updates: Array.from({ length: 1000 }, (_, i) =>
          update('TOUCH', `doc:padding-padding-padding-${i}#reader@user:someone-${i}`),
        ),
      }),
    ),
  );
  return Buffer.concat(Array.from({ length: Math.ceil(bytes / batch.length) }, () => batch));
}

/** The status of a unary call sending `bytes` as they are, with `key` (if any). */
function unaryStatus(path: string, bytes: Buffer, key?: string): Promise<number> {
  const client = new grpc.Client(t.endpoint, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (key !== undefined) metadata.set('authorization', `Bearer ${key}`);
  return new Promise<number>((resolve) =>
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      metadata,
      (e) => {
        client.close();
        resolve(e?.code ?? grpc.status.OK);
      },
    ),
  );
}

const WRITE = '/authzed.api.v1.PermissionsService/WriteRelationships';

describe('gRPC: the key is checked before the message is read', () => {
  it('refuses a keyless 3.3 MB WriteRelationships UNAUTHENTICATED without decoding it', async () => {
    const big = largeWrite(3.3e6);
    const decode = vi.spyOn(v1.WriteRelationshipsRequest, 'fromBinary');
    for (const key of [undefined, '', 'wrong-key'])
      expect(await unaryStatus(WRITE, big, key)).toBe(grpc.status.UNAUTHENTICATED);
    expect(decode).not.toHaveBeenCalled();
  });

  it('never reads the bytes of a refused message: one over the size limit is refused UNAUTHENTICATED, not RESOURCE_EXHAUSTED', async () => {
    const tooBig = largeWrite(MAX_MESSAGE_BYTES + 100_000);
    expect(await unaryStatus(WRITE, tooBig, 'wrong-key')).toBe(grpc.status.UNAUTHENTICATED);
    // With the key, the same message is read, and refused for its size.
    expect(await unaryStatus(WRITE, tooBig, KEY)).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('refuses keyless server-streaming and client-streaming calls without decoding their messages', async () => {
    const read = vi.spyOn(v1.ReadRelationshipsRequest, 'fromBinary');
    const imported = vi.spyOn(v1.ImportBulkRelationshipsRequest, 'fromBinary');
    const c = t.clientWithKey('wrong-key');
    expect(
      (
        await grpcError(
          c.promises.readRelationships(
            v1.ReadRelationshipsRequest.create({ relationshipFilter: { resourceType: 'doc' } }),
          ),
        )
      ).code,
    ).toBe(grpc.status.UNAUTHENTICATED);
    expect(
      (await grpcError(importBulk(c, [[rel('doc:pre#reader@user:a')], [rel('doc:pre#reader@user:b')]]))).code,
    ).toBe(grpc.status.UNAUTHENTICATED);
    expect(read).not.toHaveBeenCalled();
    expect(imported).not.toHaveBeenCalled();
  });

  it('still decodes and serves authenticated unary, server-streaming and client-streaming calls', async () => {
    const decode = vi.spyOn(v1.WriteRelationshipsRequest, 'fromBinary');
    const written = await t.client.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:pre1#reader@user:ann')] }),
    );
    expect(written.writtenAt?.token).toBeTruthy();
    expect(decode).toHaveBeenCalledTimes(1);

    const imported = await importBulk(t.client, [[rel('doc:pre2#reader@user:bob')], [rel('doc:pre3#reader@user:cy')]]);
    expect(imported.numLoaded).toBe('2');

    const read = await t.client.promises.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'doc', optionalResourceIdPrefix: 'pre' },
        consistency: { requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } },
      }),
    );
    expect(read.map((r) => r.relationship?.resource?.objectId).sort()).toEqual(['pre1', 'pre2', 'pre3']);
  });
});

describe('HTTP: the key is checked before the body is read', () => {
  const post = (path: string, body: string, key: string | null = KEY) =>
    fetch(`${t.httpBase}${path}`, {
      method: 'POST',
      headers: key === null ? {} : { Authorization: `Bearer ${key}` },
      body,
    });

  it('refuses a keyless large body 401 without decoding it', async () => {
    const one = JSON.stringify({
      operation: 'OPERATION_TOUCH',
      relationship: v1.Relationship.toJson(rel('doc:padding-padding-padding#reader@user:someone')),
    });
    const body = `{"updates": [${Array.from({ length: 3e6 / one.length }, () => one).join(',')}]}`;
    const decode = vi.spyOn(v1.WriteRelationshipsRequest, 'fromJson');
    for (const key of [null, 'wrong-key']) {
      const r = await post('/v1/relationships/write', body, key);
      expect(r.status).toBe(401);
      expect((await r.json()).code).toBe(grpc.status.UNAUTHENTICATED);
    }
    expect(decode).not.toHaveBeenCalled();
  });

  it('serves authenticated unary, server-streaming and client-streaming calls', async () => {
    const write = await post(
      '/v1/relationships/write',
      JSON.stringify({
        updates: [
          {
            operation: 'OPERATION_TOUCH',
            relationship: {
              resource: { objectType: 'doc', objectId: 'h1' },
              relation: 'reader',
              subject: { object: { objectType: 'user', objectId: 'ann' } },
            },
          },
        ],
      }),
    );
    expect(write.status).toBe(200);
    const imported = await post(
      '/v1/relationships/importbulk',
      [
        JSON.stringify({ relationships: [v1.Relationship.toJson(rel('doc:h2#reader@user:bob'))] }),
        JSON.stringify({ relationships: [v1.Relationship.toJson(rel('doc:h3#reader@user:cy'))] }),
      ].join('\n'),
    );
    expect(imported.status, await imported.clone().text()).toBe(200);
    const read = await post(
      '/v1/relationships/read',
      JSON.stringify({
        consistency: { fullyConsistent: true },
        relationshipFilter: { resourceType: 'doc', optionalResourceIdPrefix: 'h' },
      }),
    );
    expect(read.status).toBe(200);
    const ids = (await read.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).result.relationship.resource.objectId);
    expect(ids.sort()).toEqual(['h1', 'h2', 'h3']);
  });
});
