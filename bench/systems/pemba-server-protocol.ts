/** Messages between the benchmark and its Pemba server process (pemba-server-process.ts). */
export const BENCH_KEY = 'bench-preshared-key';

export type ServerMessage = { type: 'ready'; port: number } | { type: 'rss'; rss: number };
export type ServerCommand = { type: 'rss' } | { type: 'close' };
