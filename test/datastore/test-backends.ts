/**
 * Fresh datastores on every backend for suites written once and run on each (conformance,
 * differential): memory, a SQLite file in a temporary directory, a migrated schema in a throwaway
 * PostgreSQL database. Call at the top level of a test file: it registers the hooks that create and
 * remove the directory and the database. Every datastore opened is closed after the file's tests. A
 * test that opens a backend left out of PEMBA_TEST_BACKENDS is skipped (see chosen-backends.ts).
 * SQLite and PostgreSQL are opened behind the relationship mirror, as `openDatastore` opens them,
 * unless PEMBA_TEST_MIRROR=off (mirror-off.vitest.config.ts runs the suites that way too).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { Datastore } from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { mirrorDatastore } from '../../src/datastore/mirror/mirrored-datastore.js';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import type { Backend } from './chosen-backends.js';
import { skipUnlessChosen } from './chosen-backends.js';
import { useTestPostgres } from './postgres-harness.js';

export { BACKENDS, describeBackend, isChosen, itBackend, skipUnlessChosen } from './chosen-backends.js';
export type { Backend } from './chosen-backends.js';

export interface TestBackends {
  /**
   * A new, empty datastore. Closing it is optional: whatever is still open is closed after the file.
   * A test that opens a backend not chosen is skipped.
   */
  open(backend: Backend): Promise<Datastore>;
}

/** Whether the durable backends are opened behind the relationship mirror. */
export const MIRRORED = process.env.PEMBA_TEST_MIRROR !== 'off';

export function useTestBackends(): TestBackends {
  const postgres = useTestPostgres();
  let dir: string | undefined;
  let files = 0;
  const opened: Datastore[] = [];
  afterAll(async () => {
    // Closing twice is harmless; this catches datastores a failed test left open.
    await Promise.allSettled(opened.map((d) => d.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    async open(backend) {
      skipUnlessChosen(backend);
      let ds: Datastore;
      // No background GC: nothing here lives long enough to need it.
      if (backend === 'memory') ds = openMemoryDatastore();
      else if (backend === 'sqlite') {
        dir ??= mkdtempSync(join(tmpdir(), 'pemba-backends-'));
        ds = openSqliteDatastore(join(dir, `${files++}.db`), { gcIntervalMs: 0 });
      } else ds = await postgres.open();
      if (backend !== 'memory' && MIRRORED) ds = mirrorDatastore(ds);
      opened.push(ds);
      return ds;
    },
  };
}
