/**
 * A SQLite transaction made only of CREATE-only write calls (a bulk import) does not copy its rows
 * into the change log: Watch reads its changes from the rows it created (src/datastore/sqlite/create-batches.ts). Watch
 * must still deliver exactly the contract's changes: after later deletions of those rows, after GC
 * collects one of them as expired while the commit is still watchable, and when the transaction
 * goes on with other kinds of writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import type { Revision, RevisionChanges } from '../../src/datastore/datastore.js';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import type { SqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import type { Relationship, RelationshipUpdate } from '../../src/relationships/relationship.js';
import { describeBackend } from './chosen-backends.js';
import { rel } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-sqlite-created-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WINDOW = 1_000;
const T0 = 1_700_000_000_000;

function open(): { ds: SqliteDatastore; raw: Database.Database; clock: { now: number } } {
  const clock = { now: T0 };
  const ds = openSqliteDatastore(join(dir, `ds-${files++}.db`), {
    gcIntervalMs: 0,
    gcWindowMs: WINDOW,
    quantizationMs: 0,
    now: () => clock.now,
  });
  return { ds, raw: (ds as unknown as { writer: Database.Database }).writer, clock };
}

const create = (r: Relationship | string): RelationshipUpdate => ({
  operation: 'CREATE',
  relationship: typeof r === 'string' ? rel(r) : r,
});
const tuple = (r: Relationship) =>
  `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}`;

async function commitsAfter(ds: SqliteDatastore, after: Revision, count: number): Promise<RevisionChanges[]> {
  const out: RevisionChanges[] = [];
  const abort = new AbortController();
  for await (const c of ds.watch(after, abort.signal)) {
    out.push(c);
    if (out.length === count) abort.abort();
  }
  return out;
}

const ops = (c: RevisionChanges) => c.changes.map((x) => `${x.operation} ${tuple(x.relationship)}`);
const logged = (raw: Database.Database, revision: Revision) =>
  (raw.prepare('SELECT count(*) AS n FROM changes WHERE revision = ?').get(revision) as { n: number }).n;
/** The commits that record a range of created rows, as `revision:first-last`. */
const ranges = (raw: Database.Database) =>
  (
    raw
      .prepare(
        'SELECT revision, created_from, created_to FROM commits WHERE created_from IS NOT NULL ORDER BY revision',
      )
      .all() as { revision: number; created_from: number; created_to: number }[]
  ).map((r) => `${r.revision}:${r.created_from}-${r.created_to}`);
/** Counts the reads of created rows by `ds`'s watch from now on. */
function interceptRowReads(ds: SqliteDatastore): () => number {
  const stmts = (ds as unknown as { r: { get(sql: string): unknown } }).r;
  const get = stmts.get.bind(stmts);
  let n = 0;
  stmts.get = (sql: string) => {
    if (sql.includes('FROM relationships WHERE id >')) n++;
    return get(sql);
  };
  return () => n;
}
const topId = (raw: Database.Database) =>
  (raw.prepare('SELECT max(id) AS id FROM relationships').get() as { id: number }).id;

