/**
 * Deadlines, cancellation and shutdown in the gRPC binding, with handlers that block until told
 * (the real services answer too fast to be caught in the act).
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransportOptions } from '../../src/api/call.js';
import { serviceDefinition, serviceImplementation } from '../../src/api/grpc/service-binding.js';
import { serverStream, unary } from '../../src/api/method.js';
import type { ApiService } from '../../src/api/method.js';

const quiet = { debug() {}, warn() {}, error() {} };

interface Harness {
  client: v1.ZedClientInterface;
  shutdown: AbortController;
  aborts: unknown[];
  close(): Promise<void>;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

/** ReadSchema blocks until its call is aborted; Watch yields once every 60 ms, forever. */
async function start(requestTimeoutMs: number): Promise<Harness> {
  const aborts: unknown[] = [];
  const blockUntilAborted = (signal: AbortSignal) =>
    new Promise<never>((_, reject) => {
      signal.addEventListener(
        'abort',
        () => {
          aborts.push(signal.reason);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  const schema: ApiService = {
    type: v1.SchemaService,
    handlers: { ReadSchema: unary(v1.ReadSchemaRequest, (_req, ctx) => blockUntilAborted(ctx.signal)) },
  };
  const watch: ApiService = {
    type: v1.WatchService,
    handlers: {
      Watch: serverStream(
        v1.WatchRequest,
        async function* (_req, ctx) {
          for (let i = 0; !ctx.signal.aborted; i++) {
            await new Promise((r) => setTimeout(r, 60));
            yield v1.WatchResponse.create({ changesThrough: { token: String(i) } });
          }
        },
        { longLived: true },
      ),
    },
  };
  const shutdown = new AbortController();
  const options: TransportOptions = {
    authenticate: () => undefined,
    requestTimeoutMs,
    shutdown: shutdown.signal,
    log: quiet,
  };
  const server = new grpc.Server();
  for (const s of [schema, watch]) server.addService(serviceDefinition(s.type), serviceImplementation(s, options));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const client = v1.NewClient('k', `127.0.0.1:${port}`, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
  const h: Harness = {
    client,
    shutdown,
    aborts,
    close: async () => {
      client.close();
      server.forceShutdown();
    },
  };
  open.push(h);
  return h;
}

const failure = async (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: { code: number; details: string }) => e,
  );

describe('per-call deadlines', () => {
  it('ends a call that outlives the server request timeout with DEADLINE_EXCEEDED, aborting its work', async () => {
    const h = await start(100);
    const began = Date.now();
    const e = await failure(h.client.promises.readSchema(v1.ReadSchemaRequest.create()));
    expect(e.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - began).toBeGreaterThanOrEqual(90);
    expect(h.aborts).toHaveLength(1);
  });

  it("honours the client's own deadline, and aborts the work when the client gives up", async () => {
    const h = await start(0);
    const e = await failure(
      h.client.promises.readSchema(v1.ReadSchemaRequest.create(), new grpc.Metadata(), { deadline: Date.now() + 300 }),
    );
    expect(e.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    for (let i = 0; i < 100 && h.aborts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(h.aborts).toHaveLength(1);
  });

  it('exempts Watch from the request timeout, and ends it with UNAVAILABLE on shutdown', async () => {
    const h = await start(100);
    const stream = h.client.watch(v1.WatchRequest.create());
    const got: string[] = [];
    const ended = new Promise<{ code: number }>((resolve) => stream.on('error', resolve));
    const began = Date.now();
    const fourth = new Promise<number>((resolve) =>
      stream.on('data', (r: v1.WatchResponse) => {
        got.push(r.changesThrough!.token);
        if (got.length === 4) resolve(Date.now() - began);
      }),
    );
    // Four responses 60 ms apart: the stream outlived the 100 ms request timeout.
    expect(await fourth).toBeGreaterThan(150);
    h.shutdown.abort();
    expect((await ended).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('lets ordinary calls run on when shutdown begins', async () => {
    const h = await start(200);
    const call = failure(h.client.promises.readSchema(v1.ReadSchemaRequest.create()));
    await new Promise((r) => setTimeout(r, 50));
    h.shutdown.abort();
    // Not cut off by the shutdown signal: it runs until its own deadline.
    expect((await call).code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});
