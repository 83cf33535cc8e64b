/**
 * `pemba playground [--port N] [--host H]`: serves the playground page (the engine runs in the
 * browser; nothing is sent to this server but the page's files) and prints its URL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { playgroundHandler } from '../server/playground-route.js';

export interface PlaygroundServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function startPlayground(
  options: { port?: number; host?: string; dir?: string } = {},
): Promise<PlaygroundServer> {
  const serve = playgroundHandler({ prefix: '', dir: options.dir });
  const server = createServer((req, res) => {
    if (!serve(req, res)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8765, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    server,
    url: `http://${shown}:${port}/`,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port: expected a port number, got ${text}`);
  return n;
}

export function registerPlayground(program: Command): Command {
  return program
    .command('playground')
    .description(
      'serve the playground (schema, relationships, assertions and checks, run in the browser) on a local port',
    )
    .option('--port <port>', 'port to listen on (0: any free port)', parsePort, 8765)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action(async (opts: { port: number; host: string }) => {
      const { url, close } = await startPlayground({ port: opts.port, host: opts.host });
      process.stdout.write(`Pemba playground: ${url}\n`);
      const stop = () => void close().finally(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
