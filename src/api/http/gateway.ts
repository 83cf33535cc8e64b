/**
 * The HTTP/JSON gateway, shaped like SpiceDB's grpc-gateway: `POST` to each method's
 * `google.api.http` path with a proto3-JSON body, `Authorization: Bearer <key>`. Unary answers are
 * one JSON object; server streams are newline-delimited `{"result": …}` objects, ending with
 * `{"error": …}` if the stream fails; client streams (ImportBulkRelationships) take newline-delimited
 * request objects. Errors are `{code, message, details}` with grpc-gateway's HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IMessageType, JsonValue } from '@protobuf-ts/runtime';
import { abortable, begin, raceAbort, startCall } from '../call.js';
import type { TransportOptions } from '../call.js';
import { ApiError, apiInvalidArgument, httpStatusOf, toFailure, toJsonError } from '../errors.js';
import type { Failure } from '../errors.js';
import type { ApiService, MethodHandler } from '../method.js';
import { ErrorInfo } from '../rpc-status.js';

interface Route {
  method: string;
  handler: MethodHandler;
  I: IMessageType<object>;
  O: IMessageType<object>;
}

export interface GatewayOptions extends TransportOptions {
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
}

const JSON_WRITE = { emitDefaultValues: true, typeRegistry: [ErrorInfo] } as const;
const JSON_READ = { ignoreUnknownFields: true } as const;

export function routes(services: ApiService[]): Map<string, Route> {
  const table = new Map<string, Route>();
  for (const s of services) {
    for (const m of s.type.methods) {
      const http = m.options['google.api.http'] as { post?: string } | undefined;
      const handler = s.handlers[m.name];
      if (http?.post && handler) table.set(http.post, { method: `${s.type.typeName}/${m.name}`, handler, I: m.I, O: m.O });
    }
  }
  return table;
}

export function createGateway(services: ApiService[], options: GatewayOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const table = routes(services);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = table.get(path);
    if (!route) return sendError(res, toFailure(new ApiError('NOT_FOUND', `no such API path: ${path}`)));
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return sendError(res, toFailure(new ApiError('UNIMPLEMENTED', `${req.method} is not supported on ${path}: use POST`)), 405);
    }
    void serve(route, req, res, options);
  };
}

async function serve(route: Route, req: IncomingMessage, res: ServerResponse, options: GatewayOptions): Promise<void> {
  const { handler } = route;
  const c = startCall(route.method, handler, options, undefined, (gone) =>
    res.on('close', () => { if (!res.writableFinished) gone(); }));
  let streamed = false;
  const startStream = () => {
    if (streamed) return;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    streamed = true;
  };
  try {
    options.authenticate(req.headers.authorization);
    const body = await raceAbort(readBody(req, options.maxBodyBytes), c.ctx.signal);
    if (handler.kind === 'unary') {
      const response = await raceAbort(handler.run(parse(route.I, body), c.ctx), c.ctx.signal);
      c.finish();
      return sendJson(res, 200, route.O.toJson(response, JSON_WRITE));
    }
    if (handler.kind === 'clientStream') {
      const requests = (async function* () { for (const line of lines(body)) yield parse(route.I, line); })();
      const response = await raceAbort(handler.run(abortable(requests, c.ctx.signal), c.ctx), c.ctx.signal);
      c.finish();
      return sendJson(res, 200, route.O.toJson(response, JSON_WRITE));
    }
    const messages = begin(handler.run(parse(route.I, body), c.ctx));
    // A long-lived stream (Watch) answers its headers at once, so the client knows it has begun.
    if (handler.longLived) startStream();
    for await (const message of abortable(messages, c.ctx.signal)) {
      startStream();
      const ok = res.write(JSON.stringify({ result: route.O.toJson(message, JSON_WRITE) }) + '\n');
      if (!ok) await raceAbort(new Promise((resolve) => res.once('drain', resolve)), c.ctx.signal);
    }
    c.finish();
    if (!streamed) res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end();
  } catch (error) {
    const f = c.finish(error) ?? toFailure(error);
    if (res.destroyed) return;
    if (handler.kind !== 'serverStream') return sendError(res, f);
    if (!streamed) res.writeHead(httpStatusOf(f.code), { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: toJsonError(f) }) + '\n');
  }
}

function sendError(res: ServerResponse, f: Failure, status = httpStatusOf(f.code)): void {
  sendJson(res, status, toJsonError(f));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new ApiError('RESOURCE_EXHAUSTED', `request body larger than the maximum of ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parse<T extends object>(type: IMessageType<T>, text: string): T {
  let json: JsonValue;
  try {
    json = text.trim() === '' ? {} : (JSON.parse(text) as JsonValue);
  } catch (e) {
    throw apiInvalidArgument(`request body is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return type.fromJson(json, JSON_READ);
  } catch (e) {
    throw apiInvalidArgument(`request body is not a valid ${type.typeName}: ${(e as Error).message}`);
  }
}

function* lines(body: string): Iterable<string> {
  for (const line of body.split('\n')) if (line.trim()) yield line;
}
