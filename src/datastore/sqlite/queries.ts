/**
 * SQL for reading relationships from SQLite, and conversion between rows and relationships.
 *
 * A read at revision R sees row versions with created_rev <= R < deleted_rev. It is a UNION ALL of
 * two parts so each uses an index: current rows (deleted_rev IS NULL, the partial indexes on
 * resource and subject) and rows deleted after R (the partial index on deleted_rev; near head these
 * are few). Text compares with BINARY collation, i.e. by UTF-8 bytes.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Relationship } from '../../relationships/relationship.js';
import type { QueryOptions, RelationshipQuery, Revision, StoredSchema } from '../datastore.js';
import { validateLimit } from '../common/options.js';
import { laterRevision } from '../common/revisions.js';
import type { RowTextColumns, RowValues } from '../common/rows.js';
import { KEY_ORDER, ROW_COLUMNS, rowRelationship, rowValues } from '../common/rows.js';
import { sqliteCall } from './errors.js';

type Db = BetterSqlite3.Database;

/** A stored row version. */
export interface RelationshipRow extends RowTextColumns {
  id: number;
  /** JSON text. */
  caveat_context: string | null;
  /** Epoch ms. */
  expires_at: number | null;
  created_rev: number;
}

/** Prepared statements, one per distinct SQL text (a query's shape depends only on which fields it sets). */
export class StatementCache {
  private readonly cache = new Map<string, BetterSqlite3.Statement>();
  constructor(readonly db: Db) {}

  get(sql: string): BetterSqlite3.Statement {
    let stmt = this.cache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }
}

/** Rows visible at `revision` and unexpired at `nowMs`, in key order; [] when the query cannot match. */
export function queryRows(
  stmts: StatementCache,
  q: RelationshipQuery,
  revision: Revision,
  nowMs: number,
  options: QueryOptions = {},
): RelationshipRow[] {
  const { limit, after } = options;
  validateLimit(limit, 'query');
  if (limit === 0 || q.resourceIds?.length === 0 || q.subjectIds?.length === 0) return [];
  const where: string[] = ['(expires_at IS NULL OR expires_at > @now)'];
  const params: Record<string, unknown> = { rev: revision, now: nowMs, limit: limit ?? -1 };
  const eq = (column: string, name: string, value: string | undefined) => {
    if (value === undefined) return;
    where.push(`${column} = @${name}`);
    params[name] = value;
  };
  const anyOf = (column: string, name: string, values: readonly string[] | undefined) => {
    if (values === undefined) return;
    where.push(`${column} IN (SELECT value FROM json_each(@${name}))`);
    params[name] = JSON.stringify(values);
  };
  eq('resource_type', 'rt', q.resourceType);
  anyOf('resource_id', 'rids', q.resourceIds);
  if (q.resourceIdPrefix !== undefined) {
    // GLOB is case-sensitive and can use the index for its literal prefix; LIKE is neither here.
    where.push('resource_id GLOB @prefix');
    params.prefix = `${q.resourceIdPrefix.replace(/[*?[]/g, '[$&]')}*`;
  }
  eq('relation', 'rel', q.relation);
  eq('subject_type', 'st', q.subjectType);
  anyOf('subject_id', 'sids', q.subjectIds);
  eq('subject_relation', 'sr', q.subjectRelation);
  if (after) {
    Object.assign(params, {
      a_rt: after.resourceType,
      a_ri: after.resourceId,
      a_rel: after.relation,
      a_st: after.subjectType,
      a_si: after.subjectId,
      a_sr: after.subjectRelation,
    });
    if (q.resourceType === undefined) {
      where.push(`(${KEY_ORDER}) > (@a_rt, @a_ri, @a_rel, @a_st, @a_si, @a_sr)`);
    } else if (after.resourceType === q.resourceType) {
      // Without the fixed first column the row value is an index range (SQLite does not combine them).
      where.push(
        '(resource_id, relation, subject_type, subject_id, subject_relation) > (@a_ri, @a_rel, @a_st, @a_si, @a_sr)',
      );
    } else if (after.resourceType > q.resourceType) {
      return [];
    }
  }
  const filters = where.join(' AND ');
  // The planner prefers the resource index to avoid a sort even when a subject lookup is far narrower.
  const bySubject =
    q.subjectType !== undefined &&
    (q.resourceType === undefined || (q.resourceIds === undefined && q.subjectIds !== undefined));
  const indexed = bySubject ? 'INDEXED BY relationships_current_by_subject ' : '';
  const sql =
    `SELECT ${ROW_COLUMNS} FROM relationships ${indexed}WHERE deleted_rev IS NULL AND created_rev <= @rev AND ${filters} ` +
    `UNION ALL SELECT ${ROW_COLUMNS} FROM relationships WHERE deleted_rev > @rev AND created_rev <= @rev AND ${filters} ` +
    `ORDER BY ${KEY_ORDER} LIMIT @limit`;
  return stmts.get(sql).all(params) as RelationshipRow[];
}

