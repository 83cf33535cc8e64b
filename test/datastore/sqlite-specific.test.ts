import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { migrateDatastore, openDatastore } from '../../src/datastore/factory.js';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/datastore/sqlite/migrations.js';
import { StatementCache } from '../../src/datastore/sqlite/queries.js';
import { readCommits } from '../../src/datastore/sqlite/watch.js';
import { describeBackend } from './chosen-backends.js';
import { code, rel } from './contract.js';
import { runDurableSuite } from './durable-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-sqlite-specific-'));
let files = 0;
const freshPath = () => join(dir, `ds-${files++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runDurableSuite('sqlite', {
  async create(options = {}) {
    const path = freshPath();
    return {
      ds: openSqliteDatastore(path, { gcIntervalMs: 0, watchPollMs: 20, ...options }),
      reopen: async (more = {}) => openSqliteDatastore(path, { gcIntervalMs: 0, watchPollMs: 20, ...more }),
    };
  },
});

describeBackend('sqlite', 'sqlite datastore', () => {
  it('creates and migrates a new file on open; reopening migrates nothing', async () => {
    const path = freshPath();
    const first = openSqliteDatastore(path, { gcIntervalMs: 0 });
    expect(first.migration).toEqual({ from: 0, to: SQLITE_SCHEMA_VERSION, datastoreId: first.id });
    await first.close();
    const second = openSqliteDatastore(path, { gcIntervalMs: 0 });
    expect(second.migration).toEqual({ from: SQLITE_SCHEMA_VERSION, to: SQLITE_SCHEMA_VERSION, datastoreId: first.id });
    await second.close();
    expect(await migrateDatastore({ engine: 'sqlite', connUri: path })).toEqual({
      engine: 'sqlite',
      from: SQLITE_SCHEMA_VERSION,
      to: SQLITE_SCHEMA_VERSION,
      datastoreId: first.id,
    });
  });

  it('uses WAL with synchronous=FULL, so an acknowledged commit is on disk', async () => {
    const path = freshPath();
    const ds = openSqliteDatastore(path, { gcIntervalMs: 0 });
    const writer = (ds as unknown as { writer: Database.Database }).writer;
    expect(writer.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(writer.pragma('synchronous', { simple: true })).toBe(2); // FULL
    await ds.close();
  });

  it('refuses a database migrated by a newer Pemba', async () => {
    const path = freshPath();
    await openSqliteDatastore(path, { gcIntervalMs: 0 }).close();
    const raw = new Database(path);
    raw.prepare("UPDATE metadata SET value = '999' WHERE key = 'migration_version'").run();
    raw.close();
    expect(() => openSqliteDatastore(path)).toThrow(/schema version 999, newer than this Pemba knows/);
    expect(await code(migrateDatastore({ engine: 'sqlite', connUri: path }))).toBe('FAILED_PRECONDITION');
  });

  it('stores caveat name, context as JSON and expiration in columns', async () => {
    const path = freshPath();
    const ds = openSqliteDatastore(path, { gcIntervalMs: 0 });
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
    const raw = new Database(path, { readonly: true });
    expect(
      raw.prepare('SELECT caveat_name, caveat_context, expires_at, created_rev, deleted_rev FROM relationships').get(),
    ).toEqual({
      caveat_name: 'ip',
      caveat_context: '{"a":[1,"x"]}',
      expires_at: expiresAt.getTime(),
      created_rev: 1,
      deleted_rev: null,
    });
    raw.close();
  });

  it('answers the engine’s lookups from the partial indexes on current rows', async () => {
    const path = freshPath();
    const ds = openSqliteDatastore(path, { gcIntervalMs: 0 });
    await ds.readWrite((tx) =>
      tx.write(
        Array.from({ length: 2000 }, (_, i) => ({
          operation: 'TOUCH' as const,
          relationship: rel(`doc:${i}#reader@user:u${i % 50}`),
        })),
      ),
    );
    await ds.close();
    const raw = new Database(path, { readonly: true });
    const plan = (where: string) =>
      (
        raw.prepare(`EXPLAIN QUERY PLAN SELECT id FROM relationships WHERE deleted_rev IS NULL AND ${where}`).all() as {
          detail: string;
        }[]
      )
        .map((r) => r.detail)
        .join('\n');
    expect(plan("resource_type = 'doc' AND resource_id IN ('1', '2') AND relation = 'reader'")).toMatch(
      /USING INDEX relationships_current_by_resource/,
    );
    expect(plan("subject_type = 'user' AND subject_id = 'u1' AND subject_relation = '...'")).toMatch(
      /USING INDEX relationships_current_by_subject/,
    );
    raw.close();
    // And the datastore's own queries return promptly.
    const again = openSqliteDatastore(path, { gcIntervalMs: 0 });
    const snap = again.snapshot(await again.headRevision());
    const began = performance.now();
    for (let q = 0; q < 500; q++) {
      expect(await snap.queryRelationships({ subjectType: 'user', subjectIds: [`u${q % 50}`] })).toHaveLength(40);
      expect(
        await snap.queryRelationships({
          resourceType: 'doc',
          resourceIds: [String(q), String(q + 1)],
          relation: 'reader',
        }),
      ).toHaveLength(2);
    }
    expect(performance.now() - began).toBeLessThan(3000);
    await again.close();
  });

  it('refuses an in-memory path: the memory engine is for that', () => {
    expect(() => openSqliteDatastore(':memory:')).toThrow(/memory engine/);
  });

  it('openDatastore opens sqlite at the given path and runs GC in the background', async () => {
    const path = freshPath();
    const ds = await openDatastore({ engine: 'sqlite', connUri: path, gcIntervalMs: 10, gcWindowMs: 0 });
    await ds.readWrite((tx) => tx.write([{ operation: 'TOUCH', relationship: rel('doc:1#r@user:a') }]));
    await ds.readWrite((tx) => tx.write([{ operation: 'DELETE', relationship: rel('doc:1#r@user:a') }]));
    await new Promise((r) => setTimeout(r, 100));
    // The background loop already collected the deleted version.
    expect((await ds.gc()).versions).toBe(0);
    expect(await code(ds.snapshot(1n).queryRelationships({}))).toBe('FAILED_PRECONDITION');
    await ds.close();
  });

  it('reads a watch backlog in slices of about a page of changes, each commit whole', async () => {
    const path = freshPath();
    const ds = openSqliteDatastore(path, { gcIntervalMs: 0 });
    const sizes = [4000, 4000, 4000, 12_000, 3];
    for (const [c, n] of sizes.entries()) {
      // Commit 4 is CREATE-only (its changes are read from its rows); the others go through the change log.
      const operation = c === 3 ? 'CREATE' : 'TOUCH';
      await ds.readWrite((tx) =>
        tx.write(Array.from({ length: n }, (_, i) => ({ operation, relationship: rel(`doc:${c}-${i}#r@user:a`) }))),
      );
    }
    const db = new Database(path, { readonly: true });
    try {
      const stmts = new StatementCache(db);
      const slices: number[][] = [];
      for (let after = 0n; after < BigInt(sizes.length);) {
        const slice = readCommits(stmts, after, 100);
        slices.push(slice.map((c) => c.changes.length));
        after = slice[slice.length - 1].revision;
      }
      // A slice ends with the commit that reaches 10,000 changes; a larger commit is still read whole.
      expect(slices).toEqual([[4000, 4000, 4000], [12_000], [3]]);
    } finally {
      db.close();
      await ds.close();
    }
  });
});
