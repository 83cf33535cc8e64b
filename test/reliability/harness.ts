/**
 * Shared pieces of the reliability suite (`npm run test:reliability`): real `pemba serve` child
 * processes (run by node itself, so the child's pid is the server's: /proc/<pid> is its memory and
 * CPU), authzed-node clients, latency probes, RSS sampling, and the report every scenario prints.
 *
 * PEMBA_RELIABILITY_ROOT runs another checkout's `src/cli/main.ts` (for instance an older commit
 * extracted with `git archive`), to see the suite fail on the behaviour issue 11 describes;
 * PEMBA_RELIABILITY_NODE_FLAGS adds flags to the servers' node (a CPU profile, a heap limit).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ROOT = resolve(process.env.PEMBA_RELIABILITY_ROOT ?? REPO);
const MAIN = resolve(ROOT, 'src/cli/main.ts');
const TSX = pathToFileURL(resolve(REPO, 'node_modules/tsx/dist/loader.mjs')).href;

export const KEY = 'reliability-test-key';
export const MiB = 1024 * 1024;
const CLK_TCK = 100; // getconf CLK_TCK on Linux

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The server process

export interface Server {
  child: ChildProcess;
  pid: number;
  endpoint: string;
  /** http://127.0.0.1:PORT when started with `http: true`. */
  httpBase: string;
  /** Everything the server wrote to stdout and stderr (JSON log lines). */
  logs(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** An authzed-node client on its own connection (not shared with other clients). */
  client(key?: string): v1.ZedClientInterface;
  /** Resident memory now, and its high-water mark since start (VmHWM), in MiB. */
  rssMiB(): number;
  peakRssMiB(): number;
  /** CPU time (user + system) the server has used since it started, in ms. */
  cpuMs(): number;
  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Server>();
/** Every server started since the last killAll, for the logs of a failed test. */
const started: Server[] = [];

/**
 * SIGKILLs every server this suite started that is still running (for afterEach/afterAll). Given
 * vitest's test context of a failed test, it first prints the end of each server's log (and how it
 * exited), so a crash shows its cause.
 */
export async function killAll(context?: { task: { name: string; result?: { state?: string } } }): Promise<void> {
  if (context?.task.result?.state === 'fail') {
    for (const s of started) {
      const how = s.alive() ? 'still running' : `exited ${s.child.exitCode ?? s.child.signalCode}`;
      console.log(
        `[reliability] server ${s.pid} (${how}) log of the failed test "${context.task.name}":\n${s.logs().split('\n').slice(-40).join('\n')}`,
      );
    }
  }
  started.length = 0;
  await Promise.all([...running].map((s) => s.stop('SIGKILL')));
}

export interface StartOptions {
  http?: boolean;
  key?: string;
  readyTimeoutMs?: number;
  env?: Record<string, string>;
}

/** Starts `pemba serve ARGS` on free local ports and resolves once it logs its ready line. */
export async function startServer(args: string[], options: StartOptions = {}): Promise<Server> {
  const key = options.key ?? KEY;
  // PEMBA_RELIABILITY_NODE_FLAGS: extra flags for the server's node (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const nodeFlags = (process.env.PEMBA_RELIABILITY_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const argv = [
    ...nodeFlags,
    '--import',
    TSX,
    MAIN,
    'serve',
    '--grpc-addr',
    '127.0.0.1:0',
    '--log-format',
    'json',
    '--grpc-preshared-key',
    key,
    ...(options.http ? ['--http-enabled', '--http-addr', '127.0.0.1:0'] : []),
    ...args,
  ];
  const child = spawn(process.execPath, argv, {
    cwd: REPO,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const clients: v1.ZedClientInterface[] = [];
  // An exited server has no /proc entry: its figures read as NaN, which no bound accepts.
  const proc = (file: string) => {
    try {
      return readFileSync(`/proc/${child.pid}/${file}`, 'utf8');
    } catch {
      return '';
    }
  };
  const s: Server = {
    child,
    pid: child.pid!,
    endpoint: '',
    httpBase: '',
    logs: () => output,
    exit,
    alive: () => child.exitCode === null && child.signalCode === null,
    client(k = key) {
      const c = v1.NewClient(k, s.endpoint, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS, undefined, {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': 64 * MiB,
      });
      clients.push(c);
      return c;
    },
    rssMiB: () => statusKiB(proc('status'), 'VmRSS') / 1024,
    peakRssMiB: () => statusKiB(proc('status'), 'VmHWM') / 1024,
    cpuMs() {
      // Fields after the parenthesised command name: utime and stime are the 14th and 15th of the line.
      const stat = proc('stat');
      if (!stat) return NaN;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
    },
    async stop(signal = 'SIGTERM', graceMs = 20_000) {
      for (const c of clients.splice(0)) c.close();
      if (s.alive()) child.kill(signal);
      const timer = setTimeout(() => s.alive() && child.kill('SIGKILL'), graceMs);
      const result = await exit;
      clearTimeout(timer);
      running.delete(s);
      return result;
    },
  };
  running.add(s);
  started.push(s);
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const poll = setInterval(() => {
      const line = output.split('\n').find((l) => l.includes('pemba is listening'));
      if (!line) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolveReady(JSON.parse(line) as Record<string, unknown>);
    }, 20);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      clearInterval(poll);
      running.delete(s);
      reject(new Error(`pemba serve exited (${code ?? signal}) before it was ready:\n${output.slice(-4000)}`));
    });
  });
  s.endpoint = String(ready.grpcAddr);
  if (options.http) s.httpBase = `http://${String(ready.httpAddr)}`;
  return s;
}

