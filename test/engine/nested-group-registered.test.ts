/**
 * The nested-group index for schemas besides the stored one (OpenFGA's models): relations registered
 * with Engine.registerSchema / NestedGroupIndex.follow are built from a snapshot, followed, kept across
 * SpiceDB schema commits and rebuilds, and answer only calls whose schema makes them indexable; the
 * answers are plain evaluation's at every revision.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Datastore, Revision, RevisionChanges } from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { Engine, type EvaluationScope } from '../../src/engine/engine.js';
import { NestedGroupIndex, type BudgetExceeded } from '../../src/engine/nested-group-index.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import type { RelationshipUpdate } from '../../src/relationships/relationship.js';
import { analysisOf } from '../../src/schema/analysis.js';
import { compileSchema } from '../../src/schema/index.js';
import type { CompiledSchema } from '../../src/schema/ir.js';
import { mulberry32 } from '../differential/generator.js';
import { interceptReads } from '../datastore/intercept-reads.js';
import { useTestBackends } from '../datastore/test-backends.js';

const backends = useTestBackends();

/** An OpenFGA-like model over prefixed types (`[user, team#member]`), as the OpenFGA front end compiles one. */
const MODEL = `definition org/user {}
definition org/team {
  relation member: org/user | org/team#member
  relation owner: org/user
}
definition org/repo {
  relation reader: org/user | org/team#member
  relation blocked: org/user
  permission read = reader - blocked
}`;
const KEY = 'org/team#member';

/** MODEL with `define member: [user, team#member] or owner`: not indexable (a nested team's owners are members too). */
function withOwners(): CompiledSchema {
  const schema = compileSchema(MODEL);
  schema.definitions.get('org/team')!.relations.get('member')!.rewrite = {
    kind: 'union',
    children: [{ kind: 'this' }, { kind: 'computed', relation: 'owner' }],
  };
  return schema;
}

const touch = (s: string): RelationshipUpdate => ({ operation: 'TOUCH', relationship: parseRelationship(s) });
const del = (s: string): RelationshipUpdate => ({ operation: 'DELETE', relationship: parseRelationship(s) });
const edge = (g: string, h: string) => `org/team:${g}#member@org/team:${h}#member`;
async function write(ds: Datastore, ...updates: RelationshipUpdate[]): Promise<Revision> {
  return (await ds.readWrite((tx) => tx.write(updates))).revision;
}
async function writeSchema(ds: Datastore, text: string): Promise<Revision> {
  return (await ds.readWrite((tx) => tx.writeSchema(text))).revision;
}
const registered = (keys: string[]) =>
  new Map(keys.map((k) => [k, [k.slice(0, k.lastIndexOf('#')), k.slice(k.lastIndexOf('#') + 1)] as const]));
const sorted = (s: Iterable<string> | undefined) => (s === undefined ? undefined : [...s].sort());

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close();
});
async function openEngine(ds: Datastore, options: Parameters<typeof Engine.open>[1] = {}): Promise<Engine> {
  const engine = await Engine.open(ds, { dispatchCacheBytes: 0, ...options });
  closing.push(engine);
  return engine;
}

/** Every answer the engine gives about the model at `revision` (checks, both lookups), as strings. */
async function answers(
  engine: Engine,
  ds: Datastore,
  schema: CompiledSchema,
  revision: Revision,
  scope: EvaluationScope,
  ids: { teams: string[]; users: string[]; repos: string[] },
): Promise<string[]> {
  const snapshot = ds.snapshot(revision);
  const out: string[] = [];
  const attempt = async (label: string, f: () => Promise<string>) => {
    try {
      out.push(`${label}: ${await f()}`);
    } catch (e) {
      out.push(`${label}: ${(e as Error).name}`);
    }
  };
  for (const u of ids.users) {
    const subject = { type: 'org/user', id: u, relation: '...' };
    for (const t of ids.teams) {
      await attempt(`team ${t} ${u}`, async () => {
        const m = await engine.check(snapshot, schema, {
          resource: { type: 'org/team', id: t },
          permission: 'member',
          subject,
          scope,
        });
        return m.kind;
      });
    }
    for (const r of ids.repos) {
      await attempt(`repo ${r} ${u}`, async () => {
        const m = await engine.check(snapshot, schema, {
          resource: { type: 'org/repo', id: r },
          permission: 'read',
          subject,
          scope,
        });
        return m.kind;
      });
    }
    for (const [type, permission] of [
      ['org/repo', 'read'],
      ['org/team', 'member'],
    ]) {
      await attempt(`lr ${type} ${u}`, async () => {
        const found: string[] = [];
        for await (const x of engine.lookupResources(snapshot, schema, {
          resourceType: type,
          permission,
          subject,
          scope,
        })) {
          found.push(`${x.id}:${x.membership.kind}`);
        }
        return found.join(',');
      });
    }
  }
  for (const [type, id, permission] of [
    ...ids.teams.map((t) => ['org/team', t, 'member']),
    ...ids.repos.map((r) => ['org/repo', r, 'read']),
  ]) {
    await attempt(`ls ${type}:${id}`, async () => {
      const found = await engine.lookupSubjects(snapshot, schema, {
        resource: { type, id },
        permission,
        subjectType: 'org/user',
        subjectRelation: '...',
        scope,
      });
      return found.subjects.map(([s, m]) => `${s}:${m.kind}`).join(',');
    });
  }
  return out;
}

