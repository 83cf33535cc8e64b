/**
 * Both transports (gRPC binding and HTTP gateway) over hand-written handlers, for behaviour the real
 * services are too quick or too well-behaved to show: slow commits, streams failing at a chosen step.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import type { TransportOptions } from '../../src/api/call.js';
import { serviceDefinition, serviceImplementation } from '../../src/api/grpc/service-binding.js';
import { createGateway } from '../../src/api/http/gateway.js';
import type { ApiService } from '../../src/api/method.js';

const quiet = { debug() {}, warn() {}, error() {} };

export interface FakeServer {
  client: v1.ZedClientInterface;
  httpBase: string;
  close(): Promise<void>;
}

export async function serveFakes(services: ApiService[], requestTimeoutMs = 0): Promise<FakeServer> {
  const options: TransportOptions = {
    authenticate: () => undefined,
    requestTimeoutMs,
    shutdown: new AbortController().signal,
    log: quiet,
  };
  const server = new grpc.Server();
  for (const s of services) server.addService(serviceDefinition(s.type), serviceImplementation(s, options));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const http = createServer(createGateway(services, { ...options, maxBodyBytes: 1 << 20 }));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const client = v1.NewClient('k', `127.0.0.1:${port}`, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
  return {
    client,
    httpBase: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async close() {
      client.close();
      server.forceShutdown();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

export const post = (base: string, path: string, body: unknown, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), ...init });

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
