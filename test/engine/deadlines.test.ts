/**
 * Deadlines, cancellation and fairness in the engine, in-process: every operation stops with its
 * signal's reason soon after the signal aborts, a long evaluation lets other callers run, Expand's
 * answer is bounded, and paging LookupResources does not redo the whole lookup for every page.
 */
import { describe, expect, it } from 'vitest';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import type { Datastore } from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { ExpandTree } from '../../src/requests/requests.js';
import { interceptReads, slowReads } from '../datastore/intercept-reads.js';

const fresh = { mode: 'fully_consistent' } as const;

const FOLDERS = `definition user {}

definition folder {
  relation parent: folder
  relation viewer: user
  relation banned: user
  permission view = viewer + parent->view
  permission allowed = (viewer - banned) + parent->allowed
}

definition doc {
  relation viewer: user
  relation banned: user
  permission view = viewer
  permission allowed = viewer - banned
}`;

const rel = (type: string, id: string, relation: string, subjectType: string, subjectId: string): Relationship => ({
  resource: { type, id },
  relation,
  subject: { type: subjectType, id: subjectId, relation: '...' },
});

/** `layers` layers of `width` folders, each folder the child of every folder of the layer below it. */
function hierarchy(layers: number, width: number): Relationship[] {
  const rels = [rel('folder', '0_0', 'viewer', 'user', 'ann')];
  for (let l = 0; l + 1 < layers; l++) {
    for (let a = 0; a < width; a++)
      for (let b = 0; b < width; b++) rels.push(rel('folder', `${l}_${a}`, 'parent', 'folder', `${l + 1}_${b}`));
  }
  return rels;
}

/**
 * `n` folders, each the parent of every other: a check that finds no way in revisits every ordering
 * of the cycle (an answer that relied on cutting a cycle above it is not remembered), so it costs
 * about n! evaluations — seconds at n = 10, from 90 relationships. Ann views the last folder but is
 * banned there, so none of them is `allowed` to her, while all are candidates for LookupResources.
 */
function cycle(n: number): Relationship[] {
  const rels = [
    rel('folder', `c${n - 1}`, 'viewer', 'user', 'ann'),
    rel('folder', `c${n - 1}`, 'banned', 'user', 'ann'),
  ];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) if (i !== j) rels.push(rel('folder', `c${i}`, 'parent', 'folder', `c${j}`));
  return rels;
}

async function load(rels: Relationship[], options: PembaOptions = {}): Promise<Pemba> {
  const pemba = await Pemba.open(options);
  await pemba.writeSchema(FOLDERS);
  const batches: Relationship[][] = [];
  for (let i = 0; i < rels.length; i += 5000) batches.push(rels.slice(i, i + 5000));
  await pemba.importRelationships([...batches, [rel('doc', 'trivial', 'viewer', 'user', 'ann')]]);
  return pemba;
}

const ann = { type: 'user', id: 'ann', relation: '...' };
const nobody = { type: 'user', id: 'nobody', relation: '...' };

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The operations, each given a signal, on data that makes them expensive. */
const hostile = {
  check: (p: Pemba, signal: AbortSignal) =>
    p.check({
      signal,
      resource: { type: 'folder', id: 'c0' },
      permission: 'view',
      subject: nobody,
      consistency: fresh,
    }),
  checkBulk: (p: Pemba, signal: AbortSignal) =>
    p.checkBulk([{ resource: { type: 'folder', id: 'c0' }, permission: 'view', subject: nobody }], fresh, { signal }),
  lookupResources: (p: Pemba, signal: AbortSignal) =>
    drain(
      p.lookupResources({ signal, resourceType: 'folder', permission: 'allowed', subject: ann, consistency: fresh }),
    ),
  lookupSubjects: (p: Pemba, signal: AbortSignal) =>
    drain(
      p.lookupSubjects({
        signal,
        resource: { type: 'folder', id: 'c0' },
        permission: 'view',
        subjectType: 'user',
        consistency: fresh,
      }),
    ),
};

const trivialCheck = (p: Pemba) =>
  p.check({ resource: { type: 'doc', id: 'trivial' }, permission: 'view', subject: ann, consistency: fresh });

/** Aborts with `reason` after `ms`. */
function deadline(ms: number, reason: Error): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), ms);
  return controller.signal;
}

/** How the promise settled and when, in ms from now. */
async function settle(p: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const began = performance.now();
  try {
    await p;
    return { error: undefined, ms: performance.now() - began };
  } catch (error) {
    return { error, ms: performance.now() - began };
  }
}

