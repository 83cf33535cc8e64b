import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../src/cli/datastore.js';
import { openDatastore } from '../../src/datastore/factory.js';
import { itBackend } from './chosen-backends.js';
import { useTestPostgres } from './postgres-harness.js';

const postgres = useTestPostgres();
const dir = mkdtempSync(join(tmpdir(), 'pemba-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function migrate(datastoreEngine: string, datastoreConnUri?: string) {
  const lines: string[] = [];
  const sink = (line: string) => lines.push(line);
  const code = await migrateCommand({ datastoreEngine, datastoreConnUri }, { out: sink, err: sink });
  return { code, lines };
}

describe('pemba datastore migrate', () => {
  itBackend('postgres', 'migrates postgres once, then reports it current; serve can open it only after', async () => {
    const uri = postgres.uri(await postgres.freshSchema());
    await expect(openDatastore({ engine: 'postgres', connUri: uri, gcIntervalMs: 0 })).rejects.toThrow(
      /pemba datastore migrate/,
    );
    const first = await migrate('postgres', uri);
    expect(first.code).toBe(0);
    expect(first.lines).toEqual([
      expect.stringMatching(/^postgres datastore migrated from schema version 0 to 3 \(datastore id [0-9a-f-]{36}\)$/),
    ]);
    const second = await migrate('postgres', uri);
    expect(second.lines).toEqual([expect.stringMatching(/^postgres datastore already at schema version 3/)]);
    const ds = await openDatastore({ engine: 'postgres', connUri: uri, gcIntervalMs: 0 });
    expect(first.lines[0]).toContain(ds.id);
    await ds.close();
  });

  itBackend('sqlite', 'migrates a sqlite file, creating it', async () => {
    const path = join(dir, 'new.db');
    expect((await migrate('sqlite', path)).lines).toEqual([
      expect.stringMatching(/^sqlite datastore migrated from schema version 0 to 4/),
    ]);
    expect((await migrate('sqlite', path)).lines).toEqual([
      expect.stringMatching(/^sqlite datastore already at schema version 4/),
    ]);
  });

  it('fails with a message for an unknown engine, a missing URI or an unreachable server', async () => {
    expect(await migrate('mysql')).toEqual({
      code: 1,
      lines: ['error: unknown datastore engine `mysql`: use one of memory, sqlite, postgres'],
    });
    expect(await migrate('postgres')).toEqual({
      code: 1,
      lines: [expect.stringMatching(/needs --datastore-conn-uri/)],
    });
    const unreachable = await migrate('postgres', 'postgres://postgres@127.0.0.1:1/none');
    expect(unreachable.code).toBe(1);
    expect(unreachable.lines[0]).toMatch(/^error: the PostgreSQL datastore is unavailable/);
  });

  it('has nothing to do for memory', async () => {
    expect(await migrate('memory')).toEqual({ code: 0, lines: ['the memory datastore has no tables to migrate'] });
  });
});
