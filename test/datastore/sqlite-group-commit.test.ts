/**
 * Group commit in the SQLite datastore: the transactions waiting for the writer run in one SQLite
 * transaction, each as its own consecutive revision, and one COMMIT makes them all durable. Each stays
 * all or nothing on its own, and a transaction whose call ended before the COMMIT never commits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { RelationshipChange, RevisionChanges } from '../../src/datastore/datastore.js';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import type { SqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import { formatRelationship } from '../../src/relationships/relationship-string.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { describeBackend } from './chosen-backends.js';
import { code, nextCommit, rel } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-sqlite-group-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const touch = (s: string): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s) });
const create = (s: string): RelationshipUpdate => ({ operation: 'CREATE', relationship: rel(s) });
const ended = () => new PembaError('DEADLINE_EXCEEDED', 'the call ended');
const shown = (c: RelationshipChange) => `${c.operation} ${formatRelationship(c.relationship)}`;

/** A fresh datastore whose COMMITs on the writer connection are counted. */
function open(): { ds: SqliteDatastore; path: string; commits: () => number } {
  const path = join(dir, `ds-${files++}.db`);
  const ds = openSqliteDatastore(path, { gcIntervalMs: 0, watchPollMs: 20 });
  const writer = (ds as unknown as { writer: { exec(sql: string): unknown } }).writer;
  const exec = writer.exec.bind(writer);
  let commits = 0;
  writer.exec = (sql: string) => {
    if (sql === 'COMMIT') commits++;
    return exec(sql);
  };
  return { ds, path, commits: () => commits };
}

async function all(ds: SqliteDatastore): Promise<string[]> {
  const head = await ds.headRevision();
  return (await ds.snapshot(head).queryRelationships({})).map(formatRelationship);
}

