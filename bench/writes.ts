/**
 * Write throughput of `pemba serve` over gRPC, on each datastore engine (issue 14, target 3):
 *
 *  (a) bulk: `calls` WriteRelationships of `batch` (1,000) TOUCH updates each, of new relationships,
 *      `inFlight` calls at a time on one connection → relationships/s (every call is acknowledged only
 *      once its commit is durable: SQLite synchronous=FULL, PostgreSQL's COMMIT);
 *  (b) mixed: `writers` (32) concurrent writers, each looping WriteRelationships of 1–10 random TOUCH
 *      updates (half of them rewriting existing relationships) for `seconds` → calls/s, relationships/s,
 *      p50/p99 latency.
 *
 * The server runs in a child process from source (resolveServeConfig + startServer, with the defaults
 * of `pemba serve`: a 30 s request timeout, so every call carries a signal), on a fresh datastore: memory,
 * SQLite in a temp file, PostgreSQL in a throwaway database (migrated, dropped after). The server's own
 * CPU time is reported per relationship.
 *
 *   node --import tsx bench/writes.ts [--engines memory,sqlite,postgres] [--calls 200] [--in-flight 4]
 *     [--writers 32] [--seconds 10] [--postgres postgres://postgres@127.0.0.1:5432] [--cpu-prof DIR]
 *     [--workloads bulk,mixed] [--mirror on|off] [--json]
 *
 * bench/run.ts can call `runWriteBench(options)`: structured results and a markdown table.
 */
import { SERVE_NODE_FLAGS } from '../src/server/node-flags.js';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { v1 } from '@authzed/authzed-node';
import pg from 'pg';
import { describeMachine } from './machine.js';
import type { Machine } from './machine.js';
import { percentile } from './stats.js';

export const WRITE_ENGINES = ['memory', 'sqlite', 'postgres'] as const;
export type WriteEngine = (typeof WRITE_ENGINES)[number];

