/**
 * One system on one dataset, in its own process: memory is then that system's alone, SpiceDB's
 * blocking FFI calls stall nobody else, and the process exits instead of waiting ~6 s for
 * SpiceDB's close(). Receives a ChildTask as argv[2] (JSON), sends back a ChildResult over IPC.
 */
import type { Relationship } from '../src/relationships/relationship.js';
import type { Dataset } from './datasets/dataset.js';
import { buildDataset } from './datasets/index.js';
import type { ChildMessage, ChildResult, ChildTask, WorkloadResult } from './protocol.js';
import { Rng } from './rng.js';
import { summarize } from './stats.js';
import { PembaGrpc } from './systems/pemba-grpc.js';
import { PembaInProcess } from './systems/pemba-inprocess.js';
import { SpiceDB } from './systems/spicedb.js';
import type { System } from './systems/system.js';
import { collectGarbage } from './systems/system.js';
import { WORKLOADS } from './workloads/index.js';
import type { Workload } from './workloads/workload.js';

const send = (m: ChildMessage) => process.send!(m);
const progress = (text: string) => send({ type: 'progress', text });

function startSystem(task: ChildTask): Promise<System> {
  const storage = { mirror: task.mirror, postgresServer: task.postgresServer };
  switch (task.system) {
    case 'pemba':
      return PembaInProcess.start();
    case 'pemba-sqlite':
      return PembaInProcess.startDurable('sqlite', storage);
    case 'pemba-postgres':
      return PembaInProcess.startDurable('postgres', storage);
    case 'pemba-grpc':
      return PembaGrpc.start(task.serverExecArgv, { engine: 'memory' });
    case 'pemba-grpc-sqlite':
      return PembaGrpc.start(task.serverExecArgv, { engine: 'sqlite', ...storage });
    case 'pemba-grpc-postgres':
      return PembaGrpc.start(task.serverExecArgv, { engine: 'postgres', ...storage });
    case 'spicedb':
      return SpiceDB.start();
  }
}

/**
 * Warm-up (JIT, connections, caches of other queries): a quarter of the operations, then more
 * fresh queries until `task.warmupMs` has passed. A JIT runtime keeps compiling hot functions for
 * its first ~1,000 checks here, and each compilation shows as a millisecond outlier in the
 * measured p99; a fixed count would leave a fast system measured while it still compiles. A
 * workload that writes warms up with the quarter only, so that every system holds the same data.
 */
async function warmUp(w: Workload, system: System, dataset: Dataset, task: ChildTask, ops: number): Promise<void> {
  const rng = new Rng(`${dataset.name}/${w.name}/${task.seed}/0`);
  const start = performance.now();
  const chunk = Math.max(1, Math.ceil(ops / 4));
  do await w.run(system, dataset, rng, chunk);
  while (!w.writes && performance.now() - start < task.warmupMs);
}

async function main(task: ChildTask): Promise<ChildResult> {
  const dataset = buildDataset(task.dataset, task.scale, task.seed);
  const system = await startSystem(task);
  try {
    return await measure(task, dataset, system);
  } catch (e) {
    // A throwaway PostgreSQL database or SQLite file goes with the system, even on failure.
    if (system.name !== 'spicedb') await system.close().catch(() => undefined);
    throw e;
  }
}

async function measure(task: ChildTask, dataset: Dataset, system: System): Promise<ChildResult> {
  await system.writeSchema(dataset.schema);
  const result: ChildResult = {
    system: task.system,
    dataset: dataset.name,
    relationships: 0,
    loadMs: 0,
    workloads: {},
  };

  if (task.mode === 'import') {
    // Materialized first, so the timing is the system's alone.
    const batches: Relationship[][] = [...dataset.relationships()];
    collectGarbage();
    const t = performance.now();
    result.relationships = await system.load(batches);
    result.loadMs = performance.now() - t;
    if (system.name !== 'spicedb') await system.close();
    return result;
  }

  // Streamed from the compact model, so the benchmark holds no copy of the data when RSS is read.
  result.rssBefore = await system.rss();
  const t = performance.now();
  result.relationships = await system.load(dataset.relationships());
  result.loadMs = performance.now() - t;
  result.rssAfter = await system.rss();
  await system.settle?.();
  progress(`loaded ${result.relationships} relationships in ${(result.loadMs / 1000).toFixed(1)} s`);

  for (const w of WORKLOADS) {
    if (task.workloads && !task.workloads.includes(w.name)) continue;
    const ops = task.ops[w.opsKey];
    const out: WorkloadResult = { reps: [], digests: [] };
    try {
      await warmUp(w, system, dataset, task, ops);
      // Reps 1..n are measured, each with fresh queries.
      for (let rep = 1; rep <= task.reps; rep++) {
        const rng = new Rng(`${dataset.name}/${w.name}/${task.seed}/${rep}`);
        const o = await w.run(system, dataset, rng, ops);
        out.reps.push(summarize(o.latenciesMs, o.elapsedMs, o.units));
        out.digests.push(o.digest);
      }
      const s = out.reps[0];
      progress(`${w.name}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms (first rep)`);
    } catch (e) {
      out.error = String((e as Error)?.message ?? e).slice(0, 300);
      progress(`${w.name}: failed: ${out.error}`);
    }
    result.workloads[w.name] = out;
  }
  if (system.name !== 'spicedb') await system.close();
  return result;
}

// An orchestrator that dies (Ctrl-C, kill) takes its child with it.
process.on('disconnect', () => process.exit(1));
const task = JSON.parse(process.argv[2]) as ChildTask;
try {
  const result = await main(task);
  await new Promise<void>((resolve, reject) =>
    process.send!({ type: 'result', result } satisfies ChildMessage, (e: Error | null) => (e ? reject(e) : resolve())),
  );
  // SpiceDB's close() takes ~6 s and nothing is left to measure: end the process instead.
  process.exit(0);
} catch (e) {
  console.error(e);
  process.exit(1);
}
