/**
 * What the durable backends (sqlite, postgres) share beyond the contract suite: dense revisions,
 * everything surviving a restart, a second instance on the same storage (another process), and the
 * memory datastore's clock-driven semantics (quantization, expiry, garbage collection) on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { resolveRevision } from '../../src/consistency/consistency.js';
import { decodeToken, encodeToken } from '../../src/consistency/zedtoken.js';
import type { ReadWriteTransaction, Revision, RevisionChanges } from '../../src/datastore/datastore.js';
import type { CollectableDatastore } from '../../src/datastore/factory.js';
import { PembaError } from '../../src/errors/index.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { rel } from './contract.js';

export interface ClockOptions {
  now?: () => number;
  gcWindowMs?: number;
  quantizationMs?: number;
}

export interface DurableBackend {
  /** A fresh datastore, and a way to open another instance on the same storage. */
  create(options?: ClockOptions): Promise<{ ds: CollectableDatastore; reopen: (options?: ClockOptions) => Promise<CollectableDatastore> }>;
}

const HOUR = 3_600_000;
const touch = (s: string, extra = {}): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s, extra) });
const del = (s: string): RelationshipUpdate => ({ operation: 'DELETE', relationship: rel(s) });

export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof PembaError ? e.code : String(e);
  }
}

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

