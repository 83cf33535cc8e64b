/**
 * What `pemba serve` and `pemba serve-testing` share to serve their ports: binding gRPC (TCP or a
 * unix socket) and HTTP, the gateway's /healthz, and the graceful stop.
 */
import { setMaxListeners } from 'node:events';
import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer, RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ListenAddress, TlsPaths, UnixSocketAddress } from './config.js';
import { formatListenAddress } from './config.js';
import type { Health } from './health.js';

/** After the grace period, how long calls get to answer their abort before connections are cut. */
const CUTOFF_SETTLE_MS = 2000;

/** The signals calls listen to: `shutdown` ends Watch streams, `cutoff` ends whatever outlives the grace period. */
export function shutdownSignals(): { shutdown: AbortController; cutoff: AbortController } {
  const shutdown = new AbortController();
  const cutoff = new AbortController();
  // Every call in flight listens to both: hundreds at a time is normal, not a leak.
  setMaxListeners(0, shutdown.signal, cutoff.signal);
  return { shutdown, cutoff };
}

/**
 * Binds a gRPC port, plaintext or with `tls`: a unix socket (see bindUnixSocket; `flag` names the
 * address in its errors), or a TCP address, resolved to the port bound.
 */
export function bindGrpcPort(server: grpc.Server, addr: ListenAddress, tls?: TlsPaths): Promise<ListenAddress>;
export function bindGrpcPort(
  server: grpc.Server,
  addr: ListenAddress | UnixSocketAddress,
  tls?: TlsPaths,
  flag?: string,
): Promise<ListenAddress | UnixSocketAddress>;
export async function bindGrpcPort(
  server: grpc.Server,
  addr: ListenAddress | UnixSocketAddress,
  tls?: TlsPaths,
  flag = '--grpc-addr',
): Promise<ListenAddress | UnixSocketAddress> {
  const credentials = grpcCredentials(tls);
  if ('path' in addr) return { path: await bindUnixSocket(server, addr, credentials, flag) };
  return { host: addr.host, port: await bindGrpc(server, addr, credentials) };
}

function grpcCredentials(tls: TlsPaths | undefined): grpc.ServerCredentials {
  return tls
    ? grpc.ServerCredentials.createSsl(
        null,
        [{ cert_chain: readFileSync(tls.certPath), private_key: readFileSync(tls.keyPath) }],
        false,
      )
    : grpc.ServerCredentials.createInsecure();
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

/**
 * Binds gRPC to a unix socket. A socket file left by a server that is gone (nothing accepts on it)
 * is replaced; a socket in use, or a file that is not a socket, is refused.
 */
async function bindUnixSocket(
  server: grpc.Server,
  addr: UnixSocketAddress,
  credentials: grpc.ServerCredentials,
  flag: string,
): Promise<string> {
  const { path } = addr;
  let isSocket: boolean | undefined;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    // Nothing there: the usual case.
  }
  if (isSocket === false) throw new Error(`${flag} ${path} exists and is not a socket: not replacing it`);
  if (isSocket) {
    const live = await new Promise<boolean>((resolve) => {
      const probe = connect(path);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (live) throw new Error(`${flag} ${path}: another server is listening on that socket`);
    unlinkSync(path);
  }
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`unix:${path}`, credentials, (err, port) => (err ? reject(err) : resolve(port))),
  );
  return path;
}

/** `next`, but GET /healthz answers what `health` says (200 SERVING or 503 NOT_SERVING). */
export function withHealthz(health: Health, next: RequestListener): RequestListener {
  return (req, res) => {
    if (req.url === '/healthz' && req.method === 'GET') {
      const serving = health.serving;
      res.writeHead(serving ? 200 : 503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: serving ? 'SERVING' : 'NOT_SERVING' }));
      return;
    }
    next(req, res);
  };
}

/** An HTTP server (HTTPS with `tls`) listening on `addr` (an empty host: every interface), and its port. */
export function listenHttp(
  addr: ListenAddress,
  tls: TlsPaths | undefined,
  handler: RequestListener,
): Promise<{ server: HttpServer; port: number }> {
  const server = tls
    ? createHttpsServer({ cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) }, handler)
    : createHttpServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: addr.port, host: addr.host || undefined }, () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}

export interface DrainOptions {
  grpc: grpc.Server[];
  http: HttpServer[];
  health: Health;
  signals: { shutdown: AbortController; cutoff: AbortController };
  gracePeriodMs: number;
  log: Logger;
}

/**
 * The graceful stop of the servers: health says NOT_SERVING, `shutdown` aborts, no new calls are
 * accepted, and the calls in flight get the grace period to finish. Resolves when they have.
 */
export async function drainServers(o: DrainOptions): Promise<void> {
  o.log.info({}, 'shutting down: no new calls, finishing in-flight calls');
  o.health.stopServing();
  o.signals.shutdown.abort();
  const done = Promise.all([
    ...o.grpc.map((s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve()))),
    ...o.http.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  ]);
  for (const s of o.http) s.closeIdleConnections();
  let settle: NodeJS.Timeout | undefined;
  const force = setTimeout(() => {
    o.log.warn({ gracePeriodMs: o.gracePeriodMs }, 'grace period over: ending the remaining calls');
    // First end every call through its signal, so that a write either rolls back or answers what
    // its commit did; only then cut the connections of whatever has not answered.
    o.signals.cutoff.abort();
    settle = setTimeout(() => {
      for (const s of o.grpc) s.forceShutdown();
      for (const s of o.http) s.closeAllConnections();
    }, CUTOFF_SETTLE_MS);
  }, o.gracePeriodMs);
  await done;
  clearTimeout(force);
  clearTimeout(settle);
}
