import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatastore } from '../../src/datastore/factory.js';
import { MemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { SqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import { itBackend } from './chosen-backends.js';

describe('openDatastore', () => {
  it('refuses an unknown engine, naming the known ones', async () => {
    const e = await openDatastore({ engine: 'mysql' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PembaError);
    expect((e as PembaError).code).toBe('INVALID_ARGUMENT');
    expect((e as PembaError).message).toBe('unknown datastore engine `mysql`: use one of memory, sqlite, postgres');
  });

  itBackend('memory', 'opens memory with the given windows and a GC loop that stops on close', async () => {
    const ds = await openDatastore({ engine: 'memory', quantizationMs: 0, gcIntervalMs: 5 });
    expect(ds).toBeInstanceOf(MemoryDatastore);
    await ds.readWrite(async () => undefined);
    expect(await ds.optimizedRevision()).toBe(1n);
    await ds.close();
  });

  itBackend('sqlite', 'opens sqlite at ./pemba.db by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pemba-factory-'));
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      const ds = await openDatastore({ engine: 'sqlite', gcIntervalMs: 0 });
      expect(ds).toBeInstanceOf(SqliteDatastore);
      expect(existsSync(join(dir, 'pemba.db'))).toBe(true);
      await ds.close();
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
