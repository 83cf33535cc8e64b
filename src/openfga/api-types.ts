/**
 * Reading OpenFGA's request bodies: JSON as `@openfga/sdk` sends it (snake_case), checked field by
 * field. A body of the wrong shape is a `validation_error`, worded like OpenFGA's protobuf validation.
 */
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import { OpenFgaError } from './errors.js';
import type { TupleKey } from './model/types.js';

export type JsonObject = Record<string, unknown>;

export const invalid = (message: string) => new OpenFgaError('validation_error', message);

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The body as an object (`{}` for an absent body). */
export function bodyOf(body: unknown, what: string): JsonObject {
  if (body === undefined || body === null) return {};
  if (!isObject(body)) throw invalid(`invalid ${what}: the body must be a JSON object`);
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
    throw invalid(`invalid ${what}: the body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return body;
}

export function optionalString(o: JsonObject, field: string, what: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`invalid ${what}.${field}: value must be a string`);
  return v;
}

export function requiredString(o: JsonObject, field: string, what: string): string {
  const v = optionalString(o, field, what);
  if (v === undefined || v === '') throw invalid(`invalid ${what}.${field}: value is required`);
  return v;
}

export function optionalObject(o: JsonObject, field: string, what: string): JsonObject | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(`invalid ${what}.${field}: value must be an object`);
  return v;
}

export function optionalArray(o: JsonObject, field: string, what: string): unknown[] | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid(`invalid ${what}.${field}: value must be an array`);
  return v;
}

/** A `context` (a google.protobuf.Struct): a JSON object. */
export function optionalContext(o: JsonObject, what: string): Record<string, unknown> | undefined {
  return optionalObject(o, 'context', what);
}

/** A page size from a query string or body: 1..max, `fallback` when absent. */
export function pageSize(value: unknown, fallback: number, max: number, what: string): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) {
    throw invalid(`invalid ${what}.PageSize: value must be inside range [1, ${max}]`);
  }
  return n;
}

/** Consistency preference names OpenFGA accepts. */
export type ConsistencyPreference = 'UNSPECIFIED' | 'MINIMIZE_LATENCY' | 'HIGHER_CONSISTENCY';

export function consistencyOf(o: JsonObject, what: string): ConsistencyPreference {
  const v = o.consistency;
  if (v === undefined || v === null || v === 'UNSPECIFIED' || v === 0) return 'UNSPECIFIED';
  if (v === 'MINIMIZE_LATENCY' || v === 1) return 'MINIMIZE_LATENCY';
  if (v === 'HIGHER_CONSISTENCY' || v === 2) return 'HIGHER_CONSISTENCY';
  throw invalid(`invalid ${what}.Consistency: value must be one of the defined enum values`);
}

/**
 * A tuple key `{object, relation, user, condition?}`; `withCondition` false for deletes and the check
 * tuple. Formats are checked by the caller against the model.
 */
export function tupleKeyOf(v: unknown, what: string, withCondition = true): TupleKey {
  if (!isObject(v)) throw invalid(`invalid ${what}: value must be a tuple key object`);
  const object = optionalString(v, 'object', what) ?? '';
  const relation = optionalString(v, 'relation', what) ?? '';
  const user = optionalString(v, 'user', what) ?? '';
  if (object === '' || relation === '' || user === '') {
    throw invalid(`invalid ${what}: object, relation and user are required`);
  }
  if (object.length > 256) throw invalid(`invalid ${what}.Object: value length must be at most 256 bytes`);
  if (relation.length > 50) throw invalid(`invalid ${what}.Relation: value length must be at most 50 bytes`);
  if (user.length > 512) throw invalid(`invalid ${what}.User: value length must be at most 512 bytes`);
  const key: TupleKey = { object, relation, user };
  const condition = v.condition;
  if (withCondition && condition !== undefined && condition !== null) {
    if (!isObject(condition)) throw invalid(`invalid ${what}.Condition: value must be an object`);
    const name = optionalString(condition, 'name', `${what}.Condition`) ?? '';
    if (name === '') throw invalid(`invalid ${what}.Condition.Name: value is required`);
    const context = optionalObject(condition, 'context', `${what}.Condition`);
    key.condition = context ? { name, context } : { name };
  }
  return key;
}

/** `contextual_tuples: {tuple_keys: [...]}` (Check, ListObjects, Expand) or a plain array (ListUsers). */
export function contextualTuplesOf(v: unknown, what: string, plain = false): TupleKey[] {
  if (v === undefined || v === null) return [];
  let list: unknown = v;
  if (!plain) {
    if (!isObject(v)) throw invalid(`invalid ${what}.ContextualTuples: value must be an object`);
    list = v.tuple_keys ?? [];
  }
  if (!Array.isArray(list)) throw invalid(`invalid ${what}.ContextualTuples: value must be an array`);
  if (list.length > 100) {
    throw invalid(`invalid ${what}.ContextualTuples.TupleKeys: value must contain no more than 100 item(s)`);
  }
  return list.map((t, i) => tupleKeyOf(t, `${what}.ContextualTuples[${i}]`));
}
