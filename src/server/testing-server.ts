/**
 * `pemba serve-testing`, minus the CLI: SpiceDB's testing server. There is no authentication: the
 * bearer token only selects a datastore, and each distinct token (a missing one is the token "")
 * gets its own in-memory Pemba instance, opened on first use with the `--load-configs` files
 * loaded, behind the same service implementations `pemba serve` uses. Two gRPC ports share those
 * instances: the read-write one and a read-only one, where every method that writes fails with
 * UNAVAILABLE and ERROR_REASON_SERVICE_READ_ONLY; each may also be served as an HTTP/JSON gateway.
 * Health (always SERVING until shutdown) and server reflection need no token.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TransportOptions } from '../api/call.js';
import { httpStatusOf, toFailure, toJsonError, toServiceError } from '../api/errors.js';
import { addReflection } from '../api/grpc/reflection.js';
import { serviceDefinition, serviceImplementation } from '../api/grpc/service-binding.js';
import { createGateway } from '../api/http/gateway.js';
import type { ApiService, CallContext, MethodHandler, ServiceDescriptor } from '../api/method.js';
import { apiServices } from '../api/services.js';
import { validateMessage } from '../api/validate.js';
import { openDatastore } from '../datastore/factory.js';
import { serviceReadOnly } from '../errors/index.js';
import { Pemba } from '../pemba.js';
import { formatListenAddress } from './config.js';
import { Health, HEALTH_DESCRIPTOR } from './health.js';
import { bindGrpcPort, drainServers, listenHttp, shutdownSignals, withHealthz } from './listen.js';
import { createLogger } from './logger.js';
import { applyPreload, readPreload, tokenOf, TokenLru } from './tenants.js';
import type { Preload } from './tenants.js';
import type { TestingConfig, TestingGrpcConfig, TestingHttpConfig } from './testing-config.js';

/** SpiceDB's per-token memdb settings. */
export const TESTING_QUANTIZATION_MS = 10;
export const TESTING_GC_WINDOW_MS = 60 * 60 * 1000;
/** Largest gRPC message and HTTP body accepted (grpc-go's default, which SpiceDB's testing server keeps). */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** ImportBulkRelationships bounds, as `pemba serve`'s defaults. */
const IMPORT_LIMITS = { idleTimeoutMs: 30_000, maxLockHoldMs: 5 * 60_000 };

