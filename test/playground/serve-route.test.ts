/** `pemba serve --http-enabled` serves the built playground at /playground, unless --http-playground-enabled=false. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlayground } from '../../src/playground/build.mjs';
import { resolveServeConfig } from '../../src/server/config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pemba-playground-route-'));
  await buildPlayground({ outdir: dir });
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(flags: Record<string, string>): Promise<RunningServer> {
  const config = resolveServeConfig({
    grpcPresharedKey: ['k'],
    grpcAddr: '127.0.0.1:0',
    httpEnabled: 'true',
    httpAddr: '127.0.0.1:0',
    datastoreEngine: 'memory',
    ...flags,
  });
  return startServer(config, { logger: pino({ level: 'silent' }), playgroundDir: dir });
}

describe('the playground on the HTTP gateway', () => {
  it('is served at /playground/ by default, without a key, beside the API', async () => {
    const server = await serve({});
    try {
      const base = `http://127.0.0.1:${server.httpAddr!.port}`;
      const page = await fetch(`${base}/playground/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(await page.text()).toMatch(/app\.js/);
      expect((await fetch(`${base}/playground/app.js`)).status).toBe(200);
      // The API is still the gateway's, and still wants its key.
      const api = await fetch(`${base}/v1/schema/read`, { method: 'POST', body: '{}' });
      expect(api.status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('is not served with --http-playground-enabled=false', async () => {
    const server = await serve({ httpPlaygroundEnabled: 'false' });
    try {
      const page = await fetch(`http://127.0.0.1:${server.httpAddr!.port}/playground/`);
      expect(page.status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
