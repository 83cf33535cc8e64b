/**
 * The Pemba gRPC server in its own process (as `pemba serve` would run), so the client's event
 * loop and the server's do not share a thread. Reports its port, answers RSS requests, and shuts
 * down gracefully when asked. Started by pemba-grpc.ts.
 */
import { pino } from 'pino';
import { resolveServeConfig } from '../../src/server/config.js';
import { startServer } from '../../src/server/server.js';
import { BENCH_KEY } from './pemba-server-protocol.js';
import type { ServerCommand, ServerMessage } from './pemba-server-protocol.js';
import { collectGarbage } from './system.js';

async function main(): Promise<void> {
  const config = resolveServeConfig({
    grpcPresharedKey: [BENCH_KEY],
    grpcAddr: '127.0.0.1:0',
    // The same engine as the in-process system, so the two differ only by the transport.
    datastoreEngine: 'memory',
    requestTimeout: '0',
    grpcMaxMessageSize: String(64 * 1024 * 1024),
  });
  const server = await startServer(config, { logger: pino({ level: 'warn' }) });
  const send = (m: ServerMessage) => process.send!(m);
  process.on('message', async (m: ServerCommand) => {
    if (m.type === 'rss') {
      collectGarbage();
      send({ type: 'rss', rss: process.memoryUsage().rss });
    } else if (m.type === 'close') {
      await server.close();
      process.exit(0);
    }
  });
  // The parent's death (crash or kill) must not leave a server behind.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: server.grpcAddr.port });
}

await main();