export interface RunningTestingServer {
  /** Each port actually bound (a port of 0 resolved), or a socket path; absent when disabled. */
  grpcAddr?: string;
  readonlyGrpcAddr?: string;
  httpAddr?: string;
  readonlyHttpAddr?: string;
  /** The per-token instances (for tests and diagnostics). */
  datastores: { readonly size: number; has(token: string): boolean };
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

export interface StartTestingOptions {
  logger?: Logger;
}

export async function startTestingServer(
  config: TestingConfig,
  options: StartTestingOptions = {},
): Promise<RunningTestingServer> {
  const log = options.logger ?? createLogger(config.logLevel, config.logFormat);
  const preload = readPreload(config.loadConfigs);
  const signals = shutdownSignals();
  const transport: TransportOptions = {
    // No authentication: the token only chooses the datastore.
    authenticate: () => undefined,
    requestTimeoutMs: config.requestTimeoutMs,
    shutdown: signals.shutdown.signal,
    cutoff: signals.cutoff.signal,
    log,
  };

  const datastores = new TokenLru<TokenInstance>({
    max: config.maxDatastores,
    open: (token) => openInstance(token, preload, config, transport, log),
    close: (instance) => instance.pemba.close(),
    busy: (instance) => instance.active > 0,
    onEvict: (token) =>
      log.info(
        { token: tokenDigest(token), maxDatastores: config.maxDatastores },
        'dropped the least recently used idle per-token datastore to stay within --max-datastores',
      ),
  });
  // The empty token's datastore now: a bad --load-configs file stops the start, and its services
  // tell the ports which services and methods there are.
  const first = await datastores.get('');
  const shapes = first.services(false).map((s) => ({ type: s.type, methods: Object.keys(s.handlers) }));
  const types = shapes.map((s) => s.type);
  const health = new Health(types.map((t) => t.typeName));

  const grpcServers: grpc.Server[] = [];
  const httpServers: HttpServer[] = [];
  try {
    const serveGrpc = async (readOnly: boolean, c: TestingGrpcConfig): Promise<string | undefined> => {
      if (!c.enabled) return undefined;
      const server = new grpc.Server({
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        'grpc.enable_channelz': 0,
        ...(c.maxConnAgeMs > 0 ? { 'grpc.max_connection_age_ms': c.maxConnAgeMs } : {}),
      });
      for (const shape of shapes) {
        server.addService(serviceDefinition(shape.type), routedImplementation(shape, readOnly, datastores));
      }
      health.addToServer(server);
      addReflection(server, [...types, HEALTH_DESCRIPTOR]);
      grpcServers.push(server);
      const bound = await bindGrpcPort(server, c.addr, c.tls, readOnly ? '--readonly-grpc-addr' : '--grpc-addr');
      return 'path' in bound ? bound.path : formatListenAddress(bound);
    };
    const serveHttp = async (readOnly: boolean, c: TestingHttpConfig): Promise<string | undefined> => {
      if (!c.enabled) return undefined;
      const { server, port } = await listenHttp(
        c.addr,
        c.tls,
        withHealthz(health, (req, res) => routeHttp(req, res, readOnly, datastores)),
      );
      httpServers.push(server);
      return formatListenAddress({ host: c.addr.host, port });
    };
    const grpcAddr = await serveGrpc(false, config.grpc);
    const readonlyGrpcAddr = await serveGrpc(true, config.readonlyGrpc);
    const httpAddr = await serveHttp(false, config.http);
    const readonlyHttpAddr = await serveHttp(true, config.readonlyHttp);

    // Every datastore is in memory, in this process: there is nothing that could be unreachable.
    health.startServing(() => Promise.resolve());
    const ports = [
      grpcAddr && `gRPC on ${grpcAddr}`,
      readonlyGrpcAddr && `read-only gRPC on ${readonlyGrpcAddr}`,
      httpAddr && `HTTP on ${httpAddr}`,
      readonlyHttpAddr && `read-only HTTP on ${readonlyHttpAddr}`,
    ].filter(Boolean);
    log.info(
      {
        grpcAddr,
        readonlyGrpcAddr,
        httpAddr,
        readonlyHttpAddr,
        loadConfigs: config.loadConfigs,
        preloadedRelationships: preload.relationships.length,
        maxDatastores: config.maxDatastores,
        pid: process.pid,
      },
      `pemba is listening (testing server: a datastore per bearer token): ${ports.join(', ') || 'no ports enabled'}`,
    );

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        await drainServers({
          grpc: grpcServers,
          http: httpServers,
          health,
          signals,
          gracePeriodMs: config.shutdownGracePeriodMs,
          log,
        });
        await datastores.closeAll();
        log.info({}, 'stopped');
      })());
    return { grpcAddr, readonlyGrpcAddr, httpAddr, readonlyHttpAddr, datastores, close };
  } catch (error) {
    for (const s of grpcServers) s.forceShutdown();
    for (const s of httpServers) s.close();
    await datastores.closeAll();
    throw error;
  }
}

/**
 * One token's Pemba and the services over it: read-write, and read-only (each method that commits
 * refuses before doing anything), with their gRPC bindings and HTTP gateways built on first use.
 * `active` counts calls in flight, so the instance is not dropped under them.
 */
class TokenInstance {
  active = 0;
  private readonly serviceSets: [ApiService[], ApiService[] | undefined];
  private readonly grpcSets: [GrpcImplementations | undefined, GrpcImplementations | undefined] = [
    undefined,
    undefined,
  ];
  private readonly gateways: [HttpHandler | undefined, HttpHandler | undefined] = [undefined, undefined];

