import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { Health } from '../../src/server/health.js';

const servers: grpc.Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.forceShutdown()));

/** A gRPC server with only Health, and a function asking it for the server's status. */
async function serve(health: Health): Promise<() => Promise<string>> {
  const server = new grpc.Server();
  servers.push(server);
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const Client = grpc.makeGenericClientConstructor(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        // HealthCheckRequest{service: ""} is the empty message; the reply's field 1 is the status enum.
        requestSerialize: () => Buffer.alloc(0),
        requestDeserialize: () => ({}),
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: (b: Buffer) => ({ status: b.length >= 2 ? b[1] : 0 }),
      },
    },
    'Health',
  );
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    Check(req: object, cb: (e: Error | null, r: { status: number }) => void): void;
  };
  const names = ['UNKNOWN', 'SERVING', 'NOT_SERVING'];
  return () => new Promise((resolve, reject) => client.Check({}, (e, r) => (e ? reject(e) : resolve(names[r.status]))));
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 3000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('Health', () => {
  it('is NOT_SERVING until started, follows the datastore probe, and stays NOT_SERVING once shutdown begins', async () => {
    const health = new Health(['authzed.api.v1.PermissionsService'], 50);
    const status = await serve(health);
    expect(await status()).toBe('NOT_SERVING');
    let reachable = true;
    const changes: boolean[] = [];
    health.startServing(
      () => (reachable ? Promise.resolve() : Promise.reject(new Error('down'))),
      (s) => changes.push(s),
    );
    expect(await status()).toBe('SERVING');
    reachable = false;
    await until(async () => (await status()) === 'NOT_SERVING');
    reachable = true;
    await until(async () => (await status()) === 'SERVING');
    expect(changes).toEqual([false, true]);
    health.stopServing();
    expect(await status()).toBe('NOT_SERVING');
    await new Promise((r) => setTimeout(r, 150));
    expect(await status()).toBe('NOT_SERVING');
  });

  it('counts a probe that hangs as a failure', async () => {
    const health = new Health([], 50);
    const status = await serve(health);
    health.startServing(() => new Promise(() => undefined));
    expect(await status()).toBe('SERVING');
    await until(async () => (await status()) === 'NOT_SERVING', 4000);
    health.stopServing();
  });
});
