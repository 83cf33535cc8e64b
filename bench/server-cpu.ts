/**
 * The server's own CPU per call (issue 14, target 2): `pemba serve` in a child process (the same
 * resolveServeConfig/startServer path as the CLI), called over gRPC by the unmodified
 * `@authzed/authzed-node` client from this process, on one plaintext HTTP/2 connection. The child
 * reports its own process.cpuUsage() over IPC before and after each phase, so only the server's CPU
 * is counted (the client's is in this process). Phases, each after a warm-up:
 *
 *   check   CheckPermission on a one-relationship schema, `--in-flight` calls at a time (per call)
 *   bulk    CheckBulkPermissions with `--bulk-items` items per call (per item)
 *   lookup  LookupResources streaming `--lookup-results` results per call (per result)
 *   write   WriteRelationships with `--write-batch` TOUCH updates per call, new relationships (per relationship)
 *
 *   node --import tsx bench/server-cpu.ts [--engine memory,sqlite,postgres] [--calls 10000] [--in-flight 100]
 *     [--only check,bulk,lookup,write] [--reps 3] [--profile DIR | --heap-profile DIR] [--serve-flag name=value ...]
 *     [--node-arg ARG ...] [--out FILE.md]
 *
 * Each phase measures `--reps` windows one after another and reports the median window (a shared VM
 * swings one window's CPU per call by a third); the profiles cover all of them.
 *
 * `--profile DIR` writes one V8 CPU profile per phase (measured part only) from the server process
 * (bench/profile-summary.ts summarises them); `--heap-profile DIR` samples its allocations instead
 * (every object, also those the next scavenge collects). The samplers cost CPU themselves, so numbers
 * taken while profiling run high. `--serve-flag metrics-enabled=true` etc. passes `pemba serve` flags
 * through; `--node-arg --min-semi-space-size=16` etc. passes node flags to the server process.
 * The server is not forced to collect garbage before a phase: a full GC shrinks the young generation
 * and the calls after it pay for that (about a quarter more CPU per Check) until it grows back.
 * Never part of `npm test`.
 */
import { settleDatastore } from './systems/system.js';
import { SERVE_NODE_FLAGS } from '../src/server/node-flags.js';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { serviceDefinition } from '../src/api/grpc/service-binding.js';
import type { ServiceDescriptor } from '../src/api/method.js';
import { migrateDatastore } from '../src/datastore/factory.js';
import { resolveServeConfig } from '../src/server/config.js';
import { startServer } from '../src/server/server.js';
import { describeMachine } from './machine.js';

/**
 * `grpc-floor` is no Pemba at all: a bare grpc-js server with Pemba's service definitions (the same
 * codecs) answering every call with a constant. Its CPU per call is what the transport alone costs on
 * the machine, the floor under any server built on grpc-js.
 */
export type ServerCpuEngine = 'memory' | 'sqlite' | 'postgres' | 'grpc-floor';
export const SERVER_CPU_ENGINES: readonly ServerCpuEngine[] = ['memory', 'sqlite', 'postgres', 'grpc-floor'];
export type ServerCpuPhase = 'check' | 'bulk' | 'lookup' | 'write';
export const SERVER_CPU_PHASES: readonly ServerCpuPhase[] = ['check', 'bulk', 'lookup', 'write'];

export interface ServerCpuOptions {
  engine: ServerCpuEngine;
  /** CheckPermission calls measured (≥ 10,000 for the figure). */
  calls: number;
  /** Calls in flight at once during the check phase. */
  inFlight: number;
  /** CheckBulkPermissions: calls measured, items per call, calls in flight. */
  bulkCalls: number;
  bulkItems: number;
  bulkInFlight: number;
  /** LookupResources: calls measured (each streams lookupResults results), calls in flight. */
  lookupCalls: number;
  lookupResults: number;
  lookupInFlight: number;
  /** WriteRelationships: calls measured, TOUCH updates per call, calls in flight. */
  writeCalls: number;
  writeBatch: number;
  writeInFlight: number;
  /** Consistency of the reads: at_least_as_fresh the setup's write (default), fully consistent, or minimize_latency. */
  consistency: 'fresh' | 'full' | 'min';
  only: readonly ServerCpuPhase[];
  /**
   * Measured windows per phase, one after another on the same server; the phase reports the median
   * window (a shared VM swings a single window's CPU per call by a third).
   */
  reps: number;
  /** Directory for per-phase .cpuprofile files of the server process; absent: no profiling. */
  profileDir?: string;
  /** Sample allocations (.heapprofile, every object including those collected) instead of CPU. */
  heapProfile?: boolean;
  /** Base URI of the PostgreSQL server for `--engine postgres` (a throwaway database is created on it). */
  postgres: string;
  /** Extra `pemba serve` flags (kebab-case names), e.g. { 'metrics-enabled': 'true' }. */
  serveFlags: Record<string, string>;
  /** Extra node flags for the server process. */
  execArgv: string[];
}

