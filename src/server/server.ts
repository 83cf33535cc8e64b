/**
 * The `pemba serve` process, minus the CLI: opens the datastore, serves authzed.api.v1 over gRPC
 * (with health and reflection) and, when enabled, the HTTP/JSON gateway; close() shuts down
 * gracefully (stop accepting, end Watch streams, let in-flight calls finish within the grace
 * period, close the datastore).
 */
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TransportOptions } from '../api/call.js';
import { authenticationInterceptor } from '../api/grpc/authentication.js';
import { addReflection } from '../api/grpc/reflection.js';
import { serviceDefinition, serviceImplementation } from '../api/grpc/service-binding.js';
import { corsHandler } from '../api/http/cors.js';
import { createGateway } from '../api/http/gateway.js';
import { apiServices } from '../api/services.js';
import { ClusterDispatch } from '../cluster/cluster-dispatch.js';
import { addDispatchService } from '../cluster/dispatch-server.js';
import { subproblemEvaluator } from '../cluster/evaluate.js';
import { Peers } from '../cluster/peers.js';
import type { Datastore } from '../datastore/datastore.js';
import { openDatastore } from '../datastore/factory.js';
import type { Mirrored } from '../datastore/mirror/mirrored-datastore.js';
import { PostgresDatastore } from '../datastore/postgres/datastore.js';
import {
  instrumentDatastore,
  Metrics,
  startMetricsServer,
  startTracing,
  tracingEnabled,
} from '../observability/index.js';
import { openCatalog } from '../openfga/catalog/index.js';
import type { Catalog } from '../openfga/catalog/catalog.js';
import { createOpenFgaHandler } from '../openfga/http.js';
import { OpenFgaService } from '../openfga/service.js';
import { Pemba } from '../pemba.js';
import { PEMBA_VERSION } from '../version.js';
import { PresharedKeys } from './auth.js';
import { applyBootstrap, readBootstrapFiles } from './bootstrap.js';
import type { ListenAddress, ServeConfig } from './config.js';
import { formatListenAddress } from './config.js';
import { Health, HEALTH_DESCRIPTOR } from './health.js';
import { bindGrpcPort, drainServers, listenHttp, shutdownSignals, withHealthz } from './listen.js';
import { createLogger } from './logger.js';
import { findPlaygroundDir, withPlayground } from './playground-route.js';
import { readOnlyGuard } from './readonly.js';

export interface RunningServer {
  pemba: Pemba;
  /** The gRPC address actually bound (port resolved when 0 was asked for); port 0 on a unix socket. */
  grpcAddr: ListenAddress;
  /** The socket path gRPC listens on, with --grpc-network unix (clients dial `unix:<path>`). */
  grpcSocketPath?: string;
  httpAddr?: ListenAddress;
  /** The address OpenFGA's HTTP API listens on (port resolved), with --openfga-enabled. */
  openfgaAddr?: ListenAddress;
  /** The dispatch port actually bound, when the dispatch cluster is enabled. */
  dispatchAddr?: ListenAddress;
  /** Where /metrics is served, when metrics are enabled. */
  metricsAddr?: ListenAddress;
  /** This node's id on the dispatch ring (random per process). */
  nodeId: string;
  /** The dispatch ring and its peers, when the dispatch cluster is enabled. */
  peers?: Peers;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Where the built playground is (default: found beside the code, see findPlaygroundDir). */
  playgroundDir?: string;
}

