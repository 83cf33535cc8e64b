/**
 * `pemba serve-testing` as a child process, as client libraries' test suites and CI jobs run
 * SpiceDB's testing server: no authentication, one isolated in-memory datastore per bearer token
 * (the missing token is ""), `--load-configs` preloaded into every new token's datastore, a
 * read-only gRPC port that refuses writes, optional HTTP gateways, health and reflection.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { MessageType, ScalarType } from '@protobuf-ts/runtime';
import type { IMessageType } from '@protobuf-ts/runtime';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullyConsistent, grpcError, importBulk, obj, rel, relText, subj, update } from './harness.js';
import { pembaArgs, REPO } from './serve-process.js';

interface Testing {
  child: ChildProcess;
  ready: Record<string, unknown>;
  logs(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];

/** Starts `pemba serve-testing ARGS` and resolves once it logs its ready line. */
async function serveTesting(args: string[]): Promise<Testing> {
  const child = spawn(process.execPath, pembaArgs(['serve-testing', '--log-format', 'json', ...args]), {
    cwd: REPO,
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 30s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const line = output.split('\n').find((l) => l.includes('pemba is listening'));
      if (!line) return;
      clearTimeout(timer);
      resolveReady(JSON.parse(line) as Record<string, unknown>);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`pemba serve-testing exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  return { child, ready, logs: () => output, exit };
}

/** Every port on 127.0.0.1 with a port of 0: the ready line says which ones were bound. */
const LOCAL_PORTS = [
  '--grpc-addr',
  '127.0.0.1:0',
  '--readonly-grpc-addr',
  '127.0.0.1:0',
  '--http-enabled',
  '--http-addr',
  '127.0.0.1:0',
  '--readonly-http-enabled',
  '--readonly-http-addr',
  '127.0.0.1:0',
];

const PRELOADED_SCHEMA = `definition user {}

definition document {
  relation viewer: user
  permission view = viewer
}`;

const CONFIG = `schema: |-
${PRELOADED_SCHEMA.split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
relationships: |-
  document:readme#viewer@user:ann
  document:plan#viewer@user:bob
assertions:
  assertTrue:
    - document:readme#view@user:ann
`;

const dir = mkdtempSync(join(tmpdir(), 'pemba-serve-testing-'));
const configPath = join(dir, 'config.yaml');
writeFileSync(configPath, CONFIG);

let server: Testing;
const clients: { close(): void }[] = [];

function client(token: string, port: 'grpcAddr' | 'readonlyGrpcAddr' = 'grpcAddr'): v1.ZedClientInterface {
  const c = v1.NewClient(token, String(server.ready[port]), v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
  clients.push(c);
  return c;
}

/** CheckPermission and WriteRelationships sending exactly `authorization`, or no such header at all. */
function clientWithHeader(authorization: string | undefined) {
  const raw = new grpc.Client(String(server.ready.grpcAddr), grpc.credentials.createInsecure());
  clients.push(raw);
  const unary =
    <I extends object, O extends object>(path: string, I: IMessageType<I>, O: IMessageType<O>) =>
    (request: I) =>
      new Promise<O>((resolveCall, reject) => {
        const metadata = new grpc.Metadata();
        if (authorization !== undefined) metadata.set('authorization', authorization);
        raw.makeUnaryRequest(
          `/authzed.api.v1.PermissionsService/${path}`,
          (m: I) => Buffer.from(I.toBinary(m)),
          (b: Buffer) => O.fromBinary(b),
          request,
          metadata,
          (e, r) => (e ? reject(e) : resolveCall(r!)),
        );
      });
  return {
    checkPermission: unary('CheckPermission', v1.CheckPermissionRequest, v1.CheckPermissionResponse),
    writeRelationships: unary('WriteRelationships', v1.WriteRelationshipsRequest, v1.WriteRelationshipsResponse),
  };
}

let seq = 0;
/** A token no other test uses (client test suites use a fresh one per test). */
const freshToken = (label: string) => `${label}-${process.pid}-${Date.now()}-${seq++}`;

const check = (c: v1.ZedClientInterface, resource: string, user: string, consistency?: v1.Consistency) =>
  c.promises
    .checkPermission(
      v1.CheckPermissionRequest.create({
        resource: obj('document', resource),
        permission: 'view',
        subject: subj('user', user),
        consistency,
      }),
    )
    .then((r) => r.permissionship);
const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
const NO = v1.CheckPermissionResponse_Permissionship.NO_PERMISSION;

beforeAll(async () => {
  server = await serveTesting([...LOCAL_PORTS, '--load-configs', configPath]);
}, 60_000);

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('pemba serve-testing: one datastore per token', () => {
  it('logs every bound port in its ready line', () => {
    for (const port of ['grpcAddr', 'readonlyGrpcAddr', 'httpAddr', 'readonlyHttpAddr']) {
      expect(String(server.ready[port])).toMatch(/^127\.0\.0\.1:\d+$/);
    }
  });

  it("isolates tokens: one token's schema and relationships are invisible to another", async () => {
    const a = client(freshToken('a'));
    const b = client(freshToken('b'));
    const schema = `definition user {}

definition document {
  relation viewer: user
  relation editor: user
  permission view = viewer + editor
}`;
    await a.promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
    await a.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:secret#editor@user:eve')] }),
    );
    expect(await check(a, 'secret', 'eve', fullyConsistent())).toBe(HAS);
    expect((await a.promises.readSchema(v1.ReadSchemaRequest.create())).schemaText).toBe(schema);

    // b still has the preloaded schema and data only.
    expect((await b.promises.readSchema(v1.ReadSchemaRequest.create())).schemaText).toBe(PRELOADED_SCHEMA);
    expect(await check(b, 'secret', 'eve', fullyConsistent())).toBe(NO);
    const bRels = await b.promises.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'document' },
        consistency: fullyConsistent(),
      }),
    );
    expect(bRels.map((r) => relText(r.relationship)).sort()).toEqual([
      'document:plan#viewer@user:bob',
      'document:readme#viewer@user:ann',
    ]);

    // b's writes stay in b: a still sees only its own.
    await b.promises.deleteRelationships(
      v1.DeleteRelationshipsRequest.create({ relationshipFilter: { resourceType: 'document' } }),
    );
    expect(await check(b, 'readme', 'ann', fullyConsistent())).toBe(NO);
    expect(await check(a, 'readme', 'ann', fullyConsistent())).toBe(HAS);
  });

  it('treats a missing, empty or non-bearer authorization as the token ""', async () => {
    const empty = client('');
    const none = clientWithHeader(undefined);
    const basic = clientWithHeader('Basic dXNlcjpwYXNz');
    const bare = clientWithHeader('Bearer');
    const marker = `document:empty-${seq++}#viewer@user:zed`;
    await none.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', marker)] }));
    const resource = marker.slice('document:'.length, marker.indexOf('#'));
    expect(await check(empty, resource, 'zed', fullyConsistent())).toBe(HAS);
    for (const c of [basic, bare]) {
      const r = await c.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: obj('document', resource),
          permission: 'view',
          subject: subj('user', 'zed'),
          consistency: fullyConsistent(),
        }),
      );
      expect(r.permissionship).toBe(HAS);
    }
    // A real token does not share the empty token's datastore, and the scheme is case-insensitive.
    expect(await check(client(freshToken('x')), resource, 'zed', fullyConsistent())).toBe(NO);
    const lower = clientWithHeader('bearer ');
    const r = await lower.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: obj('document', resource),
        permission: 'view',
        subject: subj('user', 'zed'),
        consistency: fullyConsistent(),
      }),
    );
    expect(r.permissionship).toBe(HAS);
  });

  it('preloads --load-configs into every new token, visible at once to minimize_latency reads', async () => {
    for (let i = 0; i < 5; i++) {
      const c = client(freshToken('preload'));
      // The very first call of the token, with the default consistency (minimize_latency).
      expect(await check(c, 'readme', 'ann')).toBe(HAS);
      expect(await check(c, 'plan', 'ann')).toBe(NO);
      const rels = await c.promises.readRelationships(
        v1.ReadRelationshipsRequest.create({
          relationshipFilter: { resourceType: 'document' },
          consistency: v1.Consistency.create({ requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true } }),
        }),
      );
      expect(rels).toHaveLength(2);
      const lookup = await c.promises.lookupResources(
        v1.LookupResourcesRequest.create({
          resourceObjectType: 'document',
          permission: 'view',
          subject: subj('user', 'bob'),
        }),
      );
      expect(lookup.map((r) => r.resourceObjectId)).toEqual(['plan']);
    }
  });
});

