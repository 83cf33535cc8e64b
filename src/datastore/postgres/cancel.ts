/**
 * Stopping what a transaction's connection is doing when its caller has gone: a statement waiting
 * for another process's commit lock, or a long INSERT, is cancelled with pg_cancel_backend, sent
 * from a connection of its own (the pool may be exhausted by then). A cancel can land late, on
 * whatever that backend runs next, so a connection that was sent one must never be reused.
 */
import pg from 'pg';
import { query } from './pool.js';

const pids = new WeakMap<pg.PoolClient, number>();

/** The backend process of a pooled connection (looked up once per connection). */
export async function backendPid(client: pg.PoolClient): Promise<number> {
  let pid = pids.get(client);
  if (pid === undefined) {
    const { rows } = await query<{ pid: number }>(client, 'SELECT pg_backend_pid() AS pid');
    pid = rows[0].pid;
    pids.set(client, pid);
  }
  return pid;
}

/**
 * Cancels the backend's statements, again every second until `settled()`: a cancel that lands
 * between two statements is ignored by PostgreSQL. Best effort: if no cancel gets through, the
 * statement runs to its end and the transaction is rolled back after it.
 */
export function cancelUntil(config: pg.ClientConfig, pid: number, settled: () => boolean): void {
  void (async () => {
    while (!settled()) {
      await cancelBackend(config, pid);
      await new Promise((resolve) => setTimeout(resolve, 1000).unref());
    }
  })();
}

async function cancelBackend(config: pg.ClientConfig, pid: number): Promise<void> {
  const client = new pg.Client({ ...config, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT pg_cancel_backend($1)', [pid]);
  } catch {
    // The database is unreachable: so is the transaction's own connection, which then fails by itself.
  } finally {
    await client.end().catch(() => undefined);
  }
}