export const DEFAULT_SERVER_CPU_OPTIONS: ServerCpuOptions = {
  engine: 'memory',
  calls: 30_000,
  inFlight: 100,
  bulkCalls: 200,
  bulkItems: 100,
  bulkInFlight: 10,
  lookupCalls: 30,
  lookupResults: 1000,
  lookupInFlight: 4,
  writeCalls: 30,
  writeBatch: 1000,
  writeInFlight: 2,
  consistency: 'fresh',
  only: SERVER_CPU_PHASES,
  reps: 3,
  postgres: 'postgres://postgres@127.0.0.1:5432',
  serveFlags: {},
  execArgv: [],
};

export interface ServerCpuPhaseResult {
  phase: ServerCpuPhase;
  /** What the call is, and what one unit of work is. */
  call: string;
  unit: string;
  calls: number;
  units: number;
  /** Server CPU (user + system) over the measured calls, µs; and its split. */
  cpuUs: number;
  userUs: number;
  systemUs: number;
  wallMs: number;
  perCallUs: number;
  perUnitUs: number;
  /** Units per second of wall time (throughput as the client saw it). */
  unitsPerSecond: number;
  /** Server CPU µs per unit of every measured window, in order (the figures above are the median window's). */
  perUnitUsByRep: number[];
}

export interface ServerCpuResult {
  engine: ServerCpuEngine;
  options: ServerCpuOptions;
  startedAt: string;
  loadAverage: number;
  phases: ServerCpuPhaseResult[];
  profiles: string[];
}

const KEY = 'server-cpu-bench-key';

const SCHEMA = `definition user {}

definition group {
  relation member: user
}

definition document {
  relation reader: user
  relation writer: user
  permission view = reader + writer
}`;

// ---------------------------------------------------------------------------------------------
// The server process

type ChildCommand =
  | { id: number; type: 'cpu' }
  | { id: number; type: 'settle' }
  | { id: number; type: 'profile-start'; heap?: boolean }
  | { id: number; type: 'profile-stop'; path: string; heap?: boolean }
  | { id: number; type: 'close' };
type ChildReply = { id: number; user?: number; system?: number };
type ChildReady = { type: 'ready'; port: number };

interface ChildConfig {
  engine: ServerCpuEngine;
  connUri?: string;
  serveFlags: Record<string, string>;
  /** grpc-floor: how many results a LookupResources streams. */
  lookupResults: number;
}

/** What the child serves: Pemba's server, or the grpc-floor stand-in; and a way to close it. */
interface ChildServer {
  port: number;
  settle(): Promise<void>;
  close(): Promise<void>;
}

async function startPemba(config: ChildConfig): Promise<ChildServer> {
  const serve = resolveServeConfig({
    grpcPresharedKey: [KEY],
    grpcAddr: '127.0.0.1:0',
    datastoreEngine: config.engine,
    datastoreConnUri: config.connUri,
    logLevel: 'warn',
    ...Object.fromEntries(
      Object.entries(config.serveFlags).map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
    ),
  });
  const server = await startServer(serve);
  return {
    port: server.grpcAddr.port,
    settle: () => settleDatastore(server.pemba.datastore),
    close: () => server.close(),
  };
}

