/**
 * What both transports do around a handler: authenticate (gRPC in authenticationInterceptor, before
 * reading the message; HTTP before reading the body), bound the call by a deadline (the
 * client's, or the server's request timeout, whichever is sooner; long-lived and bulk streams only
 * by the client's), abort on client cancel or shutdown, and log the outcome without the credentials.
 */
import { toFailure } from './errors.js';
import { cancelled, deadlineExceeded, unavailable } from '../errors/index.js';
import { startCallSpan } from '../observability/tracing.js';
import type { CallSpan } from '../observability/tracing.js';
import type { Failure } from './errors.js';
import type { CallContext, MethodHandler } from './method.js';
import { abortableIterable } from '../runtime/abortable.js';

/** Ends whatever a finished call still has running; one shared instance, since building an Error (its stack) costs on every call. */
const CALL_FINISHED = cancelled('call finished');

export interface CallLogger {
  /** pino's: lets a call skip building a debug record nobody will see. Absent: always asked. */
  isLevelEnabled?(level: string): boolean;
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
  /**
   * Sent as the `io.spicedb.debug.version` header to a call that asks with `io.spicedb.requestversion`
   * (zed's `version --include-remote-version`), as SpiceDB's --enable-version-response; absent: never.
   */
  version?: string;
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
  /** Resolves like `promise`, or rejects with the abort reason as soon as the call aborts. */
  race<T>(promise: Promise<T>): Promise<T>;
  /**
   * What a unary or client-streaming call answers: the handler's result, or the abort reason as soon
   * as the call aborts; but a handler that `commits` is awaited, so its answer says whether it wrote.
   */
  outcome<T>(handler: { commits?: boolean }, result: Promise<T>): Promise<T>;
  /** Iterates `source`, stopping with the abort reason as soon as the call aborts (and closing the source). */
  abortable<T>(source: AsyncIterable<T>): AsyncIterable<T>;
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
  /** Reads a request header (gRPC metadata or HTTP header): the trace context the client sent, and the handler's `ctx.header`. */
  header?: (name: string) => string | undefined,
): Call {
  return new ServerCall(method, handler, options, clientDeadline, onClientGone, transport, header);
}

/**
 * One call's state. A class rather than closures: a call is started thousands of times a second,
 * and each closure, listener and Error (its stack) costs on every one of them.
 */
class ServerCall implements Call {
  readonly ctx: CallContext;
  readonly run: <T>(fn: () => T) => T;
  private readonly controller = new AbortController();
  private readonly started = Date.now();
  private readonly startedPrecise: number;
  private readonly longLived: boolean;
  private readonly unary: boolean;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly span: CallSpan | undefined;
  /** Rejections of the promises race() handed out, told the abort reason when the call aborts. */
  private racers: ((reason: unknown) => void)[] | undefined;
  private finished = false;

  constructor(
    private readonly method: string,
    handler: MethodHandler,
    private readonly options: TransportOptions,
    clientDeadline: number | undefined,
    onClientGone: (gone: () => void) => void,
    private readonly transport: Transport,
    header: ((name: string) => string | undefined) | undefined,
  ) {
    this.ctx = { signal: this.controller.signal, header };
    const started = this.started;
    const longLived = (this.longLived = handler.kind === 'serverStream' && handler.longLived === true);
    this.unary = handler.kind === 'unary';
    const untimed = longLived || (handler.kind !== 'unary' && handler.bulk === true);
    const serverDeadline = !untimed && options.requestTimeoutMs > 0 ? started + options.requestTimeoutMs : Infinity;
    const deadline = Math.min(serverDeadline, clientDeadline ?? Infinity);
    this.timer = Number.isFinite(deadline) ? setTimeout(onDeadline, Math.max(0, deadline - started), this) : undefined;
    // Shutdown lets ordinary calls finish but ends streams that would never finish by themselves.
    if (longLived) this.watch(shutdownWatchers, options.shutdown, SHUTDOWN_MESSAGE);
    if (options.cutoff) this.watch(cutoffWatchers, options.cutoff, CUTOFF_MESSAGE);
    onClientGone(() => {
      // grpc-js reports every call's end this way, answered or not: only an unfinished call was cancelled.
      if (!this.finished && !this.controller.signal.aborted)
        this.abort(cancelled(`${method}: the client cancelled the call`));
    });
    // Observability, each free when off: no observer, and no tracer provider registered.
    const observer = options.observer;
    this.startedPrecise = observer ? performance.now() : 0;
    observer?.callStarted(method, this.transport, longLived);
    this.span = startCallSpan(method, this.transport, header);
    this.run = this.span ? this.span.run : runDirectly;
  }

