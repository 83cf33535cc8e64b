/**
 * Authenticates API calls from their metadata, before grpc-js reads their messages: it keeps a
 * call's HTTP/2 stream paused until the handler asks for the first message, which the handler does
 * only once onReceiveMetadata has passed. A refused call is answered there, so its message is never
 * buffered nor decoded (grpc-js then drops the bytes still arriving). Other services (health,
 * reflection) pass untouched: probes and tools carry no key.
 */
import { ServerInterceptingCall } from '@grpc/grpc-js';
import type { Metadata, ServerInterceptor } from '@grpc/grpc-js';
import type { TransportOptions } from '../call.js';
import { toFailure, toServiceError } from '../errors.js';
import type { ServiceDescriptor } from '../method.js';

export function authenticationInterceptor(
  services: readonly ServiceDescriptor[],
  options: Pick<TransportOptions, 'authenticate' | 'log'>,
): ServerInterceptor {
  const guarded = new Set(services.map((s) => `/${s.typeName}/`));
  return (method, next) => {
    if (!guarded.has(method.path.slice(0, method.path.lastIndexOf('/') + 1))) return new ServerInterceptingCall(next);
    const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
      start: (start) =>
        start({
          onReceiveMetadata: (metadata, pass) => {
            try {
              options.authenticate(authorizationOf(metadata));
            } catch (error) {
              const f = toFailure(error);
              options.log.debug({ method: method.path.slice(1), code: f.codeName }, 'call failed');
              call.sendStatus(toServiceError(f));
              return;
            }
            pass(metadata);
          },
        }),
    });
    return call;
  };
}

function authorizationOf(metadata: Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  return typeof v === 'string' ? v : v?.toString('utf8');
}
