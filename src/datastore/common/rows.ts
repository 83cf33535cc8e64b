/**
 * The relationship columns both SQL backends (sqlite/, postgres/) store alike: their names, the key
 * order results are sorted in, and the conversions between a row and a relationship once the caveat
 * context and expiry columns, whose types differ by backend, are decoded or encoded by the backend.
 */
import type { Relationship } from '../../relationships/relationship.js';

/** A stored row version's columns. */
export const ROW_COLUMNS =
  'id, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, caveat_name, caveat_context, expires_at, created_rev';
/** The relationship key's columns, in the order results are sorted in. */
export const KEY_ORDER = 'resource_type, resource_id, relation, subject_type, subject_id, subject_relation';

/** The columns that are text in both backends: the key and the caveat name. */
export interface RowTextColumns {
  resource_type: string;
  resource_id: string;
  relation: string;
  subject_type: string;
  subject_id: string;
  subject_relation: string;
  caveat_name: string | null;
}

/** Column values of a relationship in table order (resource … subject_relation, caveat, expiry). */
export type RowValues<Expiry> = [
  string,
  string,
  string,
  string,
  string,
  string,
  string | null,
  string | null,
  Expiry | null,
];

/** The relationship a row stores, given its decoded caveat context and expiry; optional fields absent when unset. */
export function rowRelationship(
  row: RowTextColumns,
  context: Record<string, unknown> | null,
  expiresAt: Date | null,
): Relationship {
  const r: Relationship = {
    resource: { type: row.resource_type, id: row.resource_id },
    relation: row.relation,
    subject: { type: row.subject_type, id: row.subject_id, relation: row.subject_relation },
  };
  if (row.caveat_name !== null)
    r.caveat = context === null ? { name: row.caveat_name } : { name: row.caveat_name, context };
  if (expiresAt !== null) r.expiresAt = expiresAt;
  return r;
}

/** The values of a row's columns in table order, given its caveat context as JSON text and its expiry. */
export function rowValues<Expiry>(
  row: RowTextColumns,
  contextJson: string | null,
  expiresAt: Expiry | null,
): RowValues<Expiry> {
  return [
    row.resource_type,
    row.resource_id,
    row.relation,
    row.subject_type,
    row.subject_id,
    row.subject_relation,
    row.caveat_name,
    contextJson,
    expiresAt,
  ];
}
