/**
 * The OpenFGA front end against the SpiceDB one, over the same engine, data and queries, in one
 * process and one run (issue 16: list-users/list-objects fast on large stores).
 *
 * Per dataset (`--dataset`, default the GitHub-like one, datasets/github.ts, and deep nesting,
 * datasets/deep-nesting.ts), each loaded into memory datastores of their own:
 *   (a) the Pemba facade with the dataset's SpiceDB schema, through importRelationships;
 *   (b) an OpenFgaService store whose model is that schema translated by openFgaModelOf
 *       (src/openfga/from-spicedb.ts), its tuples written with `service.write`, 100 per call (as an
 *       OpenFGA client must; ~100,000 tuples take about a second), limits all 0 (no caps, no deadlines);
 *   (c) with `--fga-index both` (the default), the same store on an engine opened with
 *       `nestedGroupIndex: false`: how every OpenFGA call was evaluated before issue 16.
 * Then, per workload, each side warms up for `--warmup-ms` with queries of its own, and each
 * repetition asks every side the same fresh queries from the seed, one side after another:
 *
 *   Check (negative and positive mix)   Pemba.check            ↔ service.check
 *   per user                            Pemba.lookupResources  ↔ service.listObjects
 *   per resource, its users             Pemba.lookupSubjects   ↔ service.listUsers
 *
 * Every side reads at minimize_latency (OpenFGA's default), after the datastores' first quantization
 * window, so each shares its caches across calls as a server under load does. Every figure is the
 * median of that figure over the repetitions; the Answers column counts the answers of each OpenFGA
 * side that differ from the facade's (an error, such as OpenFGA's depth limit of 25, counts as one).
 * Writes bench/results/openfga.{md,json} (`--out`); `--baseline file.json` (a previous run's JSON)
 * adds its OpenFGA figures as before columns.
 *
 *   node --import tsx bench/openfga.ts [--dataset github,deep] [--scale 1] [--reps 3] [--ops-scale 1]
 *        [--warmup-ms 2000] [--fga-index both|on|off] [--baseline bench/results/openfga-before.json]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { Datastore } from '../src/datastore/datastore.js';
import { openMemoryDatastore } from '../src/datastore/memory/datastore.js';
import { Engine } from '../src/engine/engine.js';
import { openCatalog } from '../src/openfga/catalog/index.js';
import { openFgaModelOf } from '../src/openfga/from-spicedb.js';
import { OpenFgaService } from '../src/openfga/service.js';
import { Pemba } from '../src/pemba.js';
import type { Relationship, SubjectRef } from '../src/relationships/relationship.js';
import { compileSchema } from '../src/schema/index.js';
import { ELLIPSIS, type Dataset } from './datasets/dataset.js';
import { buildDataset } from './datasets/index.js';
import { duration, ms, ratio } from './format.js';

const seconds = (x: number) => `${(x / 1000).toFixed(1)} s`;
import { describeMachine, type Machine } from './machine.js';
import { Rng } from './rng.js';
import { medianSummary, summarize, type Summary } from './stats.js';
import { settleDatastore } from './systems/system.js';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'github,deep' },
    scale: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    reps: { type: 'string', default: '3' },
    'ops-scale': { type: 'string', default: '1' },
    'warmup-ms': { type: 'string', default: '2000' },
    'fga-index': { type: 'string', default: 'both' },
    baseline: { type: 'string' },
    label: { type: 'string' },
    out: { type: 'string', default: 'bench/results/openfga' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(
    'node --import tsx bench/openfga.ts [--dataset github,deep] [--scale 1] [--seed 1] [--reps 3]\n' +
      '  [--ops-scale 1] [--warmup-ms 2000]\n' +
      '  [--fga-index both|on|off] [--baseline previous.json] [--label text] [--out bench/results/openfga]',
  );
  process.exit(0);
}

const scale = Number(args.scale);
const seed = Number(args.seed);
const reps = Number(args.reps);
const opsScale = Number(args['ops-scale']);
const warmupMs = Number(args['warmup-ms']);
const fgaIndex = args['fga-index'] ?? 'both';
if (!['on', 'off', 'both'].includes(fgaIndex)) throw new Error(`--fga-index ${fgaIndex}: on, off or both`);
const MINIMIZE_LATENCY = { mode: 'minimize_latency' } as const;
const CHUNK = 100;

/** Who answers: the facade, the OpenFGA service and (`--fga-index both`) the OpenFGA service without the index. */
type Side = 'spicedb' | 'openfga' | 'openfgaOff';
/** One query asked of every side; each answers with a number (1/0 for Check, a count for the lookups). */
type Op = Partial<Record<Side, () => Promise<number>>>;