export interface WriteBenchOptions {
  engines?: readonly WriteEngine[];
  /** Bulk: calls of `batch` TOUCH updates (default 200, after 20 not counted). */
  calls?: number;
  /** Bulk: updates per call (default 1,000). */
  batch?: number;
  /** Bulk: calls in flight at once (default 4). */
  inFlight?: number;
  /** Mixed: concurrent writers (default 32). */
  writers?: number;
  /** Mixed: how long the writers run, after a 1 s warm-up (default 10). */
  seconds?: number;
  /** Mixed: most updates per call (at least 1; default 10). */
  maxUpdates?: number;
  /** PostgreSQL server URI without a database (default $PEMBA_TEST_POSTGRES or postgres://postgres@127.0.0.1:5432). */
  postgres?: string;
  /** Write the server's .cpuprofile files under this directory (in a directory per engine). */
  cpuProfDir?: string;
  /** Which workloads to run (default both); one left out reports NaN figures. */
  workloads?: readonly ('bulk' | 'mixed')[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** The durable datastores' relationship mirror (default on, as in `pemba serve`). */
  mirror?: boolean;
}

export interface BulkResult {
  calls: number;
  batch: number;
  inFlight: number;
  relationships: number;
  seconds: number;
  relationshipsPerSecond: number;
  /** Per call, in ms. */
  p50: number;
  p99: number;
  /** Server CPU time (user + system) per relationship, in µs. */
  serverCpuUsPerRelationship: number;
  /** This (client) process's CPU time per relationship, in µs: it shares the machine with the server. */
  clientCpuUsPerRelationship: number;
}

export interface MixedResult {
  writers: number;
  seconds: number;
  calls: number;
  relationships: number;
  callsPerSecond: number;
  relationshipsPerSecond: number;
  /** Per call, in ms. */
  p50: number;
  p99: number;
  max: number;
  /** Server CPU time per call, in µs. */
  serverCpuUsPerCall: number;
  errors: number;
  /** The first error's message, when there were errors. */
  firstError?: string;
}

export interface EngineWriteResult {
  engine: WriteEngine;
  bulk: BulkResult;
  mixed: MixedResult;
}

export interface WriteBenchResult {
  machine: Machine;
  results: EngineWriteResult[];
  markdown: string;
}

const KEY = 'bench-writes-key';
const skippedBulk: BulkResult = {
  calls: 0,
  batch: 0,
  inFlight: 0,
  relationships: 0,
  seconds: 0,
  relationshipsPerSecond: NaN,
  p50: NaN,
  p99: NaN,
  serverCpuUsPerRelationship: NaN,
  clientCpuUsPerRelationship: NaN,
};
const skippedMixed: MixedResult = {
  writers: 0,
  seconds: 0,
  calls: 0,
  relationships: 0,
  callsPerSecond: NaN,
  relationshipsPerSecond: NaN,
  p50: NaN,
  p99: NaN,
  max: NaN,
  serverCpuUsPerCall: NaN,
  errors: 0,
};
const SCHEMA = `definition user {}

definition document {
  relation reader: user
  relation writer: user
  permission view = reader + writer
}`;

/** Runs (a) and (b) on each engine, one fresh server and datastore per engine. */
export async function runWriteBench(options: WriteBenchOptions = {}): Promise<WriteBenchResult> {
  const engines = options.engines ?? WRITE_ENGINES;
  const log = options.log ?? (() => undefined);
  const machine = describeMachine();
  const results: EngineWriteResult[] = [];
  for (const engine of engines) {
    log(`${engine}: starting`);
    const storage = await openStorage(engine, options);
    try {
      const server = await ServerProcess.start(engine, storage.uri, options.cpuProfDir, options.mirror);
      try {
        await server.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
        const workloads = options.workloads ?? ['bulk', 'mixed'];
        const bulk = workloads.includes('bulk') ? await runBulk(server, options) : skippedBulk;
        log(`${engine}: bulk ${Math.round(bulk.relationshipsPerSecond)} relationships/s`);
        const mixed = workloads.includes('mixed') ? await runMixed(server, options) : skippedMixed;
        log(
          `${engine}: mixed ${Math.round(mixed.callsPerSecond)} calls/s, p50 ${mixed.p50.toFixed(2)} ms, p99 ${mixed.p99.toFixed(2)} ms`,
        );
        results.push({ engine, bulk, mixed });
      } finally {
        await server.close();
      }
    } finally {
      await storage.drop();
    }
  }
  return { machine, results, markdown: writeBenchMarkdown(machine, results) };
}

export function writeBenchMarkdown(machine: Machine, results: readonly EngineWriteResult[]): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const ms = (x: number) => x.toFixed(2);
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, load average ${machine.loadAverage} at start, commit ${machine.commit}.`,
    '',
  ];
  if (results.length > 0) {
    const b = results[0].bulk;
    lines.push(
      `(a) Bulk: ${b.calls} WriteRelationships of ${b.batch} TOUCH (new relationships), ${b.inFlight} in flight, one connection.`,
      '',
      '| engine | relationships/s | call p50 ms | call p99 ms | server CPU µs/relationship | client CPU µs/relationship |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...results.map(
        ({ engine, bulk }) =>
          `| ${engine} | ${n(bulk.relationshipsPerSecond)} | ${ms(bulk.p50)} | ${ms(bulk.p99)} | ${bulk.serverCpuUsPerRelationship.toFixed(1)} | ${bulk.clientCpuUsPerRelationship.toFixed(1)} |`,
      ),
      '',
    );
    const m = results[0].mixed;
    lines.push(
      `(b) Mixed: ${m.writers} writers, each looping WriteRelationships of 1–10 random TOUCH updates, for ${m.seconds.toFixed(1)} s.`,
      '',
      '| engine | calls/s | relationships/s | p50 ms | p99 ms | max ms | server CPU µs/call | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...results.map(
        ({ engine, mixed }) =>
          `| ${engine} | ${n(mixed.callsPerSecond)} | ${n(mixed.relationshipsPerSecond)} | ${ms(mixed.p50)} | ${ms(mixed.p99)} | ${ms(mixed.max)} | ${n(mixed.serverCpuUsPerCall)} | ${mixed.errors} |`,
      ),
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// The workloads

const relationship = (id: string, relation: string, user: string) =>
  v1.Relationship.create({
    resource: v1.ObjectReference.create({ objectType: 'document', objectId: id }),
    relation,
    subject: v1.SubjectReference.create({
      object: v1.ObjectReference.create({ objectType: 'user', objectId: user }),
      optionalRelation: '',
    }),
  });

const touch = (r: v1.Relationship) =>
  v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation.TOUCH, relationship: r });

const WRITE_METHOD = '/authzed.api.v1.PermissionsService/WriteRelationships';

async function runBulk(server: ServerProcess, options: WriteBenchOptions): Promise<BulkResult> {
  const calls = options.calls ?? 200;
  const batch = options.batch ?? 1000;
  const inFlight = options.inFlight ?? 4;
  // Requests are built before timing: the client's encoding is not the server's cost.
  const request = (call: number) =>
    v1.WriteRelationshipsRequest.create({
      updates: Array.from({ length: batch }, (_, i) =>
        touch(relationship(`bulk-${call}-${i >> 3}`, i & 1 ? 'writer' : 'reader', `u${call}-${i}`)),
      ),
    });
  // Warm-up, not counted: V8 compiles the write path's hot functions over the first tens of calls.
  for (let i = 0; i < 20; i++) await server.client.promises.writeRelationships(request(-1 - i));
  // Encoded before timing too, and sent as bytes on a plain grpc-js channel: with the client library
  // encoding 1,000 relationships per call (~7 µs each) on the same two cores, the client and not the
  // server would set the pace. The server decodes and handles exactly what the library would send.
  const requests = Array.from({ length: calls }, (_, i) =>
    Buffer.from(v1.WriteRelationshipsRequest.toBinary(request(i))),
  );
  const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${KEY}`);
  const write = (bytes: Buffer) =>
    new Promise<void>((resolve, reject) =>
      raw.makeUnaryRequest(
        WRITE_METHOD,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        metadata,
        (error) => (error ? reject(error) : resolve()),
      ),
    );
  const latencies: number[] = [];
  const cpu0 = await server.cpu();
  const client0 = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, calls) }, async () => {
      while (next < calls) {
        const req = requests[next++];
        const t = performance.now();
        await write(req);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const client = process.cpuUsage(client0);
  raw.close();
  const cpu = (await server.cpu()) - cpu0;
  const sorted = Float64Array.from(latencies).sort();
  const relationships = calls * batch;
  return {
    calls,
    batch,
    inFlight,
    relationships,
    seconds,
    relationshipsPerSecond: relationships / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    serverCpuUsPerRelationship: cpu / relationships,
    clientCpuUsPerRelationship: (client.user + client.system) / relationships,
  };
}

async function runMixed(server: ServerProcess, options: WriteBenchOptions): Promise<MixedResult> {
  const writers = options.writers ?? 32;
  const seconds = options.seconds ?? 10;
  const maxUpdates = Math.max(1, options.maxUpdates ?? 10);
  // A deterministic generator per writer (xorshift), so runs are comparable.
  const rng = (seed: number) => {
    let s = seed * 2654435761 || 1;
    return (n: number) => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) % n;
    };
  };
  let stop = false;
  let measuring = false;
  const latencies: number[] = [];
  let relationships = 0;
  let errors = 0;
  let firstError: string | undefined;
  const loop = async (w: number) => {
    const random = rng(w + 1);
    let fresh = 0;
    while (!stop) {
      const n = 1 + random(maxUpdates);
      // Half rewrite one of 2,000 shared relationships (contention, TOUCH of existing rows), half are
      // new; a call never names one relationship twice (the API refuses that).
      const shared = new Set<number>();
      const updates = Array.from({ length: n }, () => {
        if (random(2) === 0) {
          let k = random(2000);
          while (shared.has(k)) k = (k + 1) % 2000;
          shared.add(k);
          return touch(relationship(`shared-${k % 200}`, 'reader', `u${Math.floor(k / 200)}`));
        }
        return touch(relationship(`w${w}-${fresh >> 2}`, 'writer', `u${fresh++}`));
      });
      const t = performance.now();
      try {
        await server.client.promises.writeRelationships(v1.WriteRelationshipsRequest.create({ updates }));
        if (measuring) {
          latencies.push(performance.now() - t);
          relationships += n;
        }
      } catch (e) {
        if (measuring && errors++ === 0) firstError = e instanceof Error ? e.message : String(e);
      }
    }
  };
  const running = Array.from({ length: writers }, (_, w) => loop(w));
  await sleep(1000);
  measuring = true;
  const cpu0 = await server.cpu();
  const start = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  const cpu = (await server.cpu()) - cpu0;
  stop = true;
  await Promise.all(running);
  const sorted = Float64Array.from(latencies).sort();
  return {
    writers,
    seconds: elapsed,
    calls: latencies.length,
    relationships,
    callsPerSecond: latencies.length / elapsed,
    relationshipsPerSecond: relationships / elapsed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    serverCpuUsPerCall: cpu / Math.max(1, latencies.length),
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------
// Storage and the server process

interface Storage {
  uri: string | undefined;
  drop(): Promise<void>;
}

async function openStorage(engine: WriteEngine, options: WriteBenchOptions): Promise<Storage> {
  if (engine === 'memory') return { uri: undefined, drop: async () => undefined };
  if (engine === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pemba-bench-writes-'));
    return { uri: path.join(dir, 'pemba.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const base = options.postgres ?? process.env.PEMBA_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432';
  const name = `pemba_bench_writes_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: `${base}/postgres` });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const uri = `${base}/${name}`;
  try {
    const { migrateDatastore } = await import('../src/datastore/factory.js');
    await migrateDatastore({ engine: 'postgres', connUri: uri });
  } catch (e) {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    throw e;
  }
  return { uri, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

type ToServer = { type: 'cpu' } | { type: 'close' };
type FromServer = { type: 'ready'; port: number } | { type: 'cpu'; us: number };

class ServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly client: v1.ZedClientInterface,
    /** host:port of the server's gRPC port. */
    readonly address: string,
  ) {}

  static async start(
    engine: WriteEngine,
    uri: string | undefined,
    cpuProfDir?: string,
    mirror = true,
  ): Promise<ServerProcess> {
    // One directory per engine: tsx's loader thread writes a (small) profile of its own there too.
    const profile = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(cpuProfDir, engine)}`] : [];
    const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
      execArgv: ['--import', 'tsx', ...SERVE_NODE_FLAGS, ...profile],
      env: {
        ...process.env,
        PEMBA_WRITES_ENGINE: engine,
        PEMBA_WRITES_URI: uri ?? '',
        PEMBA_WRITES_MIRROR: mirror ? 'true' : 'false',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await nextMessage(child);
    if (ready.type !== 'ready') throw new Error('the Pemba server did not start');
    const address = `127.0.0.1:${ready.port}`;
    const client = v1.NewClient(KEY, address, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    return new ServerProcess(child, client, address);
  }

  /** The server process's CPU time so far (user + system), in µs. */
  async cpu(): Promise<number> {
    this.child.send({ type: 'cpu' } satisfies ToServer);
    const m = await nextMessage(this.child);
    if (m.type !== 'cpu') throw new Error('unexpected message from the Pemba server');
    return m.us;
  }

  async close(): Promise<void> {
    this.client.close();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'close' } satisfies ToServer);
    await exited;
  }
}

function nextMessage(child: ChildProcess): Promise<FromServer> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the Pemba server exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as FromServer);
    });
  });
}

