/**
 * The tests that disturb the whole machine (restarting PostgreSQL, starting and stopping throwaway
 * PostgreSQL clusters), run alone after the rest of `npm test` so that no other PostgreSQL test is
 * running when they do.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/server/*.fault.ts', 'test/cluster/*.cluster.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
