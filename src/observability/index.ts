/** Metrics (Prometheus) and tracing (OpenTelemetry) for `pemba serve`. */
export { Metrics } from './metrics.js';
export type { DatastoreObserver, DispatchKind, MetricsSources, ReplicaReport, ReplicaStats } from './metrics.js';
export { startMetricsServer } from './metrics-server.js';
export type { MetricsServer } from './metrics-server.js';
export { instrumentDatastore } from './instrumented-datastore.js';
export type { DatastoreOperation } from './instrumented-datastore.js';
export {
  extractTraceContext,
  injectTraceContext,
  startCallSpan,
  startTracing,
  tracingEnabled,
  withSpan,
} from './tracing.js';
export type { CallSpan, Tracing, TracingConfig, TracingProvider } from './tracing.js';
