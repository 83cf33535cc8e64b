/**
 * A large CREATE-only transaction drops the subject index and builds it again before it reads and
 * before COMMIT (src/datastore/sqlite/deferred-index.ts): no commit may lack it, and reads inside the transaction
 * must still be right.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import type { ReadWriteTransaction } from '../../src/datastore/datastore.js';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import type { SqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { describeBackend } from './chosen-backends.js';
import { rel } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-sqlite-deferred-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROWS = 60_000; // above the 50,000 rows after which the index may be deferred

function open(): { ds: SqliteDatastore; hasSubjectIndex: () => boolean } {
  const ds = openSqliteDatastore(join(dir, `ds-${files++}.db`), { gcIntervalMs: 0 });
  const writer = (ds as unknown as { writer: Database.Database }).writer;
  const hasSubjectIndex = () =>
    writer
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'relationships_current_by_subject'")
      .get() !== undefined;
  return { ds, hasSubjectIndex };
}

/** ROWS relationships doc:i#reader@user:u(i % 100), in batches of 1,000 CREATEs. */
async function importRows(tx: ReadWriteTransaction, from = 0): Promise<void> {
  for (let start = from; start < from + ROWS; start += 1000) {
    const batch: RelationshipUpdate[] = [];
    for (let i = start; i < start + 1000; i++)
      batch.push({ operation: 'CREATE', relationship: rel(`doc:${i}#reader@user:u${i % 100}`) });
    await tx.write(batch);
  }
}

describeBackend('sqlite', 'sqlite: the subject index during a large import', () => {
  it('is dropped while importing into an empty table and exists again at commit', async () => {
    const { ds, hasSubjectIndex } = open();
    await ds.readWrite(async (tx) => {
      await importRows(tx);
      expect(hasSubjectIndex()).toBe(false);
    });
    expect(hasSubjectIndex()).toBe(true);
    const found = await ds
      .snapshot(await ds.headRevision())
      .queryRelationships({ subjectType: 'user', subjectIds: ['u7'] });
    expect(found).toHaveLength(ROWS / 100);
    await ds.close();
  });

  it('is built again before a read or a deleteMatching inside the transaction, which see every row', async () => {
    const { ds, hasSubjectIndex } = open();
    await ds.readWrite(async (tx) => {
      await importRows(tx);
      expect(await tx.queryRelationships({ subjectType: 'user', subjectIds: ['u1'] })).toHaveLength(ROWS / 100);
      expect(hasSubjectIndex()).toBe(true);
      await importRows(tx, ROWS);
      expect(hasSubjectIndex()).toBe(false);
      expect(await tx.deleteMatching({ subjectType: 'user', subjectIds: ['u2'] })).toBe((2 * ROWS) / 100);
      expect(hasSubjectIndex()).toBe(true);
    });
    const head = ds.snapshot(await ds.headRevision());
    expect(await head.queryRelationships({ subjectType: 'user', subjectIds: ['u2'] })).toEqual([]);
    expect(await head.queryRelationships({ subjectType: 'user', subjectIds: ['u3'] })).toHaveLength((2 * ROWS) / 100);
    await ds.close();
  });

  it('comes back with a transaction that fails after dropping it', async () => {
    const { ds, hasSubjectIndex } = open();
    const boom = new Error('boom');
    await expect(
      ds.readWrite(async (tx) => {
        await importRows(tx);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(hasSubjectIndex()).toBe(true);
    await ds.close();
  });

  it('is kept when the table already holds more rows than the transaction adds', async () => {
    const { ds, hasSubjectIndex } = open();
    await ds.readWrite(async (tx) => {
      await importRows(tx);
      await importRows(tx, ROWS);
    });
    await ds.readWrite(async (tx) => {
      await importRows(tx, 2 * ROWS);
      expect(hasSubjectIndex()).toBe(true);
    });
    await ds.close();
  });
});
