/**
 * Watch filters (Datastore.watch's `only`): which changes a watcher wants, by type-level fields
 * only, so the SQL backends can leave the others in the database instead of materialising them.
 */
import type { Relationship } from '../relationships/relationship.js';

/** The changes whose relationships have every field given here (an absent field matches any). */
export interface RelationPattern {
  resourceType?: string;
  relation?: string;
  subjectType?: string;
  subjectRelation?: string;
}

/** Whether `r` matches one of `patterns` (everything matches when no patterns are given). */
export function matchesPatterns(r: Relationship, patterns: readonly RelationPattern[] | undefined): boolean {
  return (
    patterns === undefined ||
    patterns.some(
      (p) =>
        (p.resourceType === undefined || p.resourceType === r.resource.type) &&
        (p.relation === undefined || p.relation === r.relation) &&
        (p.subjectType === undefined || p.subjectType === r.subject.type) &&
        (p.subjectRelation === undefined || p.subjectRelation === r.subject.relation),
    )
  );
}

const COLUMNS = [
  ['resourceType', 'resource_type'],
  ['relation', 'relation'],
  ['subjectType', 'subject_type'],
  ['subjectRelation', 'subject_relation'],
] as const;

/**
 * The patterns as an SQL condition to AND onto a query of change rows (both SQL backends name the
 * columns alike): '' without patterns, a false condition for none. `placeholder(i)` writes the
 * i-th parameter (0-based) of `params`; `table` qualifies the columns.
 */
export function patternsSql(
  patterns: readonly RelationPattern[] | undefined,
  placeholder: (i: number) => string,
  table = '',
): { sql: string; params: string[] } {
  if (patterns === undefined) return { sql: '', params: [] };
  if (patterns.length === 0) return { sql: ' AND 1 = 0', params: [] };
  const params: string[] = [];
  const alternatives = patterns.map((p) => {
    const conditions: string[] = [];
    for (const [field, column] of COLUMNS) {
      const value = p[field];
      if (value === undefined) continue;
      conditions.push(`${table}${column} = ${placeholder(params.length)}`);
      params.push(value);
    }
    return conditions.length ? `(${conditions.join(' AND ')})` : '1 = 1';
  });
  return { sql: ` AND (${alternatives.join(' OR ')})`, params };
}