describeBackend('sqlite', 'sqlite: changes of a CREATE-only transaction are read from its rows', () => {
  it('delivers every created relationship, caveat and expiration intact, in order, also after the rows are deleted', async () => {
    const { ds, raw, clock } = open();
    const expiresAt = new Date(T0 + 3_600_000);
    const written = [
      rel('doc:2#reader@user:bob'),
      rel('doc:1#reader@user:ann', { caveat: { name: 'ip', context: { cidr: '10.0.0.0/8', n: 1 } } }),
      rel('doc:3#reader@group:eng#member', { expiresAt }),
      rel('doc:0#reader@user:cat', { caveat: { name: 'plain' } }),
    ];
    const before = await ds.headRevision();
    const { revision } = await ds.readWrite(async (tx) => {
      await tx.write(written.slice(0, 2).map(create));
      await tx.write([]);
      await tx.write(written.slice(2).map(create));
    });
    expect(logged(raw, revision)).toBe(0);
    expect(ranges(raw)).toEqual([`${revision}:1-4`]);
    const expected = written.map((relationship) => ({ operation: 'TOUCH', relationship }));
    expect((await commitsAfter(ds, before, 1))[0]).toEqual({
      revision,
      changes: expected,
      committedAt: expect.any(Number),
    });

    clock.now += 10;
    const { revision: deletedAt } = await ds.readWrite(async (tx) => {
      await tx.deleteMatching({ resourceType: 'doc' });
      await tx.write([create('doc:9#reader@user:dan')]);
    });
    const [imported, deletion] = await commitsAfter(ds, before, 2);
    expect(imported).toEqual({ revision, changes: expected, committedAt: expect.any(Number) });
    expect(deletion.revision).toBe(deletedAt);
    expect(ops(deletion)).toEqual([
      'DELETE doc:0#reader@user:cat',
      'DELETE doc:1#reader@user:ann',
      'DELETE doc:2#reader@user:bob',
      'DELETE doc:3#reader@group:eng',
      'TOUCH doc:9#reader@user:dan',
    ]);
    await ds.close();
  });

  it('this process’s watchers get the changes as stored without reading the rows; another process reads the same from the rows', async () => {
    const { ds } = open();
    const written = [
      rel('doc:2#reader@user:bob', { caveat: { name: 'ip', context: { n: 1, nested: { list: [1, 2] } } } }),
      rel('doc:1#reader@user:ann', { expiresAt: new Date(T0 + 3_600_000) }),
    ];
    const expected = structuredClone(written).map((relationship) => ({ operation: 'TOUCH', relationship }));
    const before = await ds.headRevision();
    const { revision } = await ds.readWrite((tx) => tx.write(written.map(create)));
    // A change to the written objects after the write does not reach the feed.
    (written[0].caveat!.context as { n: number }).n = 2;
    written[1].expiresAt!.setTime(0);
    const reads = interceptRowReads(ds);
    expect((await commitsAfter(ds, before, 1))[0]).toEqual({
      revision,
      changes: expected,
      committedAt: expect.any(Number),
    });
    expect(reads()).toBe(0);
    const other = openSqliteDatastore(ds.path, { gcIntervalMs: 0, quantizationMs: 0 });
    expect((await commitsAfter(other, before, 1))[0]).toEqual({
      revision,
      changes: expected,
      committedAt: expect.any(Number),
    });
    await other.close();
    await ds.close();
  });

  it('copies the rows into the change log when the transaction goes on with another kind of write', async () => {
    const { ds, raw } = open();
    const before = await ds.headRevision();
    const { revision } = await ds.readWrite(async (tx) => {
      await tx.write([create('doc:1#reader@user:ann'), create('doc:2#reader@user:bob')]);
      await tx.write([{ operation: 'DELETE', relationship: rel('doc:1#reader@user:ann') }]);
      await tx.write([create('doc:3#reader@user:cat')]);
      await tx.write([{ operation: 'TOUCH', relationship: rel('doc:2#reader@user:bob') }]);
    });
    expect(logged(raw, revision)).toBe(5);
    expect(ranges(raw)).toEqual([]);
    expect(ops((await commitsAfter(ds, before, 1))[0])).toEqual([
      'TOUCH doc:1#reader@user:ann',
      'TOUCH doc:2#reader@user:bob',
      'DELETE doc:1#reader@user:ann',
      'TOUCH doc:3#reader@user:cat',
      'TOUCH doc:2#reader@user:bob',
    ]);
    await ds.close();
  });

  it('a CREATE-only call that replaces an expired relationship is logged like any other write', async () => {
    const { ds, raw, clock } = open();
    await ds.readWrite(async (tx) => tx.write([create(rel('doc:1#reader@user:ann', { expiresAt: new Date(T0 + 5) }))]));
    clock.now += 10;
    const before = await ds.headRevision();
    const { revision } = await ds.readWrite(async (tx) => {
      await tx.write([create('doc:0#reader@user:bob')]);
      await tx.write([create('doc:1#reader@user:ann'), create('doc:2#reader@user:cat')]); // conflicts with the expired version
      await tx.write([create('doc:3#reader@user:dan')]);
    });
    expect(logged(raw, revision)).toBe(4);
    expect(ops((await commitsAfter(ds, before, 1))[0])).toEqual([
      'TOUCH doc:0#reader@user:bob',
      'TOUCH doc:1#reader@user:ann',
      'TOUCH doc:2#reader@user:cat',
      'TOUCH doc:3#reader@user:dan',
    ]);
    await ds.close();
  });

  it('GC copies the changes of a watchable commit before it collects an expired row the commit created', async () => {
    const { ds, raw, clock } = open();
    const before = await ds.headRevision();
    const gone = rel('doc:1#reader@user:ann', { expiresAt: new Date(T0 - 10 * WINDOW) }); // already expired when written
    const { revision } = await ds.readWrite(async (tx) =>
      tx.write([create('doc:0#reader@user:bob'), create(gone), create('doc:2#reader@user:cat')]),
    );
    expect(logged(raw, revision)).toBe(0);
    clock.now += 10;
    const result = await ds.gc();
    expect(result.versions).toBe(1);
    expect(logged(raw, revision)).toBe(3);
    expect(ranges(raw)).toEqual([]);
    const [commit] = await commitsAfter(ds, before, 1);
    expect(commit.revision).toBe(revision);
    expect(commit.changes.map((c) => c.relationship)).toEqual([
      rel('doc:0#reader@user:bob'),
      gone,
      rel('doc:2#reader@user:cat'),
    ]);
    await ds.close();
  });

  it('GC drops the id range with its commit', async () => {
    const { ds, raw, clock } = open();
    const { revision: first } = await ds.readWrite(async (tx) => tx.write([create('doc:1#reader@user:ann')]));
    clock.now += 10 * WINDOW;
    const { revision: second } = await ds.readWrite(async (tx) => tx.write([create('doc:2#reader@user:bob')]));
    clock.now += 10 * WINDOW;
    await ds.readWrite(async (tx) => tx.write([{ operation: 'DELETE', relationship: rel('doc:9#reader@user:x') }]));
    expect(ranges(raw)).toEqual([`${first}:1-1`, `${second}:2-2`]);
    clock.now += 10 * WINDOW;
    const { oldestReadable } = await ds.gc();
    expect(oldestReadable).toBeGreaterThan(second);
    expect(ranges(raw)).toEqual([]);
    await ds.close();
  });

  it('a file from before the range had columns (kept in metadata) migrates, and Watch still reads the rows', async () => {
    const { ds, raw } = open();
    const path = ds.path;
    const before = await ds.headRevision();
    const { revision } = await ds.readWrite(async (tx) =>
      tx.write([create('doc:1#reader@user:ann'), create('doc:2#reader@user:bob')]),
    );
    const last = topId(raw);
    await ds.close();
    // Made into what version 1 wrote: the range in metadata, no columns (nor version 3's metadata
    // column, nor version 4's OpenFGA tables).
    const old = new (raw.constructor as typeof Database)(path);
    old.exec(`
      DROP TABLE openfga_stores;
      DROP TABLE openfga_models;
      DROP TABLE openfga_assertions;
      INSERT INTO metadata (key, value) SELECT 'created_ids:' || revision, json_array(created_from, created_to) FROM commits WHERE created_from IS NOT NULL;
      ALTER TABLE commits DROP COLUMN created_from;
      ALTER TABLE commits DROP COLUMN created_to;
      ALTER TABLE commits DROP COLUMN metadata;
      UPDATE metadata SET value = '1' WHERE key = 'migration_version';
    `);
    old.close();
    const again = openSqliteDatastore(path, { gcIntervalMs: 0, quantizationMs: 0 });
    expect(again.migration.from).toBe(1);
    const migrated = (again as unknown as { writer: Database.Database }).writer;
    expect(ranges(migrated)).toEqual([`${revision}:1-${last}`]);
    expect(
      (migrated.prepare("SELECT count(*) AS n FROM metadata WHERE key GLOB 'created_ids:*'").get() as { n: number }).n,
    ).toBe(0);
    expect((await commitsAfter(again, before, 1)).map(ops)).toEqual([
      ['TOUCH doc:1#reader@user:ann', 'TOUCH doc:2#reader@user:bob'],
    ]);
    await again.close();
  });

  it('delivers a commit of more rows than a page, between its neighbours', async () => {
    const { ds } = open();
    const before = await ds.headRevision();
    await ds.readWrite(async (tx) => tx.write([create('a:1#reader@user:x')]));
    const big: string[] = [];
    await ds.readWrite(async (tx) => {
      for (let start = 0; start < 25_000; start += 1000) {
        const batch: string[] = [];
        for (let i = start; i < start + 1000; i++) batch.push(`doc:${(i * 7919) % 25_000}#reader@user:u${i % 13}`);
        big.push(...batch);
        await tx.write(batch.map(create));
      }
    });
    await ds.readWrite(async (tx) => tx.write([{ operation: 'TOUCH', relationship: rel('b:1#reader@user:x') }]));
    const seen = await commitsAfter(ds, before, 3);
    expect(seen.map(ops)).toEqual([
      ['TOUCH a:1#reader@user:x'],
      big.map((t) => `TOUCH ${t}`),
      ['TOUCH b:1#reader@user:x'],
    ]);
    await ds.close();
  });
});

