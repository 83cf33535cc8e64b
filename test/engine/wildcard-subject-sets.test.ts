/**
 * A stored wildcard `user:*` stands for every subject of type `user`, subject sets (`user:alice#manager`)
 * included, as in SpiceDB's Check (every expectation below was first asked of real SpiceDB; the lookups
 * follow Check where SpiceDB's own lookups do not, see docs/compatibility.md). Each test runs with every
 * optimisation on (dispatch cache, nested-group index) and off.
 */
import { describe, expect, it } from 'vitest';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import { parseRelationship, parseSubject } from '../../src/relationships/relationship-string.js';
import type { ExpandTree, Permissionship } from '../../src/requests/requests.js';
import { OPTIMISATIONS_OFF } from './optimisations.js';

const fresh = { mode: 'fully_consistent' } as const;

const schema = `
caveat big(x int) {
  x > 1
}
definition user {
  relation manager: user
}
definition team {
  relation member: user | user#manager | team#member
}
definition folder {
  relation viewer: user:* | team#member
  relation banned: user:* | user#manager
  permission view = viewer - banned
}
definition document {
  relation folder: folder
  relation reader: user:* | user#manager
  relation editor: user | user#manager | team#member
  relation public: user:* with big
  relation blocked: user#manager
  permission view = reader
  permission via_folder = folder->view
  permission both = reader & editor
  permission open = reader - blocked
  permission maybe = public
}`;

const relationships = [
  'document:readme#reader@user:*',
  'document:plan#reader@user:*',
  'document:plan#editor@user:alice#manager',
  'document:memo#reader@user:*',
  'document:memo#blocked@user:bob#manager',
  'document:news#public@user:*[big]',
  'document:spec#folder@folder:f1',
  'folder:f1#viewer@user:*',
  'document:old#folder@folder:f2',
  'folder:f2#viewer@user:*',
  'folder:f2#banned@user:*',
  'document:team#editor@team:t1#member',
  'team:t1#member@team:t2#member',
  'team:t2#member@user:carol#manager',
];

