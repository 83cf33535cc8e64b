/**
 * Deadlines and fairness through the real server: an expensive call ends with DEADLINE_EXCEEDED at
 * its deadline (the engine stops, and the event loop is free for the timer and the answer), a
 * trivial call answers quickly meanwhile, and Expand's answer is bounded.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { fullyConsistent, grpcError, importBulk, obj, rel, startTestServer, subj } from './harness.js';
import type { TestServer } from './harness.js';
import type { RawFlags } from '../../src/server/config.js';

const SCHEMA = `definition user {}

definition folder {
  relation parent: folder
  relation viewer: user
  relation banned: user
  permission view = viewer + parent->view
  permission allowed = (viewer - banned) + parent->allowed
}`;

/** Each folder of a layer under every folder of the next: 12 × 40 is the adversarial trial's shape. */
function hierarchy(layers: number, width: number): v1.Relationship[] {
  const rels = [rel('folder:0_0#viewer@user:ann')];
  for (let l = 0; l + 1 < layers; l++) {
    for (let a = 0; a < width; a++)
      for (let b = 0; b < width; b++) rels.push(rel(`folder:${l}_${a}#parent@folder:${l + 1}_${b}`));
  }
  return rels;
}

/** Ten folders, each the parent of every other: checks that find no way in take seconds (see test/engine/deadlines.test.ts). */
function cycle(n: number): v1.Relationship[] {
  const rels = [
    rel(`folder:c${n - 1}#viewer@user:ann`),
    rel(`folder:c${n - 1}#banned@user:ann`),
    rel('folder:trivial#viewer@user:ann'),
  ];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) if (i !== j) rels.push(rel(`folder:c${i}#parent@folder:c${j}`));
  return rels;
}

const open: TestServer[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function serve(rels: v1.Relationship[], flags: RawFlags = {}): Promise<v1.ZedClientInterface> {
  const s = await startTestServer(flags);
  open.push(s);
  await s.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
  const batches: v1.Relationship[][] = [];
  for (let i = 0; i < rels.length; i += 5000) batches.push(rels.slice(i, i + 5000));
  await importBulk(s.client, batches);
  return s.client;
}

const within = (ms: number) => ({ deadline: Date.now() + ms });

/** Every message of a server stream, or its error. */
function streamed(stream: grpc.ClientReadableStream<unknown>): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const out: unknown[] = [];
    stream.on('data', (m) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

/** The expensive calls, each with gRPC call options (a deadline). */
const hostile = {
  CheckPermission: (c: v1.ZedClientInterface, options: grpc.CallOptions) =>
    c.promises.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: obj('folder', 'c0'),
        permission: 'view',
        subject: subj('user', 'nobody'),
        consistency: fullyConsistent(),
      }),
      new grpc.Metadata(),
      options,
    ),
  LookupResources: (c: v1.ZedClientInterface, options: grpc.CallOptions) =>
    streamed(
      c.lookupResources(
        v1.LookupResourcesRequest.create({
          resourceObjectType: 'folder',
          permission: 'allowed',
          subject: subj('user', 'ann'),
          consistency: fullyConsistent(),
        }),
        new grpc.Metadata(),
        options,
      ),
    ),
  LookupSubjects: (c: v1.ZedClientInterface, options: grpc.CallOptions) =>
    streamed(
      c.lookupSubjects(
        v1.LookupSubjectsRequest.create({
          resource: obj('folder', 'c0'),
          permission: 'view',
          subjectObjectType: 'user',
          consistency: fullyConsistent(),
        }),
        new grpc.Metadata(),
        options,
      ),
    ),
};

const trivialCheck = (c: v1.ZedClientInterface) =>
  c.promises.checkPermission(
    v1.CheckPermissionRequest.create({
      resource: obj('folder', 'trivial'),
      permission: 'view',
      subject: subj('user', 'ann'),
      consistency: fullyConsistent(),
    }),
  );

async function timed(p: Promise<unknown>): Promise<{ result: Awaited<ReturnType<typeof grpcError>>; ms: number }> {
  const began = Date.now();
  const result = await grpcError(p);
  return { result, ms: Date.now() - began };
}

describe('deadlines over gRPC', () => {
  it.each(Object.keys(hostile) as (keyof typeof hostile)[])(
    '%s that would take seconds ends DEADLINE_EXCEEDED at its 200 ms deadline',
    async (method) => {
      const client = await serve(cycle(10));
      const { result, ms } = await timed(hostile[method](client, within(200)));
      expect(result.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(ms).toBeLessThan(200 + 250);
      // The server is free again at once: its evaluation stopped.
      await trivialCheck(client);
    },
  );

  it('the server request timeout bounds an expensive call the same way', async () => {
    const client = await serve(cycle(10), { requestTimeout: '200ms' });
    const { result, ms } = await timed(hostile.CheckPermission(client, {}));
    expect(result.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(ms).toBeLessThan(200 + 250);
  });

  it('a trivial check answers quickly while an expensive one runs', async () => {
    const client = await serve(cycle(10));
    await trivialCheck(client);
    const long = grpcError(hostile.CheckPermission(client, within(3000)));
    // Measured from when it was due to start: the server runs in this process, so a blocked event loop starts it late.
    const due = Date.now() + 100;
    await new Promise((resolve) => setTimeout(resolve, 100));
    await trivialCheck(client);
    expect(Date.now() - due).toBeLessThan(250);
    expect((await long).code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});

describe('ExpandPermissionTree is bounded', () => {
  const expandRoot = (client: v1.ZedClientInterface, options: grpc.CallOptions = {}) =>
    client.promises.expandPermissionTree(
      v1.ExpandPermissionTreeRequest.create({
        resource: obj('folder', '0_0'),
        permission: 'view',
        consistency: fullyConsistent(),
      }),
      new grpc.Metadata(),
      options,
    );

  it('12 layers × 40 folders, each under every folder of the next layer, fails RESOURCE_EXHAUSTED within its deadline', async () => {
    const client = await serve(hierarchy(12, 40));
    const { result, ms } = await timed(expandRoot(client, within(2000)));
    expect([grpc.status.RESOURCE_EXHAUSTED, grpc.status.DEADLINE_EXCEEDED]).toContain(result.code);
    expect(ms).toBeLessThan(2000 + 250);
    await trivialCheck(client);
  });

  it('--max-expand-tree-size sets the bound', async () => {
    const small = await serve(hierarchy(4, 4), { maxExpandTreeSize: '50' });
    expect((await grpcError(expandRoot(small))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const large = await serve(hierarchy(4, 4), { maxExpandTreeSize: '100000' });
    expect((await expandRoot(large)).treeRoot).toBeDefined();
  });
});
