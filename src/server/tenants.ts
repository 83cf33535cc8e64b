/**
 * What `pemba serve-testing` keeps per bearer token: the token named from a call's `authorization`
 * value as SpiceDB's testing server names it, a bounded LRU of lazily opened per-token instances,
 * and the `--load-configs` validation files every new instance starts with.
 */
import { resourceExhausted, unavailable } from '../errors/index.js';
import type { Pemba } from '../pemba.js';
import { readValidationFiles, writeValidationData } from './validation-files.js';
import type { ValidationData } from './validation-files.js';

/**
 * The token an `authorization` value selects, as grpc-middleware's AuthFromMD reads it for
 * SpiceDB: `<scheme> <token>` split at the first space, the scheme `bearer` in any case. Anything
 * else (no header, no space, another scheme) is the empty token, which is a token like any other.
 */
export function tokenOf(authorization: string | undefined): string {
  if (!authorization) return '';
  const space = authorization.indexOf(' ');
  if (space < 0 || authorization.slice(0, space).toLowerCase() !== 'bearer') return '';
  return authorization.slice(space + 1);
}

export interface TokenLruOptions<T> {
  /** Most instances kept at once (at least 1). */
  max: number;
  open(token: string): Promise<T>;
  close(instance: T, token: string): Promise<void>;
  /** True while the instance has calls in flight: it is never dropped then. */
  busy(instance: T): boolean;
  /** Told when an idle instance is dropped to make room. */
  onEvict?(token: string): void;
}

interface Entry<T> {
  instance?: T;
  opening?: Promise<T>;
}

/**
 * One instance per token, opened on first use (concurrent first calls share the opening) and kept
 * in least-recently-used order. A new token past `max` drops the least recently used instance that
 * is open and idle; if every one is opening or busy, the new token is refused with
 * RESOURCE_EXHAUSTED rather than going past the bound.
 */
export class TokenLru<T> {
  /** Map order is use order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<T>>();
  private closed = false;

  constructor(private readonly options: TokenLruOptions<T>) {}

  get size(): number {
    return this.entries.size;
  }

  has(token: string): boolean {
    return this.entries.has(token);
  }

  /** The token's instance: at once when it is open, else a promise of it. */
  get(token: string): T | Promise<T> {
    if (this.closed) throw unavailable('the server is shutting down');
    const found = this.entries.get(token);
    if (found) {
      this.entries.delete(token);
      this.entries.set(token, found);
      return found.instance ?? found.opening!;
    }
    this.makeRoom();
    const entry: Entry<T> = {};
    entry.opening = this.options.open(token).then(
      async (instance) => {
        // Closed while it opened: closeAll waits for this close.
        if (this.entries.get(token) !== entry) {
          await this.options.close(instance, token).catch(() => undefined);
          throw unavailable('the server is shutting down');
        }
        entry.instance = instance;
        entry.opening = undefined;
        return instance;
      },
      (error: unknown) => {
        if (this.entries.get(token) === entry) this.entries.delete(token);
        throw error;
      },
    );
    this.entries.set(token, entry);
    return entry.opening;
  }

  /** Closes every instance (those still opening close once open); later get() calls are refused. */
  async closeAll(): Promise<void> {
    this.closed = true;
    const entries = [...this.entries];
    this.entries.clear();
    await Promise.all(
      entries.map(([token, e]) =>
        e.instance !== undefined
          ? this.options.close(e.instance, token).catch(() => undefined)
          : e.opening?.then(
              () => undefined,
              () => undefined,
            ),
      ),
    );
  }

  private makeRoom(): void {
    while (this.entries.size >= this.options.max) {
      let victim: string | undefined;
      for (const [token, e] of this.entries) {
        if (e.instance !== undefined && !this.options.busy(e.instance)) {
          victim = token;
          break;
        }
      }
      if (victim === undefined) {
        throw resourceExhausted(
          `every one of the ${this.options.max} per-token datastores has calls in flight: retry later, or raise --max-datastores`,
        );
      }
      const instance = this.entries.get(victim)!.instance!;
      this.entries.delete(victim);
      this.options.onEvict?.(victim);
      void this.options.close(instance, victim).catch(() => undefined);
    }
  }
}

/** The schema and relationships of the `--load-configs` files, read once at startup. */
export type Preload = ValidationData;

/** Relationships written per transaction while loading (SpiceDB loads them 500 at a time). */
const LOAD_BATCH = 500;

export function readPreload(paths: readonly string[]): Preload {
  return readValidationFiles(paths, '--load-configs');
}

/** Writes the preload's schema, then its relationships, into an empty instance; false when there is nothing. */
export async function applyPreload(pemba: Pemba, preload: Preload): Promise<boolean> {
  if (preload.schema === undefined && preload.relationships.length === 0) return false;
  await writeValidationData(pemba, preload, { flag: '--load-configs', batchSize: LOAD_BATCH });
  return true;
}
