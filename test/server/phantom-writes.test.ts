/**
 * A write is acknowledged or not made. Writes queue behind one write lock; a stalled
 * ImportBulkRelationships holds it. A write whose call ends while it waits (client deadline, server
 * request timeout, shutdown) must never commit later, and a stalled import must not hold the lock
 * forever (--import-idle-timeout, --import-max-lock-hold).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RawFlags } from '../../src/server/config.js';
import { useTestPostgres } from '../datastore/postgres-harness.js';
import { fullyConsistent, grpcError, rel, relText, SCHEMA, startTestServer, update } from './harness.js';
import type { TestServer } from './harness.js';

const postgres = useTestPostgres();
const dir = mkdtempSync(join(tmpdir(), 'pemba-phantom-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(flags: RawFlags): Promise<TestServer> {
  const s = await startTestServer({ httpEnabled: false, ...flags });
  servers.push(s);
  return s;
}

/** An ImportBulkRelationships stream the test feeds by hand, and may leave stalled. */
function openImport(client: v1.ZedClientInterface) {
  let stream!: ReturnType<v1.ZedClientInterface['importBulkRelationships']>;
  const done = new Promise<v1.ImportBulkRelationshipsResponse>((resolve, reject) => {
    stream = client.importBulkRelationships((err, value) => (err ? reject(err) : resolve(value!)));
  });
  done.catch(() => undefined); // awaited by the tests that expect an outcome
  return {
    done,
    send: (...texts: string[]) =>
      stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: texts.map(rel) })),
    end: () => stream.end(),
  };
}

/** Resolves once the server's writer is taken (by an import): a probe transaction then cannot get it. */
async function untilWriterHeld(s: TestServer): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const probe = s.server.pemba.datastore.readWrite(async () => undefined, { signal: AbortSignal.timeout(50) });
    if (
      await probe.then(
        () => false,
        () => true,
      )
    )
      return;
    await sleep(20);
  }
  throw new Error('the import never took the writer');
}

const touchRequest = (text: string) => v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', text)] });

async function stored(client: v1.ZedClientInterface): Promise<string[]> {
  const rows = await client.promises.readRelationships(
    v1.ReadRelationshipsRequest.create({
      relationshipFilter: {
        resourceType: 'doc',
        optionalResourceId: '',
        optionalResourceIdPrefix: '',
        optionalRelation: '',
      },
      consistency: fullyConsistent(),
    }),
  );
  return rows.map((r) => relText(r.relationship)).sort();
}

const engines: Array<[string, () => Promise<RawFlags>]> = [
  ['sqlite', async () => ({ datastoreEngine: 'sqlite', datastoreConnUri: join(dir, `${files++}.db`) })],
  ['postgres', async () => ({ datastoreEngine: 'postgres', datastoreConnUri: await postgres.migratedUri() })],
];

