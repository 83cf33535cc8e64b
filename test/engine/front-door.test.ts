import { describe, expect, it } from 'vitest';
import { Pemba } from '../../src/pemba.js';
import { Engine } from '../../src/engine/engine.js';
import { checkKeyPrefix, lookupResourcesKey, usersetKey } from '../../src/engine/dispatch-keys.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import type { SubjectRef } from '../../src/relationships/relationship.js';
import type { CheckBulkItem, CheckBulkResult } from '../../src/requests/requests.js';
import { analysisOf, walkRewrite } from '../../src/schema/analysis.js';
import { compileSchema } from '../../src/schema/index.js';
import type { Rewrite } from '../../src/schema/ir.js';

const fresh = { mode: 'fully_consistent' } as const;
const ann: SubjectRef = { type: 'user', id: 'ann', relation: '...' };

const schema = `
definition user {}
definition group {
  relation member: user | group#member
}
definition doc {
  relation reader: user | group#member
  relation banned: user
  permission view = reader - banned
  permission read = reader
}`;

async function load(options: Parameters<typeof Pemba.open>[0] = {}): Promise<Pemba> {
  const pemba = await Pemba.open(options);
  await pemba.writeSchema(schema);
  await pemba.writeRelationships({
    updates: ['doc:d1#reader@user:ann', 'doc:d2#reader@group:g#member', 'group:g#member@user:ann'].map((r) => ({
      operation: 'TOUCH' as const,
      relationship: parseRelationship(r),
    })),
  });
  return pemba;
}

const answer = (r: CheckBulkResult) => (r.error ? r.error.message : r.permissionship);

const items = (n: number): CheckBulkItem[] =>
  Array.from({ length: n }, (_, i) => ({ resource: { type: 'doc', id: `d${i}` }, permission: 'view', subject: ann }));

describe('CheckBulk item limit', () => {
  it('refuses more than 10,000 items by default', async () => {
    const p = await load();
    await expect(p.checkBulk(items(10_001), fresh)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      reason: 'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST',
      message: 'check bulk item count of 10001 is greater than maximum allowed of 10000',
    });
    expect((await p.checkBulk(items(10_000), fresh)).results).toHaveLength(10_000);
    await p.close();
  });

  it('answers more than 10,000 items when configured to allow them', async () => {
    const p = await load({ maxCheckBulkItems: 20_000 });
    const { results } = await p.checkBulk(items(12_000), fresh);
    expect(results).toHaveLength(12_000);
    expect(results.slice(0, 4).map(answer)).toEqual([
      'NO_PERMISSION',
      'HAS_PERMISSION',
      'HAS_PERMISSION',
      'NO_PERMISSION',
    ]);
    await expect(p.checkBulk(items(20_001), fresh)).rejects.toMatchObject({
      reason: 'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST',
      message: 'check bulk item count of 20001 is greater than maximum allowed of 20000',
    });
    await p.close();
  });

  it('honours a configured limit below the default', async () => {
    const p = await load({ maxCheckBulkItems: 3 });
    await expect(p.checkBulk(items(4), fresh)).rejects.toMatchObject({
      reason: 'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST',
    });
    expect((await p.checkBulk(items(3), fresh)).results).toHaveLength(3);
    await p.close();
  });

  it('answers invalid items with their own errors, in request order, among valid ones', async () => {
    const p = await load();
    const { results } = await p.checkBulk(
      [
        { resource: { type: 'doc', id: 'd1' }, permission: 'view', subject: ann },
        { resource: { type: 'nope', id: 'x' }, permission: 'view', subject: ann },
        {
          resource: { type: 'doc', id: 'd2' },
          permission: 'view',
          subject: { type: 'user', id: '*', relation: '...' },
        },
        { resource: { type: 'doc', id: 'd2' }, permission: 'view', subject: ann },
      ],
      fresh,
    );
    expect(results.map(answer)).toEqual([
      'HAS_PERMISSION',
      'object definition `nope` not found',
      'cannot perform check on wildcard subject',
      'HAS_PERMISSION',
    ]);
    await p.close();
  });
});

