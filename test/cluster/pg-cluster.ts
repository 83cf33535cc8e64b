/**
 * A throwaway PostgreSQL cluster for tests: a primary, migrated for Pemba, and streaming replicas
 * made from it with pg_basebackup. Every node lives in its own temporary folder (data in `data`,
 * the log in `log`, the unix socket in the folder itself), listens on 127.0.0.1 on a free port and
 * runs as the postgres user (`runuser -u postgres --`), with the binaries `pg_config --bindir`
 * names. The machine's shared PostgreSQL (port 5432) is never touched.
 *
 * Settings favour speed over durability (fsync off, no syncing at initdb or base backup): a
 * cluster is made in a few seconds and thrown away by destroy().
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { migratePostgres } from '../../src/datastore/postgres/migrations.js';
import { createPool } from '../../src/datastore/postgres/pool.js';

const run = promisify(execFile);

export interface PgNode {
  port: number;
  /** The node's temporary folder: data directory `dir/data`, log `dir/log`, unix socket in `dir`. */
  dir: string;
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  uri: string;
  /** Starts a stopped node and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the node (pg_ctl stop -m, default fast) and waits until it is down. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  running(): boolean;
}

export interface PgCluster {
  primary: PgNode;
  replicas: PgNode[];
  /** Pauses WAL replay on a replica (it stays up, but stops applying the primary's commits). */
  pauseReplay(replica: PgNode): Promise<void>;
  resumeReplay(replica: PgNode): Promise<void>;
  /** Stops every node (-m immediate) and removes their folders; safe to call twice. */
  destroy(): Promise<void>;
}

/** PostgreSQL's programs (read when first needed: a machine without PostgreSQL fails only then). */
let binDir: string | undefined;
const bin = (program: string) => join((binDir ??= execFileSync('pg_config', ['--bindir']).toString().trim()), program);

const asPostgres = (program: string, args: string[]) => run('runuser', ['-u', 'postgres', '--', bin(program), ...args]);

/** A free TCP port on 127.0.0.1 (never 5432, the machine's shared PostgreSQL). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address() as { port: number };
        srv.close(() => resolve(p));
      });
      srv.on('error', reject);
    });
    if (port !== 5432) return port;
  }
}

/** A temporary folder owned by the postgres user. */
function postgresDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  chownSync(dir, uid, gid);
  return dir;
}

class Node implements PgNode {
  readonly uri: string;
  private up = false;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.uri = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  get data(): string {
    return join(this.dir, 'data');
  }

  async start(): Promise<void> {
    await asPostgres('pg_ctl', [
      '-D',
      this.data,
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`,
      '-l',
      join(this.dir, 'log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
    this.up = true;
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await asPostgres('pg_ctl', ['-D', this.data, '-m', mode, '-w', 'stop']);
    this.up = false;
  }

  running(): boolean {
    return this.up;
  }

  /** Stops the node if it might be running, ignoring failures. */
  async kill(): Promise<void> {
    await asPostgres('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    this.up = false;
  }
}

/** Runs `sql` on the node with a connection of its own. */
async function queryNode<R extends pg.QueryResultRow>(node: PgNode, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: node.uri, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const PRIMARY_SETTINGS = `
# pg-cluster.ts: a throwaway test cluster
wal_level = replica
max_wal_senders = 20
max_replication_slots = 20
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
`;

const HBA = `
# pg-cluster.ts: trust everything local, replication included
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
`;

export async function createPgCluster(options: { replicas?: number } = {}): Promise<PgCluster> {
  const nodes: Node[] = [];
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    await Promise.all(nodes.map((n) => n.kill()));
    for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
  };

  try {
    const primary = new Node(await freePort(), postgresDir('pemba-pg-primary-'));
    nodes.push(primary);
    await asPostgres('initdb', ['-D', primary.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
    appendFileSync(join(primary.data, 'postgresql.conf'), PRIMARY_SETTINGS);
    appendFileSync(join(primary.data, 'pg_hba.conf'), HBA);
    await primary.start();
    const pool = createPool(primary.uri);
    try {
      await migratePostgres(pool);
    } finally {
      await pool.end();
    }

    const replicas = await Promise.all(
      Array.from({ length: options.replicas ?? 1 }, async () => {
        const replica = new Node(await freePort(), postgresDir('pemba-pg-replica-'));
        nodes.push(replica);
        await asPostgres('pg_basebackup', [
          '-h',
          '127.0.0.1',
          '-p',
          String(primary.port),
          '-U',
          'postgres',
          '-D',
          replica.data,
          '-R',
          '-X',
          'stream',
          '--checkpoint=fast',
          '--no-sync',
        ]);
        await replica.start();
        await until(`replica on port ${replica.port} to stream from the primary`, 30_000, async () => {
          const [row] = await queryNode<{ recovering: boolean; streaming: boolean; migrated: boolean }>(
            replica,
            `SELECT pg_is_in_recovery() AS recovering,
              EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming,
              EXISTS (SELECT 1 FROM metadata WHERE key = 'datastore_id') AS migrated`,
          );
          return row.recovering && row.streaming && row.migrated;
        });
        return replica;
      }),
    );

    return {
      primary,
      replicas,
      async pauseReplay(replica) {
        await queryNode(replica, 'SELECT pg_wal_replay_pause()');
        await until('replay to pause', 10_000, async () => {
          const [row] = await queryNode<{ state: string }>(replica, 'SELECT pg_get_wal_replay_pause_state() AS state');
          return row.state === 'paused';
        });
      },
      async resumeReplay(replica) {
        await queryNode(replica, 'SELECT pg_wal_replay_resume()');
      },
      destroy,
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}
