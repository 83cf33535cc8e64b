/**
 * The targets of issue 14, rendered at the top of the report (report.ts): durable reads within 2× of
 * memory (per dataset, in process and over gRPC, plus bench/datastores.ts's Check table), the
 * server's CPU per call (bench/server-cpu.ts) and write throughput (bench/writes.ts).
 */
import type { DatastoreChecks } from './datastores.js';
import { count, ms, ratio } from './format.js';
import type { Part } from './options.js';
import type { RunData } from './report.js';
import type { ServerCpuResult } from './server-cpu.js';
import type { Summary } from './stats.js';
import { medianSummary } from './stats.js';
import type { Engine, Path } from './systems/system.js';
import { PEMBA_SYSTEMS } from './systems/system.js';
import { CONCURRENCY } from './workloads/checks.js';
import type { EngineWriteResult } from './writes.js';

/** "Within 2×": a durable figure's slowdown against memory's. */
export const DURABLE_GOAL = 2;
/** Server CPU per trivial CheckPermission call, µs. */
export const SERVER_CPU_CHECK_GOAL_US = 60;
/** 1,000-TOUCH WriteRelationships over gRPC, relationships/s. */
export const WRITE_GOALS: Record<Engine, number> = { memory: 150_000, sqlite: 100_000, postgres: 40_000 };

const DURABLE: Array<Exclude<Engine, 'memory'>> = ['sqlite', 'postgres'];
const ENGINE_TITLES: Record<Engine, string> = { memory: 'memory', sqlite: 'SQLite', postgres: 'PostgreSQL' };
const PATH_TITLES: Record<Path, string> = { inprocess: 'in process', grpc: 'gRPC' };

type Stat = 'p50' | 'p99' | 'throughput';

/** The figures the targets compare, in the order of the table. */
const READ_ROWS: Array<{ workload: string; stat: Stat; label: string }> = [
  { workload: 'check-negative', stat: 'p50', label: 'Check p50, mostly negative' },
  { workload: 'check-negative', stat: 'p99', label: 'Check p99, mostly negative' },
  { workload: 'check-positive', stat: 'p50', label: 'Check p50, positive-heavy' },
  { workload: 'check-positive', stat: 'p99', label: 'Check p99, positive-heavy' },
  { workload: 'lookup-resources', stat: 'p50', label: 'LookupResources p50' },
  { workload: 'lookup-subjects', stat: 'p50', label: 'LookupSubjects p50' },
  { workload: 'check-concurrent', stat: 'throughput', label: `Check throughput at ${CONCURRENCY} in flight` },
];

const mark = (met: boolean | undefined) => (met === undefined ? '–' : met ? '✓' : '✗');

/** Counts of targets met and measured, for the summary line. */
class Tally {
  met = 0;
  measured = 0;
  add(met: boolean | undefined): string {
    if (met !== undefined) {
      this.measured++;
      if (met) this.met++;
    }
    return mark(met);
  }
  toString(): string {
    return this.measured ? `${this.met} of ${this.measured} met` : 'nothing measured';
  }
}

/** Slowdown of a durable figure against memory's: latency ÷ latency, or throughput's inverse. */
function slowdown(stat: Stat, memory: number | undefined, durable: number | undefined): number | undefined {
  if (memory === undefined || durable === undefined || !(memory > 0) || !(durable > 0)) return undefined;
  return stat === 'throughput' ? memory / durable : durable / memory;
}

const show = (stat: Stat, v: number | undefined) =>
  v === undefined ? '–' : stat === 'throughput' ? `${count(v)}/s` : `${ms(v)} ms`;

function durableReads(data: RunData, tally: Tally): string[] {
  const out: string[] = [];
  const header = [
    '| Figure | Path | memory | SQLite | SQLite ÷ memory | ≤ 2× | PostgreSQL | PostgreSQL ÷ memory | ≤ 2× |',
    '|---|---|--:|--:|--:|:-:|--:|--:|:-:|',
  ];
  for (const d of data.datasets) {
    const fig = (engine: Engine, path: Path, workload: string): Summary | undefined => {
      const w = d.results[PEMBA_SYSTEMS[path][engine]]?.workloads[workload];
      return w && !w.error && w.reps.length ? medianSummary(w.reps) : undefined;
    };
    const rows: string[] = [];
    for (const r of READ_ROWS) {
      for (const path of ['inprocess', 'grpc'] as const) {
        const memory = fig('memory', path, r.workload)?.[r.stat];
        const durable = DURABLE.map((e) => fig(e, path, r.workload)?.[r.stat]);
        if (memory === undefined && durable.every((x) => x === undefined)) continue;
        const cells = durable.map((v) => {
          const x = slowdown(r.stat, memory, v);
          return `${show(r.stat, v)} | ${ratio(x)} | ${tally.add(x === undefined ? undefined : x <= DURABLE_GOAL)}`;
        });
        rows.push(`| ${r.label} | ${PATH_TITLES[path]} | ${show(r.stat, memory)} | ${cells.join(' | ')} |`);
      }
    }
    if (rows.length === 0) continue;
    out.push(`**${d.title}**, ${d.relationships.toLocaleString('en-US')} relationships`, '', ...header, ...rows, '');
  }
  const dc = data.datastoreChecks;
  if (dc) out.push(...datastoreChecks(dc, tally, header));
  return out;
}

