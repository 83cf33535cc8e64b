/**
 * --datastore-bootstrap-files (with --datastore-bootstrap-overwrite and --datastore-bootstrap-timeout)
 * and --datastore-readonly, with SpiceDB's semantics: bootstrap data is loaded into an empty
 * datastore, a datastore with a schema refuses the start unless overwrite; read-only refuses every
 * write with UNAVAILABLE / ERROR_REASON_SERVICE_READ_ONLY while reads work.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fullyConsistent,
  grpcError,
  importBulk,
  KEY,
  obj,
  rel,
  relText,
  SCHEMA,
  startTestServer,
  subj,
  update,
} from './harness.js';
import type { TestServer } from './harness.js';
import type { RawFlags } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-bootstrap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

function validationFile(name: string, schema: string | undefined, relationships: string[]): string {
  const path = join(dir, name);
  const parts = [];
  if (schema !== undefined) parts.push(`schema: |-\n${indent(schema)}`);
  parts.push(`relationships: |-\n${indent(relationships.join('\n'))}`);
  writeFileSync(path, parts.join('\n') + '\n');
  return path;
}

/** The message a start fails with ('started' when it does not fail: the server is closed again). */
async function startError(flags: RawFlags): Promise<string> {
  try {
    const t = await startTestServer(flags);
    await t.close();
    return 'started';
  } catch (error) {
    return (error as Error).message;
  }
}

const view = async (t: TestServer, doc: string, user: string) =>
  (
    await t.client.promises.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: obj('doc', doc),
        permission: 'view',
        subject: subj('user', user),
        consistency: fullyConsistent(),
      }),
    )
  ).permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;

const readAll = async (t: TestServer) =>
  (
    await t.client.promises.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: v1.RelationshipFilter.create({ resourceType: 'doc' }),
        consistency: fullyConsistent(),
      }),
    )
  )
    .map((r) => relText(r.relationship))
    .sort();

describe('--datastore-bootstrap-files', () => {
  const main = validationFile('main.yaml', SCHEMA, ['doc:readme#reader@user:ann', 'doc:readme#owner@user:bob']);
  // Schemas may be split across files, as SpiceDB allows: their schemas are joined.
  const extra = validationFile('extra.yaml', 'definition folder {\n  relation viewer: user\n}', [
    'folder:root#viewer@user:ann',
    'doc:readme#reader@user:ann',
  ]);

  it('loads the schema and relationships of every file into an empty datastore', async () => {
    const t = await startTestServer({ datastoreBootstrapFiles: [`${main},${extra}`] });
    try {
      expect(await view(t, 'readme', 'ann')).toBe(true);
      expect(await view(t, 'readme', 'bob')).toBe(true);
      expect(await view(t, 'readme', 'carl')).toBe(false);
      const schema = await t.client.promises.readSchema(v1.ReadSchemaRequest.create({}));
      expect(schema.schemaText).toContain('definition folder');
      expect(await readAll(t)).toEqual(['doc:readme#owner@user:bob', 'doc:readme#reader@user:ann']);
    } finally {
      await t.close();
    }
  });

  it('refuses a datastore that already has a schema, unless --datastore-bootstrap-overwrite', async () => {
    const db = join(dir, 'existing.db');
    const first = await startTestServer({
      datastoreEngine: 'sqlite',
      datastoreConnUri: db,
      datastoreBootstrapFiles: main,
    });
    await first.client.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:other#reader@user:dan')] }),
    );
    await first.close();

    expect(await startError({ datastoreEngine: 'sqlite', datastoreConnUri: db, datastoreBootstrapFiles: main })).toBe(
      'cannot apply bootstrap data: schema or tuples already exist in the datastore. Delete existing data or set the flag --datastore-bootstrap-overwrite=true',
    );

    const replacement = validationFile('replacement.yaml', SCHEMA, ['doc:new#reader@user:eve']);
    const t = await startTestServer({
      datastoreEngine: 'sqlite',
      datastoreConnUri: db,
      datastoreBootstrapFiles: replacement,
      datastoreBootstrapOverwrite: true,
    });
    try {
      // Everything that was there is gone; the files' data is all there is.
      expect(await readAll(t)).toEqual(['doc:new#reader@user:eve']);
      expect(await view(t, 'other', 'dan')).toBe(false);
      expect(await view(t, 'new', 'eve')).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('stops the start naming the file and line of what is refused', async () => {
    const unknownType = validationFile('bad-rel.yaml', SCHEMA, ['doc:a#reader@user:ann', 'doc:a#reader@robot:r2']);
    expect(await startError({ datastoreBootstrapFiles: unknownType })).toMatch(
      /--datastore-bootstrap-files: .*bad-rel\.yaml:\d+: `doc:a#reader@robot:r2`: .*robot/,
    );
    const badSchema = validationFile(
      'bad-schema.yaml',
      'definition user {}\ndefinition doc {\n  relation reader: nobody\n}',
      [],
    );
    expect(await startError({ datastoreBootstrapFiles: badSchema })).toMatch(
      /--datastore-bootstrap-files: .*bad-schema\.yaml:\d+: .*nobody/,
    );
    expect(await startError({ datastoreBootstrapFiles: join(dir, 'missing.yaml') })).toMatch(
      /--datastore-bootstrap-files: cannot read .*missing\.yaml/,
    );
  });

  it('fails the start when the load takes longer than --datastore-bootstrap-timeout', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => `doc:d${i}#reader@user:u${i}`);
    const big = validationFile('big.yaml', SCHEMA, many);
    expect(await startError({ datastoreBootstrapFiles: big, datastoreBootstrapTimeout: '1ms' })).toMatch(
      /not written within --datastore-bootstrap-timeout \(1 ms\)/,
    );
  });
});