describe('pemba serve-testing: the read-only port', () => {
  it('refuses every write with UNAVAILABLE and ERROR_REASON_SERVICE_READ_ONLY', async () => {
    const token = freshToken('ro');
    const ro = client(token, 'readonlyGrpcAddr');
    const writes: [string, () => Promise<unknown>][] = [
      [
        'WriteRelationships',
        () =>
          ro.promises.writeRelationships(
            v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:x#viewer@user:y')] }),
          ),
      ],
      [
        'DeleteRelationships',
        () =>
          ro.promises.deleteRelationships(
            v1.DeleteRelationshipsRequest.create({ relationshipFilter: { resourceType: 'document' } }),
          ),
      ],
      ['WriteSchema', () => ro.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: 'definition user {}' }))],
      ['ImportBulkRelationships', () => importBulk(ro, [[rel('document:x#viewer@user:y')]])],
      [
        'BulkImportRelationships',
        () =>
          new Promise((resolveImport, reject) => {
            const stream = ro.bulkImportRelationships((err, value) => (err ? reject(err) : resolveImport(value)));
            stream.write(
              v1.BulkImportRelationshipsRequest.create({ relationships: [rel('document:x#viewer@user:y')] }),
            );
            stream.end();
          }),
      ],
    ];
    for (const [name, write] of writes) {
      const e = await grpcError(write());
      expect({ name, code: e.code, reason: e.reason, details: e.details }).toEqual({
        name,
        code: grpc.status.UNAVAILABLE,
        reason: 'ERROR_REASON_SERVICE_READ_ONLY',
        details: 'service read-only',
      });
    }
    // Nothing was written: the token still holds just the preloaded data.
    const rels = await ro.promises.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'document' },
        consistency: fullyConsistent(),
      }),
    );
    expect(rels).toHaveLength(2);
  });

  it("reads the same token's datastore as the read-write port", async () => {
    const token = freshToken('shared');
    const rw = client(token);
    const ro = client(token, 'readonlyGrpcAddr');
    const { writtenAt } = await rw.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:shared#viewer@user:sam')] }),
    );
    const r = await ro.promises.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: obj('document', 'shared'),
        permission: 'view',
        subject: subj('user', 'sam'),
        consistency: v1.Consistency.create({
          requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: writtenAt! },
        }),
      }),
    );
    expect(r.permissionship).toBe(HAS);
    expect(await check(client(freshToken('other'), 'readonlyGrpcAddr'), 'shared', 'sam', fullyConsistent())).toBe(NO);
  });
});

