/** SchemaService end to end through authzed-node: read, write (with refusal of stranding changes), reflect, limits. */
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullyConsistent, grpcError, SCHEMA, startTestServer, update } from './harness.js';
import type { TestServer } from './harness.js';

let t: TestServer;
let p: v1.ZedPromiseClientInterface;

beforeAll(async () => {
  t = await startTestServer({ grpcMaxMessageSize: String(6 * 1024 * 1024) });
  p = t.client.promises;
});

afterAll(async () => {
  await t?.close();
});

describe('SchemaService', () => {
  it('answers NOT_FOUND before any schema is written; other calls fail on the definition they name, as in SpiceDB', async () => {
    expect(await grpcError(p.readSchema(v1.ReadSchemaRequest.create()))).toMatchObject({
      code: status.NOT_FOUND,
      details: 'no schema has been defined; please call WriteSchema to start',
    });
    const notFound = { code: status.FAILED_PRECONDITION, details: 'object definition `doc` not found' };
    expect(
      await grpcError(
        p.checkPermission(
          v1.CheckPermissionRequest.create({
            consistency: fullyConsistent(),
            resource: v1.ObjectReference.create({ objectType: 'doc', objectId: '1' }),
            permission: 'view',
            subject: v1.SubjectReference.create({
              object: v1.ObjectReference.create({ objectType: 'user', objectId: 'a' }),
            }),
          }),
        ),
      ),
    ).toMatchObject({ ...notFound, reason: 'ERROR_REASON_UNKNOWN_DEFINITION' });
    expect(
      await grpcError(
        p.writeRelationships(
          v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:1#viewer@user:a')] }),
        ),
      ),
    ).toMatchObject(notFound);
    expect(
      await grpcError(
        p.deleteRelationships(
          v1.DeleteRelationshipsRequest.create({
            relationshipFilter: v1.RelationshipFilter.create({ resourceType: 'doc' }),
          }),
        ),
      ),
    ).toMatchObject(notFound);
  });

  it('writes and reads the schema, with tokens', async () => {
    const w = await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    expect(w.writtenAt?.token).toBeTruthy();
    const r = await p.readSchema(v1.ReadSchemaRequest.create());
    expect(r.schemaText).toBe(SCHEMA);
    expect(r.readAt?.token).toBeTruthy();
  });

  it('refuses an invalid schema with INVALID_ARGUMENT and a schema ErrorInfo reason', async () => {
    const parse = await grpcError(p.writeSchema(v1.WriteSchemaRequest.create({ schema: 'definition user {' })));
    expect(parse.code).toBe(status.INVALID_ARGUMENT);
    expect(parse.reason).toBe('ERROR_REASON_SCHEMA_PARSE_ERROR');
    const type = await grpcError(
      p.writeSchema(v1.WriteSchemaRequest.create({ schema: 'definition doc {\n  relation r: nope\n}' })),
    );
    expect(type.code).toBe(status.INVALID_ARGUMENT);
    expect(type.reason).toMatch(/^ERROR_REASON_SCHEMA_(PARSE|TYPE)_ERROR$/);
    expect((await p.readSchema(v1.ReadSchemaRequest.create())).schemaText).toBe(SCHEMA);
  });

  it('refuses a change that would strand stored relationships, naming what is in use', async () => {
    await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:s#banned@user:sam')] }),
    );
    const withoutBanned = SCHEMA.replace('  relation banned: user\n', '').replace(' - banned', '');
    const e = await grpcError(p.writeSchema(v1.WriteSchemaRequest.create({ schema: withoutBanned })));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/cannot delete relation `banned`/);
    expect((await p.readSchema(v1.ReadSchemaRequest.create())).schemaText).toBe(SCHEMA);
    await p.deleteRelationships(
      v1.DeleteRelationshipsRequest.create({ relationshipFilter: { resourceType: 'doc', optionalRelation: 'banned' } }),
    );
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: withoutBanned }));
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
  });

  it('reflects definitions, relations, permissions and subject types', async () => {
    const r = await p.reflectSchema(v1.ReflectSchemaRequest.create({ consistency: fullyConsistent() }));
    expect(r.readAt?.token).toBeTruthy();
    expect(r.definitions.map((d) => d.name)).toEqual(['user', 'group', 'doc']);
    const doc = r.definitions.find((d) => d.name === 'doc')!;
    expect(doc.relations.map((x) => x.name)).toEqual(['owner', 'reader', 'banned']);
    expect(doc.permissions.map((x) => x.name)).toEqual(['edit', 'view']);
    const reader = doc.relations.find((x) => x.name === 'reader')!;
    expect(reader.parentDefinitionName).toBe('doc');
    expect(reader.subjectTypes.map((s) => [s.subjectDefinitionName, s.typeref.oneofKind])).toEqual([
      ['user', 'isTerminalSubject'],
      ['user', 'isPublicWildcard'],
      ['group', 'optionalRelationName'],
    ]);
    const filtered = await p.reflectSchema(
      v1.ReflectSchemaRequest.create({
        optionalFilters: [{ optionalDefinitionNameFilter: 'do', optionalPermissionNameFilter: 'vi' }],
      }),
    );
    expect(filtered.definitions.map((d) => [d.name, d.relations.length, d.permissions.map((x) => x.name)])).toEqual([
      ['doc', 0, ['view']],
    ]);
  });

  it('refuses a schema over 4 MiB', async () => {
    const big = `definition user {}\n${'// padding\n'.repeat(400_000)}`;
    expect(Buffer.byteLength(big)).toBeGreaterThan(4 * 1024 * 1024);
    const e = await grpcError(p.writeSchema(v1.WriteSchemaRequest.create({ schema: big })));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/schema: must be at most 4194304 bytes/);
  });

  it('refuses messages over the maximum message size', async () => {
    const huge = 'x'.repeat(7 * 1024 * 1024);
    expect((await grpcError(p.writeSchema(v1.WriteSchemaRequest.create({ schema: huge })))).code).toBe(
      status.RESOURCE_EXHAUSTED,
    );
  });
});
