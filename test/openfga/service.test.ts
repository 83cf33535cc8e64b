/**
 * The OpenFGA service layer beyond Check/ListObjects/ListUsers semantics (which the conformance
 * runner covers): stores, model paging, writes and their error and ignore modes, Read's filters and
 * paging, ReadChanges, BatchCheck, Expand's tree, assertions, store deletion, ListObjects' cap and
 * deadline, and malformed bodies.
 */
import { transformer } from '@openfga/syntax-transformer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Datastore } from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { Engine } from '../../src/engine/engine.js';
import { openCatalog } from '../../src/openfga/catalog/index.js';
import { OpenFgaError } from '../../src/openfga/errors.js';
import { OpenFgaService, type OpenFgaLimits } from '../../src/openfga/service.js';
import { storeTypePrefix } from '../../src/openfga/store-prefix.js';

const MODEL = `model
  schema 1.1
type user
type group
  relations
    define member: [user]
type folder
  relations
    define viewer: [user]
type document
  relations
    define parent: [folder]
    define owner: [user]
    define editor: [user, group#member] or owner
    define blocked: [user]
    define viewer: ([user, user:*] or editor or viewer from parent) but not blocked
    define gated: [user with small]
condition small(x: int) {
  x < 10
}`;

let datastore: Datastore;
let engine: Engine;
let service: OpenFgaService;

async function open(limits?: Partial<OpenFgaLimits>) {
  datastore = openMemoryDatastore();
  engine = await Engine.open(datastore);
  service = new OpenFgaService({ datastore, engine, catalog: await openCatalog(datastore), limits });
}

beforeEach(() => open());
afterEach(async () => {
  await engine.close();
  await datastore.close();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenFgaError) return e.code;
    throw e;
  }
  throw new Error('expected an OpenFgaError');
}

async function storeWithModel(): Promise<{ storeId: string; modelId: string }> {
  const { id: storeId } = (await service.createStore({ name: 'test store' })) as { id: string };
  const { authorization_model_id: modelId } = (await service.writeAuthorizationModel(
    storeId,
    transformer.transformDSLToJSONObject(MODEL),
  )) as { authorization_model_id: string };
  return { storeId, modelId };
}

const t = (object: string, relation: string, user: string) => ({ object, relation, user });

describe('stores', () => {
  it('creates, gets, lists with paging and name filter, deletes', async () => {
    const a = (await service.createStore({ name: 'alpha' })) as Record<string, string>;
    expect(a.id).toMatch(/^[0-9A-Z]{26}$/);
    expect(a.name).toBe('alpha');
    expect(new Date(a.created_at).toISOString()).toBe(a.created_at);
    await service.createStore({ name: 'beta' });
    await service.createStore({ name: 'gamma' });
    expect(await service.getStore(a.id)).toEqual(a);

    const first = (await service.listStores({ page_size: '2' })) as {
      stores: { name: string }[];
      continuation_token: string;
    };
    expect(first.stores.map((s) => s.name)).toEqual(['alpha', 'beta']);
    expect(first.continuation_token).not.toBe('');
    const second = (await service.listStores({ page_size: '2', continuation_token: first.continuation_token })) as {
      stores: { name: string }[];
      continuation_token: string;
    };
    expect(second.stores.map((s) => s.name)).toEqual(['gamma']);
    expect(second.continuation_token).toBe('');
    const named = (await service.listStores({ name: 'beta' })) as { stores: { name: string }[] };
    expect(named.stores.map((s) => s.name)).toEqual(['beta']);

    await service.deleteStore(a.id);
    expect(await code(service.getStore(a.id))).toBe('store_id_not_found');
    expect(await code(service.deleteStore(a.id))).toBe('store_id_not_found');
  });

  it('refuses bad names, ids, page sizes and tokens', async () => {
    expect(await code(service.createStore({}))).toBe('validation_error');
    expect(await code(service.createStore('nope'))).toBe('validation_error');
    expect(await code(service.getStore('not-a-ulid'))).toBe('validation_error');
    expect(await code(service.getStore('01ARZ3NDEKTSV4RRFFQ69G5FAV'))).toBe('store_id_not_found');
    expect(await code(service.listStores({ page_size: '0' }))).toBe('validation_error');
    expect(await code(service.listStores({ page_size: '101' }))).toBe('validation_error');
    expect(await code(service.listStores({ continuation_token: 'garbage!' }))).toBe('invalid_continuation_token');
  });

  it('deleting a store deletes its tuples and leaves other stores alone', async () => {
    const one = await storeWithModel();
    const two = await storeWithModel();
    await service.write(one.storeId, { writes: { tuple_keys: [t('document:1', 'owner', 'user:anne')] } });
    await service.write(two.storeId, { writes: { tuple_keys: [t('document:1', 'owner', 'user:anne')] } });
    await service.deleteStore(one.storeId);
    const snapshot = datastore.snapshot(await datastore.headRevision());
    const left = await snapshot.queryRelationships({ resourceType: `${storeTypePrefix(one.storeId)}document` });
    expect(left).toEqual([]);
    const other = await snapshot.queryRelationships({ resourceType: `${storeTypePrefix(two.storeId)}document` });
    expect(other).toHaveLength(1);
  });
});

