/**
 * Issue 11, item 3: no phantom writes. Writes queue behind one write lock, and an ImportBulk holds
 * it from its first message to its last. The old code let a queued write run after its call had
 * ended: a WriteRelationships answered DEADLINE_EXCEEDED (client deadline 3 s), and another that hit
 * the server's request timeout, were both committed ~40 s later when a stalled import finished, on
 * SQLite and across two servers on PostgreSQL; a write answered CANCELLED at shutdown was present
 * after restart.
 *
 * Here, on SQLite, on PostgreSQL and across two `pemba serve` processes on one PostgreSQL database: a
 * client opens ImportBulkRelationships, sends one batch and stalls. Meanwhile writes arrive with a
 * 3 s client deadline, with none (the server's --request-timeout 4s ends them), and with a long one.
 * After the import is finished by its client, or ended by the server (--import-idle-timeout,
 * --import-max-lock-hold), ReadRelationships (fully consistent) must show every write answered OK
 * and none answered with an error: a write is acknowledged or it does not happen. The same for
 * writes in flight when the server is shut down (SIGTERM), checked after a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { useTestPostgres } from '../datastore/postgres-harness.js';
import {
  collect,
  deadlineIn,
  fullyConsistent,
  killAll,
  outcome,
  rel,
  relText,
  report,
  sleep,
  startServer,
  update,
  writeSchema,
} from './harness.js';
import type { Outcome, Server } from './harness.js';

const SCHEMA = `definition user {}
definition doc {
  relation reader: user
}`;
/** How long the server lets a call run (the write with no client deadline ends by it). */
const REQUEST_TIMEOUT = ['--request-timeout', '4s'];

const dir = mkdtempSync(join(tmpdir(), 'pemba-reliability-phantom-'));
const postgres = useTestPostgres();
afterEach(killAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One WriteRelationships of one relationship, and how it was answered. */
interface Write {
  rel: string;
  outcome: Outcome;
}

async function write(client: v1.ZedClientInterface, relationship: string, options: grpc.CallOptions): Promise<Write> {
  const o = await outcome(() =>
    client.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: [update('TOUCH', relationship)],
      }),
      new grpc.Metadata(),
      options,
    ),
  );
  return { rel: relationship, outcome: o };
}

/** Every doc relationship stored now (fully consistent). */
async function stored(s: Server): Promise<Set<string>> {
  const rs = await collect(
    s.client().readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'doc' },
        consistency: fullyConsistent(),
      }),
      new grpc.Metadata(),
      deadlineIn(60_000),
    ),
  );
  return new Set(rs.map((r) => relText(r.relationship)));
}

/** A write answered OK is stored; one answered with an error is not. */
function phantoms(writes: Write[], present: Set<string>) {
  return {
    lost: writes.filter((w) => w.outcome.codeName === 'OK' && !present.has(w.rel)).map((w) => w.rel),
    phantom: writes
      .filter((w) => w.outcome.codeName !== 'OK' && present.has(w.rel))
      .map((w) => `${w.rel} (answered ${w.outcome.codeName})`),
  };
}

const codes = (writes: Write[]) =>
  writes.map((w) => `${w.rel.split('#')[0]}: ${w.outcome.codeName} in ${Math.round(w.outcome.ms)} ms`);

/** An ImportBulkRelationships that sends `batch` and then waits: end() finishes it, its outcome says how it ended. */
function stalledImport(client: v1.ZedClientInterface, batch: string[]) {
  const start = performance.now();
  let resolveOutcome!: (o: Outcome) => void;
  const ended = new Promise<Outcome>((r) => (resolveOutcome = r));
  const stream = client.importBulkRelationships(
    new grpc.Metadata(),
    deadlineIn(300_000),
    (err: grpc.ServiceError | null, value?: v1.ImportBulkRelationshipsResponse) =>
      resolveOutcome(
        err
          ? { code: err.code, codeName: grpc.status[err.code], details: err.details, ms: performance.now() - start }
          : { code: 0, codeName: 'OK', details: `${value?.numLoaded} loaded`, ms: performance.now() - start },
      ),
  );
  stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: batch.map(rel) }));
  return {
    ended,
    /** Sends another batch. */
    send: (more: string[]) => stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: more.map(rel) })),
    end: () => stream.end(),
    cancel: () => stream.cancel(),
  };
}