/** The transport floor: grpc-js and the codecs, no authentication, no handler work, constant answers. */
async function startFloor(config: ChildConfig): Promise<ChildServer> {
  const token = v1.ZedToken.create({ token: 'GhUKEzE3NjUwMDAwMDAwMDAwMDAwMDA=' });
  const has = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
  const check = v1.CheckPermissionResponse.create({ checkedAt: token, permissionship: has });
  const lookup = v1.LookupResourcesResponse.create({
    lookedUpAt: token,
    resourceObjectId: 'doc',
    permissionship: v1.LookupPermissionship.HAS_PERMISSION,
  });
  type Unary = (call: { request: object }, answer: (error: null, response: object) => void) => void;
  const constant =
    (response: object): Unary =>
    (_call, answer) =>
      answer(null, response);
  const server = new grpc.Server();
  server.addService(serviceDefinition(v1.SchemaService as ServiceDescriptor), {
    writeSchema: constant(v1.WriteSchemaResponse.create({ writtenAt: token })),
  });
  server.addService(serviceDefinition(v1.PermissionsService as ServiceDescriptor), {
    checkPermission: constant(check),
    writeRelationships: constant(v1.WriteRelationshipsResponse.create({ writtenAt: token })),
    checkBulkPermissions: ((call, answer) => {
      // Each pair echoes its request item, as SpiceDB's (and Pemba's) do.
      const items = (call.request as v1.CheckBulkPermissionsRequest).items;
      const item = v1.CheckBulkPermissionsResponseItem.create({ permissionship: has });
      const pairs = items.map((request) =>
        v1.CheckBulkPermissionsPair.create({ request, response: { oneofKind: 'item', item } }),
      );
      answer(null, v1.CheckBulkPermissionsResponse.create({ checkedAt: token, pairs }));
    }) as Unary,
    lookupResources: (call: grpc.ServerWritableStream<object, object>) => {
      for (let i = 0; i < config.lookupResults; i++) call.write(lookup);
      call.end();
    },
  });
  const port = await new Promise<number>((resolvePort, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolvePort(p),
    ),
  );
  return {
    port,
    settle: async () => undefined,
    close: () => new Promise<void>((resolveClose) => server.tryShutdown(() => resolveClose())),
  };
}

async function serveChild(config: ChildConfig): Promise<void> {
  const server = await (config.engine === 'grpc-floor' ? startFloor(config) : startPemba(config));
  let session: Session | undefined;
  const reply = (m: ChildReply | ChildReady) => process.send!(m);
  process.on('message', (m: ChildCommand) => {
    void (async () => {
      switch (m.type) {
        case 'cpu': {
          const u = process.cpuUsage();
          reply({ id: m.id, user: u.user, system: u.system });
          return;
        }
        case 'settle':
          await server.settle();
          reply({ id: m.id });
          return;
        case 'profile-start':
          session = new Session();
          session.connect();
          if (m.heap) {
            // Every allocation sampled, also those the next scavenge collects: what makes the garbage.
            await session.post('HeapProfiler.enable');
            await session.post('HeapProfiler.startSampling', {
              samplingInterval: 4096,
              includeObjectsCollectedByMajorGC: true,
              includeObjectsCollectedByMinorGC: true,
            } as { samplingInterval: number });
          } else {
            await session.post('Profiler.enable');
            await session.post('Profiler.setSamplingInterval', { interval: 100 });
            await session.post('Profiler.start');
          }
          reply({ id: m.id });
          return;
        case 'profile-stop': {
          const { profile } = m.heap
            ? await session!.post('HeapProfiler.stopSampling')
            : await session!.post('Profiler.stop');
          session!.disconnect();
          session = undefined;
          writeFileSync(m.path, JSON.stringify(profile));
          reply({ id: m.id });
          return;
        }
        case 'close':
          await server.close();
          reply({ id: m.id });
          process.exit(0);
      }
    })();
  });
  // The parent's death must not leave a server behind.
  process.on('disconnect', () => process.exit(0));
  reply({ type: 'ready', port: server.port });
}

class ServerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (r: ChildReply) => void>();

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (m: ChildReply) => {
      this.pending.get(m.id)?.(m);
      this.pending.delete(m.id);
    });
  }

  static async start(config: ChildConfig, execArgv: string[]): Promise<ServerProcess> {
    const child = fork(new URL(import.meta.url), ['--server-cpu-child', JSON.stringify(config)], {
      execArgv: ['--import', 'tsx', ...SERVE_NODE_FLAGS, ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolvePort, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the server process exited with ${code}`));
      child.once('exit', onExit);
      child.once('message', (m: ChildReady) => {
        child.off('exit', onExit);
        resolvePort(m.port);
      });
    });
    return new ServerProcess(child, port);
  }

  request(command: Omit<ChildCommand, 'id'> & { path?: string; heap?: boolean }): Promise<ChildReply> {
    const id = this.nextId++;
    return new Promise((resolveReply) => {
      this.pending.set(id, resolveReply);
      this.child.send({ ...command, id });
    });
  }

  async cpu(): Promise<{ user: number; system: number }> {
    const r = await this.request({ type: 'cpu' });
    return { user: r.user!, system: r.system! };
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    await Promise.race([this.request({ type: 'close' }), exited]);
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// The client side

/** Runs `total` calls of `fn`, `inFlight` at a time. */
async function concurrently(total: number, inFlight: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
}

const objectRef = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
const userRef = (id: string) => v1.SubjectReference.create({ object: objectRef('user', id), optionalRelation: '' });
const touch = (resource: v1.ObjectReference, relation: string, subject: v1.SubjectReference) =>
  v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.TOUCH,
    relationship: v1.Relationship.create({ resource, relation, subject }),
  });

function consistencyOf(mode: ServerCpuOptions['consistency'], token: string): v1.Consistency {
  switch (mode) {
    case 'full':
      return v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } });
    case 'min':
      return v1.Consistency.create({ requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true } });
    default:
      return v1.Consistency.create({
        requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: v1.ZedToken.create({ token }) },
      });
  }
}

interface PhaseSpec {
  phase: ServerCpuPhase;
  call: string;
  unit: string;
  calls: number;
  warmupCalls: number;
  unitsPerCall: number;
  inFlight: number;
  /** One call; `i` numbers the call across warm-up and measurement. */
  run(i: number): Promise<void>;
}

/** Measures one server's CPU per call for the phases asked for. */
export async function measureServerCpu(options: Partial<ServerCpuOptions> = {}): Promise<ServerCpuResult> {
  const o: ServerCpuOptions = { ...DEFAULT_SERVER_CPU_OPTIONS, ...options };
  const startedAt = new Date().toISOString();
  const cleanups: (() => Promise<void> | void)[] = [];
  let connUri: string | undefined;
  try {
    if (o.engine === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'pemba-server-cpu-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      connUri = join(dir, 'pemba.db');
    } else if (o.engine === 'postgres') {
      const name = `pemba_server_cpu_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
      const admin = new pg.Client({ connectionString: `${o.postgres}/postgres` });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      cleanups.push(async () => {
        const c = new pg.Client({ connectionString: `${o.postgres}/postgres` });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      });
      connUri = `${o.postgres}/${name}`;
      await migrateDatastore({ engine: 'postgres', connUri });
    }

    const server = await ServerProcess.start(
      { engine: o.engine, connUri, serveFlags: o.serveFlags, lookupResults: o.lookupResults },
      o.execArgv,
    );
    cleanups.push(() => server.close());
    const client = v1.NewClient(KEY, `127.0.0.1:${server.port}`, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    cleanups.push(() => client.close());
    const p = client.promises;

    // Setup: the schema, the one relationship the checks need, and the lookup's resources.
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const lookupUpdates = Array.from({ length: o.lookupResults }, (_, i) =>
      touch(objectRef('document', `lr-${i}`), 'reader', userRef('carol')),
    );
    for (let i = 0; i < lookupUpdates.length; i += 1000) {
      await p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: lookupUpdates.slice(i, i + 1000) }));
    }
    const written = await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: [touch(objectRef('document', 'doc1'), 'reader', userRef('alice'))],
      }),
    );
    const consistency = consistencyOf(o.consistency, written.writtenAt!.token);
    // The steady state: the mirror has the data, and the datastore is older than one quantization
    // window (until then it has no shared revision, and every call reads its head).
    await server.request({ type: 'settle' });

    const checkRequest = v1.CheckPermissionRequest.create({
      consistency,
      resource: objectRef('document', 'doc1'),
      permission: 'view',
      subject: userRef('alice'),
    });
    const bulkRequest = v1.CheckBulkPermissionsRequest.create({
      consistency,
      items: Array.from({ length: o.bulkItems }, (_, i) =>
        v1.CheckBulkPermissionsRequestItem.create({
          resource: objectRef('document', 'doc1'),
          permission: 'view',
          subject: userRef(i === 0 ? 'alice' : `u${i}`),
        }),
      ),
    });
    const lookupRequest = v1.LookupResourcesRequest.create({
      consistency,
      resourceObjectType: 'document',
      permission: 'view',
      subject: userRef('carol'),
    });
    const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;

    const specs: PhaseSpec[] = [
      {
        phase: 'check',
        call: 'CheckPermission',
        unit: 'call',
        calls: o.calls,
        warmupCalls: Math.max(2000, Math.floor(o.calls / 5)),
        unitsPerCall: 1,
        inFlight: o.inFlight,
        run: async () => {
          const r = await p.checkPermission(checkRequest);
          if (r.permissionship !== HAS) throw new Error(`unexpected permissionship ${r.permissionship}`);
        },
      },
      {
        phase: 'bulk',
        call: `CheckBulkPermissions (${o.bulkItems} items)`,
        unit: 'item',
        calls: o.bulkCalls,
        warmupCalls: Math.max(20, Math.floor(o.bulkCalls / 5)),
        unitsPerCall: o.bulkItems,
        inFlight: o.bulkInFlight,
        run: async () => {
          const r = await p.checkBulkPermissions(bulkRequest);
          if (r.pairs.length !== o.bulkItems) throw new Error(`bulk check answered ${r.pairs.length} pairs`);
        },
      },
      {
        phase: 'lookup',
        call: `LookupResources (${o.lookupResults} results, streamed)`,
        unit: 'result',
        calls: o.lookupCalls,
        warmupCalls: Math.max(5, Math.floor(o.lookupCalls / 5)),
        unitsPerCall: o.lookupResults,
        inFlight: o.lookupInFlight,
        run: async () => {
          const r = await p.lookupResources(lookupRequest);
          if (r.length !== o.lookupResults) throw new Error(`lookup streamed ${r.length} results`);
        },
      },
      {
        phase: 'write',
        call: `WriteRelationships (${o.writeBatch} TOUCH)`,
        unit: 'relationship',
        calls: o.writeCalls,
        warmupCalls: Math.max(3, Math.floor(o.writeCalls / 5)),
        unitsPerCall: o.writeBatch,
        inFlight: o.writeInFlight,
        run: async (i) => {
          await p.writeRelationships(
            v1.WriteRelationshipsRequest.create({
              updates: Array.from({ length: o.writeBatch }, (_, j) =>
                touch(objectRef('group', `g${i}-${j}`), 'member', userRef(`u${j}`)),
              ),
            }),
          );
        },
      },
    ];

    const phases: ServerCpuPhaseResult[] = [];
    const profiles: string[] = [];
    if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
    for (const spec of specs) {
      if (!o.only.includes(spec.phase)) continue;
      let callNo = 0;
      await concurrently(spec.warmupCalls, spec.inFlight, () => spec.run(callNo++));
      // No forced GC here: a full GC shrinks the young generation, and the calls after it pay for
      // that (measured: ~25% more CPU per Check) until it grows back; the warm-up leaves it as load keeps it.
      if (o.profileDir) await server.request({ type: 'profile-start', heap: o.heapProfile });
      const windows: Omit<ServerCpuPhaseResult, 'perUnitUsByRep'>[] = [];
      for (let rep = 0; rep < o.reps; rep++) {
        const before = await server.cpu();
        const t0 = performance.now();
        await concurrently(spec.calls, spec.inFlight, () => spec.run(callNo++));
        const wallMs = performance.now() - t0;
        const after = await server.cpu();
        const userUs = after.user - before.user;
        const systemUs = after.system - before.system;
        const cpuUs = userUs + systemUs;
        const units = spec.calls * spec.unitsPerCall;
        windows.push({
          phase: spec.phase,
          call: spec.call,
          unit: spec.unit,
          calls: spec.calls,
          units,
          cpuUs,
          userUs,
          systemUs,
          wallMs,
          perCallUs: cpuUs / spec.calls,
          perUnitUs: cpuUs / units,
          unitsPerSecond: units / (wallMs / 1000),
        });
      }
      if (o.profileDir) {
        const kind = o.heapProfile ? 'heapprofile' : 'cpuprofile';
        const path = resolve(o.profileDir, `server-cpu-${o.engine}-${spec.phase}.${kind}`);
        await server.request({ type: 'profile-stop', path, heap: o.heapProfile });
        profiles.push(path);
      }
      const median = [...windows].sort((a, b) => a.perUnitUs - b.perUnitUs)[(windows.length - 1) >> 1];
      phases.push({ ...median, perUnitUsByRep: windows.map((w) => w.perUnitUs) });
    }
    return { engine: o.engine, options: o, startedAt, loadAverage: loadavg()[0], phases, profiles };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`server-cpu cleanup: ${(error as Error).message}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (x: number, digits = 1) => x.toLocaleString('en-US', { maximumFractionDigits: digits });

/** A Markdown table of one or more engines' results. */
export function renderServerCpu(results: readonly ServerCpuResult[]): string {
  const lines = [
    '| Engine | Call | In flight | Calls | Server CPU µs/call | Server CPU µs per unit | Each window, µs per unit | Units/s (wall) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    for (const ph of r.phases) {
      const inFlight = {
        check: r.options.inFlight,
        bulk: r.options.bulkInFlight,
        lookup: r.options.lookupInFlight,
        write: r.options.writeInFlight,
      }[ph.phase];
      lines.push(
        `| ${r.engine} | ${ph.call} | ${inFlight} | ${fmt(ph.calls, 0)} | ${fmt(ph.perCallUs)} | ${fmt(ph.perUnitUs, 2)} per ${ph.unit} | ${ph.perUnitUsByRep.map((x) => fmt(x, 2)).join(', ')} | ${fmt(ph.unitsPerSecond, 0)} |`,
      );
    }
  }
  const first = results[0];
  const notes = [
    '',
    `Server CPU is the \`pemba serve\` process's own user+system time (process.cpuUsage()) over the measured calls`,
    `(the median of the windows measured one after another),`,
    `after a warm-up; client \`@authzed/authzed-node\` in a separate process, one plaintext HTTP/2 connection, preshared key.`,
    first
      ? `Reads at consistency \`${first.options.consistency}\`; load average at the end ${results.map((r) => fmt(r.loadAverage, 2)).join(', ')}.`
      : '',
  ];
  const nodeArgs = [...new Set(results.flatMap((r) => r.options.execArgv))];
  if (nodeArgs.length > 0) notes.push(`Server process node flags: \`${nodeArgs.join(' ')}\`.`);
  if (results.some((r) => r.profiles.length > 0))
    notes.push('Profiled while measured: the sampler inflates the CPU figures.');
  return [...lines, ...notes].join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

