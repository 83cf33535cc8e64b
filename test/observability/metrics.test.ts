/**
 * Metrics: what is recorded shows up, with the right values, in a well-formed Prometheus exposition,
 * and the scrape endpoint serves it.
 */
import type { RelationshipMirrorStats } from '../../src/datastore/mirror/relationship-mirror.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.js';
import type { ReplicaReport } from '../../src/observability/metrics.js';
import { startMetricsServer } from '../../src/observability/metrics-server.js';
import type { MetricsServer } from '../../src/observability/metrics-server.js';
import type { CacheStats } from '../../src/engine/dispatch-cache.js';
import { parsePrometheusText } from './prometheus-text.js';

const CHECK = 'authzed.api.v1.PermissionsService/CheckPermission';
const WATCH = 'authzed.api.v1.WatchService/Watch';

describe('Metrics', () => {
  it('counts API calls by method, code and transport, and times them', async () => {
    const m = new Metrics();
    m.callStarted(CHECK, 'grpc', false);
    m.callFinished(CHECK, 'grpc', 'OK', 0.003, false);
    m.callStarted(CHECK, 'grpc', false);
    m.callFinished(CHECK, 'grpc', 'OK', 0.2, false);
    m.callStarted(CHECK, 'http', false);
    m.callFinished(CHECK, 'http', 'INVALID_ARGUMENT', 0.0001, false);
    const p = parsePrometheusText(await m.text());

    expect(p.type.get('pemba_api_requests_total')).toBe('counter');
    expect(p.type.get('pemba_api_request_duration_seconds')).toBe('histogram');
    expect(p.value('pemba_api_requests_total', { method: CHECK, code: 'OK', transport: 'grpc' })).toBe(2);
    expect(p.value('pemba_api_requests_total', { method: CHECK, code: 'INVALID_ARGUMENT', transport: 'http' })).toBe(1);
    expect(p.value('pemba_api_requests_total', { method: CHECK, code: 'OK', transport: 'http' })).toBeUndefined();
    expect(p.value('pemba_api_request_duration_seconds_count', { method: CHECK, transport: 'grpc' })).toBe(2);
    expect(p.value('pemba_api_request_duration_seconds_sum', { method: CHECK, transport: 'grpc' })).toBeCloseTo(0.203);
    expect(
      p.value('pemba_api_request_duration_seconds_bucket', { method: CHECK, transport: 'grpc', le: '0.005' }),
    ).toBe(1);
    expect(p.value('pemba_api_request_duration_seconds_bucket', { method: CHECK, transport: 'grpc', le: '+Inf' })).toBe(
      2,
    );
    // Process metrics from prom-client's defaults, on this registry.
    expect(p.type.get('process_cpu_user_seconds_total')).toBe('counter');
  });

  it('tracks open Watch streams and leaves them out of the duration histogram', async () => {
    const m = new Metrics();
    m.callStarted(WATCH, 'grpc', true);
    m.callStarted(WATCH, 'http', true);
    let p = parsePrometheusText(await m.text());
    expect(p.value('pemba_watch_streams_open')).toBe(2);
    m.callFinished(WATCH, 'grpc', 'CANCELLED', 120, true);
    p = parsePrometheusText(await m.text());
    expect(p.value('pemba_watch_streams_open')).toBe(1);
    expect(p.value('pemba_api_requests_total', { method: WATCH, code: 'CANCELLED', transport: 'grpc' })).toBe(1);
    expect(p.value('pemba_api_request_duration_seconds_count', { method: WATCH, transport: 'grpc' })).toBeUndefined();
  });

  it('counts dispatches by kind and datastore operations by outcome', async () => {
    const m = new Metrics();
    m.dispatched('local');
    m.dispatched('local');
    m.dispatched('remote');
    m.dispatched('remote_failed');
    m.dispatched('hedged');
    m.datastore.observe('query_relationships', 0.001, true);
    m.datastore.observe('query_relationships', 0.002, true);
    m.datastoreOperation('query_relationships', 0.5, false);
    m.datastore.observe('read_write', 0.01, true);
    const p = parsePrometheusText(await m.text());
    expect(p.value('pemba_dispatch_total', { kind: 'local' })).toBe(2);
    expect(p.value('pemba_dispatch_total', { kind: 'remote' })).toBe(1);
    expect(p.value('pemba_dispatch_total', { kind: 'remote_failed' })).toBe(1);
    expect(p.value('pemba_dispatch_total', { kind: 'hedged' })).toBe(1);
    expect(p.value('pemba_datastore_queries_total', { operation: 'query_relationships', outcome: 'ok' })).toBe(2);
    expect(p.value('pemba_datastore_queries_total', { operation: 'query_relationships', outcome: 'error' })).toBe(1);
    expect(p.value('pemba_datastore_queries_total', { operation: 'read_write', outcome: 'ok' })).toBe(1);
    expect(p.value('pemba_datastore_query_duration_seconds_count', { operation: 'query_relationships' })).toBe(3);
    expect(p.value('pemba_datastore_query_duration_seconds_sum', { operation: 'query_relationships' })).toBeCloseTo(
      0.503,
    );
  });

  it('reads the dispatch cache, index lag and replicas at scrape time, and leaves out what has no source', async () => {
    const m = new Metrics();
    let p = parsePrometheusText(await m.text());
    for (const name of [
      'pemba_dispatch_cache_hits_total',
      'pemba_dispatch_cache_bytes',
      'pemba_nested_group_index_lag_revisions',
      'pemba_datastore_replica_up',
      'pemba_datastore_primary_reads_total',
    ]) {
      expect(p.type.has(name), name).toBe(true);
      expect(
        p.samples.filter((s) => s.name === name),
        name,
      ).toEqual([]);
    }

    const stats: CacheStats = { hits: 10, misses: 4, evictions: 1, refused: 2, entries: 7, bytes: 2048 };
    let lag: number | undefined = 3;
    const replicas: ReplicaReport = {
      replicas: [
        { name: 'r1', up: true, lagRevisions: 2, lagSeconds: 0.5, reads: 40 },
        { name: 'r2', up: false, lagRevisions: 0, lagSeconds: null, reads: 0 },
      ],
      primaryReads: 9,
    };
    m.setSources({ dispatchCache: () => stats, indexLag: () => lag });
    m.setSources({ replicas: () => replicas });
    p = parsePrometheusText(await m.text());
    expect(p.type.get('pemba_dispatch_cache_hits_total')).toBe('counter');
    expect(p.type.get('pemba_dispatch_cache_bytes')).toBe('gauge');
    expect(p.value('pemba_dispatch_cache_hits_total')).toBe(10);
    expect(p.value('pemba_dispatch_cache_misses_total')).toBe(4);
    expect(p.value('pemba_dispatch_cache_evictions_total')).toBe(1);
    expect(p.value('pemba_dispatch_cache_bytes')).toBe(2048);
    expect(p.value('pemba_dispatch_cache_entries')).toBe(7);
    expect(p.value('pemba_nested_group_index_lag_revisions')).toBe(3);
    expect(p.value('pemba_datastore_replica_up', { replica: 'r1' })).toBe(1);
    expect(p.value('pemba_datastore_replica_up', { replica: 'r2' })).toBe(0);
    expect(p.value('pemba_datastore_replica_lag_revisions', { replica: 'r1' })).toBe(2);
    expect(p.value('pemba_datastore_replica_lag_seconds', { replica: 'r1' })).toBe(0.5);
    expect(p.value('pemba_datastore_replica_lag_seconds', { replica: 'r2' })).toBeUndefined();
    expect(p.value('pemba_datastore_replica_reads_total', { replica: 'r1' })).toBe(40);
    expect(p.type.get('pemba_datastore_replica_reads_total')).toBe('counter');
    expect(p.value('pemba_datastore_primary_reads_total')).toBe(9);

    // Values move between scrapes; a source answering undefined drops its sample again.
    stats.hits = 25;
    lag = undefined;
    replicas.replicas.pop();
    p = parsePrometheusText(await m.text());
    expect(p.value('pemba_dispatch_cache_hits_total')).toBe(25);
    expect(p.value('pemba_nested_group_index_lag_revisions')).toBeUndefined();
    expect(p.value('pemba_datastore_replica_up', { replica: 'r2' })).toBeUndefined();
    expect(p.value('pemba_datastore_replica_up', { replica: 'r1' })).toBe(1);
  });

  it("reads the relationship mirror's state at scrape time", async () => {
    const m = new Metrics();
    expect(parsePrometheusText(await m.text()).value('pemba_mirror_live')).toBeUndefined();
    const stats: RelationshipMirrorStats = {
      state: 'live',
      revision: 9n,
      floor: 4n,
      rows: 120,
      bytes: 75_000,
      budget: 1 << 30,
      hits: 1_000,
      misses: 3,
    };
    m.setSources({ mirror: () => stats });
    let p = parsePrometheusText(await m.text());
    expect(p.value('pemba_mirror_live')).toBe(1);
    expect(p.value('pemba_mirror_relationships')).toBe(120);
    expect(p.value('pemba_mirror_bytes')).toBe(75_000);
    expect(p.value('pemba_mirror_hits_total')).toBe(1_000);
    expect(p.type.get('pemba_mirror_hits_total')).toBe('counter');
    expect(p.value('pemba_mirror_misses_total')).toBe(3);
    stats.state = 'over-budget';
    p = parsePrometheusText(await m.text());
    expect(p.value('pemba_mirror_live')).toBe(0);
  });

  it('keeps each instance on its own registry', async () => {
    const a = new Metrics();
    const b = new Metrics({ indexLag: () => 5 });
    a.dispatched('remote');
    const pb = parsePrometheusText(await b.text());
    expect(pb.value('pemba_dispatch_total', { kind: 'remote' })).toBeUndefined();
    expect(pb.value('pemba_nested_group_index_lag_revisions')).toBe(5);
    expect(parsePrometheusText(await a.text()).value('pemba_dispatch_total', { kind: 'remote' })).toBe(1);
  });

  it('escapes label values that need it', async () => {
    const m = new Metrics();
    m.callFinished('weird "method"\\x\nnewline', 'grpc', 'OK', 0.001, false);
    const p = parsePrometheusText(await m.text());
    expect(
      p.value('pemba_api_requests_total', { method: 'weird "method"\\x\nnewline', code: 'OK', transport: 'grpc' }),
    ).toBe(1);
  });
});

describe('startMetricsServer', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('answers GET /metrics with the exposition and 404 otherwise', async () => {
    const m = new Metrics();
    m.dispatched('hedged');
    server = await startMetricsServer(m, { host: '127.0.0.1', port: 0 });
    expect(server.port).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${server.port}`;

    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('content-type')).toBe(m.contentType);
    const p = parsePrometheusText(await res.text());
    expect(p.value('pemba_dispatch_total', { kind: 'hedged' })).toBe(1);

    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
    for (const path of ['/', '/metricsx', '/healthz']) {
      const r = await fetch(`${base}${path}`);
      expect(r.status, path).toBe(404);
      await r.text();
    }
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: '' });
    expect(post.status).toBe(404);
    await post.text();
  });

  it('listens on every interface for an empty host', async () => {
    server = await startMetricsServer(new Metrics(), { host: '', port: 0 });
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    await res.text();
  });
});
