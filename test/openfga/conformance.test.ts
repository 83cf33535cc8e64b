/**
 * OpenFGA conformance: OpenFGA's own test cases (../shared/conformance/openfga/*.yaml, see NOTICE.md
 * there) run against the real server (`pemba serve --openfga-enabled`) through the unmodified
 * `@openfga/sdk`, as a user would call it, on the memory and SQLite datastores.
 *
 * As OpenFGA's harness does: a store per case; per stage, the model (DSL → JSON with
 * @openfga/syntax-transformer) written with writeAuthorizationModel and the tuples written (in
 * chunks of 100); then every check, list-objects (also streamed) and list-users assertion compared
 * (`expectation`, or `errorCode`, OpenFGA's numeric code, which the SDK's error names in
 * `apiErrorCode`); every object a list-objects answers and every user a list-users answers is checked
 * too. Each single-stage case with at most 100 tuples runs once more (`_ctxTuples`) with the tuples
 * sent as contextual tuples instead of written. A case reports every mismatch it found, not only the first.
 *
 * PEMBA_OPENFGA_CONFORMANCE_DIR: the folder of case files (*.yaml) to run instead of the default
 * test/fixtures/openfga-conformance (the repository's copy of ../shared/conformance/openfga; e.g. a
 * local copy of OpenFGA's complete assets/tests files). See conformance-cases.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialsMethod, OpenFgaClient } from '@openfga/sdk';
import type { TupleKey as ClientTupleKey, User } from '@openfga/sdk';
import { transformer } from '@openfga/syntax-transformer';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENFGA_ERROR_CODES } from '../../src/openfga/errors.js';
import { resolveServeConfig } from '../../src/server/config.js';
import type { RawFlags } from '../../src/server/config.js';
import { startServer } from '../../src/server/server.js';
import type { RunningServer } from '../../src/server/server.js';
import { loadCases, type Case, type CheckAssertion, type Tuple } from './conformance-cases.js';

const KEY = 'openfga-conformance-key';
/** OpenFGA's limit on the tuples of one write and on contextual tuples. */
const CHUNK = 100;
const CASE_TIMEOUT_MS = 120_000;

/** OpenFGA's numeric error codes by number → name (what the SDK's error carries in apiErrorCode). */
const ERROR_NAMES = new Map<number, string>(
  Object.entries(OPENFGA_ERROR_CODES).map(([name, [numeric]]) => [numeric, name]),
);

const errorName = (code: number) => ERROR_NAMES.get(code) ?? `unknown error code ${code}`;

/** What a failed SDK call tells: OpenFGA's error code name (or what went wrong instead). */
function describeError(e: unknown): { code?: string; text: string } {
  const err = e as { apiErrorCode?: string; statusCode?: number; message?: string };
  return {
    code: err?.apiErrorCode,
    text: `${err?.statusCode ?? ''} ${err?.apiErrorCode ?? ''} ${err?.message ?? String(e)}`.trim(),
  };
}

const userString = (u: User): string =>
  u.object
    ? `${u.object.type}:${u.object.id}`
    : u.userset
      ? `${u.userset.type}:${u.userset.id}#${u.userset.relation}`
      : u.wildcard
        ? `${u.wildcard.type}:*`
        : JSON.stringify(u);

const sorted = (xs: readonly string[]) => [...xs].sort();
const sameSet = (a: readonly string[], b: readonly string[]) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

const tupleKey = (t: Tuple): ClientTupleKey => ({
  user: t.user,
  relation: t.relation,
  object: t.object,
  ...(t.condition ? { condition: { name: t.condition.name, context: t.condition.context ?? {} } } : {}),
});

interface Backend {
  name: string;
  flags: () => RawFlags;
  cleanup?: () => void;
}

let sqliteDir: string | undefined;
const BACKENDS: Backend[] = [
  { name: 'memory', flags: () => ({ datastoreEngine: 'memory' }) },
  {
    name: 'sqlite',
    flags: () => {
      sqliteDir = mkdtempSync(join(tmpdir(), 'pemba-openfga-conformance-'));
      return { datastoreEngine: 'sqlite', datastoreConnUri: join(sqliteDir, 'pemba.db') };
    },
    cleanup: () => sqliteDir && rmSync(sqliteDir, { recursive: true, force: true }),
  },
];

const CASES = loadCases();

