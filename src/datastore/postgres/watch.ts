/**
 * Watch support: reading commits from the change log. Watchers are woken by the shared
 * CommitNotifier, polling the head for other processes' commits — rather than LISTEN/NOTIFY: no
 * dedicated connection to keep alive and re-subscribe after PostgreSQL restarts, nothing missed while
 * disconnected.
 */
import type pg from 'pg';
import type { RelationPattern, RelationshipChange, Revision, RevisionChanges } from '../datastore.js';
import { query } from './pool.js';
import type { RelationshipRow } from './queries.js';
import { toRelationship } from './queries.js';
import { patternsSql } from '../relation-patterns.js';
import { parseMetadata } from '../common/metadata.js';

type ChangeRow = Omit<RelationshipRow, 'id' | 'created_rev' | 'resource_type'> & {
  oldest: string;
  revision: string | null;
  schema: string | null;
  metadata: string | null;
  committed_at: Date | null;
  operation: 'TOUCH' | 'DELETE' | null;
  resource_type: string;
};

/**
 * The oldest readable revision and the commits in (after, after + maxCommits], ascending, with their
 * changes (those matching `only`, if given), schema and metadata: one statement, so garbage collection cannot
 * remove part of what it reads.
 */
export async function readCommits(
  pool: pg.Pool,
  after: Revision,
  maxCommits: number,
  only?: readonly RelationPattern[],
): Promise<{ oldest: Revision; commits: RevisionChanges[] }> {
  // Inside the join's condition: a commit without matching changes is still one row (NULL changes).
  const filter = patternsSql(only, (i) => `$${3 + i}`, 'ch.');
  // The same condition on the first change's lookup (same placeholders, same parameters).
  const firstFilter = patternsSql(only, (i) => `$${3 + i}`, 'f.');
  const { rows } = await query<ChangeRow>(
    pool,
    `SELECT s.oldest, x.* FROM (SELECT value::bigint AS oldest FROM metadata WHERE key = 'oldest_readable') s
     LEFT JOIN LATERAL (
       SELECT c.revision, c.committed_at, sc.text AS schema,
         -- A commit's metadata on its first row only, not once per change.
         CASE WHEN ch.ordinal IS NOT DISTINCT FROM fc.ordinal THEN c.metadata END AS metadata,
         ch.operation, ch.resource_type, ch.resource_id, ch.relation, ch.subject_type,
         ch.subject_id, ch.subject_relation, ch.caveat_name, ch.caveat_context, ch.expires_at
       FROM commits c LEFT JOIN schemas sc ON sc.revision = c.revision
       LEFT JOIN LATERAL (
         SELECT min(f.ordinal) AS ordinal FROM changes f WHERE c.metadata IS NOT NULL AND f.revision = c.revision${firstFilter.sql}
       ) fc ON true
       LEFT JOIN changes ch ON ch.revision = c.revision${filter.sql}
       WHERE c.revision > $1 AND c.revision <= $2 ORDER BY c.revision, ch.ordinal
     ) x ON true`,
    [String(after), String(after + BigInt(maxCommits)), ...filter.params],
  );
  const commits: RevisionChanges[] = [];
  let last: RevisionChanges | undefined;
  for (const row of rows) {
    if (row.revision === null) continue;
    const revision = BigInt(row.revision);
    if (last?.revision !== revision) {
      last = {
        revision,
        changes: [],
        ...(row.schema !== null ? { schema: row.schema } : {}),
        ...(row.metadata !== null ? { metadata: parseMetadata(row.metadata) } : {}),
        committedAt: row.committed_at!.getTime(),
      };
      commits.push(last);
    }
    if (row.operation !== null) {
      const change: RelationshipChange = { operation: row.operation, relationship: toRelationship(row) };
      last.changes.push(change);
    }
  }
  return { oldest: BigInt(rows[0].oldest), commits };
}