describe('authorization models', () => {
  it('writes, reads and lists newest first with paging', async () => {
    const { storeId, modelId } = await storeWithModel();
    const read = (await service.readAuthorizationModel(storeId, modelId)) as {
      authorization_model: { id: string; schema_version: string; conditions: Record<string, unknown> };
    };
    expect(read.authorization_model.id).toBe(modelId);
    expect(read.authorization_model.schema_version).toBe('1.1');
    expect(Object.keys(read.authorization_model.conditions)).toEqual(['small']);
    const ids = [modelId];
    for (let i = 0; i < 2; i++) {
      const r = (await service.writeAuthorizationModel(storeId, transformer.transformDSLToJSONObject(MODEL))) as {
        authorization_model_id: string;
      };
      ids.push(r.authorization_model_id);
    }
    const page1 = (await service.readAuthorizationModels(storeId, { page_size: '2' })) as {
      authorization_models: { id: string }[];
      continuation_token: string;
    };
    expect(page1.authorization_models.map((m) => m.id)).toEqual([ids[2], ids[1]]);
    const page2 = (await service.readAuthorizationModels(storeId, {
      page_size: '2',
      continuation_token: page1.continuation_token,
    })) as { authorization_models: { id: string }[]; continuation_token: string };
    expect(page2.authorization_models.map((m) => m.id)).toEqual([ids[0]]);
    expect(page2.continuation_token).toBe('');
    // A token of another listing is refused.
    const stores = (await service.listStores({ page_size: '1' })) as { continuation_token: string };
    await service.createStore({ name: 'another' });
    const more = (await service.listStores({ page_size: '1' })) as { continuation_token: string };
    expect(
      await code(service.readAuthorizationModels(storeId, { continuation_token: more.continuation_token || 'x' })),
    ).toBe('invalid_continuation_token');
    void stores;
  });

  it('refuses invalid models and unknown ids', async () => {
    const { storeId } = await storeWithModel();
    expect(await code(service.writeAuthorizationModel(storeId, { schema_version: '1.1', type_definitions: [] }))).toBe(
      'type_definitions_too_few_items',
    );
    expect(await code(service.readAuthorizationModel(storeId, '01ARZ3NDEKTSV4RRFFQ69G5FAV'))).toBe(
      'authorization_model_not_found',
    );
    const { id: empty } = (await service.createStore({ name: 'empty' })) as { id: string };
    expect(await code(service.check(empty, { tuple_key: t('document:1', 'viewer', 'user:anne') }))).toBe(
      'latest_authorization_model_not_found',
    );
  });
});

