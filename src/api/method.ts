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
}

export type MethodHandler =
  | { kind: 'unary'; run(request: object, ctx: CallContext): Promise<object> }
  | { kind: 'serverStream'; run(request: object, ctx: CallContext): AsyncIterable<object>; longLived?: boolean }
  | { kind: 'clientStream'; run(requests: AsyncIterable<object>, ctx: CallContext): Promise<object> };

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

export function unary<I extends object, O extends object>(
  type: IMessageType<I>,
  fn: (request: I, ctx: CallContext) => Promise<O>,
): MethodHandler {
  return {
    kind: 'unary',
    run: (request, ctx) => {
      validateMessage(type as IMessageType<object>, request);
      return fn(request as I, ctx);
    },
  };
}

export function serverStream<I extends object, O extends object>(
  type: IMessageType<I>,
  fn: (request: I, ctx: CallContext) => AsyncIterable<O>,
  options: { longLived?: boolean } = {},
): MethodHandler {
  return {
    kind: 'serverStream',
    longLived: options.longLived,
    run: (request, ctx) => {
      validateMessage(type as IMessageType<object>, request);
      return fn(request as I, ctx);
    },
  };
}

export function clientStream<I extends object, O extends object>(
  type: IMessageType<I>,
  fn: (requests: AsyncIterable<I>, ctx: CallContext) => Promise<O>,
): MethodHandler {
  async function* validated(requests: AsyncIterable<object>): AsyncIterable<I> {
    for await (const r of requests) {
      validateMessage(type as IMessageType<object>, r);
      yield r as I;
    }
  }
  return { kind: 'clientStream', run: (requests, ctx) => fn(validated(requests), ctx) };
}
