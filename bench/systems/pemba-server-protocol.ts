/** Messages between the benchmark and its Pemba server process (pemba-server-process.ts). */
import type { StorageOptions } from './storage.js';
import type { Engine } from './system.js';

export const BENCH_KEY = 'bench-preshared-key';

/** What the server process runs on (its argv[2], in JSON). */
export interface ServerOptions extends StorageOptions {
  engine: Engine;
}

export type ServerMessage = { type: 'ready'; port: number } | { type: 'rss'; rss: number } | { type: 'settled' };
export type ServerCommand = { type: 'rss' } | { type: 'settle' } | { type: 'close' };
