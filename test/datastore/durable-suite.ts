/**
 * What the durable backends (sqlite, postgres) share beyond the contract suite (contract.ts, which
 * has the clock-driven semantics: quantization, expiry, garbage collection): everything surviving a
 * restart, a second instance on the same storage (another process), collection in batches, and
 * large or unusual data.
 */
import { describe, expect, it } from 'vitest';
import { resolveRevision } from '../../src/consistency/consistency.js';
import { decodeToken, encodeToken } from '../../src/consistency/zedtoken.js';
import type { CollectableDatastore } from '../../src/datastore/factory.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import type { Backend } from './chosen-backends.js';
import { describeBackend } from './chosen-backends.js';
import type { ContractSettings } from './contract.js';
import { nextCommit, onTestClock, rel, type Clocked } from './contract.js';

export type ClockOptions = ContractSettings;

export interface DurableBackend {
  /** A fresh datastore, and a way to open another instance on the same storage. */
  create(
    options?: ClockOptions,
  ): Promise<{ ds: CollectableDatastore; reopen: (options?: ClockOptions) => Promise<CollectableDatastore> }>;
}

const HOUR = 3_600_000;
const touch = (s: string, extra = {}): RelationshipUpdate => ({ operation: 'TOUCH', relationship: rel(s, extra) });
const del = (s: string): RelationshipUpdate => ({ operation: 'DELETE', relationship: rel(s) });

export function runDurableSuite(name: Extract<Backend, 'sqlite' | 'postgres'>, backend: DurableBackend): void {
  describeBackend(name, `durable datastore: ${name}`, () => {
    const clocked = (options: ClockOptions & { start?: number }, fn: (c: Clocked) => Promise<void>) =>
      onTestClock(async (settings) => (await backend.create(settings)).ds, options, fn);

    it('keeps everything across a restart: id, revisions, tokens, old snapshots, schema history, the change log', async () => {
      const { ds, reopen } = await backend.create();
      const expiresAt = new Date(Date.now() + 86_400_000);
      const r1 = (
        await ds.readWrite(async (tx) => {
          await tx.writeSchema('definition user {}');
          await tx.write([
            touch('doc:1#reader@user:ann', { caveat: { name: 'ip', context: { cidr: '10.0.0.0/8' } }, expiresAt }),
          ]);
        })
      ).revision;
      const r2 = (await ds.readWrite((tx) => tx.write([del('doc:1#reader@user:ann'), touch('doc:2#reader@user:bob')])))
        .revision;
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
        expect((await nextCommit(iter)).changes.map((c) => `${c.operation} ${c.relationship.resource.id}`)).toEqual([
          'DELETE 1',
          'TOUCH 2',
        ]);
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

    describe('garbage collection', () => {
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
          expect(
            (await nextCommit(iter)).changes.map(
              (c) => `${c.operation} ${c.relationship.resource.id} ${c.relationship.caveat?.name ?? ''}`,
            ),
          ).toEqual(['DELETE 1 ', 'TOUCH 1 x', 'TOUCH 1 x', 'TOUCH 2 ', 'DELETE 2 ']);
          await iter.return?.();
        });
      });
    });

    it('reads and writes identifiers with unusual characters exactly', async () => {
      const { ds } = await backend.create();
      try {
        const odd = ['a%b', 'a_b', 'a\\b', "o'brien", 'x*y', 'x?y', '[z]', 'ünï', 'Ab', 'ab', 'a b'];
        await ds.readWrite((tx) => tx.write(odd.map((id) => touch(`doc:${id}#r@user:${id}`))));
        const head = await ds.headRevision();
        const ids = async (q: object) => (await ds.snapshot(head).queryRelationships(q)).map((r) => r.resource.id);
        expect(await ids({ resourceType: 'doc' })).toEqual(
          [...odd].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
        );
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
          after = {
            resourceType: 'doc',
            resourceId: last.resource.id,
            relation: last.relation,
            subjectType: 'user',
            subjectId: last.subject.id,
            subjectRelation: '...',
          };
        }
        expect(seen).toEqual(Array.from({ length: n }, (_, i) => String(i)).sort());
      } finally {
        await ds.close();
      }
    });
  });
}