export async function startServer(config: ServeConfig, options: StartOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger(config.logLevel, config.logFormat);
  // Read before anything is opened: a file that does not parse stops the start at once.
  const bootstrap = config.bootstrap && readBootstrapFiles(config.bootstrap.files);
  const keys = new PresharedKeys(config.presharedKeys);
  const nodeId = randomUUID();
  const tracing = await startTracing({
    provider: config.otel.provider,
    endpoint: config.otel.endpoint,
    sampleRatio: config.otel.sampleRatio,
    serviceName: 'pemba',
    instanceId: nodeId,
  });
  const metrics = config.metricsAddr ? new Metrics() : undefined;
  const { read, write } = config.datastorePools;
  const pool = (p: typeof read) => ({
    maxConnections: p.maxOpen,
    minConnections: p.minOpen,
    idleTimeoutMs: p.maxIdleMs,
    maxLifetimeMs: p.maxLifetimeMs,
  });
  const opened = await openDatastore({
    engine: config.datastoreEngine,
    connUri: config.datastoreConnUri,
    gcWindowMs: config.datastoreGcWindowMs,
    quantizationMs: config.datastoreQuantizationMs,
    gcIntervalMs: config.datastoreGcIntervalMs,
    readReplicaUris: config.readReplicaUris,
    pools: { read: pool(read), write: pool(write) },
    mirror: {
      enabled: config.datastoreMirror,
      maxBytes: config.datastoreMirrorBytes,
      onBudgetExceeded: (bytes, budget) =>
        log.warn(
          { bytes, budget },
          'the relationships do not fit --datastore-mirror-max-bytes: reads go to the datastore (a new load is tried in 5 minutes)',
        ),
    },
  });
  // Timed and traced only when someone is looking (the wrapper costs a little on every read).
  const instrumented = metrics || tracingEnabled() ? instrumentDatastore(opened, metrics?.datastore) : opened;
  // --datastore-readonly: writes fail once the bootstrap data (if any) is in.
  const guard = config.datastoreReadOnly ? readOnlyGuard(instrumented) : undefined;
  const datastore = guard?.datastore ?? instrumented;
  const peers =
    config.dispatch &&
    new Peers({
      nodeId,
      datastore: datastore.id,
      upstreams: config.dispatch.upstreams,
      secret: config.dispatch.secret,
      log,
    });
  const remoteDispatch =
    config.dispatch &&
    new ClusterDispatch({
      peers: peers!,
      datastore: datastore.id,
      secret: config.dispatch.secret,
      hedgeDelayMs: config.dispatch.hedgeDelayMs,
      timeoutMs: config.dispatch.timeoutMs,
      onDispatch: metrics && ((kind) => metrics.dispatched(kind)),
    });
  const pemba = await Pemba.open({
    datastore,
    remoteDispatch,
    dispatchCacheBytes: config.dispatchCacheBytes,
    nestedGroupIndex: config.nestedGroupIndex,
    nestedGroupIndexBytes: config.nestedGroupIndexBytes,
    log,
    maxExpandSize: config.maxExpandSize,
    maxCheckBulkItems: config.limits.maxCheckBulkItems,
    maxUpdatesPerWrite: config.limits.maxUpdatesPerWrite,
    maxPreconditionsPerCall: config.limits.maxPreconditionsPerCall,
    mismatchedTokens: config.mismatchedTokens,
    importLimits: { idleTimeoutMs: config.importIdleTimeoutMs, maxLockHoldMs: config.importMaxLockHoldMs },
  });
  try {
    if (bootstrap) {
      await applyBootstrap(pemba, bootstrap, {
        overwrite: config.bootstrap!.overwrite,
        timeoutMs: config.bootstrap!.timeoutMs,
        maxUpdatesPerWrite: config.limits.maxUpdatesPerWrite,
        log,
      });
    }
    if (guard) {
      guard.lock();
      log.warn({}, 'the datastore is read-only (--datastore-readonly): every write fails with UNAVAILABLE');
    }
    // The stored schema compiled before health says SERVING, so the first calls do not pay for it.
    const stored = await datastore.snapshot(await datastore.headRevision()).readSchema();
    if (stored) pemba.engine.compile(stored.text);
  } catch (error) {
    await tracing.shutdown();
    await pemba.close();
    throw error;
  }
  const signals = shutdownSignals();
  const transport: TransportOptions = {
    authenticate: (authorization) => keys.authenticate(authorization),
    requestTimeoutMs: config.requestTimeoutMs,
    shutdown: signals.shutdown.signal,
    cutoff: signals.cutoff.signal,
    log,
    observer: metrics,
    ...(config.versionResponse ? { version: PEMBA_VERSION } : {}),
  };
  /** The newest head the health probe saw: how far behind it the nested-group index is. */
  let lastHead: bigint | undefined;
  metrics?.setSources({
    dispatchCache: () => pemba.dispatchStats(),
    indexLag: () => {
      const index = pemba.nestedGroupIndexStats();
      if (!index || lastHead === undefined || index.status !== 'live') return undefined;
      return Number(lastHead > index.revision ? lastHead - index.revision : 0n);
    },
    mirror: () => (opened as Partial<Mirrored<Datastore>>).mirrorStats?.(),
    replicas: () =>
      opened instanceof PostgresDatastore && config.readReplicaUris.length > 0
        ? { replicas: opened.replicaStats(), primaryReads: opened.primaryReads() }
        : undefined,
  });
  const services = apiServices(pemba, config.limits);

  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    // Channelz (grpc-js's per-call counters and timestamps, for a channelz service Pemba does not serve) costs on every call.
    'grpc.enable_channelz': 0,
    interceptors: [
      authenticationInterceptor(
        services.map((s) => s.type),
        transport,
      ),
    ],
  });
  for (const s of services) grpcServer.addService(serviceDefinition(s.type), serviceImplementation(s, transport));
  const health = new Health(services.map((s) => s.type.typeName));
  health.addToServer(grpcServer);
  addReflection(grpcServer, [...services.map((s) => s.type), HEALTH_DESCRIPTOR]);

  let httpServer: HttpServer | undefined;
  let openfgaServer: HttpServer | undefined;
  let catalog: Catalog | undefined;
  let dispatchServer: grpc.Server | undefined;
  try {
    let dispatchAddr: ListenAddress | undefined;
    if (config.dispatch) {
      // The dispatch port first: peers (this node among them, through its own upstream address) greet it.
      dispatchServer = new grpc.Server({ 'grpc.max_receive_message_length': config.maxMessageBytes });
      addDispatchService(dispatchServer, {
        nodeId,
        datastore: datastore.id,
        secret: config.dispatch.secret,
        evaluate: subproblemEvaluator(pemba.datastore, pemba.engine),
      });
      dispatchAddr = await bindGrpcPort(dispatchServer, config.dispatch.addr);
      await peers!.start();
    }
    const bound = await bindGrpcPort(grpcServer, config.grpcAddr, config.grpcTls);
    const grpcSocketPath = 'path' in bound ? bound.path : undefined;
    const grpcAddr = 'path' in bound ? { host: '', port: 0 } : bound;
    const grpcTarget = grpcSocketPath !== undefined ? `unix:${grpcSocketPath}` : formatListenAddress(grpcAddr);

    let httpAddr: ListenAddress | undefined;
    if (config.httpEnabled) {
      const gateway = createGateway(services, { ...transport, maxBodyBytes: config.maxMessageBytes });
      const cors = config.httpCorsAllowedOrigins && corsHandler({ allowedOrigins: config.httpCorsAllowedOrigins });
      if (cors) log.info({ origins: config.httpCorsAllowedOrigins }, 'Setting REST gateway CORS policy');
      const playgroundDir = config.httpPlaygroundEnabled ? (options.playgroundDir ?? findPlaygroundDir()) : undefined;
      if (config.httpPlaygroundEnabled && !playgroundDir) {
        log.warn('the playground is not built (npm run build): /playground is not served');
      }
      const served = withHealthz(health, playgroundDir ? withPlayground(gateway, { dir: playgroundDir }) : gateway);
      const listening = await listenHttp(config.httpAddr, config.httpTls, (req, res) => {
        if (cors?.(req, res)) return;
        served(req, res);
      });
      httpServer = listening.server;
      httpAddr = { host: config.httpAddr.host, port: listening.port };
    }

    let openfgaAddr: ListenAddress | undefined;
    if (config.openfga) {
      // The stores, models and assertions live beside the relationships, in the same datastore.
      catalog = await openCatalog(pemba.datastore);
      const service = new OpenFgaService({
        datastore: pemba.datastore,
        engine: pemba.engine,
        catalog,
        limits: config.openfga.limits,
      });
      const handler = createOpenFgaHandler({
        service,
        authenticate: transport.authenticate,
        maxBodyBytes: config.maxMessageBytes,
        requestTimeoutMs: config.requestTimeoutMs,
        cutoff: signals.cutoff.signal,
        log,
      });
      const listening = await listenHttp(config.openfga.addr, config.openfga.tls, withHealthz(health, handler));
      openfgaServer = listening.server;
      openfgaAddr = { host: config.openfga.addr.host, port: listening.port };
    }

    const metricsServer =
      metrics && config.metricsAddr ? await startMetricsServer(metrics, config.metricsAddr) : undefined;
    health.startServing(
      async () => (lastHead = await datastore.headRevision()),
      (serving, error) =>
        serving
          ? log.info({}, 'datastore reachable again: health is SERVING')
          : log.warn({ err: error }, 'datastore unreachable: health is NOT_SERVING'),
    );
    log.info(
      {
        grpcAddr: grpcTarget,
        grpcTls: !!config.grpcTls,
        httpAddr: httpAddr && formatListenAddress(httpAddr),
        openfgaAddr: openfgaAddr && formatListenAddress(openfgaAddr),
        dispatchAddr: dispatchAddr && formatListenAddress(dispatchAddr),
        metricsAddr: metricsServer && formatListenAddress({ host: config.metricsAddr!.host, port: metricsServer.port }),
        dispatchRing: peers?.ring(),
        nodeId,
        datastoreEngine: config.datastoreEngine,
        datastoreReadOnly: config.datastoreReadOnly,
        keyCount: keys.count,
        pid: process.pid,
      },
      `pemba is listening: gRPC on ${grpcTarget}${httpAddr ? `, HTTP on ${formatListenAddress(httpAddr)}` : ''}` +
        (openfgaAddr ? `, OpenFGA HTTP on ${formatListenAddress(openfgaAddr)}` : ''),
    );

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        await drainServers({
          grpc: [grpcServer],
          http: [httpServer, openfgaServer].filter((s): s is HttpServer => s !== undefined),
          health,
          signals,
          gracePeriodMs: config.shutdownGracePeriodMs,
          log,
        });
        // Last: other nodes may dispatch here until they notice this node is gone (they then evaluate themselves).
        peers?.close();
        dispatchServer?.forceShutdown();
        await catalog?.close();
        await pemba.close();
        await metricsServer?.close();
        await tracing.shutdown();
        log.info({}, 'stopped');
      })());
    return {
      pemba,
      grpcAddr,
      grpcSocketPath,
      httpAddr,
      openfgaAddr,
      dispatchAddr,
      metricsAddr: metricsServer && { host: config.metricsAddr!.host, port: metricsServer.port },
      nodeId,
      peers,
      close,
    };
  } catch (error) {
    await tracing.shutdown();
    peers?.close();
    dispatchServer?.forceShutdown();
    grpcServer.forceShutdown();
    httpServer?.close();
    openfgaServer?.close();
    await catalog?.close().catch(() => undefined);
    await pemba.close();
    throw error;
  }
}