describe('write', () => {
  it('writes and deletes in one request', async () => {
    const { storeId } = await storeWithModel();
    await service.write(storeId, { writes: { tuple_keys: [t('document:1', 'owner', 'user:anne')] } });
    await service.write(storeId, {
      writes: { tuple_keys: [t('document:1', 'owner', 'user:bob')] },
      deletes: { tuple_keys: [t('document:1', 'owner', 'user:anne')] },
    });
    const read = (await service.read(storeId, {})) as { tuples: { key: unknown }[] };
    expect(read.tuples.map((x) => x.key)).toEqual([t('document:1', 'owner', 'user:bob')]);
  });

  it('reports existing and missing tuples unless told to ignore them', async () => {
    const { storeId } = await storeWithModel();
    const anne = t('document:1', 'owner', 'user:anne');
    await service.write(storeId, { writes: { tuple_keys: [anne] } });
    expect(await code(service.write(storeId, { writes: { tuple_keys: [anne] } }))).toBe(
      'write_failed_due_to_invalid_input',
    );
    await service.write(storeId, { writes: { tuple_keys: [anne], on_duplicate: 'ignore' } });
    const missing = t('document:2', 'owner', 'user:anne');
    expect(await code(service.write(storeId, { deletes: { tuple_keys: [missing] } }))).toBe(
      'write_failed_due_to_invalid_input',
    );
    await service.write(storeId, { deletes: { tuple_keys: [missing], on_missing: 'ignore' } });
    // A failed request writes nothing.
    expect(
      await code(
        service.write(storeId, {
          writes: { tuple_keys: [t('document:3', 'owner', 'user:anne')] },
          deletes: { tuple_keys: [missing] },
        }),
      ),
    ).toBe('write_failed_due_to_invalid_input');
    const read = (await service.read(storeId, { tuple_key: { object: 'document:3' } })) as { tuples: unknown[] };
    expect(read.tuples).toEqual([]);
    // Ignoring a duplicate with another condition is still an error.
    await service.write(storeId, {
      writes: { tuple_keys: [{ ...t('document:1', 'gated', 'user:anne'), condition: { name: 'small' } }] },
    });
    expect(
      await code(
        service.write(storeId, {
          writes: {
            tuple_keys: [{ ...t('document:1', 'gated', 'user:anne'), condition: { name: 'small', context: { x: 1 } } }],
            on_duplicate: 'ignore',
          },
        }),
      ),
    ).toBe('write_failed_due_to_invalid_input');
  });

  it('refuses empty, oversized, duplicated and invalid writes', async () => {
    const { storeId } = await storeWithModel();
    expect(await code(service.write(storeId, {}))).toBe('invalid_write_input');
    const many = Array.from({ length: 101 }, (_, i) => t(`document:${i}`, 'owner', 'user:anne'));
    expect(await code(service.write(storeId, { writes: { tuple_keys: many } }))).toBe('exceeded_entity_limit');
    const anne = t('document:1', 'owner', 'user:anne');
    expect(await code(service.write(storeId, { writes: { tuple_keys: [anne, anne] } }))).toBe(
      'cannot_allow_duplicate_tuples_in_one_request',
    );
    expect(
      await code(service.write(storeId, { writes: { tuple_keys: [anne] }, deletes: { tuple_keys: [anne] } })),
    ).toBe('cannot_allow_duplicate_tuples_in_one_request');
    expect(await code(service.write(storeId, { writes: { tuple_keys: [t('document:1', 'owner', 'group:x')] } }))).toBe(
      'validation_error',
    );
    expect(await code(service.write(storeId, { writes: { tuple_keys: [t('document:1', 'nope', 'user:x')] } }))).toBe(
      'validation_error',
    );
    expect(await code(service.write(storeId, { writes: { tuple_keys: [{ object: 'document:1' }] } }))).toBe(
      'validation_error',
    );
    expect(await code(service.write(storeId, { writes: { tuple_keys: [anne], on_duplicate: 'maybe' } }))).toBe(
      'validation_error',
    );
    expect(await code(service.write(storeId, 42))).toBe('validation_error');
  });
});