describe('Engine', () => {
  it('answers check, checkBulk, expand and both lookups over a snapshot and its schema', async () => {
    const datastore = openMemoryDatastore();
    const p = await load({ datastore });
    const engine = await Engine.open(datastore, { nestedGroupIndex: false });
    const snapshot = datastore.snapshot(await datastore.headRevision());
    const compiled = engine.compile((await snapshot.readSchema())!.text);
    expect(engine.compile((await snapshot.readSchema())!.text)).toBe(compiled);

    expect(
      await engine.check(snapshot, compiled, { resource: { type: 'doc', id: 'd2' }, permission: 'view', subject: ann }),
    ).toEqual({ kind: 'member' });
    const bulk = await engine.checkBulk(snapshot, compiled, items(3));
    expect(bulk.map((a) => a.membership?.kind)).toEqual(['not-member', 'member', 'member']);
    const tree = await engine.expand(snapshot, compiled, { resource: { type: 'doc', id: 'd1' }, permission: 'read' });
    expect(tree).toEqual(
      (await p.expand({ resource: { type: 'doc', id: 'd1' }, permission: 'read', consistency: fresh })).tree,
    );
    const found: string[] = [];
    for await (const r of engine.lookupResources(snapshot, compiled, {
      resourceType: 'doc',
      permission: 'view',
      subject: ann,
    })) {
      found.push(r.id);
    }
    expect(found).toEqual(['d1', 'd2']);
    const { wildcard, subjects } = await engine.lookupSubjects(snapshot, compiled, {
      resource: { type: 'doc', id: 'd2' },
      permission: 'view',
      subjectType: 'user',
      subjectRelation: '...',
    });
    expect(wildcard).toBeUndefined();
    expect(subjects.map(([id]) => id)).toEqual(['ann']);
    await engine.close();
    await p.close();
  });
});

describe('dispatch keys', () => {
  it('name the revision, subject and context, and the userset', () => {
    expect(checkKeyPrefix(7n, ann, { a: 1 })).toBe(['7', 'user', 'ann', '...', '{"a":1}'].join('\u0000'));
    expect(checkKeyPrefix(7n, ann, undefined)).toBe(checkKeyPrefix(7n, ann, {}));
    expect(usersetKey('doc', 'd1', 'view')).toBe('doc:d1#view');
    const lr = { resourceType: 'doc', permission: 'view', subject: ann };
    expect(lookupResourcesKey(7n, lr)).toMatch(/^7\|[\w-]{16}$/);
    expect(lookupResourcesKey(7n, lr)).not.toBe(lookupResourcesKey(8n, lr));
    expect(lookupResourcesKey(7n, lr)).not.toBe(lookupResourcesKey(7n, { ...lr, context: { a: 1 } }));
  });
});

describe('schema analysis', () => {
  it('is made once per compiled schema', () => {
    const compiled = compileSchema(schema);
    expect(analysisOf(compiled)).toBe(analysisOf(compiled));
    expect(analysisOf(compileSchema(schema))).not.toBe(analysisOf(compiled));
  });

  it('finds expiration, monotone unions, reachability and indexable relations', () => {
    const a = analysisOf(compileSchema(schema));
    expect(a.usesExpiration).toBe(false);
    expect(a.isMonotoneUnion('doc', 'read')).toBe(true);
    expect(a.isMonotoneUnion('doc', 'view')).toBe(false);
    expect([...a.usersetsReaching('doc', 'read')].sort()).toEqual([
      'doc#read',
      'doc#reader',
      'group#member',
      'user#...',
    ]);
    expect([...a.indexableRelations.keys()]).toEqual(['group#member']);
    expect(a.reverse.computedBy.get('doc#reader')).toEqual(['view', 'read']);
    const expiring = analysisOf(
      compileSchema('use expiration\ndefinition user {}\ndefinition doc {\n  relation rel: user with expiration\n}'),
    );
    expect(expiring.usesExpiration).toBe(true);
  });

  it('walks a rewrite tree, optionally skipping subtracted branches and operands', () => {
    const rw: Rewrite = {
      kind: 'exclusion',
      base: { kind: 'union', children: [{ kind: 'this' }, { kind: 'computed', relation: 'a' }] },
      subtract: { kind: 'computed', relation: 'b' },
    };
    const kinds = (options?: { subtracted?: boolean }, skip?: Rewrite['kind']) => {
      const seen: string[] = [];
      walkRewrite(
        rw,
        (n) => {
          seen.push(n.kind === 'computed' ? n.relation : n.kind);
          return n.kind !== skip;
        },
        options,
      );
      return seen;
    };
    expect(kinds()).toEqual(['exclusion', 'union', 'this', 'a', 'b']);
    expect(kinds({ subtracted: false })).toEqual(['exclusion', 'union', 'this', 'a']);
    expect(kinds({}, 'union')).toEqual(['exclusion', 'union', 'b']);
  });
});
