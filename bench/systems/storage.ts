/**
 * Fresh, throwaway storage for one Pemba system: nothing for memory, a SQLite file in a new
 * temporary directory, or a new PostgreSQL database on the local server (migrated with
 * migrateDatastore, dropped by `cleanup`). Shared by the in-process systems, the gRPC server
 * process and bench/datastores.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatastoreConfig } from '../../src/datastore/factory.js';
import { migrateDatastore } from '../../src/datastore/factory.js';
import { SERVE_FLAGS } from '../../src/server/config.js';
import type { Engine } from './system.js';

/** The PostgreSQL server the benchmark uses: a server URI without a database name. */
export const DEFAULT_POSTGRES_SERVER =
  process.env.PEMBA_BENCH_POSTGRES ?? process.env.PEMBA_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432';

export interface StorageOptions {
  /** Server URI without a database (postgres://user@host:port). */
  postgresServer?: string;
  /**
   * The node-local mirror of the relationships kept from the change feed (src/datastore/mirror/,
   * on by default in Pemba). False turns it off (`mirror: { enabled: false }`).
   */
  mirror?: boolean;
}

export interface BenchStorage {
  engine: Engine;
  /** The SQLite path or the PostgreSQL database URI (undefined for memory). */
  connUri?: string;
  /** Removes the file or drops the database; close every datastore on it first. */
  cleanup(): Promise<void>;
}

/**
 * Whether this build of Pemba has the datastore mirror. The library's DatastoreConfig.mirror and
 * the server's --datastore-mirror-enabled flag come together; the flag is visible at run time.
 */
export const MIRROR_SUPPORTED = SERVE_FLAGS.some((f) => f.name === 'datastore-mirror-enabled');

/** `config` plus the mirror setting: `mirror: { enabled: false }` when it is off, nothing when it is on (Pemba's default). */
export function withMirror(config: DatastoreConfig, mirror = true): DatastoreConfig {
  return mirror ? config : { ...config, mirror: { enabled: false } };
}

export async function openBenchStorage(engine: Engine, options: StorageOptions = {}): Promise<BenchStorage> {
  switch (engine) {
    case 'memory':
      return { engine, cleanup: async () => undefined };
    case 'sqlite': {
      const dir = mkdtempSync(join(tmpdir(), 'pemba-bench-'));
      return {
        engine,
        connUri: join(dir, 'bench.db'),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    }
    case 'postgres':
      return throwawayPostgres(options.postgresServer ?? DEFAULT_POSTGRES_SERVER);
  }
}

async function adminQuery(server: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

async function throwawayPostgres(server: string): Promise<BenchStorage> {
  const name = `pemba_bench_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  await adminQuery(server, `CREATE DATABASE ${name}`);
  const connUri = `${server}/${name}`;
  const cleanup = () => adminQuery(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  try {
    await migrateDatastore({ engine: 'postgres', connUri });
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { engine: 'postgres', connUri, cleanup };
}
