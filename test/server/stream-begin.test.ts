/**
 * When a server stream begins, on both transports: at its first step (a message or its end), or,
 * for a long-lived stream waiting for events, once its setup has run. An error before that is the
 * call's status (gRPC: trailers only; HTTP: grpc-gateway's status and JSON error body); an error
 * after it is reported in the stream.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PembaError } from '../../src/errors/index.js';
import { serverStream } from '../../src/api/method.js';
import { post, serveFakes, sleep } from './fake-services.js';
import type { FakeServer } from './fake-services.js';

const response = (token: string) => v1.ReadRelationshipsResponse.create({ readAt: { token } });
const invalid = (message: string) => new PembaError('INVALID_ARGUMENT', message);

let fakes: FakeServer;

beforeAll(async () => {
  fakes = await serveFakes([
    {
      // ReadRelationships fails at the step its resource type names: "late" after one message, "slow" before any (after I/O).
      type: v1.PermissionsService,
      handlers: {
        ReadRelationships: serverStream(v1.ReadRelationshipsRequest, async function* (req) {
          const how = req.relationshipFilter?.resourceType;
          if (how === 'slow') {
            await sleep(30);
            throw invalid('slow failure');
          }
          yield response('first');
          if (how === 'late') throw invalid('late failure');
        }),
      },
    },
    {
      // Watch never yields; it fails in its setup if asked to.
      type: v1.WatchService,
      handlers: {
        Watch: serverStream(
          v1.WatchRequest,
          async function* (req, ctx) {
            await Promise.resolve();
            if (req.optionalObjectTypes.includes('bad')) throw invalid('bad setup');
            await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
            yield v1.WatchResponse.create();
          },
          { longLived: true },
        ),
      },
    },
  ]);
});

afterAll(async () => {
  await fakes?.close();
});

describe('HTTP', () => {
  it('answers an error before the first message with its status and the JSON error body', async () => {
    const r = await post(fakes.httpBase, '/v1/relationships/read', { relationshipFilter: { resourceType: 'slow' } });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ code: 3, message: 'slow failure', details: [] });
  });

  it('reports an error after the first message in the stream', async () => {
    const r = await post(fakes.httpBase, '/v1/relationships/read', { relationshipFilter: { resourceType: 'late' } });
    expect(r.status).toBe(200);
    const lines = (await r.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { result: expect.objectContaining({ readAt: { token: 'first' } }) },
      { error: { code: 3, message: 'late failure', details: [] } },
    ]);
  });

  it('answers the headers of a long-lived stream once its setup has run, before any event', async () => {
    const abort = new AbortController();
    const r = await post(fakes.httpBase, '/v1/watch', {}, { signal: abort.signal });
    expect(r.status).toBe(200);
    abort.abort();
  });

  it('answers a long-lived stream failing in its setup with its status', async () => {
    const r = await post(fakes.httpBase, '/v1/watch', { optionalObjectTypes: ['bad'] });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ code: 3, message: 'bad setup', details: [] });
  });
});

describe('gRPC', () => {
  /** Whether response headers came before the stream ended, and how it ended. */
  function outcome(
    stream: grpc.ClientReadableStream<unknown>,
  ): Promise<{ headers: boolean; code: number; messages: number }> {
    let headers = false;
    let messages = 0;
    stream.on('metadata', () => {
      headers = true;
    });
    stream.on('data', () => {
      messages++;
    });
    return new Promise((resolve) => {
      stream.on('error', (e: grpc.ServiceError) => resolve({ headers, code: e.code, messages }));
      stream.on('end', () => resolve({ headers, code: grpc.status.OK, messages }));
    });
  }

  it('answers an error before the stream began with the status alone (no headers)', async () => {
    const slow = await outcome(
      fakes.client.readRelationships(
        v1.ReadRelationshipsRequest.create({ relationshipFilter: { resourceType: 'slow' } }),
      ),
    );
    expect(slow).toEqual({ headers: false, code: grpc.status.INVALID_ARGUMENT, messages: 0 });
    const bad = await outcome(fakes.client.watch(v1.WatchRequest.create({ optionalObjectTypes: ['bad'] })));
    expect(bad).toEqual({ headers: false, code: grpc.status.INVALID_ARGUMENT, messages: 0 });
    const late = await outcome(
      fakes.client.readRelationships(
        v1.ReadRelationshipsRequest.create({ relationshipFilter: { resourceType: 'late' } }),
      ),
    );
    expect(late).toEqual({ headers: true, code: grpc.status.INVALID_ARGUMENT, messages: 1 });
  });

  it('sends the headers of a long-lived stream once its setup has run', async () => {
    const stream = fakes.client.watch(v1.WatchRequest.create());
    await new Promise((resolve) => stream.on('metadata', resolve));
    stream.on('error', () => undefined);
    stream.cancel();
  });
});
