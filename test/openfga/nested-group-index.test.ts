/**
 * The OpenFGA front end with the engine's nested-group index: a store of nested teams answers Check,
 * ListObjects and ListUsers the same with the index on and off, under a model that makes
 * `team#member` indexable (the index then serves it) and under a later model version where it is not
 * (`or owner`: the index must not be consulted for it), and with contextual tuples.
 */
import { transformer } from '@openfga/syntax-transformer';
import { afterEach, describe, expect, it } from 'vitest';
import type { Datastore } from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { Engine } from '../../src/engine/engine.js';
import { openCatalog } from '../../src/openfga/catalog/index.js';
import { OpenFgaService } from '../../src/openfga/service.js';
import { mulberry32 } from '../differential/generator.js';

const NESTED = `model
  schema 1.1
type user
type team
  relations
    define owner: [user]
    define member: [user, team#member]
type repo
  relations
    define reader: [user, team#member]
    define blocked: [user, team#member]
    define read: reader but not blocked`;

const WITH_OWNERS = NESTED.replace('define member: [user, team#member]', 'define member: [user, team#member] or owner');

interface Stack {
  datastore: Datastore;
  engine: Engine;
  service: OpenFgaService;
  storeId: string;
  models: string[];
}

const stacks: Stack[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) {
    await s.engine.close();
    await s.datastore.close();
  }
});

async function stack(nestedGroupIndex: boolean): Promise<Stack> {
  const datastore = openMemoryDatastore();
  const engine = await Engine.open(datastore, { nestedGroupIndex });
  const service = new OpenFgaService({ datastore, engine, catalog: await openCatalog(datastore) });
  const { id: storeId } = (await service.createStore({ name: 'nested' })) as { id: string };
  const models: string[] = [];
  for (const dsl of [NESTED, WITH_OWNERS]) {
    const { authorization_model_id } = (await service.writeAuthorizationModel(
      storeId,
      transformer.transformDSLToJSONObject(dsl),
    )) as { authorization_model_id: string };
    models.push(authorization_model_id);
  }
  const s = { datastore, engine, service, storeId, models };
  stacks.push(s);
  return s;
}

const teams = Array.from({ length: 12 }, (_, i) => `t${i}`);
const users = ['u0', 'u1', 'u2', 'u3', 'u4'];
const repos = ['r0', 'r1', 'r2'];

/** Every answer of the store under `model` (Check of every user on every team and repo, ListObjects, ListUsers). */
async function answers(s: Stack, model: string, contextual: unknown[] = []): Promise<string[]> {
  const out: string[] = [];
  const common = { authorization_model_id: model, contextual_tuples: { tuple_keys: contextual } };
  const attempt = async (label: string, f: () => Promise<unknown>) => {
    try {
      out.push(`${label}: ${JSON.stringify(await f())}`);
    } catch (e) {
      out.push(`${label}: ${(e as Error).message}`);
    }
  };
  for (const u of users) {
    for (const [type, ids, relation] of [
      ['team', teams, 'member'],
      ['repo', repos, 'read'],
    ] as const) {
      for (const id of ids) {
        await attempt(`check ${type}:${id} ${u}`, async () => {
          const r = (await s.service.check(s.storeId, {
            ...common,
            tuple_key: { object: `${type}:${id}`, relation, user: `user:${u}` },
          })) as { allowed: boolean };
          return r.allowed;
        });
      }
      await attempt(`list-objects ${type} ${u}`, async () => {
        const r = (await s.service.listObjects(s.storeId, { ...common, type, relation, user: `user:${u}` })) as {
          objects: string[];
        };
        return r.objects.sort();
      });
    }
  }
  for (const [type, ids, relation] of [
    ['team', teams, 'member'],
    ['repo', repos, 'read'],
  ] as const) {
    for (const id of ids) {
      await attempt(`list-users ${type}:${id}`, async () => {
        const r = (await s.service.listUsers(s.storeId, {
          ...common,
          object: { type, id },
          relation,
          user_filters: [{ type: 'user' }],
        })) as { users: Array<{ object: { id: string } }> };
        return r.users.map((x) => x.object.id).sort();
      });
    }
  }
  return out;
}

