/**
 * `pemba serve`'s datastore flags end to end (child processes): with none it keeps its data in
 * ./pemba.db, and --datastore-gc-window / --datastore-revision-quantization-interval (or their
 * PEMBA_* variables) reach the datastore: a token older than the window is refused clearly.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { atExactSnapshot, atLeastAsFresh, grpcError, obj, SCHEMA, subj, update } from './harness.js';
import { killAll, serveProcess } from './serve-process.js';

const KEY = 'serve-datastore-test-key';
const dir = mkdtempSync(join(tmpdir(), 'pemba-serve-default-'));
afterEach(killAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = async (client: v1.ZedClientInterface, text: string) =>
  (await client.promises.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', text)] })))
    .writtenAt!.token;

const check = (client: v1.ZedClientInterface, id: string, consistency: v1.Consistency) =>
  client.promises.checkPermission(
    v1.CheckPermissionRequest.create({
      resource: obj('doc', id),
      permission: 'view',
      subject: subj('user', 'ann'),
      consistency,
    }),
  );

describe('pemba serve datastore flags', () => {
  it('keeps its data in ./pemba.db when given no datastore flags', async () => {
    const first = await serveProcess(['--grpc-preshared-key', KEY], { cwd: dir });
    expect(first.ready).toMatchObject({ datastoreEngine: 'sqlite' });
    expect(existsSync(join(dir, 'pemba.db'))).toBe(true);
    const client = first.client(KEY);
    await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const token = await write(client, 'doc:default#reader@user:ann');
    await first.kill('SIGTERM');
    expect(await first.exit).toEqual({ code: 0, signal: null });

    const second = await serveProcess(['--grpc-preshared-key', KEY], { cwd: dir });
    const r = await check(second.client(KEY), 'default', atLeastAsFresh(token));
    expect(r.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
  }, 60_000);

  it('refuses at_exact_snapshot for a token older than --datastore-gc-window', async () => {
    const s = await serveProcess(['--datastore-conn-uri', join(dir, 'gc.db')], {
      env: {
        PEMBA_GRPC_PRESHARED_KEY: KEY,
        PEMBA_DATASTORE_GC_WINDOW: '1s',
        PEMBA_DATASTORE_REVISION_QUANTIZATION_INTERVAL: '0',
      },
    });
    const client = s.client(KEY);
    await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    const old = await write(client, 'doc:gc#reader@user:ann');
    // Superseded now, and readable for one more second.
    const newer = await write(client, 'doc:gc#banned@user:ann');
    expect((await check(client, 'gc', atExactSnapshot(old))).permissionship).toBe(
      v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
    );
    await new Promise((r) => setTimeout(r, 1500));

    const error = await grpcError(check(client, 'gc', atExactSnapshot(old)));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.details).toMatch(
      /revision \d+ has expired: it was garbage collected .*retry with a newer consistency token/,
    );
    // The newest revision stays readable however old it is.
    expect((await check(client, 'gc', atExactSnapshot(newer))).permissionship).toBe(
      v1.CheckPermissionResponse_Permissionship.NO_PERMISSION,
    );
  }, 60_000);
});
