/**
 * `pemba datastore head | gc | repair`, SpiceDB's `spicedb datastore` commands: head prints the
 * newest migration this Pemba knows, gc collects once now (sqlite and postgres), repair says why
 * Pemba has nothing to repair.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gcCommand, headCommand, repairCommand } from '../../src/cli/datastore.js';
import { openDatastore } from '../../src/datastore/factory.js';
import { POSTGRES_SCHEMA_VERSION } from '../../src/datastore/postgres/migrations.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/datastore/sqlite/migrations.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import { useTestPostgres } from '../datastore/postgres-harness.js';

const postgres = useTestPostgres();
const dir = mkdtempSync(join(tmpdir(), 'pemba-ds-commands-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sink() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, output: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

const relationship: Relationship = {
  resource: { type: 'doc', id: 'a' },
  relation: 'reader',
  subject: { type: 'user', id: 'ann', relation: '...' },
};

/** Writes a relationship and deletes it: one superseded version to collect. */
async function supersede(engine: string, connUri: string): Promise<void> {
  const ds = await openDatastore({ engine, connUri, gcIntervalMs: 0, mirror: { enabled: false } });
  try {
    await ds.readWrite((tx) => tx.write([{ operation: 'TOUCH', relationship }]));
    await ds.readWrite((tx) => tx.write([{ operation: 'DELETE', relationship }]));
  } finally {
    await ds.close();
  }
}

describe('pemba datastore head', () => {
  it('prints the newest migration version for the engine, alone', () => {
    for (const [engine, version] of [
      ['sqlite', SQLITE_SCHEMA_VERSION],
      ['postgres', POSTGRES_SCHEMA_VERSION],
    ] as const) {
      const s = sink();
      expect(headCommand({ datastoreEngine: engine }, s.output)).toBe(0);
      expect(s.out).toEqual([String(version)]);
    }
  });

  it('refuses engines without migrations', () => {
    const s = sink();
    expect(headCommand({ datastoreEngine: 'memory' }, s.output)).toBe(1);
    expect(s.err).toEqual([
      'error: unable to compute head revision: the memory datastore has no migrations: use --datastore-engine sqlite or postgres',
    ]);
    const u = sink();
    expect(headCommand({ datastoreEngine: 'cockroachdb' }, u.output)).toBe(1);
    expect(u.err[0]).toMatch(/unknown datastore engine `cockroachdb`/);
  });
});

describe('pemba datastore gc', () => {
  it.each(['sqlite', 'postgres'])('collects %s once, now, with --datastore-gc-window', async (engine) => {
    const uri = engine === 'sqlite' ? join(dir, 'gc.db') : await postgres.migratedUri();
    await supersede(engine, uri);

    // Within the window: nothing to collect yet.
    const kept = sink();
    expect(
      await gcCommand({ datastoreEngine: engine, datastoreConnUri: uri, datastoreGcWindow: '1d' }, kept.output),
    ).toBe(0);
    expect(kept.out[0]).toMatch(
      /^garbage collection completed: 0 relationship versions and 0 change-log entries removed/,
    );

    await new Promise((r) => setTimeout(r, 50));
    const collected = sink();
    expect(
      await gcCommand({ datastoreEngine: engine, datastoreConnUri: uri, datastoreGcWindow: '10ms' }, collected.output),
    ).toBe(0);
    expect(collected.err).toEqual([]);
    expect(collected.out[0]).toMatch(
      /^garbage collection completed: 1 relationship versions and \d+ change-log entries removed; the oldest readable revision is \d+ \(--datastore-gc-window 10ms\)$/,
    );
  });

  it('refuses the memory engine, a bad window and an unreachable datastore', async () => {
    const memory = sink();
    expect(await gcCommand({ datastoreEngine: 'memory', datastoreGcWindow: '24h' }, memory.output)).toBe(1);
    expect(memory.err[0]).toMatch(/datastore of type 'memory' does not support garbage collection/);

    const window = sink();
    expect(
      await gcCommand(
        { datastoreEngine: 'sqlite', datastoreConnUri: join(dir, 'w.db'), datastoreGcWindow: '1 day' },
        window.output,
      ),
    ).toBe(1);
    expect(window.err[0]).toMatch(/--datastore-gc-window must be a duration/);

    const missing = sink();
    expect(
      await gcCommand(
        { datastoreEngine: 'sqlite', datastoreConnUri: join(dir, 'nowhere.db'), datastoreGcWindow: '1d' },
        missing.output,
      ),
    ).toBe(1);
    expect(missing.err).toEqual([
      `error: failed to create datastore: there is no SQLite datastore at ${join(dir, 'nowhere.db')}`,
    ]);

    const unmigrated = sink();
    expect(
      await gcCommand(
        {
          datastoreEngine: 'postgres',
          datastoreConnUri: postgres.uri(await postgres.freshSchema()),
          datastoreGcWindow: '1d',
        },
        unmigrated.output,
      ),
    ).toBe(1);
    expect(unmigrated.err[0]).toMatch(/^error: failed to create datastore: .*not migrated/);
  });
});

describe('pemba datastore repair', () => {
  it('says Pemba has nothing to repair, and fails', () => {
    const s = sink();
    expect(repairCommand({ datastoreEngine: 'postgres' }, 'transaction-ids', s.output)).toBe(1);
    expect(s.err[0]).toMatch(
      /^error: datastore of type 'postgres' does not support repair operation `transaction-ids`\. Pemba's datastores have no repair operations: revisions are numbered by Pemba/,
    );
    const none = sink();
    expect(repairCommand({ datastoreEngine: 'sqlite' }, undefined, none.output)).toBe(1);
    expect(none.err[0]).toMatch(/does not support the repair operation/);
  });
});
