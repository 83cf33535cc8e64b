/**
 * The Datastore contract suite. Every backend runs it with a few lines:
 *
 *   runDatastoreContract({ backend: 'sqlite' }, async (settings) => openSqliteDatastore(freshPath(), settings));
 *
 * The opener must return a fresh, empty datastore on every call (the suite closes it), with the
 * settings it is given (a test's clock and windows; absent ones left at the backend's defaults). A
 * backend left out of PEMBA_TEST_BACKENDS has its suites skipped (chosen-backends.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveRevision } from '../../src/consistency/consistency.js';
import { decodeToken, encodeToken } from '../../src/consistency/zedtoken.js';
import type {
  Datastore,
  ReadWriteTransaction,
  RelationshipQuery,
  Revision,
  RevisionChanges,
} from '../../src/datastore/datastore.js';
import { compareKeys, keyOf } from '../../src/datastore/datastore.js';
import type { CollectableDatastore } from '../../src/datastore/factory.js';
import { PembaError } from '../../src/errors/index.js';
import { instrumentDatastore } from '../../src/observability/instrumented-datastore.js';
import type { Relationship, RelationshipUpdate } from '../../src/relationships/relationship.js';
import type { Backend } from './chosen-backends.js';
import { describeBackend } from './chosen-backends.js';

/** What a test may set when it opens a datastore; the rest keep the backend's defaults. */
export interface ContractSettings {
  /** The clock, in epoch ms. */
  now?: () => number;
  gcWindowMs?: number;
  quantizationMs?: number;
}

/** A fresh, empty datastore with `settings`. */
export type ContractOpener = (settings: ContractSettings) => Promise<CollectableDatastore>;

export interface ContractRun {
  backend: Backend;
  /** A variant of the backend's settings, named after it: `no quantization`. */
  variant?: string;
  /**
   * Whether this run includes the tests on a clock the test moves (quantization, expiry, garbage
   * collection, transactions' leftovers), which set their own windows: once per backend (default true).
   */
  clockTests?: boolean;
}

/** `doc:1#reader@user:ann` or `doc:1#reader@group:eng#member`. */
export function rel(s: string, extra: Pick<Relationship, 'caveat' | 'expiresAt'> = {}): Relationship {
  const m = /^([^:]+):([^#]+)#([^@]+)@([^:]+):([^#]+)(?:#(.+))?$/.exec(s);
  if (!m) throw new Error(`bad relationship ${s}`);
  return {
    resource: { type: m[1], id: m[2] },
    relation: m[3],
    subject: { type: m[4], id: m[5], relation: m[6] ?? '...' },
    ...extra,
  };
}

const touch = (r: Relationship | string): RelationshipUpdate => ({
  operation: 'TOUCH',
  relationship: typeof r === 'string' ? rel(r) : r,
});
const create = (r: Relationship | string): RelationshipUpdate => ({
  operation: 'CREATE',
  relationship: typeof r === 'string' ? rel(r) : r,
});
const del = (r: Relationship | string): RelationshipUpdate => ({
  operation: 'DELETE',
  relationship: typeof r === 'string' ? rel(r) : r,
});

const tuple = (r: Relationship) => {
  const s = r.subject.relation === '...' ? '' : `#${r.subject.relation}`;
  return `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}${s}`;
};

/** Rejects with a PembaError of `code` whose message contains `text`. */
async function expectPembaError(p: Promise<unknown>, code: string, text?: string | RegExp): Promise<PembaError> {
  const e = await p.then(
    () => {
      throw new Error(`expected a ${code} error, but it succeeded`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PembaError);
  expect((e as PembaError).code).toBe(code);
  if (text !== undefined) expect((e as PembaError).message).toMatch(text);
  return e as PembaError;
}

/** The next `n` commits from `iter`, failing instead of hanging if they do not arrive. */
async function take(iter: AsyncIterator<RevisionChanges>, n: number, timeoutMs = 2000): Promise<RevisionChanges[]> {
  const out: RevisionChanges[] = [];
  for (let i = 0; i < n; i++) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`watch: only ${out.length} of ${n} commits arrived`)), timeoutMs);
    });
    const next = await Promise.race([iter.next(), timeout]).finally(() => clearTimeout(timer));
    if (next.done) throw new Error(`watch ended after ${out.length} of ${n} commits`);
    out.push(next.value);
  }
  return out;
}

/** True when `iter` produces nothing within `ms` (the pending next() is left for the caller). */
async function quiet(pending: Promise<unknown>, ms = 50): Promise<boolean> {
  const marker = Symbol('quiet');
  const winner = await Promise.race([pending, new Promise((r) => setTimeout(() => r(marker), ms))]);
  return winner === marker;
}

const SEED = [
  'doc:1#reader@user:ann',
  'doc:1#reader@user:bob',
  'doc:1#writer@user:ann',
  'doc:2#reader@group:eng#member',
  'doc:2#reader@group:eng',
  'doc:2#reader@user:*',
  'doc:10#reader@user:ann',
  'doc:20#owner@user:cat',
  'doc:a/b#reader@user:ann',
  'folder:1#viewer@user:ann',
  'folder:x#parent@folder:1',
  'group:eng#member@user:bob',
  'group:eng#member@group:ops#member',
  'group:ops#member@user:ann',
].map((s) => rel(s));

/** What a query must return over SEED: a reference implementation of the matching rules. */
function reference(q: RelationshipQuery, rels: Relationship[] = SEED): string[] {
  return rels
    .filter(
      (r) =>
        (q.resourceType === undefined || r.resource.type === q.resourceType) &&
        (q.resourceIds === undefined || q.resourceIds.includes(r.resource.id)) &&
        (q.resourceIdPrefix === undefined || r.resource.id.startsWith(q.resourceIdPrefix)) &&
        (q.relation === undefined || r.relation === q.relation) &&
        (q.subjectType === undefined || r.subject.type === q.subjectType) &&
        (q.subjectIds === undefined || q.subjectIds.includes(r.subject.id)) &&
        (q.subjectRelation === undefined || r.subject.relation === q.subjectRelation),
    )
    .sort((a, b) => compareKeys(keyOf(a), keyOf(b)))
    .map(tuple);
}

const QUERIES: RelationshipQuery[] = [
  {},
  { resourceType: 'doc' },
  { resourceType: 'doc', resourceIds: ['2', '1', 'missing', '1'] },
  { resourceType: 'doc', resourceIds: [] },
  { resourceType: 'doc', resourceIdPrefix: '1' },
  { resourceType: 'doc', resourceIdPrefix: 'a/' },
  { resourceType: 'doc', resourceIds: ['1', '10', '2'], resourceIdPrefix: '1' },
  { resourceType: 'doc', resourceIds: ['1', '2'], relation: 'reader' },
  { resourceType: 'doc', relation: 'reader' },
  { relation: 'reader' },
  { resourceType: 'nothing' },
  { subjectType: 'user' },
  { subjectType: 'user', subjectIds: ['ann'] },
  { subjectType: 'user', subjectIds: ['ann', 'bob', 'nobody'], relation: 'reader' },
  { subjectType: 'user', subjectIds: [] },
  { subjectType: 'user', subjectIds: ['*'] },
  { resourceType: 'doc', subjectType: 'user', subjectIds: ['ann'] },
  { resourceType: 'doc', resourceIds: ['1'], subjectType: 'user', subjectIds: ['bob'] },
  { subjectType: 'group', subjectRelation: '...' },
  { subjectType: 'group', subjectRelation: 'member' },
  { subjectType: 'group' },
  {
    resourceType: 'doc',
    resourceIds: ['2'],
    relation: 'reader',
    subjectType: 'group',
    subjectIds: ['eng'],
    subjectRelation: 'member',
  },
  { resourceType: 'group', relation: 'member', subjectType: 'group', subjectIds: ['ops'], subjectRelation: '...' },
  { subjectRelation: 'member' },
  { resourceIds: ['1'] },
];

