/**
 * instrumentDatastore over the memory datastore: operations are reported with their outcome, the
 * datastore still behaves the same, and what the concrete class adds is still reachable.
 */
import type { Datastore } from '../../src/datastore/datastore.js';
import { describe, expect, it } from 'vitest';
import { MemoryDatastore, openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { instrumentDatastore } from '../../src/observability/instrumented-datastore.js';
import { Metrics } from '../../src/observability/metrics.js';
import { tracingEnabled } from '../../src/observability/tracing.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import { parsePrometheusText } from './prometheus-text.js';

function recorder() {
  const seen: Array<{ operation: string; seconds: number; ok: boolean }> = [];
  return {
    seen,
    hooks: { observe: (operation: string, seconds: number, ok: boolean) => void seen.push({ operation, seconds, ok }) },
    count: (operation: string, ok = true) => seen.filter((s) => s.operation === operation && s.ok === ok).length,
  };
}

describe('instrumentDatastore', () => {
  it('reports each operation, and the datastore answers as before', async () => {
    const inner = openMemoryDatastore();
    const r = recorder();
    const ds = instrumentDatastore(inner, r.hooks);

    const { revision, result } = await ds.readWrite(async (tx) => {
      await tx.writeSchema('definition user {}\ndefinition doc { relation reader: user }');
      await tx.write([{ operation: 'TOUCH', relationship: parseRelationship('doc:1#reader@user:ann') }]);
      // Queries inside a transaction are part of its read_write time, not counted alone.
      return (await tx.queryRelationships({ resourceType: 'doc' })).length;
    });
    expect(result).toBe(1);
    expect(r.count('read_write')).toBe(1);
    expect(await ds.headRevision()).toBe(revision);
    expect(await ds.optimizedRevision()).toBe(revision);
    await ds.assertRevisionReadable(revision);
    const snapshot = ds.snapshot(revision);
    expect(snapshot.revision).toBe(revision);
    const rels = await snapshot.queryRelationships({ resourceType: 'doc' }, { limit: 10 });
    expect(rels.map((x) => x.subject.id)).toEqual(['ann']);
    expect((await snapshot.readSchema())?.text).toContain('definition doc');

    for (const op of [
      'head_revision',
      'optimized_revision',
      'assert_revision_readable',
      'query_relationships',
      'read_schema',
    ]) {
      expect(r.count(op), op).toBe(1);
    }
    expect(r.count('query_relationships', false)).toBe(0);
    for (const s of r.seen) expect(s.seconds).toBeGreaterThanOrEqual(0);
    await ds.close();
  });

  it('counts failures as outcome=error and passes the error on', async () => {
    const metrics = new Metrics();
    const ds = instrumentDatastore(openMemoryDatastore(), metrics.datastore);
    await expect(ds.assertRevisionReadable(999n)).rejects.toThrow();
    const boom = new Error('boom');
    await expect(ds.readWrite(() => Promise.reject(boom))).rejects.toBe(boom);
    await ds.readWrite(async () => undefined);
    await ds.close();
    // A closed datastore throws synchronously inside its async method: still a rejected promise.
    await expect(ds.headRevision()).rejects.toThrow();

    const p = parsePrometheusText(await metrics.text());
    const q = (operation: string, outcome: string) => p.value('pemba_datastore_queries_total', { operation, outcome });
    expect(q('assert_revision_readable', 'error')).toBe(1);
    expect(q('read_write', 'error')).toBe(1);
    expect(q('read_write', 'ok')).toBe(1);
    expect(q('head_revision', 'error')).toBe(1);
    expect(q('head_revision', 'ok')).toBe(0); // both outcomes exist once an operation has run
    expect(p.value('pemba_datastore_query_duration_seconds_count', { operation: 'read_write' })).toBe(2);
  });

  it('counts an operation that throws synchronously', async () => {
    const inner = openMemoryDatastore();
    const r = recorder();
    const ds = instrumentDatastore(inner, r.hooks);
    const broken = Object.assign(Object.create(inner) as MemoryDatastore, {
      headRevision: () => {
        throw new Error('sync');
      },
    });
    const wrapped = instrumentDatastore(broken, r.hooks);
    expect(() => wrapped.headRevision()).toThrow('sync');
    expect(r.count('head_revision', false)).toBe(1);
    await ds.close();
  });

  it('keeps the concrete class: its id, extra methods and instanceof', async () => {
    const inner = openMemoryDatastore();
    const ds = instrumentDatastore(inner, recorder().hooks);
    expect(ds).toBeInstanceOf(MemoryDatastore);
    expect(ds.id).toBe(inner.id);
    // gc is MemoryDatastore's own; it runs on the datastore itself (its private state).
    expect(typeof ds.gc).toBe('function');
    const result = await ds.gc();
    expect(result).toEqual(await inner.gc());
    expect(ds.gc).toBe(ds.gc); // bound once
    // Watch is passed through untouched.
    const abort = new AbortController();
    const changes = ds.watch(0n, abort.signal)[Symbol.asyncIterator]();
    const next = changes.next();
    await ds.readWrite((tx) =>
      tx.write([{ operation: 'TOUCH', relationship: parseRelationship('doc:1#reader@user:bob') }]),
    );
    expect((await next).value?.changes).toHaveLength(1);
    abort.abort();
    await changes.return?.();
    await ds.close();
  });

  it('passes snapshot options on (fully_consistent reads stay on the primary)', async () => {
    const inner = openMemoryDatastore();
    const seen: unknown[] = [];
    const spy = new Proxy(inner, {
      get(target, key, receiver) {
        if (key !== 'snapshot') return Reflect.get(target, key, receiver) as unknown;
        return (revision: bigint, options?: { primary?: boolean }) => {
          seen.push(options);
          return target.snapshot(revision);
        };
      },
    });
    const ds: Datastore = instrumentDatastore(spy, recorder().hooks);
    ds.snapshot(0n, { primary: true });
    ds.snapshot(0n);
    expect(seen).toEqual([{ primary: true }, undefined]);
    await ds.close();
  });

  it('adds no spans and little cost with tracing off', async () => {
    expect(tracingEnabled()).toBe(false);
    const inner = openMemoryDatastore();
    const ds = instrumentDatastore(inner);
    // Without hooks and tracing, operations are the datastore's own promises.
    const snapshot = ds.snapshot(0n);
    expect(await snapshot.queryRelationships({})).toEqual([]);
    const n = 20_000;
    const time = async (reader: { queryRelationships: typeof snapshot.queryRelationships }) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await reader.queryRelationships({ resourceType: 'doc', resourceIds: ['1'] });
      return performance.now() - t0;
    };
    const metrics = new Metrics();
    const measured = instrumentDatastore(inner, metrics.datastore).snapshot(0n);
    const plain = inner.snapshot(0n);
    await time(plain);
    await time(measured);
    const base = Math.min(await time(plain), await time(plain));
    const withMetrics = Math.min(await time(measured), await time(measured));
    // Per operation: a Map lookup, two clock reads and two prom-client updates (~1-2 µs).
    expect((withMetrics - base) / n).toBeLessThan(0.02);
    await ds.close();
  });
});
