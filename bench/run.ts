/**
 * `npm run bench`: runs every workload against Pemba in-process and Pemba's gRPC server (each over
 * memory, SQLite and PostgreSQL) and embedded SpiceDB, one child process per system and dataset,
 * one after another (never two at once, so they do not compete for cores); then the parts issue
 * 14's targets need besides (bench/datastores.ts's Check table, the server's CPU per call from
 * bench/server-cpu.ts, write throughput from bench/writes.ts); then writes the report (Markdown,
 * SVG, raw JSON), the targets at its top. `--targets` runs only what the targets need. Never part
 * of `npm test`.
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { buildDataset } from './datasets/index.js';
import { describeMachine } from './machine.js';
import { measureDatastoreChecks } from './datastores.js';
import type { Options, Part } from './options.js';
import { parseOptions } from './options.js';
import type { ChildMessage, ChildResult, ChildTask } from './protocol.js';
import { renderReport } from './report.js';
import type { DatasetInfo, RunData } from './report.js';
import type { ServerCpuEngine, ServerCpuResult } from './server-cpu.js';
import { renderSvg } from './svg.js';
import { MIRROR_SUPPORTED } from './systems/storage.js';
import type { Engine, SystemName } from './systems/system.js';
import { PEMBA_SYSTEMS } from './systems/system.js';

function runChild(task: ChildTask, execArgv: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./child.ts', import.meta.url), [JSON.stringify(task)], {
      execArgv: ['--import', 'tsx', '--expose-gc', ...execArgv],
    });
    let result: ChildResult | undefined;
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') console.log(`    ${m.text}`);
      else result = m.result;
    });
    child.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`${task.system} on ${task.dataset} exited with ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  if (process.argv.includes('--cluster')) {
    // The fleet benchmark (bench/cluster.ts) takes its own flags.
    const { runClusterBench } = await import('./cluster.js');
    await runClusterBench(process.argv.slice(2).filter((a) => a !== '--cluster'));
    return;
  }
  const options = parseOptions(process.argv.slice(2));
  const started = new Date();
  const t0 = performance.now();
  const execArgv = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  const data: RunData = {
    options,
    machine: describeMachine(),
    startedAt: started.toISOString(),
    wallMs: 0,
    argv: process.argv.slice(2).join(' '),
    datasets: [],
    mirror: { requested: options.mirror, supported: MIRROR_SUPPORTED },
    partErrors: {},
  };
  if (!options.mirror && !MIRROR_SUPPORTED)
    console.warn(
      '--mirror off: this build of Pemba has no datastore mirror (no --datastore-mirror-enabled); no effect',
    );

  if (options.parts.includes('workloads')) await runWorkloads(options, data, execArgv);
  await runTargetParts(options, data);

  data.wallMs = performance.now() - t0;
  data.loadAverageAtEnd = Math.round(loadavg()[0] * 100) / 100;
  mkdirSync(dirname(options.out), { recursive: true });
  const markdown = renderReport(data);
  writeFileSync(`${options.out}.md`, markdown);
  writeFileSync(`${options.out}.svg`, renderSvg(data));
  writeFileSync(`${options.out}.json`, JSON.stringify(data, null, 1));
  console.log(`\n${markdown}`);
  console.log(`wrote ${options.out}.md, .svg and .json in ${(data.wallMs / 1000).toFixed(0)} s`);
}

/** Every workload on every dataset and system, one child process each. */
async function runWorkloads(options: Options, data: RunData, execArgv: string[]): Promise<void> {
  for (const name of options.datasets) {
    const scale = name === 'github' ? options.githubScale : options.otherScale;
    const d = buildDataset(name, scale, options.seed);
    const info: DatasetInfo = {
      name: d.name,
      title: d.title,
      sizes: d.sizes,
      notes: d.notes,
      relationships: 0,
      results: {},
      imports: {},
    };
    data.datasets.push(info);
    console.log(`${d.title}`);
    for (const system of options.systems) {
      const base = {
        system,
        dataset: name,
        scale,
        seed: options.seed,
        reps: options.reps,
        ops: options.ops,
        warmupMs: options.warmupMs,
        workloads: options.workloads,
        serverExecArgv: execArgv,
        mirror: options.mirror,
        postgresServer: options.postgresServer,
      };
      console.log(`  ${system}`);
      try {
        const result = await runChild({ ...base, mode: 'workloads' }, execArgv);
        info.results[system] = result;
        info.relationships = result.relationships;
        const imports: ChildResult[] = [];
        for (let i = 0; i < options.importReps; i++)
          imports.push(await runChild({ ...base, mode: 'import' }, execArgv));
        info.imports[system as SystemName] = imports;
        if (imports.length)
          console.log(
            `    import: ${imports.map((r) => Math.round(r.relationships / (r.loadMs / 1000))).join(', ')} relationships/s`,
          );
      } catch (e) {
        console.error(`    failed: ${(e as Error).message}`);
      }
    }
  }
}

