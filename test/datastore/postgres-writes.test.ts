/**
 * Writes in the PostgreSQL datastore: group commit (the transactions waiting for the writer run in one
 * database transaction, each as its own consecutive revision, and one COMMIT makes them all durable),
 * each transaction all or nothing on its own; a transaction whose call ended before the COMMIT never
 * commits; and a write sent with the next statement (one round trip per write call) that PostgreSQL
 * refuses fails its own transaction, never another's, and leaves nothing behind.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RelationshipChange, RevisionChanges } from '../../src/datastore/datastore.js';
import { openPostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import type { PostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import { formatRelationship } from '../../src/relationships/relationship-string.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { describeBackend } from './chosen-backends.js';
import { code, nextCommit, rel } from './contract.js';
import { useTestPostgres } from './postgres-harness.js';

const postgres = useTestPostgres();

const touch = (s: string): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s) });
const create = (s: string): RelationshipUpdate => ({ operation: 'CREATE', relationship: rel(s) });
/** A TOUCH PostgreSQL refuses once sent (year 10000 is past its timestamp range), though the rules accept it. */
const refused = (s: string): RelationshipUpdate => ({
  operation: 'TOUCH',
  relationship: rel(s, { expiresAt: new Date('+010000-01-01T00:00:00Z') }),
});
const ended = () => new PembaError('DEADLINE_EXCEEDED', 'the call ended');
const shown = (c: RelationshipChange) => `${c.operation} ${formatRelationship(c.relationship)}`;

// Counts the COMMITs sent by any client in this file (the group's arrives with its commits, in one query).
let commitCount = 0;
const original = pg.Client.prototype.query;
beforeAll(() => {
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    if (typeof args[0] === 'string' && /INSERT INTO commits[\s\S]*; COMMIT$/.test(args[0])) commitCount++;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
});
afterAll(() => {
  pg.Client.prototype.query = original;
});

async function all(ds: PostgresDatastore): Promise<string[]> {
  const head = await ds.headRevision();
  return (await ds.snapshot(head).queryRelationships({})).map(formatRelationship);
}

async function feed(ds: PostgresDatastore, after: bigint, commits: number): Promise<RevisionChanges[]> {
  const watch = ds.watch(after)[Symbol.asyncIterator]();
  const seen: RevisionChanges[] = [];
  for (let i = 0; i < commits; i++) seen.push(await nextCommit(watch));
  await watch.return?.();
  return seen;
}