describe('the OpenFGA front end with the nested-group index', () => {
  it('answers a store of nested teams the same with the index on and off, write after write', async () => {
    const on = await stack(true);
    const off = await stack(false);
    const random = mulberry32(1616);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const present = new Set<string>();
    for (let round = 0; round < 12; round++) {
      const writes: Array<{ object: string; relation: string; user: string }> = [];
      const deletes: Array<{ object: string; relation: string; user: string }> = [];
      const seen = new Set<string>();
      for (let k = 0; k < 12; k++) {
        const x = random();
        const t =
          x < 0.5
            ? { object: `team:${pick(teams)}`, relation: 'member', user: `team:${pick(teams)}#member` }
            : x < 0.7
              ? { object: `team:${pick(teams)}`, relation: 'member', user: `user:${pick(users)}` }
              : x < 0.8
                ? { object: `team:${pick(teams)}`, relation: 'owner', user: `user:${pick(users)}` }
                : x < 0.95
                  ? { object: `repo:${pick(repos)}`, relation: 'reader', user: `team:${pick(teams)}#member` }
                  : {
                      object: `repo:${pick(repos)}`,
                      relation: 'blocked',
                      user: random() < 0.5 ? `user:${pick(users)}` : `team:${pick(teams)}#member`,
                    };
        const key = `${t.object}#${t.relation}@${t.user}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (present.has(key) && random() < 0.5) {
          deletes.push(t);
          present.delete(key);
        } else if (!present.has(key)) {
          writes.push(t);
          present.add(key);
        }
      }
      const body = {
        ...(writes.length ? { writes: { tuple_keys: writes } } : {}),
        ...(deletes.length ? { deletes: { tuple_keys: deletes } } : {}),
      };
      if (!writes.length && !deletes.length) continue;
      await on.service.write(on.storeId, body);
      await off.service.write(off.storeId, body);
      for (const m of [0, 1]) {
        expect(await answers(on, on.models[m]!), `round ${round}, model ${m}`).toEqual(
          await answers(off, off.models[m]!),
        );
      }
    }
    // The index holds the store's team#member (the first model made it indexable), not the other model's.
    const stats = on.engine.nestedGroupIndexStats()!;
    expect(Object.keys(stats.relations)).toEqual([`fga_${on.storeId.toLowerCase()}/team#member`]);
    // Contextual tuples: private evaluation, the same answers.
    const contextual = [
      { object: 'team:t0', relation: 'member', user: 'team:t11#member' },
      { object: 'team:t11', relation: 'member', user: 'user:u4' },
    ];
    expect(await answers(on, on.models[0]!, contextual)).toEqual(await answers(off, off.models[0]!, contextual));
  }, 120_000);

  it('answers a chain past the depth limit from the first call on a model, as from the later ones', async () => {
    const datastore = openMemoryDatastore();
    const engine = await Engine.open(datastore);
    const writer = new OpenFgaService({ datastore, engine, catalog: await openCatalog(datastore) });
    const { id: storeId } = (await writer.createStore({ name: 'chain' })) as { id: string };
    await writer.writeAuthorizationModel(storeId, transformer.transformDSLToJSONObject(NESTED));
    // team:c0 ⊃ c1 ⊃ … ⊃ c39 ∋ user:deep: 40 levels, past OpenFGA's 25.
    const chain = Array.from({ length: 39 }, (_, i) => ({
      object: `team:c${i}`,
      relation: 'member',
      user: `team:c${i + 1}#member`,
    }));
    for (let i = 0; i < chain.length; i += 20) {
      await writer.write(storeId, { writes: { tuple_keys: chain.slice(i, i + 20) } });
    }
    await writer.write(storeId, {
      writes: { tuple_keys: [{ object: 'team:c39', relation: 'member', user: 'user:deep' }] },
    });
    // A fresh engine and service (as after a restart): the first call compiles and registers the model.
    const restarted = await Engine.open(datastore);
    // A slow build (a large store): the index gets the model's relations only after 300 ms.
    const register = restarted.registerSchema.bind(restarted);
    restarted.registerSchema = async (schema) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return register(schema);
    };
    const service = new OpenFgaService({ datastore, engine: restarted, catalog: await openCatalog(datastore) });
    const check = () =>
      service.check(storeId, { tuple_key: { object: 'team:c0', relation: 'member', user: 'user:deep' } });
    const first = await check();
    expect(first).toEqual({ allowed: true, resolution: '' });
    expect(await check()).toEqual(first);
    // Without the index, OpenFGA's depth limit answers instead.
    const plainEngine = await Engine.open(datastore, { nestedGroupIndex: false });
    const plain = new OpenFgaService({ datastore, engine: plainEngine, catalog: await openCatalog(datastore) });
    await expect(
      plain.check(storeId, { tuple_key: { object: 'team:c0', relation: 'member', user: 'user:deep' } }),
    ).rejects.toMatchObject({ code: 'authorization_model_resolution_too_complex' });
    await plainEngine.close();
    await restarted.close();
    await engine.close();
    await datastore.close();
  });
});
