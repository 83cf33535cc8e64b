/**
 * `pemba serve` as a child process: configured by flags and PEMBA_* variables, it logs one ready
 * line, serves the authzed-node client, and on SIGTERM finishes in-flight calls, ends Watch
 * streams and exits 0.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { SCHEMA, update } from './harness.js';

const started: ChildProcess[] = [];
/** Pids of the server processes themselves (npx and tsx sit between them and the test). */
const servers: number[] = [];

afterEach(() => {
  for (const pid of servers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Serving {
  child: ChildProcess;
  ready: Record<string, unknown>;
  logs: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the CLI and resolves once its ready line ("pemba is listening") is logged. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Serving> {
  const child = spawn('npx', ['tsx', 'src/cli/main.ts', 'serve', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 30s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      for (const line of output.split('\n')) {
        if (!line.includes('pemba is listening')) continue;
        clearTimeout(timer);
        const ready = JSON.parse(line) as Record<string, unknown>;
        servers.push(Number(ready.pid));
        resolve(ready);
        return;
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready:\n${output}`));
    });
  });
  return { child, ready, logs: () => output, exit };
}

describe('pemba serve (child process)', () => {
  it('serves, then shuts down cleanly on SIGTERM, finishing an in-flight Watch', async () => {
    const key = 'cli-test-key-0123456789';
    const s = await serve(
      ['--grpc-addr', '127.0.0.1:0', '--http-enabled', '--http-addr', '127.0.0.1:0', '--log-format', 'json'],
      {
        PEMBA_GRPC_PRESHARED_KEY: `rotated-out,${key}`,
        PEMBA_DATASTORE_ENGINE: 'memory',
      },
    );
    expect(s.ready).toMatchObject({ level: 30, datastoreEngine: 'memory', keyCount: 2 });
    const endpoint = String(s.ready.grpcAddr);
    const client = v1.NewClient(key, endpoint, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    const token = (await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }))).writtenAt!
      .token;
    await client.promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:cli#reader@user:ann')] }),
    );
    const check = await client.promises.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: { objectType: 'doc', objectId: 'cli' },
        permission: 'view',
        subject: { object: { objectType: 'user', objectId: 'ann' }, optionalRelation: '' },
        consistency: { requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } },
      }),
    );
    expect(check.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);
    const http = await fetch(`http://${String(s.ready.httpAddr)}/v1/schema/read`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}` },
      body: '{}',
    });
    expect((await http.json()).schemaText).toBe(SCHEMA);

    // A Watch is open when the signal arrives: shutdown ends it with UNAVAILABLE, then exits 0.
    const watch = client.watch(v1.WatchRequest.create({ optionalStartCursor: { token } }));
    const watchEnd = new Promise<{ code: number }>((resolve) => watch.on('error', resolve));
    watch.on('data', () => undefined);
    await once(watch, 'data');
    // Signal the server process itself: npx does not forward signals; tsx passes its child's exit code up.
    process.kill(Number(s.ready.pid), 'SIGTERM');
    expect((await watchEnd).code).toBe(grpc.status.UNAVAILABLE);
    expect(await s.exit).toEqual({ code: 0, signal: null });
    client.close();
    expect(s.logs()).toMatch(/received SIGTERM/);
    expect(s.logs()).toMatch(/"msg":"stopped"/);
    expect(s.logs()).not.toContain(key);
    expect(s.logs()).not.toContain('rotated-out');
  }, 60_000);

  it('refuses to start without a key, or with an unknown datastore engine', async () => {
    const run = async (args: string[]) => {
      const child = spawn('npx', ['tsx', 'src/cli/main.ts', 'serve', ...args], {
        env: { ...process.env, PEMBA_GRPC_PRESHARED_KEY: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.push(child);
      let err = '';
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      const [code] = await once(child, 'exit');
      return { code, err };
    };
    const noKey = await run(['--grpc-addr', '127.0.0.1:0']);
    expect(noKey.code).not.toBe(0);
    expect(noKey.err).toMatch(/preshared key is required.*PEMBA_GRPC_PRESHARED_KEY/);
    const badEngine = await run([
      '--grpc-preshared-key',
      'k',
      '--grpc-addr',
      '127.0.0.1:0',
      '--datastore-engine',
      'cassandra',
    ]);
    expect(badEngine.code).not.toBe(0);
    expect(badEngine.err).toMatch(
      /unknown datastore engine "cassandra": supported engines are memory, sqlite, postgres/,
    );
  }, 60_000);
});
