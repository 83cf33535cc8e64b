/**
 * PostgreSQL under `pemba serve`: SpiceDB's pool flags (--datastore-conn-pool-{read,write}-{max,min}-open)
 * bound the connections a server opens and keep the minimum open from the start, and
 * --datastore-gc-interval runs garbage collection that often (0: never).
 */
import { v1 } from '@authzed/authzed-node';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestPostgres } from '../datastore/postgres-harness.js';
import { fullyConsistent, obj, SCHEMA, startTestServer, subj, update } from './harness.js';
import type { TestServer } from './harness.js';

const db = useTestPostgres();
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

/** A pool on the same schema as `uri`, for looking at what the server did. */
function inspect(uri: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: uri, max: 1 });
  pool.on('error', () => undefined);
  pools.push(pool);
  return pool;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('--datastore-conn-pool-*', () => {
  it('opens the minimum at start and never more than read + write maximum', async () => {
    const app = `pemba_pools_${process.pid}`;
    const uri = `${await db.migratedUri()}&application_name=${app}`;
    const t = await startTestServer({
      datastoreEngine: 'postgres',
      datastoreConnUri: uri,
      datastoreMirrorEnabled: 'false', // reads go to PostgreSQL
      nestedGroupIndexEnabled: 'false',
      dispatchCacheEnabled: 'false',
      datastoreConnPoolReadMaxOpen: '3',
      datastoreConnPoolReadMinOpen: '2',
      datastoreConnPoolWriteMaxOpen: '1',
      datastoreConnPoolWriteMinOpen: '1',
    });
    const admin = inspect(uri);
    const connections = async () =>
      Number(
        (
          await admin.query<{ n: string }>(
            'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
            [app],
          )
        ).rows[0].n,
      );
    try {
      // 2 + 1 open from the start (the inspecting connection is not counted).
      expect(await connections()).toBeGreaterThanOrEqual(3);
      await t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
      let most = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          most = Math.max(most, await connections());
          await sleep(5);
        }
      })();
      const checks = Array.from({ length: 60 }, (_, i) =>
        t.client.promises.checkPermission(
          v1.CheckPermissionRequest.create({
            resource: obj('doc', `d${i % 7}`),
            permission: 'view',
            subject: subj('user', `u${i}`),
            consistency: fullyConsistent(),
          }),
        ),
      );
      const writes = Array.from({ length: 20 }, (_, i) =>
        t.client.promises.writeRelationships(
          v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', `doc:d${i}#reader@user:u${i}`)] }),
        ),
      );
      await Promise.all([...checks, ...writes]);
      sampling = false;
      await sampler;
      expect(most).toBeGreaterThanOrEqual(3);
      expect(most).toBeLessThanOrEqual(4);
    } finally {
      await t.close();
    }
    // Closed with the server (a backend leaves pg_stat_activity a moment after its client hung up).
    const deadline = Date.now() + 5000;
    while ((await connections()) > 0 && Date.now() < deadline) await sleep(50);
    expect(await connections()).toBe(0);
  }, 60_000);
});

describe('--datastore-gc-interval', () => {
  const deletedVersions = async (admin: pg.Pool) =>
    Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM relationships')).rows[0].n);

  async function writeAndDelete(t: TestServer) {
    await t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    await t.client.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:gc#reader@user:ann')] }),
    );
    await t.client.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('DELETE', 'doc:gc#reader@user:ann')] }),
    );
  }

  it('collects that often', async () => {
    const uri = await db.migratedUri();
    const t = await startTestServer({
      datastoreEngine: 'postgres',
      datastoreConnUri: uri,
      datastoreGcWindow: '500ms',
      datastoreGcInterval: '200ms',
    });
    const admin = inspect(uri);
    try {
      await writeAndDelete(t);
      expect(await deletedVersions(admin)).toBe(1);
      const deadline = Date.now() + 10_000;
      while ((await deletedVersions(admin)) > 0 && Date.now() < deadline) await sleep(100);
      expect(await deletedVersions(admin)).toBe(0);
    } finally {
      await t.close();
    }
  }, 30_000);

  it('never collects with 0, nor when read-only', async () => {
    const uri = await db.migratedUri();
    const t = await startTestServer({
      datastoreEngine: 'postgres',
      datastoreConnUri: uri,
      datastoreGcWindow: '200ms',
      datastoreGcInterval: '0',
    });
    const admin = inspect(uri);
    try {
      await writeAndDelete(t);
      await sleep(1000);
      expect(await deletedVersions(admin)).toBe(1);
    } finally {
      await t.close();
    }
    const readOnly = await startTestServer({
      datastoreEngine: 'postgres',
      datastoreConnUri: uri,
      datastoreGcWindow: '200ms',
      datastoreGcInterval: '100ms',
      datastoreReadonly: true,
    });
    try {
      await sleep(800);
      expect(await deletedVersions(admin)).toBe(1);
    } finally {
      await readOnly.close();
    }
  }, 30_000);
});
