/** Command-line flags and the profiles (quick, full; --targets for issue 14's targets alone). */
import { parseArgs } from 'node:util';
import { DEFAULT_POSTGRES_SERVER } from './systems/storage.js';
import type { SystemName } from './systems/system.js';
import { SYSTEM_NAMES } from './systems/system.js';

export interface Ops {
  check: number;
  bulk: number;
  lookup: number;
  mix: number;
  concurrent: number;
}

export interface Options {
  quick: boolean;
  /** Scale of the GitHub-like dataset (10 for the ×10 variant). */
  githubScale: number;
  /** Scale of the other datasets. */
  otherScale: number;
  seed: number;
  datasets: string[];
  systems: SystemName[];
  workloads?: string[];
  /** Measured repetitions per workload (each figure is their median), after one warm-up. */
  reps: number;
  /** Least wall time of each workload's warm-up, in ms. */
  warmupMs: number;
  /** Separate load-only processes per system, for the bulk import rate. */
  importReps: number;
  ops: Ops;
  /** Write V8 CPU profiles of every child (and the Pemba server) here. */
  cpuProfDir?: string;
  out: string;
  /** `--targets`: only what issue 14's targets table needs (no SpiceDB; see TARGET_* below). */
  targetsOnly: boolean;
  /** Which parts run (PARTS); the workloads are the per-dataset tables. */
  parts: Part[];
  /** The durable datastores' node-local mirror on (Pemba's default) or off. */
  mirror: boolean;
  /** PostgreSQL server URI (no database) where the postgres systems create throwaway databases. */
  postgresServer: string;
  /** bench/datastores.ts's Check table: relationships and sequential checks per backend. */
  datastoreChecks: { size: number; checks: number };
}

/**
 * The parts of a run: the workloads on every dataset and system (the tables), bench/datastores.ts's
 * Check table, the server's CPU per call (bench/server-cpu.ts), write throughput (bench/writes.ts).
 */
export const PARTS = ['workloads', 'datastores', 'server-cpu', 'writes'] as const;
export type Part = (typeof PARTS)[number];

/** What `--targets` runs: the six Pemba systems, the datasets and workloads issue 14's targets name. */
export const TARGET_SYSTEMS: SystemName[] = SYSTEM_NAMES.filter((s) => s !== 'spicedb');
export const TARGET_DATASETS = ['github', 'sharing'];
export const TARGET_WORKLOADS = [
  'check-negative',
  'check-positive',
  'lookup-resources',
  'lookup-subjects',
  'check-concurrent',
];

const QUICK_OPS: Ops = { check: 40, bulk: 2, lookup: 3, mix: 60, concurrent: 128 };
/** Sized so that SpiceDB, at ~0.1–0.2 s per check on dataset 1 here, finishes in minutes. */
const FULL_OPS: Ops = { check: 100, bulk: 2, lookup: 10, mix: 200, concurrent: 256 };

export const USAGE = `npm run bench -- [flags]
  --quick              small datasets, few repetitions, fewer calls (a few minutes; with
                       --parts workloads and few systems, under a minute)
  --targets            only what issue 14's targets need: systems ${TARGET_SYSTEMS.join(',')},
                       datasets ${TARGET_DATASETS.join(',')}, workloads ${TARGET_WORKLOADS.join(',')},
                       no import processes, plus the parts datastores, server-cpu and writes (no SpiceDB);
                       --systems, --datasets, --workloads, --parts still narrow or widen it
  --parts a,b          ${PARTS.join(', ')} (default: all)
  --mirror on|off      the durable datastores' node-local mirror (default on, Pemba's default)
  --postgres URI       PostgreSQL server for the postgres systems' throwaway databases
                       (default ${DEFAULT_POSTGRES_SERVER}; env PEMBA_BENCH_POSTGRES)
  --scale N            scale of the GitHub-like dataset (default 1; 10 is the ×10 variant)
  --datasets a,b       github, deep, documents, sharing (default: all)
  --systems a,b        ${SYSTEM_NAMES.join(', ')} (default: all)
  --workloads a,b      only these workloads (names as in the report)
  --reps N             measured repetitions per workload (default 5, quick 2)
  --warmup-ms N        least time each workload warms up before it is measured (default 2000, quick 200)
  --import-reps N      load-only processes per system for the import rate (default 3, quick 0:
                       then the rate comes from the streamed load, generation included)
  --ops-scale X        multiply every operation count by X
  --seed N             dataset and query seed (default 1)
  --cpu-prof           write CPU profiles to bench/results/profiles/
  --out PATH           report path without extension (default bench/results/latest)
  --cluster            instead: the fleet benchmark (bench/cluster.ts; \`npm run bench -- --cluster --help\`)`;

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      scale: { type: 'string' },
      datasets: { type: 'string' },
      systems: { type: 'string' },
      workloads: { type: 'string' },
      reps: { type: 'string' },
      'warmup-ms': { type: 'string' },
      'import-reps': { type: 'string' },
      'ops-scale': { type: 'string' },
      seed: { type: 'string', default: '1' },
      'cpu-prof': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results/latest' },
      targets: { type: 'boolean', default: false },
      parts: { type: 'string' },
      mirror: { type: 'string', default: 'on' },
      postgres: { type: 'string', default: DEFAULT_POSTGRES_SERVER },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick!;
  const targetsOnly = values.targets!;
  const list = (s: string | undefined) =>
    s
      ?.split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const systems = (list(values.systems) ?? (targetsOnly ? TARGET_SYSTEMS : SYSTEM_NAMES)) as SystemName[];
  for (const s of systems) if (!SYSTEM_NAMES.includes(s)) throw new Error(`unknown system ${s}`);
  const parts = (list(values.parts) ?? [...PARTS]) as Part[];
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`unknown part ${p}`);
  if (values.mirror !== 'on' && values.mirror !== 'off') throw new Error('--mirror must be on or off');
  const opsScale = Number(values['ops-scale'] ?? 1);
  const base = quick ? QUICK_OPS : FULL_OPS;
  const ops = Object.fromEntries(
    Object.entries(base).map(([k, v]) => [k, Math.max(1, Math.round(v * opsScale))]),
  ) as unknown as Ops;
  return {
    quick,
    githubScale: Number(values.scale ?? (quick ? 0.05 : 1)),
    otherScale: quick ? 0.05 : 1,
    seed: Number(values.seed),
    datasets: list(values.datasets) ?? (targetsOnly ? TARGET_DATASETS : ['github', 'deep', 'documents', 'sharing']),
    systems,
    workloads: list(values.workloads) ?? (targetsOnly ? TARGET_WORKLOADS : undefined),
    reps: Number(values.reps ?? (quick ? 2 : 5)),
    warmupMs: Number(values['warmup-ms'] ?? (quick ? 200 : 2000)),
    importReps: Number(values['import-reps'] ?? (quick || targetsOnly ? 0 : 3)),
    ops,
    cpuProfDir: values['cpu-prof'] ? 'bench/results/profiles' : undefined,
    out: values.out!,
    targetsOnly,
    parts,
    mirror: values.mirror === 'on',
    postgresServer: values.postgres!,
    datastoreChecks: quick
      ? { size: 5_000, checks: Math.max(50, Math.round(300 * opsScale)) }
      : { size: 100_000, checks: Math.max(50, Math.round(3_000 * opsScale)) },
  };
}
