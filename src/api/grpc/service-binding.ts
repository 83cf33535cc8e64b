/**
 * grpc-js service definitions built from the generated protobuf-ts ServiceTypes (paths, streaming
 * flags, binary codecs), bound to the transport-neutral handlers. Methods without a handler are
 * left to grpc-js, which answers UNIMPLEMENTED.
 */
import { once } from 'node:events';
import { Metadata } from '@grpc/grpc-js';
import type {
  ServiceError,
  Deadline,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  MethodDefinition,
  ServiceDefinition,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { begin, startCall } from '../call.js';
import type { Call, TransportOptions } from '../call.js';
import { toServiceError } from '../errors.js';
import { decodeMessage, encodeMessage } from './codec.js';
import type { ApiService, ServiceDescriptor } from '../method.js';

export function serviceDefinition(type: ServiceDescriptor): ServiceDefinition {
  const definition: Record<string, MethodDefinition<object, object>> = {};
  for (const m of type.methods) {
    definition[m.name] = {
      path: `/${type.typeName}/${m.name}`,
      requestStream: !!m.clientStreaming,
      responseStream: !!m.serverStreaming,
      requestSerialize: (msg: object) => encodeMessage(m.I, msg),
      requestDeserialize: (bytes: Buffer) => decodeMessage(m.I, bytes),
      responseSerialize: (msg: object) => encodeMessage(m.O, msg),
      responseDeserialize: (bytes: Buffer) => decodeMessage(m.O, bytes),
      originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
    };
  }
  return definition as ServiceDefinition;
}

/**
 * The handlers of one service. Authentication is not here: authenticationInterceptor refuses a
 * call from its metadata, before its message is read.
 */
export function serviceImplementation(service: ApiService, options: TransportOptions): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(service.handlers)) {
    const method = `${service.type.typeName}/${name}`;
    const start = (call: {
      getDeadline(): Deadline;
      on(event: 'cancelled', gone: () => void): unknown;
      metadata: Metadata;
    }) =>
      startCall(
        method,
        handler,
        options,
        deadlineOf(call.getDeadline()),
        (gone) => call.on('cancelled', gone),
        'grpc',
        (name) => metadataValue(call.metadata, name),
      );
    if (handler.kind === 'unary') {
      const fn: handleUnaryCall<object, object> = (call, callback) => {
        const c = start(call);
        if (options.version !== undefined && call.metadata.get(REQUEST_VERSION).length > 0)
          call.sendMetadata(versionHeader(options.version));
        answer(c, callback, () => c.outcome(handler, handler.run(call.request, c.ctx)));
      };
      impl[name] = fn;
    } else if (handler.kind === 'serverStream') {
      const fn: handleServerStreamingCall<object, object> = (call) => {
        const c = start(call);
        c.run(async () => {
          // Headers once the stream has begun: an error before that is the call's status alone.
          const messages = await c.race(begin(handler.run(call.request, c.ctx), handler.longLived));
          call.sendMetadata(
            options.version !== undefined && call.metadata.get(REQUEST_VERSION).length > 0
              ? versionHeader(options.version)
              : new Metadata(),
          );
          for await (const message of c.abortable(messages)) {
            if (!call.write(message)) await c.race(once(call, 'drain'));
          }
        }).then(
          () => {
            c.finish();
            call.end();
          },
          (error) => {
            if (!call.cancelled) call.emit('error', toServiceError(c.finish(error)!));
            else c.finish(error);
          },
        );
      };
      impl[name] = fn;
    } else {
      const fn: handleClientStreamingCall<object, object> = (call, callback) => {
        const c = start(call);
        if (options.version !== undefined && call.metadata.get(REQUEST_VERSION).length > 0)
          call.sendMetadata(versionHeader(options.version));
        answer(c, callback, () => c.outcome(handler, handler.run(c.abortable(call as AsyncIterable<object>), c.ctx)));
      };
      impl[name] = fn;
    }
  }
  return impl;
}

/**
 * A single-response call's answer: the response, with the trailers its handler set, or the failure
 * as a status; the call ends either way.
 */
function answer(
  c: Call,
  callback: (error: Partial<ServiceError> | null, response?: object, trailer?: Metadata) => void,
  run: () => Promise<object>,
): void {
  let result: Promise<object>;
  try {
    result = c.run(run);
  } catch (error) {
    result = Promise.reject(error as Error);
  }
  result.then(
    (response) => {
      c.finish();
      const trailers = c.ctx.trailers;
      if (!trailers) return callback(null, response);
      const trailer = new Metadata();
      for (const [name, value] of Object.entries(trailers)) trailer.set(name, value);
      callback(null, response, trailer);
    },
    (error) => callback(toServiceError(c.finish(error)!)),
  );
}

const REQUEST_VERSION = 'io.spicedb.requestversion';

function versionHeader(version: string): Metadata {
  const m = new Metadata();
  m.set('io.spicedb.debug.version', version);
  return m;
}

/** A metadata value as text (a trace header): undefined when absent. */
function metadataValue(metadata: Metadata, name: string): string | undefined {
  const values = metadata.get(name);
  if (values.length === 0) return undefined;
  return values.length === 1 ? String(values[0]) : values.map(String).join(',');
}

function deadlineOf(d: Deadline): number | undefined {
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}
