/**
 * OpenFGA's HTTP API (the paths, statuses and JSON bodies of OpenFGA's grpc-gateway) over
 * OpenFgaService, so that `@openfga/sdk` and `fga` work unchanged. The adapter only routes,
 * authenticates, reads and decodes bodies, and serialises: the service validates every request.
 *
 * Per request, in OpenFGA's order: an unknown path is 404 `undefined_endpoint`, a known path with
 * another method 404 `unimplemented` (grpc-gateway's answer, as OpenFGA sends it); then the preshared
 * key (`Authorization: Bearer <key>`) is checked, before any of the body is read; then the body is
 * read up to the limit (413 past it) and decoded (400 `validation_error` when it is not a JSON
 * object; an empty body is `{}`, as grpc-gateway reads it). Each call runs with an AbortSignal that
 * fires when the client disconnects, at the server's request timeout (504 `deadline_exceeded`), or
 * when the shutdown grace period is over. Errors are `{"code": name, "message": …}` with the status
 * OpenFgaError names; anything unexpected is 500 `internal_error` without its details (logged).
 */
import { once } from 'node:events';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { begin } from '../api/call.js';
import { BodyTooLarge, readBody } from '../api/http/body.js';
import { PembaError } from '../errors/index.js';
import { OpenFgaError, OPENFGA_ERROR_CODES } from './errors.js';
import type { CallOptions, OpenFgaService, QueryParams } from './service.js';
import { abortableIterable } from '../runtime/abortable.js';

