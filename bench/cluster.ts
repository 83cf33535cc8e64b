/**
 * `npm run bench -- --cluster` (or `node --import tsx bench/cluster.ts`): a fleet of `pemba serve`
 * processes over a throwaway PostgreSQL primary and streaming replica (test/cluster/pg-cluster.ts),
 * measured from one load generator through `@authzed/authzed-node`. Writes bench/results/cluster.md:
 *
 * 1. a Zipf-skewed Check workload on the GitHub-like dataset with the nested-group index off and a
 *    small dispatch cache per node, on one node, on three nodes that dispatch sub-problems to their
 *    owners, and on three nodes that each evaluate everything (clients round-robin in both);
 * 2. the cost of one remote dispatch hop: the same cached trivial Check asked of its owner and of
 *    the two other nodes;
 * 3. read-replica offload: the share of snapshot reads the replica serves under minimize_latency and
 *    under fully_consistent reads.
 *
 * Everything (both PostgreSQL servers, three Pemba nodes, the load generator) shares this machine,
 * so the report shows cache behaviour, hop cost and offload, never throughput scaling. Every process
 * and the PostgreSQL cluster are removed at the end, on failure and on Ctrl-C too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { v1 } from '@authzed/authzed-node';
import type { Relationship } from '../src/relationships/relationship.js';
import { createPgCluster, freePort } from '../test/cluster/pg-cluster.js';
import type { PgCluster } from '../test/cluster/pg-cluster.js';
import { killAll, serveProcess } from '../test/server/serve-process.js';
import type { ServeProcess } from '../test/server/serve-process.js';
import type { CheckQuery, Dataset } from './datasets/dataset.js';
import { obj, subject } from './datasets/dataset.js';
import { githubDataset } from './datasets/github.js';
import { count, duration, ms } from './format.js';
import { describeMachine } from './machine.js';
import { Rng } from './rng.js';
import { median, summarize } from './stats.js';
import type { Summary } from './stats.js';
import * as req from './systems/v1-requests.js';

// ---------------------------------------------------------------------------------------------
// Options

export interface ClusterOptions {
  quick: boolean;
  /** Scale of the GitHub-like dataset. */
  scale: number;
  seed: number;
  /** Zipf exponent of resources and of subjects. */
  zipf: number;
  /** Dispatch cache budget of every node, in bytes. */
  cacheBytes: number;
  /** Calls in flight from the load generator. */
  concurrency: number;
  /** Unmeasured calls before the measured repetitions of each configuration. */
  warmupCalls: number;
  /** Calls per measured repetition. */
  calls: number;
  reps: number;
  /** Sequential calls per (question, node) pair in each repetition of the hop measurement. */
  hopRounds: number;
  /** Calls per repetition of the replica workloads. */
  replicaCalls: number;
  /** Report path without extension. */
  out: string;
}

export const CLUSTER_USAGE = `npm run bench -- --cluster [flags]      (or: node --import tsx bench/cluster.ts [flags])
  --quick              smaller dataset, fewer calls (about a minute)
  --scale X            scale of the GitHub-like dataset (default 0.2, quick 0.1)
  --cache-kib N        dispatch cache budget of each node in KiB (default 80, quick 32)
  --calls N            calls per measured repetition (default 400, quick 50)
  --warmup-calls N     unmeasured calls first (default 300, quick 60)
  --reps N             measured repetitions (default 3)
  --concurrency N      calls in flight (default 16)
  --zipf S             Zipf exponent over resources and over subjects (default 1.4)
  --seed N             dataset and question seed (default 1)
  --out PATH           report path without extension (default bench/results/cluster)`;

export function parseClusterOptions(argv: string[]): ClusterOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      scale: { type: 'string' },
      'cache-kib': { type: 'string' },
      calls: { type: 'string' },
      'warmup-calls': { type: 'string' },
      reps: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      zipf: { type: 'string', default: '1.4' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: 'bench/results/cluster' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(CLUSTER_USAGE);
    process.exit(0);
  }
  const quick = values.quick!;
  const num = (v: string | undefined, full: number, q: number) => Number(v ?? (quick ? q : full));
  return {
    quick,
    scale: num(values.scale, 0.2, 0.1),
    seed: Number(values.seed),
    zipf: Number(values.zipf),
    cacheBytes: Math.round(num(values['cache-kib'], 80, 32) * 1024),
    concurrency: Number(values.concurrency),
    warmupCalls: num(values['warmup-calls'], 300, 60),
    calls: num(values.calls, 400, 50),
    reps: num(values.reps, 3, 3),
    hopRounds: quick ? 15 : 40,
    replicaCalls: quick ? 100 : 300,
    out: values.out!,
  };
}

// ---------------------------------------------------------------------------------------------
// Zipf questions

/**
 * Zipf(s) over 1..n by rejection-inversion (Hörmann and Derflinger, as in Apache Commons RNG):
 * exact, constant time per draw, no table.
 */
export class Zipf {
  private readonly hX1: number;
  private readonly hN: number;
  private readonly cut: number;

  constructor(
    private readonly n: number,
    private readonly s: number,
  ) {
    this.hX1 = this.hIntegral(1.5) - 1;
    this.hN = this.hIntegral(n + 0.5);
    this.cut = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
  }

  /** A rank in 1..n; rank 1 is the most frequent. */
  sample(rng: Rng): number {
    for (;;) {
      const u = this.hN + rng.next() * (this.hX1 - this.hN);
      const x = this.hIntegralInverse(u);
      const k = Math.min(this.n, Math.max(1, Math.floor(x + 0.5)));
      if (k - x <= this.cut || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
  }

  private h(x: number): number {
    return Math.exp(-this.s * Math.log(x));
  }

  private hIntegral(x: number): number {
    const lx = Math.log(x);
    return helper2((1 - this.s) * lx) * lx;
  }

  private hIntegralInverse(x: number): number {
    const t = Math.max(-1, x * (1 - this.s));
    return Math.exp(helper1(t) * x);
  }
}

const helper1 = (x: number) => (Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x)));
const helper2 = (x: number) => (Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x)));

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** A fixed scrambling of 0..n-1, so that the popular ranks are spread over the ids. */
function scramble(n: number, salt: number): (rank: number) => number {
  let a = 2_654_435_761 % n || 1;
  while (gcd(a, n) !== 1) a++;
  const b = salt % n;
  return (rank) => ((rank - 1) * a + b) % n;
}