  constructor(
    readonly pemba: Pemba,
    config: TestingConfig,
    private readonly transport: TransportOptions,
  ) {
    this.serviceSets = [apiServices(pemba, config.limits).map((s) => this.counted(s)), undefined];
  }

  services(readOnly: boolean): ApiService[] {
    if (!readOnly) return this.serviceSets[0];
    return (this.serviceSets[1] ??= this.serviceSets[0].map(refusingWrites));
  }

  grpc(readOnly: boolean): GrpcImplementations {
    const i = readOnly ? 1 : 0;
    return (this.grpcSets[i] ??= new Map(
      this.services(readOnly).map((s) => [s.type.typeName, serviceImplementation(s, this.transport)]),
    ));
  }

  gateway(readOnly: boolean): HttpHandler {
    const i = readOnly ? 1 : 0;
    return (this.gateways[i] ??= createGateway(this.services(readOnly), {
      ...this.transport,
      maxBodyBytes: MAX_MESSAGE_BYTES,
    }));
  }

  /** The service with every handler counting its call in `active` while it runs. */
  private counted(service: ApiService): ApiService {
    const handlers: Record<string, MethodHandler> = {};
    for (const [name, h] of Object.entries(service.handlers)) handlers[name] = this.countedHandler(h);
    return { type: service.type, handlers };
  }

  private countedHandler(h: MethodHandler): MethodHandler {
    const enter = () => void this.active++;
    const leave = () => void this.active--;
    const held = <T>(run: () => Promise<T>): Promise<T> => {
      enter();
      let result: Promise<T>;
      try {
        result = run();
      } catch (error) {
        leave();
        throw error;
      }
      return result.finally(leave);
    };
    switch (h.kind) {
      case 'unary':
        return { ...h, run: (request: object, ctx: CallContext) => held(() => h.run(request, ctx)) };
      case 'clientStream':
        return {
          ...h,
          run: (requests: AsyncIterable<object>, ctx: CallContext) => held(() => h.run(requests, ctx)),
        };
      case 'serverStream':
        return {
          ...h,
          run: (request: object, ctx: CallContext) => {
            enter();
            try {
              return untilDone(h.run(request, ctx), leave);
            } catch (error) {
              leave();
              throw error;
            }
          },
        };
    }
  }
}

type GrpcImplementations = Map<string, grpc.UntypedServiceImplementation>;
type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

async function openInstance(
  token: string,
  preload: Preload,
  config: TestingConfig,
  transport: TransportOptions,
  log: Logger,
): Promise<TokenInstance> {
  const datastore = await openDatastore({
    engine: 'memory',
    gcWindowMs: TESTING_GC_WINDOW_MS,
    quantizationMs: TESTING_QUANTIZATION_MS,
  });
  // Per token: no cross-request answer cache and no nested-group index (each is a per-instance
  // memory budget, and test data is small); answers are the same without them.
  const pemba = await Pemba.open({
    datastore,
    dispatchCacheBytes: 0,
    nestedGroupIndex: false,
    log,
    maxCheckBulkItems: config.limits.maxCheckBulkItems,
    maxUpdatesPerWrite: config.limits.maxUpdatesPerWrite,
    maxPreconditionsPerCall: config.limits.maxPreconditionsPerCall,
    importLimits: IMPORT_LIMITS,
  });
  try {
    // Past the quantization window of the last load commit, so even minimize_latency reads see it all.
    if (await applyPreload(pemba, preload)) await nextQuantizationWindow();
  } catch (error) {
    await pemba.close();
    throw error;
  }
  log.debug({ token: tokenDigest(token) }, 'opened a datastore for a new token');
  return new TokenInstance(pemba, config, transport);
}

function nextQuantizationWindow(): Promise<void> {
  const wait = TESTING_QUANTIZATION_MS - (Date.now() % TESTING_QUANTIZATION_MS) + 1;
  return new Promise((resolve) => setTimeout(resolve, wait));
}