export function runDurableSuite(name: string, backend: DurableBackend): void {
  describe(`durable datastore: ${name}`, () => {
    /** A datastore on a clock the test moves; closes it at the end of `fn`. */
    async function clocked(options: ClockOptions & { start?: number }, fn: (c: Clocked) => Promise<void>): Promise<void> {
      const clock = { t: options.start ?? 1_000_000 };
      const { ds } = await backend.create({ ...options, now: () => clock.t });
      const write = async (...updates: RelationshipUpdate[]) => (await ds.readWrite((tx) => tx.write(updates))).revision;
      const tuples = async (revision: bigint) =>
        (await ds.snapshot(revision).queryRelationships({})).map((r) => `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.id}`);
      try {
        await fn({ clock, ds, write, tuples });
      } finally {
        await ds.close();
      }
    }

    it('numbers revisions densely 1, 2, 3… from head 0, failed transactions taking none', async () => {
      await clocked({}, async ({ ds, write }) => {
        expect(await ds.headRevision()).toBe(0n);
        expect(await write(touch('doc:1#r@user:a'))).toBe(1n);
        await ds.readWrite(async () => { throw new Error('no'); }).catch(() => undefined);
        expect((await ds.readWrite(async () => undefined)).revision).toBe(2n);
        expect(await write(touch('doc:2#r@user:a'))).toBe(3n);
      });
    });

    it('keeps everything across a restart: id, revisions, tokens, old snapshots, schema history, the change log', async () => {
      const { ds, reopen } = await backend.create();
      const expiresAt = new Date(Date.now() + 86_400_000);
      const r1 = (await ds.readWrite(async (tx) => {
        await tx.writeSchema('definition user {}');
        await tx.write([touch('doc:1#reader@user:ann', { caveat: { name: 'ip', context: { cidr: '10.0.0.0/8' } }, expiresAt })]);
      })).revision;
      const r2 = (await ds.readWrite((tx) => tx.write([del('doc:1#reader@user:ann'), touch('doc:2#reader@user:bob')]))).revision;
      const token = encodeToken(ds.id, r1);
      const id = ds.id;
      await ds.close();

      const again = await reopen();
      try {
        expect(again.id).toBe(id);
        expect(await again.headRevision()).toBe(r2);
        expect(decodeToken(token, again.id)).toBe(r1);
        expect(await resolveRevision(again, { mode: 'at_exact_snapshot', token })).toBe(r1);
        expect(await again.snapshot(r1).queryRelationships({})).toEqual([
          rel('doc:1#reader@user:ann', { caveat: { name: 'ip', context: { cidr: '10.0.0.0/8' } }, expiresAt }),
        ]);
        expect((await again.snapshot(r2).queryRelationships({})).map((r) => r.resource.id)).toEqual(['2']);
        expect(await again.snapshot(r2).readSchema()).toEqual({ text: 'definition user {}', revision: r1 });
        const ac = new AbortController();
        const iter = again.watch(0n, ac.signal)[Symbol.asyncIterator]();
        const first = await nextCommit(iter);
        expect(first).toMatchObject({ revision: r1, schema: 'definition user {}' });
        expect((await nextCommit(iter)).changes.map((c) => `${c.operation} ${c.relationship.resource.id}`)).toEqual(['DELETE 1', 'TOUCH 2']);
        ac.abort();
        expect(await again.readWrite(async () => 'later').then((x) => x.revision)).toBe(r2 + 1n);
      } finally {
        await again.close();
      }
    });

    it('a second instance on the same storage (another process) sees commits in snapshots and Watch, and continues the revisions', async () => {
      const { ds, reopen } = await backend.create({ quantizationMs: 0 });
      const other = await reopen({ quantizationMs: 0 });
      try {
        const ac = new AbortController();
        const iter = ds.watch(0n, ac.signal)[Symbol.asyncIterator]();
        const pending = nextCommit(iter);
        const r1 = (await other.readWrite((tx) => tx.write([touch('doc:1#r@user:a')]))).revision;
        expect((await pending).revision).toBe(r1);
        expect(await ds.headRevision()).toBe(r1);
        expect(await ds.optimizedRevision()).toBe(r1);
        expect((await ds.snapshot(r1).queryRelationships({})).length).toBe(1);
        const r2 = (await ds.readWrite((tx) => tx.write([del('doc:1#r@user:a')]))).revision;
        expect(r2).toBe(r1 + 1n);
        expect(await other.snapshot(r2).queryRelationships({})).toEqual([]);
        ac.abort();
      } finally {
        await other.close();
        await ds.close();
      }
    });

    it('hides a relationship from the moment it expires (expiresAt <= now)', async () => {
      await clocked({}, async ({ clock, ds, write }) => {
        await write(touch('doc:1#r@user:a', { expiresAt: new Date(clock.t + 5000) }));
        const count = async () => (await ds.snapshot(1n).queryRelationships({ resourceType: 'doc', resourceIds: ['1'] })).length;
        clock.t += 4999;
        expect(await count()).toBe(1);
        clock.t += 1;
        expect(await count()).toBe(0);
      });
    });

    it('optimizedRevision is the newest revision committed by the start of the quantization window', async () => {
      await clocked({ quantizationMs: 1000, start: 10_500 }, async ({ clock, ds, write }) => {
        expect(await ds.optimizedRevision()).toBe(0n);
        await write(touch('doc:1#r@user:a')); // r1 at 10_500
        expect(await ds.optimizedRevision()).toBe(1n);
        clock.t = 11_200;
        await write(touch('doc:2#r@user:a')); // r2 at 11_200
        expect(await ds.optimizedRevision()).toBe(1n);
        clock.t = 11_999;
        expect(await ds.optimizedRevision()).toBe(1n);
        clock.t = 12_000;
        expect(await ds.optimizedRevision()).toBe(2n);
        await write(touch('doc:3#r@user:a')); // r3 at exactly the window start
        clock.t = 12_400;
        await write(touch('doc:4#r@user:a'));
        expect(await ds.optimizedRevision()).toBe(3n);
        expect(await resolveRevision(ds, { mode: 'at_least_as_fresh', token: encodeToken(ds.id, 4n) })).toBe(4n);
        expect(await resolveRevision(ds, { mode: 'fully_consistent' })).toBe(4n);
      });
    });

    describe('garbage collection', () => {
      it('expires revisions superseded before the window, by time even before gc runs', async () => {
        await clocked({ gcWindowMs: 2 * HOUR }, async ({ clock, ds, write }) => {
          const t0 = clock.t;
          await write(touch('doc:1#r@user:a')); // r1 at t0
          clock.t = t0 + HOUR;
          await write(del('doc:1#r@user:a')); // r2
          clock.t = t0 + 2.5 * HOUR;
          expect(await code(ds.checkRevision(0n))).toBe('FAILED_PRECONDITION');
          expect(await code(ds.checkRevision(1n))).toBe('ok');
          clock.t = t0 + 3.5 * HOUR;
          await expect(ds.checkRevision(1n)).rejects.toThrow(/expired/);
          expect(await code(resolveRevision(ds, { mode: 'at_exact_snapshot', token: encodeToken(ds.id, 1n) }))).toBe('FAILED_PRECONDITION');
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

          clock.t = t0 + 2.5 * HOUR;
          expect(await ds.gc()).toEqual({ oldestReadable: 1n, versions: 0, commits: 0 });
          expect(await tuples(1n)).toEqual(['doc:1#r@a', 'doc:2#r@a']);

          clock.t = t0 + 3.5 * HOUR;
          expect(await ds.gc()).toEqual({ oldestReadable: 2n, versions: 1, commits: 1 });
          expect(await tuples(2n)).toEqual(['doc:2#r@a', 'doc:2#r@b']);
          expect(await tuples(3n)).toEqual(['doc:2#r@b']);
          expect(await code(ds.snapshot(1n).queryRelationships({}))).toBe('FAILED_PRECONDITION');
          expect(await code(ds.snapshot(1n).readSchema())).toBe('FAILED_PRECONDITION');
          expect(await code(ds.watch(1n)[Symbol.asyncIterator]().next())).toBe('FAILED_PRECONDITION');

          const ac = new AbortController();
          const iter = ds.watch(2n, ac.signal)[Symbol.asyncIterator]();
          expect((await nextCommit(iter)).revision).toBe(3n);
          ac.abort();

          clock.t = t0 + 100 * HOUR;
          expect(await ds.gc()).toEqual({ oldestReadable: 3n, versions: 1, commits: 1 });
          expect(await tuples(3n)).toEqual(['doc:2#r@b']);
          expect(await write(touch('doc:1#r@user:a'))).toBe(4n);
          expect(await tuples(4n)).toEqual(['doc:1#r@a', 'doc:2#r@b']);
        });
      });

      it('keeps the schema that was current at the oldest readable revision', async () => {
        await clocked({ gcWindowMs: HOUR }, async ({ clock, ds }) => {
          const t0 = clock.t;
          await ds.readWrite((tx) => tx.writeSchema('one'));
          clock.t = t0 + 10;
          await ds.readWrite((tx) => tx.writeSchema('two'));
          clock.t = t0 + 20;
          await ds.readWrite(async () => undefined);
          clock.t = t0 + 30;
          await ds.readWrite((tx) => tx.writeSchema('four'));
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
          clock.t = t0 + HOUR;
          expect((await ds.gc()).versions).toBe(0);
          clock.t = t0 + HOUR + 1000;
          expect((await ds.gc()).versions).toBe(1);
          expect((await ds.snapshot(1n).queryRelationships({})).map((r) => r.resource.id)).toEqual(['2']);
          expect(await write({ operation: 'CREATE', relationship: rel('doc:1#r@user:a') })).toBe(2n);
        });
      });

      it('collects many versions in batches', async () => {
        await clocked({ gcWindowMs: HOUR }, async ({ clock, ds, write }) => {
          const ids = Array.from({ length: 12_000 }, (_, i) => `doc:${i}#r@user:a`);
          await write(...ids.map((s) => touch(s)));
          clock.t += 10;
          await write(...ids.map(del));
          clock.t += 2 * HOUR;
          await write(touch('doc:x#r@user:a'));
          expect(await ds.gc()).toEqual({ oldestReadable: 2n, versions: 12_000, commits: 1 });
          expect((await ds.snapshot(3n).queryRelationships({})).length).toBe(1);
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
          expect(await tuples(3n)).toEqual(['doc:2#r@a']);
          expect((await ds.gc()).versions).toBe(0);
        });
      });

      it('handle the same relationship several times in one call, in order', async () => {
        await clocked({}, async ({ ds, write }) => {
          await write(touch('doc:1#r@user:a'));
          const { result } = await ds.readWrite(async (tx) => {
            await tx.write([
              del('doc:1#r@user:a'),
              { operation: 'CREATE', relationship: rel('doc:1#r@user:a', { caveat: { name: 'x' } }) },
              touch('doc:1#r@user:a', { caveat: { name: 'x' } }),
              touch('doc:2#r@user:a'),
              del('doc:2#r@user:a'),
            ]);
            return tx.queryRelationships({});
          });
          expect(result).toEqual([rel('doc:1#r@user:a', { caveat: { name: 'x' } })]);
          const iter = ds.watch(1n)[Symbol.asyncIterator]();
          expect((await nextCommit(iter)).changes.map((c) => `${c.operation} ${c.relationship.resource.id} ${c.relationship.caveat?.name ?? ''}`))
            .toEqual(['DELETE 1 ', 'TOUCH 1 x', 'TOUCH 1 x', 'TOUCH 2 ', 'DELETE 2 ']);
          await iter.return?.();
        });
      });
    });

    it('ends watches and refuses work once closed', async () => {
      const { ds } = await backend.create();
      const iter = ds.watch(0n)[Symbol.asyncIterator]();
      const pending = iter.next();
      await ds.close();
      expect((await pending).done).toBe(true);
      expect(await code(ds.headRevision())).toBe('UNAVAILABLE');
      expect(await code(ds.readWrite(async () => undefined))).toBe('UNAVAILABLE');
      expect(await code(ds.snapshot(0n).queryRelationships({}))).toBe('UNAVAILABLE');
      await ds.close();
    });

    it('refuses reads beyond head and rejects negative limits', async () => {
      const { ds } = await backend.create();
      try {
        expect(await code(ds.snapshot(1n).queryRelationships({}))).toBe('FAILED_PRECONDITION');
        expect(await code(ds.snapshot(1n).readSchema())).toBe('FAILED_PRECONDITION');
        expect(await code(ds.snapshot(0n).queryRelationships({}, { limit: -1 }))).toBe('INVALID_ARGUMENT');
        expect(await code(ds.readWrite((tx) => tx.deleteMatching({}, -1)))).toBe('INVALID_ARGUMENT');
      } finally {
        await ds.close();
      }
    });

    it('reads and writes identifiers with unusual characters exactly', async () => {
      const { ds } = await backend.create();
      try {
        const odd = ['a%b', 'a_b', 'a\\b', "o'brien", 'x*y', 'x?y', '[z]', 'ünï', 'Ab', 'ab', 'a b'];
        await ds.readWrite((tx) => tx.write(odd.map((id) => touch(`doc:${id}#r@user:${id}`))));
        const head = await ds.headRevision();
        const ids = async (q: object) => (await ds.snapshot(head).queryRelationships(q)).map((r) => r.resource.id);
        expect(await ids({ resourceType: 'doc' })).toEqual([...odd].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
        expect(await ids({ resourceType: 'doc', resourceIdPrefix: 'a%' })).toEqual(['a%b']);
        expect(await ids({ resourceType: 'doc', resourceIdPrefix: 'a_' })).toEqual(['a_b']);
        expect(await ids({ resourceType: 'doc', resourceIdPrefix: 'a\\' })).toEqual(['a\\b']);
        expect(await ids({ resourceType: 'doc', resourceIdPrefix: 'x*' })).toEqual(['x*y']);
        expect(await ids({ resourceType: 'doc', resourceIdPrefix: '[' })).toEqual(['[z]']);
        expect(await ids({ resourceType: 'doc', resourceIdPrefix: 'a' })).toEqual(['a b', 'a%b', 'a\\b', 'a_b', 'ab']);
        expect(await ids({ subjectType: 'user', subjectIds: ["o'brien", 'ünï'] })).toEqual(["o'brien", 'ünï']);
      } finally {
        await ds.close();
      }
    });

    it('pages through many relationships in order', async () => {
      const { ds } = await backend.create();
      try {
        const n = 2_500;
        await ds.readWrite((tx) => tx.write(Array.from({ length: n }, (_, i) => touch(`doc:${i}#r@user:u${i % 7}`))));
        const snap = ds.snapshot(await ds.headRevision());
        const seen: string[] = [];
        let after;
        for (;;) {
          const page = await snap.queryRelationships({ resourceType: 'doc' }, { limit: 1000, after });
          seen.push(...page.map((r) => r.resource.id));
          if (page.length < 1000) break;
          const last = page[page.length - 1];
          after = { resourceType: 'doc', resourceId: last.resource.id, relation: last.relation, subjectType: 'user', subjectId: last.subject.id, subjectRelation: '...' };
        }
        expect(seen).toEqual(Array.from({ length: n }, (_, i) => String(i)).sort());
      } finally {
        await ds.close();
      }
    });
  });
}

export type Clocked = {
  clock: { t: number };
  ds: CollectableDatastore;
  write: (...updates: RelationshipUpdate[]) => Promise<Revision>;
  tuples: (revision: bigint) => Promise<string[]>;
};
