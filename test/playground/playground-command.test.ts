/** `pemba playground` serves the built page on a local port and prints its URL; SIGTERM stops it. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildPlayground } from '../../src/playground/build.mjs';
import { pembaArgs, REPO } from '../server/serve-process.js';

it('serves the page and prints its URL', async () => {
  // The command serves dist/playground, which `npm run build` (and so `npm install`) makes.
  const dist = join(REPO, 'dist/playground');
  if (!existsSync(join(dist, 'app.js'))) await buildPlayground({ outdir: dist });
  const child = spawn(process.execPath, pembaArgs(['playground', '--port', '0']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Pemba playground: (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code} before printing its URL: ${out}`)));
    });
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script[^>]*app\.js/);
    expect((await fetch(new URL('app.js', url))).status).toBe(200);
    expect((await fetch(new URL('nothing-here', url))).status).toBe(404);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
}, 60_000);