async function load(options: PembaOptions, text = schema, rels = relationships): Promise<Pemba> {
  const pemba = await Pemba.open(options);
  await pemba.writeSchema(text);
  await pemba.writeRelationships({
    updates: rels.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
  });
  return pemba;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const short = (p: Permissionship) => p.replace('_PERMISSION', '');
const conditionalMark = (p: Permissionship) => (p === 'CONDITIONAL_PERMISSION' ? '?' : '');

/** `document:readme#view@user:alice#manager` → HAS / NO / CONDITIONAL (missing x). */
async function check(p: Pemba, query: string, context?: Record<string, unknown>): Promise<string> {
  const [resource, who] = query.split('@');
  const [object, permission] = resource.split('#');
  const [type, id] = object.split(':');
  const r = await p.check({
    resource: { type, id },
    permission,
    subject: parseSubject(who),
    context,
    consistency: fresh,
  });
  return short(r.permissionship) + (r.missingContext ? ` (missing ${r.missingContext.join(', ')})` : '');
}

async function lookupResources(p: Pemba, query: string, context?: Record<string, unknown>): Promise<string[]> {
  const [target, who] = query.split('@');
  const [resourceType, permission] = target.split('#');
  const found = await collect(
    p.lookupResources({ resourceType, permission, subject: parseSubject(who), context, consistency: fresh }),
  );
  return found.map((r) => r.resourceId + conditionalMark(r.permissionship));
}

/** `document:memo#open`, `user#manager` → `['* - {bob}']`. */
async function lookupSubjects(p: Pemba, resource: string, kind: string, context?: Record<string, unknown>) {
  const [object, permission] = resource.split('#');
  const [type, id] = object.split(':');
  const [subjectType, subjectRelation] = kind.split('#');
  const found = await collect(
    p.lookupSubjects({ resource: { type, id }, permission, subjectType, subjectRelation, context, consistency: fresh }),
  );
  return found.map((r) => {
    const excluded = r.excludedSubjects.map((e) => e.id + conditionalMark(e.permissionship));
    const own = r.subject.id + conditionalMark(r.subject.permissionship);
    return excluded.length > 0 ? `${own} - {${excluded.join(', ')}}` : own;
  });
}

const MODES: [string, PembaOptions][] = [
  ['optimisations on', {}],
  ['optimisations off', OPTIMISATIONS_OFF],
];

describe.each(MODES)('a wildcard grants subject sets (%s)', (_, options) => {
  it('Check: directly, through an arrow, an intersection and an exclusion', async () => {
    const p = await load(options);
    expect(await check(p, 'document:readme#view@user:alice#manager')).toBe('HAS');
    expect(await check(p, 'document:readme#view@user:alice')).toBe('HAS');
    expect(await check(p, 'document:readme#reader@team:t1#member')).toBe('NO'); // another type
    expect(await check(p, 'document:spec#via_folder@user:alice#manager')).toBe('HAS');
    expect(await check(p, 'document:old#via_folder@user:alice#manager')).toBe('NO'); // `user:*` on both sides
    expect(await check(p, 'document:plan#both@user:alice#manager')).toBe('HAS');
    expect(await check(p, 'document:plan#both@user:bob#manager')).toBe('NO');
    expect(await check(p, 'document:memo#open@user:alice#manager')).toBe('HAS');
    expect(await check(p, 'document:memo#open@user:bob#manager')).toBe('NO');
  });

  it('Check: a caveated wildcard is CONDITIONAL for a subject set, decided by the context', async () => {
    const p = await load(options);
    expect(await check(p, 'document:news#maybe@user:alice#manager')).toBe('CONDITIONAL (missing x)');
    expect(await check(p, 'document:news#maybe@user:alice#manager', { x: 5 })).toBe('HAS');
    expect(await check(p, 'document:news#maybe@user:alice#manager', { x: 0 })).toBe('NO');
  });

  it('CheckBulk answers as Check', async () => {
    const p = await load(options);
    const items = [
      ['document:readme#view@user:alice#manager', 'HAS_PERMISSION'],
      ['document:memo#open@user:bob#manager', 'NO_PERMISSION'],
      ['document:plan#both@user:alice#manager', 'HAS_PERMISSION'],
      ['document:news#maybe@user:alice#manager', 'CONDITIONAL_PERMISSION'],
      ['document:plan#editor@user:alice', 'NO_PERMISSION'],
    ] as const;
    const { results } = await p.checkBulk(
      items.map(([q]) => {
        const [resource, who] = q.split('@');
        const [object, permission] = resource.split('#');
        const [type, id] = object.split(':');
        return { resource: { type, id }, permission, subject: parseSubject(who) };
      }),
      fresh,
    );
    expect(results.map((r) => (r.error ? r.error.message : r.permissionship))).toEqual(items.map(([, a]) => a));
  });

  it('the dispatch cache keeps a subject set apart from its plain object', async () => {
    const p = await load(options);
    for (let round = 0; round < 2; round++) {
      expect(await check(p, 'document:plan#editor@user:alice')).toBe('NO');
      expect(await check(p, 'document:plan#editor@user:alice#manager')).toBe('HAS');
      expect(await check(p, 'document:team#editor@user:carol')).toBe('NO');
      expect(await check(p, 'document:team#editor@user:carol#manager')).toBe('HAS');
    }
  });

  it('LookupResources lists what Check grants', async () => {
    const p = await load(options);
    expect(await lookupResources(p, 'document#view@user:alice#manager')).toEqual(['memo', 'plan', 'readme']);
    expect(await lookupResources(p, 'document#open@user:bob#manager')).toEqual(['plan', 'readme']);
    expect(await lookupResources(p, 'document#both@user:alice#manager')).toEqual(['plan']);
    expect(await lookupResources(p, 'document#via_folder@user:alice#manager')).toEqual(['spec']);
    expect(await lookupResources(p, 'document#maybe@user:alice#manager')).toEqual(['news?']);
    expect(await lookupResources(p, 'document#maybe@user:alice#manager', { x: 5 })).toEqual(['news']);
    expect(await lookupResources(p, 'document#maybe@user:alice#manager', { x: 0 })).toEqual([]);
    expect(await lookupResources(p, 'document#reader@team:t1#member')).toEqual([]);
  });

  it('LookupSubjects of a subject-set kind lists the wildcard', async () => {
    const p = await load(options);
    expect(await lookupSubjects(p, 'document:readme#view', 'user#manager')).toEqual(['*']);
    expect(await lookupSubjects(p, 'document:memo#open', 'user#manager')).toEqual(['* - {bob}']);
    expect(await lookupSubjects(p, 'document:plan#both', 'user#manager')).toEqual(['alice']);
    expect(await lookupSubjects(p, 'document:spec#via_folder', 'user#manager')).toEqual(['*']);
    expect(await lookupSubjects(p, 'document:old#via_folder', 'user#manager')).toEqual([]);
    expect(await lookupSubjects(p, 'document:news#maybe', 'user#manager')).toEqual(['*?']);
    expect(await lookupSubjects(p, 'document:news#maybe', 'user#manager', { x: 5 })).toEqual(['*']);
    expect(await lookupSubjects(p, 'document:readme#view', 'team#member')).toEqual([]);
  });

  it('Expand lists the wildcard, under the union SpiceDB makes of a one-operand permission', async () => {
    const p = await load(options);
    const { tree } = await p.expand({
      resource: { type: 'document', id: 'readme' },
      permission: 'view',
      consistency: fresh,
    });
    const leaf: ExpandTree = {
      kind: 'leaf',
      subjects: [{ type: 'user', id: '*', relation: '...' }],
      expandedObject: { type: 'document', id: 'readme' },
      expandedRelation: 'reader',
    };
    expect(tree).toEqual({
      kind: 'intermediate',
      operation: 'union',
      children: [leaf],
      expandedObject: { type: 'document', id: 'readme' },
      expandedRelation: 'view',
    });
  });
});

/**
 * A nested-group relation that itself admits a wildcard (SpiceDB refuses a subject set that includes a
 * wildcard; Pemba accepts it): the index's path follows the same rule.
 */
describe.each(MODES)('a wildcard in a nested group (%s)', (_, options) => {
  const clubs = `
definition user {
  relation manager: user
}
definition club {
  relation member: user:* | user#manager | club#member
}`;
  const rels = ['club:c1#member@club:c2#member', 'club:c2#member@user:*', 'club:c3#member@user:alice#manager'];

  it('answers Check, LookupResources and LookupSubjects for a subject set', async () => {
    const p = await load(options, clubs, rels);
    expect(await check(p, 'club:c1#member@user:alice#manager')).toBe('HAS');
    expect(await check(p, 'club:c3#member@user:bob#manager')).toBe('NO');
    expect(await lookupResources(p, 'club#member@user:bob#manager')).toEqual(['c1', 'c2']);
    expect(await lookupResources(p, 'club#member@user:alice#manager')).toEqual(['c1', 'c2', 'c3']);
    expect(await lookupSubjects(p, 'club:c1#member', 'user#manager')).toEqual(['*']);
  });
});

/**
 * A deliberate difference (docs/compatibility.md): on a relation that admits both `team with c` and
 * `team#parent`, SpiceDB's Check ignores a caveated relationship to a `team` object (NO even when the
 * caveat holds); Pemba evaluates its caveat, as SpiceDB does without the `team#parent` alternative.
 */
describe.each(MODES)('a caveated object beside a subject set of its type (%s)', (_, options) => {
  const teams = `
caveat c(x int) {
  x > 1
}
definition team {
  relation parent: team with c | team#parent
  permission ancestor = parent
}`;

  it('is CONDITIONAL, or decided by the context', async () => {
    const p = await load(options, teams, ['team:a#parent@team:b[c]']);
    expect(await check(p, 'team:a#parent@team:b')).toBe('CONDITIONAL (missing x)');
    expect(await check(p, 'team:a#ancestor@team:b', { x: 3 })).toBe('HAS');
    expect(await check(p, 'team:a#ancestor@team:b', { x: 0 })).toBe('NO');
    expect(await lookupResources(p, 'team#ancestor@team:b', { x: 3 })).toEqual(['a']);
    expect(await lookupSubjects(p, 'team:a#ancestor', 'team', { x: 3 })).toEqual(['b']);
  });
});
