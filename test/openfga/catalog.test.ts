/**
 * The OpenFGA catalog on every backend (one suite, run against memory, a SQLite file and a
 * PostgreSQL schema), and what only the durable ones promise: two nodes over one file or database
 * see each other's writes at once, and a reopened SQLite file keeps everything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Datastore } from '../../src/datastore/datastore.js';
import { openDatastore } from '../../src/datastore/factory.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import { instrumentDatastore } from '../../src/observability/instrumented-datastore.js';
import type { Catalog } from '../../src/openfga/catalog/index.js';
import { openCatalog } from '../../src/openfga/catalog/index.js';
import { MemoryCatalog } from '../../src/openfga/catalog/memory-catalog.js';
import { PostgresCatalog } from '../../src/openfga/catalog/postgres-catalog.js';
import { SqliteCatalog } from '../../src/openfga/catalog/sqlite-catalog.js';
import type { AuthorizationModel } from '../../src/openfga/model/types.js';
import type { Backend } from '../datastore/chosen-backends.js';
import { describeBackend, itBackend } from '../datastore/chosen-backends.js';
import { useTestPostgres } from '../datastore/postgres-harness.js';

const postgres = useTestPostgres();
const dir = mkdtempSync(join(tmpdir(), 'pemba-catalog-'));
let files = 0;
const freshPath = () => join(dir, `${files++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Datastores as the server opens them (behind the mirror, for the durable ones). */
async function openBackend(backend: Backend, where?: string): Promise<Datastore> {
  switch (backend) {
    case 'memory':
      return openMemoryDatastore();
    case 'sqlite':
      return openDatastore({ engine: 'sqlite', connUri: where ?? freshPath(), gcIntervalMs: 0 });
    case 'postgres':
      return openDatastore({ engine: 'postgres', connUri: where ?? (await postgres.migratedUri()), gcIntervalMs: 0 });
  }
}

const model = (type: string, extra: Partial<AuthorizationModel> = {}): AuthorizationModel => ({
  schema_version: '1.1',
  type_definitions: [{ type: 'user' }, { type, relations: { viewer: { this: {} } } }],
  ...extra,
});

