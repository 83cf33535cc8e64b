/**
 * The settings every backend takes alike (clock, quantization and GC windows, GC interval), their
 * defaults and validation, and what a garbage collection reports. A backend reads them once, when
 * it opens: a negative or non-finite window is refused there with INVALID_ARGUMENT.
 */
import { invalidArgument } from '../../errors/index.js';
import type { Revision } from '../datastore.js';

export const DEFAULT_QUANTIZATION_MS = 5_000;
export const DEFAULT_GC_WINDOW_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_GC_INTERVAL_MS = 3 * 60 * 1000;

/** What every backend's options have. */
export interface DatastoreOptions {
  /** Width in ms of the window optimizedRevision() quantizes to (default 5000); 0 returns head. */
  quantizationMs?: number;
  /** How long in ms a revision stays readable after it was superseded (default 24h). */
  gcWindowMs?: number;
  /** The clock, in epoch ms: commit times, relationship expiration, quantization and GC use it. */
  now?: () => number;
}

/** What the durable backends' options add: they collect garbage in the background themselves. */
export interface DurableDatastoreOptions extends DatastoreOptions {
  /** How often in ms the background garbage collection runs (default 3 min); 0 disables it. */
  gcIntervalMs?: number;
}

/** The options of DatastoreOptions, defaulted and validated. */
export interface DatastoreSettings {
  quantizationMs: number;
  gcWindowMs: number;
  now: () => number;
}

export function datastoreSettings(options: DatastoreOptions): DatastoreSettings {
  return {
    quantizationMs: nonNegative('quantizationMs', options.quantizationMs ?? DEFAULT_QUANTIZATION_MS),
    gcWindowMs: nonNegative('gcWindowMs', options.gcWindowMs ?? DEFAULT_GC_WINDOW_MS),
    now: options.now ?? Date.now,
  };
}

/** The options of DurableDatastoreOptions, defaulted and validated. */
export interface DurableDatastoreSettings extends DatastoreSettings {
  gcIntervalMs: number;
}

export function durableDatastoreSettings(options: DurableDatastoreOptions): DurableDatastoreSettings {
  return {
    ...datastoreSettings(options),
    gcIntervalMs: nonNegative('gcIntervalMs', options.gcIntervalMs ?? DEFAULT_GC_INTERVAL_MS),
  };
}

export interface GcResult {
  /** The oldest revision still readable. */
  oldestReadable: Revision;
  /** Row versions dropped. */
  versions: number;
  /** Change-log entries dropped. */
  commits: number;
}

/** `value` if it is a non-negative number of milliseconds; INVALID_ARGUMENT naming the option otherwise. */
export function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw invalidArgument(`${name} must be a non-negative number of milliseconds`);
  return value;
}

/** Refuses a query or delete limit that is not a non-negative integer (absent: no limit). */
export function validateLimit(limit: number | undefined, what: 'query' | 'delete'): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw invalidArgument(`invalid ${what} limit ${limit}: it must be a non-negative integer`);
  }
}
