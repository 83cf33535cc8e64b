/**
 * Opening a datastore by engine name, as the CLI flags `--datastore-engine` / `--datastore-conn-uri`
 * name it: `sqlite` (the embedded default, a file that is created and migrated on open), `postgres`
 * (must be migrated first with `pemba datastore migrate`) or `memory` (tests, throwaway use).
 * Each runs garbage collection in the background until closed.
 */
import { invalidArgument } from '../errors/index.js';
import type { Datastore } from './datastore.js';
import { startGcLoop } from './common/gc-loop.js';
import type { GcResult } from './common/options.js';
import { DEFAULT_GC_INTERVAL_MS } from './common/options.js';
import { MemoryDatastore } from './memory/datastore.js';
import { mirrorDatastore } from './mirror/mirrored-datastore.js';
import type { MirrorOptions } from './mirror/mirrored-datastore.js';
import { DEFAULT_MIRROR_BYTES } from './mirror/relationship-mirror.js';
import type { MemoryDatastoreOptions } from './memory/datastore.js';
import { openPostgresDatastore } from './postgres/datastore.js';
import { migratePostgres, POSTGRES_SCHEMA_VERSION } from './postgres/migrations.js';
import { createPool } from './postgres/pool.js';
import type { PoolOptions } from './postgres/pool.js';
import { openSqliteDatastore } from './sqlite/datastore.js';
import { SQLITE_SCHEMA_VERSION } from './sqlite/migrations.js';

export const DATASTORE_ENGINES = ['memory', 'sqlite', 'postgres'] as const;
export type DatastoreEngine = (typeof DATASTORE_ENGINES)[number];

export const DEFAULT_SQLITE_PATH = './pemba.db';

export interface DatastoreConfig {
  engine: DatastoreEngine | string;
  /** sqlite: a file path (default ./pemba.db); postgres: a postgres:// URI (required); memory: unused. */
  connUri?: string;
  /** How long in ms a revision stays readable after it was superseded (default 24h). */
  gcWindowMs?: number;
  /** Width in ms of the window minimize_latency reads share (default 5000). */
  quantizationMs?: number;
  /** How often in ms garbage collection runs (default 3 min); 0 disables it. */
  gcIntervalMs?: number;
  /** postgres only: URIs of streaming replicas of the database, which snapshot reads are spread to. */
  readReplicaUris?: string[];
  /**
   * postgres only: the connection pool reads use and the writer's (commits and garbage collection),
   * as SpiceDB's --datastore-conn-pool-{read,write}-* size them. Absent: one pool of 10 for both.
   */
  pools?: { read: PoolOptions; write: PoolOptions };
  /**
   * sqlite and postgres: a node-local copy of the relationships, kept from the change feed, that
   * answers snapshot reads from memory (on by default; see mirror/relationship-mirror.ts). When the
   * relationships take more than `maxBytes` (default 1 GiB), reads go to the datastore as without it.
   */
  mirror?: { enabled?: boolean; maxBytes?: number; onBudgetExceeded?: (bytes: number, budget: number) => void };
}

/** A datastore that can also be garbage collected on demand. */
export interface CollectableDatastore extends Datastore {
  gc(nowMs?: number): Promise<GcResult>;
}

export async function openDatastore(config: DatastoreConfig): Promise<CollectableDatastore> {
  const { gcWindowMs, quantizationMs, gcIntervalMs } = config;
  const common = { gcWindowMs, quantizationMs, gcIntervalMs };
  const engine = validateEngine(config.engine);
  const readReplicaUris = config.readReplicaUris ?? [];
  if (readReplicaUris.length > 0 && engine !== 'postgres') {
    throw invalidArgument(`read replicas need the postgres datastore engine (the engine is \`${engine}\`)`);
  }
  const mirror = mirrorSettings(config);
  switch (engine) {
    case 'memory':
      return new CollectedMemoryDatastore({ gcWindowMs, quantizationMs }, gcIntervalMs ?? DEFAULT_GC_INTERVAL_MS);
    case 'sqlite':
      return mirrored(openSqliteDatastore(config.connUri || DEFAULT_SQLITE_PATH, common), mirror);
    case 'postgres':
      return mirrored(
        await openPostgresDatastore(requireUri(config), {
          ...common,
          readReplicaUris,
          ...(config.pools && { ...config.pools.read, writePool: config.pools.write }),
        }),
        mirror,
      );
  }
}

