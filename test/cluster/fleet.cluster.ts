/**
 * A fleet of three `pemba serve` processes over one PostgreSQL (a primary and a streaming replica, each
 * node reading from the replica where it may), dispatching check sub-problems to each other on the
 * consistent-hash ring, with metrics on and traces exported to in-test OTLP receivers (one per node,
 * so a span's exporter is known for certain). One topology for the whole file; the tests run in order
 * and the last one stops and restarts the replica.
 *
 * Not a *.test.ts: it starts PostgreSQL servers and kills processes, so it runs with the fault tests
 * (`vitest run --config test/server/fault.vitest.config.ts`).
 */
import { mulberry32 } from '../differential/generator.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { objectToStruct, toApiRelationship, toSubjectReference } from '../../src/api/convert.js';
import { compileSchema } from '../../src/schema/compiler.js';
import { parseValidationFile } from '../../src/validationfile/parse.js';
import type { Assertion, ValidationFile } from '../../src/validationfile/types.js';
import type { ObjectRef, SubjectRef } from '../../src/relationships/relationship.js';
import { objectKey, subjectKey, universeOf } from '../conformance/universe.js';
import { describeBackend } from '../datastore/chosen-backends.js';
import { atExactSnapshot, atLeastAsFresh, fullyConsistent, obj, subj, update } from '../server/harness.js';
import { killAll, REPO } from '../server/serve-process.js';
import type { FleetNode, FleetOptions, NodeSpec, PromFamily } from './fleet-harness.js';
import {
  dispatchAddr,
  nodeSpecs,
  ringPeers,
  scrape,
  startNode,
  sumOf,
  until,
  untilRingsComplete,
} from './fleet-harness.js';
import type { OtlpReceiver, ReceivedSpan } from './otlp-receiver.js';
import { startOtlpReceiver } from './otlp-receiver.js';
import type { PgCluster } from './pg-cluster.js';
import { createPgCluster } from './pg-cluster.js';

const FLEET_SCHEMA = `definition user {}

definition team {
  relation member: user | team#member
}

definition document {
  relation viewer: user | team#member
  relation banned: user
  permission view = viewer - banned
}`;

const CHECK_METHOD = 'authzed.api.v1.PermissionsService/CheckPermission';
const Permissionship = v1.CheckPermissionResponse_Permissionship;
const HAS = Permissionship.HAS_PERMISSION;
const NO = Permissionship.NO_PERMISSION;
const CONDITIONAL = Permissionship.CONDITIONAL_PERMISSION;

const FIXTURE_DIR = join(REPO, 'test/fixtures/spicedb-conformance');
/** Fixtures without relationship expiration (its instants are absolute), several with caveats. */
const FIXTURES = [
  'basicrbac.yaml',
  'indirectnestedgroups.yaml',
  'caveatarrow.yaml',
  'allopscaveat.yaml',
  'multipleexclusion.yaml',
  'intersectionarrow.yaml',
  'linuxfoundation.yaml',
  'teamwitharrow.yaml',
  'wildcardnested.yaml',
  'document.yaml',
  'quay.yaml',
];
const CROSS_CHECK_SAMPLE = 150;
/** How long the SIGKILLed node stays down before it is started again. */
const C_DOWN_MS = 25_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function write(node: FleetNode, updates: v1.RelationshipUpdate[]): Promise<string> {
  const res = await node.client.promises.writeRelationships(v1.WriteRelationshipsRequest.create({ updates }));
  return res.writtenAt!.token;
}

interface CheckArgs {
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
}

function checkRequest(q: CheckArgs, consistency: v1.Consistency): v1.CheckPermissionRequest {
  return v1.CheckPermissionRequest.create({
    consistency,
    resource: obj(q.resource.type, q.resource.id),
    permission: q.permission,
    subject: v1.SubjectReference.create(toSubjectReference(q.subject)),
    context: q.context ? objectToStruct(q.context) : undefined,
  });
}

