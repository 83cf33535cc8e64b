/**
 * The deployment flags that carry over from SpiceDB, as resolveServeConfig reads them: Go's
 * durations (and days) everywhere, --grpc-network, CORS, --datastore-readonly, bootstrap files,
 * the GC interval and the PostgreSQL pool sizes.
 */
import { describe, expect, it } from 'vitest';
import { parseDuration, resolveServeConfig, spicedbEnvName } from '../../src/server/config.js';

const base = { grpcPresharedKey: ['k'] };

describe('durations, as SpiceDB (Go) writes them, and days', () => {
  it('takes every Go unit, fractions, sums, and d', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('1h30m')).toBe(90 * 60_000);
    expect(parseDuration('1.5h')).toBe(90 * 60_000);
    expect(parseDuration('.5s')).toBe(500);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1d12h')).toBe(36 * 3_600_000);
    expect(parseDuration('2h45m30.5s')).toBe(2 * 3_600_000 + 45 * 60_000 + 30_500);
    expect(parseDuration('1500us')).toBe(2); // rounded to ms
    expect(parseDuration('1500µs')).toBe(2);
    expect(parseDuration('3000000ns')).toBe(3);
    expect(parseDuration('+5s')).toBe(5000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0s')).toBe(0);
    expect(parseDuration('30')).toBe(30_000); // Pemba's: a bare number is seconds
  });

  it('refuses what Go refuses, and negative durations', () => {
    for (const bad of ['', 'soon', '1 day', '1w', '1h30', 'h', '1.2.3s', '5sec']) {
      expect(() => parseDuration(bad, 'x'), bad).toThrow(/--x must be a duration like 30s, 1h30m, 250ms or 1d/);
    }
    expect(() => parseDuration('-1s', 'x')).toThrow(/--x must not be negative/);
  });

  it('reads every duration flag that way', () => {
    const c = resolveServeConfig({
      ...base,
      datastoreGcWindow: '1d',
      datastoreGcInterval: '90m',
      datastoreRevisionQuantizationInterval: '500ms',
      requestTimeout: '1h30m',
      grpcShutdownGracePeriod: '1.5s',
      importIdleTimeout: '2m',
      importMaxLockHold: '1d',
      watchApiHeartbeat: '250ms',
      datastoreBootstrapFiles: ['f.yaml'],
      datastoreBootstrapTimeout: '1m30s',
      datastoreConnPoolReadMaxIdletime: '1d',
      datastoreConnPoolWriteMaxLifetime: '12h',
    });
    expect(c.datastoreGcWindowMs).toBe(86_400_000);
    expect(c.datastoreGcIntervalMs).toBe(5_400_000);
    expect(c.datastoreQuantizationMs).toBe(500);
    expect(c.requestTimeoutMs).toBe(5_400_000);
    expect(c.shutdownGracePeriodMs).toBe(1500);
    expect(c.importIdleTimeoutMs).toBe(120_000);
    expect(c.importMaxLockHoldMs).toBe(86_400_000);
    expect(c.limits.watchHeartbeatMs).toBe(250);
    expect(c.bootstrap?.timeoutMs).toBe(90_000);
    expect(c.datastorePools.read.maxIdleMs).toBe(86_400_000);
    expect(c.datastorePools.write.maxLifetimeMs).toBe(43_200_000);
    expect(() => resolveServeConfig({ ...base, datastoreGcInterval: '3 minutes' })).toThrow(/--datastore-gc-interval/);
  });
});

