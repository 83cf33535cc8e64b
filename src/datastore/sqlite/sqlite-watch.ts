/**
 * Watch support: reading commits from the change log (watchers are woken by the shared
 * CommitNotifier, which also polls for commits other processes make to the same file).
 */
import type { RelationshipChange, Revision, RevisionChanges } from '../datastore.js';
import type { StatementCache } from './sqlite-queries.js';
import { toRelationship } from './sqlite-queries.js';

interface ChangeRow {
  revision: number;
  schema: string | null;
  operation: 'TOUCH' | 'DELETE' | null;
  resource_type: string;
  resource_id: string;
  relation: string;
  subject_type: string;
  subject_id: string;
  subject_relation: string;
  caveat_name: string | null;
  caveat_context: string | null;
  expires_at: number | null;
}

/** Commits in (after, after + maxCommits], ascending, with their changes and schema. */
export function readCommits(stmts: StatementCache, after: Revision, maxCommits: number): RevisionChanges[] {
  const rows = stmts.get(
    'SELECT c.revision, s.text AS schema, ch.operation, ch.resource_type, ch.resource_id, ch.relation, ch.subject_type, ' +
      'ch.subject_id, ch.subject_relation, ch.caveat_name, ch.caveat_context, ch.expires_at FROM commits c ' +
      'LEFT JOIN schemas s ON s.revision = c.revision LEFT JOIN changes ch ON ch.revision = c.revision ' +
      'WHERE c.revision > ? AND c.revision <= ? ORDER BY c.revision, ch.ordinal',
  ).all(after, after + BigInt(maxCommits)) as ChangeRow[];
  const commits: RevisionChanges[] = [];
  let last: RevisionChanges | undefined;
  for (const row of rows) {
    const revision = BigInt(row.revision);
    if (last?.revision !== revision) {
      last = { revision, changes: [], ...(row.schema !== null ? { schema: row.schema } : {}) };
      commits.push(last);
    }
    if (row.operation !== null) {
      const change: RelationshipChange = { operation: row.operation, relationship: toRelationship(row) };
      last.changes.push(change);
    }
  }
  return commits;
}
