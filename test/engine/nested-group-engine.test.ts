/**
 * The nested-group index inside the engine: Check, LookupResources and LookupSubjects answer from it
 * (reading far less), and give the same answers as plain evaluation at every revision, including
 * old snapshots taken before the nesting changed.
 */
import { describe, expect, it } from 'vitest';
import type { Datastore } from '../../src/datastore/datastore.js';
import { interceptReads } from '../datastore/intercept-reads.js';
import { createMemoryDatastore } from '../../src/datastore/memory/memory-datastore.js';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import { parseRelationship, parseSubject } from '../../src/relationship-string.js';
import type { Consistency } from '../../src/requests.js';
import { OPTIMISATIONS_OFF } from './optimisations.js';

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
      const r = await pemba.check({ resource: { type: 'team', id: t }, permission: 'member', subject: parseSubject(`user:${u}`), consistency });
      out.push(`${t}/${u}: ${r.permissionship}`);
    }
  }
  for (const u of ['u5', 'u29']) {
    const r = await pemba.check({ resource: { type: 'repo', id: 'r' }, permission: 'read', subject: parseSubject(`user:${u}`), consistency });
    out.push(`repo/${u}: ${r.permissionship}`);
  }
  for await (const x of pemba.lookupResources({ resourceType: 'team', permission: 'member', subject: parseSubject('user:u29'), consistency })) {
    out.push(`lr ${x.resourceId}`);
  }
  for await (const x of pemba.lookupSubjects({ resource: { type: 'team', id: 't3' }, permission: 'member', subjectType: 'user', consistency })) {
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
    const indexed = counting(createMemoryDatastore());
    const plain = counting(createMemoryDatastore());
    const a = await open({ datastore: indexed.datastore, dispatchCacheBytes: 0 }, chain);
    const b = await open({ ...OPTIMISATIONS_OFF, datastore: plain.datastore }, chain);
    const ask = (p: Pemba) => p.check({ resource: { type: 'team', id: 't0' }, permission: 'member', subject: parseSubject('user:nobody'), consistency: fresh });
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