/** The next commit from `iter`, failing instead of hanging. */
export async function nextCommit(iter: AsyncIterator<RevisionChanges>, timeoutMs = 3000): Promise<RevisionChanges> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('watch: no commit arrived')), timeoutMs);
  });
  const next = await Promise.race([iter.next(), timeout]).finally(() => clearTimeout(timer));
  if (next.done) throw new Error('watch ended');
  return next.value;
}

/** The PembaError code `p` rejects with, or 'ok'. */
export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof PembaError ? e.code : String(e);
  }
}

export function runDatastoreContract(run: ContractRun, open: ContractOpener): void {
  const name = run.variant === undefined ? run.backend : `${run.backend} (${run.variant})`;
  const factory = () => open({});
  describeBackend(run.backend, `Datastore contract: ${name}`, () => {
    let ds: Datastore;
    const extra: Datastore[] = [];
    beforeEach(async () => {
      ds = await factory();
    });
    afterEach(async () => {
      await ds.close();
      await Promise.all(extra.splice(0).map((d) => d.close()));
    });

    const write = async (...updates: RelationshipUpdate[]) => (await ds.readWrite((tx) => tx.write(updates))).revision;
    const read = async (q: RelationshipQuery, at?: Revision) =>
      (await ds.snapshot(at ?? (await ds.headRevision())).queryRelationships(q)).map(tuple);

    describe('revisions', () => {
      it('an empty datastore has head 0, nothing to read and no schema', async () => {
        expect(await ds.headRevision()).toBe(0n);
        expect(await ds.optimizedRevision()).toBe(0n);
        await ds.assertRevisionReadable(0n);
        expect(await ds.snapshot(0n).queryRelationships({})).toEqual([]);
        expect(await ds.snapshot(0n).readSchema()).toBeUndefined();
      });

      it('every commit creates a larger revision, including commits that change nothing', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const r2 = (await ds.readWrite(async () => 'nothing')).revision;
        const r3 = await write(del('doc:404#reader@user:ann'));
        expect(r1).toBeGreaterThan(0n);
        expect(r2).toBeGreaterThan(r1);
        expect(r3).toBeGreaterThan(r2);
        expect(await ds.headRevision()).toBe(r3);
        expect(await ds.optimizedRevision()).toBeLessThanOrEqual(r3);
      });

      it('readWrite returns the result of its function', async () => {
        const { result } = await ds.readWrite(async (tx) => {
          await tx.write([touch('doc:1#reader@user:ann')]);
          return 42;
        });
        expect(result).toBe(42);
      });

      it('assertRevisionReadable rejects negative and future revisions and accepts existing ones', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        await ds.assertRevisionReadable(r1);
        await ds.assertRevisionReadable(0n);
        await expectPembaError(ds.assertRevisionReadable(-1n), 'INVALID_ARGUMENT');
        await expectPembaError(ds.assertRevisionReadable(r1 + 1n), 'FAILED_PRECONDITION', /future/);
      });

      it('the datastore has a stable id, distinct from other datastores', async () => {
        const other = await factory();
        extra.push(other);
        expect(ds.id).toBeTruthy();
        expect(ds.id).toBe(ds.id);
        expect(other.id).not.toBe(ds.id);
      });
    });

    describe('snapshots', () => {
      it('each revision sees exactly its own state across write, delete and re-create', async () => {
        const a = 'doc:1#reader@user:ann';
        const r1 = await write(touch(a));
        const r2 = await write(touch('doc:2#reader@user:bob'));
        const r3 = await write(del(a));
        const r4 = await write(create(rel(a, { caveat: { name: 'weekday', context: { day: 'mon' } } })));
        const r5 = await write(del('doc:2#reader@user:bob'), touch('doc:3#reader@user:cat'));
        const all = async (r: Revision) => ds.snapshot(r).queryRelationships({});
        expect((await all(0n)).map(tuple)).toEqual([]);
        expect((await all(r1)).map(tuple)).toEqual([a]);
        expect((await all(r2)).map(tuple)).toEqual([a, 'doc:2#reader@user:bob']);
        expect((await all(r3)).map(tuple)).toEqual(['doc:2#reader@user:bob']);
        const at4 = await all(r4);
        expect(at4.map(tuple)).toEqual([a, 'doc:2#reader@user:bob']);
        expect(at4[0].caveat).toEqual({ name: 'weekday', context: { day: 'mon' } });
        expect((await all(r2))[0].caveat).toBeUndefined();
        expect((await all(r5)).map(tuple)).toEqual([a, 'doc:3#reader@user:cat']);
        // Point reads agree with scans.
        expect(await read({ resourceType: 'doc', resourceIds: ['1'], relation: 'reader' }, r3)).toEqual([]);
        expect(await read({ resourceType: 'doc', resourceIds: ['1'], relation: 'reader' }, r4)).toEqual([a]);
        expect(await read({ subjectType: 'user', subjectIds: ['ann'] }, r1)).toEqual([a]);
        expect(await read({ subjectType: 'user', subjectIds: ['ann'] }, r3)).toEqual([]);
      });

      it('a snapshot stays fixed while later commits happen', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const snap = ds.snapshot(r1);
        await write(del('doc:1#reader@user:ann'), touch('doc:1#reader@user:bob'));
        expect((await snap.queryRelationships({})).map(tuple)).toEqual(['doc:1#reader@user:ann']);
        expect(snap.revision).toBe(r1);
      });

      it('uncommitted writes are invisible to snapshots; the transaction sees its own writes', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        await ds.readWrite(async (tx) => {
          await tx.write([touch('doc:2#reader@user:bob'), del('doc:1#reader@user:ann')]);
          expect((await tx.queryRelationships({})).map(tuple)).toEqual(['doc:2#reader@user:bob']);
          expect((await ds.snapshot(r1).queryRelationships({})).map(tuple)).toEqual(['doc:1#reader@user:ann']);
          await tx.write([touch('doc:1#reader@user:ann')]);
          expect((await tx.queryRelationships({ resourceType: 'doc', resourceIds: ['1'] })).map(tuple)).toEqual([
            'doc:1#reader@user:ann',
          ]);
        });
      });
    });

    describe('queries', () => {
      beforeEach(async () => {
        await ds.readWrite((tx) => tx.write(SEED.map(touch)));
      });

      it.each(QUERIES.map((q) => [JSON.stringify(q), q] as const))('%s matches the reference', async (_, q) => {
        expect(await read(q)).toEqual(reference(q));
        // Transactions read with the same rules.
        const { result } = await ds.readWrite(async (tx) => (await tx.queryRelationships(q)).map(tuple));
        expect(result).toEqual(reference(q));
      });

      it('returns relationships in compareKeys order', async () => {
        const all = await ds.snapshot(await ds.headRevision()).queryRelationships({});
        const keys = all.map(keyOf);
        for (let i = 1; i < keys.length; i++) expect(compareKeys(keys[i - 1], keys[i])).toBeLessThan(0);
        expect(all).toHaveLength(SEED.length);
      });

      it('limit and after paginate without skipping or repeating', async () => {
        const snap = ds.snapshot(await ds.headRevision());
        for (const q of QUERIES) {
          for (const limit of [1, 2, 3, 5]) {
            const pages: string[] = [];
            let after: ReturnType<typeof keyOf> | undefined;
            for (let guard = 0; guard < 50; guard++) {
              const page = await snap.queryRelationships(q, { limit, after });
              expect(page.length).toBeLessThanOrEqual(limit);
              pages.push(...page.map(tuple));
              if (page.length < limit) break;
              after = keyOf(page[page.length - 1]);
            }
            expect(pages, `${JSON.stringify(q)} limit ${limit}`).toEqual(reference(q));
          }
        }
      });

      it('after may name a key that is not stored; limit 0 returns nothing', async () => {
        const snap = ds.snapshot(await ds.headRevision());
        const after = keyOf(rel('doc:1#reader@user:b'));
        expect((await snap.queryRelationships({ resourceType: 'doc' }, { after, limit: 2 })).map(tuple)).toEqual([
          'doc:1#reader@user:bob',
          'doc:1#writer@user:ann',
        ]);
        expect(await snap.queryRelationships({}, { limit: 0 })).toEqual([]);
      });

      it('results carry caveats and expirations as written', async () => {
        const expiresAt = new Date(Date.now() + 3_600_000);
        await write(
          touch(
            rel('doc:9#reader@user:ann', {
              caveat: { name: 'ip', context: { cidr: ['10.0.0.0/8'], n: 1 } },
              expiresAt,
            }),
          ),
        );
        const [r] = await ds
          .snapshot(await ds.headRevision())
          .queryRelationships({ resourceType: 'doc', resourceIds: ['9'] });
        expect(r).toEqual(
          rel('doc:9#reader@user:ann', { caveat: { name: 'ip', context: { cidr: ['10.0.0.0/8'], n: 1 } }, expiresAt }),
        );
        expect(r.expiresAt?.getTime()).toBe(expiresAt.getTime());
      });

      it('a later change to the written object does not change what is stored', async () => {
        const r = rel('doc:9#reader@user:ann', { caveat: { name: 'c', context: { x: 1 } } });
        await write(touch(r));
        r.resource.id = '10';
        r.caveat!.context!.x = 2;
        expect(
          await ds.snapshot(await ds.headRevision()).queryRelationships({ resourceType: 'doc', resourceIds: ['9'] }),
        ).toEqual([rel('doc:9#reader@user:ann', { caveat: { name: 'c', context: { x: 1 } } })]);
      });
    });

    describe('writes', () => {
      it('CREATE of an existing relationship throws ALREADY_EXISTS naming it, and the transaction writes nothing', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const failed = ds.readWrite(async (tx) => {
          await tx.write([touch('doc:2#reader@user:bob')]);
          await tx.writeSchema('definition user {}');
          await tx.write([create('doc:3#reader@user:cat'), create('doc:1#reader@user:ann')]);
        });
        await expectPembaError(failed, 'ALREADY_EXISTS', 'doc:1#reader@user:ann');
        expect(await ds.headRevision()).toBe(r1);
        expect(await read({})).toEqual(['doc:1#reader@user:ann']);
        expect(await ds.snapshot(r1).readSchema()).toBeUndefined();
        // The next transaction gets the next revision and sees no trace of the failed one.
        const r2 = await write(create('doc:3#reader@user:cat'));
        expect(r2).toBeGreaterThan(r1);
        expect(await read({})).toEqual(['doc:1#reader@user:ann', 'doc:3#reader@user:cat']);
      });

      it('a failed write call leaves the transaction as it was before the call', async () => {
        await write(touch('doc:1#reader@user:ann'));
        const { result } = await ds.readWrite(async (tx) => {
          await tx.write([touch('doc:0#reader@user:zed')]);
          await expectPembaError(
            tx.write([touch('doc:2#reader@user:bob'), create('doc:1#reader@user:ann')]),
            'ALREADY_EXISTS',
          );
          return (await tx.queryRelationships({})).map(tuple);
        });
        expect(result).toEqual(['doc:0#reader@user:zed', 'doc:1#reader@user:ann']);
        expect(await read({})).toEqual(['doc:0#reader@user:zed', 'doc:1#reader@user:ann']);
      });

      it('a transaction that throws writes nothing, commits no revision and rethrows the same error', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const boom = new Error('boom');
        const failed = ds.readWrite(async (tx) => {
          await tx.write([touch('doc:2#reader@user:bob'), del('doc:1#reader@user:ann')]);
          await tx.writeSchema('definition doc {}');
          await tx.deleteMatching({});
          throw boom;
        });
        await expect(failed).rejects.toBe(boom);
        expect(await ds.headRevision()).toBe(r1);
        expect(await read({})).toEqual(['doc:1#reader@user:ann']);
        expect(await ds.snapshot(r1).readSchema()).toBeUndefined();
        // Nor does any of it surface in the next commit.
        const r2 = (await ds.readWrite(async () => undefined)).revision;
        expect(await read({}, r2)).toEqual(['doc:1#reader@user:ann']);
        expect(await ds.snapshot(r2).readSchema()).toBeUndefined();
      });

      it('TOUCH creates, and replaces caveat and expiration of an existing relationship', async () => {
        const a = 'doc:1#reader@user:ann';
        const later = new Date(Date.now() + 86_400_000);
        const r1 = await write(touch(a));
        const r2 = await write(touch(rel(a, { caveat: { name: 'c', context: { k: 'v' } }, expiresAt: later })));
        const r3 = await write(touch(rel(a, { caveat: { name: 'd' } })));
        const r4 = await write(touch(a));
        const at = async (r: Revision) => (await ds.snapshot(r).queryRelationships({}))[0];
        expect(await at(r1)).toEqual(rel(a));
        expect(await at(r2)).toEqual(rel(a, { caveat: { name: 'c', context: { k: 'v' } }, expiresAt: later }));
        expect(await at(r3)).toEqual(rel(a, { caveat: { name: 'd' } }));
        expect(await at(r4)).toEqual(rel(a));
        expect(await ds.snapshot(r4).queryRelationships({})).toHaveLength(1);
      });

      it('DELETE of an absent relationship is a no-op; CREATE after DELETE in one call works', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const r2 = await write(del('doc:1#reader@user:bob'), del('nothing:1#x@user:ann'));
        expect(r2).toBeGreaterThan(r1);
        expect(await read({})).toEqual(['doc:1#reader@user:ann']);
        await write(del('doc:1#reader@user:ann'), create(rel('doc:1#reader@user:ann', { caveat: { name: 'c' } })));
        expect(await ds.snapshot(await ds.headRevision()).queryRelationships({})).toEqual([
          rel('doc:1#reader@user:ann', { caveat: { name: 'c' } }),
        ]);
      });

      it('deleteMatching deletes matches in key order up to the limit and reports the count', async () => {
        await ds.readWrite((tx) => tx.write(SEED.map(touch)));
        const docs = reference({ resourceType: 'doc' });
        const { result: first } = await ds.readWrite((tx) => tx.deleteMatching({ resourceType: 'doc' }, 2));
        expect(first).toBe(2);
        expect(await read({ resourceType: 'doc' })).toEqual(docs.slice(2));
        const { result: zero } = await ds.readWrite((tx) => tx.deleteMatching({ resourceType: 'doc' }, 0));
        expect(zero).toBe(0);
        const { result: rest } = await ds.readWrite((tx) => tx.deleteMatching({ resourceType: 'doc' }));
        expect(rest).toBe(docs.length - 2);
        expect(await read({ resourceType: 'doc' })).toEqual([]);
        expect(await read({})).toEqual(reference({}).filter((t) => !t.startsWith('doc:')));
        const { result: none } = await ds.readWrite((tx) => tx.deleteMatching({ resourceType: 'doc' }));
        expect(none).toBe(0);
      });

      it('deleteMatching sees the transaction’s own writes', async () => {
        await write(touch('doc:1#reader@user:ann'));
        const { result } = await ds.readWrite(async (tx) => {
          await tx.write([touch('doc:2#reader@user:ann'), del('doc:1#reader@user:ann')]);
          return tx.deleteMatching({ subjectType: 'user', subjectIds: ['ann'] });
        });
        expect(result).toBe(1);
        expect(await read({})).toEqual([]);
      });

      it('concurrent conflicting transactions are serialised: exactly one "absent then create" succeeds', async () => {
        const attempt = (who: string) =>
          ds.readWrite(async (tx) => {
            const existing = await tx.queryRelationships({
              resourceType: 'lock',
              resourceIds: ['1'],
              relation: 'holder',
            });
            await new Promise((r) => setTimeout(r, 20));
            if (existing.length > 0) throw new Error('lock is held');
            await tx.write([create(`lock:1#holder@user:${who}`)]);
            return who;
          });
        const before = await ds.headRevision();
        const outcomes = await Promise.allSettled([attempt('ann'), attempt('bob'), attempt('cat')]);
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        expect(won).toHaveLength(1);
        const holder = (won[0] as PromiseFulfilledResult<{ result: string }>).value.result;
        expect(await read({ resourceType: 'lock' })).toEqual([`lock:1#holder@user:${holder}`]);
        expect(await ds.headRevision()).toBeGreaterThan(before);
      });

      it('concurrent transactions commit distinct revisions and lose no writes', async () => {
        const revisions = await Promise.all(
          Array.from({ length: 10 }, (_, i) => write(touch(`doc:${i}#reader@user:ann`))),
        );
        expect(new Set(revisions).size).toBe(10);
        expect(await read({ resourceType: 'doc' })).toHaveLength(10);
      });
    });

    describe('expiration', () => {
      it('expired relationships are not returned; unexpired ones are', async () => {
        const past = new Date(Date.now() - 1000);
        const future = new Date(Date.now() + 3_600_000);
        await write(
          touch(rel('doc:1#reader@user:ann', { expiresAt: past })),
          touch(rel('doc:1#reader@user:bob', { expiresAt: future })),
        );
        expect(await read({ resourceType: 'doc', resourceIds: ['1'] })).toEqual(['doc:1#reader@user:bob']);
        expect(await read({ subjectType: 'user', subjectIds: ['ann'] })).toEqual([]);
        const { result } = await ds.readWrite(async (tx) => (await tx.queryRelationships({})).map(tuple));
        expect(result).toEqual(['doc:1#reader@user:bob']);
      });

      it('an expired relationship counts as absent: CREATE replaces it', async () => {
        await write(touch(rel('doc:1#reader@user:ann', { expiresAt: new Date(Date.now() - 1000) })));
        await write(create('doc:1#reader@user:ann'));
        expect(await ds.snapshot(await ds.headRevision()).queryRelationships({})).toEqual([
          rel('doc:1#reader@user:ann'),
        ]);
      });
    });

    describe('schema', () => {
      it('is versioned: each snapshot reads the schema as of its revision', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const r2 = (await ds.readWrite((tx) => tx.writeSchema('schema one'))).revision;
        const r3 = await write(touch('doc:2#reader@user:ann'));
        const r4 = (
          await ds.readWrite(async (tx) => {
            expect((await tx.readSchema())?.text).toBe('schema one');
            await tx.writeSchema('schema two');
            expect((await tx.readSchema())?.text).toBe('schema two');
          })
        ).revision;
        expect(await ds.snapshot(r1).readSchema()).toBeUndefined();
        expect(await ds.snapshot(r2).readSchema()).toEqual({ text: 'schema one', revision: r2 });
        expect(await ds.snapshot(r3).readSchema()).toEqual({ text: 'schema one', revision: r2 });
        expect(await ds.snapshot(r4).readSchema()).toEqual({ text: 'schema two', revision: r4 });
        const { result } = await ds.readWrite((tx) => tx.readSchema());
        expect(result).toEqual({ text: 'schema two', revision: r4 });
      });
    });

    describe('watch', () => {
      it('yields every commit after the start, in order, exactly once, with its changes', async () => {
        const r0 = await write(touch('doc:0#reader@user:zed'));
        const ac = new AbortController();
        const iter = ds.watch(r0, ac.signal)[Symbol.asyncIterator]();
        const first = iter.next();
        const r1 = await write(
          touch('doc:1#reader@user:ann'),
          create(rel('doc:2#reader@user:bob', { caveat: { name: 'c' } })),
        );
        const r2 = await write(del('doc:1#reader@user:ann'), del('doc:404#reader@user:nobody'));
        const r3 = (await ds.readWrite((tx) => tx.writeSchema('s'))).revision;
        const r4 = (
          await ds.readWrite(async (tx) => {
            await tx.deleteMatching({ resourceType: 'doc', resourceIds: ['2'] });
          })
        ).revision;
        const got = [(await first).value as RevisionChanges, ...(await take(iter, 3))];
        expect(got.map((c) => c.revision)).toEqual([r1, r2, r3, r4]);
        const ops = (c: RevisionChanges) => c.changes.map((x) => `${x.operation} ${tuple(x.relationship)}`);
        expect(ops(got[0])).toEqual(['TOUCH doc:1#reader@user:ann', 'TOUCH doc:2#reader@user:bob']);
        expect(got[0].changes[1].relationship.caveat).toEqual({ name: 'c' });
        expect(ops(got[1])).toEqual(['DELETE doc:1#reader@user:ann']);
        expect(got[2].schema).toBe('s');
        expect(got[2].changes).toEqual([]);
        expect(got[1].schema).toBeUndefined();
        expect(ops(got[3])).toEqual(['DELETE doc:2#reader@user:bob']);
        for (const c of got) expect(c.committedAt).toEqual(expect.any(Number));
        // Nothing further until another commit, which then arrives once.
        const next = iter.next();
        expect(await quiet(next)).toBe(true);
        const r5 = await write(touch('doc:5#reader@user:eve'));
        expect(((await next).value as RevisionChanges).revision).toBe(r5);
        ac.abort();
        expect((await iter.next()).done).toBe(true);
      });

      it('resumes from a revision, replaying later commits from history', async () => {
        const revs: Revision[] = [];
        for (let i = 0; i < 5; i++) revs.push(await write(touch(`doc:${i}#reader@user:ann`)));
        const ac = new AbortController();
        const iter = ds.watch(revs[1], ac.signal)[Symbol.asyncIterator]();
        const got = await take(iter, 3);
        expect(got.map((c) => c.revision)).toEqual(revs.slice(2));
        expect(got.map((c) => tuple(c.changes[0].relationship))).toEqual([
          'doc:2#reader@user:ann',
          'doc:3#reader@user:ann',
          'doc:4#reader@user:ann',
        ]);
        const pending = iter.next();
        expect(await quiet(pending)).toBe(true);
        ac.abort();
        expect((await pending).done).toBe(true);
      });

      it('with patterns, carries only matching changes, and still every commit and schema', async () => {
        const r0 = await write(touch('doc:0#reader@user:zed'));
        const ac = new AbortController();
        const only = [
          { resourceType: 'group', relation: 'member', subjectType: 'group', subjectRelation: 'member' },
          { resourceType: 'doc', relation: 'reader', subjectType: 'user', subjectRelation: '...' },
        ];
        const iter = ds.watch(r0, ac.signal, only)[Symbol.asyncIterator]();
        // CREATE-only commits (stored without a change log by SQLite) and logged ones alike.
        const r1 = await write(
          create('group:a#member@group:b#member'),
          create('group:a#member@user:ann'),
          create('doc:1#writer@user:ann'),
        );
        const r2 = await write(
          touch('group:a#member@group:c#member'),
          touch('group:a#owner@group:c#member'),
          del('group:a#member@group:b#member'),
        );
        const r3 = (
          await ds.readWrite(async (tx) => {
            await tx.writeSchema('s2');
            await tx.write([touch('doc:9#writer@user:bob')]);
          })
        ).revision;
        const r4 = await write(create('doc:2#reader@user:bob'), create('doc:2#reader@group:a#member'));
        const got = await take(iter, 4);
        const ops = (c: RevisionChanges) => c.changes.map((x) => `${x.operation} ${tuple(x.relationship)}`);
        expect(got.map((c) => c.revision)).toEqual([r1, r2, r3, r4]);
        expect(ops(got[0])).toEqual(['TOUCH group:a#member@group:b#member']);
        expect(ops(got[1])).toEqual(['TOUCH group:a#member@group:c#member', 'DELETE group:a#member@group:b#member']);
        expect(got[2].schema).toBe('s2');
        expect(got[2].changes).toEqual([]);
        expect(ops(got[3])).toEqual(['TOUCH doc:2#reader@user:bob']);
        // Patterns naming only some fields; an empty pattern matches everything.
        const partialFeed = ds.watch(r0, ac.signal, [
          { resourceType: 'doc', relation: 'writer' },
          { subjectType: 'group' },
        ]);
        const partial = partialFeed[Symbol.asyncIterator]();
        expect((await take(partial, 4)).map(ops)).toEqual([
          ['TOUCH group:a#member@group:b#member', 'TOUCH doc:1#writer@user:ann'],
          [
            'TOUCH group:a#member@group:c#member',
            'TOUCH group:a#owner@group:c#member',
            'DELETE group:a#member@group:b#member',
          ],
          ['TOUCH doc:9#writer@user:bob'],
          ['TOUCH doc:2#reader@group:a#member'],
        ]);
        const any = ds.watch(r0, ac.signal, [{ relation: 'nope' }, {}])[Symbol.asyncIterator]();
        expect((await take(any, 4)).map((c) => c.changes.length)).toEqual([3, 3, 1, 2]);
        // No patterns: no changes, every commit.
        const none = ds.watch(r0, ac.signal, [])[Symbol.asyncIterator]();
        expect((await take(none, 4)).map((c) => [c.revision, c.changes.length])).toEqual([
          [r1, 0],
          [r2, 0],
          [r3, 0],
          [r4, 0],
        ]);
        ac.abort();
      });

      it('a TOUCH that changes nothing is still reported', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const ac = new AbortController();
        const iter = ds.watch(r1, ac.signal)[Symbol.asyncIterator]();
        const r2 = await write(touch('doc:1#reader@user:ann'));
        const [c] = await take(iter, 1);
        expect(c.revision).toBe(r2);
        expect(c.changes.map((x) => `${x.operation} ${tuple(x.relationship)}`)).toEqual([
          'TOUCH doc:1#reader@user:ann',
        ]);
        ac.abort();
      });

      it('concurrent watchers each see every commit', async () => {
        const acs = [new AbortController(), new AbortController()];
        const iters = acs.map((ac) => ds.watch(0n, ac.signal)[Symbol.asyncIterator]());
        const pending = iters.map((it) => take(it, 3));
        const revs = [];
        for (let i = 0; i < 3; i++) revs.push(await write(touch(`doc:${i}#reader@user:ann`)));
        for (const p of pending) expect((await p).map((c) => c.revision)).toEqual(revs);
        acs.forEach((ac) => ac.abort());
      });

      it('carries each commit’s transaction metadata, as JSON stores it, and none where none was given', async () => {
        const r0 = await write(touch('doc:0#reader@user:zed'));
        const ac = new AbortController();
        const iter = ds.watch(r0, ac.signal)[Symbol.asyncIterator]();
        const given = { request_id: 'r-1', nested: { list: [1, 'two', true, null], n: 2.5 }, dropped: undefined };
        const w = (updates: RelationshipUpdate[], metadata?: Record<string, unknown>) =>
          ds.readWrite((tx) => tx.write(updates), metadata ? { metadata } : {});
        const r1 = (await w([touch('doc:1#reader@user:ann')], given)).revision;
        given.nested.list.push('later'); // stored at the commit: a later change to the object is not seen
        const r2 = (await w([touch('doc:2#reader@user:ann')])).revision;
        // A CREATE-only commit (SQLite keeps no change log for it), a delete by query, an empty commit, a schema.
        const r3 = (await w([create('doc:3#reader@user:ann'), create('doc:4#reader@user:ann')], { kind: 'create' }))
          .revision;
        const r4 = (
          await ds.readWrite((tx) => tx.deleteMatching({ resourceType: 'doc', resourceIds: ['3'] }), {
            metadata: { kind: 'delete', quote: `it's "quoted" \\ and 🐘` },
          })
        ).revision;
        const r5 = (await ds.readWrite(async () => undefined, { metadata: { kind: 'empty' } })).revision;
        const r6 = (await ds.readWrite((tx) => tx.writeSchema('s'), { metadata: { kind: 'schema' } })).revision;
        const got = await take(iter, 6);
        expect(got.map((c) => c.revision)).toEqual([r1, r2, r3, r4, r5, r6]);
        expect(got.map((c) => c.metadata)).toEqual([
          { request_id: 'r-1', nested: { list: [1, 'two', true, null], n: 2.5 } },
          undefined,
          { kind: 'create' },
          { kind: 'delete', quote: `it's "quoted" \\ and 🐘` },
          { kind: 'empty' },
          { kind: 'schema' },
        ]);
        expect('metadata' in got[1]).toBe(false);
        expect(got[2].changes).toHaveLength(2);
        // Replayed from history, and to a watcher whose patterns leave a commit no changes.
        const replay = ds.watch(r0, ac.signal, [{ resourceType: 'doc', subjectType: 'group' }])[Symbol.asyncIterator]();
        const again = await take(replay, 6);
        expect(again.map((c) => c.metadata)).toEqual(got.map((c) => c.metadata));
        expect(again.map((c) => c.changes.length)).toEqual([0, 0, 0, 0, 0, 0]);
        const later = ds.watch(r2, ac.signal, [{ resourceType: 'doc', relation: 'reader' }]);
        expect((await take(later[Symbol.asyncIterator](), 1))[0]).toMatchObject({
          revision: r3,
          metadata: { kind: 'create' },
        });
        ac.abort();
      });

      it('keeps each transaction’s metadata apart when several commit together', async () => {
        const r0 = await write(touch('doc:0#reader@user:zed'));
        const ac = new AbortController();
        const iter = ds.watch(r0, ac.signal)[Symbol.asyncIterator]();
        // Started in one turn: the SQLite and PostgreSQL datastores run them as one group commit.
        const commits = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            ds.readWrite((tx) => tx.write([touch(`doc:${i}#reader@user:ann`)]), i % 3 === 0 ? {} : { metadata: { i } }),
          ),
        );
        const byRevision = new Map(commits.map((c, i) => [c.revision, i % 3 === 0 ? undefined : { i }]));
        const got = await take(iter, 8);
        for (const c of got) expect(c.metadata).toEqual(byRevision.get(c.revision));
        ac.abort();
      });

      it('refuses metadata JSON cannot encode, failing that transaction alone', async () => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        const [bad, cycle, good] = await Promise.allSettled([
          ds.readWrite((tx) => tx.write([touch('doc:1#reader@user:ann')]), { metadata: { n: 1n } }),
          ds.readWrite((tx) => tx.write([touch('doc:2#reader@user:ann')]), { metadata: cyclic }),
          ds.readWrite((tx) => tx.write([touch('doc:3#reader@user:ann')]), { metadata: { ok: true } }),
        ]);
        for (const r of [bad, cycle]) {
          expect(r.status).toBe('rejected');
          expect(((r as PromiseRejectedResult).reason as PembaError).code).toBe('INVALID_ARGUMENT');
        }
        expect(good.status).toBe('fulfilled');
        expect(await read({ resourceType: 'doc' })).toEqual(['doc:3#reader@user:ann']);
      });

      it('a transaction that fails leaves no metadata behind', async () => {
        const r0 = await write(touch('doc:0#reader@user:zed'));
        await expect(
          ds.readWrite(
            async (tx) => {
              await tx.write([touch('doc:1#reader@user:ann')]);
              throw new Error('no');
            },
            { metadata: { failed: true } },
          ),
        ).rejects.toThrow('no');
        const r1 = await write(touch('doc:2#reader@user:ann'));
        const ac = new AbortController();
        const [c] = await take(ds.watch(r0, ac.signal)[Symbol.asyncIterator](), 1);
        expect(c.revision).toBe(r1);
        expect(c.metadata).toBeUndefined();
        ac.abort();
      });

      it('a watch from a future or negative revision is refused', async () => {
        await expect(ds.watch(5n)[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(PembaError);
        await expect(ds.watch(-1n)[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(PembaError);
      });

      it('catching up over many commits lets timers run, and ends soon after its signal aborts', async () => {
        for (let i = 0; i < 150; i++) await write(touch(`doc:${i}#reader@user:ann`));
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 20);
        let seen = 0;
        for await (const commit of ds.watch(0n, ac.signal)) {
          expect(commit.revision).toBe(BigInt(++seen));
          // A consumer that never waits for I/O: only the watch itself can let the timer fire.
          const busyUntil = performance.now() + 1;
          while (performance.now() < busyUntil);
        }
        expect(seen).toBeLessThan(100);
      });
    });

    describe('cancellation', () => {
      const ended = () => new PembaError('DEADLINE_EXCEEDED', 'the call ended');
      /** What `p` settled with within `ms`: its result, its error, or 'pending'. */
      const within = (p: Promise<unknown>, ms = 1000) =>
        Promise.race([
          p.then(
            (v) => v,
            (e: unknown) => e,
          ),
          new Promise((r) => setTimeout(() => r('pending'), ms)),
        ]);

      it('a transaction whose signal aborts while it waits for the writer leaves the queue at once, never runs and never commits', async () => {
        let release!: () => void;
        let holding!: () => void;
        const held = new Promise<void>((r) => (holding = r));
        const first = ds.readWrite(async (tx) => {
          await tx.write([touch('doc:1#reader@user:ann')]);
          holding();
          await new Promise<void>((r) => (release = r));
        });
        await held;
        const ac = new AbortController();
        let ran = false;
        const queued = ds.readWrite(
          async (tx) => {
            ran = true;
            await tx.write([touch('doc:2#reader@user:bob')]);
          },
          { signal: ac.signal },
        );
        await new Promise((r) => setTimeout(r, 20));
        const why = ended();
        ac.abort(why);
        // Answered while the writer ahead of it still holds the lock.
        expect(await within(queued)).toBe(why);
        release();
        const { revision } = await first;
        await new Promise((r) => setTimeout(r, 20));
        expect(ran).toBe(false);
        expect(await ds.headRevision()).toBe(revision);
        expect(await write(touch('doc:3#reader@user:cat'))).toBe(revision + 1n);
        expect(await read({})).toEqual(['doc:1#reader@user:ann', 'doc:3#reader@user:cat']);
      });

      it('a transaction whose signal aborts before it commits rolls back; its methods refuse work once aborted', async () => {
        const before = await ds.headRevision();
        const ac = new AbortController();
        const why = ended();
        const aborted = ds.readWrite(
          async (tx) => {
            await tx.write([touch('doc:1#reader@user:ann')]);
            await tx.writeSchema('definition user {}');
            ac.abort(why);
            return 'finished';
          },
          { signal: ac.signal },
        );
        expect(await within(aborted)).toBe(why);

        const ac2 = new AbortController();
        const why2 = ended();
        const refused = ds.readWrite(
          async (tx) => {
            ac2.abort(why2);
            await tx.write([touch('doc:2#reader@user:ann')]);
          },
          { signal: ac2.signal },
        );
        expect(await within(refused)).toBe(why2);

        expect(await ds.headRevision()).toBe(before);
        expect(await read({})).toEqual([]);
        expect(await ds.snapshot(before).readSchema()).toBeUndefined();
        // The writer is free, and the next transaction sees none of it.
        expect(await write(touch('doc:3#reader@user:ann'))).toBe(before + 1n);
        expect(await read({})).toEqual(['doc:3#reader@user:ann']);
      });

      it('a transaction whose signal already aborted never runs; one whose signal aborts after its commit stays committed', async () => {
        const ac = new AbortController();
        const why = ended();
        ac.abort(why);
        let ran = false;
        expect(
          await within(
            ds.readWrite(
              async () => {
                ran = true;
              },
              { signal: ac.signal },
            ),
          ),
        ).toBe(why);
        expect(ran).toBe(false);
        expect(await ds.headRevision()).toBe(0n);

        const later = new AbortController();
        const { revision } = await ds.readWrite((tx) => tx.write([touch('doc:1#reader@user:ann')]), {
          signal: later.signal,
        });
        later.abort(ended());
        expect(await ds.headRevision()).toBe(revision);
        expect(await read({})).toEqual(['doc:1#reader@user:ann']);
      });
    });

    describe('consistency tokens', () => {
      it('round-trip, stay short and name the datastore', async () => {
        for (const r of [0n, 1n, 127n, 128n, 65_537n, 2n ** 62n]) {
          const token = encodeToken(ds.id, r);
          expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
          expect(decodeToken(token, ds.id)).toBe(r);
        }
        expect(encodeToken(ds.id, 1_000_000n).length).toBeLessThanOrEqual(16);
      });

      it('a token from another datastore is rejected', async () => {
        const other = await factory();
        extra.push(other);
        const token = encodeToken(other.id, 0n);
        expect(() => decodeToken(token, ds.id)).toThrow(/issued by a different datastore/);
        await expectPembaError(
          resolveRevision(ds, { mode: 'at_least_as_fresh', token }),
          'INVALID_ARGUMENT',
          /different datastore/,
        );
      });

      it('a malformed token is rejected with INVALID_ARGUMENT', async () => {
        const good = encodeToken(ds.id, 300n);
        const bad = [
          '',
          'not a token!',
          'AAAA',
          good.slice(0, -1),
          `${good}A`,
          Buffer.from('{"r":1}').toString('base64url'),
        ];
        for (const token of bad) {
          await expectPembaError(
            resolveRevision(ds, { mode: 'at_exact_snapshot', token }),
            'INVALID_ARGUMENT',
            /malformed consistency token/,
          );
        }
      });

      it('resolveRevision implements the four consistency modes', async () => {
        const r1 = await write(touch('doc:1#reader@user:ann'));
        const r2 = await write(touch('doc:2#reader@user:ann'));
        const head = await ds.headRevision();
        expect(await resolveRevision(ds, { mode: 'fully_consistent' })).toBe(head);
        const optimized = await resolveRevision(ds, undefined);
        expect(optimized).toBeLessThanOrEqual(head);
        expect(await resolveRevision(ds, { mode: 'minimize_latency' })).toBeLessThanOrEqual(head);
        expect(await resolveRevision(ds, { mode: 'at_exact_snapshot', token: encodeToken(ds.id, r1) })).toBe(r1);
        const fresh = await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, r2) });
        expect(fresh).toBe(r2);
        expect(
          await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 0n) }),
        ).toBeGreaterThanOrEqual(optimized);
        await expectPembaError(
          resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, head + 5n) }),
          'FAILED_PRECONDITION',
          /future/,
        );
        await expectPembaError(
          resolveRevision(ds, { mode: 'at_exact_snapshot', token: encodeToken(ds.id, head + 1n) }),
          'FAILED_PRECONDITION',
          /future/,
        );
      });
    });
  });
  if (run.clockTests === false) return;
  describeBackend(run.backend, `Datastore contract on a test clock: ${name}`, () => clockTests(open));
}