describe('pemba serve-testing: Watch', () => {
  it("streams the token's own writes, and only its own", async () => {
    const token = freshToken('watch');
    const c = client(token);
    const other = client(freshToken('watch-other'));
    // Start from a token of this datastore, so no write can slip in before the watch begins.
    const { writtenAt } = await c.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:w0#viewer@user:wa')] }),
    );
    const stream = c.watch(v1.WatchRequest.create({ optionalStartCursor: writtenAt }));
    const seen: string[] = [];
    const got = new Promise<void>((resolveWatch, reject) => {
      stream.on('data', (r: v1.WatchResponse) => {
        for (const u of r.updates) seen.push(relText(u.relationship));
        if (seen.includes('document:w2#viewer@user:wb')) resolveWatch();
      });
      stream.on('error', reject);
    });
    await other.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:w1#viewer@user:intruder')] }),
    );
    await c.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:w2#viewer@user:wb')] }),
    );
    await got;
    stream.cancel();
    expect(seen).toEqual(['document:w2#viewer@user:wb']);
  });

  it('works on the read-only port too', async () => {
    const token = freshToken('watch-ro');
    const rw = client(token);
    const ro = client(token, 'readonlyGrpcAddr');
    const { writtenAt } = await rw.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:r0#viewer@user:ra')] }),
    );
    const stream = ro.watch(v1.WatchRequest.create({ optionalStartCursor: writtenAt }));
    const first = new Promise<v1.WatchResponse>((resolveWatch, reject) => {
      stream.on('data', resolveWatch);
      stream.on('error', reject);
    });
    await rw.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'document:r1#viewer@user:rb')] }),
    );
    expect((await first).updates.map((u) => relText(u.relationship))).toEqual(['document:r1#viewer@user:rb']);
    stream.cancel();
  });
});

