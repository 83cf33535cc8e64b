/** What the orchestrator (run.ts) asks of a child process (child.ts) and what it gets back. */
import type { Ops } from './options.js';
import type { Summary } from './stats.js';
import type { SystemName } from './systems/system.js';

export interface ChildTask {
  /** `workloads`: load lazily, measure memory, run the workloads; `import`: only time a bulk load. */
  mode: 'workloads' | 'import';
  system: SystemName;
  dataset: string;
  scale: number;
  seed: number;
  reps: number;
  ops: Ops;
  /** Least wall time a workload's warm-up lasts (see child.ts). */
  warmupMs: number;
  workloads?: string[];
  /** execArgv for the Pemba server process. */
  serverExecArgv: string[];
  /** The durable datastores' node-local mirror on (Pemba's default) or off. */
  mirror: boolean;
  /** PostgreSQL server URI (no database) for the postgres systems' throwaway databases. */
  postgresServer: string;
}

export interface WorkloadResult {
  /** One summary per measured repetition. */
  reps: Summary[];
  /** One digest per measured repetition (see Workload.digest). */
  digests: number[];
  error?: string;
}

export interface ChildResult {
  system: SystemName;
  dataset: string;
  relationships: number;
  loadMs: number;
  /** RSS of the process holding the data, in bytes: before loading (schema written) and after. */
  rssBefore?: number;
  rssAfter?: number;
  workloads: Record<string, WorkloadResult>;
}

export type ChildMessage = { type: 'result'; result: ChildResult } | { type: 'progress'; text: string };