/** The relationship a row stores; optional fields absent when unset. */
export function toRelationship(row: Omit<RelationshipRow, 'id' | 'created_rev'>): Relationship {
  return rowRelationship(
    row,
    row.caveat_context === null ? null : (JSON.parse(row.caveat_context) as Record<string, unknown>),
    row.expires_at === null ? null : new Date(row.expires_at),
  );
}

/** `r` as a read of its row returns it (the caveat context through JSON, the expiry to the ms), as a new object. */
export function storedRelationship(r: Relationship): Relationship {
  const v = valuesOf(r);
  return rowRelationship(
    {
      resource_type: v[0],
      resource_id: v[1],
      relation: v[2],
      subject_type: v[3],
      subject_id: v[4],
      subject_relation: v[5],
      caveat_name: v[6],
    },
    v[7] === null ? null : (JSON.parse(v[7]) as Record<string, unknown>),
    v[8] === null ? null : new Date(v[8]),
  );
}

/** Column values of a relationship in table order (resource … subject_relation, caveat, expiry). */
export type RelationshipValues = RowValues<number>;

export function valuesOf(r: Relationship): RelationshipValues {
  const values = new Array(9) as RelationshipValues;
  putValues(r, values, 0);
  return values;
}

/** Writes the column values of `r` into `out` from `at` on (a multi-row INSERT's arguments); returns the index after them. */
export function putValues(r: Relationship, out: unknown[], at: number): number {
  out[at++] = r.resource.type;
  out[at++] = r.resource.id;
  out[at++] = r.relation;
  out[at++] = r.subject.type;
  out[at++] = r.subject.id;
  out[at++] = r.subject.relation;
  out[at++] = r.caveat?.name ?? null;
  out[at++] = r.caveat?.context === undefined ? null : JSON.stringify(r.caveat.context);
  out[at++] = r.expiresAt ? r.expiresAt.getTime() : null;
  return at;
}

export function valuesOfRow(row: RelationshipRow): RelationshipValues {
  return rowValues(row, row.caveat_context, row.expires_at);
}

/** The newest schema written at or before `revision`. */
export function readSchemaAt(stmts: StatementCache, revision: Revision): StoredSchema | undefined {
  const row = sqliteCall(() =>
    stmts.get('SELECT revision, text FROM schemas WHERE revision <= ? ORDER BY revision DESC LIMIT 1').get(revision),
  ) as { revision: number; text: string } | undefined;
  return row && { text: row.text, revision: BigInt(row.revision) };
}

/** The newest committed revision (0 when nothing was ever committed). */
export function headRevision(stmts: StatementCache): Revision {
  const row = stmts.get('SELECT coalesce(max(revision), 0) AS head FROM commits').get() as { head: number };
  return BigInt(row.head);
}

/** Revisions below this were garbage collected. */
export function oldestReadable(stmts: StatementCache): Revision {
  const row = stmts.get("SELECT value FROM metadata WHERE key = 'oldest_readable'").get() as { value: string };
  return BigInt(row.value);
}

/** The newest retained revision committed at or before `timeMs`, if any. */
export function revisionAt(stmts: StatementCache, timeMs: number): Revision | undefined {
  const row = stmts
    .get('SELECT revision FROM commits WHERE committed_at <= ? ORDER BY committed_at DESC, revision DESC LIMIT 1')
    .get(timeMs) as { revision: number } | undefined;
  return row && BigInt(row.revision);
}

/** The oldest revision still readable at `nowMs`: the one that was current at nowMs - gcWindowMs. */
export function expiryBoundary(stmts: StatementCache, nowMs: number, gcWindowMs: number): Revision {
  return laterRevision(revisionAt(stmts, nowMs - gcWindowMs) ?? 0n, oldestReadable(stmts));
}
