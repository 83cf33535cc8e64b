/**
 * Write calls made only of CREATEs, as a bulk import sends them: backends take a faster path for
 * them (SQLite skips the savepoint and undoes by hand), which must keep every write() guarantee —
 * a conflicting call leaves no row and no change-log entry, and the transaction goes on after it.
 */
import { expect, it } from 'vitest';
import type { Datastore, Revision } from '../../src/datastore/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import type { Relationship, RelationshipUpdate } from '../../src/relationships/relationship.js';
import { rel } from './contract.js';
import { BACKENDS, describeBackend, useTestBackends } from './test-backends.js';

const backends = useTestBackends();

const create = (r: Relationship | string): RelationshipUpdate => ({
  operation: 'CREATE',
  relationship: typeof r === 'string' ? rel(r) : r,
});
const tuple = (r: Relationship) =>
  `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}`;

async function readAll(ds: Datastore, revision?: Revision): Promise<string[]> {
  return (await ds.snapshot(revision ?? (await ds.headRevision())).queryRelationships({})).map(tuple);
}

/** The changes of the commit at `revision`, as `OP tuple`. */
async function changesAt(ds: Datastore, revision: Revision): Promise<string[]> {
  for await (const commit of ds.watch(revision - 1n))
    return commit.changes.map((c) => `${c.operation} ${tuple(c.relationship)}`);
  throw new Error('no commit');
}

async function rejection(p: Promise<unknown>): Promise<PembaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PembaError);
  return e as PembaError;
}

for (const backend of BACKENDS)
  describeBackend(backend, `CREATE-only write calls: ${backend}`, () => {
    it('a call that conflicts late leaves nothing of itself; earlier and later calls commit with their changes in order', async () => {
      const ds = await backends.open(backend);
      await ds.readWrite((tx) => tx.write([create('doc:9#reader@user:old')]));
      const { revision } = await ds.readWrite(async (tx) => {
        await tx.write([create('doc:1#reader@user:ann'), create('doc:2#reader@user:bob')]);
        const e = await rejection(
          tx.write([create('doc:3#reader@user:cat'), create('doc:4#reader@user:dan'), create('doc:9#reader@user:old')]),
        );
        expect(e.code).toBe('ALREADY_EXISTS');
        expect(e.message).toContain('doc:9#reader@user:old');
        expect((await tx.queryRelationships({})).map(tuple)).toEqual([
          'doc:1#reader@user:ann',
          'doc:2#reader@user:bob',
          'doc:9#reader@user:old',
        ]);
        await tx.write([create('doc:5#reader@user:eve')]);
      });
      expect(await readAll(ds)).toEqual([
        'doc:1#reader@user:ann',
        'doc:2#reader@user:bob',
        'doc:5#reader@user:eve',
        'doc:9#reader@user:old',
      ]);
      expect(await changesAt(ds, revision)).toEqual([
        'TOUCH doc:1#reader@user:ann',
        'TOUCH doc:2#reader@user:bob',
        'TOUCH doc:5#reader@user:eve',
      ]);
    });

    it('a relationship twice in one call, or again in a later call, is ALREADY_EXISTS', async () => {
      const ds = await backends.open(backend);
      await ds.readWrite(async (tx) => {
        const e = await rejection(
          tx.write([create('doc:1#reader@user:ann'), create('doc:2#reader@user:bob'), create('doc:1#reader@user:ann')]),
        );
        expect(e.code).toBe('ALREADY_EXISTS');
        expect(await tx.queryRelationships({})).toEqual([]);
      });
      const failed = ds.readWrite(async (tx) => {
        await tx.write([create('doc:1#reader@user:ann')]);
        await tx.write([create('doc:2#reader@user:bob'), create('doc:1#reader@user:ann')]);
      });
      expect((await rejection(failed)).code).toBe('ALREADY_EXISTS');
      expect(await readAll(ds)).toEqual([]);
    });

    it('replaces an expired relationship, keeping the change order of the call', async () => {
      const ds = await backends.open(backend);
      const expired = rel('doc:2#reader@user:bob', { expiresAt: new Date(Date.now() - 1000) });
      const { revision: before } = await ds.readWrite((tx) => tx.write([create(expired)]));
      const { revision } = await ds.readWrite((tx) =>
        tx.write([create('doc:1#reader@user:ann'), create('doc:2#reader@user:bob'), create('doc:3#reader@user:cat')]),
      );
      expect(await readAll(ds)).toEqual(['doc:1#reader@user:ann', 'doc:2#reader@user:bob', 'doc:3#reader@user:cat']);
      expect(await changesAt(ds, revision)).toEqual([
        'TOUCH doc:1#reader@user:ann',
        'TOUCH doc:2#reader@user:bob',
        'TOUCH doc:3#reader@user:cat',
      ]);
      // The older revision still has the expired version (hidden, as expired) and nothing else.
      expect(await readAll(ds, before)).toEqual([]);
    });

    it('a TOUCH batch that meets a current version late rewrites it, inserts the rest, and logs each once in order', async () => {
      const ds = await backends.open(backend);
      await ds.readWrite((tx) => tx.write([create('doc:0250#reader@user:u')]));
      const ids = Array.from({ length: 300 }, (_, i) => String(i).padStart(4, '0'));
      const touched = ids.map((id) =>
        rel(`doc:${id}#reader@user:u`, id === '0250' ? { caveat: { name: 'c', context: { n: 1 } } } : {}),
      );
      const { revision } = await ds.readWrite((tx) =>
        tx.write(touched.map((relationship) => ({ operation: 'TOUCH', relationship }))),
      );
      const rows = await ds.snapshot(revision).queryRelationships({});
      expect(rows.map(tuple)).toEqual(ids.map((id) => `doc:${id}#reader@user:u`));
      expect(rows[250].caveat).toEqual({ name: 'c', context: { n: 1 } });
      expect(await changesAt(ds, revision)).toEqual(ids.map((id) => `TOUCH doc:${id}#reader@user:u`));
    });
  });