describe('cancellation', () => {
  it('every operation stops with the reason of an already aborted signal', async () => {
    const pemba = await load(cycle(4));
    const reason = new Error('gone');
    const aborted = AbortSignal.abort(reason);
    for (const run of Object.values(hostile)) await expect(run(pemba, aborted)).rejects.toBe(reason);
    await expect(
      pemba.expand({ signal: aborted, resource: { type: 'folder', id: 'c0' }, permission: 'view', consistency: fresh }),
    ).rejects.toBe(reason);
    await expect(
      drain(pemba.readRelationships({ signal: aborted, filter: { resourceType: 'folder' }, consistency: fresh })),
    ).rejects.toBe(reason);
    await expect(drain(pemba.exportRelationships({ signal: aborted }))).rejects.toBe(reason);
  });

  it.each(Object.keys(hostile) as (keyof typeof hostile)[])(
    '%s on data that takes seconds ends with the reason at its 200 ms deadline',
    async (op) => {
      const pemba = await load(cycle(10));
      const reason = new Error('deadline exceeded');
      const { error, ms } = await settle(hostile[op](pemba, deadline(200, reason)));
      expect(error).toBe(reason);
      expect(ms).toBeLessThan(200 + 250);
    },
  );

  it('Expand with slow reads ends with the reason at its deadline', async () => {
    const pemba = await load(hierarchy(6, 6), { datastore: slowReads(openMemoryDatastore(), 10) });
    const reason = new Error('deadline exceeded');
    const { error, ms } = await settle(
      pemba.expand({
        signal: deadline(200, reason),
        resource: { type: 'folder', id: '0_0' },
        permission: 'view',
        consistency: fresh,
      }),
    );
    expect(error).toBe(reason);
    expect(ms).toBeLessThan(200 + 250);
  });

  it('a check waiting on an identical computation of another request stops when its own signal aborts', async () => {
    const pemba = await load(cycle(10));
    const other = new AbortController();
    const long = settle(hostile.check(pemba, other.signal));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reason = new Error('mine ended');
    const { error, ms } = await settle(hostile.check(pemba, deadline(100, reason)));
    other.abort(new Error('done'));
    expect(error).toBe(reason);
    expect(ms).toBeLessThan(100 + 250);
    await long;
  });

  it('a bulk check ends as a whole when its signal aborts, not item by item', async () => {
    const pemba = await load(cycle(10));
    const reason = new Error('deadline exceeded');
    const item = { resource: { type: 'folder', id: 'c0' }, permission: 'view', subject: nobody };
    const { error } = await settle(
      pemba.checkBulk([item, { ...item, subject: { ...nobody, id: 'other' } }], fresh, {
        signal: deadline(100, reason),
      }),
    );
    expect(error).toBe(reason);
  });
});

describe('fairness', () => {
  it.each(Object.keys(hostile) as (keyof typeof hostile)[])(
    'a trivial check answers quickly while %s runs for seconds',
    async (op) => {
      const pemba = await load(cycle(10));
      await trivialCheck(pemba);
      const controller = new AbortController();
      const long = settle(hostile[op](pemba, controller.signal));
      // Measured from when it was due to start: a blocked event loop starts it late.
      const due = performance.now() + 50;
      const latency = await new Promise<number>((resolve) =>
        setTimeout(async () => {
          await trivialCheck(pemba);
          resolve(performance.now() - due);
        }, 50),
      );
      controller.abort(new Error('done'));
      await long;
      expect(latency).toBeLessThan(250);
    },
  );
});

describe('Expand is bounded', () => {
  /** Nodes plus the subjects leaves list, a shared subtree counted wherever it appears: the size as sent. */
  const sizeOf = (t: ExpandTree): number =>
    t.kind === 'leaf' ? 1 + t.subjects.length : 1 + t.children.reduce((n, c) => n + sizeOf(c), 0);

  it('answers RESOURCE_EXHAUSTED on 12 layers of 40 folders each under every folder of the layer above, quickly', async () => {
    const pemba = await load(hierarchy(12, 40));
    const { error, ms } = await settle(
      pemba.expand({ resource: { type: 'folder', id: '0_0' }, permission: 'view', consistency: fresh }),
    );
    expect(error).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(ms).toBeLessThan(3000);
  });

  it('counts the tree as it is sent, shared subtrees wherever they appear, and answers a tree within the bound whole', async () => {
    const expandRoot = (p: Pemba) =>
      p.expand({ resource: { type: 'folder', id: '0_0' }, permission: 'view', consistency: fresh });
    const { tree } = await expandRoot(await load(hierarchy(4, 3)));
    const size = sizeOf(tree);
    expect(size).toBeGreaterThan(100);
    expect(sizeOf((await expandRoot(await load(hierarchy(4, 3), { maxExpandSize: size }))).tree)).toBe(size);
    await expect(expandRoot(await load(hierarchy(4, 3), { maxExpandSize: size - 1 }))).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
    });
  });

  it('expands a userset reached twice once, sharing it in the tree', async () => {
    const { tree } = await (
      await load(hierarchy(3, 2))
    ).expand({ resource: { type: 'folder', id: '0_0' }, permission: 'view', consistency: fresh });
    // view = viewer + parent->view: the arrow's children are the two parents' view trees.
    const parentsOf = (t: ExpandTree) =>
      t.kind === 'intermediate' ? (t.children[1] as Extract<ExpandTree, { kind: 'intermediate' }>).children : [];
    const [a, b] = parentsOf(tree);
    expect(parentsOf(a)[0]).toBe(parentsOf(b)[0]);
    expect(parentsOf(a)[0].expandedObject).toEqual({ type: 'folder', id: '2_0' });
  });
});