export interface OpenFgaHttpLogger {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface OpenFgaHttpOptions {
  service: OpenFgaService;
  /** Throws unless `authorization` carries a valid key (PresharedKeys.authenticate). */
  authenticate(authorization: string | undefined): void;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Longest a call may run, in ms (0: no limit). */
  requestTimeoutMs: number;
  /** Aborted when the shutdown grace period is over: calls still running end. */
  cutoff?: AbortSignal;
  log: OpenFgaHttpLogger;
}

/** What a route's handler gets. */
interface Request {
  /** The path parameters after `/stores`: store id, then a model id where the path has one. */
  params: string[];
  query: QueryParams;
  /** The decoded JSON body (POST and PUT; `{}` for an empty body). */
  body: unknown;
  options: CallOptions;
}

type Result = { status: number; body?: unknown } | { stream: AsyncIterable<{ object: string }> };

interface Route {
  /** The operation, for logs. */
  name: string;
  /** Reads a body; a mutation is awaited past the deadline, so its answer tells what it did. */
  body: boolean;
  mutation?: boolean;
  run(service: OpenFgaService, r: Request): Promise<Result>;
}

const ok = (body: unknown): Result => ({ status: 200, body });
const created = (body: unknown): Result => ({ status: 201, body });
const NO_CONTENT: Result = { status: 204 };

/** The routes by path pattern (`{}` a path parameter), then by method. */
const ROUTES: Record<string, Record<string, Route>> = {
  '/stores': {
    POST: {
      name: 'CreateStore',
      body: true,
      mutation: true,
      run: async (s, r) => created(await s.createStore(r.body, r.options)),
    },
    GET: { name: 'ListStores', body: false, run: async (s, r) => ok(await s.listStores(r.query, r.options)) },
  },
  '/stores/{}': {
    GET: { name: 'GetStore', body: false, run: async (s, r) => ok(await s.getStore(r.params[0], r.options)) },
    DELETE: {
      name: 'DeleteStore',
      body: false,
      mutation: true,
      run: async (s, r) => {
        await s.deleteStore(r.params[0], r.options);
        return NO_CONTENT;
      },
    },
  },
  '/stores/{}/authorization-models': {
    POST: {
      name: 'WriteAuthorizationModel',
      body: true,
      mutation: true,
      run: async (s, r) => created(await s.writeAuthorizationModel(r.params[0], r.body, r.options)),
    },
    GET: {
      name: 'ReadAuthorizationModels',
      body: false,
      run: async (s, r) => ok(await s.readAuthorizationModels(r.params[0], r.query, r.options)),
    },
  },
  '/stores/{}/authorization-models/{}': {
    GET: {
      name: 'ReadAuthorizationModel',
      body: false,
      run: async (s, r) => ok(await s.readAuthorizationModel(r.params[0], r.params[1], r.options)),
    },
  },
  '/stores/{}/write': {
    POST: {
      name: 'Write',
      body: true,
      mutation: true,
      run: async (s, r) => ok(await s.write(r.params[0], r.body, r.options)),
    },
  },
  '/stores/{}/read': {
    POST: { name: 'Read', body: true, run: async (s, r) => ok(await s.read(r.params[0], r.body, r.options)) },
  },
  '/stores/{}/changes': {
    GET: {
      name: 'ReadChanges',
      body: false,
      run: async (s, r) => ok(await s.readChanges(r.params[0], r.query, r.options)),
    },
  },
  '/stores/{}/check': {
    POST: { name: 'Check', body: true, run: async (s, r) => ok(await s.check(r.params[0], r.body, r.options)) },
  },
  '/stores/{}/batch-check': {
    POST: {
      name: 'BatchCheck',
      body: true,
      run: async (s, r) => ok(await s.batchCheck(r.params[0], r.body, r.options)),
    },
  },
  '/stores/{}/expand': {
    POST: { name: 'Expand', body: true, run: async (s, r) => ok(await s.expand(r.params[0], r.body, r.options)) },
  },
  '/stores/{}/list-objects': {
    POST: {
      name: 'ListObjects',
      body: true,
      run: async (s, r) => ok(await s.listObjects(r.params[0], r.body, r.options)),
    },
  },
  '/stores/{}/streamed-list-objects': {
    POST: {
      name: 'StreamedListObjects',
      body: true,
      run: async (s, r) => ({ stream: await s.streamedListObjects(r.params[0], r.body, r.options) }),
    },
  },
  '/stores/{}/list-users': {
    POST: {
      name: 'ListUsers',
      body: true,
      run: async (s, r) => ok(await s.listUsers(r.params[0], r.body, r.options)),
    },
  },
  '/stores/{}/assertions/{}': {
    PUT: {
      name: 'WriteAssertions',
      body: true,
      mutation: true,
      run: async (s, r) => {
        await s.writeAssertions(r.params[0], r.params[1], r.body, r.options);
        return NO_CONTENT;
      },
    },
    GET: {
      name: 'ReadAssertions',
      body: false,
      run: async (s, r) => ok(await s.readAssertions(r.params[0], r.params[1], r.options)),
    },
  },
};

/** `/stores/01H…/check` → the pattern `/stores/{}/check` and its parameters; undefined when no route has that shape. */
export function matchPath(path: string): { pattern: string; params: string[] } | undefined {
  const segments = path.split('/');
  // '' before the leading slash, then 'stores'.
  if (segments[0] !== '' || segments[1] !== 'stores' || segments.length > 5) return undefined;
  const params: string[] = [];
  const shape = ['', 'stores'];
  for (let i = 2; i < segments.length; i++) {
    // Store and model ids sit at 2 and 4; 3 names the operation.
    if (i === 2 || i === 4) {
      let value: string;
      try {
        value = decodeURIComponent(segments[i]);
      } catch {
        return undefined;
      }
      if (value === '') return undefined;
      params.push(value);
      shape.push('{}');
    } else {
      shape.push(segments[i]);
    }
  }
  const pattern = shape.join('/');
  return pattern in ROUTES ? { pattern, params } : undefined;
}

/** An error as OpenFGA's HTTP API answers it. */
interface HttpFailure {
  status: number;
  code: string;
  /** The numeric code (streams carry it, as grpc-gateway's stream errors do). */
  numeric: number;
  message: string;
}

const failureOf = (e: OpenFgaError): HttpFailure => ({
  status: e.httpStatus,
  code: e.toJSON().code,
  numeric: e.numericCode,
  message: e.message,
});

const INTERNAL: HttpFailure = failureOf(new OpenFgaError('internal_error', 'Internal Server Error'));

/** Pemba's own errors (the engine's, the datastore's) in OpenFGA's terms; undefined: unexpected. */
function fromPembaError(e: PembaError): HttpFailure | undefined {
  const fga = (code: keyof typeof OPENFGA_ERROR_CODES) => failureOf(new OpenFgaError(code, e.message));
  switch (e.code) {
    case 'INVALID_ARGUMENT':
    case 'FAILED_PRECONDITION':
    case 'OUT_OF_RANGE':
      return fga('validation_error');
    case 'DEADLINE_EXCEEDED':
      return fga('deadline_exceeded');
    case 'CANCELLED':
      return fga('cancelled_internal');
    case 'RESOURCE_EXHAUSTED':
      return fga('resource_exhausted');
    case 'UNAUTHENTICATED':
      return fga('unauthenticated');
    case 'UNAVAILABLE':
      return fga('unavailable');
    default:
      return undefined;
  }
}

export function createOpenFgaHandler(options: OpenFgaHttpOptions): RequestListener {
  return (req, res) => {
    // Never let a request take the process down: everything below is awaited and caught.
    handle(req, res, options).catch((error: unknown) => {
      options.log.error({ err: error }, 'OpenFGA HTTP request failed unexpectedly');
      if (!res.headersSent && !res.destroyed) sendFailure(res, INTERNAL);
      else res.destroy();
    });
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: OpenFgaHttpOptions): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const matched = matchPath(path);
  if (!matched) return sendFailure(res, failureOf(new OpenFgaError('undefined_endpoint', 'Not Found')));
  const methods = ROUTES[matched.pattern];
  const route = Object.hasOwn(methods, req.method ?? '') ? methods[req.method!] : undefined;
  if (!route) {
    res.setHeader('Allow', Object.keys(methods).join(', '));
    // grpc-gateway's answer to a path served for other methods: Unimplemented, which OpenFGA sends as 404.
    return sendFailure(res, {
      ...failureOf(new OpenFgaError('unimplemented', 'Method Not Allowed')),
      status: 404,
    });
  }

  const call = new HttpCall(res, options);
  let streaming = false;
  try {
    try {
      options.authenticate(req.headers.authorization);
    } catch {
      throw new OpenFgaError('unauthenticated', 'unauthenticated');
    }
    let body: unknown;
    if (route.body) body = decode(await call.race(readBody(req, options.maxBodyBytes)));
    const query = route.body ? {} : queryParams(q < 0 ? '' : url.slice(q + 1));
    const run = route.run(options.service, { params: matched.params, query, body, options: { signal: call.signal } });
    const result = await (route.mutation ? run : call.race(run));
    if ('stream' in result) {
      // Headers once the stream has begun (its first object, or its end): an error before that is
      // answered with its status, as grpc-gateway answers a stream that fails before its first message.
      const stream = await call.race(begin(result.stream));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.flushHeaders();
      streaming = true;
      for await (const item of call.abortable(stream)) {
        if (!res.write(JSON.stringify({ result: { object: item.object } }) + '\n')) await call.race(once(res, 'drain'));
      }
      call.finish();
      res.end();
      return;
    }
    call.finish();
    if (res.destroyed) return;
    if (result.body === undefined) {
      res.writeHead(result.status);
      res.end();
    } else {
      sendJson(res, result.status, result.body);
    }
  } catch (error) {
    const failure = call.failure(error, route.name);
    call.finish();
    if (res.destroyed) return;
    if (streaming) {
      res.end(JSON.stringify({ error: { code: failure.numeric, message: failure.message, details: [] } }) + '\n');
      return;
    }
    sendFailure(res, failure);
  }
}

/** One call's signal: the client going away, the server's deadline, the end of the shutdown grace period. */
class HttpCall {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onCutoff = () =>
    this.abort(new PembaError('UNAVAILABLE', 'the server is shutting down: the grace period is over'));
  private readonly started = Date.now();
  private finished = false;

