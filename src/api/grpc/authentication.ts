/**
 * Authenticates API calls from their metadata, before grpc-js reads their messages: it keeps a
 * call's HTTP/2 stream paused until the handler asks for the first message, which the handler does
 * only once onReceiveMetadata has passed. A refused call is answered there, so its message is never
 * buffered nor decoded (grpc-js then drops the bytes still arriving). Other services (health,
 * reflection) pass untouched: probes and tools carry no key.
 *
 * The check is synchronous, so the interceptor is one small object per call that stands between
 * grpc-js's call and the handler's listener, rather than grpc-js's general ServerInterceptingCall
 * (which, built for asynchronous interceptors, queues and wraps every event and send of the call).
 */
import type {
  Deadline,
  Metadata,
  ServerInterceptingCall,
  ServerInterceptingCallInterface,
  ServerInterceptor,
} from '@grpc/grpc-js';
import type { TransportOptions } from '../call.js';
import { toFailure, toServiceError } from '../errors.js';
import type { ServiceDescriptor } from '../method.js';

type Options = Pick<TransportOptions, 'authenticate' | 'log'>;
/** What grpc-js tells a call's listener (its InterceptingServerListener, which it does not export). */
type Listener = Parameters<ServerInterceptingCallInterface['start']>[0];
type Call = ServerInterceptingCallInterface;

export function authenticationInterceptor(services: readonly ServiceDescriptor[], options: Options): ServerInterceptor {
  const guarded = new Set(services.map((s) => `/${s.typeName}/`));
  return (method, next) => {
    // grpc-js's type asks for its own class, but it uses only the interface of what an interceptor returns.
    if (!guarded.has(method.path.slice(0, method.path.lastIndexOf('/') + 1))) return next as ServerInterceptingCall;
    return new AuthenticatingCall(next, method.path, options) as unknown as ServerInterceptingCall;
  };
}

/** The call as the handler sees it: grpc-js's own, except that its metadata is checked first. */
class AuthenticatingCall implements Call, Listener {
  private listener: Listener | undefined;

  constructor(
    private readonly next: Call,
    private readonly path: string,
    private readonly options: Options,
  ) {}

  start(listener: Listener): void {
    this.listener = listener;
    this.next.start(this);
  }

  onReceiveMetadata(metadata: Metadata): void {
    try {
      this.options.authenticate(authorizationOf(metadata));
    } catch (error) {
      const f = toFailure(error);
      this.options.log.debug({ method: this.path.slice(1), code: f.codeName }, 'call failed');
      this.next.sendStatus(toServiceError(f));
      return;
    }
    this.listener!.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.listener!.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    this.listener!.onReceiveHalfClose();
  }

  onCancel(): void {
    this.listener!.onCancel();
  }

  sendMetadata(metadata: Metadata): void {
    this.next.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    this.next.sendMessage(message, callback);
  }

  sendStatus(status: Parameters<Call['sendStatus']>[0]): void {
    this.next.sendStatus(status);
  }

  startRead(): void {
    this.next.startRead();
  }

  getPeer(): string {
    return this.next.getPeer();
  }

  getDeadline(): Deadline {
    return this.next.getDeadline();
  }

  getHost(): string {
    return this.next.getHost();
  }

  getAuthContext(): ReturnType<Call['getAuthContext']> {
    return this.next.getAuthContext();
  }

  getConnectionInfo(): ReturnType<Call['getConnectionInfo']> {
    return this.next.getConnectionInfo();
  }

  getMetricsRecorder(): ReturnType<Call['getMetricsRecorder']> {
    return this.next.getMetricsRecorder();
  }
}

function authorizationOf(metadata: Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  return typeof v === 'string' ? v : v?.toString('utf8');
}
