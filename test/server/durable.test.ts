/** The server over a durable engine (sqlite): what was written is there after a restart, tokens included. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import { afterAll, describe, expect, it } from 'vitest';
import { atLeastAsFresh, obj, SCHEMA, startTestServer, subj, update } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-serve-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pemba serve --datastore-engine sqlite', () => {
  it('keeps schema and relationships across restarts', async () => {
    const flags = { datastoreEngine: 'sqlite', datastoreConnUri: join(dir, 'pemba.db') };
    const first = await startTestServer(flags);
    await first.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const token = (
      await first.client.promises.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: [update('TOUCH', 'doc:kept#reader@user:ann')],
        }),
      )
    ).writtenAt!.token;
    await first.close();

    const second = await startTestServer(flags);
    try {
      expect((await second.client.promises.readSchema(v1.ReadSchemaRequest.create())).schemaText).toBe(SCHEMA);
      const r = await second.client.promises.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: obj('doc', 'kept'),
          permission: 'view',
          subject: subj('user', 'ann'),
          consistency: atLeastAsFresh(token),
        }),
      );
      expect(r.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
    } finally {
      await second.close();
    }
  });
});
