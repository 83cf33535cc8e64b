/**
 * The nested-group index inside the engine: Check, LookupResources and LookupSubjects answer from it
 * (reading far less), and give the same answers as plain evaluation at every revision, including
 * old snapshots taken before the nesting changed.
 */
import { describe, expect, it } from 'vitest';
import type { Datastore } from '../../src/datastore/datastore.js';
import { interceptReads } from '../datastore/intercept-reads.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import { parseRelationship, parseSubject } from '../../src/relationships/relationship-string.js';
import type { Consistency } from '../../src/requests/requests.js';
import { OPTIMISATIONS_OFF } from './optimisations.js';
import { BACKENDS, useTestBackends } from '../datastore/test-backends.js';
import { useTestPostgres } from '../datastore/postgres-harness.js';
import { openPostgresDatastore } from '../../src/datastore/postgres/datastore.js';

const backends = useTestBackends();
const postgres = useTestPostgres();

const schema = `definition user {}
definition team {
  relation member: user | user:* | team#member
}
definition repo {
  relation team: team
  relation banned: user
  permission read = team->member - banned
}`;

/** Counts relationship queries sent to the datastore. */
function counting(inner: Datastore): { datastore: Datastore; queries: () => number } {
  let n = 0;
  return { datastore: interceptReads(inner, () => void n++), queries: () => n };
}

const fresh: Consistency = { mode: 'fully_consistent' };
const rel = (s: string) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(s) });

async function open(options: PembaOptions, rels: string[]) {
  const pemba = await Pemba.open(options);
  await pemba.writeSchema(schema);
  const { token } = await pemba.writeRelationships({ updates: rels.map(rel) });
  return { pemba, token };
}

async function answers(pemba: Pemba, consistency: Consistency) {
  const out: string[] = [];
  for (const t of ['t0', 't5', 't29', 'x']) {
    for (const u of ['u0', 'u29', 'nobody']) {
      const r = await pemba.check({
        resource: { type: 'team', id: t },
        permission: 'member',
        subject: parseSubject(`user:${u}`),
        consistency,
      });
      out.push(`${t}/${u}: ${r.permissionship}`);
    }
  }
  for (const u of ['u5', 'u29']) {
    const r = await pemba.check({
      resource: { type: 'repo', id: 'r' },
      permission: 'read',
      subject: parseSubject(`user:${u}`),
      consistency,
    });
    out.push(`repo/${u}: ${r.permissionship}`);
  }
  for await (const x of pemba.lookupResources({
    resourceType: 'team',
    permission: 'member',
    subject: parseSubject('user:u29'),
    consistency,
  })) {
    out.push(`lr ${x.resourceId}`);
  }
  for await (const x of pemba.lookupSubjects({
    resource: { type: 'team', id: 't3' },
    permission: 'member',
    subjectType: 'user',
    consistency,
  })) {
    out.push(`ls ${x.subject.id}`);
  }
  return out;
}

// A chain t0 ⊃ t1 ⊃ ... ⊃ t29 with one user per team, a side team x, and a repo readable by t0.
const chain = [
  ...Array.from({ length: 29 }, (_, i) => `team:t${i}#member@team:t${i + 1}#member`),
  ...Array.from({ length: 30 }, (_, i) => `team:t${i}#member@user:u${i}`),
  'team:x#member@user:u0',
  'repo:r#team@team:t0',
  'repo:r#banned@user:u5',
];