describe('read', () => {
  it('filters as OpenFGA allows and pages', async () => {
    const { storeId } = await storeWithModel();
    await service.write(storeId, {
      writes: {
        tuple_keys: [
          t('document:1', 'owner', 'user:anne'),
          t('document:1', 'editor', 'user:bob'),
          t('document:2', 'owner', 'user:anne'),
          t('folder:x', 'viewer', 'user:anne'),
          t('document:1', 'editor', 'group:eng#member'),
        ],
      },
    });
    const keys = async (body: unknown) =>
      (
        (await service.read(storeId, body)) as { tuples: { key: { object: string; relation: string; user: string } }[] }
      ).tuples.map((x) => `${x.key.object}#${x.key.relation}@${x.key.user}`);
    expect(await keys({})).toHaveLength(5);
    expect(await keys({ tuple_key: { object: 'document:1' } })).toEqual([
      'document:1#editor@group:eng#member',
      'document:1#editor@user:bob',
      'document:1#owner@user:anne',
    ]);
    expect(await keys({ tuple_key: { object: 'document:1', relation: 'owner' } })).toEqual([
      'document:1#owner@user:anne',
    ]);
    expect(await keys({ tuple_key: { object: 'document:', user: 'user:anne' } })).toEqual([
      'document:1#owner@user:anne',
      'document:2#owner@user:anne',
    ]);
    expect(await keys({ tuple_key: { object: 'document:', relation: 'editor', user: 'group:eng#member' } })).toEqual([
      'document:1#editor@group:eng#member',
    ]);
    expect(await code(service.read(storeId, { tuple_key: { object: 'document:' } }))).toBe('validation_error');
    expect(await code(service.read(storeId, { tuple_key: { user: 'user:anne' } }))).toBe('validation_error');

    // Paging over every type of the store.
    const seen: string[] = [];
    let token = '';
    for (let i = 0; i < 10; i++) {
      const page = (await service.read(storeId, { page_size: 2, continuation_token: token })) as {
        tuples: { key: { object: string; relation: string; user: string }; timestamp: string }[];
        continuation_token: string;
      };
      expect(page.tuples.length).toBeLessThanOrEqual(2);
      for (const x of page.tuples) {
        seen.push(`${x.key.object}#${x.key.relation}@${x.key.user}`);
        expect(Number.isNaN(Date.parse(x.timestamp))).toBe(false);
      }
      token = page.continuation_token;
      if (token === '') break;
    }
    expect(seen).toEqual(await keys({}));
    expect(await code(service.read(storeId, { page_size: 101 }))).toBe('validation_error');
    expect(await code(service.read(storeId, { continuation_token: 'abc' }))).toBe('invalid_continuation_token');
  });
});

describe('read changes', () => {
  it('lists writes and deletes in order, pages, filters by type', async () => {
    const { storeId } = await storeWithModel();
    const before = Date.now();
    await service.write(storeId, {
      writes: { tuple_keys: [t('document:1', 'owner', 'user:anne'), t('folder:x', 'viewer', 'user:anne')] },
    });
    await service.write(storeId, { deletes: { tuple_keys: [t('document:1', 'owner', 'user:anne')] } });
    const other = await storeWithModel();
    await service.write(other.storeId, { writes: { tuple_keys: [t('document:9', 'owner', 'user:zed')] } });

    const all = (await service.readChanges(storeId, {})) as {
      changes: { tuple_key: { object: string }; operation: string; timestamp: string }[];
      continuation_token: string;
    };
    expect(all.changes.map((c) => `${c.operation} ${c.tuple_key.object}`)).toEqual([
      'TUPLE_OPERATION_WRITE document:1',
      'TUPLE_OPERATION_WRITE folder:x',
      'TUPLE_OPERATION_DELETE document:1',
    ]);
    expect(Date.parse(all.changes[0].timestamp)).toBeGreaterThanOrEqual(before - 1000);

    const page1 = (await service.readChanges(storeId, { page_size: '1' })) as {
      changes: { tuple_key: { object: string } }[];
      continuation_token: string;
    };
    expect(page1.changes.map((c) => c.tuple_key.object)).toEqual(['document:1']);
    const page2 = (await service.readChanges(storeId, {
      page_size: '2',
      continuation_token: page1.continuation_token,
    })) as { changes: { tuple_key: { object: string } }[]; continuation_token: string };
    expect(page2.changes.map((c) => c.tuple_key.object)).toEqual(['folder:x', 'document:1']);
    // Nothing new: no changes, a token to poll with.
    const page3 = (await service.readChanges(storeId, { continuation_token: page2.continuation_token })) as {
      changes: unknown[];
      continuation_token: string;
    };
    expect(page3.changes).toEqual([]);
    await service.write(storeId, { writes: { tuple_keys: [t('document:5', 'owner', 'user:anne')] } });
    const page4 = (await service.readChanges(storeId, { continuation_token: page3.continuation_token })) as {
      changes: { tuple_key: { object: string } }[];
    };
    expect(page4.changes.map((c) => c.tuple_key.object)).toEqual(['document:5']);

    const typed = (await service.readChanges(storeId, { type: 'folder' })) as {
      changes: { tuple_key: { object: string } }[];
      continuation_token: string;
    };
    expect(typed.changes.map((c) => c.tuple_key.object)).toEqual(['folder:x']);
    expect(
      await code(service.readChanges(storeId, { type: 'document', continuation_token: typed.continuation_token })),
    ).toBe('query_string_type_continuation_token_mismatch');

    const future = (await service.readChanges(storeId, {
      start_time: new Date(Date.now() + 60_000).toISOString(),
    })) as {
      changes: unknown[];
    };
    expect(future.changes).toEqual([]);
    expect(await code(service.readChanges(storeId, { start_time: 'yesterday' }))).toBe('validation_error');
  });
});

