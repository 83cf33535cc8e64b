/** examples/openfga/first-session.mjs (the session docs/openfga.md shows) runs against a real server as written. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveServeConfig } from '../../src/server/config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

const KEY = 'example-key';
let server: RunningServer;

beforeAll(async () => {
  const config = resolveServeConfig({
    grpcPresharedKey: [KEY],
    grpcAddr: '127.0.0.1:0',
    openfgaEnabled: 'true',
    openfgaHttpAddr: '127.0.0.1:0',
    datastoreEngine: 'memory',
  });
  server = await startServer(config, { logger: pino({ level: 'silent' }) });
}, 60_000);

afterAll(() => server?.close());

it('runs the first OpenFGA session through @openfga/sdk', async () => {
  const script = fileURLToPath(new URL('../../examples/openfga/first-session.mjs', import.meta.url));
  const env = { ...process.env, FGA_API_TOKEN: KEY, FGA_API_URL: `http://127.0.0.1:${server.openfgaAddr!.port}` };
  const { stdout } = await promisify(execFile)(process.execPath, [script], { env });
  expect(stdout).toBe(
    [
      'anne may view the roadmap: true',
      "documents anne may view: [ 'document:roadmap' ]",
      "users who may view the roadmap: [ 'user:anne', 'user:bob' ]",
      '',
    ].join('\n'),
  );
}, 60_000);