interface WorkloadSpec {
  name: string;
  title: string;
  ops: number;
  sample: (rng: Rng) => Op;
}

export interface WorkloadResult {
  name: string;
  title: string;
  spicedb: Summary;
  /** The OpenFGA front end (its index as `options.fgaIndex` says; `both`: on). */
  openfga: Summary;
  /** With `--fga-index both`: the OpenFGA front end on an engine without the nested-group index. */
  openfgaOff?: Summary;
  /** Per OpenFGA side, queries it answered differently from the facade (over every repetition). */
  disagreements: Partial<Record<Side, number>>;
  /** Queries that failed (OpenFGA: resolution too complex past depth 25), per side. */
  errors?: Partial<Record<Side, number>>;
  /** Mean answer (results per lookup; share of YES for Check), from the facade. */
  meanAnswer: number;
}

export interface OpenFgaBenchResult {
  label: string;
  machine: Machine;
  loadAverageEnd: number;
  dataset: { name: string; title: string; relationships: number; notes: string[] };
  options: { scale: number; seed: number; reps: number; opsScale: number; warmupMs: number; fgaIndex: string };
  load: { spicedbMs: number; openfgaMs: number; openfgaVia: string };
  fgaIndexStats?: unknown;
  workloads: WorkloadResult[];
  elapsedMs: number;
}

/** A failed query's answer (counted, and compared like any other). */
const ERROR = -1;
async function answerOf(op: () => Promise<number>): Promise<number> {
  try {
    return await op();
  } catch {
    return ERROR;
  }
}

const fgaUser = (s: SubjectRef) => (s.relation === ELLIPSIS ? `${s.type}:${s.id}` : `${s.type}:${s.id}#${s.relation}`);
const tupleOf = (r: Relationship) => ({
  object: `${r.resource.type}:${r.resource.id}`,
  relation: r.relation,
  user: fgaUser(r.subject),
});

interface FgaStack {
  datastore: Datastore;
  engine: Engine;
  service: OpenFgaService;
  storeId: string;
  loadMs: number;
}

/** An OpenFGA store on a memory datastore of its own: the dataset's schema translated, its tuples written. */
async function openFgaStack(dataset: Dataset, nestedGroupIndex: boolean): Promise<FgaStack> {
  const datastore: Datastore = openMemoryDatastore();
  const engine = await Engine.open(datastore, { nestedGroupIndex });
  const service = new OpenFgaService({
    datastore,
    engine,
    catalog: await openCatalog(datastore),
    limits: { listObjectsMaxResults: 0, listObjectsDeadlineMs: 0, listUsersMaxResults: 0, listUsersDeadlineMs: 0 },
  });
  const { id: storeId } = (await service.createStore({ name: `bench ${dataset.name}` })) as { id: string };
  await service.writeAuthorizationModel(storeId, openFgaModelOf(compileSchema(dataset.schema)));
  const t = performance.now();
  for (const batch of dataset.relationships()) {
    for (let i = 0; i < batch.length; i += CHUNK) {
      await service.write(storeId, { writes: { tuple_keys: batch.slice(i, i + CHUNK).map(tupleOf) } });
    }
  }
  return { datastore, engine, service, storeId, loadMs: performance.now() - t };
}