const importBatch = (tag: string, n = 1000) =>
  Array.from({ length: n }, (_, i) => `doc:${tag}_${i}#reader@user:imported`);

/**
 * The stalled import is on `importer`; writes go to `writer` (the same server, or another on the same
 * PostgreSQL database). The import's client finishes it ~5.5 s later, after the short writes have
 * ended, while a patient write waits behind it.
 */
async function stalledImportFinishedByItsClient(importer: Server, writer: Server, label: string) {
  await writeSchema(importer.client(), SCHEMA);
  const client = writer.client();
  const before = await write(client, 'doc:before#reader@user:w', deadlineIn(30_000));
  const imp = stalledImport(importer.client(), importBatch('imp'));
  await sleep(500); // the import has its first batch, and with it the write lock
  const during = await Promise.all([
    write(client, 'doc:deadline3s#reader@user:w', deadlineIn(3000)),
    write(client, 'doc:requesttimeout#reader@user:w', {}),
    (async () => {
      // After both have ended, a write that waits ~1 s (well within --request-timeout) for the import to finish.
      await sleep(4500);
      const queued = write(writer.client(), 'doc:patient#reader@user:w', deadlineIn(60_000));
      await sleep(1000);
      imp.end();
      return queued;
    })(),
  ]);
  const importOutcome = await imp.ended;
  const after = await write(client, 'doc:after#reader@user:w', deadlineIn(30_000));
  await sleep(1000); // anything still queued would commit by now
  const present = await stored(writer);
  const writes = [before, ...during, after];
  const { lost, phantom } = phantoms(writes, present);
  const imported = importBatch('imp').filter((r) => present.has(r)).length;
  report(`phantom writes: stalled import finished by its client, ${label}`, {
    writes: codes(writes),
    import: `${importOutcome.codeName} ${importOutcome.details} after ${Math.round(importOutcome.ms)} ms`,
    imported,
    lost,
    phantom,
  });
  expect(phantom, 'writes answered with an error but committed').toEqual([]);
  expect(lost, 'writes answered OK but missing').toEqual([]);
  expect(importOutcome.codeName).toBe('OK');
  expect(imported).toBe(1000);
  // The short writes really waited behind the import (the scenario is what it says).
  expect(during[0].outcome.codeName, 'the write with a 3 s deadline').not.toBe('OK');
  expect(during[0].outcome.ms, 'answered at its deadline').toBeLessThan(3000 + 1500);
  expect(during[1].outcome.codeName, 'the write ended by --request-timeout').not.toBe('OK');
  expect(during[2].outcome.codeName, 'the patient write').toBe('OK');
}