describe('deployment flags', () => {
  it("has SpiceDB's defaults", () => {
    const c = resolveServeConfig(base);
    expect(c.datastoreGcIntervalMs).toBe(3 * 60_000);
    expect(c.datastoreReadOnly).toBe(false);
    expect(c.bootstrap).toBeUndefined();
    expect(c.httpCorsAllowedOrigins).toBeUndefined();
    expect(c.grpcAddr).toEqual({ host: '', port: 50051 });
    expect(c.datastorePools).toEqual({
      read: { maxOpen: 20, minOpen: 0, maxIdleMs: 30 * 60_000, maxLifetimeMs: 30 * 60_000 },
      write: { maxOpen: 10, minOpen: 0, maxIdleMs: 30 * 60_000, maxLifetimeMs: 30 * 60_000 },
    });
  });

  it('serves gRPC on tcp, tcp4, tcp6 or a unix socket; refuses unixpacket and the unknown', () => {
    expect(resolveServeConfig({ ...base, grpcNetwork: 'tcp4' }).grpcAddr).toEqual({ host: '0.0.0.0', port: 50051 });
    expect(resolveServeConfig({ ...base, grpcNetwork: 'tcp6', grpcAddr: ':1' }).grpcAddr).toEqual({
      host: '::',
      port: 1,
    });
    expect(resolveServeConfig({ ...base, grpcNetwork: 'tcp4', grpcAddr: '127.0.0.1:2' }).grpcAddr).toEqual({
      host: '127.0.0.1',
      port: 2,
    });
    expect(resolveServeConfig({ ...base, grpcNetwork: 'unix', grpcAddr: '/run/pemba.sock' }).grpcAddr).toEqual({
      path: '/run/pemba.sock',
    });
    expect(resolveServeConfig({ ...base, grpcNetwork: 'unix', grpcAddr: 'unix:///run/p.sock' }).grpcAddr).toEqual({
      path: '/run/p.sock',
    });
    expect(() => resolveServeConfig({ ...base, grpcNetwork: 'unixpacket', grpcAddr: '/s' })).toThrow(
      /unixpacket is not supported .*use unix/,
    );
    expect(() => resolveServeConfig({ ...base, grpcNetwork: 'udp' })).toThrow(
      /--grpc-network must be one of tcp, tcp4, tcp6, unix, not "udp"/,
    );
  });

  it('turns CORS on with --http-cors-enabled, for * by default or the origins listed', () => {
    expect(resolveServeConfig({ ...base, httpCorsEnabled: true }).httpCorsAllowedOrigins).toEqual(['*']);
    expect(resolveServeConfig({ ...base, httpCorsAllowedOrigins: 'https://a.example' }).httpCorsAllowedOrigins).toBe(
      undefined,
    );
    expect(
      resolveServeConfig({
        ...base,
        httpCorsEnabled: 'true',
        httpCorsAllowedOrigins: ['https://a.example, https://*.b.example', 'http://localhost:3000'],
      }).httpCorsAllowedOrigins,
    ).toEqual(['https://a.example', 'https://*.b.example', 'http://localhost:3000']);
    expect(() => resolveServeConfig({ ...base, httpCorsEnabled: true, httpCorsAllowedOrigins: [' , '] })).toThrow(
      /needs at least one origin/,
    );
  });

  it('reads --datastore-readonly, which turns garbage collection off', () => {
    const c = resolveServeConfig({ ...base, datastoreReadonly: true, datastoreGcInterval: '1m' });
    expect(c.datastoreReadOnly).toBe(true);
    expect(c.datastoreGcIntervalMs).toBe(0);
    expect(resolveServeConfig({ ...base, datastoreGcInterval: '0' }).datastoreGcIntervalMs).toBe(0);
    expect(() => resolveServeConfig({ ...base, datastoreReadonly: 'perhaps' })).toThrow(/--datastore-readonly/);
  });

  it('reads the bootstrap files, repeated or comma-separated, with overwrite and timeout', () => {
    const c = resolveServeConfig({
      ...base,
      datastoreBootstrapFiles: ['a.yaml,b.yaml', 'c.yaml'],
      datastoreBootstrapOverwrite: true,
    });
    expect(c.bootstrap).toEqual({ files: ['a.yaml', 'b.yaml', 'c.yaml'], overwrite: true, timeoutMs: 10_000 });
    expect(resolveServeConfig({ ...base, datastoreBootstrapFiles: 'one.yaml' }).bootstrap?.files).toEqual(['one.yaml']);
  });

  it('sizes the PostgreSQL pools, refusing a minimum above the maximum', () => {
    const c = resolveServeConfig({
      ...base,
      datastoreConnPoolReadMaxOpen: '8',
      datastoreConnPoolReadMinOpen: '2',
      datastoreConnPoolWriteMaxOpen: '3',
      datastoreConnPoolWriteMinOpen: '3',
      datastoreConnPoolWriteMaxLifetime: '0',
    });
    expect(c.datastorePools.read).toMatchObject({ maxOpen: 8, minOpen: 2 });
    expect(c.datastorePools.write).toMatchObject({ maxOpen: 3, minOpen: 3, maxLifetimeMs: 0 });
    expect(() => resolveServeConfig({ ...base, datastoreConnPoolReadMaxOpen: '0' })).toThrow(
      /--datastore-conn-pool-read-max-open must be a positive integer/,
    );
    expect(() => resolveServeConfig({ ...base, datastoreConnPoolWriteMinOpen: '-1' })).toThrow(
      /--datastore-conn-pool-write-min-open must be a non-negative integer/,
    );
    expect(() =>
      resolveServeConfig({ ...base, datastoreConnPoolReadMaxOpen: '2', datastoreConnPoolReadMinOpen: '5' }),
    ).toThrow(
      /--datastore-conn-pool-read-min-open \(5\) must not be more than --datastore-conn-pool-read-max-open \(2\)/,
    );
  });

  it("names SpiceDB's environment variables", () => {
    expect(spicedbEnvName('grpc-preshared-key')).toBe('SPICEDB_GRPC_PRESHARED_KEY');
    expect(spicedbEnvName('datastore-conn-pool-read-max-open')).toBe('SPICEDB_DATASTORE_CONN_POOL_READ_MAX_OPEN');
  });
});
