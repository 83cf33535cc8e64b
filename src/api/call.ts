/**
 * What both transports do around a handler: authenticate (gRPC in authenticationInterceptor, before
 * reading the message; HTTP before reading the body), bound the call by a deadline (the
 * client's, or the server's request timeout, whichever is sooner; long-lived and bulk streams only
 * by the client's), abort on client cancel or shutdown, and log the outcome without the credentials.
 */
import { toFailure } from './errors.js';
import { cancelled, deadlineExceeded, unavailable } from '../errors/index.js';
import { startCallSpan } from '../observability/tracing.js';
import type { Failure } from './errors.js';
import type { CallContext, MethodHandler } from './method.js';

/** Ends whatever a finished call still has running; one shared instance, since building an Error (its stack) costs on every call. */
const CALL_FINISHED = cancelled('call finished');

export interface CallLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Which transport a call came in on. */
export type Transport = 'grpc' | 'http';

/**
 * Told when each call starts and finishes (metrics). `longLived`: a stream that never ends by itself
 * (Watch). `code` is the gRPC status name (OK, INVALID_ARGUMENT, ...); `seconds` the call's duration.
 */
export interface CallObserver {
  callStarted(method: string, transport: Transport, longLived: boolean): void;
  callFinished(method: string, transport: Transport, code: string, seconds: number, longLived: boolean): void;
}

export interface TransportOptions {
  /** Throws UNAUTHENTICATED unless the `authorization` value carries a valid key. */
  authenticate(authorization: string | undefined): void;
  /** Longest a call may run, in ms; 0 for no server-side limit. */
  requestTimeoutMs: number;
  /** Aborted when the server shuts down: long-lived streams (Watch) end with UNAVAILABLE. */
  shutdown: AbortSignal;
  /**
   * Aborted when the shutdown grace period is over: every call still running ends with UNAVAILABLE,
   * so a write rolls back (or, past its commit point, answers its real outcome) before connections are cut.
   */
  cutoff?: AbortSignal;
  log: CallLogger;
  /** Told of every call's start and outcome (metrics); absent: nothing is measured. */
  observer?: CallObserver;
}

export interface Call {
  ctx: CallContext;
  /**
   * Runs `fn` (the handler and everything it awaits) inside the call's trace span, when tracing is
   * on; otherwise just calls it.
   */
  run<T>(fn: () => T): T;
  /** Why the call was aborted, as the error to report (if the client is still there). */
  abortError(): unknown;
  /** Logs the outcome and releases timers; returns the failure, if any, to send. */
  finish(error?: unknown): Failure | undefined;
}