/** `document:1#view@user:alice` against a node: the permissionship. */
async function checkOn(
  node: FleetNode,
  resource: string,
  permission: string,
  subject: string,
  consistency: v1.Consistency,
): Promise<v1.CheckPermissionResponse_Permissionship> {
  const [rt, rid] = resource.split(':');
  const [st, rest] = subject.split(':');
  const [sid, srel = ''] = rest.split('#');
  const res = await node.client.promises.checkPermission(
    v1.CheckPermissionRequest.create({
      consistency,
      resource: obj(rt, rid),
      permission,
      subject: subj(st, sid, srel),
    }),
  );
  return res.permissionship;
}

const nameOf = (p: v1.CheckPermissionResponse_Permissionship) => Permissionship[p] as string;

/** A check's outcome as one comparable string: the permissionship, the missing caveat fields, or the error. */
async function outcome(node: FleetNode, q: CheckArgs, consistency: v1.Consistency): Promise<string> {
  try {
    const res = await node.client.promises.checkPermission(checkRequest(q, consistency));
    const missing = [...(res.partialCaveatInfo?.missingRequiredContext ?? [])].sort();
    return res.permissionship === CONDITIONAL ? `CONDITIONAL[${missing.join(',')}]` : nameOf(res.permissionship);
  } catch (e) {
    const err = e as { code?: number; details?: string };
    return `ERROR ${err.code}: ${err.details}`;
  }
}

const definitionsOf = (schema: string) => [...schema.matchAll(/definition\s+([a-z0-9_/]+)/g)].map((m) => m[1]);

/** Deletes every relationship of the current schema's types, then writes `schema`. */
async function replaceSchema(node: FleetNode, schema: string): Promise<string> {
  let old = '';
  try {
    old = (await node.client.promises.readSchema(v1.ReadSchemaRequest.create({}))).schemaText;
  } catch {
    // No schema yet.
  }
  for (const resourceType of definitionsOf(old)) {
    await node.client.promises.deleteRelationships(
      v1.DeleteRelationshipsRequest.create({ relationshipFilter: v1.RelationshipFilter.create({ resourceType }) }),
    );
  }
  const res = await node.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
  return res.writtenAt!.token;
}