describe('the nested-group index in the engine', () => {
  it('answers deep nesting with a few reads where plain evaluation reads every level', async () => {
    const indexed = counting(openMemoryDatastore());
    const plain = counting(openMemoryDatastore());
    const a = await open({ datastore: indexed.datastore, dispatchCacheBytes: 0 }, chain);
    const b = await open({ ...OPTIMISATIONS_OFF, datastore: plain.datastore }, chain);
    const ask = (p: Pemba) =>
      p.check({
        resource: { type: 'team', id: 't0' },
        permission: 'member',
        subject: parseSubject('user:nobody'),
        consistency: fresh,
      });
    const before = [indexed.queries(), plain.queries()];
    expect((await ask(a.pemba)).permissionship).toBe('NO_PERMISSION');
    expect((await ask(b.pemba)).permissionship).toBe('NO_PERMISSION');
    expect(indexed.queries() - before[0]).toBeLessThanOrEqual(2);
    expect(plain.queries() - before[1]).toBeGreaterThanOrEqual(30);
  });

  it('gives the answers of plain evaluation before and after the nesting changes, and at old snapshots', async () => {
    const a = await open({}, chain);
    const b = await open(OPTIMISATIONS_OFF, chain);
    const first = await answers(b.pemba, fresh);
    expect(await answers(a.pemba, fresh)).toEqual(first);
    expect(first).toContain('t0/u29: HAS_PERMISSION');
    expect(first).toContain('ls u29');

    // Cut the chain in the middle, add a cycle and a wildcard; compare at the new and the old revision.
    const changes = [
      { operation: 'DELETE' as const, relationship: parseRelationship('team:t14#member@team:t15#member') },
      rel('team:t20#member@team:t3#member'),
      rel('team:x#member@user:*'),
      rel('team:t7#member@team:x#member'),
    ];
    await a.pemba.writeRelationships({ updates: changes });
    await b.pemba.writeRelationships({ updates: changes });
    const second = await answers(b.pemba, fresh);
    expect(second).not.toEqual(first);
    expect(await answers(a.pemba, fresh)).toEqual(second);
    expect(await answers(a.pemba, { mode: 'at_exact_snapshot', token: a.token })).toEqual(first);
  });
});

