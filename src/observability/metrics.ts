/**
 * Prometheus metrics for `pemba serve`, on a registry of their own (several servers may run in one
 * process, as in tests). Calls, dispatches and datastore queries are counted as they happen; the
 * dispatch cache, the nested-group index and the read replicas are read from callbacks at scrape time.
 */
import type { RelationshipMirrorStats } from '../datastore/mirror/relationship-mirror.js';
import type { DispatchKind } from '../cluster/cluster-dispatch.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CounterConfiguration, GaugeConfiguration } from 'prom-client';
import type { CallObserver, Transport } from '../api/call.js';
import type { CacheStats } from '../engine/dispatch-cache.js';

/** How a sub-problem was dispatched: answered here, sent to a peer, a send to a peer that failed, or a hedged send. */

export type { DispatchKind };

export interface ReplicaStats {
  name: string;
  up: boolean;
  /** Revisions the replica is behind the primary. */
  lagRevisions: number;
  /** Seconds the replica is behind, when known. */
  lagSeconds: number | null;
  /** Reads served by the replica since the start. */
  reads: number;
}

export interface ReplicaReport {
  replicas: ReplicaStats[];
  /** Reads served by the primary since the start. */
  primaryReads: number;
}

/** Where the scrape-time metrics come from; each absent (or answering undefined) leaves its metrics out. */
export interface MetricsSources {
  dispatchCache?: () => CacheStats | undefined;
  /** How many revisions the nested-group index is behind head. */
  indexLag?: () => number | undefined;
  replicas?: () => ReplicaReport | undefined;
  /** The relationship mirror of a durable datastore. */
  mirror?: () => RelationshipMirrorStats | undefined;
}

/** What instrumentDatastore reports each datastore operation to. */
export interface DatastoreObserver {
  observe(operation: string, seconds: number, ok: boolean): void;
}

/** Call latencies run from sub-millisecond cached checks to multi-second lookups. */
const CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DATASTORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

type LabelValues<T extends string> = Partial<Record<T, string | number>>;

interface Sample<T extends string> {
  labels?: LabelValues<T>;
  value: number;
}

/**
 * A gauge whose samples are read at scrape time; a source answering undefined leaves the metric
 * without samples (only its HELP and TYPE lines: a collect() callback could not drop the sample of
 * an unlabelled metric).
 */
class ScrapedGauge<T extends string> extends Gauge<T> {
  constructor(
    config: GaugeConfiguration<T>,
    private readonly read: () => Sample<T>[] | undefined,
  ) {
    super(config);
  }

  override async get() {
    this.reset();
    const samples = this.read();
    for (const s of samples ?? []) this.set(s.labels ?? {}, s.value);
    const result = await super.get();
    return samples ? result : { ...result, values: [] };
  }
}

/** A counter read at scrape time from a running total kept elsewhere, like ScrapedGauge. */
class ScrapedCounter<T extends string> extends Counter<T> {
  constructor(
    config: CounterConfiguration<T>,
    private readonly read: () => Sample<T>[] | undefined,
  ) {
    super(config);
  }

  override async get() {
    this.reset();
    const samples = this.read();
    for (const s of samples ?? []) this.inc(s.labels ?? {}, Math.max(0, s.value));
    const result = await super.get();
    return samples ? result : { ...result, values: [] };
  }
}

/** One labelled series of a SeriesCounter: a plain number, incremented in place. */
export interface CounterSeries {
  value: number;
}

/**
 * A counter whose series are plain objects the caller keeps and increments (`series.value++`):
 * no label hashing or validation per increment, as prom-client's inc() does. Exported at scrape time.
 */
class SeriesCounter<T extends string> extends Counter<T> {
  private readonly all = new Map<string, { labels: Record<T, string>; series: CounterSeries }>();

  /** The series of these labels, created at 0 the first time; `key` must identify the labels. */
  series(key: string, labels: Record<T, string>): CounterSeries {
    let entry = this.all.get(key);
    if (!entry) {
      entry = { labels, series: { value: 0 } };
      this.all.set(key, entry);
    }
    return entry.series;
  }

  override async get() {
    const base = await super.get();
    return { ...base, values: [...this.all.values()].map((e) => ({ labels: e.labels, value: e.series.value })) };
  }
}

/** One labelled series of a SeriesHistogram. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** A histogram over HistogramSeries, like SeriesCounter: observing is a bucket search and three additions. */
class SeriesHistogram<T extends string> extends Histogram<T> {
  private readonly all = new Map<string, { labels: Record<T, string>; series: HistogramSeries }>();
  private readonly bounds: readonly number[];
  private readonly metricName: string;
  private readonly helpText: string;

  constructor(config: {
    name: string;
    help: string;
    labelNames: readonly T[];
    buckets: number[];
    registers: Registry[];
  }) {
    super(config);
    this.bounds = config.buckets;
    this.metricName = config.name;
    this.helpText = config.help;
  }