const HOUR = 3_600_000;

/** The tests that set the clock and windows themselves: quantization, expiry, GC, transactions' leftovers. */
function clockTests(open: ContractOpener): void {
  const touch = (s: string, extra = {}): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s, extra) });
  const del = (s: string): RelationshipUpdate => ({ operation: 'DELETE', relationship: rel(s) });

  const clocked = (settings: ContractSettings & { start?: number }, fn: (c: Clocked) => Promise<void>) =>
    onTestClock(open, settings, fn);

  it('numbers revisions densely 1, 2, 3… from head 0, failed transactions taking none', async () => {
    await clocked({}, async ({ ds, write }) => {
      expect(await ds.headRevision()).toBe(0n);
      expect(await write(touch('doc:1#r@user:a'))).toBe(1n);
      await ds
        .readWrite(async () => {
          throw new Error('no');
        })
        .catch(() => undefined);
      expect((await ds.readWrite(async () => undefined)).revision).toBe(2n);
      expect(await write(touch('doc:2#r@user:a'))).toBe(3n);
    });
  });

  it('hides a relationship from the moment it expires (expiresAt <= now)', async () => {
    await clocked({}, async ({ clock, ds, write }) => {
      await write(touch('doc:1#r@user:a', { expiresAt: new Date(clock.t + 5000) }));
      const count = async () =>
        (await ds.snapshot(1n).queryRelationships({ resourceType: 'doc', resourceIds: ['1'] })).length;
      clock.t += 4999;
      expect(await count()).toBe(1);
      clock.t += 1;
      expect(await count()).toBe(0);
    });
  });

  it('times commits: the change feed carries each one’s time, revisionAt finds the newest by a time', async () => {
    await clocked({ start: 10_000 }, async ({ clock, ds, write }) => {
      // Through the instrumentation wrapper too, which must forward both.
      for (const d of [ds, instrumentDatastore(ds)]) expect(await d.revisionAt!(20_000)).toBe(0n);
      await write(touch('doc:1#r@user:a')); // r1 at 10_000
      clock.t = 10_500;
      await write(touch('doc:2#r@user:a')); // r2 and r3 at 10_500
      await ds.readWrite(async () => undefined);
      clock.t = 12_000;
      await write(touch('doc:3#r@user:a')); // r4 at 12_000
      const at = async (ms: number) => [await ds.revisionAt!(ms), await instrumentDatastore(ds).revisionAt!(ms)];
      expect(await at(9_999)).toEqual([0n, 0n]);
      expect(await at(10_000)).toEqual([1n, 1n]);
      expect(await at(10_499)).toEqual([1n, 1n]);
      expect(await at(10_500)).toEqual([3n, 3n]);
      expect(await at(11_999)).toEqual([3n, 3n]);
      expect(await at(99_999)).toEqual([4n, 4n]);
      const ac = new AbortController();
      for (const d of [ds, instrumentDatastore(ds)]) {
        const iter = d.watch(0n, ac.signal)[Symbol.asyncIterator]();
        const times = [];
        for (let i = 0; i < 4; i++) times.push((await nextCommit(iter)).committedAt);
        expect(times).toEqual([10_000, 10_500, 10_500, 12_000]);
      }
      ac.abort();
    });
  });

  describe('optimizedRevision', () => {
    it('is the newest revision committed by the start of the quantization window', async () => {
      await clocked({ quantizationMs: 1000, start: 10_500 }, async ({ clock, ds, write }) => {
        expect(await ds.optimizedRevision()).toBe(0n);
        await write(touch('doc:1#r@user:a')); // r1 at 10_500
        // Nothing committed by 10_000: a young datastore serves head rather than the empty revision 0.
        expect(await ds.optimizedRevision()).toBe(1n);
        clock.t = 11_200;
        await write(touch('doc:2#r@user:a')); // r2 at 11_200
        expect(await ds.optimizedRevision()).toBe(1n);
        clock.t = 11_999;
        expect(await ds.optimizedRevision()).toBe(1n);
        clock.t = 12_000;
        expect(await ds.optimizedRevision()).toBe(2n);
        await write(touch('doc:3#r@user:a')); // r3 at exactly the window start 12_000
        expect(await ds.optimizedRevision()).toBe(3n);
        clock.t = 12_400;
        await write(touch('doc:4#r@user:a'));
        expect(await ds.optimizedRevision()).toBe(3n);
        expect(await resolveRevision(ds, { mode: 'minimize_latency' })).toBe(3n);
        expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 4n) })).toBe(4n);
        expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 2n) })).toBe(3n);
        expect(await resolveRevision(ds, { mode: 'fully_consistent' })).toBe(4n);
      });
    });

    it('is head when quantization is 0', async () => {
      await clocked({ quantizationMs: 0 }, async ({ ds, write }) => {
        await write(touch('doc:1#r@user:a'));
        await write(touch('doc:2#r@user:a'));
        expect(await ds.optimizedRevision()).toBe(2n);
      });
    });

    it('never goes backwards as time passes', async () => {
      await clocked({ quantizationMs: 700, start: 0 }, async ({ clock, ds, write }) => {
        let last = 0n;
        for (let i = 0; i < 60; i++) {
          if (i % 3 !== 0) await write(touch(`doc:${i}#r@user:a`));
          clock.t += 150;
          const r = await ds.optimizedRevision();
          expect(r).toBeGreaterThanOrEqual(last);
          expect(r).toBeLessThanOrEqual(await ds.headRevision());
          last = r;
        }
      });
    });
  });

  describe('garbage collection', () => {
    it('expires revisions superseded before the window, by time even before gc runs', async () => {
      await clocked({ gcWindowMs: 2 * HOUR }, async ({ clock, ds, write }) => {
        const t0 = clock.t;
        await write(touch('doc:1#r@user:a')); // r1 at t0
        clock.t = t0 + HOUR;
        await write(del('doc:1#r@user:a')); // r2 at t0+1h
        clock.t = t0 + 2.5 * HOUR; // window starts at t0+0.5h, when r1 was current
        expect(await code(ds.assertRevisionReadable(0n))).toBe('FAILED_PRECONDITION');
        expect(await code(ds.assertRevisionReadable(1n))).toBe('ok');
        clock.t = t0 + 3.5 * HOUR; // window starts at t0+1.5h, when r2 was current
        const e = await ds.assertRevisionReadable(1n).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(PembaError);
        expect((e as PembaError).message).toMatch(/expired/);
        expect(await code(ds.assertRevisionReadable(2n))).toBe('ok');
        expect(await code(resolveRevision(ds, { mode: 'at_exact_snapshot', token: encodeToken(ds.id, 1n) }))).toBe(
          'FAILED_PRECONDITION',
        );
        // An old at_least_as_fresh token is fine: a newer revision satisfies it.
        expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 1n) })).toBe(2n);
        // Not collected yet, so reads of r1 still work.
        expect(await ds.snapshot(1n).queryRelationships({})).toHaveLength(1);
      });
    });

    it('drops row versions deleted before the window and keeps everything readable revisions need', async () => {
      await clocked({ gcWindowMs: 2 * HOUR }, async ({ clock, ds, write, tuples }) => {
        const t0 = clock.t;
        await write(touch('doc:1#r@user:a'), touch('doc:2#r@user:a')); // r1
        clock.t = t0 + HOUR;
        await write(del('doc:1#r@user:a'), touch('doc:2#r@user:b')); // r2
        clock.t = t0 + 2 * HOUR;
        await write(del('doc:2#r@user:a')); // r3

        clock.t = t0 + 2.5 * HOUR; // r1 is the oldest readable: nothing deleted at or before r1
        expect(await ds.gc()).toEqual({ oldestReadable: 1n, versions: 0, commits: 0 });
        expect(await tuples(1n)).toEqual(['doc:1#r@a', 'doc:2#r@a']);

        clock.t = t0 + 3.5 * HOUR; // r2 is the oldest readable: doc:1@a (deleted at r2) goes
        expect(await ds.gc()).toEqual({ oldestReadable: 2n, versions: 1, commits: 1 });
        expect(await tuples(2n)).toEqual(['doc:2#r@a', 'doc:2#r@b']);
        expect(await tuples(3n)).toEqual(['doc:2#r@b']);
        expect(await code(ds.snapshot(1n).queryRelationships({}))).toBe('FAILED_PRECONDITION');
        expect(await code(ds.snapshot(1n).readSchema())).toBe('FAILED_PRECONDITION');
        expect(await code(ds.watch(1n)[Symbol.asyncIterator]().next())).toBe('FAILED_PRECONDITION');

        // Watch from the oldest readable revision still replays everything after it.
        const ac = new AbortController();
        const iter = ds.watch(2n, ac.signal)[Symbol.asyncIterator]();
        expect((await nextCommit(iter)).revision).toBe(3n);
        ac.abort();

        clock.t = t0 + 100 * HOUR;
        expect(await ds.gc()).toEqual({ oldestReadable: 3n, versions: 1, commits: 1 });
        expect(await tuples(3n)).toEqual(['doc:2#r@b']);
        // Re-creating a collected relationship works as usual.
        expect(await write(touch('doc:1#r@user:a'))).toBe(4n);
        expect(await tuples(4n)).toEqual(['doc:1#r@a', 'doc:2#r@b']);
      });
    });

    it('keeps the schema that was current at the oldest readable revision', async () => {
      await clocked({ gcWindowMs: HOUR }, async ({ clock, ds }) => {
        const t0 = clock.t;
        await ds.readWrite((tx) => tx.writeSchema('one')); // r1
        clock.t = t0 + 10;
        await ds.readWrite((tx) => tx.writeSchema('two')); // r2
        clock.t = t0 + 20;
        await ds.readWrite(async () => undefined); // r3
        clock.t = t0 + 30;
        await ds.readWrite((tx) => tx.writeSchema('four')); // r4
        clock.t = t0 + HOUR + 25; // r3 was current at the window start
        await ds.gc();
        expect(await ds.snapshot(3n).readSchema()).toEqual({ text: 'two', revision: 2n });
        expect(await ds.snapshot(4n).readSchema()).toEqual({ text: 'four', revision: 4n });
      });
    });

    it('drops relationships that expired before the window', async () => {
      await clocked({ gcWindowMs: HOUR }, async ({ clock, ds, write }) => {
        const t0 = clock.t;
        await write(touch('doc:1#r@user:a', { expiresAt: new Date(t0 + 1000) }), touch('doc:2#r@user:a'));
        clock.t = t0 + HOUR; // expired, but not before the window
        expect((await ds.gc()).versions).toBe(0);
        clock.t = t0 + HOUR + 1000;
        expect((await ds.gc()).versions).toBe(1);
        expect((await ds.snapshot(1n).queryRelationships({})).map((r) => r.resource.id)).toEqual(['2']);
        expect(await write({ operation: 'CREATE', relationship: rel('doc:1#r@user:a') })).toBe(2n);
      });
    });
  });

  describe('transactions', () => {
    it('refuse use after their callback finished', async () => {
      await clocked({}, async ({ ds }) => {
        let leaked: ReadWriteTransaction | undefined;
        await ds.readWrite(async (tx) => {
          leaked = tx;
        });
        expect(await code(leaked!.write([touch('doc:1#r@user:a')]))).toBe('INTERNAL');
        expect(await ds.snapshot(1n).queryRelationships({})).toEqual([]);
      });
    });

    it('leave no trace of versions created and deleted within one transaction', async () => {
      await clocked({}, async ({ ds, write, tuples }) => {
        await write(touch('doc:1#r@user:a'));
        await write(touch('doc:1#r@user:a', { caveat: { name: 'c' } }), del('doc:1#r@user:a'), touch('doc:2#r@user:a'));
        await ds.readWrite(async (tx) => {
          await tx.write([touch('doc:3#r@user:a')]);
          await tx.write([touch('doc:3#r@user:a', { caveat: { name: 'c' } })]);
          await tx.deleteMatching({ resourceType: 'doc', resourceIds: ['3'] });
        });
        expect(await tuples(1n)).toEqual(['doc:1#r@a']);
        expect(await tuples(2n)).toEqual(['doc:2#r@a']);
        expect(await tuples(3n)).toEqual(['doc:2#r@a']);
        expect((await ds.gc()).versions).toBe(0);
      });
    });
  });

  it('refuses reads beyond head and rejects negative limits', async () => {
    await clocked({}, async ({ ds }) => {
      expect(await code(ds.snapshot(1n).queryRelationships({}))).toBe('FAILED_PRECONDITION');
      expect(await code(ds.snapshot(1n).readSchema())).toBe('FAILED_PRECONDITION');
      expect(await code(ds.snapshot(0n).queryRelationships({}, { limit: -1 }))).toBe('INVALID_ARGUMENT');
      expect(await code(ds.readWrite((tx) => tx.deleteMatching({}, -1)))).toBe('INVALID_ARGUMENT');
    });
  });

  it('ends watches and refuses work once closed', async () => {
    const ds = await open({});
    const iter = ds.watch(0n)[Symbol.asyncIterator]();
    const pending = iter.next();
    await ds.close();
    expect((await pending).done).toBe(true);
    expect(await code(ds.headRevision())).toBe('UNAVAILABLE');
    expect(await code(ds.readWrite(async () => undefined))).toBe('UNAVAILABLE');
    expect(await code(ds.snapshot(0n).queryRelationships({}))).toBe('UNAVAILABLE');
    await ds.close();
  });
}

export interface Clocked {
  clock: { t: number };
  ds: CollectableDatastore;
  write: (...updates: RelationshipUpdate[]) => Promise<Revision>;
  tuples: (revision: bigint) => Promise<string[]>;
}

/** A datastore on a clock the test moves (from `start`); closes it at the end of `fn`. */
export async function onTestClock(
  open: ContractOpener,
  settings: ContractSettings & { start?: number },
  fn: (c: Clocked) => Promise<void>,
): Promise<void> {
  const { start, ...rest } = settings;
  const clock = { t: start ?? 1_000_000 };
  const ds = await open({ ...rest, now: () => clock.t });
  const write = async (...updates: RelationshipUpdate[]) => (await ds.readWrite((tx) => tx.write(updates))).revision;
  const tuples = async (revision: bigint) =>
    (await ds.snapshot(revision).queryRelationships({})).map(
      (r) => `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.id}`,
    );
  try {
    await fn({ clock, ds, write, tuples });
  } finally {
    await ds.close();
  }
}
