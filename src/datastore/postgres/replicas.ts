/**
 * Read replicas of the PostgreSQL datastore: PostgreSQL streaming replicas of the primary, to which
 * snapshot reads are spread.
 *
 * Why a replica can answer exactly: commits are serialised (see datastore.ts), so revision N+1 is
 * committed after N, and streaming replication applies commits in the primary's order. A replica
 * whose `max(revision)` is at least R therefore holds the primary's state at every revision up to
 * R; and the statement that reads also returns the replica's head and oldest readable revision (as
 * on the primary), so a read is checked against the state it actually read.
 *
 * Each replica has a small pool of its own with short timeouts, so a dead or hung replica costs a
 * read little before it falls back to the primary. A background poll keeps each replica's head and
 * replay lag; a replica that fails a read or a poll is down, skipped until a poll succeeds again.
 * A replica whose datastore id differs from the primary's (a misconfigured URI) is never used.
 */
import pg from 'pg';
import type { Revision } from '../datastore.js';
import type { Sql } from './queries.js';

/** A replica's state, for metrics and operators. */
export interface ReplicaStats {
  /** host:port (never credentials). */
  name: string;
  /** Whether reads go to it (its last poll or read succeeded). */
  up: boolean;
  /** Its newest applied revision, as last seen. */
  head: bigint;
  /** The primary's head known to this process minus the replica's head (at least 0). */
  lagRevisions: number;
  /** Seconds since the last transaction it replayed was committed on the primary (null: none replayed yet). */
  lagSeconds: number | null;
  /** Snapshot reads it answered. */
  reads: number;
}

export interface ReplicaSetOptions {
  /** How often in ms each replica's head and lag are polled (default 150). */
  pollMs?: number;
  /** How long in ms to wait for a connection to a replica (default 1000). */
  connectionTimeoutMs?: number;
  /** How long in ms a read on a replica may take before the primary answers instead (default 3000). */
  queryTimeoutMs?: number;
  /** Connections per replica (default 5). */
  maxConnections?: number;
}

export const REPLICA_DEFAULTS: Required<ReplicaSetOptions> = {
  pollMs: 150,
  connectionTimeoutMs: 1000,
  queryTimeoutMs: 3000,
  maxConnections: 5,
};

const POLL_SQL = `SELECT (SELECT coalesce(max(revision), 0) FROM commits) AS head,
  extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 AS lag,
  (SELECT value FROM metadata WHERE key = 'datastore_id') AS id`;

/** `host:port` of a PostgreSQL URI, without user, password, database or parameters. */
export function replicaName(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.hostname) return `${url.hostname}:${url.port || '5432'}`;
  } catch {
    // not a URL: a key=value connection string, say
  }
  const host = /(?:^|\s)host=(\S+)/.exec(uri)?.[1];
  const port = /(?:^|\s)port=(\d+)/.exec(uri)?.[1];
  return host ? `${host}:${port ?? '5432'}` : 'replica';
}

/** What the choice of a replica needs to know of one. */
export interface ReplicaCandidate {
  up: boolean;
  head: Revision;
}

/**
 * Round robin over the replicas that are up and have applied `revision`: the index of the one to
 * read from (undefined when none can answer), and the next cursor.
 */
export function chooseReplica(
  replicas: readonly ReplicaCandidate[],
  revision: Revision,
  cursor: number,
): { index: number | undefined; cursor: number } {
  const n = replicas.length;
  for (let i = 0; i < n; i++) {
    const index = (cursor + i) % n;
    const r = replicas[index];
    if (r.up && r.head >= revision) return { index, cursor: (index + 1) % n };
  }
  return { index: undefined, cursor };
}

/** How many revisions a replica is behind the primary's known head (0 when it is not). */
export function lagRevisions(primaryHead: Revision, replicaHead: Revision): number {
  return primaryHead > replicaHead ? Number(primaryHead - replicaHead) : 0;
}

export class Replica implements ReplicaCandidate {
  readonly name: string;
  readonly pool: pg.Pool;
  up = false;
  head: Revision = 0n;
  lagSeconds: number | null = null;
  reads = 0;
  /** Set when the replica turned out to hold another datastore: never used. */
  foreign = false;
  /** The poll in progress, if any. */
  polling: Promise<void> | undefined;

