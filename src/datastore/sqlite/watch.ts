/**
 * Watch support: reading commits from the change log (watchers are woken by the shared
 * CommitNotifier, which also polls for commits other processes make to the same file).
 *
 * Changes are read a page at a time as one JSON text each: better-sqlite3 makes a row object and a
 * V8 string per column per row, so the 1,000,000 changes of a bulk import took ~9 s to read as rows
 * and ~2 s this way (JSON.parse builds the values natively).
 *
 * A commit made only of CREATE-only batches has no entries in the change log: its changes are the
 * rows it created, read from the relationships table by id (see create-batches.ts), or for unfiltered
 * watchers from what this process wrote (recent-creates.ts). GC keeps them readable (gc.ts).
 */
import type { RelationPattern, RelationshipChange, Revision, RevisionChanges } from '../datastore.js';
import type BetterSqlite3 from 'better-sqlite3';
import type { Relationship } from '../../relationships/relationship.js';
import type { StatementCache } from './queries.js';
import { toRelationship } from './queries.js';
import type { RecentCreates } from './recent-creates.js';
import { patternsSql } from '../relation-patterns.js';
import { parseMetadata } from '../common/metadata.js';

type Statement = BetterSqlite3.Statement;

/** Changes per page: bounds the JSON text and the arrays parsed from it. */
const PAGE = 10_000;

/** A relationship's columns, resource_type … expires_at: every tuple read here starts with them. */
const TUPLE_COLUMNS =
  'resource_type, resource_id, relation, subject_type, subject_id, subject_relation, caveat_name, caveat_context, expires_at';
type RelationshipTuple = [
  resource_type: string,
  resource_id: string,
  relation: string,
  subject_type: string,
  subject_id: string,
  subject_relation: string,
  caveat_name: string | null,
  caveat_context: string | null,
  expires_at: number | null,
];

type ChangeTuple = [...RelationshipTuple, operation: 'TOUCH' | 'DELETE', revision: number, ordinal: number];
const OPERATION = 9;
const REVISION = 10;
const ORDINAL = 11;

type CreatedTuple = [...RelationshipTuple, id: number];
const ID = 9;

const COMMITS =
  'SELECT c.revision, s.text, c.created_from, c.created_to, c.metadata, c.committed_at FROM commits c LEFT JOIN schemas s ON s.revision = c.revision ' +
  'WHERE c.revision > ? AND c.revision <= ? ORDER BY c.revision';
const CHANGES = (filter: string) =>
  `SELECT json_group_array(json_array(${TUPLE_COLUMNS}, operation, revision, ordinal)) FROM (SELECT * FROM changes ` +
  `WHERE (revision, ordinal) > (?, ?) AND revision <= ?${filter} ORDER BY revision, ordinal LIMIT ${PAGE})`;
// A commit of CREATE-only batches (create-batches.ts): its changes are its rows, in id order.
const CREATED = (filter: string) =>
  `SELECT json_group_array(json_array(${TUPLE_COLUMNS}, id)) FROM (SELECT * FROM relationships ` +
  `WHERE id > ? AND id <= ? AND created_rev = ?${filter} ORDER BY id LIMIT ${PAGE})`;

/**
 * Commits in (after, after + maxCommits], ascending, with their changes (those matching `only`, if
 * given) and schema. A bounded slice of work: it stops after the commit in which the changes read
 * reach a page (a single larger commit is still read whole), so a watcher far behind reads its
 * backlog in many short reads rather than one long one.
 */
export function readCommits(
  stmts: StatementCache,
  after: Revision,
  maxCommits: number,
  only?: readonly RelationPattern[],
  recent?: RecentCreates,
): RevisionChanges[] {
  let last = after + BigInt(maxCommits);
  const filter = patternsSql(only, () => '?');
  const rows = stmts.get(COMMITS).raw().all(after, last) as [
    number,
    string | null,
    number | null,
    number | null,
    string | null,
    number,
  ][];
  const commits = new Map<number, RevisionChanges>();
  for (const [revision, schema, , , metadata, committedAt] of rows) {
    commits.set(revision, {
      revision: BigInt(revision),
      changes: [],
      ...(schema !== null ? { schema } : {}),
      ...(metadata !== null ? { metadata: parseMetadata(metadata) } : {}),
      committedAt,
    });
  }
  const changes = prepare(stmts, CHANGES(filter.sql), filter.sql).pluck();
  let position: [revision: Revision | number, ordinal: number] = [after + 1n, -1];
  for (;;) {
    const page = JSON.parse(changes.get(...position, last, ...filter.params) as string) as ChangeTuple[];
    for (const t of page) {
      commits.get(t[REVISION])!.changes.push({ operation: t[OPERATION], relationship: tupleRelationship(t) });
    }
    if (page.length < PAGE) break;
    const end = page[page.length - 1];
    position = [end[REVISION], end[ORDINAL]];
    last = BigInt(end[REVISION]); // a full page: finish the commit it ends in, and stop there
  }
  const slice: RevisionChanges[] = [];
  let read = 0;
  let created: Statement | undefined;
  for (const [revision, , from, to] of rows) {
    if (revision > last) break;
    const commit = commits.get(revision)!;
    if (from !== null && to !== null && !(only === undefined && recent?.read(revision, commit.changes))) {
      created ??= prepare(stmts, CREATED(filter.sql), filter.sql).pluck();
      readCreated(created, filter.params, revision, from, to, commit.changes);
    }
    slice.push(commit);
    read += commit.changes.length;
    if (read >= PAGE) break;
  }
  return slice;
}

/**
 * The statement for `sql`: cached when unfiltered; prepared afresh (tens of microseconds) for a
 * filter, whose shapes are the watchers' to choose and would grow the cache without bound.
 */
function prepare(stmts: StatementCache, sql: string, filter: string): Statement {
  return filter === '' ? stmts.get(sql) : stmts.db.prepare(sql);
}

/** Appends to `changes` a TOUCH of each row `created` finds at `revision` with an id in [from, to], in id order. */
function readCreated(
  created: Statement,
  params: readonly string[],
  revision: number,
  from: number,
  to: number,
  changes: RelationshipChange[],
): void {
  let after = from - 1;
  for (;;) {
    const page = JSON.parse(created.get(after, to, revision, ...params) as string) as CreatedTuple[];
    for (const t of page) changes.push({ operation: 'TOUCH', relationship: tupleRelationship(t) });
    if (page.length < PAGE) return;
    after = page[page.length - 1][ID];
  }
}

/** The relationship whose columns begin `t`. */
function tupleRelationship(t: ChangeTuple | CreatedTuple): Relationship {
  return toRelationship({
    resource_type: t[0],
    resource_id: t[1],
    relation: t[2],
    subject_type: t[3],
    subject_id: t[4],
    subject_relation: t[5],
    caveat_name: t[6],
    caveat_context: t[7],
    expires_at: t[8],
  });
}