for (const backend of BACKENDS) {
  describe.concurrent(`OpenFGA conformance (${backend.name})`, () => {
    let server: RunningServer;
    let apiUrl: string;

    beforeAll(async () => {
      const config = resolveServeConfig({
        grpcPresharedKey: [KEY],
        grpcAddr: '127.0.0.1:0',
        openfgaEnabled: 'true',
        openfgaHttpAddr: '127.0.0.1:0',
        // As OpenFGA's own harness: no list deadlines (a loaded machine would cut the answers short).
        openfgaListObjectsDeadline: '0',
        openfgaListUsersDeadline: '0',
        ...backend.flags(),
      });
      server = await startServer(config, { logger: pino({ level: process.env.PEMBA_TEST_LOG ?? 'silent' }) });
      apiUrl = `http://127.0.0.1:${server.openfgaAddr!.port}`;
    }, 60_000);

    afterAll(async () => {
      await server?.close();
      backend.cleanup?.();
    });

    for (const c of CASES) {
      it(
        `${c.name}`,
        async () => {
          expect(await runCase(apiUrl, c, false)).toEqual([]);
        },
        CASE_TIMEOUT_MS,
      );
      const single = c.stages.length === 1 && (c.stages[0].tuples ?? []).length <= CHUNK;
      if (single) {
        it(
          `${c.name}_ctxTuples`,
          async () => {
            expect(await runCase(apiUrl, c, true)).toEqual([]);
          },
          CASE_TIMEOUT_MS,
        );
      }
    }
  });
}