async function runDataset(name: string): Promise<OpenFgaBenchResult> {
  const started = performance.now();
  const machine = describeMachine();
  const dataset: Dataset = buildDataset(name, scale, seed);

  // (a) The SpiceDB front end.
  const pemba = await Pemba.open();
  const t = performance.now();
  await pemba.writeSchema(dataset.schema);
  const { count: relationships } = await pemba.importRelationships(dataset.relationships());
  const spicedbMs = performance.now() - t;

  // (b) The OpenFGA front end: a store whose model is the schema's translation (and (c) the same without the index).
  const stacks: Partial<Record<Side, FgaStack>> = { openfga: await openFgaStack(dataset, fgaIndex !== 'off') };
  if (fgaIndex === 'both') stacks.openfgaOff = await openFgaStack(dataset, false);
  const sides: Side[] = ['spicedb', ...(Object.keys(stacks) as Side[])];
  console.log(
    `loaded ${relationships.toLocaleString('en-US')} relationships: SpiceDB facade ${seconds(spicedbMs)} ` +
      `(importRelationships), OpenFGA ${seconds(stacks.openfga!.loadMs)} (service.write, ${CHUNK} per call)`,
  );
  await Promise.all([pemba.datastore, ...Object.values(stacks).map((s) => s.datastore)].map((d) => settleDatastore(d)));

  /** The same OpenFGA call on every OpenFGA side. */
  const fga = (op: (s: FgaStack) => Promise<number>): Op =>
    Object.fromEntries(Object.entries(stacks).map(([side, s]) => [side, () => op(s)]));
  const check = (mix: 'negative' | 'positive') => (rng: Rng) => {
    const q = dataset.sampleCheck(rng, mix);
    const body = {
      tuple_key: { object: `${q.resource.type}:${q.resource.id}`, relation: q.permission, user: fgaUser(q.subject) },
    };
    return {
      spicedb: async () =>
        (await pemba.check({ ...q, consistency: MINIMIZE_LATENCY })).permissionship === 'HAS_PERMISSION' ? 1 : 0,
      ...fga(async (s) => (((await s.service.check(s.storeId, body)) as { allowed: boolean }).allowed ? 1 : 0)),
    };
  };
  const workloads: WorkloadSpec[] = [
    { name: 'check-negative', title: 'Check, mostly negative', ops: 2000, sample: check('negative') },
    { name: 'check-positive', title: 'Check, positive-heavy', ops: 2000, sample: check('positive') },
    {
      name: 'list-objects',
      title: 'LookupResources ↔ ListObjects (per user)',
      ops: 100,
      sample: (rng) => {
        const q = dataset.sampleLookupResources(rng);
        const body = { type: q.resourceType, relation: q.permission, user: fgaUser(q.subject) };
        return {
          spicedb: async () => {
            let n = 0;
            for await (const _ of pemba.lookupResources({ ...q, consistency: MINIMIZE_LATENCY })) n++;
            return n;
          },
          ...fga(async (s) => ((await s.service.listObjects(s.storeId, body)) as { objects: string[] }).objects.length),
        };
      },
    },
    {
      name: 'list-users',
      title: 'LookupSubjects ↔ ListUsers (users, per resource)',
      ops: 200,
      sample: (rng) => {
        const q = dataset.sampleLookupSubjects(rng);
        const body = {
          object: { type: q.resource.type, id: q.resource.id },
          relation: q.permission,
          user_filters: [{ type: q.subjectType }],
        };
        return {
          spicedb: async () => {
            let n = 0;
            for await (const _ of pemba.lookupSubjects({ ...q, consistency: MINIMIZE_LATENCY })) n++;
            return n;
          },
          ...fga(async (s) => ((await s.service.listUsers(s.storeId, body)) as { users: unknown[] }).users.length),
        };
      },
    },
  ];

  const results: WorkloadResult[] = [];
  for (const w of workloads) {
    const ops = Math.max(10, Math.round(w.ops * opsScale));
    const warmRng = new Rng(`openfga/${w.name}/warmup/${seed}`);
    for (const side of sides) {
      const end = performance.now() + warmupMs;
      while (performance.now() < end) await answerOf(w.sample(warmRng)[side]!);
    }
    const perSide: Partial<Record<Side, Summary[]>> = {};
    const errors: Partial<Record<Side, number>> = {};
    const disagreements: Partial<Record<Side, number>> = {};
    let answers = 0;
    for (let rep = 0; rep < reps; rep++) {
      const rng = new Rng(`openfga/${w.name}/rep${rep}/${seed}`);
      const queries = Array.from({ length: ops }, () => w.sample(rng));
      const got: Partial<Record<Side, number[]>> = {};
      for (const side of sides) {
        const latencies: number[] = [];
        const answered: number[] = (got[side] = []);
        const start = performance.now();
        for (const q of queries) {
          const t0 = performance.now();
          answered.push(await answerOf(q[side]!));
          latencies.push(performance.now() - t0);
        }
        (perSide[side] ??= []).push(summarize(latencies, performance.now() - start));
      }
      for (let i = 0; i < ops; i++) {
        const expected = got.spicedb![i];
        answers += Math.max(0, expected);
        for (const side of sides) {
          if (got[side]![i] === ERROR) errors[side] = (errors[side] ?? 0) + 1;
          if (got[side]![i] !== expected) disagreements[side] = (disagreements[side] ?? 0) + 1;
        }
      }
    }
    const r: WorkloadResult = {
      name: w.name,
      title: w.title,
      spicedb: medianSummary(perSide.spicedb!),
      openfga: medianSummary(perSide.openfga!),
      ...(perSide.openfgaOff ? { openfgaOff: medianSummary(perSide.openfgaOff) } : {}),
      disagreements,
      errors,
      meanAnswer: answers / (ops * reps),
    };
    results.push(r);
    console.log(
      `${w.name}: SpiceDB p50 ${ms(r.spicedb.p50)} p99 ${ms(r.spicedb.p99)} | OpenFGA p50 ${ms(r.openfga.p50)} ` +
        `p99 ${ms(r.openfga.p99)}` +
        (r.openfgaOff ? ` | OpenFGA without index p50 ${ms(r.openfgaOff.p50)} p99 ${ms(r.openfgaOff.p99)}` : '') +
        ` ms | differ from the facade: ${JSON.stringify(disagreements)}`,
    );
  }

  const result: OpenFgaBenchResult = {
    label: args.label ?? `--fga-index ${fgaIndex}`,
    machine,
    loadAverageEnd: Math.round(loadavg()[0] * 100) / 100,
    dataset: { name: dataset.name, title: dataset.title, relationships, notes: dataset.notes },
    options: { scale, seed, reps, opsScale, warmupMs, fgaIndex },
    load: { spicedbMs, openfgaMs: stacks.openfga!.loadMs, openfgaVia: `service.write, ${CHUNK} tuples per call` },
    fgaIndexStats: summarizeIndex(stacks.openfga!.engine.nestedGroupIndexStats()),
    workloads: results,
    elapsedMs: performance.now() - started,
  };
  for (const s of Object.values(stacks)) {
    await s.engine.close();
    await s.datastore.close();
  }
  await pemba.close();
  return result;
}