  constructor(uri: string, options: Required<ReplicaSetOptions>) {
    this.name = replicaName(uri);
    this.pool = new pg.Pool({
      connectionString: uri,
      max: options.maxConnections,
      connectionTimeoutMillis: options.connectionTimeoutMs,
      // The client gives up after query_timeout (the connection is then destroyed); the server
      // stops the statement a little later, so an abandoned read does not run on.
      query_timeout: options.queryTimeoutMs,
      statement_timeout: options.queryTimeoutMs + 1000,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection that dies (replica restarting) is reported here; the pool has already dropped it.
    this.pool.on('error', () => undefined);
  }

  /** A head seen by a read or a poll; heads only grow (a replica never un-applies a commit). */
  noteHead(head: Revision): void {
    if (head > this.head) this.head = head;
  }
}

export class ReplicaSet {
  readonly replicas: Replica[];
  private readonly options: Required<ReplicaSetOptions>;
  private readonly timer: NodeJS.Timeout;
  private cursor = 0;
  private closed = false;

  /** Starts polling at once; `datastoreId` is the primary's, which every replica must share. */
  constructor(
    uris: readonly string[],
    private readonly datastoreId: string,
    options: ReplicaSetOptions = {},
  ) {
    this.options = { ...REPLICA_DEFAULTS, ...definedOnly(options) };
    this.replicas = uris.map((uri) => new Replica(uri, this.options));
    this.timer = setInterval(() => this.pollAll(), this.options.pollMs);
    this.timer.unref();
    this.pollAll();
  }

  /** A replica that is up and has applied `revision` (round robin among them), if any. */
  pick(revision: Revision): Replica | undefined {
    if (this.closed) return undefined;
    const { index, cursor } = chooseReplica(this.replicas, revision, this.cursor);
    this.cursor = cursor;
    return index === undefined ? undefined : this.replicas[index];
  }

  /**
   * Runs a read on `replica`; undefined when it failed (a connection error, a timeout, any error),
   * in which case the replica is down until a poll succeeds (unless it only had no free connection). The rows' `head` column, when present,
   * updates the replica's known head.
   */
  async read<R extends pg.QueryResultRow>(replica: Replica, sql: Sql): Promise<R[] | undefined> {
    try {
      const { rows } = await replica.pool.query<R>(sql.text, sql.values);
      const head = (rows[0] as { head?: unknown } | undefined)?.head;
      if (typeof head === 'string' || typeof head === 'number') replica.noteHead(BigInt(head));
      return rows;
    } catch {
      // A wait for a connection of a pool whose connections are all busy is load, not a failure:
      // the primary answers this read, the replica stays up. (A replica that hangs is marked down
      // when the reads holding those connections time out.)
      if (replica.pool.totalCount < this.options.maxConnections) replica.up = false;
      return undefined;
    }
  }

  stats(primaryHead: Revision): ReplicaStats[] {
    return this.replicas.map((r) => ({
      name: r.name,
      up: r.up,
      head: r.head,
      lagRevisions: lagRevisions(primaryHead, r.head),
      lagSeconds: r.lagSeconds,
      reads: r.reads,
    }));
  }

  /** Stops polling, waits for polls in progress and closes the pools (reads in progress must have ended). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled(this.replicas.map((r) => r.polling));
    await Promise.allSettled(this.replicas.map((r) => r.pool.end()));
    for (const r of this.replicas) r.up = false;
  }

  private pollAll(): void {
    if (this.closed) return;
    for (const r of this.replicas) {
      if (r.polling || r.foreign) continue;
      r.polling = this.poll(r).finally(() => {
        r.polling = undefined;
      });
    }
  }

  private async poll(replica: Replica): Promise<void> {
    try {
      // pg honours a per-query query_timeout, which its types do not declare.
      const config: pg.QueryConfig & { query_timeout: number } = {
        text: POLL_SQL,
        query_timeout: Math.min(this.options.queryTimeoutMs, 1000),
      };
      const { rows } = await replica.pool.query<{ head: string; lag: number | null; id: string | null }>(config);
      const [row] = rows;
      if (row.id !== this.datastoreId) {
        // Another datastore (or an unmigrated database): its answers would be wrong, whatever its head.
        replica.foreign = row.id !== null;
        replica.up = false;
        return;
      }
      replica.head = BigInt(row.head);
      replica.lagSeconds = row.lag === null ? null : Math.max(0, Number(row.lag));
      replica.up = !this.closed;
    } catch {
      replica.up = false;
    }
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