for (const backend of BACKENDS)
  describeBackend(backend, `watch over large commits: ${backend}`, () => {
    it('delivers a commit of 25,000 changes whole and in order, between its neighbours', async () => {
      const ds = await backends.open(backend);
      const big = Array.from({ length: 25_000 }, (_, i) => create(`doc:${i}#reader@user:u${i % 7}`));
      const revisions: Revision[] = [];
      revisions.push(
        (await ds.readWrite((tx) => tx.write([create('a:1#reader@user:x'), create('a:2#reader@user:x')]))).revision,
      );
      revisions.push((await ds.readWrite((tx) => tx.write(big))).revision);
      revisions.push((await ds.readWrite((tx) => tx.write([create('b:1#reader@user:x')]))).revision);
      const seen: { revision: Revision; changes: string[] }[] = [];
      for await (const commit of ds.watch(revisions[0] - 1n)) {
        seen.push({ revision: commit.revision, changes: commit.changes.map((c) => tuple(c.relationship)) });
        if (seen.length === 3) break;
      }
      expect(seen.map((c) => c.revision)).toEqual(revisions);
      expect(seen[0].changes).toEqual(['a:1#reader@user:x', 'a:2#reader@user:x']);
      expect(seen[1].changes).toEqual(big.map((u) => tuple(u.relationship)));
      expect(seen[2].changes).toEqual(['b:1#reader@user:x']);
    });

    it('carries caveat contexts and expirations through the change log as written', async () => {
      const ds = await backends.open(backend);
      const expiresAt = new Date(Date.now() + 3_600_000);
      const written = [
        rel('doc:1#reader@user:ann', { caveat: { name: 'c', context: { n: 1.5, s: 'é"\\/', l: [1, { x: null }] } } }),
        rel('doc:2#reader@user:bob', { expiresAt }),
      ];
      const { revision } = await ds.readWrite((tx) => tx.write(written.map(create)));
      for await (const commit of ds.watch(revision - 1n)) {
        expect(commit.changes).toEqual(written.map((relationship) => ({ operation: 'TOUCH', relationship })));
        break;
      }
    });
  });
