/**
 * The HTTP/JSON gateway, shaped like SpiceDB's grpc-gateway: `POST` to each method's
 * `google.api.http` path with a proto3-JSON body, `Authorization: Bearer <key>`. Unary answers are
 * one JSON object; server streams are newline-delimited `{"result": …}` objects, ending with
 * `{"error": …}` if the stream fails once begun; client streams (ImportBulkRelationships) take
 * newline-delimited request objects. Errors are `{code, message, details}` with grpc-gateway's HTTP
 * status (a body over the limit: 413).
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IMessageType, JsonValue } from '@protobuf-ts/runtime';
import { begin, startCall } from '../call.js';
import type { Call, TransportOptions } from '../call.js';
import { httpStatusOf, toFailure, toJsonError } from '../errors.js';
import type { Failure } from '../errors.js';
import { invalidArgument, notFound, unimplemented } from '../../errors/index.js';
import type { ApiService, MethodHandler } from '../method.js';
import { ErrorInfo } from '../rpc-status.js';
import { BodyTooLarge, readBody } from './body.js';

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
      if (http?.post && handler)
        table.set(http.post, { method: `${s.type.typeName}/${m.name}`, handler, I: m.I, O: m.O });
    }
  }
  return table;
}

export function createGateway(
  services: ApiService[],
  options: GatewayOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const table = routes(services);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = table.get(path);
    if (!route) return sendError(res, toFailure(notFound(`no such API path: ${path}`)));
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return sendError(res, toFailure(unimplemented(`${req.method} is not supported on ${path}: use POST`)), 405);
    }
    void serve(route, req, res, options);
  };
}

function serve(route: Route, req: IncomingMessage, res: ServerResponse, options: GatewayOptions): Promise<void> {
  const { handler } = route;
  const c = startCall(
    route.method,
    handler,
    options,
    undefined,
    (gone) =>
      res.on('close', () => {
        if (!res.writableFinished) gone();
      }),
    'http',
    (name) => headerValue(req, name),
  );
  return c.run(() => respond(route, c, req, res, options));
}

async function respond(
  route: Route,
  c: Call,
  req: IncomingMessage,
  res: ServerResponse,
  options: GatewayOptions,
): Promise<void> {
  const { handler } = route;
  let streaming = false;
  try {
    options.authenticate(req.headers.authorization);
    const body = await c.race(readBody(req, options.maxBodyBytes));
    if (handler.kind === 'unary') {
      const response = await c.outcome(handler, handler.run(parse(route.I, body), c.ctx));
      c.finish();
      return sendJson(res, 200, route.O.toJson(response, JSON_WRITE));
    }
    if (handler.kind === 'clientStream') {
      const requests = (async function* () {
        for (const line of lines(body)) yield parse(route.I, line);
      })();
      const response = await c.outcome(handler, handler.run(c.abortable(requests), c.ctx));
      c.finish();
      return sendJson(res, 200, route.O.toJson(response, JSON_WRITE));
    }
    // Headers once the stream has begun (a Watch client then knows it is watching); an error before
    // that is answered like a unary call's, as grpc-gateway answers a stream that fails before its headers.
    const messages = await c.race(begin(handler.run(parse(route.I, body), c.ctx), handler.longLived));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    streaming = true;
    for await (const message of c.abortable(messages)) {
      const ok = res.write(JSON.stringify({ result: route.O.toJson(message, JSON_WRITE) }) + '\n');
      if (!ok) await c.race(once(res, 'drain'));
    }
    c.finish();
    res.end();
  } catch (error) {
    const f = c.finish(error) ?? toFailure(error);
    if (res.destroyed) return;
    if (streaming) return void res.end(JSON.stringify({ error: toJsonError(f) }) + '\n');
    sendError(res, f, error instanceof BodyTooLarge ? error.httpStatus : undefined);
  }
}

/** A request header as text (a trace header): undefined when absent. */
function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function sendError(res: ServerResponse, f: Failure, status = httpStatusOf(f.code)): void {
  sendJson(res, status, toJsonError(f));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function parse<T extends object>(type: IMessageType<T>, text: string): T {
  let json: JsonValue;
  try {
    json = text.trim() === '' ? {} : (JSON.parse(text) as JsonValue);
  } catch (e) {
    throw invalidArgument(`request body is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return type.fromJson(json, JSON_READ);
  } catch (e) {
    throw invalidArgument(`request body is not a valid ${type.typeName}: ${(e as Error).message}`);
  }
}

function* lines(body: string): Iterable<string> {
  for (const line of body.split('\n')) if (line.trim()) yield line;
}
