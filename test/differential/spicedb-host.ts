/**
 * Child-process entry point hosting one embedded SpiceDB (see spicedb-process.ts). Speaks a tiny
 * request/response protocol over the IPC channel; exits when the parent goes away.
 */
import { SpiceDBOracle } from './spicedb-oracle.js';
import type { HostRequest, HostResponse } from './spicedb-process.js';

const send = (m: HostResponse) => process.send!(m);

async function main(): Promise<void> {
  const db = await SpiceDBOracle.start();
  // Requests are handled one at a time, in order.
  let queue: Promise<void> = Promise.resolve();
  process.on('message', (m: HostRequest) => {
    queue = queue.then(async () => {
      try {
        switch (m.op) {
          case 'load':
            await db.load(m.schema, m.relationships, m.previousTypes);
            send({ id: m.id, ok: true });
            break;
          case 'prefetchChecks':
            await db.prefetchChecks(m.queries);
            send({ id: m.id, ok: true });
            break;
          case 'run':
            send({ id: m.id, ok: true, answer: await db.run(m.query) });
            break;
        }
      } catch (e) {
        send({ id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) });
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
  send({ id: 0, ok: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