function datastoreChecks(dc: DatastoreChecks, tally: Tally, header: string[]): string[] {
  const by = (e: Engine) => dc.checks.find((c) => c.backend === e);
  const rows = (['p50', 'p99'] as const).map((stat) => {
    const memory = by('memory')?.[stat];
    const cells = DURABLE.map((e) => {
      const v = by(e)?.[stat];
      const x = slowdown(stat, memory, v);
      return `${show(stat, v)} | ${ratio(x)} | ${tally.add(x === undefined ? undefined : x <= DURABLE_GOAL)}`;
    });
    return `| Check ${stat} | in process | ${show(stat, memory)} | ${cells.join(' | ')} |`;
  });
  const queries = dc.checks.map((c) => `${ENGINE_TITLES[c.backend]} ${c.readsPerCheck.toFixed(1)}`).join(', ');
  return [
    `**bench/datastores.ts's Check table**, ${dc.size.toLocaleString('en-US')} relationships: ` +
      `${(dc.checks[0]?.checks ?? 0).toLocaleString('en-US')} sequential Pemba.check calls per engine, minimize_latency, ` +
      `${dc.checks[0] ? Math.round(dc.checks[0].has * 100) : '?'}% allowed; relationship queries per Check: ${queries}`,
    '',
    ...header,
    ...rows,
    '',
  ];
}

function serverCpu(results: ServerCpuResult[], tally: Tally): string[] {
  const lines = [
    `| Engine | CheckPermission µs/call | ≤ ${SERVER_CPU_CHECK_GOAL_US} µs | CheckBulkPermissions µs/item | WriteRelationships µs/relationship | LookupResources µs/result |`,
    '|---|--:|:-:|--:|--:|--:|',
  ];
  for (const r of results) {
    const phase = (p: string) => r.phases.find((x) => x.phase === p);
    const check = phase('check')?.perCallUs;
    const us = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(x >= 100 ? 0 : 1));
    // The median window, then the range of the windows when there were several.
    const span = (p: string) => {
      const ph = phase(p);
      const reps = ph?.perUnitUsByRep ?? [];
      return reps.length > 1
        ? `${us(ph?.perUnitUs)} (${us(Math.min(...reps))}–${us(Math.max(...reps))})`
        : us(ph?.perUnitUs);
    };
    // The floor is not Pemba: shown for scale, not counted towards the target.
    const floor = r.engine === 'grpc-floor';
    const met = floor ? '(floor)' : tally.add(check === undefined ? undefined : check <= SERVER_CPU_CHECK_GOAL_US);
    lines.push(
      `| ${floor ? 'grpc-js alone, constant answers' : ENGINE_TITLES[r.engine as Engine]} | ${span('check')} | ${met} | ` +
        `${span('bulk')} | ${span('write')} | ${span('lookup')} |`,
    );
  }
  const o = results[0]?.options;
  if (o) {
    lines.push(
      '',
      `The \`pemba serve\` process's own CPU time (user + system) over the measured calls (bench/server-cpu.ts): ` +
        `${o.calls.toLocaleString('en-US')} trivial CheckPermission calls at ${o.inFlight} in flight, ` +
        `${o.bulkCalls} CheckBulkPermissions of ${o.bulkItems} items, ${o.writeCalls} WriteRelationships of ${count(o.writeBatch)} TOUCHes, ` +
        `${o.lookupCalls} LookupResources of ${count(o.lookupResults)} results; client \`@authzed/authzed-node\` in another process. ` +
        `Each figure is the median of ${o.reps} such windows measured one after another, the range of the windows in parentheses; ` +
        `the target is judged on the median.` +
        (o.calls < 10_000 ? ' Fewer than the 10,000 calls the target asks for (quick mode).' : ''),
    );
  }
  if (results.some((r) => r.engine === 'grpc-floor')) {
    lines.push(
      '',
      'The last row is no Pemba at all: a bare grpc-js server with the same service definitions and codecs, ' +
        'answering every call with a constant, measured the same way. It is what the transport alone costs on this machine.',
    );
  }
  return lines;
}