export function startCall(
  method: string,
  handler: MethodHandler,
  options: TransportOptions,
  clientDeadline: number | undefined,
  /** Registers the callback to run when the client goes away (cancels or disconnects). */
  onClientGone: (gone: () => void) => void,
  transport: Transport = 'grpc',
  /** Reads a request header (gRPC metadata or HTTP header): the trace context the client sent. */
  header?: (name: string) => string | undefined,
): Call {
  const controller = new AbortController();
  const abort = (reason: unknown) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const started = Date.now();
  const longLived = handler.kind === 'serverStream' && handler.longLived === true;
  const untimed = longLived || (handler.kind !== 'unary' && handler.bulk === true);
  const serverDeadline = !untimed && options.requestTimeoutMs > 0 ? started + options.requestTimeoutMs : Infinity;
  const deadline = Math.min(serverDeadline, clientDeadline ?? Infinity);
  const timer = Number.isFinite(deadline)
    ? setTimeout(
        () => abort(deadlineExceeded(`${method}: deadline exceeded after ${Date.now() - started}ms`)),
        Math.max(0, deadline - started),
      )
    : undefined;
  // Shutdown lets ordinary calls finish but ends streams that would never finish by themselves.
  const onShutdown = () => abort(unavailable('the server is shutting down'));
  if (longLived) {
    if (options.shutdown.aborted) onShutdown();
    else options.shutdown.addEventListener('abort', onShutdown, { once: true });
  }
  const onCutoff = () => abort(unavailable('the server is shutting down: the grace period is over'));
  if (options.cutoff?.aborted) onCutoff();
  else options.cutoff?.addEventListener('abort', onCutoff, { once: true });
  onClientGone(() => abort(cancelled(`${method}: the client cancelled the call`)));
  // Observability, each free when off: no observer, and no tracer provider registered.
  const observer = options.observer;
  const startedPrecise = observer ? performance.now() : 0;
  observer?.callStarted(method, transport, longLived);
  const span = startCallSpan(method, transport, header);
  let finished = false;

  return {
    ctx: { signal: controller.signal },
    run: span ? span.run : runDirectly,
    abortError: () => controller.signal.reason,
    finish(error?: unknown) {
      clearTimeout(timer);
      options.shutdown.removeEventListener('abort', onShutdown);
      options.cutoff?.removeEventListener('abort', onCutoff);
      const ms = Date.now() - started;
      const first = !finished;
      finished = true;
      if (error === undefined) {
        options.log.debug({ method, ms, code: 'OK' }, 'call finished');
        if (first) {
          observer?.callFinished(method, transport, 'OK', (performance.now() - startedPrecise) / 1000, longLived);
          span?.end(0, 'OK');
        }
        abort(CALL_FINISHED);
        return undefined;
      }
      const failure = toFailure(error);
      if (failure.unexpected) options.log.error({ method, ms, err: error }, 'call failed unexpectedly');
      else options.log.debug({ method, ms, code: failure.codeName, reason: failure.reason }, 'call failed');
      if (first) {
        observer?.callFinished(
          method,
          transport,
          failure.codeName,
          (performance.now() - startedPrecise) / 1000,
          longLived,
        );
        span?.end(failure.code, failure.codeName, error, failure.unexpected);
      }
      abort(error);
      return failure;
    },
  };
}

const runDirectly = <T>(fn: () => T): T => fn();

/**
 * What a unary or client-streaming call answers: the handler's result, or the abort reason as soon
 * as the call aborts; but a handler that `commits` is awaited, so its answer says whether it wrote.
 */
export function outcome<T>(handler: { commits?: boolean }, result: Promise<T>, signal: AbortSignal): Promise<T> {
  return handler.commits ? result : raceAbort(result, signal);
}

/** Resolves like `promise`, or rejects with the abort reason as soon as the signal aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Iterates `source`, stopping with the abort reason as soon as the signal aborts (and closing the source). */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await raceAbort(it.next(), signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Fire and forget: a generator blocked in an await cannot be returned until it wakes up.
    void it.return?.()?.catch(() => undefined);
  }
}

/**
 * Starts iterating `source` and resolves once the stream has begun, with an iterable that replays
 * that first step; rejects with the error of a stream that failed before it began, which the
 * transports answer as the call's status (over HTTP, grpc-gateway's status and JSON error body), not
 * in the stream. A stream has begun at its first step (a message or its end), or, for a long-lived
 * stream that waits for events (Watch), once its setup has run: its first step is still pending
 * after a turn of the event loop. Sending headers then tells a client watching "from now" that the
 * watch has started (setup that waits on I/O, such as PostgreSQL checking a start token, is not
 * waited for: its errors arrive in the stream).
 */
export async function begin<T>(source: AsyncIterable<T>, longLived = false): Promise<AsyncIterable<T>> {
  const it = source[Symbol.asyncIterator]();
  const first = it.next();
  first.catch(() => undefined); // observed by the consumer; avoid an unhandled rejection meanwhile
  await (longLived ? Promise.race([first, new Promise((resolve) => setImmediate(resolve))]) : first);
  let started = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (started) return it.next();
        started = true;
        return first;
      },
      return: (value?: unknown) => it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined }),
    }),
  };
}