describeBackend('sqlite', 'sqlite: CREATE-only calls inserted many rows per statement', () => {
  const many = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => `doc:${from + i}#reader@user:u${(from + i) % 7}`);

  it('a conflict in the middle of a multi-row statement fails the call with ALREADY_EXISTS and leaves none of its rows', async () => {
    const { ds } = open();
    await ds.readWrite(async (tx) => tx.write([create('doc:150#reader@user:u3')]));
    const before = await ds.headRevision();
    const { revision } = await ds.readWrite(async (tx) => {
      await tx.write(many(1000, 250).map(create));
      const e = await tx.write(many(0, 250).map(create)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toMatchObject({ code: 'ALREADY_EXISTS' });
      // A duplicate inside one call, inside its first statement.
      const dup = await tx.write([...many(2000, 50), ...many(2000, 1), ...many(2100, 100)].map(create)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(dup).toMatchObject({ code: 'ALREADY_EXISTS' });
      await tx.write(many(3000, 201).map(create));
    });
    const rows = (await ds.snapshot(revision).queryRelationships({})).map(tuple).sort();
    expect(rows).toEqual(['doc:150#reader@user:u3', ...many(1000, 250), ...many(3000, 201)].sort());
    const [commit] = await commitsAfter(ds, before, 1);
    expect(ops(commit)).toEqual([...many(1000, 250), ...many(3000, 201)].map((t) => `TOUCH ${t}`));
    await ds.close();
  });

  it('an import whose CREATE conflicts writes nothing', async () => {
    const { ds } = open();
    await ds.readWrite(async (tx) => tx.write([create('doc:1999#reader@user:u4')]));
    const head = await ds.headRevision();
    await expect(
      ds.readWrite(async (tx) => {
        for (let start = 0; start < 3000; start += 1000) await tx.write(many(start, 1000).map(create));
      }),
    ).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await ds.headRevision()).toBe(head);
    expect((await ds.snapshot(head).queryRelationships({})).map(tuple)).toEqual(['doc:1999#reader@user:u4']);
    await ds.close();
  });
});