/** How long the mirror keeps superseded versions (never longer than the datastore keeps them). */
const MIRROR_HISTORY_MS = 10_000;

/** The mirror's options, or undefined when it is off; refuses a bad budget before anything is opened. */
function mirrorSettings(config: DatastoreConfig): MirrorOptions | undefined {
  const { enabled = true, maxBytes = DEFAULT_MIRROR_BYTES, onBudgetExceeded } = config.mirror ?? {};
  if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) {
    throw invalidArgument(`the mirror's memory budget must be a non-negative number of bytes (got ${maxBytes})`);
  }
  const historyMs = Math.min(MIRROR_HISTORY_MS, config.gcWindowMs ?? MIRROR_HISTORY_MS);
  return enabled ? { maxBytes, historyMs, ...(onBudgetExceeded && { onBudgetExceeded }) } : undefined;
}

function mirrored(datastore: CollectableDatastore, options: MirrorOptions | undefined): CollectableDatastore {
  return options ? mirrorDatastore(datastore, options) : datastore;
}

export interface MigrateResult {
  engine: DatastoreEngine;
  /** Migration versions before and after (equal when there was nothing to do). */
  from: number;
  to: number;
  datastoreId?: string;
}

/** Create or upgrade the datastore's tables (idempotent). The memory engine has nothing to migrate. */
export async function migrateDatastore(config: Pick<DatastoreConfig, 'engine' | 'connUri'>): Promise<MigrateResult> {
  const engine = validateEngine(config.engine);
  switch (engine) {
    case 'memory':
      return { engine, from: 0, to: 0 };
    case 'sqlite': {
      // Opening a SQLite datastore migrates it.
      const ds = openSqliteDatastore(config.connUri || DEFAULT_SQLITE_PATH, { gcIntervalMs: 0 });
      await ds.close();
      return { engine, ...ds.migration };
    }
    case 'postgres': {
      const pool = createPool(requireUri(config));
      try {
        const result = await migratePostgres(pool);
        return { engine, ...result };
      } finally {
        await pool.end();
      }
    }
  }
}

/**
 * The newest migration this build of Pemba knows for an engine (what `pemba datastore migrate`
 * brings a datastore to), as SpiceDB's `datastore head` names it; the memory engine has none.
 */
export function headMigration(engine: string): number {
  switch (validateEngine(engine)) {
    case 'memory':
      throw invalidArgument('the memory datastore has no migrations: use --datastore-engine sqlite or postgres');
    case 'sqlite':
      return SQLITE_SCHEMA_VERSION;
    case 'postgres':
      return POSTGRES_SCHEMA_VERSION;
  }
}

function validateEngine(engine: string): DatastoreEngine {
  if ((DATASTORE_ENGINES as readonly string[]).includes(engine)) return engine as DatastoreEngine;
  throw invalidArgument(`unknown datastore engine \`${engine}\`: use one of ${DATASTORE_ENGINES.join(', ')}`);
}

function requireUri(config: Pick<DatastoreConfig, 'connUri'>): string {
  if (!config.connUri) {
    throw invalidArgument(
      'the postgres datastore engine needs --datastore-conn-uri, e.g. postgres://user:password@host:5432/database',
    );
  }
  return config.connUri;
}

/** The memory datastore with the background GC loop the durable ones run themselves. */
class CollectedMemoryDatastore extends MemoryDatastore {
  private readonly loop;

  constructor(options: MemoryDatastoreOptions, gcIntervalMs: number) {
    super(options);
    this.loop = startGcLoop(() => this.gc(), gcIntervalMs);
  }

  override async close(): Promise<void> {
    await this.loop.stop();
    await super.close();
  }
}
