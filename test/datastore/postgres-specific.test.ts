import { describe, expect, it } from 'vitest';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { migrateDatastore, openDatastore } from '../../src/datastore/factory.js';
import { openPostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import { POSTGRES_SCHEMA_VERSION } from '../../src/datastore/postgres/migrations.js';
import { PembaError } from '../../src/errors/index.js';
import { describeBackend } from './chosen-backends.js';
import { code, nextCommit, rel } from './contract.js';
import { runDurableSuite } from './durable-suite.js';
import { useTestPostgres } from './postgres-harness.js';

const postgres = useTestPostgres();
const fast = { gcIntervalMs: 0, watchPollMs: 20, maxConnections: 4 };
const touch = (s: string): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s) });

runDurableSuite('postgres', {
  async create(options = {}) {
    const uri = await postgres.migratedUri();
    return {
      ds: await openPostgresDatastore(uri, { ...fast, ...options }),
      reopen: (more = {}) => openPostgresDatastore(uri, { ...fast, ...more }),
    };
  },
});

describeBackend('postgres', 'postgres datastore', () => {
  describe('migrations', () => {
    it('are idempotent and keep the datastore id', async () => {
      const uri = postgres.uri(await postgres.freshSchema());
      const first = await migrateDatastore({ engine: 'postgres', connUri: uri });
      expect(first).toMatchObject({ engine: 'postgres', from: 0, to: POSTGRES_SCHEMA_VERSION });
      const second = await migrateDatastore({ engine: 'postgres', connUri: uri });
      expect(second).toEqual({ ...first, from: POSTGRES_SCHEMA_VERSION });
      const ds = await openPostgresDatastore(uri, fast);
      expect(ds.id).toBe(first.datastoreId);
      await ds.close();
    });

    it('run concurrently from several processes without tripping over each other', async () => {
      const uri = postgres.uri(await postgres.freshSchema());
      const results = await Promise.all([1, 2, 3].map(() => migrateDatastore({ engine: 'postgres', connUri: uri })));
      expect(new Set(results.map((r) => r.datastoreId)).size).toBe(1);
      expect(results.filter((r) => r.from === 0)).toHaveLength(1);
    });

    it('refuse a database migrated by a newer Pemba, as does opening it', async () => {
      const schema = await postgres.freshSchema();
      const uri = postgres.uri(schema);
      await migrateDatastore({ engine: 'postgres', connUri: uri });
      await postgres.admin().query(`UPDATE ${schema}.metadata SET value = '999' WHERE key = 'migration_version'`);
      await expect(migrateDatastore({ engine: 'postgres', connUri: uri })).rejects.toThrow(
        /schema version 999, newer than this Pemba knows/,
      );
      await expect(openPostgresDatastore(uri, fast)).rejects.toThrow(/newer than this Pemba knows/);
    });

    it('must run before a datastore opens: an unmigrated database is refused with what to run', async () => {
      const uri = postgres.uri(await postgres.freshSchema());
      const e = await openDatastore({ engine: 'postgres', connUri: uri, gcIntervalMs: 0 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PembaError);
      expect((e as PembaError).code).toBe('FAILED_PRECONDITION');
      expect((e as PembaError).message).toMatch(/not migrated.*pemba datastore migrate --datastore-engine postgres/);
    });
  });

  it('stores caveat name, context as JSON and expiration in columns', async () => {
    const schema = await postgres.freshSchema();
    const uri = postgres.uri(schema);
    await migrateDatastore({ engine: 'postgres', connUri: uri });
    const ds = await openPostgresDatastore(uri, fast);
    const expiresAt = new Date('2100-01-02T03:04:05.678Z');
    await ds.readWrite((tx) =>
      tx.write([
        {
          operation: 'TOUCH',
          relationship: rel('doc:1#r@user:a', { caveat: { name: 'ip', context: { a: [1, 'x'] } }, expiresAt }),
        },
      ]),
    );
    await ds.close();
    const { rows } = await postgres
      .admin()
      .query(`SELECT caveat_name, caveat_context, expires_at, created_rev, deleted_rev FROM ${schema}.relationships`);
    expect(rows).toEqual([
      {
        caveat_name: 'ip',
        caveat_context: { a: [1, 'x'] },
        expires_at: expiresAt,
        created_rev: '1',
        deleted_rev: null,
      },
    ]);
  });

  describe('several processes on one database', () => {
    it('serialise conflicting writers across pools: exactly one "absent then create" succeeds', async () => {
      const uri = await postgres.migratedUri();
      const pools = await Promise.all([1, 2, 3].map(() => openPostgresDatastore(uri, fast)));
      try {
        const attempt = (i: number) =>
          pools[i].readWrite(async (tx) => {
            const existing = await tx.queryRelationships({
              resourceType: 'lock',
              resourceIds: ['1'],
              relation: 'holder',
            });
            await new Promise((r) => setTimeout(r, 30));
            if (existing.length > 0) throw new Error('lock is held');
            await tx.write([{ operation: 'CREATE', relationship: rel(`lock:1#holder@user:u${i}`) }]);
            return i;
          });
        const outcomes = await Promise.allSettled([0, 1, 2].map(attempt));
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        expect(
          outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
        ).toEqual(['Error: lock is held', 'Error: lock is held']);
        const head = await pools[0].headRevision();
        expect(await pools[1].snapshot(head).queryRelationships({ resourceType: 'lock' })).toHaveLength(1);
      } finally {
        await Promise.all(pools.map((p) => p.close()));
      }
    });

    it('assign dense revisions in commit order across pools, and every pool’s watcher sees each commit once', async () => {
      const uri = await postgres.migratedUri();
      const [a, b] = await Promise.all([1, 2].map(() => openPostgresDatastore(uri, fast)));
      try {
        const ac = new AbortController();
        const iter = a.watch(0n, ac.signal)[Symbol.asyncIterator]();
        const revisions = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? a : b).readWrite((tx) => tx.write([touch(`doc:${i}#r@user:a`)])).then((c) => c.revision),
          ),
        );
        expect([...revisions].sort((x, y) => Number(x - y))).toEqual(
          Array.from({ length: 20 }, (_, i) => BigInt(i + 1)),
        );
        const seen = [];
        for (let i = 0; i < 20; i++) seen.push(await nextCommit(iter));
        expect(seen.map((c) => c.revision)).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
        // Each commit's change is the one its revision committed.
        for (const c of seen) expect(c.changes).toHaveLength(1);
        ac.abort();
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('a writer whose signal aborts while another process holds the commit lock stops waiting at once and never commits', async () => {
      const uri = await postgres.migratedUri();
      const [a, b] = await Promise.all([1, 2].map(() => openPostgresDatastore(uri, fast)));
      const lockWaiters = async () =>
        Number(
          (
            await postgres
              .admin()
              .query(
                "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
              )
          ).rows[0].n,
        );
      try {
        let release!: () => void;
        let holding!: () => void;
        const held = new Promise<void>((r) => (holding = r));
        const first = a.readWrite(async (tx) => {
          await tx.write([touch('doc:1#r@user:a')]);
          holding();
          await new Promise<void>((r) => (release = r));
        });
        await held;
        const ac = new AbortController();
        let ran = false;
        const blocked = b.readWrite(
          async (tx) => {
            ran = true;
            await tx.write([touch('doc:2#r@user:b')]);
          },
          { signal: ac.signal },
        );
        for (let i = 0; i < 100 && (await lockWaiters()) === 0; i++) await new Promise((r) => setTimeout(r, 20));
        expect(await lockWaiters()).toBe(1);
        const why = new PembaError('DEADLINE_EXCEEDED', 'the call ended');
        ac.abort(why);
        // Answered while the other process still holds the lock, and no longer queued for it.
        const outcome = await Promise.race([
          blocked.catch((e: unknown) => e),
          new Promise((r) => setTimeout(() => r('pending'), 3000)),
        ]);
        expect(outcome).toBe(why);
        expect(await lockWaiters()).toBe(0);
        release();
        const { revision } = await first;
        expect(ran).toBe(false);
        // b's pool replaced the connection it gave up, and writes on.
        expect((await b.readWrite((tx) => tx.write([touch('doc:3#r@user:b')]))).revision).toBe(revision + 1n);
        const rows = await a.snapshot(revision + 1n).queryRelationships({});
        expect(rows.map((r) => `${r.resource.id}@${r.subject.id}`)).toEqual(['1@a', '3@b']);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  describe('connection loss', () => {
    it('fails in-flight calls with UNAVAILABLE, then reconnects by itself', async () => {
      const uri = `${await postgres.migratedUri()}&application_name=pemba_victim`;
      const ds = await openPostgresDatastore(uri, fast);
      const kill = () =>
        postgres
          .admin()
          .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pemba_victim'");
      try {
        await ds.readWrite((tx) => tx.write([touch('doc:1#r@user:a')]));
        const inFlight = ds.readWrite(async (tx) => {
          await tx.write([touch('doc:2#r@user:a')]);
          await kill();
          await new Promise((r) => setTimeout(r, 100));
          await tx.write([touch('doc:3#r@user:a')]);
        });
        expect(await code(inFlight)).toBe('UNAVAILABLE');
        // Idle connections die too; the pool replaces them.
        await kill();
        let outcome = '';
        for (let i = 0; i < 5 && outcome !== 'ok'; i++)
          outcome = await code(ds.readWrite((tx) => tx.write([touch('doc:4#r@user:a')])));
        expect(outcome).toBe('ok');
        const head = await ds.headRevision();
        expect((await ds.snapshot(head).queryRelationships({})).map((r) => r.resource.id)).toEqual(['1', '4']);
        expect(head).toBe(2n);
      } finally {
        await ds.close();
      }
    });

    it('reports an unreachable server as UNAVAILABLE', async () => {
      const e = await openPostgresDatastore('postgres://postgres@127.0.0.1:1/none', {
        ...fast,
        connectionTimeoutMs: 2000,
      }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PembaError);
      expect((e as PembaError).code).toBe('UNAVAILABLE');
    });
  });

  it('openDatastore requires a connection URI for postgres', async () => {
    expect(await code(openDatastore({ engine: 'postgres' }))).toBe('INVALID_ARGUMENT');
  });
});