describe('check and batch check', () => {
  it('checks with contextual tuples and context', async () => {
    const { storeId, modelId } = await storeWithModel();
    await service.write(storeId, { writes: { tuple_keys: [t('document:1', 'owner', 'user:anne')] } });
    expect(await service.check(storeId, { tuple_key: t('document:1', 'viewer', 'user:anne') })).toEqual({
      allowed: true,
      resolution: '',
    });
    expect(
      await service.check(storeId, {
        authorization_model_id: modelId,
        tuple_key: t('document:1', 'viewer', 'user:bob'),
        contextual_tuples: { tuple_keys: [t('document:1', 'editor', 'user:bob')] },
        consistency: 'HIGHER_CONSISTENCY',
      }),
    ).toMatchObject({ allowed: true });
    await service.write(storeId, {
      writes: { tuple_keys: [{ ...t('document:1', 'gated', 'user:cy'), condition: { name: 'small' } }] },
    });
    const gated = t('document:1', 'gated', 'user:cy');
    expect(await service.check(storeId, { tuple_key: gated, context: { x: 3 } })).toMatchObject({ allowed: true });
    expect(await service.check(storeId, { tuple_key: gated, context: { x: 30 } })).toMatchObject({ allowed: false });
    expect(await code(service.check(storeId, { tuple_key: gated }))).toBe('validation_error');
    expect(await code(service.check(storeId, { tuple_key: gated, consistency: 'SOMETIMES' }))).toBe('validation_error');
    expect(await code(service.check(storeId, {}))).toBe('validation_error');
  });

  it('answers each check by correlation id, with per-item errors', async () => {
    const { storeId } = await storeWithModel();
    await service.write(storeId, { writes: { tuple_keys: [t('document:1', 'owner', 'user:anne')] } });
    const { result } = (await service.batchCheck(storeId, {
      checks: [
        { tuple_key: t('document:1', 'owner', 'user:anne'), correlation_id: 'a' },
        { tuple_key: t('document:1', 'owner', 'user:bob'), correlation_id: 'b' },
        {
          tuple_key: t('document:1', 'owner', 'user:bob'),
          contextual_tuples: { tuple_keys: [t('document:1', 'owner', 'user:bob')] },
          correlation_id: 'c',
        },
        { tuple_key: t('document:1', 'nope', 'user:bob'), correlation_id: 'd' },
      ],
    })) as { result: Record<string, { allowed: boolean; error?: { input_error?: string; message: string } }> };
    expect(result.a).toEqual({ allowed: true });
    expect(result.b).toEqual({ allowed: false });
    expect(result.c).toEqual({ allowed: true });
    expect(result.d.allowed).toBe(false);
    expect(result.d.error?.input_error).toBe('validation_error');

    const check = { tuple_key: t('document:1', 'owner', 'user:anne'), correlation_id: 'x' };
    expect(await code(service.batchCheck(storeId, { checks: [] }))).toBe('validation_error');
    expect(await code(service.batchCheck(storeId, { checks: [check, check] }))).toBe('validation_error');
    expect(await code(service.batchCheck(storeId, { checks: [{ tuple_key: check.tuple_key }] }))).toBe(
      'validation_error',
    );
    const many = Array.from({ length: 51 }, (_, i) => ({ ...check, correlation_id: String(i) }));
    expect(await code(service.batchCheck(storeId, { checks: many }))).toBe('validation_error');
  });
});

