/**
 * The Pemba gRPC server in its own process (as `pemba serve` would run), so the client's event
 * loop and the server's do not share a thread. Opens its own throwaway storage for the engine it
 * is given (argv[2], a ServerOptions in JSON), reports its port, answers RSS requests, shuts down
 * gracefully when asked and removes the storage (file or database) on the way out. Started by
 * pemba-grpc.ts.
 */
import { pino } from 'pino';
import type { RawFlags } from '../../src/server/config.js';
import { resolveServeConfig } from '../../src/server/config.js';
import { startServer } from '../../src/server/server.js';
import { BENCH_KEY } from './pemba-server-protocol.js';
import type { ServerCommand, ServerMessage, ServerOptions } from './pemba-server-protocol.js';
import { openBenchStorage } from './storage.js';
import { collectGarbage, settleDatastore } from './system.js';

async function main(options: ServerOptions): Promise<void> {
  const storage = await openBenchStorage(options.engine, options);
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await storage.cleanup().catch((e: unknown) => console.error(`benchmark storage cleanup failed: ${String(e)}`));
  };
  const flags: RawFlags = {
    grpcPresharedKey: [BENCH_KEY],
    grpcAddr: '127.0.0.1:0',
    // The same engine as the in-process system it is compared with, so the two differ only by the transport.
    datastoreEngine: options.engine,
    datastoreConnUri: storage.connUri,
    requestTimeout: '0',
    grpcMaxMessageSize: String(64 * 1024 * 1024),
  };
  // As `pemba serve --datastore-mirror-enabled false` (a flag this build may not know yet: then ignored).
  if (options.mirror === false) flags.datastoreMirrorEnabled = 'false';
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(resolveServeConfig(flags), { logger: pino({ level: 'warn' }) });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const send = (m: ServerMessage) => process.send!(m);
  process.on('message', async (m: ServerCommand) => {
    if (m.type === 'rss') {
      collectGarbage();
      send({ type: 'rss', rss: process.memoryUsage().rss });
    } else if (m.type === 'settle') {
      await settleDatastore(server.pemba.datastore);
      send({ type: 'settled' });
    } else if (m.type === 'close') {
      await server.close();
      await cleanup();
      process.exit(0);
    }
  });
  // The parent's death (crash or kill) must not leave a server (or a database) behind.
  process.on('disconnect', () => {
    void cleanup().finally(() => process.exit(0));
  });
  send({ type: 'ready', port: server.grpcAddr.port });
}

await main(JSON.parse(process.argv[2] ?? '{"engine":"memory"}') as ServerOptions);
