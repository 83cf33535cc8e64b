/**
 * The conformance fixtures and the differential suite again, on the durable backends without the
 * relationship mirror (PEMBA_TEST_MIRROR=off): `npm test` runs them with it (test-backends.ts), so
 * both of a durable datastore's read paths answer every fixture. Backends left out of
 * PEMBA_TEST_BACKENDS stay out.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const durable = (process.env.PEMBA_TEST_BACKENDS?.trim() || 'sqlite,postgres')
  .split(',')
  .map((b) => b.trim())
  .filter((b) => b === 'sqlite' || b === 'postgres');

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: durable.length > 0 ? ['test/conformance.test.ts', 'test/differential/backends.test.ts'] : [],
    passWithNoTests: true,
    env: { PEMBA_TEST_MIRROR: 'off', PEMBA_TEST_BACKENDS: durable.join(',') },
    testTimeout: 60_000,
  },
});