async function main(): Promise<void> {
  const results: OpenFgaBenchResult[] = [];
  for (const name of args.dataset.split(',')) results.push(await runDataset(name));
  const baseline = args.baseline
    ? ([JSON.parse(readFileSync(args.baseline, 'utf8'))].flat() as OpenFgaBenchResult[])
    : [];
  const md = [
    `# OpenFGA front end vs SpiceDB front end (in process)`,
    '',
    ...results.map((r) =>
      report(
        r,
        baseline.find((b) => b.dataset.name === r.dataset.name),
      ),
    ),
  ].join('\n');
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(`${args.out}.md`, md);
  writeFileSync(`${args.out}.json`, JSON.stringify(results, null, 2) + '\n');
  console.log(`\n${md}\nwrote ${args.out}.md and ${args.out}.json`);
}

const SIDE_NAMES: Record<Side, string> = { spicedb: 'SpiceDB', openfga: 'OpenFGA', openfgaOff: 'no index' };

/** How the OpenFGA sides' answers compare with the facade's: `same`, or how many differ (and how many failed). */
function answersCell(w: WorkloadResult): string {
  const sides: Side[] = w.openfgaOff ? ['openfga', 'openfgaOff'] : ['openfga'];
  const cells = sides.map((side) => {
    const differ = w.disagreements[side] ?? 0;
    const failed = w.errors?.[side] ?? 0;
    const what = differ === 0 ? 'same' : `**${differ} differ**${failed ? ` (${failed} errors)` : ''}`;
    return sides.length > 1 ? `${SIDE_NAMES[side]}: ${what}` : what;
  });
  return cells.join('; ');
}