/** The import's client never finishes: the server ends it (idle timeout), and the queued writes go on. */
async function stalledImportEndedByServer(s: Server, label: string, idleTimeoutMs: number) {
  await writeSchema(s.client(), SCHEMA);
  const client = s.client();
  const imp = stalledImport(s.client(), importBatch('idle'));
  await sleep(500);
  const during = await Promise.all([
    write(client, 'doc:deadline1s#reader@user:w', deadlineIn(1000)),
    // Queued a second later, so that it waits less than --request-timeout for the server to end the import.
    sleep(1000).then(() => write(client, 'doc:patient#reader@user:w', deadlineIn(idleTimeoutMs + 20_000))),
  ]);
  const importOutcome = await imp.ended;
  await sleep(1000);
  expect(s.alive(), 'the server is alive after ending the import').toBe(true);
  const present = await stored(s);
  const { lost, phantom } = phantoms(during, present);
  const imported = importBatch('idle').filter((r) => present.has(r)).length;
  report(`phantom writes: stalled import ended by --import-idle-timeout, ${label}`, {
    writes: codes(during),
    import: `${importOutcome.codeName} ${importOutcome.details.slice(0, 160)} after ${Math.round(importOutcome.ms)} ms`,
    imported,
    lost,
    phantom,
  });
  expect(phantom, 'writes answered with an error but committed').toEqual([]);
  expect(lost, 'writes answered OK but missing').toEqual([]);
  expect(importOutcome.codeName, 'the idle import is ended by the server').toBe('DEADLINE_EXCEEDED');
  expect(importOutcome.ms).toBeLessThan(idleTimeoutMs + 3000);
  expect(imported, 'an import ended by the server writes nothing').toBe(0);
  expect(during[1].outcome.codeName, 'a write queued behind it commits once it is gone').toBe('OK');
  imp.cancel();
}

/** An import that keeps sending, slowly, past --import-max-lock-hold: the server ends it and frees the writer. */
async function drippingImportEndedByServer(s: Server, label: string, maxHoldMs: number) {
  const client = s.client();
  const imp = stalledImport(s.client(), importBatch('drip0', 100));
  let k = 0;
  const drip = setInterval(() => imp.send(importBatch(`drip${++k}`, 100)), 500);
  try {
    // Queued 2 s into the import, so that it waits less than --request-timeout for the server to end it.
    await sleep(2000);
    const patient = await write(client, 'doc:patient_drip#reader@user:w', deadlineIn(maxHoldMs + 20_000));
    const importOutcome = await imp.ended;
    await sleep(1000);
    expect(s.alive(), 'the server is alive after ending the import').toBe(true);
    const present = await stored(s);
    const imported = [...present].filter((r) => r.startsWith('doc:drip')).length;
    report(`phantom writes: dripping import ended by --import-max-lock-hold, ${label}`, {
      write: codes([patient]),
      import: `${importOutcome.codeName} ${importOutcome.details.slice(0, 160)} after ${Math.round(importOutcome.ms)} ms`,
      batchesSent: k + 1,
      imported,
    });
    expect(importOutcome.codeName, 'the import is ended by the server').toBe('DEADLINE_EXCEEDED');
    expect(importOutcome.ms).toBeLessThan(maxHoldMs + 3000);
    expect(imported, 'an import ended by the server writes nothing').toBe(0);
    expect(patient.outcome.codeName).toBe('OK');
    expect(present.has(patient.rel)).toBe(true);
  } finally {
    clearInterval(drip);
    imp.cancel();
  }
}

/**
 * Writers keep writing while a stalled import makes later writes queue; SIGTERM the server; after a
 * restart, every write answered OK is there and none answered with an error is.
 */