describe('semantics beyond the shared conformance subset', () => {
  async function storeWith(dsl: string): Promise<string> {
    const { id: storeId } = (await service.createStore({ name: 'semantics' })) as { id: string };
    await service.writeAuthorizationModel(storeId, transformer.transformDSLToJSONObject(dsl));
    return storeId;
  }

  it('takes a contextual tuple given twice as given once, in check, list-objects and list-users', async () => {
    const storeId = await storeWith(`model
  schema 1.1
type user
type repo
  relations
    define owner: [user]`);
    const twice = { tuple_keys: [t('repo:2', 'owner', 'user:a'), t('repo:2', 'owner', 'user:a')] };
    expect(
      await service.check(storeId, { tuple_key: t('repo:2', 'owner', 'user:a'), contextual_tuples: twice }),
    ).toMatchObject({ allowed: true });
    expect(
      await service.listObjects(storeId, { type: 'repo', relation: 'owner', user: 'user:a', contextual_tuples: twice }),
    ).toEqual({ objects: ['repo:2'] });
    expect(
      await service.listUsers(storeId, {
        object: { type: 'repo', id: '2' },
        relation: 'owner',
        user_filters: [{ type: 'user' }],
        contextual_tuples: twice.tuple_keys,
      }),
    ).toEqual({ users: [{ object: { type: 'user', id: 'a' } }] });
  });

  it('grants nothing through an exclusion whose subtracted part cycles back to it', async () => {
    const storeId = await storeWith(`model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member] but not blocked
    define blocked: [user, group#member]`);
    await service.write(storeId, {
      writes: { tuple_keys: [t('group:1', 'blocked', 'group:1#member'), t('group:1', 'member', 'user:will')] },
    });
    expect(await service.check(storeId, { tuple_key: t('group:1', 'member', 'user:will') })).toMatchObject({
      allowed: false,
    });
    expect(await service.check(storeId, { tuple_key: t('group:1', 'member', 'group:1#member') })).toMatchObject({
      allowed: true,
    });
    expect(await service.listObjects(storeId, { type: 'group', relation: 'member', user: 'user:will' })).toEqual({
      objects: [],
    });
    expect(
      await service.listUsers(storeId, {
        object: { type: 'group', id: '1' },
        relation: 'member',
        user_filters: [{ type: 'user' }],
      }),
    ).toEqual({ users: [] });
  });

  it('lets another grant win over a condition that cannot take a context value, and reports it otherwise', async () => {
    const storeId = await storeWith(`model
  schema 1.1
type user
type group
  relations
    define member: [user with early, user]
type document
  relations
    define viewer: [group#member]
condition early(ts: timestamp) {
  ts < timestamp("2023-10-11T10:00:00.000Z")
}`);
    await service.write(storeId, {
      writes: {
        tuple_keys: [
          { ...t('group:a', 'member', 'user:anne'), condition: { name: 'early' } },
          t('group:b', 'member', 'user:anne'),
          { ...t('group:a', 'member', 'user:bob'), condition: { name: 'early' } },
          t('document:1', 'viewer', 'group:a#member'),
          t('document:1', 'viewer', 'group:b#member'),
        ],
      },
    });
    const context = { ts: '2023-10-11T11:00.000Z' }; // not RFC 3339
    expect(await service.check(storeId, { tuple_key: t('document:1', 'viewer', 'user:anne'), context })).toMatchObject({
      allowed: true,
    });
    expect(await code(service.check(storeId, { tuple_key: t('document:1', 'viewer', 'user:bob'), context }))).toBe(
      'validation_error',
    );
    await expect(service.check(storeId, { tuple_key: t('document:1', 'viewer', 'user:bob'), context })).rejects.toThrow(
      /could not convert context parameter `ts`/,
    );
    expect(
      await code(service.listObjects(storeId, { type: 'document', relation: 'viewer', user: 'user:bob', context })),
    ).toBe('validation_error');
  });
});