describe('registered relations in the index', () => {
  it('are built from a snapshot, followed exactly, and kept across SpiceDB schema commits', async () => {
    const ds = openMemoryDatastore();
    const r1 = await write(ds, touch(edge('a', 'b')), touch(edge('b', 'c')));
    const index = await NestedGroupIndex.open(ds);
    closing.push(index);
    expect(index.indexedRelations()).toEqual([]);
    await index.follow(registered([KEY]));
    expect(index.indexedRelations()).toEqual([KEY]);
    expect(index.hasRegistered).toBe(true);
    const built = index.window('org/team', 'member')!.changedAt;
    expect(built).toBe(r1);
    expect(sorted(index.at(r1, 'org/team', 'member')!.descendants('a'))).toEqual(['b', 'c']);
    // Registering again changes nothing (and resolves at once).
    await index.follow(registered([KEY]));
    expect(index.window('org/team', 'member')!.changedAt).toBe(built);

    // Followed: a write after registration.
    const r2 = await write(ds, touch(edge('c', 'd')));
    expect(await index.caughtUp(r2, 5000)).toBe(true);
    expect(sorted(index.at(r2, 'org/team', 'member')!.descendants('a'))).toEqual(['b', 'c', 'd']);

    // SpiceDB schema commits that index something else, nothing, or do not compile keep it.
    const spicedb = 'definition user {}\ndefinition team {\n  relation member: user | team#member\n}';
    const r3 = await writeSchema(ds, spicedb);
    expect(await index.caughtUp(r3, 5000)).toBe(true);
    expect(index.indexedRelations()).toEqual([KEY, 'team#member']);
    const r4 = await writeSchema(ds, 'definition user {}');
    const r5 = await writeSchema(ds, 'definition team {');
    const r6 = await write(ds, del(edge('b', 'c')));
    expect(await index.caughtUp(r6, 5000)).toBe(true);
    expect(index.indexedRelations()).toEqual([KEY]);
    expect(index.window('org/team', 'member')!.changedAt).toBe(r6);
    expect(sorted(index.at(r6, 'org/team', 'member')!.descendants('a'))).toEqual(['b']);
    expect(index.at(r5, 'org/team', 'member')).toBeUndefined(); // older than its last change
    expect(r4).toBeLessThan(r5);
  });

  it('are included when the index rebuilds after a feed error', async () => {
    const inner = openMemoryDatastore();
    await write(inner, touch(edge('a', 'b')));
    let failNext = false;
    const errors: unknown[] = [];
    const ds: Datastore = Object.create(inner, {
      watch: {
        value: async function* (after: Revision, signal?: AbortSignal): AsyncIterable<RevisionChanges> {
          for await (const c of inner.watch(after, signal)) {
            if (failNext) {
              failNext = false;
              throw new Error('connection lost');
            }
            yield c;
          }
        },
      },
    });
    const index = await NestedGroupIndex.open(ds, { retryMinMs: 1, onError: (e) => errors.push(e) });
    closing.push(index);
    await index.follow(registered([KEY]));
    failNext = true;
    const r2 = await write(inner, touch(edge('b', 'c')));
    expect(await index.caughtUp(r2, 5000)).toBe(true);
    expect(errors.map((e) => (e as Error).message)).toEqual(['connection lost']);
    expect(index.indexedRelations()).toEqual([KEY]);
    expect(index.window('org/team', 'member')).toEqual({ changedAt: r2, revision: r2 });
    expect(sorted(index.at(r2, 'org/team', 'member')!.descendants('a'))).toEqual(['b', 'c']);
  });

  it('are dropped past the memory budget (and told), the index answering nothing for them', async () => {
    const ds = openMemoryDatastore();
    const updates = Array.from({ length: 600 }, (_, i) => touch(edge('hub', `t${i}`)));
    const r1 = await write(ds, ...updates);
    const over: BudgetExceeded[] = [];
    const index = await NestedGroupIndex.open(ds, { maxBytes: 64 * 1024, onBudgetExceeded: (e) => over.push(e) });
    closing.push(index);
    await index.follow(registered([KEY]));
    expect(over.map((e) => e.relation)).toEqual([KEY]);
    expect(index.indexedRelations()).toEqual([]);
    expect(index.stats().dropped[KEY]).toBeDefined();
    expect(index.at(r1, 'org/team', 'member')).toBeUndefined();
  });

  it.each(['memory', 'sqlite'] as const)(
    'follow the edges of many stores at once (coarser watch patterns, %s)',
    async (backend) => {
      const ds = await backends.open(backend);
      const stores = Array.from({ length: 100 }, (_, i) => `fga_s${i}/team`);
      const index = await NestedGroupIndex.open(ds);
      closing.push(index);
      await index.follow(registered(stores.map((t) => `${t}#member`)));
      expect(index.indexedRelations()).toHaveLength(100);
      const nest = (t: string, g: string, h: string) => touch(`${t}:${g}#member@${t}:${h}#member`);
      // Edges of registered relations, and look-alikes that are not (another relation, another type).
      const r = await write(
        ds,
        nest(stores[7]!, 'a', 'b'),
        nest(stores[7]!, 'b', 'c'),
        nest(stores[99]!, 'x', 'y'),
        touch(`${stores[7]}:c#member@${stores[8]}:d#member`),
        touch(`${stores[7]}:c#admin@${stores[7]}:e#admin`),
      );
      expect(await index.caughtUp(r, 5000)).toBe(true);
      expect(sorted(index.at(r, stores[7]!, 'member')!.descendants('a'))).toEqual(['b', 'c']);
      expect(sorted(index.at(r, stores[99]!, 'member')!.descendants('x'))).toEqual(['y']);
      expect(sorted(index.at(r, stores[8]!, 'member')!.ancestors('d'))).toEqual([]);
      expect(index.at(r, stores[7]!, 'admin')).toBeUndefined();
    },
  );

  it('resolve follow() when the index closes', async () => {
    const ds = openMemoryDatastore();
    const index = await NestedGroupIndex.open(ds);
    await index.close();
    await index.follow(registered([KEY]));
    expect(index.indexedRelations()).toEqual([]);
  });
});

