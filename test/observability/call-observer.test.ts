/**
 * The CallObserver hook: startCall reports each call's start and outcome (once), with its transport;
 * both transports say which they are; Metrics counts what they report.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { startCall } from '../../src/api/call.js';
import type { CallObserver, Transport, TransportOptions } from '../../src/api/call.js';
import { serviceDefinition, serviceImplementation } from '../../src/api/grpc/service-binding.js';
import { createGateway } from '../../src/api/http/gateway.js';
import { serverStream, unary } from '../../src/api/method.js';
import type { ApiService, MethodHandler } from '../../src/api/method.js';
import { invalidArgument, unauthenticated } from '../../src/errors/index.js';
import { Metrics } from '../../src/observability/metrics.js';
import { parsePrometheusText } from './prometheus-text.js';

const quiet = { debug() {}, warn() {}, error() {} };

function recordingObserver() {
  const events: Array<[string, ...unknown[]]> = [];
  const observer: CallObserver = {
    callStarted: (method, transport, longLived) => void events.push(['started', method, transport, longLived]),
    callFinished: (method, transport, code, seconds, longLived) =>
      void events.push(['finished', method, transport, code, seconds, longLived]),
  };
  return { events, observer };
}

function options(observer?: CallObserver): TransportOptions {
  return {
    authenticate: () => undefined,
    requestTimeoutMs: 0,
    shutdown: new AbortController().signal,
    log: quiet,
    observer,
  };
}

const UNARY: MethodHandler = { kind: 'unary', run: async () => ({}) };
const WATCH: MethodHandler = { kind: 'serverStream', longLived: true, run: async function* () {} };

describe('startCall observer', () => {
  it('reports start and a successful finish with the duration', async () => {
    const { events, observer } = recordingObserver();
    const c = startCall('svc/Method', UNARY, options(observer), undefined, () => undefined, 'http');
    expect(events).toEqual([['started', 'svc/Method', 'http', false]]);
    await new Promise((r) => setTimeout(r, 20));
    expect(c.finish()).toBeUndefined();
    expect(events).toHaveLength(2);
    const [kind, method, transport, code, seconds, longLived] = events[1];
    expect([kind, method, transport, code, longLived]).toEqual(['finished', 'svc/Method', 'http', 'OK', false]);
    expect(seconds).toBeGreaterThanOrEqual(0.015);
    expect(seconds).toBeLessThan(5);
  });

  it("reports a failure's status name, once, and defaults to the gRPC transport", () => {
    const { events, observer } = recordingObserver();
    const c = startCall('svc/Method', UNARY, options(observer), undefined, () => undefined);
    const failure = c.finish(invalidArgument('bad'));
    expect(failure?.codeName).toBe('INVALID_ARGUMENT');
    c.finish(new Error('again'));
    expect(events.map((e) => e.slice(0, 4))).toEqual([
      ['started', 'svc/Method', 'grpc', false],
      ['finished', 'svc/Method', 'grpc', 'INVALID_ARGUMENT'],
    ]);
    const d = startCall('svc/Other', UNARY, options(observer), undefined, () => undefined);
    d.finish(new Error('a bug'));
    expect(events[3].slice(0, 4)).toEqual(['finished', 'svc/Other', 'grpc', 'INTERNAL']);
  });

  it('marks long-lived streams', () => {
    const { events, observer } = recordingObserver();
    const c = startCall('svc/Watch', WATCH, options(observer), undefined, () => undefined, 'grpc');
    c.finish(unauthenticated('x'));
    expect(events[0]).toEqual(['started', 'svc/Watch', 'grpc', true]);
    expect(events[1][3]).toBe('UNAUTHENTICATED');
    expect(events[1][5]).toBe(true);
  });

  it('without an observer or tracing, run() just calls its function', () => {
    const c = startCall('svc/Method', UNARY, options(), undefined, () => undefined);
    const token = {};
    expect(c.run(() => token)).toBe(token);
    expect(c.finish()).toBeUndefined();
  });
});

describe('transports report to the observer', () => {
  it('counts gRPC and HTTP calls with their transport and status', async () => {
    const metrics = new Metrics();
    const seen: Transport[] = [];
    const observer: CallObserver = {
      callStarted: (m, t, l) => {
        seen.push(t);
        metrics.callStarted(m, t, l);
      },
      callFinished: (m, t, c, s, l) => metrics.callFinished(m, t, c, s, l),
    };
    const services: ApiService[] = [
      {
        type: v1.SchemaService,
        handlers: {
          ReadSchema: unary(v1.ReadSchemaRequest, async () => v1.ReadSchemaResponse.create({ schemaText: 'x' })),
          WriteSchema: unary(v1.WriteSchemaRequest, async () => {
            throw invalidArgument('nope');
          }),
        },
      },
      {
        type: v1.WatchService,
        handlers: {
          Watch: serverStream(
            v1.WatchRequest,
            async function* (_req, ctx) {
              yield v1.WatchResponse.create({ changesThrough: { token: '1' } });
              await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
            },
            { longLived: true },
          ),
        },
      },
    ];
    const opts: TransportOptions = {
      ...options(observer),
      authenticate: (authorization) => {
        if (authorization !== 'Bearer k') throw unauthenticated('no key');
      },
    };
    const server = new grpc.Server();
    for (const s of services) server.addService(serviceDefinition(s.type), serviceImplementation(s, opts));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const http = createServer(createGateway(services, { ...opts, maxBodyBytes: 1 << 20 }));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const client = v1.NewClient('k', `127.0.0.1:${port}`, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    try {
      await client.promises.readSchema(v1.ReadSchemaRequest.create({}));
      await client.promises.readSchema(v1.ReadSchemaRequest.create({}));
      await expect(client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: 'x' }))).rejects.toThrow();
      const watch = client.watch(v1.WatchRequest.create({}));
      await new Promise<void>((resolve, reject) => {
        watch.on('data', () => resolve());
        watch.on('error', reject);
      });
      watch.cancel();

      const post = async (path: string, body: unknown, key = 'k') => {
        const res = await fetch(`${base}${path}`, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { authorization: `Bearer ${key}` },
        });
        await res.text();
        return res.status;
      };
      expect(await post('/v1/schema/read', {})).toBe(200);
      expect(await post('/v1/schema/read', {}, 'wrong')).toBe(401);
      expect(await post('/v1/schema/write', { schema: 'x' })).toBe(400);

      const until = Date.now() + 5000;
      let p = parsePrometheusText(await metrics.text());
      const W = 'authzed.api.v1.WatchService/Watch';
      while (p.value('pemba_watch_streams_open') !== 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
        p = parsePrometheusText(await metrics.text());
      }
      const R = 'authzed.api.v1.SchemaService/ReadSchema';
      const S = 'authzed.api.v1.SchemaService/WriteSchema';
      const n = (method: string, code: string, transport: string) =>
        p.value('pemba_api_requests_total', { method, code, transport });
      expect(n(R, 'OK', 'grpc')).toBe(2);
      expect(n(S, 'INVALID_ARGUMENT', 'grpc')).toBe(1);
      expect(n(W, 'CANCELLED', 'grpc')).toBe(1);
      expect(n(R, 'OK', 'http')).toBe(1);
      expect(n(R, 'UNAUTHENTICATED', 'http')).toBe(1);
      expect(n(S, 'INVALID_ARGUMENT', 'http')).toBe(1);
      expect(p.value('pemba_watch_streams_open')).toBe(0);
      expect(p.value('pemba_api_request_duration_seconds_count', { method: R, transport: 'grpc' })).toBe(2);
      expect(p.value('pemba_api_request_duration_seconds_count', { method: W, transport: 'grpc' })).toBeUndefined();
      expect(seen.filter((t) => t === 'grpc')).toHaveLength(4);
      expect(seen.filter((t) => t === 'http')).toHaveLength(3);
    } finally {
      client.close();
      server.forceShutdown();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});
