/**
 * Read replicas of the PostgreSQL datastore, on a throwaway cluster (pg-cluster.ts): a primary and
 * a streaming replica. Snapshot reads go to the replica once it has applied their revision, never
 * before; fully_consistent reads go to the primary; a replica that stops costs reads nothing but a
 * fallback to the primary, and is used again once it is back.
 *
 * Not a *.test.ts: it starts and stops PostgreSQL servers, so it runs with the fault tests
 * (`vitest run --config test/server/fault.vitest.config.ts`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Revision } from '../../src/datastore/datastore.js';
import { openDatastore } from '../../src/datastore/factory.js';
import type { PostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import { openPostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import { migratePostgres } from '../../src/datastore/postgres/migrations.js';
import { createPool } from '../../src/datastore/postgres/pool.js';
import { Pemba } from '../../src/pemba.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import { describeBackend } from '../datastore/chosen-backends.js';
import type { PgCluster } from './pg-cluster.js';
import { createPgCluster } from './pg-cluster.js';

const SCHEMA = `
definition user {}
definition doc {
  relation reader: user
  permission view = reader
}`;

const touch = (rel: string) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(rel) });
const remove = (rel: string) => ({ operation: 'DELETE' as const, relationship: parseRelationship(rel) });

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const replicaReads = (ds: PostgresDatastore) => ds.replicaStats()[0].reads;

/** Until the replica is up and has applied `revision`, as the datastore knows it. */
const caughtUp = (ds: PostgresDatastore, revision: Revision) =>
  until(`the replica to apply revision ${revision}`, () => {
    const [s] = ds.replicaStats();
    return s.up && s.head >= revision;
  });

const readers = async (ds: PostgresDatastore, revision: Revision, options?: { primary?: boolean }) =>
  (await ds.snapshot(revision, options).queryRelationships({ resourceType: 'doc', relation: 'reader' }))
    .map((r) => `${r.resource.id}@${r.subject.id}`)
    .sort();

