/**
 * Durability under kill -9: a `pemba serve` child process on SQLite and one on PostgreSQL take
 * concurrent writes through authzed-node; the moment one is acknowledged the server is SIGKILLed,
 * then restarted on the same storage. Every acknowledged write must be there, writes that were in
 * flight must be all or nothing, and the old tokens must still work (at_least_as_fresh, and
 * at_exact_snapshot still seeing the past). Two kill/restart rounds per backend.
 *
 * PostgreSQL restarting under a running server is test/server/postgres-restart.fault.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { useTestPostgres } from '../datastore/postgres-harness.js';
import { atExactSnapshot, atLeastAsFresh, fullyConsistent, obj, relText, SCHEMA, subj, update } from './harness.js';
import { killAll, serveProcess } from './serve-process.js';
import type { ServeProcess } from './serve-process.js';

const KEY = 'fault-test-key';
const WRITERS = 4;
const dir = mkdtempSync(join(tmpdir(), 'pemba-fault-'));
const postgres = useTestPostgres();
afterEach(killAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Write {
  rels: string[];
  token?: string;
}

/** Three relationships per write, so a half-applied write would show. */
const writeOf = (round: number, writer: number, i: number): string[] => [
  `doc:r${round}_w${writer}_${i}#reader@user:u${i}`,
  `doc:r${round}_w${writer}_${i}#owner@user:w${writer}`,
  `group:r${round}_w${writer}_${i}#member@user:u${i}`,
];

/** Concurrent writers until `acks` writes are acknowledged; the server is SIGKILLed in the same tick as that acknowledgement. */
async function writeThenKill(
  s: ServeProcess,
  round: number,
  acks: number,
): Promise<{ acked: Write[]; unacked: Write[] }> {
  const client = s.client(KEY);
  const acked: Write[] = [];
  const unacked: Write[] = [];
  let killed = false;
  const writer = async (w: number) => {
    for (let i = 0; !killed; i++) {
      const write: Write = { rels: writeOf(round, w, i) };
      try {
        const r = await client.promises.writeRelationships(
          v1.WriteRelationshipsRequest.create({
            updates: write.rels.map((t) => update('TOUCH', t)),
          }),
        );
        write.token = r.writtenAt!.token;
        acked.push(write);
        if (!killed && acked.length >= acks) {
          killed = true;
          process.kill(s.pid, 'SIGKILL');
        }
      } catch {
        unacked.push(write);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  expect(await s.exit).toEqual({ code: null, signal: 'SIGKILL' });
  return { acked, unacked };
}

async function stored(client: v1.ZedClientInterface): Promise<Set<string>> {
  const all = new Set<string>();
  for (const resourceType of ['doc', 'group']) {
    const rs = await client.promises.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType },
        consistency: fullyConsistent(),
      }),
    );
    for (const r of rs) all.add(relText(r.relationship));
  }
  return all;
}

const view = (client: v1.ZedClientInterface, rels: string[], consistency: v1.Consistency) => {
  const m = /^doc:([^#]+)#reader@user:(.+)$/.exec(rels[0])!;
  return client.promises
    .checkPermission(
      v1.CheckPermissionRequest.create({
        resource: obj('doc', m[1]),
        permission: 'view',
        subject: subj('user', m[2]),
        consistency,
      }),
    )
    .then((r) => r.permissionship);
};
const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
const NO = v1.CheckPermissionResponse_Permissionship.NO_PERMISSION;

async function killAndRestart(args: string[]): Promise<void> {
  let server = await serveProcess([...args, '--grpc-preshared-key', KEY]);
  await server.client(KEY).promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
  const everAcked: Write[] = [];
  for (let round = 1; round <= 2; round++) {
    const { acked, unacked } = await writeThenKill(server, round, 60);
    expect(acked.length).toBeGreaterThanOrEqual(60);
    everAcked.push(...acked);

    server = await serveProcess([...args, '--grpc-preshared-key', KEY]);
    const client = server.client(KEY);
    const present = await stored(client);
    const lost = everAcked.flatMap((w) => w.rels).filter((t) => !present.has(t));
    expect(lost, 'acknowledged relationships lost').toEqual([]);
    for (const w of unacked) {
      const there = w.rels.filter((t) => present.has(t)).length;
      expect([0, w.rels.length], `half-applied: ${w.rels.join(', ')}`).toContain(there);
    }

    // Tokens from before the kill still work.
    for (const w of everAcked) expect(await view(client, w.rels, atLeastAsFresh(w.token!))).toBe(HAS);
    // An exact snapshot from this round's first write does not see this round's last one.
    const first = acked[0];
    const last = acked[acked.length - 1];
    expect(await view(client, first.rels, atExactSnapshot(first.token!))).toBe(HAS);
    expect(await view(client, last.rels, atExactSnapshot(first.token!))).toBe(NO);
  }
  await server.kill('SIGTERM');
}

describe('kill -9 right after an acknowledgement', () => {
  it('sqlite: every acknowledged write survives, tokens included', async () => {
    await killAndRestart(['--datastore-engine', 'sqlite', '--datastore-conn-uri', join(dir, 'fault.db')]);
  }, 120_000);

  it('postgres: every acknowledged write survives, tokens included', async () => {
    await killAndRestart(['--datastore-engine', 'postgres', '--datastore-conn-uri', await postgres.migratedUri()]);
  }, 120_000);
});
