/**
 * --grpc-network unix: gRPC on a unix socket whose path is --grpc-addr; a socket file left by a
 * server that died is replaced, one in use or a file that is not a socket is refused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY, SCHEMA, startTestServer } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-sock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const client = (path: string) => v1.NewClient(KEY, `unix:${path}`, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);

describe('--grpc-network unix', () => {
  it('serves gRPC on the socket at --grpc-addr, and removes it on shutdown', async () => {
    const path = join(dir, 'pemba.sock');
    const t = await startTestServer({ grpcNetwork: 'unix', grpcAddr: path });
    const c = client(path);
    try {
      expect(t.server.grpcSocketPath).toBe(path);
      expect(existsSync(path)).toBe(true);
      await c.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
      const read = await c.promises.readSchema(v1.ReadSchemaRequest.create({}));
      expect(read.schemaText).toContain('definition doc');
      // The HTTP gateway still listens on TCP beside it.
      const r = await fetch(`${t.httpBase}/healthz`);
      expect(r.status).toBe(200);
    } finally {
      c.close();
      await t.close();
    }
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a socket left by a server that died, and refuses one in use', async () => {
    const path = join(dir, 'stale.sock');
    // A server killed without cleaning up leaves its socket file behind.
    const killed = spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(path)).toBe(true);

    const t = await startTestServer({ grpcNetwork: 'unix', grpcAddr: path });
    const c = client(path);
    try {
      await c.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
      await expect(startTestServer({ grpcNetwork: 'unix', grpcAddr: path })).rejects.toThrow(
        /another server is listening on that socket/,
      );
    } finally {
      c.close();
      await t.close();
    }
  });

  it('refuses a path that is not a socket', async () => {
    const path = join(dir, 'not-a-socket');
    writeFileSync(path, 'keep me');
    await expect(startTestServer({ grpcNetwork: 'unix', grpcAddr: path })).rejects.toThrow(
      /exists and is not a socket: not replacing it/,
    );
    expect(existsSync(path)).toBe(true);
  });
});

describe('--grpc-network tcp4', () => {
  it('serves gRPC on IPv4', async () => {
    const t = await startTestServer({ grpcNetwork: 'tcp4', grpcAddr: '127.0.0.1:0' });
    try {
      const read = await t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
      expect(read.writtenAt?.token).toBeTruthy();
    } finally {
      await t.close();
    }
  });
});