describeBackend('postgres', 'PostgreSQL read replicas', () => {
  let cluster: PgCluster;
  let created = 0;
  const open: PostgresDatastore[] = [];

  const openWithReplica = async () => {
    const ds = await openPostgresDatastore(cluster.primary.uri, {
      readReplicaUris: [cluster.replicas[0].uri],
      gcIntervalMs: 0,
      quantizationMs: 0,
    });
    open.push(ds);
    return ds;
  };

  beforeAll(async () => {
    const start = Date.now();
    cluster = await createPgCluster({ replicas: 1 });
    created = Date.now() - start;
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(open.map((ds) => ds.close()));
    await cluster?.destroy();
  }, 60_000);

  it('makes the cluster in a few seconds', () => {
    console.log(`pg-cluster: primary and one replica made in ${created} ms`);
    expect(created).toBeLessThan(30_000);
  });

  it('serves reads at a revision the replica has applied from the replica, answering as the primary', async () => {
    const ds = await openWithReplica();
    const { revision } = await ds.readWrite(async (tx) => {
      await tx.writeSchema(SCHEMA);
      await tx.write([
        touch('doc:1#reader@user:alice'),
        touch('doc:1#reader@user:bob'),
        touch('doc:2#reader@user:carol'),
      ]);
    });
    await caughtUp(ds, revision);

    const [fromPrimary, primarySchema] = [
      await readers(ds, revision, { primary: true }),
      await ds.snapshot(revision, { primary: true }).readSchema(),
    ];
    const before = { replica: replicaReads(ds), primary: ds.primaryReads() };
    const fromReplica = await readers(ds, revision);
    const replicaSchema = await ds.snapshot(revision).readSchema();
    expect(fromReplica).toEqual(['1@alice', '1@bob', '2@carol']);
    expect(fromReplica).toEqual(fromPrimary);
    expect(replicaSchema).toEqual(primarySchema);
    expect(replicaSchema?.text).toBe(SCHEMA);
    expect(replicaReads(ds)).toBe(before.replica + 2);
    expect(ds.primaryReads()).toBe(before.primary);

    // Stats: named host:port, caught up.
    const [s] = ds.replicaStats();
    expect(s.name).toBe(`127.0.0.1:${cluster.replicas[0].port}`);
    expect(s.up).toBe(true);
    expect(s.lagRevisions).toBe(0);
    expect(s.lagSeconds === null || s.lagSeconds >= 0).toBe(true);
  }, 60_000);

  it('answers from the primary while the replica lags behind the revision, and from the replica once it caught up', async () => {
    const ds = await openWithReplica();
    const { revision: granted } = await ds.readWrite((tx) => tx.write([touch('doc:lag#reader@user:alice')]));
    await caughtUp(ds, granted);

    const replica = cluster.replicas[0];
    await cluster.pauseReplay(replica);
    try {
      const { revision: revoked } = await ds.readWrite((tx) => tx.write([remove('doc:lag#reader@user:alice')]));
      expect(revoked).toBeGreaterThan(granted);
      // Give the poll time to see the replica as it is: up, but behind.
      await new Promise((r) => setTimeout(r, 500));
      await ds.headRevision();
      const [s] = ds.replicaStats();
      expect(s.up).toBe(true);
      expect(s.head).toBeLessThan(revoked);
      expect(s.lagRevisions).toBeGreaterThan(0);

      const before = { replica: replicaReads(ds), primary: ds.primaryReads() };
      expect(await readers(ds, revoked)).not.toContain('lag@alice');
      expect(await ds.snapshot(revoked).readSchema()).toMatchObject({ text: SCHEMA });
      expect(replicaReads(ds), 'the replica answered a read at a revision it has not applied').toBe(before.replica);
      expect(ds.primaryReads()).toBe(before.primary + 2);

      // A revision the replica has is still read there, and shows the grant.
      expect(await readers(ds, granted)).toContain('lag@alice');
      expect(replicaReads(ds)).toBe(before.replica + 1);
    } finally {
      await cluster.resumeReplay(replica);
    }

    const { revision: latest } = await ds.readWrite(async () => undefined);
    await caughtUp(ds, latest);
    const before = { replica: replicaReads(ds), primary: ds.primaryReads() };
    expect(await readers(ds, latest)).not.toContain('lag@alice');
    expect(replicaReads(ds)).toBe(before.replica + 1);
    expect(ds.primaryReads()).toBe(before.primary);
  }, 60_000);

  it('sends fully_consistent reads to the primary, others to a caught-up replica', async () => {
    const ds = await openWithReplica();
    const pemba = await Pemba.open({ datastore: ds });
    try {
      const { token } = await pemba.writeRelationships({ updates: [touch('doc:fc#reader@user:dana')] });
      const head = await ds.headRevision();
      await caughtUp(ds, head);
      const request = {
        resource: { type: 'doc', id: 'fc' },
        permission: 'view',
        subject: { type: 'user', id: 'dana', relation: '...' },
      };

      let before = { replica: replicaReads(ds), primary: ds.primaryReads() };
      const consistent = await pemba.check({ ...request, consistency: { mode: 'fully_consistent' } });
      expect(consistent.permissionship).toBe('HAS_PERMISSION');
      expect(replicaReads(ds), 'a fully_consistent check read from the replica').toBe(before.replica);
      expect(ds.primaryReads()).toBeGreaterThan(before.primary);

      before = { replica: replicaReads(ds), primary: ds.primaryReads() };
      const fresh = await pemba.check({ ...request, consistency: { mode: 'at_least_as_fresh', token } });
      expect(fresh.permissionship).toBe('HAS_PERMISSION');
      expect(replicaReads(ds)).toBeGreaterThan(before.replica);
      expect(ds.primaryReads()).toBe(before.primary);
    } finally {
      await pemba.engine.close();
    }
  }, 60_000);

  it('keeps every read fast and successful when the replica stops, and uses it again once it is back', async () => {
    const ds = await openWithReplica();
    const { revision } = await ds.readWrite((tx) => tx.write([touch('doc:loop#reader@user:erin')]));
    await caughtUp(ds, revision);
    const replica = cluster.replicas[0];

    const durations: number[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const start = Date.now();
        try {
          const rs = await readers(ds, revision);
          if (!rs.includes('loop@erin')) failures.push(new Error(`wrong answer: ${rs.join(' ')}`));
        } catch (e) {
          failures.push(e);
        }
        durations.push(Date.now() - start);
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    const stopped = { at: 0, reads: 0 };
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(replicaReads(ds), 'the loop read from the replica before it stopped').toBeGreaterThan(0);
      stopped.reads = durations.length;
      stopped.at = Date.now();
      await replica.stop('immediate');
      await new Promise((r) => setTimeout(r, 1500));
      expect(ds.replicaStats()[0].up).toBe(false);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    expect(durations.length - stopped.reads, 'reads while the replica was down').toBeGreaterThan(10);
    expect(Math.max(...durations), 'the slowest read (ms)').toBeLessThan(2000);
    console.log(
      `replica stopped under load: ${durations.length} reads, none failed, slowest ${Math.max(...durations)} ms ` +
        `(stopped ${Date.now() - stopped.at} ms before the loop ended)`,
    );

    await replica.start();
    await caughtUp(ds, revision);
    const before = replicaReads(ds);
    expect(await readers(ds, revision)).toContain('loop@erin');
    expect(replicaReads(ds)).toBe(before + 1);
  }, 90_000);

  it('never uses a replica that holds another datastore', async () => {
    // Another database on the same cluster (replicated like the rest), migrated: a different datastore id.
    const admin = createPool(cluster.primary.uri);
    try {
      await admin.query('DROP DATABASE IF EXISTS other');
      await admin.query('CREATE DATABASE other');
    } finally {
      await admin.end();
    }
    const otherUri = (port: number) => `postgres://postgres@127.0.0.1:${port}/other`;
    const pool = createPool(otherUri(cluster.primary.port));
    try {
      await migratePostgres(pool);
    } finally {
      await pool.end();
    }
    const ds = await openPostgresDatastore(cluster.primary.uri, {
      readReplicaUris: [otherUri(cluster.replicas[0].port)],
      gcIntervalMs: 0,
    });
    open.push(ds);
    const head = await ds.headRevision();
    await new Promise((r) => setTimeout(r, 500));
    await readers(ds, head);
    expect(ds.replicaStats()[0]).toMatchObject({ up: false, reads: 0 });
    expect(ds.primaryReads()).toBe(1);
  }, 60_000);

  it('opens replicas through the factory, which refuses them for other engines', async () => {
    const ds = await openDatastore({
      engine: 'postgres',
      connUri: cluster.primary.uri,
      readReplicaUris: [cluster.replicas[0].uri],
      gcIntervalMs: 0,
      // Reads must reach PostgreSQL for the replica to serve them.
      mirror: { enabled: false },
    });
    open.push(ds as PostgresDatastore);
    const head = await ds.headRevision();
    await caughtUp(ds as PostgresDatastore, head);
    await ds.snapshot(head).readSchema();
    expect(replicaReads(ds as PostgresDatastore)).toBe(1);

    for (const engine of ['sqlite', 'memory']) {
      await expect(
        openDatastore({ engine, connUri: ':memory:', readReplicaUris: [cluster.replicas[0].uri] }),
      ).rejects.toThrow(/read replicas need the postgres datastore engine/);
    }
  }, 60_000);
});
