/** The HTTP/JSON gateway with plain fetch: SpiceDB's paths, proto3 JSON, NDJSON streams, JSON errors. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY, SCHEMA, startTestServer } from './harness.js';
import type { TestServer } from './harness.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

const post = (path: string, body: unknown, key: string | null = KEY, init: RequestInit = {}) =>
  fetch(`${t.httpBase}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key !== null ? { Authorization: `Bearer ${key}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });

async function json(path: string, body: unknown): Promise<Record<string, any>> {
  const r = await post(path, body);
  const text = await r.text();
  expect(r.status, text).toBe(200);
  return JSON.parse(text);
}

async function ndjson(path: string, body: unknown): Promise<Record<string, any>[]> {
  const r = await post(path, body);
  const text = await r.text();
  expect(r.status, text).toBe(200);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const full = { fullyConsistent: true };
const ref = (objectType: string, objectId: string) => ({ objectType, objectId });
const subject = (objectType: string, objectId: string, optionalRelation?: string) => ({
  object: ref(objectType, objectId),
  ...(optionalRelation ? { optionalRelation } : {}),
});
const relationship = (r: string, rel: string, s: ReturnType<typeof subject>) => {
  const [type, id] = r.split(':');
  return { resource: ref(type, id), relation: rel, subject: s };
};

describe('HTTP/JSON gateway', () => {
  it('runs a first session: schema, relationships, check', async () => {
    const w = await json('/v1/schema/write', { schema: SCHEMA });
    expect(w.writtenAt.token).toBeTruthy();
    expect((await json('/v1/schema/read', {})).schemaText).toBe(SCHEMA);
    const wr = await json('/v1/relationships/write', {
      updates: [
        {
          operation: 'OPERATION_CREATE',
          relationship: relationship('doc:readme', 'reader', subject('group', 'eng', 'member')),
        },
        { operation: 'OPERATION_TOUCH', relationship: relationship('group:eng', 'member', subject('user', 'bob')) },
        { operation: 'OPERATION_TOUCH', relationship: relationship('doc:readme', 'owner', subject('user', 'ann')) },
      ],
    });
    expect(wr.writtenAt.token).toBeTruthy();
    const check = await json('/v1/permissions/check', {
      consistency: { atLeastAsFresh: wr.writtenAt },
      resource: ref('doc', 'readme'),
      permission: 'view',
      subject: subject('user', 'bob'),
    });
    expect(check.permissionship).toBe('PERMISSIONSHIP_HAS_PERMISSION');
    expect(check.checkedAt.token).toBeTruthy();
  });

  it('answers CheckBulkPermissions with per-item results and errors', async () => {
    const r = await json('/v1/permissions/checkbulk', {
      consistency: full,
      items: [
        { resource: ref('doc', 'readme'), permission: 'view', subject: subject('user', 'ann') },
        { resource: ref('nope', 'x'), permission: 'view', subject: subject('user', 'ann') },
      ],
    });
    expect(r.pairs[0].item.permissionship).toBe('PERMISSIONSHIP_HAS_PERMISSION');
    expect(r.pairs[1].error).toMatchObject({
      code: 9,
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'ERROR_REASON_UNKNOWN_DEFINITION',
          domain: 'authzed.com',
        },
      ],
    });
  });

  it('expands', async () => {
    const r = await json('/v1/permissions/expand', {
      consistency: full,
      resource: ref('doc', 'readme'),
      permission: 'view',
    });
    expect(r.treeRoot.expandedRelation).toBe('view');
    expect(r.treeRoot.intermediate.operation).toBe('OPERATION_EXCLUSION');
  });

  it('streams lookups and reads as newline-delimited JSON with a result field', async () => {
    const resources = await ndjson('/v1/permissions/resources', {
      consistency: full,
      resourceObjectType: 'doc',
      permission: 'view',
      subject: subject('user', 'bob'),
    });
    expect(resources.map((l) => l.result.resourceObjectId)).toEqual(['readme']);
    expect(resources[0].result.lookedUpAt.token).toBeTruthy();
    const subjects = await ndjson('/v1/permissions/subjects', {
      consistency: full,
      resource: ref('doc', 'readme'),
      permission: 'view',
      subjectObjectType: 'user',
    });
    expect(subjects.map((l) => l.result.subject.subjectObjectId).sort()).toEqual(['ann', 'bob']);
    const read = await ndjson('/v1/relationships/read', {
      consistency: full,
      relationshipFilter: { resourceType: 'doc' },
    });
    expect(read.map((l) => `${l.result.relationship.resource.objectId}#${l.result.relationship.relation}`)).toEqual([
      'readme#owner',
      'readme#reader',
    ]);
    const page = await ndjson('/v1/relationships/read', {
      consistency: full,
      relationshipFilter: { resourceType: 'doc' },
      optionalLimit: 1,
    });
    const next = await ndjson('/v1/relationships/read', {
      consistency: full,
      relationshipFilter: { resourceType: 'doc' },
      optionalCursor: page[0].result.afterResultCursor,
    });
    expect(next.map((l) => l.result.relationship.relation)).toEqual(['reader']);
  });

  it('imports (NDJSON body) and exports in bulk, and deletes', async () => {
    const lines = [0, 1]
      .map((b) =>
        JSON.stringify({
          relationships: [0, 1, 2].map((i) => relationship(`doc:bulk${b}${i}`, 'reader', subject('user', 'imp'))),
        }),
      )
      .join('\n');
    const imported = await json('/v1/relationships/importbulk', lines);
    expect(imported.numLoaded).toBe('6');
    const exported = await ndjson('/v1/relationships/exportbulk', {
      optionalLimit: 4,
      optionalRelationshipFilter: { resourceType: 'doc', optionalResourceIdPrefix: 'bulk' },
    });
    expect(exported.map((l) => l.result.relationships.length)).toEqual([4, 2]);
    const del = await json('/v1/relationships/delete', {
      relationshipFilter: { resourceType: 'doc', optionalResourceIdPrefix: 'bulk' },
    });
    expect(del).toMatchObject({ deletionProgress: 'DELETION_PROGRESS_COMPLETE', relationshipsDeletedCount: '6' });
  });

  it('reflects the schema', async () => {
    const r = await json('/v1/schema/reflectschema', {});
    expect(r.definitions.map((d: { name: string }) => d.name)).toEqual(['user', 'group', 'doc']);
  });

  it('streams Watch until the client hangs up', async () => {
    const head = (await json('/v1/schema/read', {})).readAt.token;
    const abort = new AbortController();
    const r = await post('/v1/watch', { optionalStartCursor: { token: head } }, KEY, { signal: abort.signal });
    expect(r.status).toBe(200);
    await json('/v1/relationships/write', {
      updates: [
        { operation: 'OPERATION_TOUCH', relationship: relationship('doc:w', 'reader', subject('user', 'wat')) },
      ],
    });
    const reader = r.body!.getReader();
    let buffered = '';
    while (!buffered.includes('\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += new TextDecoder().decode(value);
    }
    const first = JSON.parse(buffered.split('\n')[0]);
    expect(first.result.updates[0]).toMatchObject({
      operation: 'OPERATION_TOUCH',
      relationship: { resource: { objectId: 'w' } },
    });
    expect(first.result.changesThrough.token).toBeTruthy();
    abort.abort();
  });

  describe('errors', () => {
    it('answers 401 with a JSON status without a valid key', async () => {
      for (const key of [null, 'wrong']) {
        const r = await post('/v1/schema/read', {}, key);
        expect(r.status).toBe(401);
        expect(await r.json()).toMatchObject({ code: 16, message: expect.any(String) });
      }
      const stream = await post('/v1/relationships/read', { relationshipFilter: { resourceType: 'doc' } }, 'wrong');
      expect(stream.status).toBe(401);
      expect(await stream.json()).toMatchObject({ code: 16, message: expect.any(String) });
    });

    it('answers schema errors and unknown types with code, message and ErrorInfo', async () => {
      const bad = await post('/v1/schema/write', { schema: 'definition {' });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 3, details: [{ reason: 'ERROR_REASON_SCHEMA_PARSE_ERROR' }] });
      const unknown = await post('/v1/permissions/check', {
        resource: ref('nope', '1'),
        permission: 'view',
        subject: subject('user', 'a'),
      });
      expect(unknown.status).toBe(400);
      expect(await unknown.json()).toMatchObject({
        code: 9,
        message: 'object definition `nope` not found',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'ERROR_REASON_UNKNOWN_DEFINITION',
            domain: 'authzed.com',
          },
        ],
      });
    });

    it('answers an error before a stream begins with its status and the JSON error body, as grpc-gateway does', async () => {
      const r = await post('/v1/permissions/resources', {
        resourceObjectType: 'nope',
        permission: 'view',
        subject: subject('user', 'a'),
      });
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ code: 9, details: [{ reason: 'ERROR_REASON_UNKNOWN_DEFINITION' }] });
    });

    it('answers a stream that fails before it begins with the HTTP status and the JSON error body (Watch, lookups, reads)', async () => {
      const cases: [string, unknown, number, object][] = [
        ['/v1/watch', { optionalStartCursor: { token: 'garbage' } }, 400, { code: 3 }],
        [
          '/v1/watch',
          { optionalObjectTypes: ['doc'], optionalRelationshipFilters: [{ resourceType: 'doc' }] },
          400,
          { code: 3 },
        ],
        [
          '/v1/permissions/resources',
          {
            resourceObjectType: 'doc',
            permission: 'view',
            subject: subject('user', 'a'),
            optionalCursor: { token: 'garbage' },
          },
          400,
          { code: 3, details: [{ reason: 'ERROR_REASON_INVALID_CURSOR' }] },
        ],
        [
          '/v1/relationships/read',
          { relationshipFilter: { resourceType: 'nope' } },
          400,
          { code: 9, details: [{ reason: 'ERROR_REASON_UNKNOWN_DEFINITION' }] },
        ],
        [
          '/v1/relationships/exportbulk',
          { optionalCursor: { token: 'garbage' } },
          400,
          { code: 3, details: [{ reason: 'ERROR_REASON_INVALID_CURSOR' }] },
        ],
      ];
      for (const [path, body, status, error] of cases) {
        const r = await post(path, body);
        const text = await r.text();
        expect(r.status, `${path} ${text}`).toBe(status);
        expect(r.headers.get('content-type')).toBe('application/json');
        expect(JSON.parse(text), path).toMatchObject({
          ...error,
          message: expect.any(String),
          details: expect.any(Array),
        });
      }
    });

    it('answers malformed bodies, unknown paths and wrong methods', async () => {
      const notJson = await post('/v1/permissions/check', '{nope');
      expect(notJson.status).toBe(400);
      expect((await notJson.json()).code).toBe(3);
      const wrongShape = await post('/v1/permissions/check', { resource: 'doc:1' });
      expect(wrongShape.status).toBe(400);
      const invalid = await post('/v1/permissions/check', {
        resource: ref('doc', 'has space'),
        permission: 'view',
        subject: subject('user', 'a'),
      });
      expect(await invalid.json()).toMatchObject({
        code: 3,
        message: expect.stringMatching(/^validation error: resource\.object_id/),
      });
      const missing = await post('/v1/nothing/here', {});
      expect(missing.status).toBe(404);
      expect((await missing.json()).code).toBe(5);
      const get = await fetch(`${t.httpBase}/v1/schema/read`, { headers: { Authorization: `Bearer ${KEY}` } });
      expect(get.status).toBe(405);
    });

    it('serves /healthz without a key', async () => {
      const r = await fetch(`${t.httpBase}/healthz`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ status: 'SERVING' });
    });
  });
});
