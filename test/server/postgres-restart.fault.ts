/**
 * PostgreSQL restarting under load: a `pemba serve` child on PostgreSQL takes writes and checks
 * from several clients while the database server is restarted once. Calls in flight or arriving
 * while it is down fail with UNAVAILABLE; the same server process reconnects by itself, later calls
 * succeed, and every acknowledged write is there.
 *
 * The cluster restarted is the test's own (initdb into a temporary folder, run as the postgres user
 * on a free port), never the machine's shared one. The file is still not a *.test.ts: `npm test`
 * runs it alone, after the rest (`vitest run --config test/server/fault.vitest.config.ts`), since
 * it measures recovery times.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migratePostgres } from '../../src/datastore/postgres/migrations.js';
import { createPool } from '../../src/datastore/postgres/pool.js';
import { fullyConsistent, obj, relText, SCHEMA, subj, update } from './harness.js';
import { killAll, serveProcess } from './serve-process.js';
import { describeBackend } from '../datastore/chosen-backends.js';

const run = promisify(execFile);
const KEY = 'postgres-restart-test-key';
const CLIENTS = 4;
/** PostgreSQL's programs (read when the suite runs: a machine without PostgreSQL skips it). */
const bin = (program: string) => join(execFileSync('pg_config', ['--bindir']).toString().trim(), program);

/** A throwaway cluster: its folder, port and the pg_ctl options that start it. */
let dir = '';
let port = 0;
const pgCtl = (...args: string[]) => run('runuser', ['-u', 'postgres', '--', bin('pg_ctl'), '-D', dir, ...args]);
const startOptions = () => ['-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-l', join(dir, 'log'), '-w'];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address() as { port: number };
      srv.close(() => resolve(p));
    });
    srv.on('error', reject);
  });
}

const uri = () => `postgres://postgres@127.0.0.1:${port}/postgres`;

interface Outcome {
  kind: 'write' | 'check';
  start: number;
  end: number;
  code: number;
  rel?: string;
}

describeBackend('postgres', 'PostgreSQL restarting under load', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pemba-pg-restart-'));
    const postgresUid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const postgresGid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, postgresUid, postgresGid);
    await run('runuser', ['-u', 'postgres', '--', bin('initdb'), '-D', dir, '-A', 'trust', '-U', 'postgres']);
    port = await freePort();
    await pgCtl('start', ...startOptions());
    const pool = createPool(uri());
    try {
      await migratePostgres(pool);
    } finally {
      await pool.end();
    }
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await pgCtl('stop', '-m', 'immediate').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('fails in-flight calls with UNAVAILABLE, then serves again without a server restart, losing nothing', async () => {
    const s = await serveProcess([
      '--grpc-preshared-key',
      KEY,
      '--datastore-engine',
      'postgres',
      '--datastore-conn-uri',
      uri(),
      '--datastore-revision-quantization-interval',
      '0',
    ]);
    const client = s.client(KEY);
    await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));

    const outcomes: Outcome[] = [];
    let stop = false;
    const load = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const kind = i % 2 === 0 ? 'write' : 'check';
        const rel = `doc:c${c}_${i}#reader@user:u${c}`;
        const start = Date.now();
        let code: number = grpc.status.OK;
        try {
          if (kind === 'write') {
            await client.promises.writeRelationships(
              v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', rel)] }),
            );
          } else {
            await client.promises.checkPermission(
              v1.CheckPermissionRequest.create({
                resource: obj('doc', `c${c}_${i - 1}`),
                permission: 'view',
                subject: subj('user', `u${c}`),
                consistency: fullyConsistent(),
              }),
            );
          }
        } catch (e) {
          code = (e as grpc.ServiceError).code;
          await new Promise((r) => setTimeout(r, 50)); // as a client would back off
        }
        outcomes.push({ kind, start, end: Date.now(), code, rel: kind === 'write' ? rel : undefined });
      }
    };
    const loops = Array.from({ length: CLIENTS }, (_, c) => load(c));

    const restarted = { start: 0, end: 0 };
    try {
      await new Promise((r) => setTimeout(r, 1000));
      restarted.start = Date.now();
      await pgCtl('restart', '-m', 'fast', ...startOptions());
      restarted.end = Date.now();
      // Keep the load on until PostgreSQL answers again and a good while after.
      const deadline = Date.now() + 30_000;
      while (!outcomes.some((o) => o.start > restarted.end && o.code === grpc.status.OK) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      stop = true;
      await Promise.all(loops);
    }

    const failed = outcomes.filter((o) => o.code !== grpc.status.OK);
    const codes = [...new Set(failed.map((o) => grpc.status[o.code]))];
    expect(failed.length, 'calls failed while PostgreSQL restarted').toBeGreaterThan(0);
    expect(codes).toEqual(['UNAVAILABLE']);
    // Failures happen only around the restart: once a call started after it succeeds, all later ones do.
    const recovered = Math.min(
      ...outcomes.filter((o) => o.start > restarted.end && o.code === grpc.status.OK).map((o) => o.start),
    );
    expect(Number.isFinite(recovered), 'no call succeeded after the restart').toBe(true);
    expect(
      failed.filter((o) => o.start < restarted.start - 100),
      'failures before the restart',
    ).toEqual([]);
    expect(
      failed.filter((o) => o.start > recovered),
      'failures after recovering',
    ).toEqual([]);
    const after = outcomes.filter((o) => o.start > recovered);
    expect(after.filter((o) => o.kind === 'write').length).toBeGreaterThan(10);
    expect(after.filter((o) => o.kind === 'check').length).toBeGreaterThan(10);
    expect(s.child.exitCode, 'the server kept running').toBeNull();

    // Nothing acknowledged is lost; a failed write may or may not have committed (UNAVAILABLE after COMMIT was sent).
    const rs = await client.promises.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'doc' },
        consistency: fullyConsistent(),
      }),
    );
    const present = new Set(rs.map((r) => relText(r.relationship)));
    const acked = outcomes.filter((o) => o.kind === 'write' && o.code === grpc.status.OK).map((o) => o.rel!);
    expect(
      acked.filter((r) => !present.has(r)),
      'acknowledged writes lost',
    ).toEqual([]);
    console.log(
      `PostgreSQL restart: ${outcomes.length} calls, ${failed.length} failed (${codes.join(', ')}) ` +
        `from ${failed.length ? Math.min(...failed.map((o) => o.start)) - restarted.start : 0} ms to ${failed.length ? Math.max(...failed.map((o) => o.end)) - restarted.start : 0} ms ` +
        `after the restart began (pg_ctl restart took ${restarted.end - restarted.start} ms), ${acked.length} writes acknowledged, none lost`,
    );
  }, 120_000);
});
