/** Pemba behind the differential test's Engine interface: a fresh instance per case (in memory unless given a datastore). */
import type { Datastore } from '../../src/datastore/datastore.js';
import { Pemba, type PembaOptions } from '../../src/pemba.js';
import { PembaError } from '../../src/errors/index.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { Permissionship } from '../../src/requests/requests.js';
import type { Answer, Engine, ErrorClass, Query } from './engines.js';
import { formatExpandTree, normalise, subjectEntry } from './engines.js';

const fullyConsistent = { mode: 'fully_consistent' } as const;

function errorAnswer(e: unknown): Answer {
  if (e instanceof PembaError) {
    let error: ErrorClass;
    if (/max(imum)? depth/i.test(e.message) || e.reason === 'ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED') {
      // SpiceDB answers max depth with FAILED_PRECONDITION; anything else is a difference.
      error = e.code === 'FAILED_PRECONDITION' ? 'max-depth' : 'other';
    } else if (e.code === 'INVALID_ARGUMENT') error = 'invalid-argument';
    else if (e.code === 'FAILED_PRECONDITION') error = 'failed-precondition';
    else error = 'other';
    return { ok: false, error, message: `${e.code}: ${e.message}` };
  }
  // Not a PembaError: a crash (TypeError etc.). Never equal to a SpiceDB error class on purpose.
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { ok: false, error: 'other', message: `non-PembaError ${message}` };
}

const conditional = (p: Permissionship) => p === 'CONDITIONAL_PERMISSION';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export interface PembaEngineOptions {
  /** A new, empty datastore for each case (default: in memory); the engine closes it. */
  datastore?: () => Promise<Datastore>;
  /** Engine options (e.g. caches and index off). */
  pemba?: Omit<PembaOptions, 'datastore'>;
}

export class PembaEngine implements Engine {
  readonly name = 'Pemba';
  private pemba: Pemba | undefined;

  constructor(private readonly options: PembaEngineOptions = {}) {}

  async load(schema: string, relationships: Relationship[]): Promise<void> {
    await this.close();
    const pemba = await Pemba.open({ ...this.options.pemba, datastore: await this.options.datastore?.() });
    this.pemba = pemba;
    await pemba.writeSchema(schema);
    for (let i = 0; i < relationships.length; i += 500) {
      await pemba.writeRelationships({
        updates: relationships.slice(i, i + 500).map((relationship) => ({ operation: 'TOUCH' as const, relationship })),
      });
    }
  }

  /** The loaded Pemba's shared-dispatch counters. */
  dispatchStats(): ReturnType<Pemba['dispatchStats']> | undefined {
    return this.pemba?.dispatchStats();
  }

  async close(): Promise<void> {
    const p = this.pemba;
    this.pemba = undefined;
    if (p) await p.close();
  }

  /** LookupResources in pages of `limit`, following cursors; the concatenation must equal one unpaged call. */
  async pagedLookupResources(q: Extract<Query, { kind: 'lookupResources' }>, limit: number): Promise<Answer> {
    const pemba = this.pemba!;
    try {
      const ids: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 1000; page++) {
        const rs = await collect(
          pemba.lookupResources({
            resourceType: q.resourceType,
            permission: q.permission,
            subject: q.subject,
            consistency: fullyConsistent,
            limit,
            cursor,
          }),
        );
        ids.push(...rs.map((r) => `${r.resourceId}${conditional(r.permissionship) ? '?' : ''}`));
        if (rs.length < limit) break;
        cursor = rs[rs.length - 1].cursor;
      }
      // Pages must not repeat a result.
      if (new Set(ids).size !== ids.length) {
        return { ok: false, error: 'other', message: `paged results repeat: ${ids.join(', ')}` };
      }
      return { ok: true, value: normalise(ids) };
    } catch (e) {
      return errorAnswer(e);
    }
  }

  async run(q: Query): Promise<Answer> {
    const pemba = this.pemba!;
    try {
      switch (q.kind) {
        case 'check': {
          const r = await pemba.check({
            resource: q.resource,
            permission: q.permission,
            subject: q.subject,
            consistency: fullyConsistent,
          });
          return { ok: true, value: [r.permissionship] };
        }
        case 'lookupResources': {
          const rs = await collect(
            pemba.lookupResources({
              resourceType: q.resourceType,
              permission: q.permission,
              subject: q.subject,
              consistency: fullyConsistent,
            }),
          );
          return {
            ok: true,
            value: normalise(rs.map((r) => `${r.resourceId}${conditional(r.permissionship) ? '?' : ''}`)),
          };
        }
        case 'expand': {
          const { tree } = await pemba.expand({
            resource: q.resource,
            permission: q.permission,
            consistency: fullyConsistent,
          });
          return { ok: true, value: [formatExpandTree(tree)] };
        }
        case 'lookupSubjects': {
          const rs = await collect(
            pemba.lookupSubjects({
              resource: q.resource,
              permission: q.permission,
              subjectType: q.subjectType,
              subjectRelation: q.subjectRelation,
              consistency: fullyConsistent,
            }),
          );
          return {
            ok: true,
            value: normalise(
              rs.map((r) =>
                subjectEntry(
                  r.subject.id,
                  conditional(r.subject.permissionship),
                  r.excludedSubjects.map((e) => ({ id: e.id, conditional: conditional(e.permissionship) })),
                ),
              ),
            ),
          };
        }
      }
    } catch (e) {
      return errorAnswer(e);
    }
  }
}