  series(key: string, labels: Record<T, string>): HistogramSeries {
    let entry = this.all.get(key);
    if (!entry) {
      entry = { labels, series: new HistogramSeries(this.bounds) };
      this.all.set(key, entry);
    }
    return entry.series;
  }

  private samples() {
    const bucket = `${this.metricName}_bucket`;
    const values: Array<{ labels: LabelValues<T>; value: number; metricName: string }> = [];
    for (const { labels, series } of this.all.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += series.counts[i];
        values.push({ labels: { ...labels, le: bound } as LabelValues<T>, value: cumulative, metricName: bucket });
      });
      values.push(
        { labels: { ...labels, le: '+Inf' } as LabelValues<T>, value: series.count, metricName: bucket },
        { labels, value: series.sum, metricName: `${this.metricName}_sum` },
        { labels, value: series.count, metricName: `${this.metricName}_count` },
      );
    }
    return values;
  }

  /** What the registry formats (prom-client's own reads the internal state this class leaves empty). */
  async getForPromString() {
    return { name: this.metricName, help: this.helpText, type: 'histogram', values: this.samples(), aggregator: 'sum' };
  }

  override async get() {
    return (await this.getForPromString()) as unknown as Awaited<ReturnType<Histogram<T>['get']>>;
  }
}

function scraped<T extends string>(
  kind: 'gauge' | 'counter',
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly T[],
  read: () => Sample<T>[] | undefined,
): void {
  const config = { name, help, labelNames, registers: [registry] };
  if (kind === 'gauge') new ScrapedGauge<T>(config, read);
  else new ScrapedCounter<T>(config, read);
}

export class Metrics implements CallObserver {
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;
  private sources: MetricsSources;

  private readonly requests: SeriesCounter<'method' | 'code' | 'transport'>;
  private readonly durations: SeriesHistogram<'method' | 'transport'>;
  private readonly watchStreams: Gauge;
  private readonly dispatches: SeriesCounter<'kind'>;
  private readonly datastoreDurations: SeriesHistogram<'operation'>;
  private readonly datastoreQueries: SeriesCounter<'operation' | 'outcome'>;
  /** The series each call updates, by label values, so a call costs Map lookups and additions. */
  private readonly callSeries = new Map<string, { requests: CounterSeries; duration?: HistogramSeries }>();
  private readonly datastoreSeries = new Map<
    string,
    { duration: HistogramSeries; ok: CounterSeries; error: CounterSeries }
  >();
  private readonly dispatchSeries = new Map<DispatchKind, CounterSeries>();

  /** Reports datastore operations here: `instrumentDatastore(datastore, metrics.datastore)`. */
  readonly datastore: DatastoreObserver = {
    observe: (operation, seconds, ok) => this.datastoreOperation(operation, seconds, ok),
  };