  private watch(watchers: Watchers, signal: AbortSignal, message: string): void {
    if (signal.aborted) this.abort(unavailable(message));
    else watchersOf(watchers, signal, message).add(this);
  }

  /** The deadline (the client's or the server's request timeout) has passed. */
  expire(): void {
    this.abort(deadlineExceeded(`${this.method}: deadline exceeded after ${Date.now() - this.started}ms`));
  }

  /** Aborts the call's signal (once) and rejects whatever race() is waiting on. */
  abort(reason: unknown): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(reason);
    const racers = this.racers;
    this.racers = undefined;
    if (racers) for (const reject of racers) reject(reason);
  }

  abortError(): unknown {
    return this.controller.signal.reason;
  }

  race<T>(promise: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const racers = (this.racers ??= []);
      racers.push(reject);
      promise.then(
        (value) => {
          forget(racers, reject);
          resolve(value);
        },
        (error: unknown) => {
          forget(racers, reject);
          reject(error);
        },
      );
    });
  }

  outcome<T>(handler: { commits?: boolean }, result: Promise<T>): Promise<T> {
    return handler.commits ? result : this.race(result);
  }

  abortable<T>(source: AsyncIterable<T>): AsyncIterable<T> {
    return abortableIterable(source, (p) => this.race(p));
  }

  finish(error?: unknown): Failure | undefined {
    const { options, method, transport, longLived } = this;
    clearTimeout(this.timer);
    if (longLived) shutdownWatchers.get(options.shutdown)?.delete(this);
    if (options.cutoff) cutoffWatchers.get(options.cutoff)?.delete(this);
    const log = options.log;
    const first = !this.finished;
    this.finished = true;
    const observer = first ? options.observer : undefined;
    if (error === undefined) {
      if (debugEnabled(log)) log.debug({ method, ms: Date.now() - this.started, code: 'OK' }, 'call finished');
      observer?.callFinished(method, transport, 'OK', (performance.now() - this.startedPrecise) / 1000, longLived);
      if (first) this.span?.end(0, 'OK');
      // A unary answer means everything its handler started has settled (a hedged dispatch stops
      // its loser itself): aborting would only build and dispatch an event no one hears. A stream
      // may leave work behind (a prefetch, a source's next page), which the abort stops.
      if (!this.unary) this.abort(CALL_FINISHED);
      return undefined;
    }
    const failure = toFailure(error);
    if (failure.unexpected)
      log.error({ method, ms: Date.now() - this.started, err: error }, 'call failed unexpectedly');
    else if (debugEnabled(log))
      log.debug(
        { method, ms: Date.now() - this.started, code: failure.codeName, reason: failure.reason },
        'call failed',
      );
    observer?.callFinished(
      method,
      transport,
      failure.codeName,
      (performance.now() - this.startedPrecise) / 1000,
      longLived,
    );
    if (first) this.span?.end(failure.code, failure.codeName, error, failure.unexpected);
    this.abort(error);
    return failure;
  }
}

/** Removes a settled race's rejection (usually the only one, or the last added). */
function forget(racers: ((reason: unknown) => void)[], reject: (reason: unknown) => void): void {
  const i = racers.lastIndexOf(reject);
  if (i < 0) return;
  racers[i] = racers[racers.length - 1];
  racers.pop();
}

function onDeadline(call: ServerCall): void {
  call.expire();
}

/** Loggers without isLevelEnabled (tests' stubs) are asked every time. */
function debugEnabled(log: CallLogger): boolean {
  return log.isLevelEnabled ? log.isLevelEnabled('debug') : true;
}

const runDirectly = <T>(fn: () => T): T => fn();

const SHUTDOWN_MESSAGE = 'the server is shutting down';
const CUTOFF_MESSAGE = 'the server is shutting down: the grace period is over';

/**
 * The calls a server-wide signal (shutdown, cutoff) ends, each with its own UNAVAILABLE error: one
 * listener on the signal and a set of calls, rather than a listener added and removed per call.
 * A call started after the signal fired is ended at once instead (see the constructor).
 */
type Watchers = WeakMap<AbortSignal, Set<ServerCall>>;
const shutdownWatchers: Watchers = new WeakMap();
const cutoffWatchers: Watchers = new WeakMap();

function watchersOf(watchers: Watchers, signal: AbortSignal, message: string): Set<ServerCall> {
  let calls = watchers.get(signal);
  if (!calls) {
    const set = (calls = new Set<ServerCall>());
    watchers.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        for (const call of [...set]) call.abort(unavailable(message));
        set.clear();
      },
      { once: true },
    );
  }
  return calls;
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
