/**
 * The parts of `pemba serve-testing` under the CLI: which token a call names, the bounded LRU of
 * per-token instances, the flag table, and the bound seen through a running server in-process.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { PembaError } from '../../src/errors/index.js';
import { createLogger } from '../../src/server/logger.js';
import { tokenOf, TokenLru } from '../../src/server/tenants.js';
import { DEFAULT_MAX_DATASTORES, resolveTestingConfig } from '../../src/server/testing-config.js';
import { startTestingServer } from '../../src/server/testing-server.js';
import type { RunningTestingServer } from '../../src/server/testing-server.js';
import { fullyConsistent, grpcError, obj, subj, update } from './harness.js';

describe('tokenOf', () => {
  it('reads `bearer <token>` as grpc-middleware\'s AuthFromMD does, anything else as the token ""', () => {
    expect(tokenOf('Bearer abc')).toBe('abc');
    expect(tokenOf('bearer abc')).toBe('abc');
    expect(tokenOf('BEARER a b ')).toBe('a b ');
    expect(tokenOf('Bearer ')).toBe('');
    expect(tokenOf('Bearer')).toBe('');
    expect(tokenOf('Basic dXNlcg==')).toBe('');
    expect(tokenOf('')).toBe('');
    expect(tokenOf(undefined)).toBe('');
  });
});

describe('TokenLru', () => {
  interface Fake {
    token: string;
    busy: boolean;
    closed: boolean;
  }
  function lru(max: number, open?: (token: string) => Promise<Fake>) {
    const opened: string[] = [];
    const evicted: string[] = [];
    const cache = new TokenLru<Fake>({
      max,
      open:
        open ??
        ((token) => {
          opened.push(token);
          return Promise.resolve({ token, busy: false, closed: false });
        }),
      close: async (f) => void (f.closed = true),
      busy: (f) => f.busy,
      onEvict: (token) => evicted.push(token),
    });
    return { cache, opened, evicted };
  }

  it('opens each token once, sharing the opening between concurrent first calls', async () => {
    const { cache, opened } = lru(4);
    const [a, b] = await Promise.all([cache.get('t'), cache.get('t')]);
    expect(a).toBe(b);
    expect(cache.get('t')).toBe(a); // open: at once, not a promise
    expect(opened).toEqual(['t']);
  });

  it('drops the least recently used idle instance past the bound, never a busy one', async () => {
    const { cache, evicted } = lru(2);
    const a = await cache.get('a');
    const b = await cache.get('b');
    cache.get('a'); // a is now the most recently used
    await cache.get('c');
    expect(evicted).toEqual(['b']);
    expect(b.closed).toBe(true);
    expect(cache.has('a') && cache.has('c') && !cache.has('b')).toBe(true);

    a.busy = true;
    await cache.get('d'); // c is the least recently used idle one, though a is older
    expect(evicted).toEqual(['b', 'c']);
    expect(a.closed).toBe(false);
    expect(cache.size).toBe(2);
  });

  it('refuses a new token with RESOURCE_EXHAUSTED when every instance is busy', async () => {
    const { cache } = lru(1);
    (await cache.get('a')).busy = true;
    let error: unknown;
    try {
      cache.get('b');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PembaError);
    expect((error as PembaError).code).toBe('RESOURCE_EXHAUSTED');
  });

  it('forgets an instance that failed to open, so the next call tries again', async () => {
    let fail = true;
    const { cache } = lru(2, (token) =>
      fail ? Promise.reject(new Error('boom')) : Promise.resolve({ token, busy: false, closed: false }),
    );
    await expect(cache.get('a')).rejects.toThrow('boom');
    expect(cache.has('a')).toBe(false);
    fail = false;
    expect((await cache.get('a')).token).toBe('a');
  });

  it('closes everything on closeAll, including an instance still opening, and refuses later calls', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: Fake = { token: 'slow', busy: false, closed: false };
    const { cache } = lru(4, async (token) => {
      if (token === 'slow') {
        await gate;
        return slow;
      }
      return { token, busy: false, closed: false };
    });
    const fast = await cache.get('fast');
    const opening = cache.get('slow') as Promise<Fake>;
    const closing = cache.closeAll();
    release();
    await closing;
    await expect(opening).rejects.toThrow(/shutting down/);
    expect(fast.closed && slow.closed).toBe(true);
    expect(() => cache.get('x')).toThrow(/shutting down/);
  });
});

describe('resolveTestingConfig', () => {
  it("defaults to SpiceDB's serve-testing ports", () => {
    const c = resolveTestingConfig({});
    expect(c.grpc).toMatchObject({ enabled: true, addr: { host: '', port: 50051 }, maxConnAgeMs: 30_000 });
    expect(c.readonlyGrpc).toMatchObject({ enabled: true, addr: { host: '', port: 50052 } });
    expect(c.http).toMatchObject({ enabled: false, addr: { host: '', port: 8443 } });
    expect(c.readonlyHttp).toMatchObject({ enabled: false, addr: { host: '', port: 8444 } });
    expect(c.loadConfigs).toEqual([]);
    expect(c.maxDatastores).toBe(DEFAULT_MAX_DATASTORES);
    expect(c.shutdownGracePeriodMs).toBe(5000);
  });

  it('reads lists, networks and booleans as SpiceDB spells them', () => {
    const c = resolveTestingConfig({
      loadConfigs: ['a.yaml,b.yaml', 'c.yaml'],
      grpcNetwork: 'tcp4',
      readonlyGrpcNetwork: 'unix',
      readonlyGrpcAddr: '/tmp/pemba.sock',
      httpEnabled: true,
      readonlyGrpcEnabled: 'false',
    });
    expect(c.loadConfigs).toEqual(['a.yaml', 'b.yaml', 'c.yaml']);
    expect(c.grpc.addr).toEqual({ host: '0.0.0.0', port: 50051 });
    expect(c.readonlyGrpc).toMatchObject({ enabled: false, addr: { path: '/tmp/pemba.sock' } });
    expect(c.http.enabled).toBe(true);
  });

  it("reads SpiceDB's API limits, zero context size meaning no limit, and refuses bad values, naming the flag", () => {
    const c = resolveTestingConfig({
      writeRelationshipsMaxUpdatesPerCall: '5',
      updateRelationshipsMaxPreconditionsPerCall: '7',
      maxCaveatContextSize: '0',
      maxRelationshipContextSize: '100',
    });
    expect(c.limits).toMatchObject({
      maxUpdatesPerWrite: 5,
      maxPreconditionsPerCall: 7,
      maxCaveatContextBytes: Number.POSITIVE_INFINITY,
      maxRelationshipContextBytes: 100,
    });
    expect(() => resolveTestingConfig({ maxRelationshipContextSize: '0' })).toThrow(/--max-relationship-context-size/);
    expect(() => resolveTestingConfig({ writeRelationshipsMaxUpdatesPerCall: 'x' })).toThrow(
      /--write-relationships-max-updates-per-call/,
    );
    expect(() => resolveTestingConfig({ maxDatastores: '0' })).toThrow(/--max-datastores/);
    expect(() => resolveTestingConfig({ grpcNetwork: 'udp' })).toThrow(/--grpc-network/);
  });
});

describe('the --max-datastores bound, through a running server', () => {
  let server: RunningTestingServer | undefined;
  const clients: v1.ZedClientInterface[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close();
    server = undefined;
  });

  it('drops the least recently used idle token, and keeps one with a Watch open', async () => {
    const config = resolveTestingConfig({
      grpcAddr: '127.0.0.1:0',
      readonlyGrpcEnabled: 'false',
      maxDatastores: '2',
      logLevel: 'silent',
    });
    server = await startTestingServer(config, { logger: createLogger('silent', 'json') });
    const client = (token: string) => {
      const c = v1.NewClient(token, server!.grpcAddr!, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
      clients.push(c);
      return c.promises;
    };
    const schema = 'definition user {}\n\ndefinition doc {\n  relation reader: user\n}';
    const seed = async (token: string) => {
      await client(token).writeSchema(v1.WriteSchemaRequest.create({ schema }));
      await client(token).writeRelationships(
        v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', `doc:${token}#reader@user:u`)] }),
      );
    };
    const count = async (token: string) =>
      (
        await client(token).readRelationships(
          v1.ReadRelationshipsRequest.create({
            relationshipFilter: { resourceType: 'doc' },
            consistency: fullyConsistent(),
          }),
        )
      ).length;

    // The empty token's datastore opens at start; watching keeps `watched` in flight.
    await seed('watched');
    const watcher = v1.NewClient('watched', server.grpcAddr!, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    clients.push(watcher);
    const stream = watcher.watch(v1.WatchRequest.create());
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));

    await seed('a'); // drops "" (idle, least recently used)
    expect(server.datastores.has('')).toBe(false);
    await seed('b'); // drops a: `watched` is older but busy
    expect(server.datastores.has('a')).toBe(false);
    expect(server.datastores.has('watched')).toBe(true);
    expect(server.datastores.size).toBe(2);
    expect(await count('watched')).toBe(1);

    // A dropped token starts again from an empty datastore.
    const e = await grpcError(
      client('a').checkPermission(
        v1.CheckPermissionRequest.create({
          resource: obj('doc', 'a'),
          permission: 'reader',
          subject: subj('user', 'u'),
        }),
      ),
    );
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    stream.cancel();
  });
  it('applies the API limit flags to every token', async () => {
    const config = resolveTestingConfig({
      grpcAddr: '127.0.0.1:0',
      readonlyGrpcEnabled: 'false',
      writeRelationshipsMaxUpdatesPerCall: '2',
      maxReadRelationshipsLimit: '3',
    });
    server = await startTestingServer(config, { logger: createLogger('silent', 'json') });
    const c = v1.NewClient('limits', server.grpcAddr!, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    clients.push(c);
    await c.promises.writeSchema(
      v1.WriteSchemaRequest.create({ schema: 'definition user {}\n\ndefinition doc {\n  relation reader: user\n}' }),
    );
    const write = (n: number) =>
      c.promises.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: Array.from({ length: n }, (_, i) => update('TOUCH', `doc:${i}#reader@user:u`)),
        }),
      );
    await write(2);
    const tooMany = await grpcError(write(3));
    expect([tooMany.code, tooMany.reason]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      'ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST',
    ]);
    const tooLarge = await grpcError(
      c.promises.readRelationships(
        v1.ReadRelationshipsRequest.create({ relationshipFilter: { resourceType: 'doc' }, optionalLimit: 4 }),
      ),
    );
    expect(tooLarge.reason).toBe('ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT');
  });
});