/** The gRPC methods of one service, each finding its token's instance and handing the call to it. */
function routedImplementation(
  shape: { type: ServiceDescriptor; methods: string[] },
  readOnly: boolean,
  datastores: TokenLru<TokenInstance>,
): grpc.UntypedServiceImplementation {
  const typeName = shape.type.typeName;
  const impl: grpc.UntypedServiceImplementation = {};
  type Callback = (error: Partial<grpc.ServiceError> | null) => void;
  type AnyCall = { metadata: grpc.Metadata; emit(event: 'error', error: unknown): boolean };
  for (const name of shape.methods) {
    const dispatch = (instance: TokenInstance, call: AnyCall, callback?: Callback) => {
      const handler = instance.grpc(readOnly).get(typeName)![name] as (call: AnyCall, callback?: Callback) => void;
      handler(call, callback);
    };
    const fail = (error: unknown, call: AnyCall, callback?: Callback) => {
      const status = toServiceError(toFailure(error));
      if (callback) callback(status);
      else call.emit('error', status);
    };
    impl[name] = (call: AnyCall, callback?: Callback) => {
      let found: TokenInstance | Promise<TokenInstance>;
      try {
        found = datastores.get(tokenOf(authorizationOf(call.metadata)));
      } catch (error) {
        return fail(error, call, callback);
      }
      if (found instanceof TokenInstance) return dispatch(found, call, callback);
      found.then(
        (instance) => dispatch(instance, call, callback),
        (error: unknown) => fail(error, call, callback),
      );
    };
  }
  return impl;
}

/** An HTTP call: its token's instance, held for the whole call (the body is read before the handler runs). */
function routeHttp(req: IncomingMessage, res: ServerResponse, readOnly: boolean, datastores: TokenLru<TokenInstance>) {
  const dispatch = (instance: TokenInstance) => {
    instance.active++;
    res.once('close', () => void instance.active--);
    instance.gateway(readOnly)(req, res);
  };
  const fail = (error: unknown) => {
    const f = toFailure(error);
    const body = JSON.stringify(toJsonError(f));
    res.writeHead(httpStatusOf(f.code), {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  let found: TokenInstance | Promise<TokenInstance>;
  try {
    found = datastores.get(tokenOf(headerValue(req.headers.authorization)));
  } catch (error) {
    return fail(error);
  }
  if (found instanceof TokenInstance) return dispatch(found);
  found.then(dispatch, fail);
}

/** The service with each method that commits (writes) replaced by one that checks its request, then refuses. */
function refusingWrites(service: ApiService): ApiService {
  const handlers: Record<string, MethodHandler> = {};
  for (const [name, h] of Object.entries(service.handlers)) {
    if (h.kind === 'serverStream' || !h.commits) {
      handlers[name] = h;
      continue;
    }
    const input = service.type.methods.find((m) => m.name === name)!.I;
    handlers[name] =
      h.kind === 'unary'
        ? {
            kind: 'unary',
            run: (request) => {
              validateMessage(input, request);
              return Promise.reject(serviceReadOnly());
            },
          }
        : { kind: 'clientStream', bulk: h.bulk, run: () => Promise.reject(serviceReadOnly()) };
  }
  return { type: service.type, handlers };
}

/** `source`, calling `done` once when it ends, fails or is closed. */
function untilDone<T>(source: AsyncIterable<T>, done: () => void): AsyncIterable<T> {
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const step = await it.next();
            if (step.done) finish();
            return step;
          } catch (error) {
            finish();
            throw error;
          }
        },
        async return(value?: unknown) {
          try {
            return (await it.return?.(value)) ?? { done: true as const, value: undefined };
          } finally {
            finish();
          }
        },
      };
    },
  };
}

function authorizationOf(metadata: grpc.Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  return typeof v === 'string' ? v : v?.toString('utf8');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A token as logs name it: tokens select datastores and may be secrets elsewhere, so never in clear. */
function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 12);
}
