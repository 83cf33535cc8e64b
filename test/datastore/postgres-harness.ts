/**
 * A throwaway PostgreSQL database for one test file: created before its tests, dropped after. Each
 * datastore gets its own schema in it (selected by search_path in the connection URI), so datastores
 * are isolated without a CREATE DATABASE each. PostgreSQL being unreachable fails the tests loudly:
 * they never skip, unless postgres is left out of PEMBA_TEST_BACKENDS (chosen-backends.ts): then no
 * database is made and every test that asks for one is skipped.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openPostgresDatastore } from '../../src/datastore/postgres/datastore.js';
import type { PostgresDatastore, PostgresDatastoreOptions } from '../../src/datastore/postgres/datastore.js';
import { migratePostgres } from '../../src/datastore/postgres/migrations.js';
import { createPool } from '../../src/datastore/postgres/pool.js';
import { isChosen, skipUnlessChosen, TEST_POSTGRES_SERVER as SERVER } from './chosen-backends.js';

export interface TestPostgres {
  /** A URI for `schema` in the throwaway database. */
  uri(schema: string): string;
  /** A new, empty schema. */
  freshSchema(): Promise<string>;
  /** A new schema, migrated. */
  migratedUri(): Promise<string>;
  /** A fresh migrated datastore. */
  open(options?: PostgresDatastoreOptions): Promise<PostgresDatastore>;
  /** A pool on the throwaway database (no search_path), for inspecting and sabotaging. */
  admin(): pg.Pool;
}

/** Call at the top level of a test file (it registers the hooks that create and drop the database). */
export function useTestPostgres(): TestPostgres {
  if (!isChosen('postgres')) return notChosen();
  const database = `pemba_test_${randomBytes(6).toString('hex')}`;
  let admin: pg.Pool | undefined;
  let schemas = 0;

  beforeAll(async () => {
    const server = new pg.Client({ connectionString: `${SERVER}/postgres`, connectionTimeoutMillis: 5000 });
    try {
      await server.connect();
    } catch (e) {
      throw new Error(
        `PostgreSQL is unreachable at ${SERVER} (${(e as Error).message}). The datastore tests need it: start it ` +
          '(`pg_ctlcluster --skip-systemctl-redirect 15 main start`; .ci/run does), set PEMBA_TEST_POSTGRES, ' +
          'or leave postgres out of PEMBA_TEST_BACKENDS (e.g. PEMBA_TEST_BACKENDS=memory,sqlite) to skip its tests.',
      );
    }
    try {
      await server.query(`CREATE DATABASE ${database}`);
    } finally {
      await server.end();
    }
    admin = new pg.Pool({ connectionString: `${SERVER}/${database}`, max: 2 });
    admin.on('error', () => undefined);
  });

  afterAll(async () => {
    await Promise.allSettled(prepared.splice(0));
    await admin?.end();
    const server = new pg.Client({ connectionString: `${SERVER}/postgres` });
    await server.connect();
    try {
      await server.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    } finally {
      await server.end();
    }
  });

  const PREPARED = 4;
  const prepared: Promise<string>[] = [];
  const prepare = async () => {
    const uri = t.uri(await t.freshSchema());
    const pool = createPool(uri);
    try {
      await migratePostgres(pool);
    } finally {
      await pool.end();
    }
    return uri;
  };

  const t: TestPostgres = {
    uri: (schema) => `${SERVER}/${database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async freshSchema() {
      const schema = `ds_${schemas++}`;
      await t.admin().query(`CREATE SCHEMA ${schema}`);
      return schema;
    },
    migratedUri() {
      // Migrating takes ~100 ms of DDL: keep a few schemas in preparation, in parallel.
      const start = () => {
        const p = prepare();
        p.catch(() => undefined); // awaited by whoever takes it; not an unhandled rejection meanwhile
        prepared.push(p);
      };
      while (prepared.length < PREPARED) start();
      const next = prepared.shift()!;
      start();
      return next;
    },
    async open(options = {}) {
      return openPostgresDatastore(await t.migratedUri(), { gcIntervalMs: 0, maxConnections: 4, ...options });
    },
    admin() {
      if (!admin) throw new Error('the throwaway database is not ready');
      return admin;
    },
  };
  return t;
}

/** Postgres not chosen: every use skips the test it is in. */
function notChosen(): TestPostgres {
  const skip = (): never => {
    skipUnlessChosen('postgres');
    throw new Error('unreachable: postgres is not chosen');
  };
  return { uri: skip, freshSchema: skip, migratedUri: skip, open: skip, admin: skip };
}
