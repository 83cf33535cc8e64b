/** Starts a real Pemba server in-process on free ports and connects the unmodified authzed-node client. */
import { v1 } from '@authzed/authzed-node';
import { pino } from 'pino';
import { resolveServeConfig } from '../../src/server/config.js';
import type { RawFlags } from '../../src/server/config.js';
import { startServer } from '../../src/server/server.js';
import type { RunningServer } from '../../src/server/server.js';

export const KEY = 'test-preshared-key';

export interface TestServer {
  server: RunningServer;
  endpoint: string;
  httpBase: string;
  client: v1.ZedClientInterface;
  clientWithKey(key: string): v1.ZedClientInterface;
  close(): Promise<void>;
}

export async function startTestServer(flags: RawFlags = {}): Promise<TestServer> {
  const config = resolveServeConfig({
    grpcPresharedKey: [KEY],
    grpcAddr: '127.0.0.1:0',
    httpEnabled: true,
    httpAddr: '127.0.0.1:0',
    // `pemba serve` defaults to SQLite at ./pemba.db; tests choose a durable engine explicitly.
    datastoreEngine: 'memory',
    ...flags,
  });
  const server = await startServer(config, { logger: pino({ level: process.env.PEMBA_TEST_LOG ?? 'silent' }) });
  const endpoint = `127.0.0.1:${server.grpcAddr.port}`;
  const clients: v1.ZedClientInterface[] = [];
  const clientWithKey = (key: string) => {
    const c = v1.NewClient(key, endpoint, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    clients.push(c);
    return c;
  };
  const client = clientWithKey(KEY);
  return {
    server,
    endpoint,
    httpBase: `http://127.0.0.1:${server.httpAddr?.port}`,
    client,
    clientWithKey,
    async close() {
      for (const c of clients) c.close();
      await server.close();
    },
  };
}

export const fullyConsistent = () =>
  v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } });
export const atLeastAsFresh = (token: string) =>
  v1.Consistency.create({ requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: { token } } });
export const atExactSnapshot = (token: string) =>
  v1.Consistency.create({ requirement: { oneofKind: 'atExactSnapshot', atExactSnapshot: { token } } });

export const obj = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
export const subj = (objectType: string, objectId: string, optionalRelation = '') =>
  v1.SubjectReference.create({ object: obj(objectType, objectId), optionalRelation });

/** `doc:1#reader@user:ann` or `doc:1#reader@group:eng#member` as an API Relationship. */
export function rel(text: string): v1.Relationship {
  const m = /^([^:]+):([^#]+)#([^@]+)@([^:]+):([^#]+)(?:#(.+))?$/.exec(text);
  if (!m) throw new Error(`bad relationship ${text}`);
  return v1.Relationship.create({ resource: obj(m[1], m[2]), relation: m[3], subject: subj(m[4], m[5], m[6] ?? '') });
}

export const update = (operation: 'CREATE' | 'TOUCH' | 'DELETE', text: string) =>
  v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation[operation], relationship: rel(text) });

export const relText = (r: v1.Relationship | undefined) =>
  `${r?.resource?.objectType}:${r?.resource?.objectId}#${r?.relation}@${r?.subject?.object?.objectType}:${r?.subject?.object?.objectId}${r?.subject?.optionalRelation ? `#${r.subject.optionalRelation}` : ''}`;

/** The gRPC error a promise rejected with: code, details and the ErrorInfo reason (if any). */
export async function grpcError(
  p: Promise<unknown>,
): Promise<{ code: number; details: string; reason?: string; metadata?: Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: number; details: string; metadata?: { get(k: string): unknown[] } };
    const { RpcStatus, unpackErrorInfo } = await import('../../src/api/rpc-status.js');
    const bin = err.metadata?.get('grpc-status-details-bin')?.[0] as Buffer | undefined;
    const info = bin ? unpackErrorInfo(RpcStatus.fromBinary(bin)) : undefined;
    return { code: err.code, details: err.details, reason: info?.reason, metadata: info?.metadata };
  }
  throw new Error('expected the call to fail');
}

/** ImportBulkRelationships through the client-streaming call, one message per batch. */
export function importBulk(
  client: v1.ZedClientInterface,
  batches: v1.Relationship[][],
): Promise<v1.ImportBulkRelationshipsResponse> {
  return new Promise((resolve, reject) => {
    const stream = client.importBulkRelationships((err, value) => (err ? reject(err) : resolve(value!)));
    for (const relationships of batches) stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships }));
    stream.end();
  });
}

export const SCHEMA = `definition user {}

definition group {
  relation member: user | group#member
}

definition doc {
  relation owner: user
  relation reader: user | user:* | group#member
  relation banned: user
  permission edit = owner
  permission view = (reader + edit) - banned
}`;
