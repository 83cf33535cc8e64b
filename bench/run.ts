/**
 * `npm run bench`: runs every workload against Pemba in-process, Pemba's gRPC server and
 * embedded SpiceDB, one child process per system and dataset, one after another (never two at
 * once, so they do not compete for cores), then writes the report (Markdown, SVG, raw JSON).
 * Never part of `npm test`.
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { buildDataset } from './datasets/index.js';
import { describeMachine } from './machine.js';
import { parseOptions } from './options.js';
import type { ChildMessage, ChildResult, ChildTask } from './protocol.js';
import { renderReport } from './report.js';
import type { DatasetInfo, RunData } from './report.js';
import { renderSvg } from './svg.js';
import type { SystemName } from './systems/system.js';

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
  };

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

await main();
