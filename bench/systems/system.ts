/**
 * One system under test behind a neutral interface, so every workload runs unchanged against
 * Pemba in-process, Pemba's gRPC server and SpiceDB. Queries are read at least as fresh as the
 * system's last write (the ZedToken a real client would carry), never fully consistent, so
 * caches keyed by revision can work as they would in production.
 */
import { DEFAULT_QUANTIZATION_MS } from '../../src/datastore/common/options.js';
import type { Datastore } from '../../src/datastore/datastore.js';
import type { Mirrored } from '../../src/datastore/mirror/mirrored-datastore.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { CheckQuery, LookupResourcesQuery, LookupSubjectsQuery } from '../datasets/dataset.js';

export type SystemName =
  'pemba' | 'pemba-sqlite' | 'pemba-postgres' | 'pemba-grpc' | 'pemba-grpc-sqlite' | 'pemba-grpc-postgres' | 'spicedb';

export const SYSTEM_NAMES: SystemName[] = [
  'pemba',
  'pemba-sqlite',
  'pemba-postgres',
  'pemba-grpc',
  'pemba-grpc-sqlite',
  'pemba-grpc-postgres',
  'spicedb',
];

export const SYSTEM_TITLES: Record<SystemName, string> = {
  pemba: 'Pemba in-process',
  'pemba-sqlite': 'Pemba in-process, SQLite',
  'pemba-postgres': 'Pemba in-process, PostgreSQL',
  'pemba-grpc': 'Pemba gRPC',
  'pemba-grpc-sqlite': 'Pemba gRPC, SQLite',
  'pemba-grpc-postgres': 'Pemba gRPC, PostgreSQL',
  spicedb: 'SpiceDB',
};

/** The datastore engines Pemba runs on in the benchmark. */
export type Engine = 'memory' | 'sqlite' | 'postgres';

/** How a Pemba system reaches its engine: the library in the benchmark process, or `pemba serve`'s gRPC server. */
export type Path = 'inprocess' | 'grpc';

/** Which Pemba system is which engine over which path (SpiceDB is none). */
export const PEMBA_SYSTEMS: Record<Path, Record<Engine, SystemName>> = {
  inprocess: { memory: 'pemba', sqlite: 'pemba-sqlite', postgres: 'pemba-postgres' },
  grpc: { memory: 'pemba-grpc', sqlite: 'pemba-grpc-sqlite', postgres: 'pemba-grpc-postgres' },
};

export interface System {
  readonly name: SystemName;
  writeSchema(schema: string): Promise<void>;
  /** Loads every relationship the way bulk loading is meant to be done on this system; returns the count. */
  load(batches: Iterable<Relationship[]>): Promise<number>;
  check(q: CheckQuery): Promise<boolean>;
  /** True per item, in order. */
  checkBulk(qs: CheckQuery[]): Promise<boolean[]>;
  /** The number of resources found (every page). */
  lookupResources(q: LookupResourcesQuery): Promise<number>;
  lookupSubjects(q: LookupSubjectsQuery): Promise<number>;
  /** TOUCH one relationship; later reads are at least as fresh as it. */
  touch(r: Relationship): Promise<void>;
  /**
   * A check that may run concurrently with others (used at 64 in flight). For SpiceDB this is not
   * the blocking FFI path: see spicedb.ts.
   */
  concurrentCheck(q: CheckQuery): Promise<boolean>;
  /**
   * After loading: waits until the system is in its steady state for reads of what was loaded (Pemba:
   * the datastore's node-local mirror has applied the load, and minimize_latency reads see it, which
   * a datastore younger than one quantization window cannot yet share). Absent: nothing to wait for.
   */
  settle?(): Promise<void>;
  /** Resident set size of the process that holds the data, in bytes, after a GC where one can be forced. */
  rss(): Promise<number>;
  close(): Promise<void>;
}

/** Forces a full GC when node runs with --expose-gc (the bench children do). */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}

/**
 * Waits (at most `timeoutMs`) until `datastore`'s mirror, if it has one, is live at its head, and
 * then until the next quantization window has begun: before it, the datastore is younger than a
 * window, has no shared minimize_latency revision yet, and reads its head at every call.
 */
export async function settleDatastore(datastore: Datastore, timeoutMs = 30_000): Promise<void> {
  const head = await datastore.headRevision();
  const loaded = Date.now();
  const mirror = (datastore as Partial<Mirrored<Datastore>>).mirrorStats;
  const end = loaded + timeoutMs;
  while (mirror && !(mirror().state === 'live' && mirror().revision >= head)) {
    if (Date.now() > end)
      throw new Error(`the datastore's mirror did not reach revision ${head} within ${timeoutMs} ms`);
    await sleep(50);
  }
  const nextWindow = Math.ceil((loaded + 1) / DEFAULT_QUANTIZATION_MS) * DEFAULT_QUANTIZATION_MS;
  await sleep(Math.max(0, nextWindow + 1 - Date.now()));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