/** Runs one case; returns its mismatches (empty: it passed). */
async function runCase(apiUrl: string, c: Case, contextual: boolean): Promise<string[]> {
  const problems: string[] = [];
  const admin = client(apiUrl);
  const store = await admin.createStore({ name: storeName(contextual ? `${c.name}_ctxTuples` : c.name) });
  const fga = client(apiUrl, store.id);

  for (const [stageNumber, stage] of c.stages.entries()) {
    const where = (what: string) =>
      `${c.file}: ${c.name}${contextual ? '_ctxTuples' : ''} stage ${stageNumber}: ${what}`;
    const model = transformer.transformDSLToJSONObject(stage.model);
    let modelId: string;
    try {
      modelId = (await fga.writeAuthorizationModel(model as Parameters<OpenFgaClient['writeAuthorizationModel']>[0]))
        .authorization_model_id;
    } catch (e) {
      problems.push(where(`writeAuthorizationModel failed: ${describeError(e).text}`));
      return problems;
    }
    const options = { authorizationModelId: modelId };
    const tuples = (stage.tuples ?? []).map(tupleKey);
    if (!contextual) {
      for (let i = 0; i < tuples.length; i += CHUNK) {
        try {
          await fga.write({ writes: tuples.slice(i, i + CHUNK) }, options);
        } catch (e) {
          problems.push(where(`write of tuples ${i}..${i + CHUNK} failed: ${describeError(e).text}`));
          return problems;
        }
      }
    }
    const contextualTuples = (assertionTuples: Tuple[] | undefined) => [
      ...(assertionTuples ?? []).map(tupleKey),
      ...(contextual ? tuples : []),
    ];

    /** An assertion expecting an error: the call must fail with that OpenFGA code. */
    const expectError = async (label: string, expected: number, run: () => Promise<unknown>) => {
      try {
        const answer = await run();
        problems.push(
          where(`${label}: expected error ${errorName(expected)} (${expected}), got ${JSON.stringify(answer)}`),
        );
      } catch (e) {
        const { code, text } = describeError(e);
        if (code !== errorName(expected))
          problems.push(where(`${label}: expected error ${errorName(expected)} (${expected}), got ${text}`));
      }
    };

    const check = async (
      tuple: CheckAssertion['tuple'],
      context: Record<string, unknown> | undefined,
      ctx: ClientTupleKey[],
    ) => (await fga.check({ ...tuple, context, contextualTuples: ctx }, options)).allowed;

    for (const a of stage.checkAssertions ?? []) {
      const ctx = contextualTuples(a.contextualTuples);
      const label = `check ${a.tuple.object}#${a.tuple.relation}@${a.tuple.user}${a.context ? ` context ${JSON.stringify(a.context)}` : ''}`;
      if (a.errorCode) {
        await expectError(label, a.errorCode, () => check(a.tuple, a.context, ctx));
        continue;
      }
      try {
        const allowed = await check(a.tuple, a.context, ctx);
        if (allowed !== (a.expectation ?? false))
          problems.push(where(`${label}: expected ${a.expectation ?? false}, got ${allowed}`));
      } catch (e) {
        problems.push(where(`${label}: failed: ${describeError(e).text}`));
      }
    }

    for (const a of stage.listObjectsAssertions ?? []) {
      const ctx = contextualTuples(a.contextualTuples);
      const body = { ...a.request, context: a.context, contextualTuples: ctx };
      const label = `listObjects ${a.request.type}#${a.request.relation}@${a.request.user}${a.context ? ` context ${JSON.stringify(a.context)}` : ''}`;
      const streamed = async () => {
        const objects: string[] = [];
        for await (const item of fga.streamedListObjects(body, options)) objects.push(item.object);
        return objects;
      };
      if (a.errorCode) {
        await expectError(label, a.errorCode, async () => (await fga.listObjects(body, options)).objects);
        // The stream's error carries no code the SDK exposes before it begins: it must fail, that is all.
        try {
          const objects = await streamed();
          problems.push(
            where(`streamed ${label}: expected error ${errorName(a.errorCode)}, got ${JSON.stringify(objects)}`),
          );
        } catch {
          // expected
        }
        continue;
      }
      const expected = a.expectation ?? [];
      let objects: string[];
      try {
        objects = (await fga.listObjects(body, options)).objects;
      } catch (e) {
        problems.push(where(`${label}: failed: ${describeError(e).text}`));
        continue;
      }
      if (!sameSet(objects, expected))
        problems.push(
          where(`${label}: expected ${JSON.stringify(sorted(expected))}, got ${JSON.stringify(sorted(objects))}`),
        );
      try {
        const streamedObjects = await streamed();
        if (!sameSet(streamedObjects, expected))
          problems.push(
            where(
              `streamed ${label}: expected ${JSON.stringify(sorted(expected))}, got ${JSON.stringify(sorted(streamedObjects))}`,
            ),
          );
      } catch (e) {
        problems.push(where(`streamed ${label}: failed: ${describeError(e).text}`));
      }
      for (const object of objects) {
        try {
          const allowed = await check({ user: a.request.user, relation: a.request.relation, object }, a.context, ctx);
          if (!allowed) problems.push(where(`${label}: listed ${object}, but its check is false`));
        } catch (e) {
          problems.push(where(`${label}: check of listed ${object} failed: ${describeError(e).text}`));
        }
      }
    }

    for (const a of stage.listUsersAssertions ?? []) {
      const ctx = contextualTuples(a.contextualTuples);
      const userFilters = a.request.filters.map((f) => {
        const [type, relation] = f.split('#');
        return relation ? { type, relation } : { type };
      });
      const body = {
        object: { type: a.request.object.split(':')[0], id: a.request.object.slice(a.request.object.indexOf(':') + 1) },
        relation: a.request.relation,
        user_filters: userFilters,
        context: a.context,
        contextualTuples: ctx,
      };
      const label = `listUsers ${a.request.object}#${a.request.relation} filters ${a.request.filters.join(',')}${a.context ? ` context ${JSON.stringify(a.context)}` : ''}`;
      if (a.errorCode) {
        await expectError(label, a.errorCode, async () => (await fga.listUsers(body, options)).users);
        continue;
      }
      const expected = a.expectation ?? [];
      let users: string[];
      try {
        users = (await fga.listUsers(body, options)).users.map(userString);
      } catch (e) {
        problems.push(where(`${label}: failed: ${describeError(e).text}`));
        continue;
      }
      if (!sameSet(users, expected))
        problems.push(
          where(`${label}: expected ${JSON.stringify(sorted(expected))}, got ${JSON.stringify(sorted(users))}`),
        );
      for (const user of users) {
        try {
          const allowed = await check({ user, relation: a.request.relation, object: a.request.object }, a.context, ctx);
          if (!allowed) problems.push(where(`${label}: listed ${user}, but its check is false`));
        } catch (e) {
          problems.push(where(`${label}: check of listed ${user} failed: ${describeError(e).text}`));
        }
      }
    }
  }
  return problems;
}

/** A valid store name (OpenFGA's pattern: 3 to 64 of `\w \s . / _ -`) from a case name. */
function storeName(name: string): string {
  const clean = name.replace(/[^\w\s./-]/g, '_');
  return clean.length > 64 ? clean.slice(0, 64) : clean.padEnd(3, '_');
}

function client(apiUrl: string, storeId?: string): OpenFgaClient {
  return new OpenFgaClient({
    apiUrl,
    ...(storeId ? { storeId } : {}),
    credentials: { method: CredentialsMethod.ApiToken, config: { token: KEY } },
    // An answer is compared as given: no retries of 5xx.
    retryParams: { maxRetry: 0 },
  });
}
