/**
 * OpenFGA's own test cases (../shared/conformance/openfga/*.yaml, see NOTICE.md there) run in process
 * against the service layer (no HTTP), on the memory, SQLite and PostgreSQL datastores: a store per case; per
 * stage the model (DSL → JSON) and the tuples (in chunks of 100) written, then every check,
 * list-objects and list-users assertion compared (`expectation`, or `errorCode`: the OpenFgaError's
 * numeric code). Each single-stage case with at most 100 tuples runs once more with its tuples sent as
 * contextual tuples instead of written.
 *
 * PEMBA_OPENFGA_CONFORMANCE_DIR: the folder of case files (*.yaml) to run instead of the default
 * test/fixtures/openfga-conformance (the repository's copy of ../shared/conformance/openfga; e.g. a
 * local copy of OpenFGA's complete assets/tests files). See conformance-cases.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformer } from '@openfga/syntax-transformer';
import { afterAll, describe, expect, it } from 'vitest';
import type { Datastore } from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import { isChosen } from '../datastore/chosen-backends.js';
import { useTestPostgres } from '../datastore/postgres-harness.js';
import { Engine } from '../../src/engine/engine.js';
import { openCatalog } from '../../src/openfga/catalog/index.js';
import { OpenFgaError } from '../../src/openfga/errors.js';
import { OpenFgaService } from '../../src/openfga/service.js';
import { loadCases, type Case } from './conformance-cases.js';

const CHUNK = 100;

const cases = loadCases().map((test) => ({ file: test.file, test }));

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const postgres = useTestPostgres();

const backends: { name: string; open: () => Datastore | Promise<Datastore> }[] = [
  { name: 'memory', open: () => openMemoryDatastore() },
  {
    name: 'sqlite',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'pemba-openfga-conf-'));
      dirs.push(dir);
      return openSqliteDatastore(join(dir, 'db.sqlite'), { gcIntervalMs: 0 });
    },
  },
  // Stores, models and tuples in PostgreSQL too (the catalog's tables, the per-store type prefixes).
  ...(isChosen('postgres') ? [{ name: 'postgres', open: () => postgres.open() }] : []),
];

function userString(u: Record<string, unknown>): string {
  if (isRecord(u.object)) return `${String(u.object.type)}:${String(u.object.id)}`;
  if (isRecord(u.userset)) return `${String(u.userset.type)}:${String(u.userset.id)}#${String(u.userset.relation)}`;
  if (isRecord(u.wildcard)) return `${String(u.wildcard.type)}:*`;
  return JSON.stringify(u);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function sorted(list: readonly string[] | null | undefined): string[] {
  return [...(list ?? [])].sort();
}

/** Runs one case; returns every mismatch found. */
async function runCase(service: OpenFgaService, test: Case, contextual: boolean): Promise<string[]> {
  const problems: string[] = [];
  const { id: storeId } = (await service.createStore({ name: 'conformance' })) as { id: string };
  for (const [s, stage] of test.stages.entries()) {
    const model = transformer.transformDSLToJSONObject(stage.model);
    await service.writeAuthorizationModel(storeId, model);
    const tuples = stage.tuples ?? [];
    if (!contextual) {
      for (let i = 0; i < tuples.length; i += CHUNK) {
        await service.write(storeId, { writes: { tuple_keys: tuples.slice(i, i + CHUNK) } });
      }
    }
    const extra = contextual ? tuples : [];
    const outcome = async (what: string, fn: () => Promise<unknown>, errorCode?: number): Promise<unknown> => {
      try {
        const result = await fn();
        if (errorCode !== undefined)
          problems.push(`stage ${s} ${what}: expected error ${errorCode}, got ${JSON.stringify(result)}`);
        return result;
      } catch (error) {
        const code = error instanceof OpenFgaError ? error.numericCode : String(error);
        if (errorCode === undefined || code !== errorCode) {
          problems.push(
            `stage ${s} ${what}: expected ${errorCode ?? 'success'}, got error ${code}: ${(error as Error).message}`,
          );
        }
        return undefined;
      }
    };
    for (const a of stage.checkAssertions ?? []) {
      const what = `check ${a.tuple.object}#${a.tuple.relation}@${a.tuple.user} ${JSON.stringify(a.context ?? {})}`;
      const body = {
        tuple_key: a.tuple,
        contextual_tuples: { tuple_keys: [...(a.contextualTuples ?? []), ...extra] },
        ...(a.context ? { context: a.context } : {}),
      };
      const result = (await outcome(what, () => service.check(storeId, body), a.errorCode)) as
        { allowed: boolean } | undefined;
      if (result && a.errorCode === undefined && result.allowed !== a.expectation) {
        problems.push(`stage ${s} ${what}: expected ${a.expectation}, got ${result.allowed}`);
      }
    }
    for (const a of stage.listObjectsAssertions ?? []) {
      const r = a.request;
      const ctxTuples = [...(a.contextualTuples ?? []), ...extra];
      const context = a.context;
      const what = `list-objects ${r.type}#${r.relation}@${r.user} ${JSON.stringify(context ?? {})}`;
      const body = {
        type: r.type,
        relation: r.relation,
        user: r.user,
        contextual_tuples: { tuple_keys: ctxTuples },
        ...(context ? { context } : {}),
      };
      const result = (await outcome(what, () => service.listObjects(storeId, body), a.errorCode)) as
        { objects: string[] } | undefined;
      if (result && a.errorCode === undefined) {
        const got = sorted(result.objects);
        const want = sorted(a.expectation);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          problems.push(`stage ${s} ${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
        }
      }
    }
    for (const a of stage.listUsersAssertions ?? []) {
      const r = a.request;
      const ctxTuples = [...(a.contextualTuples ?? []), ...extra];
      const context = a.context;
      const [objectType, objectId] = [
        r.object.slice(0, r.object.indexOf(':')),
        r.object.slice(r.object.indexOf(':') + 1),
      ];
      const filter = r.filters[0];
      const hash = filter.indexOf('#');
      const body = {
        object: { type: objectType, id: objectId },
        relation: r.relation,
        user_filters: [hash < 0 ? { type: filter } : { type: filter.slice(0, hash), relation: filter.slice(hash + 1) }],
        contextual_tuples: ctxTuples,
        ...(context ? { context } : {}),
      };
      const what = `list-users ${r.object}#${r.relation} [${filter}] ${JSON.stringify(context ?? {})}`;
      const result = (await outcome(what, () => service.listUsers(storeId, body), a.errorCode)) as
        { users: Record<string, unknown>[] } | undefined;
      if (result && a.errorCode === undefined) {
        const got = sorted(result.users.map(userString));
        const want = sorted(a.expectation);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          problems.push(`stage ${s} ${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
        }
      }
    }
  }
  return problems;
}

for (const backend of backends) {
  describe(`OpenFGA conformance, in process (${backend.name})`, () => {
    let service: OpenFgaService | undefined;
    let datastore: Datastore | undefined;
    let engine: Engine | undefined;
    const open = async () => {
      if (!service) {
        datastore = await backend.open();
        engine = await Engine.open(datastore);
        service = new OpenFgaService({ datastore, engine, catalog: await openCatalog(datastore) });
      }
      return service;
    };
    afterAll(async () => {
      await engine?.close();
      await datastore?.close();
    });
    for (const { file, test } of cases) {
      it(`${file}: ${test.name}`, async () => {
        expect(await runCase(await open(), test, false)).toEqual([]);
      });
      const tuples = test.stages[0]?.tuples?.length ?? 0;
      if (test.stages.length === 1 && tuples <= CHUNK) {
        it(`${file}: ${test.name} (contextual tuples)`, async () => {
          expect(await runCase(await open(), test, true)).toEqual([]);
        });
      }
    }
  });
}