function summarizeIndex(stats: ReturnType<Engine['nestedGroupIndexStats']>): unknown {
  if (!stats) return undefined;
  const relations = Object.fromEntries(
    Object.entries(stats.relations).map(([k, v]) => [k, { edges: v.edges, bytes: v.bytes }]),
  );
  return { status: stats.status, relations, dropped: Object.keys(stats.dropped) };
}

function report(r: OpenFgaBenchResult, before: OpenFgaBenchResult | undefined): string {
  const m = r.machine;
  const both = r.workloads.some((w) => w.openfgaOff);
  const lines: string[] = [];
  lines.push(`## ${r.dataset.title}`, '');
  lines.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB, Node ${m.node}, ${m.os}; commit ${m.commit}; ` +
      `load average ${m.loadAverage} at start, ${r.loadAverageEnd} at end.`,
    '',
  );
  lines.push(
    `Dataset: ${r.dataset.title}, ${r.dataset.relationships.toLocaleString('en-US')} relationships, ` +
      `each front end on a memory datastore of its own. ${r.dataset.notes.join('; ')}.`,
    '',
  );
  lines.push(
    `Run: \`node --import tsx bench/openfga.ts --dataset ${r.dataset.name.replace(/-x.*$/, '')} ` +
      `--scale ${r.options.scale} ` +
      `--reps ${r.options.reps} --ops-scale ${r.options.opsScale} --fga-index ${r.options.fgaIndex}\` ` +
      `(${r.label}); ${duration(r.elapsedMs)}. Loading: facade ${seconds(r.load.spicedbMs)} ` +
      `(importRelationships), OpenFGA ${seconds(r.load.openfgaMs)} (${r.load.openfgaVia}). ` +
      `Every side reads at minimize_latency; OpenFGA limits 0 (no caps, no deadlines). ` +
      `Figures in ms, each the median over ${r.options.reps} repetitions; ratio = OpenFGA / SpiceDB` +
      (both
        ? '; "no index": the OpenFGA front end on an engine opened with `nestedGroupIndex: false`, ' +
          'as every OpenFGA call was evaluated before issue 16'
        : '') +
      '.',
    '',
  );
  const head = ['Workload', 'ops/rep', 'mean answer', 'SpiceDB p50', 'SpiceDB p99', 'OpenFGA p50', 'OpenFGA p99'];
  head.push('ratio p50', 'ratio p99');
  if (both) head.push('OpenFGA no index p50', 'OpenFGA no index p99', 'no index / index p50');
  if (before) head.push(`OpenFGA p50 before`, `OpenFGA p99 before`, 'p50 before / now');
  head.push('Answers');
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const w of r.workloads) {
    const b = before?.workloads.find((x) => x.name === w.name);
    const row = [
      w.title,
      String(w.spicedb.ops),
      w.name.startsWith('check') ? `${Math.round(w.meanAnswer * 100)}% yes` : w.meanAnswer.toFixed(1),
      ms(w.spicedb.p50),
      ms(w.spicedb.p99),
      ms(w.openfga.p50),
      ms(w.openfga.p99),
      ratio(w.openfga.p50 / w.spicedb.p50),
      ratio(w.openfga.p99 / w.spicedb.p99),
    ];
    if (both) row.push(ms(w.openfgaOff?.p50), ms(w.openfgaOff?.p99), ratio((w.openfgaOff?.p50 ?? NaN) / w.openfga.p50));
    if (before) row.push(ms(b?.openfga.p50), ms(b?.openfga.p99), ratio((b?.openfga.p50 ?? NaN) / w.openfga.p50));
    row.push(answersCell(w));
    lines.push(`| ${row.join(' | ')} |`);
  }
  lines.push('');
  if (before) {
    lines.push(
      `Before: ${before.label}, commit ${before.machine.commit}, load average ${before.machine.loadAverage}; ` +
        `its SpiceDB p50s: ${before.workloads.map((w) => `${w.name} ${ms(w.spicedb.p50)}`).join(', ')}.`,
      '',
    );
  }
  if (r.fgaIndexStats) lines.push(`OpenFGA engine's nested-group index: \`${JSON.stringify(r.fgaIndexStats)}\``, '');
  return lines.join('\n');
}

await main();