/**
 * `read` on a repository for a user, the repository and the user each drawn Zipf(s) from their own
 * scrambled ranking: hot repositories, hot users, and hot pairs.
 */
function zipfQuestions(dataset: Dataset, s: number, rng: Rng, n: number): CheckQuery[] {
  const repos = dataset.sizes.repositories;
  const users = dataset.sizes.users;
  const zr = new Zipf(repos, s);
  const zu = new Zipf(users, s);
  const repoOf = scramble(repos, 7919);
  const userOf = scramble(users, 104_729);
  return Array.from({ length: n }, () => ({
    resource: obj('repository', `r${repoOf(zr.sample(rng))}`),
    permission: 'read',
    subject: subject('user', `u${userOf(zu.sample(rng))}`),
  }));
}

/**
 * `member` of a team without sub-teams for a user, both uniform (little reuse, so the datastore is
 * read; one snapshot read per check): for the replica workloads.
 */
function leafTeamQuestions(dataset: Dataset, leaves: string[], rng: Rng, n: number): CheckQuery[] {
  return Array.from({ length: n }, () => ({
    resource: obj('team', rng.pick(leaves)),
    permission: 'member',
    subject: subject('user', `u${rng.int(dataset.sizes.users)}`),
  }));
}

// ---------------------------------------------------------------------------------------------
// Processes

const KEY = 'bench-cluster-key';

interface FleetNode {
  name: string;
  proc: ServeProcess;
  client: v1.ZedClientInterface;
  metricsPort: number;
  nodeId: string;
}

type FleetMode = 'single' | 'dispatch' | 'independent';

const live = new Set<FleetNode>();
let pgCluster: PgCluster | undefined;

async function startFleet(
  cluster: PgCluster,
  mode: FleetMode,
  size: number,
  cacheBytes: number,
  extraArgs: string[] = [],
): Promise<FleetNode[]> {
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({ metrics: await freePort(), dispatch: await freePort() })),
  );
  const upstreams = ports.map((p) => `127.0.0.1:${p.dispatch}`).join(',');
  const nodes = await Promise.all(
    ports.map(async (p, i) => {
      const args = [
        '--grpc-preshared-key',
        KEY,
        '--datastore-engine',
        'postgres',
        '--datastore-conn-uri',
        cluster.primary.uri,
        ...cluster.replicas.flatMap((r) => ['--datastore-read-replica-conn-uri', r.uri]),
        '--dispatch-cache-max-cost',
        `${cacheBytes}`,
        '--nested-group-index-enabled',
        'false',
        '--metrics-enabled',
        '--metrics-addr',
        `127.0.0.1:${p.metrics}`,
        ...(mode === 'dispatch'
          ? ['--dispatch-cluster-enabled', '--dispatch-cluster-addr', `127.0.0.1:${p.dispatch}`]
          : []),
        ...(mode === 'dispatch' ? ['--dispatch-upstream-addr', upstreams] : []),
        ...extraArgs,
      ];
      const proc = await serveProcess(args, { readyTimeoutMs: 90_000 });
      const node: FleetNode = {
        name: `node${i + 1}`,
        proc,
        client: proc.client(KEY),
        metricsPort: p.metrics,
        nodeId: String(proc.ready.nodeId ?? `node${i + 1}`),
      };
      live.add(node);
      return node;
    }),
  );
  if (mode === 'dispatch') await untilRingsComplete(nodes);
  // Every node serves metrics before anything is measured.
  await Promise.all(nodes.map((n) => scrape(n)));
  return nodes;
}

async function stopFleet(nodes: FleetNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      live.delete(n);
      await n.proc.kill('SIGKILL');
    }),
  );
}

/** The peers each node has logged as joined (and not left since), plus itself. */
function ringOf(node: FleetNode): Set<string> {
  const ring = new Set([node.nodeId]);
  for (const line of node.proc.logs().split('\n')) {
    if (!line.startsWith('{')) continue;
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const msg = String(l.msg ?? '');
    if (msg === 'dispatch peer joined the ring') ring.add(String(l.nodeId));
    else if (msg.startsWith('dispatch peer left the ring')) ring.delete(String(l.nodeId));
  }
  return ring;
}

async function untilRingsComplete(nodes: FleetNode[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!nodes.every((n) => ringOf(n).size === nodes.length)) {
    if (Date.now() > deadline) {
      throw new Error(
        `dispatch rings incomplete after 30 s: ${nodes.map((n) => `${n.name} sees ${[...ringOf(n)].join(',')}`).join('; ')}`,
      );
    }
    await sleep(100);
  }
}

async function cleanup(): Promise<void> {
  await Promise.all([...live].map((n) => n.proc.kill('SIGKILL').catch(() => undefined)));
  live.clear();
  // Also any server that never became ready (serveProcess leaves those running when it gives up).
  await killAll().catch(() => undefined);
  const c = pgCluster;
  pgCluster = undefined;
  await c?.destroy();
}

const sleep = (msDelay: number) => new Promise((r) => setTimeout(r, msDelay));

// ---------------------------------------------------------------------------------------------
// Metrics

/** Samples of a Prometheus text exposition: `name{a="x",b="y"}` → value. */
type Samples = Map<string, number>;

