/**
 * Tracing end to end: startTracing exports over OTLP/HTTP to a receiver in this test, and the spans
 * arrive with one trace id and the right parents — across withSpan nesting, a propagated hop, and
 * the two transports (the client's traceparent, the call's server span, the datastore's spans).
 *
 * The tracer provider is process-global: every tracing test lives in this file, runs in order and
 * shuts tracing down at the end.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportOptions } from '../../src/api/call.js';
import { serviceDefinition, serviceImplementation } from '../../src/api/grpc/service-binding.js';
import { createGateway } from '../../src/api/http/gateway.js';
import { unary } from '../../src/api/method.js';
import type { ApiService } from '../../src/api/method.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { invalidArgument } from '../../src/errors/index.js';
import { instrumentDatastore } from '../../src/observability/instrumented-datastore.js';
import {
  extractTraceContext,
  injectTraceContext,
  startTracing,
  tracingEnabled,
  withSpan,
} from '../../src/observability/tracing.js';
import type { Tracing } from '../../src/observability/tracing.js';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status?: { code?: number; message?: string };
  service?: unknown;
}

/** A minimal OTLP/HTTP JSON receiver: collects the spans POSTed to /v1/traces. */
async function startReceiver() {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.push(String(req.headers['content-type']));
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a: any) => a.key === 'service.name')?.value?.stringValue;
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            const attributes: Record<string, unknown> = {};
            for (const a of s.attributes ?? []) attributes[a.key] = Object.values(a.value ?? {})[0];
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
              kind: s.kind,
              attributes,
              status: s.status,
              service,
            });
          }
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    spans,
    contentTypes,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
    /** Waits until a span with this name has arrived. */
    async waitFor(name: string, timeoutMs = 5000): Promise<ReceivedSpan> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = spans.find((s) => s.name === name);
        if (found) return found;
        if (Date.now() > until) throw new Error(`no span ${name}; got ${spans.map((s) => s.name).join(', ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Services whose handlers read through an instrumented datastore, under a span of their own. */
function fakeServices() {
  const ds = instrumentDatastore(openMemoryDatastore());
  const schema: ApiService = {
    type: v1.SchemaService,
    handlers: {
      ReadSchema: unary(v1.ReadSchemaRequest, async () => {
        const head = await ds.headRevision();
        await withSpan('dispatch.check', { 'pemba.test': true }, () => ds.snapshot(head).queryRelationships({}));
        return v1.ReadSchemaResponse.create({ schemaText: 'ok' });
      }),
      WriteSchema: unary(v1.WriteSchemaRequest, async () => {
        await ds.optimizedRevision();
        throw invalidArgument('no schema for you');
      }),
    },
  };
  return { services: [schema], ds };
}

const quiet = { debug() {}, warn() {}, error() {} };

describe('tracing', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let tracing: Tracing | undefined;

  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await tracing?.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
    await receiver.close();
  });

  it("is off with provider 'none'", async () => {
    const none = await startTracing({ provider: 'none', sampleRatio: 1, serviceName: 'x' });
    expect(tracingEnabled()).toBe(false);
    // withSpan just runs its function, with a span that records nothing.
    expect(withSpan('x', {}, (span) => span.isRecording())).toBe(false);
    await none.shutdown();
  });

  it('exports nested spans and a propagated hop as one trace', async () => {
    tracing = await startTracing({
      provider: 'otlphttp',
      endpoint: receiver.endpoint,
      sampleRatio: 1,
      serviceName: 'pemba-test',
    });
    expect(tracingEnabled()).toBe(true);

    const carrier: Record<string, string> = {};
    await withSpan('outer', { 'pemba.level': 1 }, async () => {
      await withSpan('inner', {}, async () => {
        await new Promise((r) => setTimeout(r, 5));
        injectTraceContext(carrier);
      });
    });
    expect(carrier.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // The other side of the hop: no active span, only the carrier.
    const remote = await withSpan('remote', {}, async () => 'answered', extractTraceContext({ ...carrier }));
    expect(remote).toBe('answered');
    expect(() =>
      withSpan('failing', {}, () => {
        throw new Error('kaput');
      }),
    ).toThrow('kaput');

    const outer = await receiver.waitFor('outer');
    const inner = await receiver.waitFor('inner');
    const hop = await receiver.waitFor('remote');
    const failing = await receiver.waitFor('failing');
    expect(receiver.contentTypes[0]).toContain('application/json');
    expect(outer.service).toBe('pemba-test');
    expect(outer.parentSpanId).toBeUndefined();
    expect(outer.attributes['pemba.level']).toBe(1);
    expect(inner.traceId).toBe(outer.traceId);
    expect(inner.parentSpanId).toBe(outer.spanId);
    expect(hop.traceId).toBe(outer.traceId);
    expect(hop.parentSpanId).toBe(inner.spanId);
    expect(carrier.traceparent).toBe(`00-${outer.traceId}-${inner.spanId}-01`);
    expect(failing.traceId).not.toBe(outer.traceId);
    expect(failing.status?.code).toBe(2); // STATUS_CODE_ERROR
    expect(failing.status?.message).toBe('kaput');
  });

  it('makes each API call a server span under the caller, with the datastore spans beneath', async () => {
    const { services, ds } = fakeServices();
    const options: TransportOptions = {
      authenticate: () => undefined,
      requestTimeoutMs: 0,
      shutdown: new AbortController().signal,
      log: quiet,
    };
    const server = new grpc.Server();
    for (const s of services) server.addService(serviceDefinition(s.type), serviceImplementation(s, options));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const http = createServer(createGateway(services, { ...options, maxBodyBytes: 1 << 20 }));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      // gRPC, with the caller's trace context in the metadata.
      const grpcTrace = 'a'.repeat(31) + '1';
      const grpcParent = 'b'.repeat(15) + '1';
      const metadata = new grpc.Metadata();
      metadata.set('traceparent', `00-${grpcTrace}-${grpcParent}-01`);
      const response = await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(
          '/authzed.api.v1.SchemaService/ReadSchema',
          (m: Uint8Array) => Buffer.from(m),
          (b: Buffer) => b,
          Buffer.from(v1.ReadSchemaRequest.toBinary({})),
          metadata,
          (e, r) => (e ? reject(e) : resolve(r!)),
        ),
      );
      expect(v1.ReadSchemaResponse.fromBinary(response).schemaText).toBe('ok');

      // HTTP, with the caller's trace context in the headers; this call fails.
      const httpTrace = 'c'.repeat(31) + '2';
      const httpParent = 'd'.repeat(15) + '2';
      const res = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/v1/schema/write`, {
        method: 'POST',
        body: JSON.stringify({ schema: 'definition user {}' }),
        headers: { traceparent: `00-${httpTrace}-${httpParent}-01` },
      });
      expect(res.status).toBe(400);
      await res.text();

      const byTrace = async (traceId: string, names: string[]) => {
        for (const n of names) await receiver.waitFor(n);
        const until = Date.now() + 5000;
        while (names.some((n) => !receiver.spans.some((s) => s.traceId === traceId && s.name === n))) {
          if (Date.now() > until) throw new Error(`missing spans of trace ${traceId}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const get = (n: string) => receiver.spans.find((s) => s.traceId === traceId && s.name === n)!;
        return get;
      };

      const g = await byTrace(grpcTrace, [
        'authzed.api.v1.SchemaService/ReadSchema',
        'datastore.head_revision',
        'dispatch.check',
        'datastore.query_relationships',
      ]);
      const call = g('authzed.api.v1.SchemaService/ReadSchema');
      expect(call.kind).toBe(2); // SPAN_KIND_SERVER
      expect(call.parentSpanId).toBe(grpcParent);
      expect(call.attributes).toMatchObject({
        'rpc.system': 'grpc',
        'rpc.service': 'authzed.api.v1.SchemaService',
        'rpc.method': 'ReadSchema',
        'pemba.transport': 'grpc',
      });
      expect(Number(call.attributes['rpc.grpc.status_code'])).toBe(0);
      expect(g('datastore.head_revision').parentSpanId).toBe(call.spanId);
      expect(g('datastore.head_revision').kind).toBe(3); // SPAN_KIND_CLIENT
      expect(g('dispatch.check').parentSpanId).toBe(call.spanId);
      expect(g('datastore.query_relationships').parentSpanId).toBe(g('dispatch.check').spanId);

      const h = await byTrace(httpTrace, ['authzed.api.v1.SchemaService/WriteSchema', 'datastore.optimized_revision']);
      const failed = h('authzed.api.v1.SchemaService/WriteSchema');
      expect(failed.parentSpanId).toBe(httpParent);
      expect(failed.attributes['pemba.transport']).toBe('http');
      expect(Number(failed.attributes['rpc.grpc.status_code'])).toBe(3); // INVALID_ARGUMENT
      // A client error is not the server's: the span's status is left unset.
      expect(failed.status?.code ?? 0).toBe(0);
      expect(h('datastore.optimized_revision').parentSpanId).toBe(failed.spanId);

      // A call with no trace context starts a trace of its own.
      const before = receiver.spans.length;
      await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(
          '/authzed.api.v1.SchemaService/ReadSchema',
          (m: Uint8Array) => Buffer.from(m),
          (b: Buffer) => b,
          Buffer.from(v1.ReadSchemaRequest.toBinary({})),
          (e, r) => (e ? reject(e) : resolve(r!)),
        ),
      );
      const until = Date.now() + 5000;
      let root: ReceivedSpan | undefined;
      while (!root) {
        root = receiver.spans
          .slice(before)
          .find((s) => s.name === 'authzed.api.v1.SchemaService/ReadSchema' && s.traceId !== grpcTrace);
        if (Date.now() > until) throw new Error('no root call span');
        if (!root) await new Promise((r) => setTimeout(r, 50));
      }
      expect(root.parentSpanId).toBeUndefined();
    } finally {
      client.close();
      server.forceShutdown();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await ds.close();
    }
  });

  it('opens no datastore span outside a trace', async () => {
    const ds = instrumentDatastore(openMemoryDatastore());
    await ds.headRevision();
    await withSpan('marker', {}, () => undefined);
    await receiver.waitFor('marker');
    await tracing!.shutdown();
    // Everything flushed by shutdown; the lone headRevision made no trace of its own.
    const marker = receiver.spans.find((s) => s.name === 'marker')!;
    const lone = receiver.spans.filter(
      (s) => s.name === 'datastore.head_revision' && !receiver.spans.some((p) => p.spanId === s.parentSpanId),
    );
    expect(lone).toEqual([]);
    expect(marker.parentSpanId).toBeUndefined();
    await ds.close();
  });

  it('unregisters on shutdown, so tracing can start again (here over OTLP/gRPC)', async () => {
    expect(tracingEnabled()).toBe(false);
    const grpcTracing = await startTracing({
      provider: 'otlpgrpc',
      endpoint: 'http://127.0.0.1:1',
      sampleRatio: 0.5,
      serviceName: 'pemba-test',
      insecure: true,
    });
    expect(tracingEnabled()).toBe(true);
    await grpcTracing.shutdown();
    expect(tracingEnabled()).toBe(false);
    await expect(
      startTracing({ provider: 'otlphttp', sampleRatio: 2, serviceName: 'x', endpoint: receiver.endpoint }),
    ).rejects.toThrow(/sample ratio/);
    expect(tracingEnabled()).toBe(false);
  });
});