describe('--datastore-readonly', () => {
  const data = validationFile('readonly.yaml', SCHEMA, ['doc:readme#reader@user:ann']);
  let t: TestServer;

  it('serves reads (of the bootstrap data) and refuses every write', async () => {
    t = await startTestServer({ datastoreReadonly: true, datastoreBootstrapFiles: data });
    try {
      expect(await view(t, 'readme', 'ann')).toBe(true);
      expect(await readAll(t)).toEqual(['doc:readme#reader@user:ann']);

      const refusals = [
        () =>
          t.client.promises.writeRelationships(
            v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:readme#reader@user:bob')] }),
          ),
        () =>
          t.client.promises.deleteRelationships(
            v1.DeleteRelationshipsRequest.create({
              relationshipFilter: v1.RelationshipFilter.create({ resourceType: 'doc' }),
            }),
          ),
        () => t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA })),
        () => importBulk(t.client, [[rel('doc:x#reader@user:ann')]]),
      ];
      for (const refused of refusals) {
        const e = await grpcError(refused());
        expect(e).toMatchObject({
          code: grpc.status.UNAVAILABLE,
          details: 'service read-only',
          reason: 'ERROR_REASON_SERVICE_READ_ONLY',
        });
      }
      // A malformed request is still refused for what it is.
      const invalid = await grpcError(
        t.client.promises.writeRelationships(
          v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:bad id#reader@user:bob')] }),
        ),
      );
      expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);

      // The HTTP gateway too: 503, with the same status body.
      const r = await fetch(`${t.httpBase}/v1/relationships/write`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}` },
        body: JSON.stringify({
          updates: [
            {
              operation: 'OPERATION_TOUCH',
              relationship: {
                resource: { objectType: 'doc', objectId: 'readme' },
                relation: 'reader',
                subject: { object: { objectType: 'user', objectId: 'bob' } },
              },
            },
          ],
        }),
      });
      expect(r.status).toBe(503);
      const body = (await r.json()) as { code: number; message: string; details: { reason: string }[] };
      expect(body).toMatchObject({ code: 14, message: 'service read-only' });
      expect(body.details[0].reason).toBe('ERROR_REASON_SERVICE_READ_ONLY');

      // Nothing was written.
      expect(await readAll(t)).toEqual(['doc:readme#reader@user:ann']);
    } finally {
      await t.close();
    }
  });
});