describe('an engine evaluating a registered schema', () => {
  it('answers as plain evaluation at every revision of a random sequence, from the index', async () => {
    const ds = openMemoryDatastore();
    const schema = compileSchema(MODEL);
    const plain = await openEngine(ds, { nestedGroupIndex: false });
    const indexed = await openEngine(ds);
    await indexed.registerSchema(schema);
    expect(indexed.nestedGroupIndexStats()!.relations[KEY]).toBeDefined();
    const scope: EvaluationScope = { schemaKey: 'm1', maxDepth: 25 };
    const ids = {
      teams: Array.from({ length: 8 }, (_, i) => `t${i}`),
      users: ['u0', 'u1', 'u2', 'u3'],
      repos: ['r0', 'r1'],
    };
    const random = mulberry32(16);
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    const revisions: Revision[] = [await ds.headRevision()];
    for (let i = 0; i < 30; i++) {
      const updates = new Map<string, RelationshipUpdate>();
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) {
        const x = random();
        const text =
          x < 0.5
            ? edge(pick(ids.teams), pick(ids.teams))
            : x < 0.7
              ? `org/team:${pick(ids.teams)}#member@org/user:${pick(ids.users)}`
              : x < 0.85
                ? `org/repo:${pick(ids.repos)}#reader@org/team:${pick(ids.teams)}#member`
                : x < 0.93
                  ? `org/repo:${pick(ids.repos)}#blocked@org/user:${pick(ids.users)}`
                  : `org/team:${pick(ids.teams)}#owner@org/user:${pick(ids.users)}`;
        updates.set(text, random() < 0.75 ? touch(text) : del(text));
      }
      revisions.push(await write(ds, ...updates.values()));
      const r = revisions[revisions.length - 1]!;
      await indexed.readyFor(r);
      expect(await answers(indexed, ds, schema, r, scope, ids)).toEqual(
        await answers(plain, ds, schema, r, scope, ids),
      );
    }
    // Old snapshots too (the index refuses those before its relation's last change).
    for (const r of revisions.filter((_, i) => i % 5 === 0)) {
      expect(await answers(indexed, ds, schema, r, scope, ids)).toEqual(
        await answers(plain, ds, schema, r, scope, ids),
      );
    }
  }, 60_000);

  it('reads far less with the index, and never for a schema where the relation is not indexable or a private call', async () => {
    const inner = openMemoryDatastore();
    let reads = 0;
    const ds = interceptReads(inner, () => void reads++);
    const chain = Array.from({ length: 20 }, (_, i) => touch(edge(`t${i}`, `t${i + 1}`)));
    // t20's owner is, under the `or owner` model, a member of every team above it.
    const r = await write(
      inner,
      ...chain,
      touch('org/team:t20#member@org/user:deep'),
      touch('org/team:t20#owner@org/user:boss'),
    );
    const schema = compileSchema(MODEL);
    const owners = withOwners();
    const plain = await openEngine(inner, { nestedGroupIndex: false });
    const indexed = await openEngine(inner);
    await indexed.registerSchema(schema);
    expect([...analysisOf(owners).indexableRelations.keys()]).toEqual([]); // `or owner`: not only its tuples
    await indexed.registerSchema(owners);
    expect(Object.keys(indexed.nestedGroupIndexStats()!.relations)).toEqual([KEY]);
    const check = async (engine: Engine, s: CompiledSchema, user: string, scope: EvaluationScope) => {
      reads = 0;
      const m = await engine.check(ds.snapshot(r), s, {
        resource: { type: 'org/team', id: 't0' },
        permission: 'member',
        subject: { type: 'org/user', id: user, relation: '...' },
        scope,
      });
      return { kind: m.kind, reads };
    };
    const m1 = { schemaKey: 'm1', maxDepth: 25 };
    const m2 = { schemaKey: 'm2', maxDepth: 25 };
    const viaIndex = await check(indexed, schema, 'deep', m1);
    const without = await check(plain, schema, 'deep', m1);
    expect(viaIndex.kind).toBe('member');
    expect(without.kind).toBe('member');
    expect(viaIndex.reads).toBeLessThan(5);
    expect(without.reads).toBeGreaterThan(20);
    // The other model: the index would miss the nested team's owner; it is not consulted.
    const owner = await check(indexed, owners, 'boss', m2);
    expect(owner.kind).toBe('member');
    expect(owner.reads).toBeGreaterThan(20);
    expect((await check(indexed, schema, 'boss', m1)).kind).toBe('not-member');
    // A private call (contextual tuples) evaluates without it.
    expect((await check(indexed, schema, 'deep', { ...m1, private: true })).reads).toBeGreaterThan(20);
  });

  it('falls back to evaluation when the registered relation exceeds the budget', async () => {
    const ds = openMemoryDatastore();
    const schema = compileSchema(MODEL);
    const r = await write(
      ds,
      ...Array.from({ length: 600 }, (_, i) => touch(edge('hub', `t${i}`))),
      touch('org/team:t599#member@org/user:u'),
      touch(edge('t599', 'leaf')),
      touch('org/team:leaf#member@org/user:v'),
    );
    const over: BudgetExceeded[] = [];
    const indexed = await openEngine(ds, { nestedGroupIndexBytes: 64 * 1024, onBudgetExceeded: (e) => over.push(e) });
    await indexed.registerSchema(schema);
    expect(over.map((e) => e.relation)).toEqual([KEY]);
    const plain = await openEngine(ds, { nestedGroupIndex: false });
    const ids = { teams: ['hub', 't599', 'leaf', 't3'], users: ['u', 'v', 'w'], repos: [] };
    const scope = { schemaKey: 'm1', maxDepth: 25 };
    expect(await answers(indexed, ds, schema, r, scope, ids)).toEqual(await answers(plain, ds, schema, r, scope, ids));
    expect((await answers(indexed, ds, schema, r, scope, ids)).filter((a) => a.endsWith('member'))).toContain(
      'team hub v: member',
    );
  });
});