describe('the nested-group index under pressure', () => {
  const hubSchema = `definition user {}
definition group {
  relation member: user | group#member
}`;
  const check = (pemba: Pemba, group: string, user: string) =>
    pemba.check({
      resource: { type: 'group', id: group },
      permission: 'member',
      subject: parseSubject(`user:${user}`),
      consistency: fresh,
    });

  /** N parents contain a hub that contains M children; each child has one user. */
  async function hub(pemba: Pemba, n: number, m: number) {
    await pemba.writeSchema(hubSchema);
    const rels = [
      ...Array.from({ length: n }, (_, i) => `group:p${i}#member@group:hub#member`),
      ...Array.from({ length: m }, (_, j) => `group:hub#member@group:c${j}#member`),
      ...Array.from({ length: m }, (_, j) => `group:c${j}#member@user:u${j}`),
    ];
    for (let i = 0; i < rels.length; i += 1000)
      await pemba.writeRelationships({ updates: rels.slice(i, i + 1000).map(rel) });
  }

  it('keeps a hub group within its memory budget, answering every check right', async () => {
    // 1,500 × 1,500 would be 2.25 million closure pairs in a materialised closure.
    const pemba = await Pemba.open({ dispatchCacheBytes: 0, nestedGroupIndexBytes: 4 * 1024 * 1024 });
    await hub(pemba, 1500, 1500);
    expect((await check(pemba, 'p0', 'u0')).permissionship).toBe('HAS_PERMISSION'); // a read waits for the index
    const stats = pemba.nestedGroupIndexStats()!;
    expect(stats.relations['group#member']!.edges).toBe(3000);
    expect(stats.edgeBytes).toBeLessThan(2 * 1024 * 1024);
    for (let i = 0; i < 1500; i += 97) {
      expect((await check(pemba, `p${i}`, `u${(i * 7) % 1500}`)).permissionship).toBe('HAS_PERMISSION');
      expect((await check(pemba, `p${i}`, 'stranger')).permissionship).toBe('NO_PERMISSION');
    }
    expect(pemba.nestedGroupIndexStats()!.cache.bytes).toBeLessThanOrEqual(1024 * 1024);
    await pemba.close();
  });

  it('drops a relation past the budget, logs it, and answers through evaluation', async () => {
    const warnings: string[] = [];
    const log = { warn: (_: object, msg: string) => void warnings.push(msg) };
    const pemba = await Pemba.open({ dispatchCacheBytes: 0, nestedGroupIndexBytes: 64 * 1024, log });
    await hub(pemba, 300, 300);
    const { token } = await pemba.writeRelationships({ updates: [rel('group:x#member@user:late')] });
    await pemba.readSchema({ mode: 'fully_consistent' }); // a read waits for the index
    const stats = pemba.nestedGroupIndexStats()!;
    expect(stats.relations['group#member']).toBeUndefined();
    expect(stats.dropped['group#member']!.budget).toBe(48 * 1024);
    expect(warnings.some((w) => w.includes('group#member exceeds'))).toBe(true);
    expect((await check(pemba, 'p7', 'u299')).permissionship).toBe('HAS_PERMISSION');
    expect((await check(pemba, 'p7', 'stranger')).permissionship).toBe('NO_PERMISSION');
    expect(token).toBeTruthy();
    await pemba.close();

    // Reopened over the same data, the build stops reading once past the budget.
    const ds = openMemoryDatastore();
    const first = await Pemba.open({ datastore: ds, nestedGroupIndex: false });
    await hub(first, 300, 300);
    const again = await Pemba.open({ datastore: ds, nestedGroupIndexBytes: 64 * 1024 });
    const dropped = again.nestedGroupIndexStats()!.dropped['group#member']!;
    expect(dropped.edges).toBeLessThan(600);
    expect((await check(again, 'p1', 'u5')).permissionship).toBe('HAS_PERMISSION');
    await again.close();
  });

  it.each(BACKENDS)(
    'gives the same answer to the same question while unrelated writes run (a chain past the depth limit, %s)',
    async (backend) => {
      // Past depth 50 only the index can answer; it must not depend on whether it has caught up yet.
      const pemba = await Pemba.open({ datastore: await backends.open(backend), dispatchCacheBytes: 0 });
      await pemba.writeSchema(hubSchema);
      const chain51 = [
        ...Array.from({ length: 51 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`),
        'group:g51#member@user:deep',
      ];
      await pemba.writeRelationships({ updates: chain51.map(rel) });
      const answers = new Set<string>();
      for (let i = 0; i < 100; i++) {
        await pemba.writeRelationships({ updates: [rel(`group:other${i}#member@user:u${i}`)] });
        const r = await check(pemba, 'g0', 'deep').catch((e: Error) => e.message);
        answers.add(typeof r === 'string' ? r : r.permissionship);
      }
      expect([...answers]).toEqual(['HAS_PERMISSION']);
      await pemba.close();
    },
  );

  it('answers a token from another node the same, at once (two nodes on one PostgreSQL database)', async () => {
    // Node B learns of A's commit when it reads the head, not at its next poll of the change feed.
    const uri = await postgres.migratedUri();
    const options = { gcIntervalMs: 0, maxConnections: 4, watchPollMs: 60_000 };
    const a = await Pemba.open({ datastore: await openPostgresDatastore(uri, options), dispatchCacheBytes: 0 });
    const b = await Pemba.open({ datastore: await openPostgresDatastore(uri, options), dispatchCacheBytes: 0 });
    try {
      await a.writeSchema(hubSchema);
      const chain51 = Array.from({ length: 51 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);
      await a.writeRelationships({ updates: chain51.map(rel) });
      for (let i = 0; i < 5; i++) {
        const { token } = await a.writeRelationships({ updates: [rel(`group:g51#member@user:u${i}`)] });
        const started = performance.now();
        const r = await b.check({
          resource: { type: 'group', id: 'g0' },
          permission: 'member',
          subject: parseSubject(`user:u${i}`),
          consistency: { mode: 'at_least_as_fresh', token },
        });
        expect(r.permissionship).toBe('HAS_PERMISSION');
        expect(performance.now() - started).toBeLessThan(900);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