  constructor(
    res: ServerResponse,
    private readonly options: OpenFgaHttpOptions,
  ) {
    res.on('close', () => {
      if (!res.writableFinished && !this.finished)
        this.abort(new OpenFgaError('cancelled_internal', 'the client cancelled the call'));
    });
    if (options.requestTimeoutMs > 0) {
      this.timer = setTimeout(
        () =>
          this.abort(new OpenFgaError('deadline_exceeded', `deadline exceeded after ${options.requestTimeoutMs}ms`)),
        options.requestTimeoutMs,
      );
    }
    if (options.cutoff?.aborted) this.onCutoff();
    else options.cutoff?.addEventListener('abort', this.onCutoff, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private abort(reason: unknown): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Resolves like `promise`, or rejects with the abort reason as soon as the call aborts. */
  race<T>(promise: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    promise.catch(() => undefined); // settled after the abort: nobody is listening any more
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error as Error);
        },
      );
    });
  }

  /** Iterates `source`, stopping with the abort reason as soon as the call aborts (and closing the source). */
  abortable<T>(source: AsyncIterable<T>): AsyncIterable<T> {
    return abortableIterable(source, (p) => this.race(p));
  }

  /** The error to answer with: the abort reason when the call was aborted, else the error in OpenFGA's terms. */
  failure(error: unknown, name: string): HttpFailure {
    const signal = this.controller.signal;
    if (signal.aborted && !(error instanceof OpenFgaError) && !(error instanceof BodyTooLarge)) error = signal.reason;
    if (error instanceof OpenFgaError) {
      const f = failureOf(error);
      if (f.status >= 500 && error.code !== 'deadline_exceeded')
        this.options.log.error({ method: name, err: error }, 'OpenFGA call failed');
      else this.options.log.debug({ method: name, code: f.code, ms: Date.now() - this.started }, 'OpenFGA call failed');
      return f;
    }
    if (error instanceof BodyTooLarge) {
      // 413 rather than resource_exhausted's 429: retrying the same body cannot help.
      return { ...failureOf(new OpenFgaError('resource_exhausted', error.message)), status: 413 };
    }
    if (error instanceof PembaError) {
      const f = fromPembaError(error);
      if (f) return f;
    }
    this.options.log.error({ method: name, err: error }, 'OpenFGA call failed unexpectedly');
    return INTERNAL;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.options.cutoff?.removeEventListener('abort', this.onCutoff);
    // Whatever the handler left running (a stream's producer) stops.
    this.abort(new OpenFgaError('cancelled_internal', 'call finished'));
  }
}

function decode(text: string): unknown {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new OpenFgaError('validation_error', `invalid JSON body: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new OpenFgaError('validation_error', 'the request body must be a JSON object');
  return value;
}

/** The query string as a record (the first value of a repeated parameter); `__proto__` and friends are plain keys. */
function queryParams(search: string): QueryParams {
  const params: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  for (const [k, v] of new URLSearchParams(search)) if (!(k in params)) params[k] = v;
  return params;
}

function sendFailure(res: ServerResponse, f: HttpFailure): void {
  sendJson(res, f.status, { code: f.code, message: f.message });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
