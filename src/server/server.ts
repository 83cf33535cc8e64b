/**
 * The `pemba serve` process, minus the CLI: opens the datastore, serves authzed.api.v1 over gRPC
 * (with health and reflection) and, when enabled, the HTTP/JSON gateway; close() shuts down
 * gracefully (stop accepting, end Watch streams, let in-flight calls finish within the grace
 * period, close the datastore).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TransportOptions } from '../api/call.js';
import { authenticationInterceptor } from '../api/grpc/authentication.js';
import { addReflection } from '../api/grpc/reflection.js';
import { serviceDefinition, serviceImplementation } from '../api/grpc/service-binding.js';
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
import { Pemba } from '../pemba.js';
import { PresharedKeys } from './auth.js';
import type { ListenAddress, ServeConfig } from './config.js';
import { formatListenAddress } from './config.js';
import { Health, HEALTH_DESCRIPTOR } from './health.js';
import { createLogger } from './logger.js';

export interface RunningServer {
  pemba: Pemba;
  /** The gRPC address actually bound (port resolved when 0 was asked for). */
  grpcAddr: ListenAddress;
  httpAddr?: ListenAddress;
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

/** After the grace period, how long calls get to answer their abort before connections are cut. */
const CUTOFF_SETTLE_MS = 2000;

export interface StartOptions {
  logger?: Logger;
}

export async function startServer(config: ServeConfig, options: StartOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger(config.logLevel, config.logFormat);
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
  const opened = await openDatastore({
    engine: config.datastoreEngine,
    connUri: config.datastoreConnUri,
    gcWindowMs: config.datastoreGcWindowMs,
    quantizationMs: config.datastoreQuantizationMs,
    readReplicaUris: config.readReplicaUris,
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
  const datastore = metrics || tracingEnabled() ? instrumentDatastore(opened, metrics?.datastore) : opened;
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
    importLimits: { idleTimeoutMs: config.importIdleTimeoutMs, maxLockHoldMs: config.importMaxLockHoldMs },
  });
  // The stored schema compiled before health says SERVING, so the first calls do not pay for it.
  const stored = await datastore.snapshot(await datastore.headRevision()).readSchema();
  if (stored) pemba.engine.compile(stored.text);
  const shutdown = new AbortController();
  const cutoff = new AbortController();
  // Every call in flight listens to both: hundreds at a time is normal, not a leak.
  setMaxListeners(0, shutdown.signal, cutoff.signal);
  const transport: TransportOptions = {
    authenticate: (authorization) => keys.authenticate(authorization),
    requestTimeoutMs: config.requestTimeoutMs,
    shutdown: shutdown.signal,
    cutoff: cutoff.signal,
    log,
    observer: metrics,
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
      const port = await bindGrpc(dispatchServer, config.dispatch.addr, grpc.ServerCredentials.createInsecure());
      dispatchAddr = { host: config.dispatch.addr.host, port };
      await peers!.start();
    }
    const credentials = config.grpcTls
      ? grpc.ServerCredentials.createSsl(
          null,
          [{ cert_chain: readFileSync(config.grpcTls.certPath), private_key: readFileSync(config.grpcTls.keyPath) }],
          false,
        )
      : grpc.ServerCredentials.createInsecure();
    const grpcPort = await bindGrpc(grpcServer, config.grpcAddr, credentials);
    const grpcAddr = { host: config.grpcAddr.host, port: grpcPort };

    let httpAddr: ListenAddress | undefined;
    if (config.httpEnabled) {
      const gateway = createGateway(services, { ...transport, maxBodyBytes: config.maxMessageBytes });
      const handler: Parameters<typeof createHttpServer>[1] = (req, res) => {
        if (req.url === '/healthz' && req.method === 'GET') {
          const serving = health.serving;
          res.writeHead(serving ? 200 : 503, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ status: serving ? 'SERVING' : 'NOT_SERVING' }));
          return;
        }
        gateway(req, res);
      };
      httpServer = config.httpTls
        ? createHttpsServer(
            { cert: readFileSync(config.httpTls.certPath), key: readFileSync(config.httpTls.keyPath) },
            handler,
          )
        : createHttpServer(handler);
      httpAddr = { host: config.httpAddr.host, port: await listenHttp(httpServer, config.httpAddr) };
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
        grpcAddr: formatListenAddress(grpcAddr),
        grpcTls: !!config.grpcTls,
        httpAddr: httpAddr && formatListenAddress(httpAddr),
        dispatchAddr: dispatchAddr && formatListenAddress(dispatchAddr),
        metricsAddr: metricsServer && formatListenAddress({ host: config.metricsAddr!.host, port: metricsServer.port }),
        dispatchRing: peers?.ring(),
        nodeId,
        datastoreEngine: config.datastoreEngine,
        keyCount: keys.count,
        pid: process.pid,
      },
      `pemba is listening: gRPC on ${formatListenAddress(grpcAddr)}${httpAddr ? `, HTTP on ${formatListenAddress(httpAddr)}` : ''}`,
    );

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        log.info({}, 'shutting down: no new calls, finishing in-flight calls');
        health.stopServing();
        shutdown.abort();
        const grpcDone = new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
        const httpDone = new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
        httpServer?.closeIdleConnections();
        const allDone = Promise.all([grpcDone, httpDone]);
        let settle: NodeJS.Timeout | undefined;
        const force = setTimeout(() => {
          log.warn({ gracePeriodMs: config.shutdownGracePeriodMs }, 'grace period over: ending the remaining calls');
          // First end every call through its signal, so that a write either rolls back or answers what
          // its commit did; only then cut the connections of whatever has not answered.
          cutoff.abort();
          settle = setTimeout(() => {
            grpcServer.forceShutdown();
            httpServer?.closeAllConnections();
          }, CUTOFF_SETTLE_MS);
        }, config.shutdownGracePeriodMs);
        await allDone;
        clearTimeout(force);
        clearTimeout(settle);
        // Last: other nodes may dispatch here until they notice this node is gone (they then evaluate themselves).
        peers?.close();
        dispatchServer?.forceShutdown();
        await pemba.close();
        await metricsServer?.close();
        await tracing.shutdown();
        log.info({}, 'stopped');
      })());
    return {
      pemba,
      grpcAddr,
      httpAddr,
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
    await pemba.close();
    throw error;
  }
}

/** An empty host means every interface: IPv6 and IPv4 where the host has IPv6, IPv4 otherwise. */
async function bindGrpc(
  server: grpc.Server,
  addr: ListenAddress,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  const bind = (host: string) =>
    new Promise<number>((resolve, reject) =>
      server.bindAsync(formatListenAddress({ host, port: addr.port }), credentials, (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
  if (addr.host) return bind(addr.host);
  try {
    return await bind('::');
  } catch {
    return bind('0.0.0.0');
  }
}

function listenHttp(server: HttpServer, addr: ListenAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: addr.port, host: addr.host || undefined }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
