import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Datastore, RelationshipQuery, Revision, RevisionChanges } from '../../src/datastore/datastore.js';
import { withOverrides } from '../../src/datastore/common/overridden.js';
import { openDatastore } from '../../src/datastore/factory.js';
import { mirrorDatastore } from '../../src/datastore/mirror/mirrored-datastore.js';
import type { Mirrored, MirrorOptions } from '../../src/datastore/mirror/mirrored-datastore.js';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import type { SqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import { PostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { resolveRevision } from '../../src/consistency/consistency.js';
import { encodeToken } from '../../src/consistency/zedtoken.js';
import { describeBackend } from './chosen-backends.js';
import { rel, runDatastoreContract } from './contract.js';
import { useTestPostgres } from './postgres-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-mirror-'));
let files = 0;
const freshPath = () => join(dir, `mirror-${files++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const postgres = useTestPostgres();

// The whole contract, through the mirror: every read the mirror covers is answered from memory.
runDatastoreContract({ backend: 'sqlite', variant: 'mirrored' }, async ({ now, ...settings }) =>
  mirrorDatastore(openSqliteDatastore(freshPath(), { gcIntervalMs: 0, now, ...settings }), { now }),
);
runDatastoreContract({ backend: 'postgres', variant: 'mirrored', clockTests: false }, async ({ now, ...settings }) =>
  mirrorDatastore(await postgres.open({ gcIntervalMs: 0, now, ...settings }), { now }),
);

const touch = (s: string, extra?: Parameters<typeof rel>[1]): RelationshipUpdate => ({
  operation: 'TOUCH',
  relationship: rel(s, extra),
});
const del = (s: string): RelationshipUpdate => ({ operation: 'DELETE', relationship: rel(s) });
const readers = { resourceType: 'doc', relation: 'reader' };
const tuples = async (ds: Datastore, q: RelationshipQuery, at: Revision) =>
  (await ds.snapshot(at).queryRelationships(q)).map((r) => `${r.resource.id}@${r.subject.id}`);

async function until(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describeBackend('sqlite', 'relationship mirror over SQLite', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((d) => d.close()));
  });
  function sqlite(path = freshPath()): SqliteDatastore {
    const ds = openSqliteDatastore(path, { gcIntervalMs: 0, watchPollMs: 20 });
    open.push(ds);
    return ds;
  }
  function mirrored<D extends Datastore>(inner: D, options?: MirrorOptions): Mirrored<D> {
    const ds = mirrorDatastore(inner, options);
    open.push(ds);
    return ds;
  }
  const write = async (ds: Datastore, ...updates: RelationshipUpdate[]) =>
    (await ds.readWrite((tx) => tx.write(updates))).revision;
  const live = (ds: Mirrored<Datastore>) => until('the mirror is live', () => ds.mirrorStats().state === 'live');

  it('answers reads from memory once live, at the revision asked, and never queries the datastore for them', async () => {
    const inner = sqlite();
    const r1 = await write(inner, touch('doc:1#reader@user:ann'), touch('doc:2#reader@user:bob'));
    let innerReads = 0;
    const counted = withOverrides(inner, {
      snapshot: (revision: Revision) => {
        const s = inner.snapshot(revision);
        return {
          revision,
          readSchema: () => s.readSchema(),
          queryRelationships: (q: RelationshipQuery, o?: object) => {
            innerReads++;
            return s.queryRelationships(q, o);
          },
        };
      },
    });
    const ds = mirrored(counted);
    await live(ds);
    const loadReads = innerReads;
    const r2 = await write(ds, del('doc:1#reader@user:ann'), touch('doc:3#reader@user:cat'));
    const r3 = await write(ds, touch('doc:1#reader@user:ann'));
    expect(await tuples(ds, readers, r3)).toEqual(['1@ann', '2@bob', '3@cat']);
    expect(await tuples(ds, readers, r2)).toEqual(['2@bob', '3@cat']);
    expect(await tuples(ds, readers, r1)).toEqual(['1@ann', '2@bob']);
    expect(innerReads).toBe(loadReads);
    expect(ds.mirrorStats()).toMatchObject({ state: 'live', revision: r3, floor: r1, rows: 3, misses: 0 });
    expect(ds.mirrorStats().hits).toBeGreaterThanOrEqual(3);
  });

  it('knows the revisions it applied are committed: a fresh token needs no revision read', async () => {
    const inner = sqlite();
    let checks = 0;
    const counted = withOverrides(inner, {
      assertRevisionReadable: (revision: Revision) => {
        checks++;
        return inner.assertRevisionReadable(revision);
      },
    });
    const ds = mirrored(counted);
    await live(ds);
    const r = await write(ds, touch('doc:1#reader@user:ann'));
    await until('the commit is applied', () => ds.mirrorStats().revision === r);
    expect(ds.knownCommitted(r)).toBe(true);
    expect(ds.knownCommitted(r + 1n)).toBe(false);
    const token = encodeToken(ds.id, r);
    expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token })).toBe(r);
    expect(checks).toBe(0);
    // A token from the future still gets the datastore's answer.
    await expect(resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, r + 5n) })).rejects.toThrow(
      /future|ahead|not yet/i,
    );
    expect(checks).toBe(1);
  });

  it('reads revisions older than what it holds from the datastore, with the same answers', async () => {
    const inner = sqlite();
    const r1 = await write(inner, touch('doc:1#reader@user:ann'));
    const r2 = await write(inner, del('doc:1#reader@user:ann'), touch('doc:2#reader@user:bob'));
    const ds = mirrored(inner);
    await live(ds);
    expect(ds.mirrorStats().floor).toBe(r2);
    expect(await tuples(ds, readers, r1)).toEqual(['1@ann']);
    expect(await tuples(ds, readers, r2)).toEqual(['2@bob']);
    expect(ds.mirrorStats()).toMatchObject({ misses: 1, hits: 1 });
  });

  it('keeps history for historyMs, then reads older revisions from the datastore', async () => {
    const ds = mirrored(sqlite(), { historyMs: 50 });
    await live(ds);
    const r1 = await write(ds, touch('doc:1#reader@user:ann'));
    const r2 = await write(ds, del('doc:1#reader@user:ann'));
    expect(await tuples(ds, readers, r1)).toEqual(['1@ann']);
    await until('history is collected', () => ds.mirrorStats().floor >= r2, 3_000);
    expect(ds.mirrorStats().rows).toBe(0);
    const misses = ds.mirrorStats().misses;
    expect(await tuples(ds, readers, r1)).toEqual(['1@ann']);
    expect(ds.mirrorStats().misses).toBe(misses + 1);
  });

  it('follows commits made by another process on the same file', async () => {
    const path = freshPath();
    const ds = mirrored(sqlite(path));
    await live(ds);
    const other = sqlite(path);
    const r = await write(other, touch('doc:9#reader@user:zed'));
    // The head read sees the other process's commit and wakes the feed: the read waits for it.
    expect(await ds.headRevision()).toBe(r);
    expect(await tuples(ds, readers, r)).toEqual(['9@zed']);
    expect(ds.mirrorStats()).toMatchObject({ revision: r, misses: 0 });
  });

  it('loads what the file holds when it is opened again (a restart)', async () => {
    const path = freshPath();
    const first = sqlite(path);
    const r = await write(first, touch('doc:1#reader@user:ann'), touch('doc:2#reader@user:bob'));
    await first.close();
    const ds = mirrored(sqlite(path));
    await live(ds);
    expect(await tuples(ds, readers, r)).toEqual(['1@ann', '2@bob']);
    expect(ds.mirrorStats()).toMatchObject({ rows: 2, misses: 0 });
  });

  it('mirrors the schema history', async () => {
    const ds = mirrored(sqlite());
    await live(ds);
    const r1 = (await ds.readWrite((tx) => tx.writeSchema('definition user {}'))).revision;
    const r2 = (await ds.readWrite((tx) => tx.writeSchema('definition user {}\ndefinition doc {}'))).revision;
    expect((await ds.snapshot(r1).readSchema())?.text).toBe('definition user {}');
    expect(await ds.snapshot(r2).readSchema()).toEqual({ text: 'definition user {}\ndefinition doc {}', revision: r2 });
    expect(ds.mirrorStats().misses).toBe(0);
  });

  it('hides a relationship from the moment it expires, and drops it from memory', async () => {
    const clock = { t: Date.now() };
    const now = () => clock.t;
    const inner = openSqliteDatastore(freshPath(), { gcIntervalMs: 0, now });
    const ds = mirrored(inner, { now });
    await live(ds);
    const r = await write(ds, touch('doc:1#reader@user:ann', { expiresAt: new Date(clock.t + 1_000) }));
    expect(await tuples(ds, readers, r)).toEqual(['1@ann']);
    clock.t += 1_000;
    expect(await tuples(ds, readers, r)).toEqual([]);
    await until('the expired row is dropped', () => ds.mirrorStats().rows === 0, 3_000);
  });

  it('falls back to the datastore when the rows do not fit the budget, and answers the same', async () => {
    const inner = sqlite();
    const updates = Array.from({ length: 50 }, (_, i) => touch(`doc:${i}#reader@user:u${i}`));
    const r = await write(inner, ...updates);
    let exceeded: [number, number] | undefined;
    const ds = mirrored(inner, { maxBytes: 2_000, onBudgetExceeded: (b, budget) => (exceeded = [b, budget]) });
    await until('the mirror gives up', () => ds.mirrorStats().state === 'over-budget');
    expect(exceeded![0]).toBeGreaterThan(2_000);
    expect(exceeded![1]).toBe(2_000);
    expect(await tuples(ds, readers, r)).toHaveLength(50);
    expect(ds.mirrorStats()).toMatchObject({ rows: 0, bytes: 0, hits: 0, misses: 1 });
  });

  it('stops answering when a write takes it over the budget; reads stay exact', async () => {
    const ds = mirrored(sqlite(), { maxBytes: 5_000 });
    await live(ds);
    const r1 = await write(ds, touch('doc:1#reader@user:ann'));
    expect(await tuples(ds, readers, r1)).toEqual(['1@ann']);
    const r2 = await write(ds, ...Array.from({ length: 50 }, (_, i) => touch(`doc:x${i}#reader@user:u${i}`)));
    await until('the mirror gives up', () => ds.mirrorStats().state === 'over-budget');
    expect(await tuples(ds, readers, r2)).toHaveLength(51);
    expect(await tuples(ds, readers, r1)).toEqual(['1@ann']);
  });

  it('reloads after a change-feed error, and answers nothing from memory meanwhile', async () => {
    const inner = sqlite();
    let failures = 1;
    const flaky = withOverrides(inner, {
      watch: (after: Revision, signal?: AbortSignal) =>
        (async function* (): AsyncGenerator<RevisionChanges> {
          for await (const c of inner.watch(after, signal)) {
            if (failures-- > 0) throw new Error('connection lost');
            yield c;
          }
        })(),
    });
    const errors: unknown[] = [];
    const ds = mirrored(flaky, { retryMinMs: 10, onError: (e) => errors.push(e) });
    await live(ds);
    const r = await write(ds, touch('doc:1#reader@user:ann'));
    expect(await tuples(ds, readers, r)).toEqual(['1@ann']);
    await until('it has reloaded', () => ds.mirrorStats().state === 'live' && errors.length === 1);
    expect(ds.mirrorStats().floor).toBe(r);
    const hits = ds.mirrorStats().hits;
    expect(await tuples(ds, readers, r)).toEqual(['1@ann']);
    expect(ds.mirrorStats().hits).toBe(hits + 1);
  });

  it('applies a large commit in slices, the event loop running between them', async () => {
    const ds = mirrored(sqlite());
    await live(ds);
    const updates = Array.from({ length: 60_000 }, (_, i) => touch(`doc:${i}#reader@user:u${i % 100}`));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const r = await write(ds, ...updates);
    const before = ticks;
    await until('the commit is applied', () => ds.mirrorStats().revision === r, 20_000);
    clearInterval(ticker);
    expect(ticks - before).toBeGreaterThan(1);
    expect(await tuples(ds, { resourceType: 'doc', subjectType: 'user', subjectIds: ['u7'] }, r)).toHaveLength(600);
  });
});