describe('pemba serve-testing: health and reflection', () => {
  it('answers SERVING on both gRPC ports without any token', async () => {
    const Client = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
    for (const port of ['grpcAddr', 'readonlyGrpcAddr']) {
      const health = new Client(String(server.ready[port]), grpc.credentials.createInsecure()) as unknown as {
        check(
          req: { service: string },
          cb: (e: grpc.ServiceError | null, r: { status: string | number }) => void,
        ): void;
        close(): void;
      };
      const ask = (service: string) =>
        new Promise<{ status: string | number }>((resolveCheck, reject) =>
          health.check({ service }, (e, r) => (e ? reject(e) : resolveCheck(r))),
        );
      for (const s of [
        '',
        'authzed.api.v1.PermissionsService',
        'authzed.api.v1.SchemaService',
        'authzed.api.v1.WatchService',
        'authzed.api.v1.ExperimentalService',
      ]) {
        expect(['SERVING', 1]).toContain((await ask(s)).status);
      }
      health.close();
    }
  });

  it('lists its services through server reflection', async () => {
    const ServiceResponse = new MessageType<{ name: string }>('grpc.reflection.v1.ServiceResponse', [
      { no: 1, name: 'name', kind: 'scalar', T: ScalarType.STRING },
    ]);
    const ListServiceResponse = new MessageType<{ service: { name: string }[] }>(
      'grpc.reflection.v1.ListServiceResponse',
      [{ no: 1, name: 'service', kind: 'message', T: () => ServiceResponse, repeat: 2 }],
    );
    const Request = new MessageType<{ listServices?: string }>('grpc.reflection.v1.ServerReflectionRequest', [
      { no: 7, name: 'list_services', kind: 'scalar', T: ScalarType.STRING, opt: true },
    ]);
    const Response = new MessageType<{ listServicesResponse?: { service: { name: string }[] } }>(
      'grpc.reflection.v1.ServerReflectionResponse',
      [{ no: 6, name: 'list_services_response', kind: 'message', T: () => ListServiceResponse }],
    );
    for (const port of ['grpcAddr', 'readonlyGrpcAddr']) {
      const reflection = new grpc.Client(String(server.ready[port]), grpc.credentials.createInsecure());
      const names = await new Promise<string[]>((resolveList, reject) => {
        const call = reflection.makeBidiStreamRequest(
          '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
          (r: { listServices?: string }) => Buffer.from(Request.toBinary(r)),
          (b: Buffer) => Response.fromBinary(b),
        );
        call.on('data', (r: { listServicesResponse?: { service: { name: string }[] } }) => {
          resolveList(r.listServicesResponse?.service.map((s) => s.name) ?? []);
          call.end();
        });
        call.on('error', reject);
        call.write({ listServices: '' });
      });
      reflection.close();
      expect(names).toEqual(
        expect.arrayContaining([
          'authzed.api.v1.PermissionsService',
          'authzed.api.v1.SchemaService',
          'authzed.api.v1.WatchService',
          'authzed.api.v1.ExperimentalService',
          'grpc.health.v1.Health',
        ]),
      );
    }
  });
});