describe('expand', () => {
  it('answers one level in OpenFGA tree shape', async () => {
    const { storeId } = await storeWithModel();
    await service.write(storeId, {
      writes: {
        tuple_keys: [
          t('document:1', 'viewer', 'user:anne'),
          t('document:1', 'viewer', 'user:*'),
          t('document:1', 'parent', 'folder:x'),
          t('document:1', 'editor', 'group:eng#member'),
        ],
      },
    });
    const { tree } = (await service.expand(storeId, { tuple_key: { object: 'document:1', relation: 'viewer' } })) as {
      tree: unknown;
    };
    const name = 'document:1#viewer';
    expect(tree).toEqual({
      root: {
        name,
        difference: {
          base: {
            name,
            union: {
              nodes: [
                { name, leaf: { users: { users: ['user:*', 'user:anne'] } } },
                { name, leaf: { computed: { userset: 'document:1#editor' } } },
                {
                  name,
                  leaf: {
                    tupleToUserset: { tupleset: 'document:1#parent', computed: [{ userset: 'folder:x#viewer' }] },
                  },
                },
              ],
            },
          },
          subtract: { name, leaf: { computed: { userset: 'document:1#blocked' } } },
        },
      },
    });
    const editor = (await service.expand(storeId, { tuple_key: { object: 'document:1', relation: 'editor' } })) as {
      tree: { root: unknown };
    };
    expect(editor.tree.root).toEqual({
      name: 'document:1#editor',
      union: {
        nodes: [
          { name: 'document:1#editor', leaf: { users: { users: ['group:eng#member'] } } },
          { name: 'document:1#editor', leaf: { computed: { userset: 'document:1#owner' } } },
        ],
      },
    });
    expect(await code(service.expand(storeId, { tuple_key: { object: 'document:1', relation: 'nope' } }))).toBe(
      'validation_error',
    );
    expect(await code(service.expand(storeId, {}))).toBe('validation_error');
  });
});

describe('list objects and list users', () => {
  it('caps list-objects results and streams them', async () => {
    await engine.close();
    await datastore.close();
    await open({ listObjectsMaxResults: 3 });
    const { storeId } = await storeWithModel();
    const tuples = Array.from({ length: 10 }, (_, i) => t(`document:${i}`, 'owner', 'user:anne'));
    await service.write(storeId, { writes: { tuple_keys: tuples } });
    const body = { type: 'document', relation: 'viewer', user: 'user:anne' };
    const { objects } = (await service.listObjects(storeId, body)) as { objects: string[] };
    expect(objects).toHaveLength(3);
    const streamed: string[] = [];
    for await (const { object } of await service.streamedListObjects(storeId, body)) streamed.push(object);
    expect(streamed).toHaveLength(3);
    expect(await code(service.listObjects(storeId, { ...body, type: 'nope' }))).toBe('type_not_found');
    expect(await code(service.listObjects(storeId, { ...body, relation: 'nope' }))).toBe('relation_not_found');
    expect(await code(service.streamedListObjects(storeId, { ...body, user: 'a:b:c' }))).toBe('validation_error');
  });

  it('answers partial list-objects results at the deadline', async () => {
    await engine.close();
    await datastore.close();
    await open({ listObjectsDeadlineMs: 1, listObjectsMaxResults: 0 });
    const { storeId } = await storeWithModel();
    for (let chunk = 0; chunk < 20; chunk++) {
      const tuples = Array.from({ length: 100 }, (_, i) => t(`folder:f${chunk * 100 + i}`, 'viewer', 'user:anne'));
      await service.write(storeId, { writes: { tuple_keys: tuples } });
      const parents = Array.from({ length: 100 }, (_, i) =>
        t(`document:d${chunk * 100 + i}`, 'parent', `folder:f${chunk * 100 + i}`),
      );
      await service.write(storeId, { writes: { tuple_keys: parents } });
    }
    const { objects } = (await service.listObjects(storeId, {
      type: 'document',
      relation: 'viewer',
      user: 'user:anne',
    })) as {
      objects: string[];
    };
    expect(objects.length).toBeLessThan(2000);
  });

  it('lists users, usersets and wildcards', async () => {
    const { storeId } = await storeWithModel();
    await service.write(storeId, {
      writes: {
        tuple_keys: [
          t('document:1', 'viewer', 'user:anne'),
          t('document:1', 'viewer', 'user:*'),
          t('document:1', 'editor', 'group:eng#member'),
          t('group:eng', 'member', 'user:bob'),
        ],
      },
    });
    const users = (await service.listUsers(storeId, {
      object: { type: 'document', id: '1' },
      relation: 'viewer',
      user_filters: [{ type: 'user' }],
    })) as { users: unknown[] };
    expect(users.users).toEqual(
      expect.arrayContaining([
        { wildcard: { type: 'user' } },
        { object: { type: 'user', id: 'anne' } },
        { object: { type: 'user', id: 'bob' } },
      ]),
    );
    const sets = (await service.listUsers(storeId, {
      object: { type: 'document', id: '1' },
      relation: 'editor',
      user_filters: [{ type: 'group', relation: 'member' }],
    })) as { users: unknown[] };
    expect(sets.users).toEqual([{ userset: { type: 'group', id: 'eng', relation: 'member' } }]);
    expect(
      await code(
        service.listUsers(storeId, { object: { type: 'document', id: '1' }, relation: 'viewer', user_filters: [] }),
      ),
    ).toBe('validation_error');
  });
});