describe('paging LookupResources', () => {
  async function counted(rels: Relationship[]): Promise<{ pemba: Pemba; reads: () => number }> {
    let reads = 0;
    const datastore: Datastore = interceptReads(openMemoryDatastore(), () => void reads++);
    // Without the shared answer cache, so that every check a page makes shows as reads.
    return { pemba: await load(rels, { datastore, dispatchCacheBytes: 0 }), reads: () => reads };
  }

  const docs = (n: number) => {
    const rels: Relationship[] = [];
    for (let i = 0; i < n; i++) rels.push(rel('doc', String(i).padStart(5, '0'), 'viewer', 'user', 'ann'));
    for (let i = 0; i < n; i += 3) rels.push(rel('doc', String(i).padStart(5, '0'), 'banned', 'user', 'ann'));
    return rels;
  };

  async function pages(pemba: Pemba, permission: string, limit: number, count: number) {
    const out: { ids: string[]; token: string }[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < count; page++) {
      const results = await drain(
        pemba.lookupResources({ resourceType: 'doc', permission, subject: ann, consistency: fresh, limit, cursor }),
      );
      if (results.length === 0) break;
      cursor = results[results.length - 1].cursor;
      out.push({ ids: results.map((r) => r.resourceId), token: results[0].token });
    }
    return out;
  }

  it.each(['view', 'allowed'])(
    'pages of %s after the first read only what the page needs, and add up to the whole answer',
    async (permission) => {
      const { pemba, reads } = await counted(docs(3000));
      const whole = (
        await drain(pemba.lookupResources({ resourceType: 'doc', permission, subject: ann, consistency: fresh }))
      ).map((r) => r.resourceId);
      const before = reads();
      const first = await pages(pemba, permission, 1, 1);
      const firstReads = reads() - before;
      const rest = await pages(pemba, permission, 1, 6);
      const perPage = (reads() - before - firstReads) / 6;
      // The first page walks the subject's relationships once; each next page starts from the kept
      // candidates: a pure union reads nothing more, an exclusion checks a candidate or two (two reads each).
      expect(perPage).toBeLessThan(permission === 'view' ? 0.5 : 5);
      expect(
        rest
          .map((p) => p.ids)
          .flat()
          .slice(0, 6),
      ).toEqual(whole.slice(0, 6));
      expect(first[0].ids).toEqual(whole.slice(0, 1));
      const all = (await pages(pemba, permission, 400, 100)).flatMap((p) => p.ids);
      expect(all).toEqual(whole);
    },
  );

  it('a cursor pins its revision: the next page reads the snapshot of the first, whatever was written since', async () => {
    const pemba = await load(docs(30));
    const first = await drain(
      pemba.lookupResources({ resourceType: 'doc', permission: 'view', subject: ann, consistency: fresh, limit: 10 }),
    );
    await pemba.writeRelationships({
      updates: [{ operation: 'DELETE', relationship: rel('doc', '00010', 'viewer', 'user', 'ann') }],
    });
    const second = await drain(
      pemba.lookupResources({
        resourceType: 'doc',
        permission: 'view',
        subject: ann,
        consistency: fresh,
        limit: 10,
        cursor: first[9].cursor,
      }),
    );
    expect(second.map((r) => r.resourceId)[0]).toBe('00010');
    expect(second[0].token).toBe(first[0].token);
    const later = await drain(
      pemba.lookupResources({ resourceType: 'doc', permission: 'view', subject: ann, consistency: fresh, limit: 10 }),
    );
    expect(later.map((r) => r.resourceId)).not.toContain('00010');
  });
});