async function scrape(node: FleetNode): Promise<Samples> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const res = await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${node.name} /metrics answered ${res.status}`);
      const samples: Samples = new Map();
      for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
        if (m) samples.set(m[1] + (m[2] ?? ''), Number(m[3]));
      }
      return samples;
    } catch (e) {
      lastError = e;
      await sleep(100);
    }
  }
  throw new Error(`${node.name}: no metrics at 127.0.0.1:${node.metricsPort}: ${String(lastError)}`);
}

/** Sum of the samples of `name` whose labels include `match`. */
function sum(samples: Samples, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of samples) {
    const brace = key.indexOf('{');
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue;
    const labels = brace < 0 ? '' : key.slice(brace);
    if (Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) total += value;
  }
  return total;
}

interface NodeCounters {
  hits: number;
  misses: number;
  evictions: number;
  local: number;
  remote: number;
  remoteFailed: number;
  hedged: number;
  replicaReads: number;
  primaryReads: number;
  checks: number;
  /** Gauges, as of the end. */
  cacheBytes: number;
  cacheEntries: number;
}

function counters(s: Samples): NodeCounters {
  return {
    hits: sum(s, 'pemba_dispatch_cache_hits_total'),
    misses: sum(s, 'pemba_dispatch_cache_misses_total'),
    evictions: sum(s, 'pemba_dispatch_cache_evictions_total'),
    local: sum(s, 'pemba_dispatch_total', { kind: 'local' }),
    remote: sum(s, 'pemba_dispatch_total', { kind: 'remote' }),
    remoteFailed: sum(s, 'pemba_dispatch_total', { kind: 'remote_failed' }),
    hedged: sum(s, 'pemba_dispatch_total', { kind: 'hedged' }),
    replicaReads: sum(s, 'pemba_datastore_replica_reads_total'),
    primaryReads: sum(s, 'pemba_datastore_primary_reads_total'),
    checks: sum(s, 'pemba_api_requests_total', { method: 'CheckPermission' }),
    cacheBytes: sum(s, 'pemba_dispatch_cache_bytes'),
    cacheEntries: sum(s, 'pemba_dispatch_cache_entries'),
  };
}

const GAUGES = new Set<keyof NodeCounters>(['cacheBytes', 'cacheEntries']);

/** Counter deltas between two scrapes of each node (gauges: their value at the end). */
function deltas(before: NodeCounters[], after: NodeCounters[]): NodeCounters[] {
  return after.map(
    (a, i) =>
      Object.fromEntries(
        Object.entries(a).map(([k, v]) => [
          k,
          GAUGES.has(k as keyof NodeCounters) ? v : v - before[i][k as keyof NodeCounters],
        ]),
      ) as unknown as NodeCounters,
  );
}

function total(per: NodeCounters[]): NodeCounters {
  const out = { ...per[0] };
  for (const k of Object.keys(out) as Array<keyof NodeCounters>) out[k] = per.reduce((a, n) => a + n[k], 0);
  return out;
}

const fleetCounters = async (nodes: FleetNode[]) => (await Promise.all(nodes.map(scrape))).map(counters);

// ---------------------------------------------------------------------------------------------
// Load

type ConsistencyKind = 'minimize_latency' | 'fully_consistent';

const consistency = (kind: ConsistencyKind) =>
  v1.Consistency.create({
    requirement:
      kind === 'minimize_latency'
        ? { oneofKind: 'minimizeLatency', minimizeLatency: true }
        : { oneofKind: 'fullyConsistent', fullyConsistent: true },
  });

interface DriveOutcome {
  latenciesMs: number[];
  elapsedMs: number;
  answers: Uint8Array;
  errors: string[];
}

/** `questions` from `concurrency` workers sharing one queue; call i goes to node i mod n (round-robin). */
async function drive(
  nodes: FleetNode[],
  questions: CheckQuery[],
  concurrency: number,
  kind: ConsistencyKind,
): Promise<DriveOutcome> {
  const latenciesMs: number[] = [];
  const answers = new Uint8Array(questions.length);
  const errors: string[] = [];
  const c = consistency(kind);
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < questions.length) {
        const i = next++;
        const request = { ...req.checkRequest(questions[i], undefined), consistency: c };
        const t = performance.now();
        try {
          const r = await nodes[i % nodes.length].client.promises.checkPermission(request);
          latenciesMs.push(performance.now() - t);
          answers[i] = req.isAllowed(r) ? 1 : 0;
        } catch (e) {
          answers[i] = 2;
          errors.push((e as Error).message);
        }
      }
    }),
  );
  return { latenciesMs, elapsedMs: performance.now() - start, answers, errors };
}

async function load(node: FleetNode, dataset: Dataset): Promise<number> {
  await node.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: dataset.schema }));
  let done!: Promise<v1.ImportBulkRelationshipsResponse>;
  const stream = await new Promise<ReturnType<v1.ZedClientInterface['importBulkRelationships']>>((resolveStream) => {
    done = new Promise((res, rej) => {
      resolveStream(node.client.importBulkRelationships((err, value) => (err ? rej(err) : res(value!))));
    });
  });
  for (const batch of dataset.relationships()) {
    const ok = stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: batch.map(req.relationship) }));
    if (!ok) await once(stream, 'drain');
  }
  stream.end();
  return Number((await done).numLoaded);
}

/** Teams without sub-teams, each with its first direct member (if any). */
function leafTeams(dataset: Dataset): Map<string, string | undefined> {
  const withSubteams = new Set<string>();
  const member = new Map<string, string | undefined>();
  for (const batch of dataset.relationships()) {
    for (const r of batch as Relationship[]) {
      if (r.resource.type !== 'team') continue;
      if (!member.has(r.resource.id)) member.set(r.resource.id, undefined);
      if (r.subject.type === 'team') withSubteams.add(r.resource.id);
      else member.set(r.resource.id, member.get(r.resource.id) ?? r.subject.id);
    }
  }
  for (const t of withSubteams) member.delete(t);
  return member;
}

/** `team:t#member@user:u` for a leaf team and a direct member: reads one relation, dispatches no further sub-problem. */
function trivialChecks(dataset: Dataset, n: number): CheckQuery[] {
  const out: CheckQuery[] = [];
  for (const [team, user] of leafTeams(dataset)) {
    if (user === undefined) continue;
    out.push({ resource: obj('team', team), permission: 'member', subject: subject('user', user) });
    if (out.length === n) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The three parts

interface ConfigResult {
  name: string;
  title: string;
  nodes: number;
  summaries: Summary[];
  /** Per repetition, summed over the nodes. */
  fleet: NodeCounters[];
  /** Per node, over all repetitions (gauges at the end). */
  perNode: NodeCounters[];
  answers: Uint8Array;
  errors: string[];
  startMs: number;
  /** "dispatch peer left the ring" lines the nodes logged (each takes a peer off the ring until its next Hello). */
  ringLeaves: string[];
}

const hitRatio = (c: NodeCounters) => c.hits / (c.hits + c.misses);

async function runConfig(
  cluster: PgCluster,
  o: ClusterOptions,
  spec: { name: string; title: string; mode: FleetMode; nodes: number; extraArgs?: string[] },
  warmup: CheckQuery[],
  reps: CheckQuery[][],
  keep = false,
  running?: { fleet: FleetNode[]; startMs: number; notBefore: number },
): Promise<{ result: ConfigResult; fleet: FleetNode[] }> {
  const t0 = performance.now();
  const fleet = running?.fleet ?? (await startFleet(cluster, spec.mode, spec.nodes, o.cacheBytes, spec.extraArgs));
  const startMs = running?.startMs ?? performance.now() - t0;
  console.log(`  ${spec.title}: ${fleet.length} node(s) up in ${(startMs / 1000).toFixed(1)} s`);
  try {
    if (running) await sleep(running.notBefore - Date.now());
    const w = await drive(fleet, warmup, o.concurrency, 'minimize_latency');
    if (w.errors.length) throw new Error(`warm-up: ${w.errors.length} calls failed, e.g. ${w.errors[0]}`);
    const summaries: Summary[] = [];
    const perRep: NodeCounters[] = [];
    const answers: number[] = [];
    const errors: string[] = [];
    const first = await fleetCounters(fleet);
    let before = first;
    for (const [i, questions] of reps.entries()) {
      const out = await drive(fleet, questions, o.concurrency, 'minimize_latency');
      const after = await fleetCounters(fleet);
      const d = total(deltas(before, after));
      before = after;
      summaries.push(summarize(out.latenciesMs, out.elapsedMs));
      perRep.push(d);
      answers.push(...out.answers);
      errors.push(...out.errors);
      console.log(
        `    rep ${i + 1}: p50 ${ms(summaries[i].p50)} ms, p99 ${ms(summaries[i].p99)} ms, ` +
          `${count(summaries[i].throughput)} checks/s, hit ratio ${(hitRatio(d) * 100).toFixed(1)}%` +
          (out.errors.length ? `, ${out.errors.length} errors` : ''),
      );
    }
    const perNode = deltas(first, before);
    const result: ConfigResult = {
      name: spec.name,
      title: spec.title,
      nodes: spec.nodes,
      summaries,
      fleet: perRep,
      perNode,
      answers: Uint8Array.from(answers),
      errors,
      startMs,
      ringLeaves: fleet.flatMap((n) =>
        n.proc
          .logs()
          .split('\n')
          .filter((l) => l.includes('dispatch peer left the ring'))
          .map((l) => `${n.name}: ${/"msg":"([^"]*)"/.exec(l)?.[1] ?? l}`),
      ),
    };
    if (!keep) await stopFleet(fleet);
    return { result, fleet };
  } catch (e) {
    await stopFleet(fleet);
    throw e;
  }
}

interface HopResult {
  questions: number;
  owners: number[];
  /** Per repetition: p50 (ms) of calls answered by the node asked, and of calls it sent to the owner. */
  reps: Array<{ localP50: number; remoteP50: number; localP99: number; remoteP99: number; calls: number }>;
  counters: NodeCounters;
  expectedRemote: number;
}

/** The owner of each trivial check's root sub-problem, from the asked node's pemba_dispatch_total. */
async function ownersOf(fleet: FleetNode[], questions: CheckQuery[]): Promise<number[]> {
  const owners: number[] = [];
  for (const q of questions) {
    let owner = -1;
    for (let i = 0; i < fleet.length - 1 && owner < 0; i++) {
      const before = counters(await scrape(fleet[i]));
      await fleet[i].client.promises.checkPermission({
        ...req.checkRequest(q, undefined),
        consistency: consistency('minimize_latency'),
      });
      const after = counters(await scrape(fleet[i]));
      const local = after.local - before.local;
      const remote = after.remote - before.remote + after.hedged - before.hedged;
      if (local === 1 && remote === 0) owner = i;
      else if (!(local === 0 && remote === 1))
        throw new Error(`${fleet[i].name}: a trivial check dispatched ${local} local, ${remote} remote (expected one)`);
    }
    owners.push(owner < 0 ? fleet.length - 1 : owner);
  }
  return owners;
}

async function measureHop(fleet: FleetNode[], dataset: Dataset, o: ClusterOptions): Promise<HopResult> {
  const questions = trivialChecks(dataset, 6);
  const owners = await ownersOf(fleet, questions);
  const requests = questions.map((q) => ({
    ...req.checkRequest(q, undefined),
    consistency: consistency('minimize_latency'),
  }));
  // Warm: every node asks every question (the owner caches the answer; V8 compiles the paths).
  for (let r = 0; r < 20; r++)
    for (const request of requests) for (const n of fleet) await n.client.promises.checkPermission(request);
  const before = await fleetCounters(fleet);
  const reps: HopResult['reps'] = [];
  let expectedRemote = 0;
  for (let rep = 0; rep < o.reps; rep++) {
    const local: number[] = [];
    const remote: number[] = [];
    for (let round = 0; round < o.hopRounds; round++) {
      for (const [qi, request] of requests.entries()) {
        for (let k = 0; k < fleet.length; k++) {
          // Rotate the order of the nodes, so neither kind always follows the other.
          const ni = (k + round + qi) % fleet.length;
          const t = performance.now();
          await fleet[ni].client.promises.checkPermission(request);
          (ni === owners[qi] ? local : remote).push(performance.now() - t);
        }
      }
    }
    expectedRemote += remote.length;
    const l = summarize(local, 1);
    const r = summarize(remote, 1);
    reps.push({
      localP50: l.p50,
      remoteP50: r.p50,
      localP99: l.p99,
      remoteP99: r.p99,
      calls: local.length + remote.length,
    });
    console.log(`    rep ${rep + 1}: owner asked p50 ${ms(l.p50)} ms, another node asked p50 ${ms(r.p50)} ms`);
  }
  const after = await fleetCounters(fleet);
  return { questions: questions.length, owners, reps, counters: total(deltas(before, after)), expectedRemote };
}

interface ReplicaResult {
  kind: ConsistencyKind;
  /** Whether a writer committed a relationship every WRITE_EVERY_MS during the run. */
  writes: boolean;
  /** Per repetition. */
  shares: number[];
  replicaReads: number[];
  primaryReads: number[];
  p50: number[];
  commits: number[];
}

const WRITE_EVERY_MS = 100;

async function measureReplica(fleet: FleetNode[], dataset: Dataset, o: ClusterOptions): Promise<ReplicaResult[]> {
  const leaves = [...leafTeams(dataset).keys()];
  const variants: Array<[ConsistencyKind, boolean]> = [
    ['minimize_latency', false],
    ['fully_consistent', false],
    ['minimize_latency', true],
    ['fully_consistent', true],
  ];
  const results = variants.map(
    ([kind, writes]) =>
      ({ kind, writes, shares: [], replicaReads: [], primaryReads: [], p50: [], commits: [] }) as ReplicaResult,
  );
  let written = 0;
  for (let rep = 0; rep < o.reps; rep++) {
    for (const [k, [kind, writes]] of variants.entries()) {
      const questions = leafTeamQuestions(
        dataset,
        leaves,
        new Rng(`cluster/replica/${o.seed}/${k}/${rep}`),
        o.replicaCalls,
      );
      const before = await fleetCounters(fleet);
      let writing = writes;
      let commits = 0;
      // One TOUCH of a new grant every WRITE_EVERY_MS (on the nodes in turn), none of which the questions read.
      const writer = (async () => {
        while (writing) {
          const t = performance.now();
          const rel = {
            resource: obj('repository', 'r0'),
            relation: 'reader',
            subject: subject('user', `w${written++}`),
          };
          await fleet[commits % fleet.length].client.promises.writeRelationships(req.writeRequest([rel], 'TOUCH'));
          commits++;
          await sleep(Math.max(0, WRITE_EVERY_MS - (performance.now() - t)));
        }
      })();
      const out = await drive(fleet, questions, o.concurrency, kind);
      writing = false;
      await writer;
      if (out.errors.length) throw new Error(`${kind}: ${out.errors.length} calls failed, e.g. ${out.errors[0]}`);
      const d = total(deltas(before, await fleetCounters(fleet)));
      const r = results[k];
      const share = d.replicaReads / (d.replicaReads + d.primaryReads);
      r.replicaReads.push(d.replicaReads);
      r.primaryReads.push(d.primaryReads);
      r.shares.push(share);
      r.commits.push(commits);
      r.p50.push(summarize(out.latenciesMs, out.elapsedMs).p50);
      console.log(
        `    rep ${rep + 1} ${kind}${writes ? ` with ${commits} writes` : ''}: ${d.replicaReads} replica reads, ` +
          `${d.primaryReads} primary reads (${(share * 100).toFixed(1)}% replica)`,
      );
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Report

interface ClusterRun {
  options: ClusterOptions;
  argv: string;
  machine: ReturnType<typeof describeMachine>;
  startedAt: string;
  wallMs: number;
  loadAverageAtEnd: number;
  dataset: { title: string; sizes: Record<string, number>; notes: string[]; relationships: number; loadMs: number };
  distinctQuestions: number;
  measuredCalls: number;
  configs: ConfigResult[];
  hop?: HopResult;
  replica?: ReplicaResult[];
  clusterMs: number;
}

const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '–');
const medianOf = (xs: number[]) => median(xs.filter((x) => Number.isFinite(x)));
const mibText = (b: number) =>
  b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(2)} MiB` : `${(b / 1024).toFixed(b >= 10 * 1024 ? 0 : 1)} KiB`;
const range = (xs: number[], f: (x: number) => string) =>
  xs.length > 1 ? `${f(Math.min(...xs))}–${f(Math.max(...xs))}` : f(xs[0]);

function disagreements(a: ConfigResult, b: ConfigResult): number {
  let n = 0;
  for (let i = 0; i < a.answers.length; i++) if (a.answers[i] !== b.answers[i]) n++;
  return n;
}

function renderClusterReport(run: ClusterRun): string {
  const o = run.options;
  const m = run.machine;
  const lines: string[] = [];
  const p = (s = '') => lines.push(s);
  p('# Pemba fleet benchmark');
  p();
  p(
    `> **Everything here ran on one ${m.cores}-core machine:** the PostgreSQL primary and its streaming replica, ` +
      `three Pemba nodes and the load generator all share the same ${m.cores} cores. ` +
      `Three nodes cannot be faster than one here, so this report does **not** show throughput scaling. ` +
      `It shows what can be measured on one machine: how the dispatch cache behaves when a fleet shares the ` +
      `work by hashing, what one remote dispatch hop costs, and how many reads a replica takes off the primary.`,
  );
  p();
  p(
    `${run.startedAt} · ${duration(run.wallMs)} · \`npm run bench -- --cluster${run.argv ? ` ${run.argv}` : ''}\` · ` +
      `${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB · Node ${m.node} · ${m.os} · commit ${m.commit} · ` +
      `load average ${m.loadAverage} at the start, ${run.loadAverageAtEnd} at the end`,
  );
  p();
  const d = run.dataset;
  p('## Setup');
  p();
  p(
    `- Data: ${d.title}, ${d.relationships.toLocaleString('en-US')} relationships ` +
      `(${Object.entries(d.sizes)
        .map(([k, v]) => `${v.toLocaleString('en-US')} ${k}`)
        .join(', ')}), imported once into the PostgreSQL primary through ImportBulkRelationships ` +
      `(${(d.loadMs / 1000).toFixed(1)} s). ${d.notes[0]}.`,
  );
  p(
    `- PostgreSQL ${'15'}: a throwaway primary and one streaming replica (test/cluster/pg-cluster.ts; fsync off), ` +
      `made in ${(run.clusterMs / 1000).toFixed(1)} s. Every node is given the replica ` +
      `(\`--datastore-read-replica-conn-uri\`) in every configuration.`,
  );
  p(
    `- Every node: \`pemba serve --datastore-engine postgres --dispatch-cache-max-cost ${o.cacheBytes} ` +
      `(${mibText(o.cacheBytes)}) --nested-group-index-enabled false --metrics-enabled\`; the fleet with dispatch adds ` +
      `\`--dispatch-cluster-enabled --dispatch-upstream-addr\` with all three nodes: (b) leaves the hedging delay at its ` +
      `default (50 ms), (b′) sets \`--dispatch-hedging-delay 60s\`, which in effect turns hedging off. ` +
      `Nested-group membership is therefore evaluated by walking the team tree, one sub-problem per team, ` +
      `so the dispatch cache matters.`,
  );
  p(
    `- Questions: \`read\` on a repository for a user; the repository and the user each drawn Zipf(s = ${o.zipf}) ` +
      `over a fixed scrambled ranking of all ${d.sizes.repositories.toLocaleString('en-US')} repositories and ` +
      `${d.sizes.users.toLocaleString('en-US')} users (hot repositories, hot users). ` +
      `${o.warmupCalls.toLocaleString('en-US')} warm-up calls, then ${o.reps} measured repetitions of ` +
      `${o.calls.toLocaleString('en-US')} calls (${run.distinctQuestions.toLocaleString('en-US')} distinct questions among ` +
      `the ${run.measuredCalls.toLocaleString('en-US')} measured), the same questions in the same order for every configuration; ` +
      `minimize_latency; ${o.concurrency} calls in flight from one load-generator process, ` +
      `call i to node i mod n (round-robin) over one \`@authzed/authzed-node\` client per node.`,
  );
  p(
    "- Cache and dispatch figures are deltas of the nodes' `/metrics` over the measured repetitions, summed over the " +
      'fleet: hit ratio = Σ hits / Σ (hits + misses) of `pemba_dispatch_cache_*_total`; dispatches from ' +
      '`pemba_dispatch_total{kind}`. Each figure is the median over the repetitions (range in the spread columns).',
  );
  p();

  p('## 1. Zipf-skewed Check: one node, three nodes with dispatch, three nodes without');
  p();
  p(
    '| Configuration | Hit ratio (fleet) | Range | p50 ms | p99 ms | Checks/s | p50 range | Local / remote / hedged / failed dispatches per rep | Cache lookups per check | Evictions per rep | Cache held at the end (all nodes) |',
  );
  p('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of run.configs) {
    const ratios = c.fleet.map(hitRatio);
    const med = (f: (x: NodeCounters) => number) => medianOf(c.fleet.map(f));
    const dispatch = c.name.startsWith('b')
      ? `${int(med((x) => x.local))} / ${int(med((x) => x.remote))} / ${int(med((x) => x.hedged))} / ${int(med((x) => x.remoteFailed))}`
      : 'none (no dispatch)';
    const held = total(c.perNode);
    p(
      `| (${c.name}) ${c.title} | **${pct(medianOf(ratios))}** | ${range(ratios, pct)} | ${ms(medianOf(c.summaries.map((s) => s.p50)))} | ` +
        `${ms(medianOf(c.summaries.map((s) => s.p99)))} | ${count(medianOf(c.summaries.map((s) => s.throughput)))} | ` +
        `${range(
          c.summaries.map((s) => s.p50),
          ms,
        )} | ${dispatch} | ${(med((x) => x.hits + x.misses) / o.calls).toFixed(1)} | ${int(med((x) => x.evictions))} | ` +
        `${mibText(held.cacheBytes)} in ${held.cacheEntries.toLocaleString('en-US')} entries |`,
    );
  }
  p();
  const a = run.configs.find((c) => c.name === 'a');
  const b = run.configs.find((c) => c.name === 'b');
  const c3 = run.configs.find((c) => c.name === 'c');
  p('Per node, over all measured repetitions (hits / misses, evictions, cache bytes at the end):');
  p();
  p('| Configuration | ' + ['node1', 'node2', 'node3'].join(' | ') + ' |');
  p('|---|---|---|---|');
  for (const c of run.configs) {
    const cells = [0, 1, 2].map((i) => {
      const n = c.perNode[i];
      if (!n) return '';
      return `${int(n.hits)} / ${int(n.misses)} (${pct(hitRatio(n))}), ${int(n.evictions)} evicted, ${mibText(n.cacheBytes)}`;
    });
    p(`| (${c.name}) | ${cells.join(' | ')} |`);
  }
  p();
  // Does one node's budget hold the working set, and do three? Read off the numbers.
  if (a && b && c3) {
    const b2 = run.configs.find((c) => c.name === 'b′');
    const hedgeShare = (c: ConfigResult) => {
      const t = total(c.fleet);
      return t.hedged / (t.remote + t.hedged + t.remoteFailed);
    };
    const aHeld = total(a.perNode);
    p('What the numbers say about the working set:');
    p();
    p(
      `- One node, ${mibText(o.cacheBytes)}: ${int(aHeld.evictions)} evictions over the measured repetitions; its cache ended ` +
        `${pct(aHeld.cacheBytes / o.cacheBytes)} full. ` +
        (aHeld.evictions > 0
          ? 'It could not hold the working set.'
          : 'It held the working set (no evictions): the budget is too large to show the effect.'),
    );
    for (const f of [b2, b]) {
      if (!f) continue;
      const held = total(f.perNode);
      p(
        `- (${f.name}) three nodes with dispatch${f === b2 ? ', hedging off' : ''}, ${mibText(o.cacheBytes)} each ` +
          `(${mibText(3 * o.cacheBytes)} in all): ${int(held.evictions)} evictions; they held ${mibText(held.cacheBytes)} ` +
          `in ${int(held.cacheEntries)} entries (${f.perNode.map((n) => mibText(n.cacheBytes)).join(', ')}). ` +
          (held.evictions === 0
            ? `Nothing was evicted, so this is the whole admitted working set of these questions under hashing: ` +
              `${(held.cacheBytes / o.cacheBytes).toFixed(2)}× one node's budget, ` +
              `${held.cacheBytes > o.cacheBytes ? 'more than one node holds, ' : ''}and three budgets hold it.`
            : f === b && f.fleet.some((r) => r.hedged > 0)
              ? 'Hedged sub-problems are also evaluated and cached by the node that sent them, so entries are duplicated ' +
                'across nodes and the budgets overflow.'
              : 'They evicted a little too: the working set is slightly larger than three budgets.'),
      );
    }
    p(
      `- (c) three nodes without dispatch: each node caches whatever it is asked, so the three caches hold largely the same ` +
        `entries (${c3.perNode.map((n) => mibText(n.cacheBytes)).join(', ')}), ${int(total(c3.perNode).evictions)} evictions, ` +
        `and each node sees only a third of the traffic to warm them.`,
    );
    p(
      `- Hit ratios are low everywhere because the measured phase is short: ${run.distinctQuestions.toLocaleString('en-US')} ` +
        `of the ${run.measuredCalls.toLocaleString('en-US')} measured questions are distinct, and the cache admits a key only ` +
        `the second time it is offered (its doorkeeper), so every sub-problem misses at least twice. What the ` +
        `configurations change is what happens to the repeats: one node evicts them, three nodes without dispatch see ` +
        `each repeat on a node that has not seen it before two times in three, three nodes with dispatch keep them all.`,
    );
    const others = run.configs.filter((c) => c !== a);
    const bad = others.map((c) => disagreements(a, c));
    p(
      `- Answers: ${bad.every((x) => x === 0) ? 'identical in every configuration for every measured call' : others.map((c, i) => `(${c.name}) differs from (a) on ${bad[i]} calls`).join(', ')}` +
        ` (${((a.answers.filter((x) => x === 1).length / a.answers.length) * 100).toFixed(1)}% allowed); ` +
        `${run.configs.reduce((n, c) => n + c.errors.length, 0)} calls failed.`,
    );
    p(
      `- Hedging: in (b), ${pct(hedgeShare(b))} of the sub-problems sent to another node were hedged (the sending node ` +
        `evaluated the sub-problem itself as well)` +
        (b2
          ? `. With hedging off (b′): ${pct(hedgeShare(b2))} hedged, hit ratio ${pct(medianOf(b2.fleet.map(hitRatio)))}, ` +
            `p50 ${ms(medianOf(b2.summaries.map((s) => s.p50)))} ms, ${count(medianOf(b2.summaries.map((s) => s.throughput)))} checks/s, ` +
            `against (b)'s ${ms(medianOf(b.summaries.map((s) => s.p50)))} ms and ${count(medianOf(b.summaries.map((s) => s.throughput)))} checks/s.`
          : ' (the quick profile skips the run with hedging off).'),
    );
    const failed = total(b.fleet).remoteFailed;
    if (failed > 0 || b.ringLeaves.length > 0) {
      const reasons = new Map<string, number>();
      for (const l of b.ringLeaves) {
        const reason = l.slice(l.indexOf(': ') + 2);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
      p(
        `- (b) also counted ${int(failed)} remote_failed dispatches over the measured repetitions, and its nodes logged ` +
          `${b.ringLeaves.length} ring departures, warm-up included (${[...reasons].map(([r, n]) => `${n}× "${r}"`).join(', ') || 'none'}): ` +
          `a failed remote call takes a healthy, merely overloaded peer off the ring until its next Hello, which moves a ` +
          `third of the keys and their cache entries. With checks taking seconds at p99, remote calls reaching the 10 s ` +
          `\`--dispatch-upstream-timeout\` are the likely cause.`,
      );
    }
    const perCheck = (c: ConfigResult, f: (x: NodeCounters) => number) => medianOf(c.fleet.map(f)) / o.calls;
    const subproblems = (x: NodeCounters) => x.local + x.remote + x.hedged + x.remoteFailed;
    if (hedgeShare(b) > 0.05)
      p(
        `- Hedging compounds: (b) made ${perCheck(b, (x) => x.hits + x.misses).toFixed(1)} cache lookups and ` +
          `${perCheck(b, subproblems).toFixed(1)} owner look-ups (local + remote + hedged dispatches) per check` +
          (b2
            ? `, (b′) ${perCheck(b2, (x) => x.hits + x.misses).toFixed(1)} and ${perCheck(b2, subproblems).toFixed(1)}`
            : '') +
          `, (a) ${perCheck(a, (x) => x.hits + x.misses).toFixed(1)} lookups. A hedged sub-problem is evaluated again by the ` +
          `node that sent it; that evaluation sends the sub-problem's own sub-problems to their owners, which are slow for ` +
          `the same reason and are hedged in turn, so the duplicated work grows with the depth of the team tree — on a ` +
          `machine that is slow because it is overloaded, which hedging then overloads further (p99 ` +
          `${ms(medianOf(b.summaries.map((s) => s.p99)))} ms). The higher hit ratio of (b) counts those duplicated lookups ` +
          `(the same answers asked for again) and is not comparable with the others.`,
      );
    p();
    p(
      'Latency and throughput on this machine mostly reflect how many processes compete for two cores: three nodes with ' +
        "dispatch also pay a loopback gRPC hop (and the owner's work) for two thirds of the sub-problems. Compare the " +
        'hit ratios; read the latencies as what a single shared box gives, not as what a fleet on separate machines would.',
    );
    p();
  }

  if (run.hop) {
    const h = run.hop;
    const local = medianOf(h.reps.map((r) => r.localP50));
    const remote = medianOf(h.reps.map((r) => r.remoteP50));
    p('## 2. The cost of one remote dispatch hop');
    p();
    p(
      `${h.questions} trivial checks \`team:T#member@user:U\` (T a team without sub-teams, U a direct member: the root ` +
        `sub-problem reads one relation and dispatches nothing further), each asked of all three nodes of the fleet ` +
        `with dispatch, one call at a time, ${o.hopRounds} rounds per repetition, minimize_latency. The owner of each ` +
        `check's root sub-problem was found from the asked node's \`pemba_dispatch_total\` deltas (local +1 on the owner, ` +
        `remote +1 elsewhere); owners: ${h.owners.map((x) => `node${x + 1}`).join(', ')}. After a warm-up the owner has the ` +
        `answer cached, so asking the owner costs the API call plus a cache hit, and asking another node adds exactly ` +
        `one loopback dispatch hop to the owner (whose answer is again a cache hit).`,
    );
    p();
    p('| | p50 ms | p99 ms | p50 range |');
    p('|---|---:|---:|---:|');
    p(
      `| Asked the owner (local) | ${ms(local)} | ${ms(medianOf(h.reps.map((r) => r.localP99)))} | ${range(
        h.reps.map((r) => r.localP50),
        ms,
      )} |`,
    );
    p(
      `| Asked another node (one remote hop) | ${ms(remote)} | ${ms(medianOf(h.reps.map((r) => r.remoteP99)))} | ${range(
        h.reps.map((r) => r.remoteP50),
        ms,
      )} |`,
    );
    p(
      `| **Difference (cost of one hop)** | **${ms(remote - local)}** | | ${range(
        h.reps.map((r) => r.remoteP50 - r.localP50),
        ms,
      )} |`,
    );
    p();
    p(
      `During these calls the fleet counted ${int(h.counters.remote)} remote, ${int(h.counters.hedged)} hedged and ` +
        `${int(h.counters.remoteFailed)} failed dispatches (${int(h.expectedRemote)} calls went to a non-owner) and ` +
        `${int(h.counters.local)} local ones.`,
    );
    p();
  }

  if (run.replica) {
    p('## 3. Read-replica offload');
    p();
    p(
      `The fleet with dispatch (b: three nodes, each given the replica), ${o.replicaCalls.toLocaleString('en-US')} checks ` +
        `\`team:T#member@user:U\` per repetition, T a team without sub-teams and U a user, both drawn uniformly (few cache ` +
        `hits: about one snapshot read per check), ${o.concurrency} in flight; without writes, and with a writer committing ` +
        `one new relationship (TOUCH, on the nodes in turn, never read by the checks) every ${WRITE_EVERY_MS} ms during the ` +
        `run. The four variants alternate, ${o.reps} repetitions each. Share = Σ ` +
        '`pemba_datastore_replica_reads_total` / Σ (replica + `pemba_datastore_primary_reads_total`) over the nodes. ' +
        "Each node polls the replica's applied revision every 150 ms and sends a read there only at a revision it has applied.",
    );
    p();
    p(
      '| Consistency | Writes during the run | Replica share | Range | Replica reads per rep | Primary reads per rep | Check p50 ms |',
    );
    p('|---|---|---:|---:|---:|---:|---:|');
    for (const r of run.replica) {
      p(
        `| ${r.kind} | ${r.writes ? `${int(medianOf(r.commits))} commits` : 'none'} | **${pct(medianOf(r.shares))}** | ${range(r.shares, pct)} | ${int(medianOf(r.replicaReads))} | ` +
          `${int(medianOf(r.primaryReads))} | ${ms(medianOf(r.p50))} |`,
      );
    }
    p();
  }

  if (run.replica?.some((r) => !r.writes && Math.min(...r.shares) < 1)) {
    p(
      'Without writes the share can still fall below 100% in a repetition that directly follows one with writes: its ' +
        'quantized revision can be newer than the replica head the nodes last polled (every 150 ms), so those reads go ' +
        'to the primary until the next poll.',
    );
    p();
  }
  p('## Raw repetitions');
  p();
  p(
    '| Configuration | Rep | p50 ms | p99 ms | Checks/s | Hits | Misses | Hit ratio | Local | Remote | Hedged | Failed | Evictions |',
  );
  p('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of run.configs) {
    c.summaries.forEach((s, i) => {
      const f = c.fleet[i];
      p(
        `| (${c.name}) | ${i + 1} | ${ms(s.p50)} | ${ms(s.p99)} | ${count(s.throughput)} | ${f.hits} | ${f.misses} | ` +
          `${pct(hitRatio(f))} | ${f.local} | ${f.remote} | ${f.hedged} | ${f.remoteFailed} | ${f.evictions} |`,
      );
    });
  }
  p();
  p(
    `Node start-up (all nodes of a configuration in parallel, from source through tsx): ` +
      run.configs.map((c) => `(${c.name}) ${(c.startMs / 1000).toFixed(1)} s`).join(', ') +
      '.',
  );
  p();
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

export async function runClusterBench(argv: string[]): Promise<string> {
  const o = parseClusterOptions(argv);
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const machine = describeMachine();
  const dataset = githubDataset(o.scale, o.seed);
  const warmup = zipfQuestions(dataset, o.zipf, new Rng(`cluster/zipf/${o.seed}/warmup`), o.warmupCalls);
  const reps = Array.from({ length: o.reps }, (_, i) =>
    zipfQuestions(dataset, o.zipf, new Rng(`cluster/zipf/${o.seed}/${i}`), o.calls),
  );
  const distinct = new Set(reps.flat().map((q) => `${q.resource.id}@${q.subject.id}`)).size;

  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: removing the fleet and the PostgreSQL cluster`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log('PostgreSQL primary + replica');
    const tc = performance.now();
    const cluster = (pgCluster = await createPgCluster({ replicas: 1 }));
    const clusterMs = performance.now() - tc;
    console.log(
      `  up in ${(clusterMs / 1000).toFixed(1)} s (primary :${cluster.primary.port}, replica :${cluster.replicas[0].port})`,
    );

    console.log(`${dataset.title}: loading`);
    const ts = performance.now();
    const single = await startFleet(cluster, 'single', 1, o.cacheBytes);
    const singleStartMs = performance.now() - ts;
    const tl = performance.now();
    const relationships = await load(single[0], dataset);
    const loadMs = performance.now() - tl;
    console.log(`  ${relationships.toLocaleString('en-US')} relationships in ${(loadMs / 1000).toFixed(1)} s`);
    // minimize_latency reads the newest revision committed by the start of its 5 s window (the
    // default quantization): the import is seen from the next window on.
    const notBefore = Math.ceil(Date.now() / 5000) * 5000 + 100;

    const configs: ConfigResult[] = [];
    console.log('1. Zipf-skewed Check');
    // (a) runs on the node that loaded the data (loading does not touch the dispatch cache).
    configs.push(
      (
        await runConfig(cluster, o, { name: 'a', title: '1 node', mode: 'single', nodes: 1 }, warmup, reps, false, {
          fleet: single,
          startMs: singleStartMs,
          notBefore,
        })
      ).result,
    );
    configs.push(
      (
        await runConfig(
          cluster,
          o,
          { name: 'c', title: '3 nodes without dispatch', mode: 'independent', nodes: 3 },
          warmup,
          reps,
        )
      ).result,
    );
    if (!o.quick)
      configs.push(
        (
          await runConfig(
            cluster,
            o,
            {
              name: 'b′',
              title: '3 nodes with dispatch, hedging off',
              mode: 'dispatch',
              nodes: 3,
              extraArgs: ['--dispatch-hedging-delay', '60s'],
            },
            warmup,
            reps,
          )
        ).result,
      );
    const { result: b, fleet } = await runConfig(
      cluster,
      o,
      { name: 'b', title: '3 nodes with dispatch', mode: 'dispatch', nodes: 3 },
      warmup,
      reps,
      true,
    );
    configs.push(b);
    const order = ['a', 'b', 'b′', 'c'];
    configs.sort((x, y) => order.indexOf(x.name) - order.indexOf(y.name));
    let hop: HopResult | undefined;
    let replica: ReplicaResult[] | undefined;
    try {
      console.log('2. One remote dispatch hop');
      hop = await measureHop(fleet, dataset, o);
      console.log('3. Read-replica offload');
      replica = await measureReplica(fleet, dataset, o);
    } finally {
      await stopFleet(fleet);
    }

    const run: ClusterRun = {
      options: o,
      argv: argv.join(' '),
      machine,
      startedAt,
      wallMs: performance.now() - t0,
      loadAverageAtEnd: Math.round(loadavg()[0] * 100) / 100,
      dataset: { title: dataset.title, sizes: dataset.sizes, notes: dataset.notes, relationships, loadMs },
      distinctQuestions: distinct,
      measuredCalls: o.reps * o.calls,
      configs,
      hop,
      replica,
      clusterMs,
    };
    const markdown = renderClusterReport(run);
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(`${o.out}.md`, markdown);
    console.log(`\n${markdown}`);
    console.log(`wrote ${resolve(`${o.out}.md`)} in ${duration(run.wallMs)}`);
    return `${o.out}.md`;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await runClusterBench(process.argv.slice(2));
}