/** Runs `fn` over `items` with at most `limit` at a time, in order of results. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

const spanLabel = (s: ReceivedSpan) => `${s.receivedBy}:${s.name}(${s.spanId}<-${s.parentSpanId || 'root'})`;

describeBackend('postgres', 'a pemba serve fleet over PostgreSQL with a read replica', () => {
  let cluster: PgCluster;
  let receivers: OtlpReceiver[] = [];
  let specs: NodeSpec[];
  let options: FleetOptions;
  let nodes: FleetNode[] = [];
  let schemaInUse = '';
  const started = Date.now();

  const useFleetSchema = async () => {
    if (schemaInUse === FLEET_SCHEMA) return;
    await replaceSchema(nodes[0], FLEET_SCHEMA);
    schemaInUse = FLEET_SCHEMA;
  };

  beforeAll(async () => {
    const t0 = Date.now();
    [cluster, receivers] = await Promise.all([
      createPgCluster({ replicas: 1 }),
      Promise.all(['A', 'B', 'C'].map((l) => startOtlpReceiver(l))),
    ]);
    const t1 = Date.now();
    // A answers from its relationship mirror; B and C read PostgreSQL (the primary or the replica),
    // so the fleet's answers cover both paths and the replica tests see B's and C's reads.
    const direct = ['--datastore-mirror-enabled', 'false'];
    specs = await nodeSpecs(
      ['A', 'B', 'C'],
      receivers.map((r) => r.endpoint),
      [undefined, direct, direct],
    );
    options = { cluster, upstreams: specs.map(dispatchAddr) };
    nodes = await Promise.all(specs.map((s) => startNode(s, options)));
    const t2 = Date.now();
    const ringMs = await untilRingsComplete(nodes);
    console.log(
      `fleet: PostgreSQL primary+replica in ${t1 - t0} ms, three nodes ready in ${t2 - t1} ms, rings complete ${ringMs} ms later`,
    );
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await Promise.allSettled(receivers.map((r) => r.close()));
    await cluster?.destroy();
    console.log(`fleet: the whole file took ${Date.now() - started} ms`);
  }, 60_000);

  it('puts every node on every ring, as the ready lines and logs say', () => {
    for (const n of nodes) {
      expect(n.proc.ready.dispatchAddr).toBe(dispatchAddr(n));
      expect(typeof n.proc.ready.nodeId).toBe('string');
      expect(Array.isArray(n.proc.ready.dispatchRing)).toBe(true);
      expect(n.proc.ready.dispatchRing as string[]).toContain(n.nodeId);
      expect([...ringPeers(n)].sort()).toEqual(
        nodes
          .filter((m) => m !== n)
          .map((m) => m.nodeId)
          .sort(),
      );
    }
    expect(new Set(nodes.map((n) => n.nodeId)).size).toBe(3);
  });

  it('never lets a check on another node miss a revocation made on one node (new enemy)', async () => {
    await useFleetSchema();
    const [A, B, C] = nodes;
    const DOCS = 10;
    const ROUNDS = 200;
    await write(
      A,
      Array.from({ length: DOCS }, (_, i) => update('TOUCH', `document:ne-${i}#viewer@user:alice`)),
    );
    const wrong: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const doc = `document:ne-${round % DOCS}`;
      const revoked = await write(A, [update('DELETE', `${doc}#viewer@user:alice`)]);
      const [onB, onC] = await Promise.all(
        [B, C].map((n) => checkOn(n, doc, 'view', 'user:alice', atLeastAsFresh(revoked))),
      );
      if (onB === HAS) wrong.push(`round ${round}: B says HAS after the revoke of ${doc} at ${revoked}`);
      if (onC === HAS) wrong.push(`round ${round}: C says HAS after the revoke of ${doc} at ${revoked}`);
      if (onB !== NO || onC !== NO) wrong.push(`round ${round}: after revoke B=${nameOf(onB)} C=${nameOf(onC)}`);
      const granted = await write(A, [update('TOUCH', `${doc}#viewer@user:alice`)]);
      const again = await checkOn(B, doc, 'view', 'user:alice', atLeastAsFresh(granted));
      if (again !== HAS) wrong.push(`round ${round}: B says ${nameOf(again)} after the grant of ${doc} at ${granted}`);
    }
    expect(wrong).toEqual([]);
  }, 90_000);

  it('never misses a revocation in the middle of a deep nested-group chain, whichever node wrote it', async () => {
    await useFleetSchema();
    const DEPTH = 30;
    const ROUNDS = 90;
    const setup = [
      ...Array.from({ length: DEPTH - 1 }, (_, i) =>
        update('TOUCH', `team:deep-${i}#member@team:deep-${i + 1}#member`),
      ),
      update('TOUCH', `team:deep-${DEPTH - 1}#member@user:bottom`),
      update('TOUCH', 'document:deep#viewer@team:deep-0#member'),
    ];
    const first = await write(nodes[0], setup);
    for (const n of nodes)
      expect(nameOf(await checkOn(n, 'document:deep', 'view', 'user:bottom', atLeastAsFresh(first)))).toBe(
        'HAS_PERMISSION',
      );
    const link = `team:deep-${DEPTH / 2 - 1}#member@team:deep-${DEPTH / 2}#member`;
    const wrong: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const writer = nodes[round % 3];
      const others = nodes.filter((n) => n !== writer);
      const revoked = await write(writer, [update('DELETE', link)]);
      const after = await Promise.all(
        others.map((n) => checkOn(n, 'document:deep', 'view', 'user:bottom', atLeastAsFresh(revoked))),
      );
      // The team itself, checked at the top of the chain, must also see the cut.
      const top = await checkOn(others[round % 2], 'team:deep-0', 'member', 'user:bottom', atLeastAsFresh(revoked));
      after.forEach((p, i) => {
        if (p !== NO)
          wrong.push(`round ${round}: ${others[i].name} says ${nameOf(p)} after ${writer.name} revoked at ${revoked}`);
      });
      if (top !== NO) wrong.push(`round ${round}: team:deep-0#member says ${nameOf(top)} after the revoke`);
      const granted = await write(writer, [update('TOUCH', link)]);
      const back = await checkOn(others[round % 2], 'document:deep', 'view', 'user:bottom', atLeastAsFresh(granted));
      if (back !== HAS)
        wrong.push(`round ${round}: ${others[round % 2].name} says ${nameOf(back)} after ${writer.name} re-granted`);
    }
    expect(wrong).toEqual([]);
  }, 90_000);

  it('answers SpiceDB conformance fixtures the same on one node and spread over the fleet, dispatching remotely', async () => {
    const remoteBefore = await Promise.all(nodes.map((n) => scrape(n).catch((e: unknown) => e as Error)));
    const [A] = nodes;
    const disagreements: string[] = [];
    const failedAssertions: string[] = [];
    let queries = 0;
    for (const name of FIXTURES) {
      const path = join(FIXTURE_DIR, name);
      const { file, problems } = parseValidationFile(readFileSync(path, 'utf8'), path);
      expect(problems, name).toEqual([]);
      const schemaText = file.schema!.text;
      await replaceSchema(A, schemaText);
      schemaInUse = schemaText;
      const token = await write(
        A,
        file.relationships.map((r) =>
          v1.RelationshipUpdate.create({
            operation: v1.RelationshipUpdate_Operation.TOUCH,
            relationship: v1.Relationship.create(toApiRelationship(r.relationship)),
          }),
        ),
      );
      const items: Array<CheckArgs & { kind?: Assertion['kind'] }> = [...file.assertions, ...crossChecks(file, name)];
      const at = atExactSnapshot(token);
      const alone = await pool(items, 8, (q) => outcome(A, q, at));
      const spread = await pool(items, 8, (q, i) => outcome(nodes[i % 3], q, at));
      queries += items.length;
      items.forEach((q, i) => {
        const what = `${name}: ${objectKey(q.resource)}#${q.permission}@${subjectKey(q.subject)}${q.context ? ` with ${JSON.stringify(q.context)}` : ''}`;
        if (alone[i] !== spread[i])
          disagreements.push(`${what}: node A alone ${alone[i]}, on ${nodes[i % 3].name} ${spread[i]}`);
        if (q.kind) {
          const expected = {
            assertTrue: 'HAS_PERMISSION',
            assertFalse: 'NO_PERMISSION',
            assertCaveated: 'CONDITIONAL',
          }[q.kind];
          if (!alone[i].startsWith(expected)) failedAssertions.push(`${what}: ${q.kind} but ${alone[i]}`);
        }
      });
    }
    console.log(`fleet conformance: ${FIXTURES.length} fixtures, ${queries} checks asked twice`);
    expect(disagreements).toEqual([]);
    expect(failedAssertions).toEqual([]);

    // Remote dispatch really happened: pemba_dispatch_total{kind="remote"}, summed over the nodes, grew.
    const remoteAfter = await Promise.all(nodes.map((n) => scrape(n)));
    for (const b of remoteBefore) if (b instanceof Error) throw b;
    const remote = (ms: Map<string, PromFamily>[]) =>
      ms.reduce((s, m) => s + sumOf(m, 'pemba_dispatch_total', { kind: 'remote' }), 0);
    const grew = remote(remoteAfter) - remote(remoteBefore as Map<string, PromFamily>[]);
    console.log(`fleet conformance: ${grew} sub-problems dispatched to another node`);
    expect(grew).toBeGreaterThan(0);
  }, 120_000);

  it('serves /metrics on every node as valid Prometheus text, counting each CheckPermission it answered', async () => {
    await useFleetSchema();
    const token = await write(nodes[0], [update('TOUCH', 'document:metrics#viewer@user:alice')]);
    const calls = [5, 8, 13];
    for (const [i, n] of nodes.entries()) {
      const before = await scrape(n);
      for (const name of [
        'pemba_api_requests_total',
        'pemba_dispatch_total',
        'pemba_dispatch_cache_hits_total',
        'pemba_dispatch_cache_misses_total',
        'pemba_datastore_queries_total',
      ])
        expect(before.get(name)?.type, `${n.name}: ${name}`).toBe('counter');
      expect(before.get('pemba_api_request_duration_seconds')?.type, n.name).toBe('histogram');
      const counted = (m: Map<string, PromFamily>) =>
        sumOf(m, 'pemba_api_requests_total', { method: CHECK_METHOD, code: 'OK' });
      for (let k = 0; k < calls[i]; k++)
        expect(
          await checkOn(n, `document:metrics`, 'view', `user:${k % 2 ? 'alice' : 'bob'}`, atLeastAsFresh(token)),
        ).toBe(k % 2 ? HAS : NO);
      const after = await scrape(n);
      expect(counted(after) - counted(before), `${n.name}: CheckPermission calls counted`).toBe(calls[i]);
      expect(
        sumOf(after, 'pemba_api_requests_total', { method: CHECK_METHOD, code: 'OK', transport: 'grpc' }) -
          sumOf(before, 'pemba_api_requests_total', { method: CHECK_METHOD, code: 'OK', transport: 'grpc' }),
        `${n.name}: counted as gRPC calls`,
      ).toBe(calls[i]);
      expect(
        sumOf(after, 'pemba_api_request_duration_seconds_count', { method: CHECK_METHOD }) -
          sumOf(before, 'pemba_api_request_duration_seconds_count', { method: CHECK_METHOD }),
        `${n.name}: CheckPermission durations observed`,
      ).toBe(calls[i]);
      expect(sumOf(after, 'pemba_datastore_queries_total', { outcome: 'ok' })).toBeGreaterThan(0);
    }
  }, 60_000);

  it('traces a remotely dispatched check across two processes under one trace id', async () => {
    await useFleetSchema();
    const [A] = nodes;
    const token = await write(A, [update('TOUCH', 'document:traced-0#viewer@user:alice')]);
    for (let i = 0; i < 24; i++) await checkOn(A, `document:traced-${i}`, 'view', 'user:alice', atLeastAsFresh(token));
    const all = () => receivers.flatMap((r) => r.spans);
    let found: { api: ReceivedSpan; client: ReceivedSpan; server: ReceivedSpan } | undefined;
    const findTrace = () => {
      const spans = all();
      const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
      for (const server of spans.filter((s) => s.name === 'dispatch.serve_check' && s.receivedBy !== 'A')) {
        const client = byId.get(`${server.traceId}/${server.parentSpanId}`);
        if (!client || client.name !== 'dispatch.check' || client.receivedBy !== 'A') continue;
        // Walk up from the client span, within A, to the API call's span.
        let up: ReceivedSpan | undefined = client;
        while (up && up.name !== CHECK_METHOD) up = byId.get(`${up.traceId}/${up.parentSpanId}`);
        if (up && up.receivedBy === 'A' && up.parentSpanId === '') {
          found = { api: up, client, server };
          return true;
        }
      }
      return false;
    };
    await until('a trace of a check on A dispatched to B or C', findTrace, 10_000, () =>
      receivers
        .map(
          (r) =>
            `receiver ${r.label}: ${r.requests} exports, ${r.malformed.length} malformed, spans ${r.spans
              .slice(0, 30)
              .map(spanLabel)
              .join(' ')}`,
        )
        .join('\n'),
    );
    const { api, client, server } = found!;
    expect(client.traceId).toBe(api.traceId);
    expect(server.traceId).toBe(api.traceId);
    expect(api.kind).toBe(2); // SERVER
    expect(client.kind).toBe(3); // CLIENT
    expect(server.kind).toBe(2); // SERVER
    // The two processes exported them: different receivers, each span's resource naming its node.
    expect(server.receivedBy).not.toBe(client.receivedBy);
    const instance = (s: ReceivedSpan) => s.resource['service.instance.id'];
    expect(instance(client)).toBe(A.nodeId);
    expect(instance(server)).toBe(nodes.find((n) => n.name === server.receivedBy)!.nodeId);
    // datastore.* spans exist somewhere in the trace's processes.
    expect(all().some((s) => s.name.startsWith('datastore.'))).toBe(true);
    console.log(
      `fleet tracing: trace ${api.traceId}: ${spanLabel(api)} > ${spanLabel(client)} > ${spanLabel(server)}; resource attributes: ${JSON.stringify(server.resource)}`,
    );
    for (const r of receivers) expect(r.malformed, `receiver ${r.label}`).toEqual([]);
  }, 60_000);

  it('keeps answering on the other nodes when one is SIGKILLed under load, and takes it back when it returns', async () => {
    await useFleetSchema();
    const [A, B, C] = nodes;
    const DOCS = 40;
    const USERS = 9;
    const TEAMS = 4;
    const setup = [
      ...Array.from({ length: DOCS }, (_, i) =>
        Array.from({ length: USERS }, (_, j) => j)
          .filter((j) => (i + j) % 3 === 0)
          .map((j) => update('TOUCH', `document:load-${i}#viewer@user:u-${j}`)),
      ).flat(),
      ...Array.from({ length: DOCS }, (_, i) =>
        update('TOUCH', `document:load-${i}#viewer@team:lt-${i % TEAMS}#member`),
      ),
      ...Array.from({ length: TEAMS }, (_, k) => update('TOUCH', `team:lt-${k}#member@user:v-${k}`)),
    ];
    const token0 = await write(A, setup);
    const expected = (i: number, subject: string) => {
      const [kind, n] = subject.slice('user:'.length).split('-');
      return (kind === 'u' ? (i + Number(n)) % 3 === 0 : i % TEAMS === Number(n)) ? HAS : NO;
    };
    const failures: string[] = [];
    let sent = 0;
    let sentAfterKill = 0;
    let killedAt = 0;
    let stop = false;
    const checker = async (node: FleetNode, seed: number) => {
      const rnd = mulberry32(seed);
      while (!stop) {
        const i = Math.floor(rnd() * DOCS);
        const subject = rnd() < 0.5 ? `user:u-${Math.floor(rnd() * USERS)}` : `user:v-${Math.floor(rnd() * TEAMS)}`;
        const consistency = rnd() < 0.5 ? fullyConsistent() : atLeastAsFresh(token0);
        sent++;
        if (killedAt) sentAfterKill++;
        try {
          const p = await checkOn(node, `document:load-${i}`, 'view', subject, consistency);
          if (p !== expected(i, subject))
            failures.push(`${node.name}: load-${i} view ${subject} = ${nameOf(p)} (t=${Date.now() - begin} ms)`);
        } catch (e) {
          failures.push(`${node.name}: load-${i} view ${subject} failed: ${String(e)} (t=${Date.now() - begin} ms)`);
        }
      }
    };
    const writer = async (node: FleetNode, other: FleetNode) => {
      for (let n = 0; !stop; n++) {
        const doc = `document:lw-${node.name}-${n}`;
        try {
          sent += 2;
          if (killedAt) sentAfterKill += 2;
          const t = await write(node, [update('TOUCH', `${doc}#viewer@user:w`)]);
          const p = await checkOn(other, doc, 'view', 'user:w', atLeastAsFresh(t));
          if (p !== HAS) failures.push(`${other.name}: ${doc} written on ${node.name} = ${nameOf(p)}`);
        } catch (e) {
          failures.push(`writer on ${node.name}, ${doc}: ${String(e)}`);
        }
        await sleep(40);
      }
    };
    const begin = Date.now();
    const load = Promise.all([
      ...[A, B].flatMap((n, k) => [0, 1, 2].map((c) => checker(n, 100 * k + c + 1))),
      writer(A, B),
      writer(B, A),
    ]);
    await sleep(2500);
    const oldC = C.nodeId;
    killedAt = Date.now();
    await C.proc.kill('SIGKILL');
    await sleep(2500);
    stop = true;
    await load;
    console.log(
      `fleet kill: ${sent} requests to A and B, ${sentAfterKill} after C was killed, ${failures.length} failed`,
    );
    expect(failures).toEqual([]);
    expect(sentAfterKill).toBeGreaterThan(20);

    // A and B took C off their rings.
    await until(
      'A and B to log that C left the ring',
      () =>
        [A, B].every((n) =>
          n.logLines().some((l) => String(l.msg).startsWith('dispatch peer left the ring') && l.nodeId === oldC),
        ),
      10_000,
    );
    const leftBy = Date.now() - killedAt;
    for (const n of [A, B]) {
      const left = n
        .logLines()
        .find((l) => String(l.msg).startsWith('dispatch peer left the ring') && l.nodeId === oldC)!;
      expect(left.peer).toBe(dispatchAddr(C));
      expect(ringPeers(n).has(oldC)).toBe(false);
    }

    // C stays down a while (as a crashed node being rescheduled would), then comes back: a new process
    // on the same ports, a new node id, and the others take it in within a Hello or two.
    await sleep(Math.max(0, killedAt + C_DOWN_MS - Date.now()));
    const restartAt = Date.now();
    const newC = await startNode(specs[2], options);
    const readyMs = Date.now() - restartAt;
    nodes[2] = newC;
    expect(newC.nodeId).not.toBe(oldC);
    const joinMs = await until(
      'A and B to log that the new C joined the ring',
      () => [A, B].every((n) => ringPeers(n).has(newC.nodeId)),
      30_000,
    );
    console.log(
      `fleet kill: A and B had logged that C left their rings by ${leftBy} ms after the kill (looked at after the load); the new C was ready ${readyMs} ms after its start and on both rings ${joinMs} ms later`,
    );
    // The ring is refreshed every second with a Hello that waits at most a second.
    expect.soft(joinMs, 'the restarted C joined the ring late').toBeLessThan(3000);
    for (const n of [A, B]) {
      const joined = n.logLines().find((l) => l.msg === 'dispatch peer joined the ring' && l.nodeId === newC.nodeId)!;
      expect(joined.peer).toBe(dispatchAddr(newC));
    }
    expect([...(newC.proc.ready.dispatchRing as string[])].sort()).toEqual([A.nodeId, B.nodeId, newC.nodeId].sort());
    await untilRingsComplete(nodes);

    const wrong: string[] = [];
    await pool(
      Array.from({ length: 90 }, (_, k) => k),
      6,
      async (k) => {
        const node = nodes[k % 3];
        const i = (k * 7) % DOCS;
        const subject = k % 2 ? `user:u-${k % USERS}` : `user:v-${k % TEAMS}`;
        const p = await checkOn(
          node,
          `document:load-${i}`,
          'view',
          subject,
          k % 3 ? fullyConsistent() : atLeastAsFresh(token0),
        );
        if (p !== expected(i, subject)) wrong.push(`${node.name}: load-${i} view ${subject} = ${nameOf(p)}`);
      },
    );
    expect(wrong).toEqual([]);
  }, 120_000);

  it('never answers from a replica behind the token, and keeps reading when the replica stops', async () => {
    await useFleetSchema();
    const [A, B, C] = nodes;
    const replica = cluster.replicas[0];
    const granted = await write(A, [
      update('TOUCH', 'document:rep-1#viewer@user:alice'),
      update('DELETE', 'document:rep-2#viewer@user:alice'),
    ]);
    await replicaCaughtUp(cluster);
    // The replica has the grant; give the nodes' replica polls time to know it.
    await sleep(1200);
    const replicaReads = async () =>
      (await Promise.all([B, C].map((n) => scrape(n)))).reduce(
        (sum, m) => sum + sumOf(m, 'pemba_datastore_replica_reads_total'),
        0,
      );
    const readsBefore = await replicaReads();
    for (const n of [B, C])
      expect(nameOf(await checkOn(n, 'document:rep-1', 'view', 'user:alice', atLeastAsFresh(granted)))).toBe(
        'HAS_PERMISSION',
      );
    // Those reads were the replica's to answer (so the paused replica below is really in the way).
    expect(await replicaReads(), 'B and C read from the caught-up replica').toBeGreaterThan(readsBefore);

    await cluster.pauseReplay(replica);
    const wrong: string[] = [];
    // The last flip's token: the reads below ask for at least it. An older token (granted) would let
    // a node answer at any revision since, some of which the flips revoked rep-1 in.
    let flipped = granted;
    try {
      for (let round = 0; round < 10; round++) {
        // Revoke rep-1 and grant rep-2 on A: the replica, paused, still has the opposite.
        const flip = round % 2 === 0;
        const token = await write(A, [
          update(flip ? 'DELETE' : 'TOUCH', 'document:rep-1#viewer@user:alice'),
          update(flip ? 'TOUCH' : 'DELETE', 'document:rep-2#viewer@user:alice'),
        ]);
        flipped = token;
        for (const n of [B, C]) {
          const [one, two] = await Promise.all([
            checkOn(n, 'document:rep-1', 'view', 'user:alice', atLeastAsFresh(token)),
            checkOn(n, 'document:rep-2', 'view', 'user:alice', atLeastAsFresh(token)),
          ]);
          if (one !== (flip ? NO : HAS) || two !== (flip ? HAS : NO))
            wrong.push(`round ${round} on ${n.name}: rep-1 ${nameOf(one)}, rep-2 ${nameOf(two)} at ${token}`);
        }
      }
    } finally {
      await cluster.resumeReplay(replica);
    }
    expect(wrong, wrong.join('\n')).toEqual([]);
    // After 10 rounds (an even number) rep-1 is granted and rep-2 revoked, as before.

    await replica.stop('immediate');
    try {
      const failures: string[] = [];
      let last = flipped;
      for (let round = 0; round < 8; round++) {
        for (const n of nodes) {
          for (const consistency of [
            fullyConsistent(),
            atLeastAsFresh(last),
            v1.Consistency.create({ requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true } }),
          ]) {
            try {
              const p = await checkOn(n, 'document:rep-1', 'view', 'user:alice', consistency);
              if (consistency.requirement.oneofKind !== 'minimizeLatency' && p !== HAS)
                failures.push(`round ${round} on ${n.name} (${consistency.requirement.oneofKind}): ${nameOf(p)}`);
            } catch (e) {
              failures.push(`round ${round} on ${n.name} (${consistency.requirement.oneofKind}): ${String(e)}`);
            }
          }
        }
        // Writes go on, and a read at their token on another node sees them.
        const doc = `document:rep-down-${round}`;
        last = await write(nodes[round % 3], [update('TOUCH', `${doc}#viewer@user:alice`)]);
        const seen = await checkOn(nodes[(round + 1) % 3], doc, 'view', 'user:alice', atLeastAsFresh(last)).catch(
          (e: unknown) => String(e),
        );
        if (seen !== HAS) failures.push(`round ${round}: ${doc} at its token: ${String(seen)}`);
      }
      expect(failures, failures.join('\n')).toEqual([]);
    } finally {
      await replica.start();
    }
    // Back in use without trouble.
    const token = await write(A, [update('TOUCH', 'document:rep-back#viewer@user:alice')]);
    await replicaCaughtUp(cluster);
    for (const n of nodes)
      expect(await checkOn(n, 'document:rep-back', 'view', 'user:alice', atLeastAsFresh(token))).toBe(HAS);
  }, 90_000);
});

/** Until the replica has replayed everything the primary has written so far. */
async function replicaCaughtUp(cluster: PgCluster): Promise<void> {
  const query = async (uri: string, sql: string) => {
    const client = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<{ v: boolean | string }>(sql)).rows[0].v;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const target = String(await query(cluster.primary.uri, 'SELECT pg_current_wal_lsn()::text AS v'));
  await until(
    `the replica to replay up to ${target}`,
    async () =>
      (await query(
        cluster.replicas[0].uri,
        `SELECT coalesce(pg_last_wal_replay_lsn() >= '${target}'::pg_lsn, false) AS v`,
      ).catch(() => false)) === true,
    20_000,
  );
}

/** Every assertion-free combination the file mentions (resource × relation or permission × subject), sampled. */
function crossChecks(file: ValidationFile, name: string): CheckArgs[] {
  const schema = compileSchema(file.schema!.text);
  const u = universeOf(file, schema);
  const all: CheckArgs[] = [];
  for (const r of u.resources)
    for (const permission of schema.definitions.get(r.type)?.relations.keys() ?? [])
      for (const s of u.subjects) all.push({ resource: r, permission, subject: s });
  if (all.length <= CROSS_CHECK_SAMPLE) return all;
  const rnd = mulberry32([...name].reduce((h, c) => h * 31 + c.charCodeAt(0), 7));
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, CROSS_CHECK_SAMPLE);
}