/** The child: `pemba serve` with its defaults on the engine it was given. */
async function serve(): Promise<void> {
  const [{ pino }, { resolveServeConfig }, { startServer }] = await Promise.all([
    import('pino'),
    import('../src/server/config.js'),
    import('../src/server/server.js'),
  ]);
  const config = resolveServeConfig({
    grpcPresharedKey: [KEY],
    grpcAddr: '127.0.0.1:0',
    datastoreEngine: process.env.PEMBA_WRITES_ENGINE!,
    ...(process.env.PEMBA_WRITES_URI ? { datastoreConnUri: process.env.PEMBA_WRITES_URI } : {}),
    datastoreMirrorEnabled: process.env.PEMBA_WRITES_MIRROR ?? 'true',
  });
  const server = await startServer(config, { logger: pino({ level: 'warn' }) });
  const send = (m: FromServer) => process.send!(m);
  process.on('message', (m: ToServer) => {
    if (m.type === 'cpu') {
      const u = process.cpuUsage();
      send({ type: 'cpu', us: u.user + u.system });
    } else if (m.type === 'close') {
      void server.close().then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: server.grpcAddr.port });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engines: { type: 'string', default: WRITE_ENGINES.join(',') },
      calls: { type: 'string', default: '200' },
      batch: { type: 'string', default: '1000' },
      'in-flight': { type: 'string', default: '4' },
      writers: { type: 'string', default: '32' },
      seconds: { type: 'string', default: '10' },
      postgres: { type: 'string' },
      'cpu-prof': { type: 'string' },
      mirror: { type: 'string', default: 'on' },
      workloads: { type: 'string', default: 'bulk,mixed' },
      json: { type: 'boolean', default: false },
    },
  });
  const engines = values.engines.split(',').map((e) => e.trim());
  for (const e of engines) {
    if (!(WRITE_ENGINES as readonly string[]).includes(e)) throw new Error(`unknown engine ${e}`);
  }
  const result = await runWriteBench({
    engines: engines as WriteEngine[],
    calls: Number(values.calls),
    batch: Number(values.batch),
    inFlight: Number(values['in-flight']),
    writers: Number(values.writers),
    seconds: Number(values.seconds),
    postgres: values.postgres,
    workloads: values.workloads.split(',').map((w) => w.trim()) as ('bulk' | 'mixed')[],
    cpuProfDir: values['cpu-prof'] && path.resolve(values['cpu-prof']),
    mirror: values.mirror !== 'off',
    log: (line) => console.error(line),
  });
  console.log(values.json ? JSON.stringify(result, null, 2) : result.markdown);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--serve')) await serve();
  else await main();
}