function statusKiB(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) : NaN;
}

/** JSON log lines of a server whose level is at least `level` (pino: 40 warn, 50 error, 60 fatal). */
export function logLines(s: Server, minLevel = 0): Record<string, unknown>[] {
  return s
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((l) => Number(l.level ?? 0) >= minLevel);
}

// ---------------------------------------------------------------------------------------------
// Requests

export const fullyConsistent = () =>
  v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } });
export const minimizeLatency = () =>
  v1.Consistency.create({ requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true } });
export const atLeastAsFresh = (token: string) =>
  v1.Consistency.create({ requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: { token } } });
export const obj = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
export const subj = (objectType: string, objectId: string, optionalRelation = '') =>
  v1.SubjectReference.create({ object: obj(objectType, objectId), optionalRelation });

/** `doc:1#reader@user:ann` or `group:a#member@group:b#member` as an API Relationship. */
export function rel(text: string): v1.Relationship {
  const m = /^([^:]+):([^#]+)#([^@]+)@([^:]+):([^#]+)(?:#(.+))?$/.exec(text);
  if (!m) throw new Error(`bad relationship ${text}`);
  return v1.Relationship.create({ resource: obj(m[1], m[2]), relation: m[3], subject: subj(m[4], m[5], m[6] ?? '') });
}

export const relText = (r: v1.Relationship | undefined) =>
  `${r?.resource?.objectType}:${r?.resource?.objectId}#${r?.relation}@${r?.subject?.object?.objectType}:${r?.subject?.object?.objectId}${r?.subject?.optionalRelation ? `#${r.subject.optionalRelation}` : ''}`;

export const update = (operation: 'CREATE' | 'TOUCH' | 'DELETE', text: string) =>
  v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation[operation], relationship: rel(text) });

export const deadlineIn = (ms: number) => ({ deadline: Date.now() + ms });

export async function writeSchema(client: v1.ZedClientInterface, schema: string): Promise<void> {
  await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
}

/** TOUCHes relationships through WriteRelationships, `perCall` per call; returns the last token. */
export async function touchAll(client: v1.ZedClientInterface, rels: string[], perCall = 1000): Promise<string> {
  let token = '';
  for (let i = 0; i < rels.length; i += perCall) {
    const r = await client.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: rels.slice(i, i + perCall).map((t) => update('TOUCH', t)),
      }),
      new grpc.Metadata(),
      deadlineIn(120_000),
    );
    token = r.writtenAt!.token;
  }
  return token;
}

export const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
export const NO = v1.CheckPermissionResponse_Permissionship.NO_PERMISSION;

export async function check(
  client: v1.ZedClientInterface,
  resource: string,
  permission: string,
  subject: string,
  consistency = fullyConsistent(),
  options: grpc.CallOptions = deadlineIn(60_000),
): Promise<v1.CheckPermissionResponse_Permissionship> {
  const [rt, rid] = resource.split(':');
  const [st, sidRel] = subject.split(':');
  const [sid, srel] = sidRel.split('#');
  const r = await client.promises.checkPermission(
    v1.CheckPermissionRequest.create({
      resource: obj(rt, rid),
      permission,
      subject: subj(st, sid, srel ?? ''),
      consistency,
    }),
    new grpc.Metadata(),
    options,
  );
  return r.permissionship;
}

/** Collects a server stream called with options (authzed-node's `.promises` streams take no deadline). */
export function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolveAll, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolveAll(out));
  });
}

export interface Outcome<T = unknown> {
  code: number;
  codeName: string;
  details: string;
  ms: number;
  /** The answer, when OK. */
  value?: T;
}