describe.each(engines)('no phantom writes: %s', (_engine, datastore) => {
  it('a write that waited behind a stalled import past its deadline is never committed', async () => {
    const s = await start({ ...(await datastore()), requestTimeout: '400ms' });
    await s.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const imp = openImport(s.client);
    imp.send('doc:imported#reader@user:ann');
    await untilWriterHeld(s);

    const began = Date.now();
    const clientDeadline = await grpcError(
      s.client.promises.writeRelationships(touchRequest('doc:client-deadline#reader@user:ann'), new grpc.Metadata(), {
        deadline: Date.now() + 300,
      }),
    );
    expect(clientDeadline.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const serverTimeout = await grpcError(
      s.client.promises.writeRelationships(touchRequest('doc:server-timeout#reader@user:ann')),
    );
    expect(serverTimeout.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - began).toBeLessThan(3000);

    imp.send('doc:imported#reader@user:bob');
    imp.end();
    expect((await imp.done).numLoaded).toBe('2');
    await sleep(100); // a phantom write would commit right after the import
    expect(await stored(s.client)).toEqual(['doc:imported#reader@user:ann', 'doc:imported#reader@user:bob']);
    // The writer is free: a write now is acknowledged and present.
    await s.client.promises.writeRelationships(touchRequest('doc:after#reader@user:ann'));
    expect(await stored(s.client)).toContain('doc:after#reader@user:ann');
  });

  it('the idle-stream timeout ends a stalled import, writes none of it and frees the writer', async () => {
    const s = await start({ ...(await datastore()), importIdleTimeout: '300ms' });
    await s.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const imp = openImport(s.client);
    imp.send('doc:stalled#reader@user:ann');
    await untilWriterHeld(s);
    // Queued behind the import, with no deadline of its own.
    const queued = s.client.promises.writeRelationships(touchRequest('doc:queued#reader@user:ann'));
    const failure = await grpcError(imp.done);
    expect(failure.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(failure.details).toMatch(/no batch for 300 ms \(--import-idle-timeout\).*nothing was imported/);
    await queued;
    expect(await stored(s.client)).toEqual(['doc:queued#reader@user:ann']);
  });

  it('an import that drips batches is ended by --import-max-lock-hold and writes nothing', async () => {
    const s = await start({ ...(await datastore()), importIdleTimeout: '300ms', importMaxLockHold: '600ms' });
    await s.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const imp = openImport(s.client);
    let i = 0;
    const drip = setInterval(() => imp.send(`doc:drip${i++}#reader@user:ann`), 100);
    try {
      const failure = await grpcError(imp.done);
      expect(failure.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(failure.details).toMatch(/held the write lock for more than 600 ms \(--import-max-lock-hold\)/);
    } finally {
      clearInterval(drip);
    }
    expect(i).toBeGreaterThan(3);
    expect(await stored(s.client)).toEqual([]);
  });

  it('a write queued at shutdown is not committed, and neither is the import it waited for', async () => {
    const flags = { ...(await datastore()), grpcShutdownGracePeriod: '300ms' };
    const s = await start(flags);
    await s.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const imp = openImport(s.client);
    imp.send('doc:stalled#reader@user:ann');
    await untilWriterHeld(s);
    const queued = grpcError(s.client.promises.writeRelationships(touchRequest('doc:queued#reader@user:ann')));
    await sleep(100);
    // The server shuts down (the client stays): after the grace period both calls are ended through
    // their signals and answer that (the write rolled back), before any connection is cut.
    await s.server.close();
    for (const failure of [await queued, await grpcError(imp.done)]) {
      expect(failure.code).toBe(grpc.status.UNAVAILABLE);
      expect(failure.details).toMatch(/grace period is over/);
    }

    const restarted = await start(flags);
    expect(await stored(restarted.client)).toEqual([]);
  });
});

describe('no phantom writes across two servers on one PostgreSQL database', () => {
  it('a write waiting for the lock another server holds is answered at its deadline and never committed', async () => {
    const flags: RawFlags = { datastoreEngine: 'postgres', datastoreConnUri: await postgres.migratedUri() };
    const a = await start(flags);
    const b = await start(flags);
    await a.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const imp = openImport(a.client);
    imp.send('doc:imported#reader@user:ann');
    await untilWriterHeld(a);

    const began = Date.now();
    const failure = await grpcError(
      b.client.promises.writeRelationships(touchRequest('doc:other-server#reader@user:ann'), new grpc.Metadata(), {
        deadline: Date.now() + 300,
      }),
    );
    expect(failure.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - began).toBeLessThan(3000);

    imp.end();
    expect((await imp.done).numLoaded).toBe('1');
    await sleep(200); // a phantom write would commit right after the import
    expect(await stored(b.client)).toEqual(['doc:imported#reader@user:ann']);
    // b writes again once the lock is free.
    await b.client.promises.writeRelationships(touchRequest('doc:after#reader@user:ann'));
    expect(await stored(a.client)).toEqual(['doc:after#reader@user:ann', 'doc:imported#reader@user:ann']);
  });
});
