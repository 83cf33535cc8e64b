/** Authentication on every kind of call, key rotation, health checks and server reflection. */
import { createRequire } from 'node:module';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { MessageType, ScalarType } from '@protobuf-ts/runtime';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpcError, importBulk, obj, rel, SCHEMA, startTestServer, subj } from './harness.js';
import type { TestServer } from './harness.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ grpcPresharedKey: ['old-key', 'new-key,test-preshared-key'] });
  await t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
});

afterAll(async () => {
  await t?.close();
});

describe('authentication', () => {
  const calls = (c: v1.ZedClientInterface) => ({
    unary: () =>
      c.promises.checkPermission(
        v1.CheckPermissionRequest.create({ resource: obj('doc', '1'), permission: 'view', subject: subj('user', 'a') }),
      ),
    serverStream: () =>
      c.promises.readRelationships(v1.ReadRelationshipsRequest.create({ relationshipFilter: { resourceType: 'doc' } })),
    clientStream: () => importBulk(c, [[rel('doc:auth#reader@user:a')]]),
    schema: () => c.promises.readSchema(v1.ReadSchemaRequest.create()),
    watch: () =>
      new Promise((resolve, reject) => {
        const s = c.watch(v1.WatchRequest.create());
        s.on('error', reject);
        s.on('data', resolve);
      }),
  });

  for (const [label, key] of [
    ['a wrong key', 'wrong-key'],
    ['an empty key', ''],
    ['a prefix of a valid key', 'test-preshared'],
  ] as const) {
    it(`refuses ${label} on every kind of call with UNAUTHENTICATED`, async () => {
      const c = t.clientWithKey(key);
      for (const [kind, call] of Object.entries(calls(c))) {
        const e = await grpcError(call());
        expect(e.code, kind).toBe(grpc.status.UNAUTHENTICATED);
        if (key) expect(e.details).not.toContain(key);
      }
    });
  }

  it('accepts every configured key (rotation)', async () => {
    for (const key of ['old-key', 'new-key', 'test-preshared-key']) {
      const r = await t.clientWithKey(key).promises.readSchema(v1.ReadSchemaRequest.create());
      expect(r.schemaText).toBe(SCHEMA);
    }
  });
});