describeBackend('postgres', 'postgres writes', () => {
  it('commits concurrent transactions with one COMMIT, each as its own consecutive revision, durably', async () => {
    const uri = await postgres.migratedUri();
    const ds = await openPostgresDatastore(uri, { gcIntervalMs: 0, watchPollMs: 20 });
    const n = 20;
    const before = commitCount;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        ds.readWrite(async (tx) => {
          await tx.write([touch(`doc:${i}#reader@user:u${i}`), touch(`doc:shared#reader@user:u${i}`)]);
          if (i === 3) await tx.writeSchema('definition user {}');
          // Reads see the transaction's own writes, and those of the members before it.
          return (await tx.queryRelationships({ resourceIds: ['shared'] })).length;
        }),
      ),
    );
    expect(commitCount - before).toBe(1);
    expect(answers.map((a) => a.result)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(answers.map((a) => a.revision)).toEqual(Array.from({ length: n }, (_, i) => BigInt(i + 1)));
    for (let i = 0; i < n; i++) {
      const shared = await ds.snapshot(BigInt(i + 1)).queryRelationships({ resourceIds: ['shared'] });
      expect(shared.length).toBe(i + 1);
    }
    expect(await ds.snapshot(3n).readSchema()).toBeUndefined();
    expect(await ds.snapshot(4n).readSchema()).toEqual({ text: 'definition user {}', revision: 4n });
    const commits = await feed(ds, 0n, n);
    commits.forEach((commit, i) => {
      expect(commit.revision).toBe(BigInt(i + 1));
      expect(commit.changes.map(shown)).toEqual([
        `TOUCH doc:${i}#reader@user:u${i}`,
        `TOUCH doc:shared#reader@user:u${i}`,
      ]);
      expect(commit.schema).toBe(i === 3 ? 'definition user {}' : undefined);
    });
    await ds.close();
    // Durable: another pool sees all of it.
    const again = await openPostgresDatastore(uri, { gcIntervalMs: 0 });
    expect(await again.headRevision()).toBe(BigInt(n));
    expect((await all(again)).length).toBe(2 * n);
    await again.close();
  });

  it('a transaction of the group that throws leaves no trace, while the others commit', async () => {
    const ds = await postgres.open({ watchPollMs: 20 });
    await ds.readWrite((tx) => tx.write([touch('doc:taken#reader@user:ann')]));
    const before = commitCount;
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
    expect(commitCount - before).toBe(1);
    expect(failed.status === 'rejected' && (failed.reason as PembaError).code).toBe('ALREADY_EXISTS');
    expect(thrown.status === 'rejected' && (thrown.reason as Error).message).toBe('the caller changed its mind');
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
    expect((await feed(ds, 1n, 3)).flatMap((commit) => commit.changes.map(shown))).toEqual([
      'TOUCH doc:a#reader@user:ann',
      'TOUCH doc:b#reader@user:ann',
      'TOUCH doc:c#reader@user:ann',
    ]);
    await ds.close();
  });

  it('a write call that throws leaves the transaction as before the call, which goes on and commits', async () => {
    const ds = await postgres.open();
    await ds.readWrite((tx) => tx.write([touch('doc:taken#reader@user:ann')]));
    const { revision } = await ds.readWrite(async (tx) => {
      await tx.write([touch('doc:1#reader@user:ann')]);
      expect(await code(tx.write([touch('doc:2#reader@user:ann'), create('doc:taken#reader@user:ann')]))).toBe(
        'ALREADY_EXISTS',
      );
      await tx.write([touch('doc:3#reader@user:ann')]);
      expect(await tx.deleteMatching({ resourceIds: ['1'] })).toBe(1);
      await tx.write([touch('doc:4#reader@user:ann')]);
    });
    expect(revision).toBe(2n);
    expect(await all(ds)).toEqual(['doc:3#reader@user:ann', 'doc:4#reader@user:ann', 'doc:taken#reader@user:ann']);
    expect((await feed(ds, 1n, 1))[0].changes.map(shown)).toEqual([
      'TOUCH doc:1#reader@user:ann',
      'TOUCH doc:3#reader@user:ann',
      'DELETE doc:1#reader@user:ann',
      'TOUCH doc:4#reader@user:ann',
    ]);
    await ds.close();
  });

  it('a write PostgreSQL refuses after its call returned fails its own transaction, alone or in a group', async () => {
    const ds = await postgres.open({ watchPollMs: 20 });
    // Alone: refused with the COMMIT it was sent with; nothing of it stays.
    const alone = ds.readWrite(async (tx) => {
      await tx.write([touch('doc:1#reader@user:ann')]);
      await tx.write([refused('doc:2#reader@user:ann')]);
    });
    await expect(alone).rejects.toThrow(/10000|out of range|invalid input/);
    expect(await ds.headRevision()).toBe(0n);
    // In a group: the one before it commits; the one after it, which may have read its writes, fails
    // retryably (or commits, when the failure was found before it ran).
    const [first, bad, after] = await Promise.allSettled([
      ds.readWrite((tx) => tx.write([touch('doc:a#reader@user:ann')])),
      ds.readWrite((tx) => tx.write([touch('doc:b#reader@user:ann'), refused('doc:c#reader@user:ann')])),
      ds.readWrite((tx) => tx.write([touch('doc:d#reader@user:ann')])),
    ]);
    expect(first.status === 'fulfilled' && first.value.revision).toBe(1n);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).not.toBeInstanceOf(PembaError);
    const expected = ['doc:a#reader@user:ann'];
    if (after.status === 'fulfilled') {
      expect(after.value.revision).toBe(2n);
      expected.push('doc:d#reader@user:ann');
    } else {
      expect((after.reason as PembaError).code).toBe('UNAVAILABLE');
    }
    expect(await all(ds)).toEqual(expected);
    expect(await ds.headRevision()).toBe(BigInt(expected.length));
    expect((await feed(ds, 0n, expected.length)).flatMap((commit) => commit.changes.map(shown))).toEqual(
      expected.map((r) => `TOUCH ${r}`),
    );
    // The writer works on.
    expect((await ds.readWrite((tx) => tx.write([touch('doc:e#reader@user:ann')]))).revision).toBe(
      BigInt(expected.length + 1),
    );
    await ds.close();
  });

  it('a transaction whose call ended after it ran but before the group committed never commits', async () => {
    const ds = await postgres.open();
    const early = ds.readWrite((tx) => tx.write([touch('doc:early#reader@user:ann')]));
    const ac = new AbortController();
    const why = ended();
    const abandoned = ds.readWrite((tx) => tx.write([touch('doc:abandoned#reader@user:ann')]), { signal: ac.signal });
    // A later member waits for I/O (as an import waits for its next batch): meanwhile the call before it ends.
    const slow = ds.readWrite(async (tx) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await tx.write([touch('doc:slow#reader@user:ann')]);
    });
    setTimeout(() => ac.abort(why), 20);
    const [e, a, s] = await Promise.allSettled([early, abandoned, slow]);
    expect(e.status === 'fulfilled' && e.value.revision).toBe(1n);
    expect(a.status === 'rejected' && a.reason).toBe(why);
    // The one after it read what it wrote, so it is undone too, with an error that says to retry.
    expect(s.status === 'rejected' && (s.reason as PembaError).code).toBe('UNAVAILABLE');
    expect(await ds.headRevision()).toBe(1n);
    expect(await all(ds)).toEqual(['doc:early#reader@user:ann']);
    expect((await ds.readWrite((tx) => tx.write([touch('doc:next#reader@user:ann')]))).revision).toBe(2n);
    await ds.close();
  });

  it('a transaction whose signal aborts while it waits in a group leaves at once; the others commit', async () => {
    const ds = await postgres.open();
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = ds.readWrite(async (tx) => {
      await tx.write([touch('doc:1#reader@user:ann')]);
      started();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await running;
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

  it('stores values with quotes, backslashes, braces and commas exactly (writes carry them as SQL literals)', async () => {
    const ds = await postgres.open();
    const odd = [`a'b`, 'c\\d', '{e,f}', 'g"h', 'NULL', '\\\'"', 'ünï'];
    const updates = odd.map((id, i): RelationshipUpdate => ({
      operation: 'TOUCH',
      relationship: {
        ...rel(`doc:x${i}#reader@user:ann`),
        resource: { type: 'doc', id },
        caveat: { name: 'c', context: { s: id, n: i } },
        expiresAt: new Date(Date.UTC(2100, 0, 1, 0, 0, i, 123)),
      },
    }));
    const { revision } = await ds.readWrite((tx) => tx.write(updates));
    const stored = await ds.snapshot(revision).queryRelationships({});
    expect(stored.map((r) => r.resource.id).sort()).toEqual([...odd].sort());
    for (const r of stored) {
      const i = odd.indexOf(r.resource.id);
      expect(r.caveat).toEqual({ name: 'c', context: { s: r.resource.id, n: i } });
      expect(r.expiresAt).toEqual(new Date(Date.UTC(2100, 0, 1, 0, 0, i, 123)));
    }
    const [commit] = await feed(ds, 0n, 1);
    expect(commit.changes.map((c) => c.relationship.resource.id)).toEqual(odd);
    // A NUL, which PostgreSQL cannot store, is refused before anything is sent.
    await expect(
      ds.readWrite((tx) => tx.write([{ operation: 'TOUCH', relationship: rel('doc:a\u0000b#reader@user:ann') }])),
    ).rejects.toThrow();
    expect(await ds.headRevision()).toBe(revision);
    await ds.close();
  });
});