export const SERVER_CPU_USAGE = `node --import tsx bench/server-cpu.ts [flags]
  --engine LIST          memory, sqlite, postgres, grpc-floor (comma-separated; default memory); grpc-floor
                         is bare grpc-js with the same codecs answering constants: the transport's own cost
  --calls N              CheckPermission calls measured (default 30000)
  --in-flight N          CheckPermission calls in flight (default 100)
  --bulk-calls N --bulk-items N --bulk-in-flight N
  --lookup-calls N --lookup-results N --lookup-in-flight N
  --write-calls N --write-batch N --write-in-flight N
  --consistency MODE     fresh (at_least_as_fresh, default), full, min
  --only LIST            phases: check,bulk,lookup,write (default all)
  --reps N               measured windows per phase, the median reported (default 3)
  --profile DIR          write the server's CPU profile of each measured phase to DIR
  --heap-profile DIR     instead, sample the server's allocations (.heapprofile) of each measured phase
  --postgres URI         PostgreSQL server for --engine postgres (default postgres://postgres@127.0.0.1:5432)
  --serve-flag NAME=V    a pemba serve flag (repeatable), e.g. metrics-enabled=true
  --node-arg ARG         a node flag for the server process (repeatable), e.g. --trace-gc
  --out FILE             also write the Markdown table (and FILE.json) there`;

