/**
 * The connection pool and the two ways to use it: one statement (`query`) or a checked-out client
 * (`withClient`). A connection that breaks is thrown away, never reused; the pool opens new ones on
 * demand, which is how the datastore reconnects after PostgreSQL restarts.
 */
import pg from 'pg';
import { PembaError } from '../../errors/index.js';
import { mapPgError } from './errors.js';

export interface PoolOptions {
  /** Connections per process (default 10). */
  maxConnections?: number;
  /** Connections opened when the datastore opens and kept open while idle (default 0: opened on demand). */
  minConnections?: number;
  /** How long in ms an idle connection (above minConnections) stays open (default 30000). */
  idleTimeoutMs?: number;
  /** How long in ms a connection lives before it is closed, once idle, and replaced (default 0: forever). */
  maxLifetimeMs?: number;
  /** How long in ms to wait for a connection before failing with UNAVAILABLE (default 5000). */
  connectionTimeoutMs?: number;
}

export function createPool(connUri: string, options: PoolOptions = {}): pg.Pool {
  const max = options.maxConnections ?? 10;
  const pool = new pg.Pool({
    connectionString: connUri,
    max,
    min: Math.min(options.minConnections ?? 0, max),
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    // pg counts whole seconds; 0 is forever.
    maxLifetimeSeconds: options.maxLifetimeMs ? Math.max(1, Math.ceil(options.maxLifetimeMs / 1000)) : 0,
  });
  // An idle connection that dies (server restart) is reported here; the pool has already dropped it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Opens the pool's minimum of connections now (pg opens connections only on demand), as SpiceDB's
 * pools do at start; they stay open while idle. A connection that fails is simply not there.
 */
export async function openMinimum(pool: pg.Pool): Promise<void> {
  const min = pool.options.min ?? 0;
  const clients = await Promise.allSettled(Array.from({ length: min }, () => pool.connect()));
  for (const c of clients) if (c.status === 'fulfilled') c.value.release();
}

/**
 * One statement. With `name`, a prepared statement: parsed and planned once per connection (for
 * statements run often whose plan does not depend on the values).
 */
export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(
  db: pg.Pool | pg.PoolClient,
  text: string,
  values: unknown[] = [],
  name?: string,
): Promise<pg.QueryResult<R>> {
  try {
    return await (name === undefined ? db.query<R>(text, values) : db.query<R>({ name, text, values }));
  } catch (e) {
    throw mapPgError(e);
  }
}

/**
 * Runs `fn` with a dedicated connection. If the connection fails meanwhile (even while idle between
 * statements, which pg reports as an 'error' event), or `fn` calls `discard`, it is destroyed rather
 * than returned to the pool.
 */
export async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, discard: (reason: Error) => void) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw mapPgError(e);
  }
  let broken: Error | undefined;
  const discard = (e: Error) => {
    broken ??= e;
  };
  client.on('error', discard);
  try {
    return await fn(client, discard);
  } catch (e) {
    // Statements run through query(), which already mapped connection failures to UNAVAILABLE.
    if (e instanceof PembaError && e.code === 'UNAVAILABLE') discard(e);
    throw e;
  } finally {
    client.off('error', discard);
    client.release(broken ?? false);
  }
}
