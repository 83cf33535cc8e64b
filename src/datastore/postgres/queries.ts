/**
 * SQL for reading relationships from PostgreSQL, and conversion between rows and relationships.
 *
 * A read at revision R sees row versions with created_rev <= R < deleted_rev: a UNION ALL of current
 * rows (deleted_rev IS NULL, the partial indexes on resource and subject) and rows deleted after R
 * (the partial index on deleted_rev; near head these are few). Key columns are COLLATE "C", so order
 * and cursor comparisons are by bytes, as in SQLite.
 */
import type { Relationship } from '../../relationships/relationship.js';
import type { QueryOptions, RelationshipQuery, Revision } from '../datastore.js';
import { validateLimit } from '../common/options.js';
import type { RowTextColumns, RowValues } from '../common/rows.js';
import { KEY_ORDER, ROW_COLUMNS, rowRelationship, rowValues } from '../common/rows.js';

/** A stored row version; bigint columns arrive as strings. */
export interface RelationshipRow extends RowTextColumns {
  id: string;
  caveat_context: Record<string, unknown> | null;
  expires_at: Date | null;
  created_rev: string;
}

export interface Sql {
  text: string;
  values: unknown[];
}

/**
 * The rows visible at `revision` and unexpired at `nowMs`, in key order; undefined when the query
 * cannot match anything. Parameters are numbered from `values.length + 1`.
 */
export function relationshipsSql(
  q: RelationshipQuery,
  revision: Revision,
  nowMs: number,
  options: QueryOptions = {},
  values: unknown[] = [],
): Sql | undefined {
  const { limit, after } = options;
  validateLimit(limit, 'query');
  if (limit === 0 || q.resourceIds?.length === 0 || q.subjectIds?.length === 0) return undefined;
  const p = (v: unknown) => `$${values.push(v)}`;
  const rev = p(String(revision));
  const where: string[] = [`(expires_at IS NULL OR expires_at > ${p(new Date(nowMs))})`];
  if (q.resourceType !== undefined) where.push(`resource_type = ${p(q.resourceType)}`);
  if (q.resourceIds !== undefined) where.push(`resource_id = ANY(${p(q.resourceIds)}::text[])`);
  if (q.resourceIdPrefix !== undefined)
    where.push(`resource_id LIKE ${p(`${q.resourceIdPrefix.replace(/[\\%_]/g, '\\$&')}%`)}`);
  if (q.relation !== undefined) where.push(`relation = ${p(q.relation)}`);
  if (q.subjectType !== undefined) where.push(`subject_type = ${p(q.subjectType)}`);
  if (q.subjectIds !== undefined) where.push(`subject_id = ANY(${p(q.subjectIds)}::text[])`);
  if (q.subjectRelation !== undefined) where.push(`subject_relation = ${p(q.subjectRelation)}`);
  if (after) {
    const a = [
      after.resourceType,
      after.resourceId,
      after.relation,
      after.subjectType,
      after.subjectId,
      after.subjectRelation,
    ];
    where.push(`(${KEY_ORDER}) > (${a.map((v) => `${p(v)}::text`).join(', ')})`);
  }
  const filters = where.join(' AND ');
  return {
    text:
      `(SELECT ${ROW_COLUMNS} FROM relationships WHERE deleted_rev IS NULL AND created_rev <= ${rev} AND ${filters}) ` +
      `UNION ALL (SELECT ${ROW_COLUMNS} FROM relationships WHERE deleted_rev > ${rev} AND created_rev <= ${rev} AND ${filters}) ` +
      `ORDER BY ${KEY_ORDER}${limit !== undefined ? ` LIMIT ${p(limit)}` : ''}`,
    values,
  };
}

/**
 * The head and the oldest readable revision, together with the rows of `inner` when given (NULL
 * columns when it has none). One statement, so one snapshot: when it shows the oldest readable
 * revision at or below R, garbage collection (which raises it before deleting) had not yet touched
 * anything R needs.
 */
export function withRevisionState(inner: Sql | undefined, columns = 'q.*'): Sql {
  const state =
    "(SELECT (SELECT coalesce(max(revision), 0) FROM commits) AS head, (SELECT value::bigint FROM metadata WHERE key = 'oldest_readable') AS oldest) s";
  if (!inner) return { text: `SELECT s.head, s.oldest FROM ${state}`, values: [] };
  return {
    text: `SELECT s.head, s.oldest, ${columns} FROM ${state} LEFT JOIN LATERAL (${inner.text}) q ON true`,
    values: inner.values,
  };
}

/** The relationship a row stores; optional fields absent when unset. */
export function toRelationship(row: Omit<RelationshipRow, 'id' | 'created_rev'>): Relationship {
  return rowRelationship(row, row.caveat_context, row.expires_at);
}

/** Column values of a relationship in table order (resource … subject_relation, caveat, expiry). */
export type RelationshipValues = RowValues<Date>;

export function valuesOf(r: Relationship): RelationshipValues {
  return [
    r.resource.type,
    r.resource.id,
    r.relation,
    r.subject.type,
    r.subject.id,
    r.subject.relation,
    r.caveat?.name ?? null,
    r.caveat?.context === undefined ? null : JSON.stringify(r.caveat.context),
    r.expiresAt ? new Date(r.expiresAt.getTime()) : null,
  ];
}

export function valuesOfRow(row: RelationshipRow): RelationshipValues {
  return rowValues(row, row.caveat_context === null ? null : JSON.stringify(row.caveat_context), row.expires_at);
}

/** Column-wise arrays of `rows` for `unnest($1::text[], …)`: PostgreSQL's fast multi-row insert. */
export function columns<T extends unknown[]>(rows: readonly T[], width: number): unknown[][] {
  const out: unknown[][] = Array.from({ length: width }, () => []);
  for (const row of rows) for (let i = 0; i < width; i++) out[i].push(row[i]);
  return out;
}

/** The newest schema written at or before the revision parameter `rev`. */
export const SCHEMA_AT = 'SELECT revision, text FROM schemas WHERE revision <= $1 ORDER BY revision DESC LIMIT 1';

/**
 * SQL literals, for the statements the datastore sends without parameters (simple query protocol)
 * so that one round trip carries several statements (see transaction.ts). Strings are E'' literals,
 * whose escapes (\\ and '') mean the same whatever standard_conforming_strings is; arrays are the
 * text form pg itself would send as a parameter, in such a literal, with a cast.
 */
export function textLiteral(s: string): string {
  if (s.includes('\u0000')) throw nulInText();
  return `E'${s.replace(/[\\']/g, '$&$&')}'`;
}

/** An array literal of `values` (null: NULL), cast to `type` (an array type such as text[]). */
export function arrayLiteral(values: readonly (string | null)[], type: string): string {
  let s = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) s += ',';
    s += v === null ? 'NULL' : `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${textLiteral(`${s}}`)}::${type}`;
}

/** A timestamp's text form for a literal (what PostgreSQL parses back to the same instant). */
export function timestampText(d: Date | null): string | null {
  if (d === null) return null;
  const ms = d.getTime();
  // toISOString covers years 0–9999; PostgreSQL refuses anything else, as it would the parameter.
  return Number.isNaN(ms) ? 'invalid' : d.toISOString();
}

/** What PostgreSQL answers for a NUL character in a text parameter (it cannot store one). */
function nulInText(): Error {
  return Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
}