describe('openDatastore', () => {
  it('mirrors SQLite by default, and not when disabled', async () => {
    const on = await openDatastore({ engine: 'sqlite', connUri: freshPath(), gcIntervalMs: 0 });
    const off = await openDatastore({
      engine: 'sqlite',
      connUri: freshPath(),
      gcIntervalMs: 0,
      mirror: { enabled: false },
    });
    try {
      expect((on as Partial<Mirrored<Datastore>>).mirrorStats).toBeTypeOf('function');
      expect((off as Partial<Mirrored<Datastore>>).mirrorStats).toBeUndefined();
      // Still the backend itself underneath: its own members and instanceof hold.
      expect((on as unknown as SqliteDatastore).migration.to).toBeGreaterThan(0);
    } finally {
      await on.close();
      await off.close();
    }
  });

  it('refuses a budget that is not a non-negative number of MiB', async () => {
    await expect(openDatastore({ engine: 'sqlite', connUri: freshPath(), mirror: { maxBytes: -1 } })).rejects.toThrow(
      /memory budget/,
    );
  });

  it('keeps instanceof for PostgreSQL', async () => {
    const ds = mirrorDatastore(await postgres.open({ gcIntervalMs: 0 }));
    try {
      expect(ds).toBeInstanceOf(PostgresDatastore);
    } finally {
      await ds.close();
    }
  });
});
