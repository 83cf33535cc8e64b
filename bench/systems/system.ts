/**
 * One system under test behind a neutral interface, so every workload runs unchanged against
 * Pemba in-process, Pemba's gRPC server and SpiceDB. Queries are read at least as fresh as the
 * system's last write (the ZedToken a real client would carry), never fully consistent, so
 * caches keyed by revision can work as they would in production.
 */
import type { Relationship } from '../../src/relationships/relationship.js';
import type { CheckQuery, LookupResourcesQuery, LookupSubjectsQuery } from '../datasets/dataset.js';

export type SystemName = 'pemba' | 'pemba-sqlite' | 'pemba-grpc' | 'spicedb';

export const SYSTEM_NAMES: SystemName[] = ['pemba', 'pemba-sqlite', 'pemba-grpc', 'spicedb'];

export const SYSTEM_TITLES: Record<SystemName, string> = {
  pemba: 'Pemba in-process',
  'pemba-sqlite': 'Pemba in-process, SQLite',
  'pemba-grpc': 'Pemba gRPC',
  spicedb: 'SpiceDB',
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