function writes(results: EngineWriteResult[], tally: Tally): string[] {
  const lines = [
    '| Engine | 1,000-TOUCH calls: relationships/s | Goal | Met | Server CPU µs/relationship | 32-writer mix: calls/s | p50 ms | p99 ms | Errors |',
    '|---|--:|--:|:-:|--:|--:|--:|--:|--:|',
  ];
  for (const r of results) {
    const rate = Number.isFinite(r.bulk.relationshipsPerSecond) ? r.bulk.relationshipsPerSecond : undefined;
    const goal = WRITE_GOALS[r.engine];
    const m = r.mixed;
    lines.push(
      `| ${ENGINE_TITLES[r.engine]} | ${count(rate)} | ≥ ${count(goal)} | ${tally.add(rate === undefined ? undefined : rate >= goal)} | ` +
        `${count(r.bulk.serverCpuUsPerRelationship)} | ${count(m.callsPerSecond)} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.errors}${m.firstError ? ` (${m.firstError.replace(/\|/g, '/').slice(0, 80)})` : ''} |`,
    );
  }
  const b = results.find((r) => r.bulk.calls > 0)?.bulk;
  const m = results.find((r) => r.mixed.calls > 0)?.mixed;
  lines.push(
    '',
    'bench/writes.ts, `pemba serve` in its own process over gRPC, every call acknowledged once durable' +
      (b ? `: ${b.calls} calls of ${count(b.batch)} TOUCHes of new relationships, ${b.inFlight} in flight` : '') +
      (m
        ? `; the mix: ${m.writers} writers, each calling WriteRelationships with 1–10 TOUCHes, for ${m.seconds.toFixed(0)} s`
        : '') +
      '.',
  );
  return lines;
}

function missing(data: RunData, part: Part): string[] {
  const error = data.partErrors[part];
  if (error) return [`Failed: ${error.replace(/\n/g, ' ')}`];
  return data.options.parts.includes(part) ? ['(nothing measured)'] : [`(not run: \`--parts\` left out ${part})`];
}

/** The section at the top of the report. */
export function renderIssue14Targets(data: RunData): string[] {
  const { machine: m, options: o } = data;
  const busy = Math.max(m.loadAverage, data.loadAverageAtEnd ?? 0) > m.cores;
  const reads = new Tally();
  const cpu = new Tally();
  const write = new Tally();
  const readLines = durableReads(data, reads);
  const cpuLines = data.serverCpu?.length ? serverCpu(data.serverCpu, cpu) : missing(data, 'server-cpu');
  const writeLines = data.writes?.length ? writes(data.writes, write) : missing(data, 'writes');
  // bench/writes.ts starts its servers with `pemba serve`'s defaults and takes no flags for them.
  if (data.writes?.length && data.mirror.supported && !data.mirror.requested)
    writeLines.push(
      '',
      "`--mirror off` does not reach bench/writes.ts: its servers ran with the mirror on (Pemba's default).",
    );
  const mirror = data.mirror.supported
    ? `the durable datastores' node-local mirror ${data.mirror.requested ? 'on (the default)' : 'off (`--mirror off`)'}`
    : 'this build has no datastore mirror' + (data.mirror.requested ? '' : ' (so `--mirror off` changed nothing)');
  return [
    '## Targets of issue 14',
    '',
    `${m.cpu}, ${m.cores} cores; 1-minute load average ${m.loadAverage} at the start, ${data.loadAverageAtEnd ?? '?'} at the end; ${mirror}.` +
      (o.quick
        ? ' **Quick mode**: tiny datasets and few calls, for development only; the figures do not judge the targets.'
        : '') +
      (busy
        ? ' **The machine was shared with other work during this run**: judge p99 and throughput on a quiet run.'
        : ''),
    '',
    `Met: durable reads ${reads}, server CPU ${cpu}, writes ${write}.`,
    '',
    `### 1. Durable reads within ${DURABLE_GOAL}× of memory`,
    '',
    `Each durable figure ÷ the memory datastore's on the same path (latency ÷ latency; for throughput, memory's ÷ the durable one's), ✓ when ≤ ${DURABLE_GOAL}. In process: the library in the benchmark process; gRPC: \`pemba serve\`'s server in its own process, called through \`@authzed/authzed-node\`. Medians over the repetitions, as in the tables below.`,
    '',
    ...(readLines.length ? readLines : missing(data, 'workloads')),
    `### 2. Server CPU per call (trivial CheckPermission ≤ ${SERVER_CPU_CHECK_GOAL_US} µs)`,
    '',
    ...cpuLines,
    '',
    `### 3. Writes (1,000-TOUCH WriteRelationships ≥ ${Object.entries(WRITE_GOALS)
      .map(([e, g]) => `${count(g)}/s on ${ENGINE_TITLES[e as Engine]}`)
      .join(', ')})`,
    '',
    ...writeLines,
    '',
  ];
}