async function shutdownWithWritesInFlight(start: () => Promise<Server>, label: string) {
  let s = await start();
  await writeSchema(s.client(), SCHEMA);
  const writes: Write[] = [];
  let stop = false;
  const writer = async (w: number) => {
    const client = s.client();
    for (let i = 0; !stop; i++) {
      const r = await write(client, `doc:w${w}_${i}#reader@user:w`, deadlineIn(30_000));
      writes.push(r);
      if (r.outcome.codeName !== 'OK') return;
    }
  };
  const writers = Array.from({ length: 4 }, (_, w) => writer(w));
  await sleep(1500);
  const imp = stalledImport(s.client(), importBatch('shutdown'));
  await sleep(500); // writes pile up behind the import; the grace period ends before --request-timeout would end them
  const exit = s.stop('SIGTERM', 30_000);
  const exited = await exit;
  stop = true;
  await Promise.all(writers);
  const importOutcome = await imp.ended;
  s = await start();
  const present = await stored(s);
  const { lost, phantom } = phantoms(writes, present);
  const byCode: Record<string, number> = {};
  for (const w of writes) byCode[w.outcome.codeName] = (byCode[w.outcome.codeName] ?? 0) + 1;
  report(`phantom writes: SIGTERM with writes in flight, ${label}`, {
    exit: exited,
    writes: byCode,
    import: `${importOutcome.codeName} ${importOutcome.details.slice(0, 120)}`,
    importedAfterRestart: importBatch('shutdown').filter((r) => present.has(r)).length,
    lost,
    phantom,
  });
  expect(exited).toEqual({ code: 0, signal: null });
  expect(phantom, 'writes answered with an error but present after restart').toEqual([]);
  expect(lost, 'writes answered OK but missing after restart').toEqual([]);
  expect(
    writes.filter((w) => w.outcome.codeName === 'OK').length,
    'writes acknowledged before the shutdown',
  ).toBeGreaterThan(10);
  expect(writes.filter((w) => w.outcome.codeName !== 'OK').length, 'writes in flight at the shutdown').toBeGreaterThan(
    0,
  );
  await s.stop('SIGTERM');
}

describe('no phantom writes: SQLite', () => {
  const sqlite = (name: string, extra: string[] = []) => [
    '--datastore-engine',
    'sqlite',
    '--datastore-conn-uri',
    join(dir, name),
    ...REQUEST_TIMEOUT,
    ...extra,
  ];

  it('a stalled ImportBulk finished by its client: writes that timed out behind it never commit', async () => {
    const s = await startServer(sqlite('finished.db'));
    await stalledImportFinishedByItsClient(s, s, 'sqlite');
  });

  it('a stalled ImportBulk ended by --import-idle-timeout; a dripping one by --import-max-lock-hold', async () => {
    const s = await startServer(sqlite('ended.db', ['--import-idle-timeout', '3s', '--import-max-lock-hold', '4s']));
    await stalledImportEndedByServer(s, 'sqlite', 3000);
    await drippingImportEndedByServer(s, 'sqlite', 4000);
  });

  it('SIGTERM with writes in flight: acknowledged and present, or an error and absent', async () => {
    const file = sqlite('shutdown.db', ['--grpc-shutdown-grace-period', '3s']);
    await shutdownWithWritesInFlight(() => startServer(file), 'sqlite');
  });
});

describe('no phantom writes: PostgreSQL', () => {
  const pg = (uri: string, extra: string[] = []) => [
    '--datastore-engine',
    'postgres',
    '--datastore-conn-uri',
    uri,
    ...REQUEST_TIMEOUT,
    ...extra,
  ];

  it('a stalled ImportBulk finished by its client: writes that timed out behind it never commit', async () => {
    const s = await startServer(pg(await postgres.migratedUri()));
    await stalledImportFinishedByItsClient(s, s, 'postgres');
  });

  it('two servers on one database: the import stalls on one, writes time out on the other and never commit', async () => {
    const uri = await postgres.migratedUri();
    const [a, b] = await Promise.all([startServer(pg(uri)), startServer(pg(uri))]);
    await stalledImportFinishedByItsClient(a, b, 'postgres, two servers');
  });

  it('a stalled ImportBulk ended by --import-idle-timeout; a dripping one by --import-max-lock-hold', async () => {
    const s = await startServer(
      pg(await postgres.migratedUri(), ['--import-idle-timeout', '3s', '--import-max-lock-hold', '4s']),
    );
    await stalledImportEndedByServer(s, 'postgres', 3000);
    await drippingImportEndedByServer(s, 'postgres', 4000);
  });

  it('SIGTERM with writes in flight: acknowledged and present, or an error and absent', async () => {
    const args = pg(await postgres.migratedUri(), ['--grpc-shutdown-grace-period', '3s']);
    await shutdownWithWritesInFlight(() => startServer(args), 'postgres');
  });
});