describe('grpc.health.v1.Health', () => {
  it('answers SERVING without a key, for the server and each service', async () => {
    const Client = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
    const client = new Client(t.endpoint, grpc.credentials.createInsecure()) as unknown as {
      check(req: { service: string }, cb: (e: grpc.ServiceError | null, r: { status: string | number }) => void): void;
      close(): void;
    };
    const check = (service: string) =>
      new Promise<{ status: string | number }>((resolve, reject) =>
        client.check({ service }, (e, r) => (e ? reject(e) : resolve(r))),
      );
    for (const s of [
      '',
      'authzed.api.v1.PermissionsService',
      'authzed.api.v1.SchemaService',
      'authzed.api.v1.WatchService',
    ]) {
      expect(['SERVING', 1]).toContain((await check(s)).status);
    }
    await expect(check('no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    client.close();
  });
});

describe('server reflection', () => {
  // Just enough of grpc.reflection.v1 to ask for the service list and for files by symbol.
  const FileDescriptorResponse = new MessageType<{ fileDescriptorProto: Uint8Array[] }>(
    'grpc.reflection.v1.FileDescriptorResponse',
    [{ no: 1, name: 'file_descriptor_proto', kind: 'scalar', T: ScalarType.BYTES, repeat: 2 }],
  );
  const ServiceResponse = new MessageType<{ name: string }>('grpc.reflection.v1.ServiceResponse', [
    { no: 1, name: 'name', kind: 'scalar', T: ScalarType.STRING },
  ]);
  const ListServiceResponse = new MessageType<{ service: { name: string }[] }>(
    'grpc.reflection.v1.ListServiceResponse',
    [{ no: 1, name: 'service', kind: 'message', T: () => ServiceResponse, repeat: 2 }],
  );
  type Request = { fileContainingSymbol?: string; listServices?: string };
  const Request = new MessageType<Request>('grpc.reflection.v1.ServerReflectionRequest', [
    { no: 4, name: 'file_containing_symbol', kind: 'scalar', T: ScalarType.STRING, opt: true },
    { no: 7, name: 'list_services', kind: 'scalar', T: ScalarType.STRING, opt: true },
  ]);
  type Response = {
    fileDescriptorResponse?: { fileDescriptorProto: Uint8Array[] };
    listServicesResponse?: { service: { name: string }[] };
  };
  const Response = new MessageType<Response>('grpc.reflection.v1.ServerReflectionResponse', [
    { no: 4, name: 'file_descriptor_response', kind: 'message', T: () => FileDescriptorResponse },
    { no: 6, name: 'list_services_response', kind: 'message', T: () => ListServiceResponse },
  ]);

  function ask(request: Request): Promise<Response> {
    const client = new grpc.Client(t.endpoint, grpc.credentials.createInsecure());
    return new Promise((resolve, reject) => {
      const call = client.makeBidiStreamRequest(
        '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        (r: Request) => Buffer.from(Request.toBinary(r)),
        (b: Buffer) => Response.fromBinary(b),
      );
      call.on('data', (r: Response) => {
        resolve(r);
        call.end();
        client.close();
      });
      call.on('error', reject);
      call.write(request);
    });
  }

  it('lists the services', async () => {
    const r = await ask({ listServices: '' });
    expect(r.listServicesResponse?.service.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'authzed.api.v1.PermissionsService',
        'authzed.api.v1.SchemaService',
        'authzed.api.v1.WatchService',
        'grpc.health.v1.Health',
      ]),
    );
  });

  it('describes the messages exactly enough for a dynamic client to encode them', async () => {
    const r = await ask({ fileContainingSymbol: 'authzed.api.v1.PermissionsService' });
    const files = r.fileDescriptorResponse!.fileDescriptorProto;
    // Decode with protobufjs (what grpcurl-like tools and @grpc/reflection itself use) and build types from them.
    const require = createRequire(import.meta.url);
    require('protobufjs'); // loads before its descriptor extension, which adds Root.fromDescriptor
    const descriptor = require('protobufjs/ext/descriptor') as {
      FileDescriptorProto: { decode(b: Uint8Array): unknown };
    };
    const protobuf = require('protobufjs') as typeof import('protobufjs');
    const set = { file: files.map((f) => descriptor.FileDescriptorProto.decode(f)) };
    const root = (protobuf.Root as unknown as { fromDescriptor(s: unknown): import('protobufjs').Root }).fromDescriptor(
      set,
    );
    const service = root.lookupService('authzed.api.v1.PermissionsService');
    expect(Object.keys(service.methods)).toContain('CheckPermission');
    expect(service.methods.LookupResources.responseStream).toBe(true);
    expect(service.methods.ImportBulkRelationships.requestStream).toBe(true);

    const request = v1.WriteRelationshipsRequest.create({
      updates: [
        {
          operation: v1.RelationshipUpdate_Operation.TOUCH,
          relationship: {
            ...rel('doc:1#reader@group:g#member'),
            optionalCaveat: { caveatName: 'c', context: v1.PbStruct.fromJson({ a: [1, 'x', { b: true }] }) },
          },
        },
      ],
      optionalPreconditions: [
        {
          operation: v1.Precondition_Operation.MUST_MATCH,
          filter: { resourceType: 'doc', optionalResourceId: '', optionalResourceIdPrefix: 'p', optionalRelation: '' },
        },
      ],
    });
    const type = root.lookupType('authzed.api.v1.WriteRelationshipsRequest');
    const bytes = v1.WriteRelationshipsRequest.toBinary(request);
    const viaReflection = type.encode(type.decode(bytes)).finish();
    expect(v1.WriteRelationshipsRequest.fromBinary(viaReflection)).toEqual(request);
    const consistency = root.lookupType('authzed.api.v1.Consistency');
    expect(consistency.oneofs?.requirement.fieldsArray.map((f: { name: string }) => f.name).sort()).toEqual([
      'at_exact_snapshot',
      'at_least_as_fresh',
      'fully_consistent',
      'minimize_latency',
    ]);
  });
});