export function parseServerCpuArgs(argv: string[]): {
  engines: ServerCpuEngine[];
  options: Partial<ServerCpuOptions>;
  out?: string;
} {
  const options: Partial<ServerCpuOptions> = {};
  const serveFlags: Record<string, string> = {};
  let engines: ServerCpuEngine[] = ['memory'];
  let out: string | undefined;
  const numeric: Record<string, keyof ServerCpuOptions> = {
    '--calls': 'calls',
    '--in-flight': 'inFlight',
    '--bulk-calls': 'bulkCalls',
    '--bulk-items': 'bulkItems',
    '--bulk-in-flight': 'bulkInFlight',
    '--lookup-calls': 'lookupCalls',
    '--lookup-results': 'lookupResults',
    '--lookup-in-flight': 'lookupInFlight',
    '--write-calls': 'writeCalls',
    '--write-batch': 'writeBatch',
    '--write-in-flight': 'writeInFlight',
    '--reps': 'reps',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${SERVER_CPU_USAGE}`);
      return v;
    };
    if (flag in numeric) {
      const n = Number(value());
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer`);
      (options as Record<string, unknown>)[numeric[flag]] = n;
    } else if (flag === '--engine') {
      engines = value().split(',') as ServerCpuEngine[];
      for (const e of engines)
        if (!SERVER_CPU_ENGINES.includes(e)) throw new Error(`unknown engine ${e}\n${SERVER_CPU_USAGE}`);
    } else if (flag === '--consistency') {
      const c = value();
      if (c !== 'fresh' && c !== 'full' && c !== 'min') throw new Error(`--consistency must be fresh, full or min`);
      options.consistency = c;
    } else if (flag === '--only') {
      const only = value().split(',') as ServerCpuPhase[];
      for (const ph of only) if (!SERVER_CPU_PHASES.includes(ph)) throw new Error(`unknown phase ${ph}`);
      options.only = only;
    } else if (flag === '--profile') options.profileDir = value();
    else if (flag === '--heap-profile') {
      options.profileDir = value();
      options.heapProfile = true;
    } else if (flag === '--postgres') options.postgres = value().replace(/\/+$/, '');
    else if (flag === '--serve-flag') {
      const [name, ...rest] = value().split('=');
      serveFlags[name.replace(/^--/, '')] = rest.join('=');
    } else if (flag === '--node-arg') (options.execArgv ??= []).push(value());
    else if (flag === '--out') out = value();
    else if (flag === '--help' || flag === '-h') {
      console.log(SERVER_CPU_USAGE);
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}\n${SERVER_CPU_USAGE}`);
  }
  if (Object.keys(serveFlags).length > 0) options.serveFlags = serveFlags;
  return { engines, options, out };
}

/** The CLI: measures each engine in turn (never two servers at once), prints and optionally writes the table. */
export async function runServerCpuBench(argv: string[]): Promise<ServerCpuResult[]> {
  const { engines, options, out } = parseServerCpuArgs(argv);
  const machine = describeMachine();
  const results: ServerCpuResult[] = [];
  for (const engine of engines) {
    console.log(`server CPU: ${engine}`);
    const r = await measureServerCpu({ ...options, engine });
    for (const ph of r.phases)
      console.log(
        `  ${ph.phase.padEnd(6)} ${fmt(ph.perCallUs).padStart(9)} µs/call  ${fmt(ph.perUnitUs, 2).padStart(8)} µs/${ph.unit}  (${fmt(ph.unitsPerSecond, 0)} ${ph.unit}s/s)` +
          (ph.perUnitUsByRep.length > 1 ? `  windows: ${ph.perUnitUsByRep.map((x) => fmt(x, 2)).join(', ')}` : ''),
      );
    results.push(r);
  }
  const markdown = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, commit ${machine.commit}, load average ${fmt(machine.loadAverage, 2)} at the start.`,
    '',
    renderServerCpu(results),
  ].join('\n');
  console.log(`\n${markdown}`);
  for (const r of results) for (const path of r.profiles) console.log(`profile: ${path}`);
  if (out) {
    writeFileSync(out, `${markdown}\n`);
    writeFileSync(`${out.replace(/\.md$/, '')}.json`, JSON.stringify({ machine, results }, null, 2));
  }
  return results;
}

const childAt = process.argv.indexOf('--server-cpu-child');
if (childAt >= 0) {
  await serveChild(JSON.parse(process.argv[childAt + 1]) as ChildConfig);
} else if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    await runServerCpuBench(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
  }
}