  constructor(sources: MetricsSources = {}) {
    this.sources = { ...sources };
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new SeriesCounter({
      name: 'pemba_api_requests_total',
      help: 'API calls finished, by method, gRPC status code and transport',
      labelNames: ['method', 'code', 'transport'],
      registers,
    });
    this.durations = new SeriesHistogram({
      name: 'pemba_api_request_duration_seconds',
      help: 'API call duration in seconds, by method and transport (long-lived streams such as Watch excluded)',
      labelNames: ['method', 'transport'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.watchStreams = new Gauge({
      name: 'pemba_watch_streams_open',
      help: 'Watch streams currently open',
      registers,
    });
    this.dispatches = new SeriesCounter({
      name: 'pemba_dispatch_total',
      help: 'Sub-problems dispatched, by kind: local, remote, remote_failed (a remote dispatch that failed), hedged',
      labelNames: ['kind'],
      registers,
    });
    this.datastoreDurations = new SeriesHistogram({
      name: 'pemba_datastore_query_duration_seconds',
      help: 'Datastore operation duration in seconds, by operation',
      labelNames: ['operation'],
      buckets: DATASTORE_BUCKETS,
      registers,
    });
    this.datastoreQueries = new SeriesCounter({
      name: 'pemba_datastore_queries_total',
      help: 'Datastore operations, by operation and outcome (ok, error)',
      labelNames: ['operation', 'outcome'],
      registers,
    });

    const cache = (name: string, help: string, kind: 'gauge' | 'counter', field: keyof CacheStats) =>
      scraped(kind, this.registry, name, help, [], () => {
        const stats = this.sources.dispatchCache?.();
        return stats && [{ value: stats[field] }];
      });
    cache('pemba_dispatch_cache_hits_total', 'Dispatch cache lookups answered from the cache', 'counter', 'hits');
    cache('pemba_dispatch_cache_misses_total', 'Dispatch cache lookups not in the cache', 'counter', 'misses');
    cache('pemba_dispatch_cache_evictions_total', 'Dispatch cache entries evicted for space', 'counter', 'evictions');
    cache('pemba_dispatch_cache_bytes', 'Estimated bytes held by the dispatch cache', 'gauge', 'bytes');
    cache('pemba_dispatch_cache_entries', 'Entries in the dispatch cache', 'gauge', 'entries');

    scraped(
      'gauge',
      this.registry,
      'pemba_nested_group_index_lag_revisions',
      'Revisions the nested-group index is behind the datastore head',
      [],
      () => {
        const lag = this.sources.indexLag?.();
        return lag === undefined ? undefined : [{ value: lag }];
      },
    );

    const mirror = (
      kind: 'gauge' | 'counter',
      name: string,
      help: string,
      value: (s: RelationshipMirrorStats) => number,
    ) =>
      scraped(kind, this.registry, name, help, [], () => {
        const stats = this.sources.mirror?.();
        return stats && [{ value: value(stats) }];
      });
    mirror(
      'gauge',
      'pemba_mirror_live',
      'Whether the relationship mirror answers reads (1) or not (0: loading, over budget)',
      (s) => (s.state === 'live' ? 1 : 0),
    );
    mirror(
      'gauge',
      'pemba_mirror_relationships',
      'Relationships held by the mirror (current or history)',
      (s) => s.rows,
    );
    mirror('gauge', 'pemba_mirror_bytes', 'Estimated bytes held by the mirror', (s) => s.bytes);
    mirror('counter', 'pemba_mirror_hits_total', 'Snapshot reads answered by the mirror', (s) => s.hits);
    mirror(
      'counter',
      'pemba_mirror_misses_total',
      'Snapshot reads the mirror passed to the datastore',
      (s) => s.misses,
    );

    const replica = (
      kind: 'gauge' | 'counter',
      name: string,
      help: string,
      value: (r: ReplicaStats) => number | null,
    ) =>
      scraped(kind, this.registry, name, help, ['replica'], () =>
        this.sources.replicas?.()?.replicas.flatMap((r) => {
          const v = value(r);
          return v === null ? [] : [{ labels: { replica: r.name }, value: v }];
        }),
      );
    replica('gauge', 'pemba_datastore_replica_up', 'Whether a read replica is in use (1) or not (0)', (r) =>
      r.up ? 1 : 0,
    );
    replica(
      'gauge',
      'pemba_datastore_replica_lag_revisions',
      'Revisions a read replica is behind the primary',
      (r) => r.lagRevisions,
    );
    replica(
      'gauge',
      'pemba_datastore_replica_lag_seconds',
      'Seconds a read replica is behind the primary',
      (r) => r.lagSeconds,
    );
    replica('counter', 'pemba_datastore_replica_reads_total', 'Reads served by a read replica', (r) => r.reads);
    scraped(
      'counter',
      this.registry,
      'pemba_datastore_primary_reads_total',
      'Reads served by the primary when read replicas are configured',
      [],
      () => {
        const report = this.sources.replicas?.();
        return report && [{ value: report.primaryReads }];
      },
    );
  }

  /** Sets (or replaces) some sources; those not named are kept. */
  setSources(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  callStarted(_method: string, _transport: Transport, longLived: boolean): void {
    if (longLived) this.watchStreams.inc();
  }

  callFinished(method: string, transport: Transport, code: string, seconds: number, longLived: boolean): void {
    const key = `${method}\n${code}\n${transport}`;
    let series = this.callSeries.get(key);
    if (!series) {
      series = { requests: this.requests.series(key, { method, code, transport }) };
      this.callSeries.set(key, series);
    }
    series.requests.value++;
    if (longLived) {
      this.watchStreams.dec();
      return;
    }
    // Created on first use: long-lived streams have no duration series.
    series.duration ??= this.durations.series(`${method}\n${transport}`, { method, transport });
    series.duration.observe(seconds);
  }

  /** Counts one dispatched sub-problem. */
  dispatched(kind: DispatchKind): void {
    let series = this.dispatchSeries.get(kind);
    if (!series) {
      series = this.dispatches.series(kind, { kind });
      this.dispatchSeries.set(kind, series);
    }
    series.value++;
  }

  /** One datastore operation (head_revision, query_relationships, read_write, ...): its duration and outcome. */
  datastoreOperation(operation: string, seconds: number, ok: boolean): void {
    let series = this.datastoreSeries.get(operation);
    if (!series) {
      series = {
        duration: this.datastoreDurations.series(operation, { operation }),
        ok: this.datastoreQueries.series(`${operation}\nok`, { operation, outcome: 'ok' }),
        error: this.datastoreQueries.series(`${operation}\nerror`, { operation, outcome: 'error' }),
      };
      this.datastoreSeries.set(operation, series);
    }
    series.duration.observe(seconds);
    (ok ? series.ok : series.error).value++;
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