describe('pemba serve-testing: the HTTP gateways', () => {
  const post = async (port: 'httpAddr' | 'readonlyHttpAddr', path: string, body: unknown, token?: string) => {
    const res = await fetch(`http://${String(server.ready[port])}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token !== undefined && { Authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const checkBody = (resource: string, user: string) => ({
    consistency: { fullyConsistent: true },
    resource: { objectType: 'document', objectId: resource },
    permission: 'view',
    subject: { object: { objectType: 'user', objectId: user } },
  });

  it("serves each token's datastore, shared with gRPC, and refuses writes on the read-only gateway", async () => {
    const token = freshToken('http');
    // The preload is there for a new token over HTTP as well.
    const preloaded = await post('httpAddr', '/v1/permissions/check', checkBody('readme', 'ann'), token);
    expect(preloaded.body.permissionship).toBe('PERMISSIONSHIP_HAS_PERMISSION');

    const write = await post(
      'httpAddr',
      '/v1/relationships/write',
      {
        updates: [
          {
            operation: 'OPERATION_TOUCH',
            relationship: {
              resource: { objectType: 'document', objectId: 'web' },
              relation: 'viewer',
              subject: { object: { objectType: 'user', objectId: 'hal' } },
            },
          },
        ],
      },
      token,
    );
    expect(write.status).toBe(200);
    expect(await check(client(token), 'web', 'hal', fullyConsistent())).toBe(HAS);
    const viaReadOnly = await post('readonlyHttpAddr', '/v1/permissions/check', checkBody('web', 'hal'), token);
    expect(viaReadOnly.body.permissionship).toBe('PERMISSIONSHIP_HAS_PERMISSION');
    const otherToken = await post('httpAddr', '/v1/permissions/check', checkBody('web', 'hal'), freshToken('http2'));
    expect(otherToken.body.permissionship).toBe('PERMISSIONSHIP_NO_PERMISSION');

    const refused = await post('readonlyHttpAddr', '/v1/schema/write', { schema: 'definition user {}' }, token);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({
      code: grpc.status.UNAVAILABLE,
      message: 'service read-only',
      details: [expect.objectContaining({ reason: 'ERROR_REASON_SERVICE_READ_ONLY' })],
    });
  });

  it('uses the token "" without an Authorization header, and answers /healthz', async () => {
    const marker = `http-empty-${seq++}`;
    await client('').promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', `document:${marker}#viewer@user:nia`)] }),
    );
    const r = await post('httpAddr', '/v1/permissions/check', checkBody(marker, 'nia'));
    expect(r.body.permissionship).toBe('PERMISSIONSHIP_HAS_PERMISSION');
    for (const port of ['httpAddr', 'readonlyHttpAddr']) {
      const res = await fetch(`http://${String(server.ready[port])}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'SERVING' });
    }
  });
});

describe("@authzed/authzed-node's own test suite", () => {
  it('passes unchanged (but for the address) against pemba serve-testing', async () => {
    // As the suite runs it: `serve-testing` with no flags but the port (each test expects an empty datastore).
    const plain = await serveTesting(['--grpc-addr', '127.0.0.1:0', '--readonly-grpc-addr', '127.0.0.1:0']);
    // The suite dials localhost:50051; a copy dials this server's port instead, and nothing else changes
    // (it must stay `localhost:`: the suite's INSECURE_LOCALHOST_ALLOWED sends its token only there).
    const pkg = resolve(REPO, 'node_modules/@authzed/authzed-node');
    const work = join(dir, 'authzed-node');
    cpSync(join(pkg, 'src'), join(work, 'src'), { recursive: true });
    symlinkSync(resolve(REPO, 'node_modules'), join(work, 'node_modules'), 'dir');
    const tests = readdirSync(join(work, 'src')).filter((f) => f.endsWith('.test.ts'));
    expect(tests.length).toBeGreaterThanOrEqual(4);
    for (const f of tests) {
      const path = join(work, 'src', f);
      const port = String(plain.ready.grpcAddr).split(':').pop()!;
      writeFileSync(path, readFileSync(path, 'utf8').replaceAll('localhost:50051', `localhost:${port}`));
    }
    writeFileSync(
      join(work, 'vitest.config.mjs'),
      `export default { cacheDir: ${JSON.stringify(join(work, '.vite'))}, test: { include: ['src/**/*.test.ts'] } };\n`,
    );
    const run = spawn(
      process.execPath,
      [
        resolve(REPO, 'node_modules/vitest/vitest.mjs'),
        'run',
        '--root',
        work,
        '--config',
        join(work, 'vitest.config.mjs'),
      ],
      {
        cwd: work,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CI: '1', NO_COLOR: '1', FORCE_COLOR: '0' },
      },
    );
    let output = '';
    run.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
    run.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const [code] = (await once(run, 'exit')) as [number | null];
    // eslint-disable-next-line no-control-regex
    output = output.replace(/\u001b\[[0-9;]*m/g, '');
    expect(output).toMatch(/Tests\s+\d+ passed/);
    expect(output).not.toMatch(/failed/);
    expect(code, output).toBe(0);
    plain.child.kill('SIGTERM');
    expect(await plain.exit).toEqual({ code: 0, signal: null });
  }, 120_000);
});

describe('pemba serve-testing: the process', () => {
  it('refuses a --load-configs file that does not load, naming it', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'schema: |-\n  definition user {}\nrelationships: |-\n  document:x#viewer@user:y\n');
    await expect(serveTesting([...LOCAL_PORTS, '--load-configs', bad])).rejects.toThrow(/bad\.yaml/);
  }, 60_000);

  it('exits 0 on SIGTERM, ending open Watch streams', async () => {
    const s = await serveTesting(['--grpc-addr', '127.0.0.1:0', '--readonly-grpc-enabled=false']);
    expect(s.ready.readonlyGrpcAddr).toBeUndefined();
    const c = v1.NewClient('t', String(s.ready.grpcAddr), v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    clients.push(c);
    await c.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: 'definition user {}' }));
    const stream = c.watch(v1.WatchRequest.create());
    const ended = new Promise<unknown>((resolveEnd) => {
      stream.on('error', resolveEnd);
      stream.on('end', () => resolveEnd('end'));
    });
    stream.on('data', () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    s.child.kill('SIGTERM');
    expect(await s.exit).toEqual({ code: 0, signal: null });
    const end = await ended;
    if (end !== 'end') expect((end as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
  }, 60_000);
});
