/**
 * A minimal OTLP/HTTP trace receiver for tests: `POST /v1/traces` with a JSON
 * ExportTraceServiceRequest (optionally gzip-encoded) is accepted and its spans collected, each with
 * its resource's attributes; anything else is answered 404 (or 415 for a protobuf body, which the
 * tests never ask the exporters for). One receiver per exporting process tells which process
 * exported a span without relying on resource attributes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  /** The exporting resource's attributes (service.name, ...). */
  resource: Record<string, unknown>;
  /** The instrumentation scope's name (the tracer's name). */
  scope: string;
  /** The receiver that got it (its label). */
  receivedBy: string;
}

export interface OtlpReceiver {
  label: string;
  /** http://127.0.0.1:PORT (the exporters add /v1/traces). */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Export requests accepted, and bodies rejected as malformed. */
  requests: number;
  malformed: string[];
  close(): Promise<void>;
}

/** OTLP JSON ids are hex strings; some encoders send base64 (the protobuf JSON mapping of bytes). */
function idOf(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  if (/^[0-9a-f]+$/i.test(value) && (value.length === 16 || value.length === 32)) return value.toLowerCase();
  return Buffer.from(value, 'base64').toString('hex');
}

/** An OTLP AnyValue as plain JSON. */
function anyValue(v: Record<string, unknown> | undefined): unknown {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v)
    return ((v.arrayValue as { values?: Record<string, unknown>[] }).values ?? []).map((x) => anyValue(x));
  if ('kvlistValue' in v) return attributesOf((v.kvlistValue as { values?: KeyValue[] }).values);
  if ('bytesValue' in v) return v.bytesValue;
  return undefined;
}

interface KeyValue {
  key: string;
  value?: Record<string, unknown>;
}

function attributesOf(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}

interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<{
        traceId?: string;
        spanId?: string;
        parentSpanId?: string;
        name?: string;
        kind?: number;
        attributes?: KeyValue[];
      }>;
    }>;
  }>;
}

export async function startOtlpReceiver(label: string): Promise<OtlpReceiver> {
  const receiver: OtlpReceiver = {
    label,
    endpoint: '',
    spans: [],
    requests: 0,
    malformed: [],
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
        receiver.malformed.push(`content-type ${req.headers['content-type']}`);
        res.writeHead(415).end();
        return;
      }
      let body = Buffer.concat(chunks);
      let parsed: ExportRequest;
      try {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        parsed = JSON.parse(body.toString('utf8')) as ExportRequest;
      } catch (e) {
        receiver.malformed.push(String(e));
        res.writeHead(400).end();
        return;
      }
      receiver.requests++;
      for (const rs of parsed.resourceSpans ?? []) {
        const resource = attributesOf(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            receiver.spans.push({
              traceId: idOf(s.traceId),
              spanId: idOf(s.spanId),
              parentSpanId: idOf(s.parentSpanId),
              name: s.name ?? '',
              kind: s.kind ?? 0,
              attributes: attributesOf(s.attributes),
              resource,
              scope: ss.scope?.name ?? '',
              receivedBy: label,
            });
          }
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  receiver.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}
