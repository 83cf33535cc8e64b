import { describe, expect, it } from 'vitest';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import type { SubjectRef } from '../../src/relationships/relationship.js';

const fresh = { mode: 'fully_consistent' } as const;

async function load(
  schema: string,
  relationships: string[],
  maxDepth?: number,
  options: PembaOptions = {},
): Promise<Pemba> {
  const pemba = await Pemba.open({ ...options, maxDepth });
  await pemba.writeSchema(schema);
  await pemba.writeRelationships({
    updates: relationships.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
  });
  return pemba;
}

const subject = (s: string): SubjectRef => {
  const [object, relation = '...'] = s.split('#');
  const [type, id] = object.split(':');
  return { type, id, relation };
};

async function check(p: Pemba, resource: string, permission: string, who: string) {
  const [type, id] = resource.split(':');
  return (await p.check({ resource: { type, id }, permission, subject: subject(who), consistency: fresh }))
    .permissionship;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const groups = `
definition user {}
definition group {
  relation member: user | group#member
  relation banned: user
  permission view = member - banned
}`;

describe('check', () => {
  it('answers through cycles in nested groups, both ways', async () => {
    const p = await load(groups, [
      'group:a#member@group:b#member',
      'group:b#member@group:a#member',
      'group:b#member@user:x',
    ]);
    expect(await check(p, 'group:a', 'member', 'user:x')).toBe('HAS_PERMISSION');
    expect(await check(p, 'group:a', 'member', 'user:y')).toBe('NO_PERMISSION');
    expect(await check(p, 'group:a', 'member', 'group:b#member')).toBe('HAS_PERMISSION');
  });

  it('does not reuse an answer computed under a cycle cut (lookup confirms every candidate)', async () => {
    // Checking a visits b, whose only way in is back through a; b must not be remembered as "no".
    const p = await load(groups, [
      'group:a#member@group:b#member',
      'group:a#member@group:c#member',
      'group:b#member@group:a#member',
      'group:c#member@user:x',
    ]);
    const ids = (
      await collect(
        p.lookupResources({
          resourceType: 'group',
          permission: 'view',
          subject: subject('user:x'),
          consistency: fresh,
        }),
      )
    ).map((r) => r.resourceId);
    expect(ids).toEqual(['a', 'b', 'c']);
  });

  it('fails with a max-depth error on a chain deeper than the limit', async () => {
    const chain = Array.from({ length: 12 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);
    const p = await load(groups, [...chain, 'group:g12#member@user:x'], 5, { nestedGroupIndex: false });
    await expect(check(p, 'group:g0', 'member', 'user:x')).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('max depth'),
    });
    // Permissions over the chain still count each step of the nesting.
    expect(await check(p, 'group:g0', 'view', 'user:x').catch((e: Error) => e.message)).toContain('max depth');
    const deep = await load(groups, [...chain, 'group:g12#member@user:x'], 50, { nestedGroupIndex: false });
    expect(await check(deep, 'group:g0', 'member', 'user:x')).toBe('HAS_PERMISSION');
  });

  it('answers nested-group membership of any depth from the nested-group index (no dispatch, so no depth limit)', async () => {
    const chain = Array.from({ length: 12 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);
    const p = await load(groups, [...chain, 'group:g12#member@user:x'], 5);
    expect(await check(p, 'group:g0', 'member', 'user:x')).toBe('HAS_PERMISSION');
    expect(await check(p, 'group:g0', 'member', 'user:y')).toBe('NO_PERMISSION');
    expect(await check(p, 'group:g0', 'member', 'group:g12#member')).toBe('HAS_PERMISSION');
    expect(await check(p, 'group:g12', 'member', 'group:g0#member')).toBe('NO_PERMISSION');
  });

  it('evaluates exclusion and intersection', async () => {
    const p = await load(
      `
definition user {}
definition doc {
  relation viewer: user | user:*
  relation editor: user
  relation banned: user
  permission view = viewer - banned
  permission both = viewer & editor
}`,
      ['doc:d#viewer@user:*', 'doc:d#banned@user:bob', 'doc:d#editor@user:ann'],
    );
    expect(await check(p, 'doc:d', 'view', 'user:zed')).toBe('HAS_PERMISSION');
    expect(await check(p, 'doc:d', 'view', 'user:bob')).toBe('NO_PERMISSION');
    expect(await check(p, 'doc:d', 'both', 'user:ann')).toBe('HAS_PERMISSION');
    expect(await check(p, 'doc:d', 'both', 'user:zed')).toBe('NO_PERMISSION');
    const subjects = await collect(
      p.lookupSubjects({
        resource: { type: 'doc', id: 'd' },
        permission: 'view',
        subjectType: 'user',
        consistency: fresh,
      }),
    );
    expect(subjects.map((s) => [s.subject.id, s.excludedSubjects.map((e) => e.id)])).toEqual([['*', ['bob']]]);
  });
});

describe('arrows', () => {
  const folders = `
definition user {}
definition folder {
  relation parent: folder
  relation viewer: user
  relation owner: user
  permission view = viewer + parent->view
  permission own_all = parent.all(owner)
}
definition doc {
  relation folder: folder
  permission view = folder->view
  permission own_all = folder.all(owner)
}`;

  it('follows ->, .any() and .all()', async () => {
    const p = await load(folders, [
      'folder:root#viewer@user:ann',
      'folder:sub#parent@folder:root',
      'doc:d#folder@folder:sub',
      'doc:e#folder@folder:root',
      'doc:e#folder@folder:sub',
      'folder:root#owner@user:own',
    ]);
    expect(await check(p, 'doc:d', 'view', 'user:ann')).toBe('HAS_PERMISSION');
    expect(await check(p, 'doc:d', 'view', 'user:bob')).toBe('NO_PERMISSION');
    expect(await check(p, 'doc:e', 'own_all', 'user:own')).toBe('NO_PERMISSION');
    await p.writeRelationships({
      updates: [{ operation: 'TOUCH', relationship: parseRelationship('folder:sub#owner@user:own') }],
    });
    expect(await check(p, 'doc:e', 'own_all', 'user:own')).toBe('HAS_PERMISSION');
    expect(await check(p, 'doc:nothing', 'own_all', 'user:own')).toBe('NO_PERMISSION');
  });

  it('pages LookupResources without skipping or repeating', async () => {
    const rels = Array.from({ length: 7 }, (_, i) => `doc:d${i}#folder@folder:root`);
    const p = await load(folders, ['folder:root#viewer@user:ann', ...rels]);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await collect(
        p.lookupResources({
          resourceType: 'doc',
          permission: 'view',
          subject: subject('user:ann'),
          limit: 2,
          cursor,
          consistency: fresh,
        }),
      );
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((r) => r.resourceId));
      cursor = page[page.length - 1].cursor;
    }
    expect(seen).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6']);
  });

  it('rejects a cursor from a different request', async () => {
    const p = await load(folders, [
      'folder:root#viewer@user:ann',
      'doc:a#folder@folder:root',
      'doc:b#folder@folder:root',
    ]);
    const [first] = await collect(
      p.lookupResources({
        resourceType: 'doc',
        permission: 'view',
        subject: subject('user:ann'),
        limit: 1,
        consistency: fresh,
      }),
    );
    await expect(
      collect(
        p.lookupResources({
          resourceType: 'folder',
          permission: 'view',
          subject: subject('user:ann'),
          cursor: first.cursor,
        }),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('expand', () => {
  it('returns the one-level tree with subject sets as leaves', async () => {
    const p = await load(groups, ['group:a#member@user:x', 'group:a#member@group:b#member', 'group:a#banned@user:y']);
    const { tree } = await p.expand({ resource: { type: 'group', id: 'a' }, permission: 'view', consistency: fresh });
    expect(tree).toMatchObject({
      kind: 'intermediate',
      operation: 'exclusion',
      children: [
        {
          kind: 'leaf',
          expandedRelation: 'member',
          subjects: [
            { type: 'group', id: 'b', relation: 'member' },
            { type: 'user', id: 'x', relation: '...' },
          ],
        },
        { kind: 'leaf', expandedRelation: 'banned', subjects: [{ type: 'user', id: 'y', relation: '...' }] },
      ],
    });
  });
});

describe('caveats', () => {
  const schema = `
definition user {}
caveat at_least(n int, min int) {
  n >= min
}
definition doc {
  relation viewer: user with at_least
  permission view = viewer
}`;

  it('answers CONDITIONAL with the missing parameters, decides with context, stored context wins', async () => {
    const p = await load(schema, [
      'doc:d#viewer@user:ann[at_least:{"min":3}]',
      'doc:d#viewer@user:bob[at_least:{"min":3,"n":1}]',
    ]);
    const ask = async (who: string, context?: Record<string, unknown>) =>
      p.check({
        resource: { type: 'doc', id: 'd' },
        permission: 'view',
        subject: subject(who),
        context,
        consistency: fresh,
      });
    expect(await ask('user:ann')).toMatchObject({ permissionship: 'CONDITIONAL_PERMISSION', missingContext: ['n'] });
    expect((await ask('user:ann', { n: 5 })).permissionship).toBe('HAS_PERMISSION');
    expect((await ask('user:ann', { n: 5, min: 10 })).permissionship).toBe('HAS_PERMISSION');
    expect((await ask('user:bob', { n: 5 })).permissionship).toBe('NO_PERMISSION');
    const found = await collect(
      p.lookupResources({ resourceType: 'doc', permission: 'view', subject: subject('user:ann'), consistency: fresh }),
    );
    expect(found.map((r) => [r.resourceId, r.permissionship])).toEqual([['d', 'CONDITIONAL_PERMISSION']]);
  });

  it('refuses a stored context with an unknown parameter or a value of the wrong type, writing nothing', async () => {
    const p = await load(schema, []);
    for (const bad of ['doc:d#viewer@user:ann[at_least:{"zz":1}]', 'doc:d#viewer@user:ann[at_least:{"n":"many"}]']) {
      await expect(
        p.writeRelationships({ updates: [{ operation: 'TOUCH', relationship: parseRelationship(bad) }] }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(await collect(p.readRelationships({ filter: { resourceType: 'doc' }, consistency: fresh }))).toEqual([]);
  });
});