describeBackend('sqlite', 'sqlite group commit', () => {
  it('commits concurrent transactions with one COMMIT, each as its own consecutive revision, durably', async () => {
    const { ds, path, commits } = open();
    const watch = ds.watch(0n)[Symbol.asyncIterator]();
    const n = 20;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        ds.readWrite(async (tx) => {
          await tx.write([touch(`doc:${i}#reader@user:u${i}`), touch(`doc:shared#reader@user:u${i}`)]);
          return i;
        }),
      ),
    );
    expect(commits()).toBe(1);
    // In call order, revisions 1..n, each with its own result.
    expect(answers.map((a) => a.result)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(answers.map((a) => a.revision)).toEqual(Array.from({ length: n }, (_, i) => BigInt(i + 1)));
    // Each revision sees the transactions before it, and not the ones after it.
    for (let i = 0; i < n; i++) {
      const shared = await ds.snapshot(BigInt(i + 1)).queryRelationships({ resourceIds: ['shared'] });
      expect(shared.length).toBe(i + 1);
    }
    // The change feed delivers every revision once, with its own changes.
    for (let i = 0; i < n; i++) {
      const commit: RevisionChanges = await nextCommit(watch);
      expect(commit.revision).toBe(BigInt(i + 1));
      expect(commit.changes.map(shown)).toEqual([
        `TOUCH doc:${i}#reader@user:u${i}`,
        `TOUCH doc:shared#reader@user:u${i}`,
      ]);
    }
    await watch.return?.();
    await ds.close();
    // Durable: a new connection to the file sees all of it.
    const again = openSqliteDatastore(path, { gcIntervalMs: 0 });
    expect(await again.headRevision()).toBe(BigInt(n));
    expect((await all(again)).length).toBe(2 * n);
    await again.close();
  });

  it('a transaction of the group that throws leaves no trace, while the others commit', async () => {
    const { ds, commits } = open();
    await ds.readWrite((tx) => tx.write([touch('doc:taken#reader@user:ann')]));
    const before = commits();
    const [a, failed, b, thrown, c] = await Promise.allSettled([
      ds.readWrite((tx) => tx.write([touch('doc:a#reader@user:ann')])),
      // Writes, then fails on a conflict in a later write: its first write is undone too.
      ds.readWrite(async (tx) => {
        await tx.write([touch('doc:lost#reader@user:ann'), touch('doc:a#reader@user:bob')]);
        await tx.write([create('doc:taken#reader@user:ann')]);
      }),
      ds.readWrite((tx) => tx.write([touch('doc:b#reader@user:ann')])),
      ds.readWrite(async (tx) => {
        await tx.write([touch('doc:lost2#reader@user:ann')]);
        await tx.writeSchema('definition user {}');
        throw new Error('the caller changed its mind');
      }),
      ds.readWrite((tx) => tx.write([touch('doc:c#reader@user:ann')])),
    ]);
    expect(commits() - before).toBe(1);
    expect(failed.status === 'rejected' && (failed.reason as PembaError).code).toBe('ALREADY_EXISTS');
    expect(thrown.status === 'rejected' && (thrown.reason as Error).message).toBe('the caller changed its mind');
    // The committed ones got consecutive revisions: a failed one's revision is the next one's.
    const revisions = [a, b, c].map((r) => (r.status === 'fulfilled' ? r.value.revision : undefined));
    expect(revisions).toEqual([2n, 3n, 4n]);
    expect(await ds.headRevision()).toBe(4n);
    expect(await all(ds)).toEqual([
      'doc:a#reader@user:ann',
      'doc:b#reader@user:ann',
      'doc:c#reader@user:ann',
      'doc:taken#reader@user:ann',
    ]);
    expect(await ds.snapshot(4n).readSchema()).toBeUndefined();
    const feed: string[] = [];
    const watch = ds.watch(1n)[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) feed.push(...(await nextCommit(watch)).changes.map(shown));
    await watch.return?.();
    expect(feed).toEqual(['TOUCH doc:a#reader@user:ann', 'TOUCH doc:b#reader@user:ann', 'TOUCH doc:c#reader@user:ann']);
    await ds.close();
  });

  it('a transaction whose call ended after it ran but before the group committed never commits', async () => {
    const { ds } = open();
    const early = ds.readWrite((tx) => tx.write([touch('doc:early#reader@user:ann')]));
    const ac = new AbortController();
    const why = ended();
    const abandoned = ds.readWrite((tx) => tx.write([touch('doc:abandoned#reader@user:ann')]), { signal: ac.signal });
    // A later member waits for I/O (as an import waits for its next batch): meanwhile the call before it ends.
    const slow = ds.readWrite(async (tx) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await tx.write([touch('doc:slow#reader@user:ann')]);
    });
    setTimeout(() => ac.abort(why), 5);
    expect((await early).revision).toBe(1n);
    expect(await code(abandoned)).toBe('DEADLINE_EXCEEDED');
    await expect(abandoned).rejects.toBe(why);
    // The one after it read what it wrote, so it is undone too, with an error that says to retry.
    expect(await code(slow)).toBe('UNAVAILABLE');
    expect(await ds.headRevision()).toBe(1n);
    expect(await all(ds)).toEqual(['doc:early#reader@user:ann']);
    // The writer works on.
    expect((await ds.readWrite((tx) => tx.write([touch('doc:next#reader@user:ann')]))).revision).toBe(2n);
    await ds.close();
  });

  it('a transaction whose signal aborts while it waits in a group leaves at once; the others commit', async () => {
    const { ds } = open();
    let release!: () => void;
    const first = ds.readWrite(async (tx) => {
      await tx.write([touch('doc:1#reader@user:ann')]);
      await new Promise<void>((resolve) => (release = resolve));
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const ac = new AbortController();
    let ran = false;
    const queued = ds.readWrite(
      async (tx) => {
        ran = true;
        await tx.write([touch('doc:2#reader@user:ann')]);
      },
      { signal: ac.signal },
    );
    const other = ds.readWrite((tx) => tx.write([touch('doc:3#reader@user:ann')]));
    const why = ended();
    ac.abort(why);
    await expect(queued).rejects.toBe(why);
    release();
    expect((await first).revision).toBe(1n);
    expect((await other).revision).toBe(2n);
    expect(ran).toBe(false);
    expect(await all(ds)).toEqual(['doc:1#reader@user:ann', 'doc:3#reader@user:ann']);
    await ds.close();
  });
});