/**
 * The engines the chosen Pemba systems run on, memory always among them (the targets are ratios to
 * it, or per-engine figures next to it).
 */
function enginesOf(options: Options): Engine[] {
  const engines = new Set<Engine>(['memory']);
  for (const path of Object.values(PEMBA_SYSTEMS))
    for (const [engine, system] of Object.entries(path) as Array<[Engine, SystemName]>)
      if (options.systems.includes(system)) engines.add(engine);
  return (['memory', 'sqlite', 'postgres'] as const).filter((e) => engines.has(e));
}

/** Runs one part; a failure is reported (in the report too) and the run goes on. */
async function part<T>(data: RunData, name: Part, run: () => Promise<T>): Promise<T | undefined> {
  console.log(name);
  try {
    return await run();
  } catch (e) {
    const message = String((e as Error)?.message ?? e);
    console.error(`  ${name} failed: ${message}`);
    data.partErrors[name] = message.slice(0, 500);
    return undefined;
  }
}

/** bench/datastores.ts's Check table, the server's CPU per call, write throughput: issue 14's other figures. */
async function runTargetParts(options: Options, data: RunData): Promise<void> {
  const engines = enginesOf(options);
  const log = (line: string) => console.log(`  ${line}`);
  if (options.parts.includes('datastores')) {
    data.datastoreChecks = await part(data, 'datastores', () =>
      measureDatastoreChecks({
        backends: engines,
        checkSize: options.datastoreChecks.size,
        checks: options.datastoreChecks.checks,
        postgres: options.postgresServer,
        mirror: options.mirror,
        log,
      }),
    );
  }
  if (options.parts.includes('server-cpu')) {
    data.serverCpu = await part(data, 'server-cpu', async () => {
      // Loaded here, so that a run without this part never loads it (nor the server it starts).
      const { measureServerCpu } = await import('./server-cpu.js');
      const results: ServerCpuResult[] = [];
      // Quick: a fifth of the calls (the target's figure is for ≥ 10,000 calls at 100 in flight).
      const quick = options.quick ? { calls: 2_000, bulkCalls: 40, lookupCalls: 8, writeCalls: 8, reps: 1 } : {};
      // Last, grpc-js alone (the floor): the transport's own cost on this machine, for scale.
      const measured: ServerCpuEngine[] = [...engines, 'grpc-floor'];
      for (const engine of measured) {
        log(engine);
        results.push(
          await measureServerCpu({
            ...quick,
            engine,
            postgres: options.postgresServer,
            serveFlags: options.mirror || !MIRROR_SUPPORTED ? {} : { 'datastore-mirror-enabled': 'false' },
            execArgv: options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [],
          }),
        );
        for (const ph of results.at(-1)!.phases)
          log(`  ${ph.phase}: ${ph.perCallUs.toFixed(1)} µs/call, ${ph.perUnitUs.toFixed(2)} µs/${ph.unit}`);
      }
      return results;
    });
  }
  if (options.parts.includes('writes')) {
    data.writes = await part(data, 'writes', async () => {
      const { runWriteBench } = await import('./writes.js');
      const { results } = await runWriteBench({
        engines,
        postgres: options.postgresServer,
        ...(options.quick ? { calls: 20, seconds: 2 } : {}),
        cpuProfDir: options.cpuProfDir,
        log,
      });
      return results;
    });
  }
}

await main();