describe('assertions', () => {
  it('writes and reads a model assertions', async () => {
    const { storeId, modelId } = await storeWithModel();
    const assertions = [{ tuple_key: t('document:1', 'viewer', 'user:anne'), expectation: true }];
    await service.writeAssertions(storeId, modelId, { assertions });
    expect(await service.readAssertions(storeId, modelId)).toEqual({ authorization_model_id: modelId, assertions });
    expect(
      await code(
        service.writeAssertions(storeId, modelId, {
          assertions: [{ tuple_key: t('document:1', 'nope', 'user:anne'), expectation: true }],
        }),
      ),
    ).toBe('validation_error');
    expect(await code(service.readAssertions(storeId, '01ARZ3NDEKTSV4RRFFQ69G5FAV'))).toBe(
      'authorization_model_not_found',
    );
    const many = Array.from({ length: 101 }, () => assertions[0]);
    expect(await code(service.writeAssertions(storeId, modelId, { assertions: many }))).toBe(
      'assertions_too_many_items',
    );
  });
});

describe('cancellation', () => {
  it('honours an aborted signal', async () => {
    const { storeId } = await storeWithModel();
    const controller = new AbortController();
    controller.abort();
    await expect(
      service.check(storeId, { tuple_key: t('document:1', 'viewer', 'user:anne') }, { signal: controller.signal }),
    ).rejects.toThrow();
  });
});

describe('hostile bodies', () => {
  const nested = (depth: number, leaf: unknown, wrap: (inner: unknown) => unknown) => {
    let v = leaf;
    for (let i = 0; i < depth; i++) v = wrap(v);
    return v;
  };

  it('refuses bodies nested past the bound with validation_error, before walking them', async () => {
    const { storeId } = await storeWithModel();
    const deepRewrite = nested(20_000, { computedUserset: { relation: 'a' } }, (u) => ({
      union: { child: [u, { this: {} }] },
    }));
    const model = {
      schema_version: '1.1',
      type_definitions: [
        { type: 'user' },
        {
          type: 'doc',
          relations: { a: { this: {} }, b: deepRewrite },
          metadata: { relations: { a: { directly_related_user_types: [{ type: 'user' }] } } },
        },
      ],
    };
    expect(await code(service.writeAuthorizationModel(storeId, model))).toBe('validation_error');
    const context = nested(20_000, 1, (v) => ({ x: v }));
    const check = { tuple_key: t('document:1', 'viewer', 'user:anne'), context };
    expect(await code(service.check(storeId, check))).toBe('validation_error');
    const write = {
      writes: { tuple_keys: [{ ...t('document:1', 'gated', 'user:anne'), condition: { name: 'small', context } }] },
    };
    expect(await code(service.write(storeId, write))).toBe('validation_error');
    // Realistic nesting is untouched: a context a few levels deep still checks.
    const shallow = { tuple_key: t('document:1', 'viewer', 'user:anne'), context: nested(10, 1, (v) => ({ x: v })) };
    expect(await service.check(storeId, shallow)).toEqual({ allowed: false, resolution: '' });
  });
});
