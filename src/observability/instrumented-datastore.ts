/**
 * A datastore that times its operations (for pemba_datastore_* metrics) and, when tracing is on,
 * opens a span for each one under the span of the call that asked for it. The wrapper is a Proxy,
 * so whatever else the concrete datastore offers (`gc`, `replicaStats`, `primaryReads`, `id`, ...)
 * is still there, called on the datastore itself, and `instanceof` still holds.
 *
 * Datastore spans are opened only inside an existing span (an API call, a remote dispatch): work
 * with no trace to join (background GC, index maintenance) would otherwise start a trace per query.
 */
import { context, SpanKind, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import type {
  Datastore,
  QueryOptions,
  ReadWriteTransaction,
  RelationshipQuery,
  SnapshotReader,
} from '../datastore/datastore.js';
import type { Revision, SnapshotOptions, WriteOptions } from '../datastore/datastore.js';
import { withOverrides } from '../datastore/common/overridden.js';
import type { DatastoreObserver } from './metrics.js';
import { failSpan, tracer, tracingEnabled } from './tracing.js';

export type { DatastoreObserver } from './metrics.js';

/** Operation names, as metric labels; spans are named `datastore.<operation>`. */
export type DatastoreOperation =
  | 'head_revision'
  | 'optimized_revision'
  | 'assert_revision_readable'
  | 'query_relationships'
  | 'read_schema'
  | 'read_write';

const SPAN_NAMES: Record<DatastoreOperation, string> = {
  head_revision: 'datastore.head_revision',
  optimized_revision: 'datastore.optimized_revision',
  assert_revision_readable: 'datastore.assert_revision_readable',
  query_relationships: 'datastore.query_relationships',
  read_schema: 'datastore.read_schema',
  read_write: 'datastore.read_write',
};

/**
 * Wraps `datastore` so each operation is reported to `hooks` (when given) and traced (when tracing
 * is on). Only the outermost calls are timed: the queries inside a readWrite transaction are part of
 * its `read_write` time.
 */
export function instrumentDatastore<D extends Datastore>(datastore: D, hooks?: DatastoreObserver): D {
  const observe = hooks ? (op: string, seconds: number, ok: boolean) => hooks.observe(op, seconds, ok) : undefined;

  /** Times `run()` (a promise-returning operation) as `operation`. */
  function timed<T>(operation: DatastoreOperation, run: () => Promise<T>): Promise<T> {
    const span = tracingEnabled() ? openSpan(operation) : undefined;
    if (!observe && !span) return run();
    const started = performance.now();
    const done = (ok: boolean, error?: unknown) => {
      observe?.(operation, (performance.now() - started) / 1000, ok);
      if (span) {
        if (!ok) failSpan(span, error);
        span.end();
      }
    };
    let promise: Promise<T>;
    try {
      promise = run();
    } catch (error) {
      done(false, error);
      throw error;
    }
    // Observed on the side: the caller awaits the datastore's own promise (no extra hop), and the
    // rejection it sees is the one it would have seen unwrapped.
    promise.then(
      () => done(true),
      (error: unknown) => done(false, error),
    );
    return promise;
  }

  function snapshot(revision: Revision, options?: SnapshotOptions): SnapshotReader {
    const inner = datastore.snapshot(revision, options);
    // Inherits whatever else the reader has (its revision, ...) and overrides the two reads.
    const reader = Object.create(inner) as SnapshotReader;
    Object.defineProperties(reader, {
      queryRelationships: {
        value: (query: RelationshipQuery, options?: QueryOptions) =>
          timed('query_relationships', () => inner.queryRelationships(query, options)),
      },
      readSchema: { value: () => timed('read_schema', () => inner.readSchema()) },
    });
    return reader;
  }

  return withOverrides(datastore, {
    headRevision: () => timed('head_revision', () => datastore.headRevision()),
    optimizedRevision: () => timed('optimized_revision', () => datastore.optimizedRevision()),
    assertRevisionReadable: (revision: Revision) =>
      timed('assert_revision_readable', () => datastore.assertRevisionReadable(revision)),
    snapshot,
    readWrite: <T>(fn: (tx: ReadWriteTransaction) => Promise<T>, options?: WriteOptions) =>
      timed('read_write', () => datastore.readWrite(fn, options)),
  });
}

function openSpan(operation: DatastoreOperation): Span | undefined {
  const active = context.active();
  if (trace.getSpan(active) === undefined) return undefined;
  return tracer().startSpan(
    SPAN_NAMES[operation],
    { kind: SpanKind.CLIENT, attributes: { 'db.operation.name': operation } },
    active,
  );
}
