import { totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { envName, parseDuration, parseListenAddress, resolveServeConfig } from '../../src/server/config.js';
import { openDatastore } from '../../src/datastore/factory.js';

describe('serve configuration', () => {
  it('has SpiceDB-like defaults', () => {
    const c = resolveServeConfig({ grpcPresharedKey: ['k'] });
    expect(c.grpcAddr).toEqual({ host: '', port: 50051 });
    expect(c.httpEnabled).toBe(false);
    expect(c.httpAddr).toEqual({ host: '', port: 8443 });
    expect(c.datastoreEngine).toBe('sqlite');
    expect(c.datastoreConnUri).toBeUndefined(); // openDatastore's ./pemba.db
    expect(c.datastoreGcWindowMs).toBe(24 * 3_600_000);
    expect(c.datastoreQuantizationMs).toBe(5_000);
    expect(c.logFormat).toBe('json');
    expect(c.maxMessageBytes).toBe(4 * 1024 * 1024);
    expect(c.requestTimeoutMs).toBe(30_000);
    expect(c.limits.maxReadRelationshipsLimit).toBe(1000);
  });

  it('takes several keys, repeated or comma-separated', () => {
    expect(resolveServeConfig({ grpcPresharedKey: ['a,b', ' c '] }).presharedKeys).toEqual(['a', 'b', 'c']);
    expect(resolveServeConfig({ grpcPresharedKey: 'x' }).presharedKeys).toEqual(['x']);
  });

  it('requires a key, naming the flag and the environment variable', () => {
    expect(() => resolveServeConfig({})).toThrow(/--grpc-preshared-key or set PEMBA_GRPC_PRESHARED_KEY/);
    expect(() => resolveServeConfig({ grpcPresharedKey: [' , '] })).toThrow(/required/);
  });

  it('validates values', () => {
    const base = { grpcPresharedKey: ['k'] };
    expect(() => resolveServeConfig({ ...base, grpcAddr: '50051' })).toThrow(/--grpc-addr/);
    expect(() => resolveServeConfig({ ...base, grpcTlsCertPath: '/c' })).toThrow(/together/);
    expect(() => resolveServeConfig({ ...base, logLevel: 'loud' })).toThrow(/--log-level/);
    expect(() => resolveServeConfig({ ...base, httpEnabled: 'maybe' })).toThrow(/--http-enabled/);
    expect(resolveServeConfig({ ...base, httpEnabled: true }).httpEnabled).toBe(true);
    expect(resolveServeConfig({ ...base, logFormat: 'auto' }, true).logFormat).toBe('console');
  });

  it('parses addresses and durations', () => {
    expect(parseListenAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseListenAddress('[::1]:50051')).toEqual({ host: '::1', port: 50051 });
    expect(() => parseListenAddress(':70000')).toThrow();
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('0')).toBe(0);
    expect(() => parseDuration('soon')).toThrow();
  });

  it('takes the GC window and the quantization interval as durations', () => {
    const c = resolveServeConfig({
      grpcPresharedKey: ['k'],
      datastoreGcWindow: '30m',
      datastoreRevisionQuantizationInterval: '0',
    });
    expect(c.datastoreGcWindowMs).toBe(30 * 60_000);
    expect(c.datastoreQuantizationMs).toBe(0);
    expect(() => resolveServeConfig({ grpcPresharedKey: ['k'], datastoreGcWindow: '1 day' })).toThrow(
      /--datastore-gc-window must be a duration/,
    );
    expect(() => resolveServeConfig({ grpcPresharedKey: ['k'], datastoreGcWindow: '0' })).toThrow(
      /--datastore-gc-window must be longer than 0/,
    );
    expect(() => resolveServeConfig({ grpcPresharedKey: ['k'], datastoreRevisionQuantizationInterval: 'x' })).toThrow(
      /--datastore-revision-quantization-interval/,
    );
  });

  it('sizes the dispatch cache in bytes or as a share of memory, and turns it and the index off', () => {
    const base = { grpcPresharedKey: ['k'] };
    expect(resolveServeConfig(base).dispatchCacheBytes).toBe(64 * 1024 * 1024);
    expect(resolveServeConfig(base).nestedGroupIndex).toBe(true);
    expect(resolveServeConfig({ ...base, dispatchCacheMaxCost: '1GiB' }).dispatchCacheBytes).toBe(1024 ** 3);
    expect(resolveServeConfig({ ...base, dispatchCacheMaxCost: '500000' }).dispatchCacheBytes).toBe(500_000);
    expect(resolveServeConfig({ ...base, dispatchCacheMaxCost: '10%' }).dispatchCacheBytes).toBe(
      Math.floor(totalmem() / 10),
    );
    expect(resolveServeConfig({ ...base, dispatchCacheEnabled: 'false' }).dispatchCacheBytes).toBe(0);
    expect(resolveServeConfig({ ...base, nestedGroupIndexEnabled: 'false' }).nestedGroupIndex).toBe(false);
    expect(() => resolveServeConfig({ ...base, dispatchCacheMaxCost: 'lots' })).toThrow(
      /--dispatch-cache-max-cost must be a size like 64MiB/,
    );
    expect(() => resolveServeConfig({ ...base, dispatchCacheMaxCost: '150%' })).toThrow(/at most 100%/);
  });

  it('takes the fleet flags: read replicas, the dispatch cluster, metrics and tracing', () => {
    const base = { grpcPresharedKey: ['k'] };
    const plain = resolveServeConfig(base);
    expect(plain.readReplicaUris).toEqual([]);
    expect(plain.dispatch).toBeUndefined();
    expect(plain.metricsAddr).toBeUndefined();
    expect(plain.otel).toEqual({ provider: 'none', endpoint: undefined, sampleRatio: 0.01 });

    const pg = { ...base, datastoreEngine: 'postgres', datastoreConnUri: 'postgres://p' };
    expect(
      resolveServeConfig({ ...pg, datastoreReadReplicaConnUri: ['postgres://r1', 'postgres://r2'] }).readReplicaUris,
    ).toEqual(['postgres://r1', 'postgres://r2']);
    expect(() => resolveServeConfig({ ...base, datastoreReadReplicaConnUri: ['postgres://r1'] })).toThrow(
      /needs --datastore-engine postgres/,
    );

    const fleet = resolveServeConfig({
      ...pg,
      dispatchClusterEnabled: true,
      dispatchUpstreamAddr: 'pemba-0:50053,pemba-1:50053',
      dispatchClusterAddr: '127.0.0.1:7000',
    });
    expect(fleet.dispatch).toEqual({
      addr: { host: '127.0.0.1', port: 7000 },
      upstreams: [
        { host: 'pemba-0', port: 50053 },
        { host: 'pemba-1', port: 50053 },
      ],
      secret: 'k',
      hedgeDelayMs: 50,
      timeoutMs: 10_000,
    });
    expect(
      resolveServeConfig({
        ...pg,
        dispatchClusterEnabled: true,
        dispatchUpstreamAddr: 'a:1',
        dispatchClusterPresharedKey: 's',
      }).dispatch?.secret,
    ).toBe('s');
    expect(
      resolveServeConfig({ ...pg, dispatchClusterEnabled: true, dispatchUpstreamAddr: 'a:1' }).dispatch?.addr,
    ).toEqual({
      host: '',
      port: 50053,
    });
    expect(() => resolveServeConfig({ ...pg, dispatchClusterEnabled: true })).toThrow(/--dispatch-upstream-addr/);
    expect(() => resolveServeConfig({ ...pg, dispatchClusterEnabled: true, dispatchUpstreamAddr: 'a' })).toThrow(
      /host:port/,
    );
    expect(() =>
      resolveServeConfig({
        ...base,
        datastoreEngine: 'memory',
        dispatchClusterEnabled: true,
        dispatchUpstreamAddr: 'a:1',
      }),
    ).toThrow(/share/);

    expect(resolveServeConfig({ ...base, metricsEnabled: true }).metricsAddr).toEqual({ host: '', port: 9090 });
    expect(() => resolveServeConfig({ ...base, otelProvider: 'zipkin' })).toThrow(/--otel-provider/);
    expect(() => resolveServeConfig({ ...base, otelProvider: 'otlphttp' })).toThrow(/--otel-endpoint/);
    expect(() => resolveServeConfig({ ...base, otelSampleRatio: '2' })).toThrow(/--otel-sample-ratio/);
    expect(
      resolveServeConfig({ ...base, otelProvider: 'otlpgrpc', otelEndpoint: 'http://c:4317', otelSampleRatio: '1' })
        .otel,
    ).toEqual({ provider: 'otlpgrpc', endpoint: 'http://c:4317', sampleRatio: 1 });
  });

  it('names environment variables after the flags', () => {
    expect(envName('grpc-preshared-key')).toBe('PEMBA_GRPC_PRESHARED_KEY');
    expect(envName('datastore-engine')).toBe('PEMBA_DATASTORE_ENGINE');
    expect(envName('datastore-gc-window')).toBe('PEMBA_DATASTORE_GC_WINDOW');
    expect(envName('datastore-revision-quantization-interval')).toBe('PEMBA_DATASTORE_REVISION_QUANTIZATION_INTERVAL');
  });

  it('rejects unknown datastore engines clearly', async () => {
    await expect(openDatastore({ engine: 'cassandra' })).rejects.toThrow(
      /unknown datastore engine `cassandra`: use one of memory, sqlite, postgres/,
    );
    await expect(openDatastore({ engine: 'toString' })).rejects.toThrow(/unknown datastore engine/);
    const ds = await openDatastore({ engine: 'memory' });
    await ds.close();
  });
});
