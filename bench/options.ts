/** Command-line flags and the two profiles (quick, full). */
import { parseArgs } from 'node:util';
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
}

const QUICK_OPS: Ops = { check: 40, bulk: 2, lookup: 3, mix: 60, concurrent: 128 };
/** Sized so that SpiceDB, at ~0.1–0.2 s per check on dataset 1 here, finishes in minutes. */
const FULL_OPS: Ops = { check: 100, bulk: 2, lookup: 10, mix: 200, concurrent: 256 };

export const USAGE = `npm run bench -- [flags]
  --quick              small datasets, few repetitions (under a minute)
  --scale N            scale of the GitHub-like dataset (default 1; 10 is the ×10 variant)
  --datasets a,b       github, deep, documents (default: all)
  --systems a,b        pemba, pemba-sqlite, pemba-grpc, spicedb (default: all)
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
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick!;
  const list = (s: string | undefined) =>
    s
      ?.split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const systems = (list(values.systems) ?? SYSTEM_NAMES) as SystemName[];
  for (const s of systems) if (!SYSTEM_NAMES.includes(s)) throw new Error(`unknown system ${s}`);
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
    datasets: list(values.datasets) ?? ['github', 'deep', 'documents'],
    systems,
    workloads: list(values.workloads),
    reps: Number(values.reps ?? (quick ? 2 : 5)),
    warmupMs: Number(values['warmup-ms'] ?? (quick ? 200 : 2000)),
    importReps: Number(values['import-reps'] ?? (quick ? 0 : 3)),
    ops,
    cpuProfDir: values['cpu-prof'] ? 'bench/results/profiles' : undefined,
    out: values.out!,
  };
}