/** Runs a call and reports how it ended (OK or its status), and how long it took. */
export async function outcome<T>(p: () => Promise<T>): Promise<Outcome<T>> {
  const start = performance.now();
  try {
    const value = await p();
    return { code: 0, codeName: 'OK', details: '', ms: performance.now() - start, value };
  } catch (e) {
    const err = e as { code?: number; details?: string; message?: string };
    const code = typeof err.code === 'number' ? err.code : -1;
    return {
      code,
      codeName: grpc.status[code] ?? `non-gRPC error`,
      details: err.details ?? err.message ?? String(e),
      ms: performance.now() - start,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(s.length ? s[s.length - 1] : NaN) };
}

/**
 * A trivial Check sent every `everyMs` by its own client, whether or not the previous ones have
 * answered (open loop): a server that stalls for N seconds shows as N / everyMs slow samples, not one.
 * A Check still unanswered when the probe stops counts with its age so far.
 */
export function latencyProbe(
  s: Server,
  args: {
    resource: string;
    permission: string;
    subject: string;
    expect?: v1.CheckPermissionResponse_Permissionship;
    /** A token the Check must be at least as fresh as (default: minimize_latency). */
    token?: string;
  },
  everyMs = 20,
) {
  const client = s.client();
  const consistency = args.token ? atLeastAsFresh(args.token) : minimizeLatency();
  const samples: number[] = [];
  const failures: string[] = [];
  const pending = new Set<number>();
  let wrong = 0;
  let stopped = false;
  const fire = () => {
    if (stopped) return;
    if (pending.size < 500) {
      const start = performance.now();
      pending.add(start);
      check(client, args.resource, args.permission, args.subject, consistency, deadlineIn(120_000))
        .then(
          (p) => {
            if (args.expect !== undefined && p !== args.expect) wrong++;
          },
          (e: { code?: number; details?: string }) => {
            failures.push(`${grpc.status[e.code ?? -1] ?? e.code}: ${e.details ?? String(e)}`);
          },
        )
        .finally(() => {
          if (!pending.delete(start)) return;
          samples.push(performance.now() - start);
        });
    }
    timer = setTimeout(fire, everyMs);
  };
  let timer = setTimeout(fire, 0);
  return {
    /** Samples so far (to drop a warm-up). */
    reset() {
      samples.length = 0;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      const now = performance.now();
      for (const start of pending) samples.push(now - start);
      pending.clear();
      return { ...percentiles(samples), failures, wrong };
    },
  };
}

/** Samples a server's RSS every `everyMs` (MiB, with the time since the sampler started). */
export function rssSampler(s: Server, everyMs = 1000) {
  const t0 = Date.now();
  const samples: { t: number; rss: number }[] = [];
  const take = () => {
    const rss = s.rssMiB();
    if (Number.isFinite(rss)) samples.push({ t: Date.now() - t0, rss: Math.round(rss) });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    max: () => Math.max(...samples.map((x) => x.rss)),
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** Prints one scenario's measurements (and appends them as a JSON line to $PEMBA_RELIABILITY_REPORT). */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ scenario, at: new Date().toISOString(), ...figures });
  console.log(`[reliability] ${line}`);
  if (process.env.PEMBA_RELIABILITY_REPORT) appendFileSync(process.env.PEMBA_RELIABILITY_REPORT, `${line}\n`);
}

/** Whether the server still answers a trivial call promptly. */
export async function stillAnswers(s: Server, timeoutMs = 5000): Promise<boolean> {
  const c = s.client();
  try {
    await c.promises.readSchema(v1.ReadSchemaRequest.create(), new grpc.Metadata(), deadlineIn(timeoutMs));
    return true;
  } catch {
    return false;
  }
}

/** ImportBulkRelationships, `perBatch` relationships per message; resolves with the count loaded. */
export function importBulk(
  client: v1.ZedClientInterface,
  rels: string[],
  perBatch = 5000,
  options: grpc.CallOptions = deadlineIn(300_000),
): Promise<number> {
  return new Promise((resolveLoaded, reject) => {
    const stream = client.importBulkRelationships(
      new grpc.Metadata(),
      options,
      (err: grpc.ServiceError | null, value?: v1.ImportBulkRelationshipsResponse) =>
        err ? reject(err) : resolveLoaded(Number(value!.numLoaded)),
    );
    for (let i = 0; i < rels.length; i += perBatch) {
      stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: rels.slice(i, i + perBatch).map(rel) }));
    }
    stream.end();
  });
}

/**
 * Rejects as soon as the server's RSS passes `maxRssMiB`, it exits, or `maxMs` pass: raced against a
 * scenario's load, so a server going the way the issue describes fails the test with its figures
 * instead of taking the machine's memory or the test's whole timeout.
 */
export function guard(s: Server, limits: { maxRssMiB: number; maxMs: number }) {
  let timer: NodeJS.Timeout | undefined;
  const started = Date.now();
  const tripped = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (!s.alive())
        reject(
          new Error(
            `the server exited (${s.child.exitCode ?? s.child.signalCode}) under load:\n${s.logs().slice(-2000)}`,
          ),
        );
      else if (s.rssMiB() > limits.maxRssMiB)
        reject(
          new Error(
            `the server's RSS reached ${Math.round(s.rssMiB())} MiB, over the bound of ${limits.maxRssMiB} MiB`,
          ),
        );
      else if (Date.now() - started > limits.maxMs)
        reject(new Error(`the load did not finish within ${limits.maxMs} ms`));
    }, 200);
  });
  tripped.catch(() => undefined);
  return {
    /** Resolves like `work`, unless a limit is passed first. */
    run: <T>(work: Promise<T>) => Promise.race([work, tripped]),
    stop: () => clearInterval(timer),
  };
}
