/**
 * Transport-neutral method handlers. Each authzed.api.v1 method is implemented once, on decoded
 * protobuf-ts messages, and served by both the gRPC server and the HTTP/JSON gateway, which own
 * decoding, authentication, deadlines and error encoding.
 */
import type { IMessageType } from '@protobuf-ts/runtime';
import { validateMessage } from './validate.js';

export interface CallContext {
  /** Aborts when the client goes away, the deadline passes or the server shuts down. */
  signal: AbortSignal;
  /** A request header (gRPC metadata, or HTTP header) as text: undefined when absent. */
  header?: (name: string) => string | undefined;
  /**
   * Trailers a unary handler sets to be sent with its answer (gRPC only: the HTTP gateway has no
   * trailers), such as SpiceDB's `io.spicedb.respmeta.debuginfo`.
   */
  trailers?: Record<string, string>;
}

/**
 * `longLived`: a stream that never ends by itself (Watch): no server request timeout, ended on shutdown.
 * `bulk`: a transfer that takes as long as its data (ImportBulk, ExportBulk): no server request
 * timeout either (the client's deadline still applies), but shutdown lets it finish.
 * `commits`: the handler honours `ctx.signal` itself up to its commit point, so the transport awaits
 * its outcome instead of answering with the abort reason at once: a write that committed is answered
 * OK, one that did not with its error (the abort reason, if the abort stopped it).
 */
export type MethodHandler =
  | { kind: 'unary'; run(request: object, ctx: CallContext): Promise<object>; commits?: boolean }
  | {
      kind: 'serverStream';
      run(request: object, ctx: CallContext): AsyncIterable<object>;
      longLived?: boolean;
      bulk?: boolean;
    }
  | {
      kind: 'clientStream';
      run(requests: AsyncIterable<object>, ctx: CallContext): Promise<object>;
      bulk?: boolean;
      commits?: boolean;
    };

/** The parts of a generated protobuf-ts ServiceType the transports use. */
export interface ServiceDescriptor {
  typeName: string;
  methods: ReadonlyArray<{
    name: string;
    serverStreaming?: boolean;
    clientStreaming?: boolean;
    I: IMessageType<object>;
    O: IMessageType<object>;
    options: { [extension: string]: unknown };
  }>;
}

/** One service: its generated descriptor and the handlers of the methods Pemba implements. */
export interface ApiService {
  type: ServiceDescriptor;
  handlers: Record<string, MethodHandler>;
}

/** A handler that first checks its request against the message's validation rules. */
function validated<I extends object, R>(type: IMessageType<I>, fn: (request: I, ctx: CallContext) => R) {
  return (request: object, ctx: CallContext): R => {
    validateMessage(type as IMessageType<object>, request);
    return fn(request as I, ctx);
  };
}

export function unary<I extends object, O extends object>(
  type: IMessageType<I>,
  fn: (request: I, ctx: CallContext) => Promise<O>,
  options: { commits?: boolean } = {},
): MethodHandler {
  return {
    kind: 'unary',
    commits: options.commits,
    run: validated(type, fn),
  };
}

export function serverStream<I extends object, O extends object>(
  type: IMessageType<I>,
  fn: (request: I, ctx: CallContext) => AsyncIterable<O>,
  options: { longLived?: boolean; bulk?: boolean } = {},
): MethodHandler {
  return {
    kind: 'serverStream',
    longLived: options.longLived,
    bulk: options.bulk,
    run: validated(type, fn),
  };
}

export function clientStream<I extends object, O extends object>(
  type: IMessageType<I>,
  fn: (requests: AsyncIterable<I>, ctx: CallContext) => Promise<O>,
  options: { bulk?: boolean; commits?: boolean } = {},
): MethodHandler {
  async function* validated(requests: AsyncIterable<object>): AsyncIterable<I> {
    for await (const r of requests) {
      validateMessage(type as IMessageType<object>, r);
      yield r as I;
    }
  }
  return {
    kind: 'clientStream',
    bulk: options.bulk,
    commits: options.commits,
    run: (requests, ctx) => fn(validated(requests), ctx),
  };
}
