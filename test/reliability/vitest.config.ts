/**
 * The reliability suite of issue 11 (`npm run test:reliability`): real `pemba serve` processes at
 * realistic sizes. Its files are *.reliability.ts, so the main `vitest run` (which collects
 * *.test.ts) does not pick them up. One file at a time: they measure memory and latency, and a
 * second server under load would skew the figures.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/reliability/*.reliability.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    reporters: ['verbose'],
  },
});