async function notFound(p: Promise<unknown>): Promise<void> {
  const e = await p.then(
    () => new Error('expected NOT_FOUND, but it succeeded'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PembaError);
  expect((e as PembaError).code).toBe('NOT_FOUND');
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const KINDS = { memory: MemoryCatalog, sqlite: SqliteCatalog, postgres: PostgresCatalog } as const;

for (const backend of ['memory', 'sqlite', 'postgres'] as const) {
  describeBackend(backend, `OpenFGA catalog: ${backend}`, () => {
    let datastore: Datastore;
    let catalog: Catalog;
    beforeEach(async () => {
      datastore = await openBackend(backend);
      catalog = await openCatalog(datastore);
    });
    afterEach(async () => {
      await catalog.close();
      await datastore.close();
    });

    it('is the backend’s own catalog, under the datastore’s wrappers', async () => {
      expect(catalog).toBeInstanceOf(KINDS[backend]);
      expect(await openCatalog(instrumentDatastore(datastore))).toBeInstanceOf(KINDS[backend]);
    });

    it('creates, gets and deletes stores', async () => {
      const before = Date.now();
      const s = await catalog.createStore('first');
      expect(s.id).toMatch(ULID);
      expect(s.name).toBe('first');
      expect(s.createdAt.getTime()).toBeGreaterThanOrEqual(before);
      expect(s.updatedAt.getTime()).toBe(s.createdAt.getTime());
      expect(await catalog.getStore(s.id)).toEqual(s);
      expect(await catalog.getStore('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBeUndefined();
      expect(await catalog.deleteStore(s.id)).toBe(true);
      expect(await catalog.getStore(s.id)).toBeUndefined();
      expect(await catalog.deleteStore(s.id)).toBe(false);
      expect(await catalog.deleteStore('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(false);
      expect(await catalog.listStores({ limit: 10 })).toEqual([]);
    });

    it('lists live stores in id order, a page at a time, optionally by exact name', async () => {
      const stores = [];
      for (const name of ['a', 'b', 'a', 'c', 'a', 'A']) stores.push(await catalog.createStore(name));
      const ids = stores.map((s) => s.id);
      expect([...ids].sort()).toEqual(ids);
      expect(await catalog.listStores({ limit: 100 })).toEqual(stores);
      // Paging: every store once, in order.
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await catalog.listStores({ limit: 4, ...(after !== undefined && { after }) });
        seen.push(...page.map((s) => s.id));
        if (page.length < 4) break;
        after = page[page.length - 1].id;
      }
      expect(seen).toEqual(ids);
      expect((await catalog.listStores({ limit: 10, name: 'a' })).map((s) => s.id)).toEqual([ids[0], ids[2], ids[4]]);
      expect((await catalog.listStores({ limit: 1, name: 'a', after: ids[0] })).map((s) => s.id)).toEqual([ids[2]]);
      expect(await catalog.listStores({ limit: 10, name: 'missing' })).toEqual([]);
      // A deleted store is listed no more.
      await catalog.deleteStore(ids[2]);
      expect((await catalog.listStores({ limit: 10, name: 'a' })).map((s) => s.id)).toEqual([ids[0], ids[4]]);
      expect((await catalog.listStores({ limit: 100 })).map((s) => s.id)).toEqual(ids.filter((_, i) => i !== 2));
    });

    it('writes models with increasing ids; lists them newest first; the latest is the last written', async () => {
      const s = await catalog.createStore('s');
      const other = await catalog.createStore('other');
      expect(await catalog.latestModel(s.id)).toBeUndefined();
      expect(await catalog.listModels(s.id, { limit: 10 })).toEqual([]);
      const written = [];
      for (let i = 0; i < 5; i++) written.push(await catalog.writeModel(s.id, model(`doc${i}`)));
      await catalog.writeModel(other.id, model('elsewhere'));
      const ids = written.map((m) => m.id);
      expect([...ids].sort()).toEqual(ids);
      expect(new Set(ids).size).toBe(5);
      for (const m of written) {
        expect(m.id).toMatch(ULID);
        expect(m.storeId).toBe(s.id);
      }
      expect(written[2].model).toEqual(model('doc2'));
      expect(await catalog.latestModel(s.id)).toEqual(written[4]);
      expect(await catalog.getModel(s.id, ids[1])).toEqual(written[1]);
      expect(await catalog.getModel(other.id, ids[1])).toBeUndefined();
      expect(await catalog.getModel(s.id, '01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBeUndefined();
      const newestFirst = [...written].reverse();
      expect(await catalog.listModels(s.id, { limit: 10 })).toEqual(newestFirst);
      const first = await catalog.listModels(s.id, { limit: 2 });
      expect(first).toEqual(newestFirst.slice(0, 2));
      expect(await catalog.listModels(s.id, { limit: 2, after: first[1].id })).toEqual(newestFirst.slice(2, 4));
      expect(await catalog.listModels(s.id, { limit: 2, after: ids[0] })).toEqual([]);
      expect(await catalog.listModels('01ARZ3NDEKTSV4RRFFQ69G5FAV', { limit: 2 })).toEqual([]);
    });

    it('keeps a model as written, without its id, unchanged by later edits of the object written', async () => {
      const s = await catalog.createStore('s');
      const written = model('doc', {
        id: 'ignored',
        conditions: { c: { name: 'c', expression: 'x < 1', parameters: { x: { type_name: 'TYPE_NAME_INT' } } } },
      });
      const m = await catalog.writeModel(s.id, written);
      expect(m.id).not.toBe('ignored');
      written.type_definitions.push({ type: 'late' });
      const { id: _ignored, ...asWritten } = model('doc', {
        conditions: { c: { name: 'c', expression: 'x < 1', parameters: { x: { type_name: 'TYPE_NAME_INT' } } } },
      });
      expect((await catalog.getModel(s.id, m.id))!.model).toEqual(asWritten);
      expect((await catalog.latestModel(s.id))!.model).not.toHaveProperty('id');
    });

    it('refuses models and assertions for unknown or deleted stores and unknown models', async () => {
      await notFound(catalog.writeModel('01ARZ3NDEKTSV4RRFFQ69G5FAV', model('doc')));
      const s = await catalog.createStore('s');
      const m = await catalog.writeModel(s.id, model('doc'));
      await notFound(catalog.writeAssertions(s.id, '01ARZ3NDEKTSV4RRFFQ69G5FAV', []));
      await catalog.deleteStore(s.id);
      await notFound(catalog.writeModel(s.id, model('doc')));
      await notFound(catalog.writeAssertions(s.id, m.id, []));
      expect(await catalog.getModel(s.id, m.id)).toBeUndefined();
      expect(await catalog.latestModel(s.id)).toBeUndefined();
      expect(await catalog.listModels(s.id, { limit: 10 })).toEqual([]);
      expect(await catalog.readAssertions(s.id, m.id)).toEqual([]);
    });

    it('round-trips assertions per model, replacing them on each write', async () => {
      const s = await catalog.createStore('s');
      const m1 = await catalog.writeModel(s.id, model('doc'));
      const m2 = await catalog.writeModel(s.id, model('doc'));
      expect(await catalog.readAssertions(s.id, m1.id)).toEqual([]);
      const assertions = [
        { tuple_key: { object: 'doc:1', relation: 'viewer', user: 'user:ann' }, expectation: true },
        { tuple_key: { object: 'doc:2', relation: 'viewer', user: 'user:bob' }, expectation: false, context: { x: 1 } },
      ];
      await catalog.writeAssertions(s.id, m1.id, assertions);
      expect(await catalog.readAssertions(s.id, m1.id)).toEqual(assertions);
      expect(await catalog.readAssertions(s.id, m2.id)).toEqual([]);
      await catalog.writeAssertions(s.id, m1.id, [assertions[1]]);
      expect(await catalog.readAssertions(s.id, m1.id)).toEqual([assertions[1]]);
      await catalog.writeAssertions(s.id, m1.id, []);
      expect(await catalog.readAssertions(s.id, m1.id)).toEqual([]);
    });

    it('every catalog over one datastore sees the same stores', async () => {
      const again = await openCatalog(datastore);
      const s = await catalog.createStore('shared');
      const m = await again.writeModel(s.id, model('doc'));
      expect(await again.getStore(s.id)).toEqual(s);
      expect(await catalog.latestModel(s.id)).toEqual(m);
      await again.close();
    });
  });
}

describe('OpenFGA catalog: two nodes over one database', () => {
  const twoNodes = async (backend: 'sqlite' | 'postgres') => {
    const where = backend === 'sqlite' ? freshPath() : await postgres.migratedUri();
    const a = await openBackend(backend, where);
    const b = await openBackend(backend, where);
    return { a, b, ca: await openCatalog(a), cb: await openCatalog(b) };
  };

  for (const backend of ['sqlite', 'postgres'] as const) {
    itBackend(backend, `${backend}: each node sees the other's stores, models and assertions at once`, async () => {
      const { a, b, ca, cb } = await twoNodes(backend);
      try {
        const s = await ca.createStore('fleet');
        expect(await cb.getStore(s.id)).toEqual(s);
        expect(await cb.latestModel(s.id)).toBeUndefined();
        const m1 = await ca.writeModel(s.id, model('doc'));
        expect(await cb.latestModel(s.id)).toEqual(m1);
        const m2 = await cb.writeModel(s.id, model('folder'));
        expect(m2.id > m1.id).toBe(true);
        expect(await ca.latestModel(s.id)).toEqual(m2);
        expect((await ca.listModels(s.id, { limit: 10 })).map((m) => m.id)).toEqual([m2.id, m1.id]);
        await cb.writeAssertions(s.id, m1.id, [{ x: 1 }]);
        expect(await ca.readAssertions(s.id, m1.id)).toEqual([{ x: 1 }]);
        // A model one node has cached is gone for it too once the other deletes its store.
        expect(await ca.getModel(s.id, m1.id)).toEqual(m1);
        expect(await cb.deleteStore(s.id)).toBe(true);
        expect(await ca.getStore(s.id)).toBeUndefined();
        expect(await ca.getModel(s.id, m1.id)).toBeUndefined();
        expect(await ca.latestModel(s.id)).toBeUndefined();
        expect(await ca.deleteStore(s.id)).toBe(false);
        await notFound(ca.writeModel(s.id, model('doc')));
      } finally {
        await Promise.all([ca.close(), cb.close()]);
        await Promise.all([a.close(), b.close()]);
      }
    });

    itBackend(backend, `${backend}: concurrent model writes from two nodes get distinct, increasing ids`, async () => {
      const { a, b, ca, cb } = await twoNodes(backend);
      try {
        const s = await ca.createStore('race');
        const written = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 ? ca : cb).writeModel(s.id, model(`t${i}`))),
        );
        const ids = written.map((m) => m.id);
        expect(new Set(ids).size).toBe(10);
        const listed = (await ca.listModels(s.id, { limit: 20 })).map((m) => m.id);
        expect(listed).toEqual([...ids].sort().reverse());
        expect((await cb.latestModel(s.id))!.id).toBe(listed[0]);
      } finally {
        await Promise.all([ca.close(), cb.close()]);
        await Promise.all([a.close(), b.close()]);
      }
    });
  }

  itBackend('sqlite', 'sqlite: a reopened file keeps its stores, models and assertions', async () => {
    const path = freshPath();
    let datastore = await openBackend('sqlite', path);
    let catalog = await openCatalog(datastore);
    const kept = await catalog.createStore('kept');
    const gone = await catalog.createStore('gone');
    const m = await catalog.writeModel(kept.id, model('doc'));
    await catalog.writeAssertions(kept.id, m.id, [{ a: 1 }]);
    await catalog.deleteStore(gone.id);
    await catalog.close();
    await datastore.close();

    datastore = await openBackend('sqlite', path);
    catalog = await openCatalog(datastore);
    try {
      expect(await catalog.listStores({ limit: 10 })).toEqual([kept]);
      expect(await catalog.latestModel(kept.id)).toEqual(m);
      expect(await catalog.readAssertions(kept.id, m.id)).toEqual([{ a: 1 }]);
      // New ids still sort after the old ones.
      expect((await catalog.writeModel(kept.id, model('doc'))).id > m.id).toBe(true);
    } finally {
      await catalog.close();
      await datastore.close();
    }
  });

  it('memory: catalogs of different datastores are apart', async () => {
    const one = await openCatalog(openMemoryDatastore());
    const two = await openCatalog(openMemoryDatastore());
    const s = await one.createStore('s');
    expect(await two.getStore(s.id)).toBeUndefined();
  });
});
