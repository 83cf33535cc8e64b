/**
 * A benchmark dataset: a schema, a deterministic stream of relationships, and samplers that draw
 * the queries every system answers. Relationships are streamed in batches from a compact model
 * (typed arrays of ids) so the benchmark process itself holds little besides the system under
 * test: the RSS measured after loading belongs to the system, not to a copy of the data.
 */
import type { ObjectRef, Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import type { Rng } from '../rng.js';

export interface CheckQuery {
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
}

export interface LookupResourcesQuery {
  resourceType: string;
  permission: string;
  subject: SubjectRef;
}

export interface LookupSubjectsQuery {
  resource: ObjectRef;
  permission: string;
  subjectType: string;
}

/** `negative`: drawn as real traffic mostly is (most answers NO); `positive`: mostly drawn along a granting path. */
export type CheckMix = 'negative' | 'positive';

export interface Dataset {
  name: string;
  title: string;
  schema: string;
  /** Object counts by kind (users, teams, ...), for the report. */
  sizes: Record<string, number>;
  /** Facts worth stating next to the numbers (largest nested group, depth, ...). */
  notes: string[];
  /** Every relationship, in batches of at most BATCH; a fresh, identical stream on every call. */
  relationships(): Iterable<Relationship[]>;
  sampleCheck(rng: Rng, mix: CheckMix): CheckQuery;
  sampleLookupResources(rng: Rng): LookupResourcesQuery;
  sampleLookupSubjects(rng: Rng): LookupSubjectsQuery;
  /** A new grant for the read/write mix (TOUCHed, so a repeat is harmless). */
  sampleWrite(rng: Rng): Relationship;
}

export const BATCH = 1000;

export const ELLIPSIS = '...';

export const obj = (type: string, id: string): ObjectRef => ({ type, id });
export const subject = (type: string, id: string, relation = ELLIPSIS): SubjectRef => ({ type, id, relation });
export const rel = (resource: ObjectRef, relation: string, s: SubjectRef): Relationship => ({
  resource,
  relation,
  subject: s,
});

/** Groups a stream of relationships into batches of BATCH. */
export function* chunk(items: Iterable<Relationship>): Iterable<Relationship[]> {
  let batch: Relationship[] = [];
  for (const r of items) {
    batch.push(r);
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}
