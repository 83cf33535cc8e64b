/**
 * A read-write transaction on the SQLite writer connection, inside BEGIN IMMEDIATE (so it holds the
 * database's write lock from the start: serialisable, also against other processes). Writes are row
 * versions of the pending revision; snapshot readers use another connection and never see them
 * before COMMIT. Each write() call runs in a savepoint, so a call that throws leaves no trace: the
 * change log is written as the rows are, inside the same savepoint, rather than held in memory
 * (except CREATE-only batches, see create-batches.ts).
 */
import type { Relationship, RelationshipUpdate } from '../../relationships/relationship.js';
import type {
  QueryOptions,
  ReadWriteTransaction,
  RelationshipChange,
  RelationshipQuery,
  Revision,
  StoredSchema,
} from '../datastore.js';
import { transactionFinished } from '../../errors/index.js';
import { validateLimit } from '../common/options.js';
import type { VersionView } from '../common/updates.js';
import { decideUpdate, validateOperation } from '../common/updates.js';
import { copyCreated, INSERT_ROW, insertsOnly, tryCreateAll } from './create-batches.js';
import type { CreatedIds } from './create-batches.js';
import { DeferredSubjectIndex } from './deferred-index.js';
import { sqliteCall } from './errors.js';
import type { RelationshipRow, RelationshipValues, StatementCache } from './queries.js';
import { queryRows, readSchemaAt, storedRelationship, toRelationship, valuesOf, valuesOfRow } from './queries.js';

const SELECT_CURRENT =
  'SELECT id, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, caveat_name, caveat_context, ' +
  'expires_at, created_rev FROM relationships WHERE resource_type = ? AND resource_id = ? AND relation = ? ' +
  'AND subject_type = ? AND subject_id = ? AND subject_relation = ? AND deleted_rev IS NULL';
const INSERT_CHANGE =
  'INSERT INTO changes (revision, ordinal, operation, resource_type, resource_id, relation, subject_type, subject_id, ' +
  'subject_relation, caveat_name, caveat_context, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

const ROW_VIEW: VersionView<RelationshipRow> = {
  expiresAtMs: (row) => row.expires_at ?? undefined,
  relationship: toRelationship,
};

export class SqliteTransaction implements ReadWriteTransaction {
  /** The ordinal of this transaction's next change-log entry. */
  private ordinal = 0;
  private schema: string | undefined;
  private closed = false;
  private readonly subjectIndex: DeferredSubjectIndex;
  /**
   * Whether this transaction's changes are written to the change log. Until the first write that is
   * not a CREATE-only batch they are not: all of them are the rows of `created` (create-batches.ts).
   */
  private logging = false;
  /** The ids of the rows CREATE-only batches inserted while not logging. */
  private created: CreatedIds | undefined;
  /** Their relationships as stored, for this process's watchers (recent-creates.ts). */
  private createdChanges: RelationshipChange[] = [];

  constructor(
    private readonly stmts: StatementCache,
    readonly revision: Revision,
    private readonly now: () => number,
    private readonly signal?: AbortSignal,
  ) {
    this.subjectIndex = new DeferredSubjectIndex(stmts);
  }

  async queryRelationships(query: RelationshipQuery, options?: QueryOptions): Promise<Relationship[]> {
    this.assertOpen();
    sqliteCall(() => this.subjectIndex.restore());
    return sqliteCall(() => queryRows(this.stmts, query, this.revision, this.now(), options)).map(toRelationship);
  }

  async readSchema(): Promise<StoredSchema | undefined> {
    this.assertOpen();
    if (this.schema !== undefined) return { text: this.schema, revision: this.revision };
    return readSchemaAt(this.stmts, this.revision);
  }

  async writeSchema(text: string): Promise<void> {
    this.assertOpen();
    this.schema = text;
  }

  async write(updates: readonly RelationshipUpdate[]): Promise<void> {
    this.assertOpen();
    if (updates.length === 0) return;
    if (insertsOnly(updates)) {
      const ids = sqliteCall(() => tryCreateAll(this.stmts, this.revision, this.ordinal, updates, this.logging));
      if (ids) {
        if (!this.logging) {
          this.created = { first: this.created?.first ?? ids.first, last: ids.last };
          for (const u of updates)
            this.createdChanges.push({ operation: 'TOUCH', relationship: storedRelationship(u.relationship) });
        }
        this.ordinal += updates.length;
        sqliteCall(() => this.subjectIndex.add(updates.length));
        return;
      }
    }
    this.startLogging();
    const nowMs = this.now();
    this.atomically(() => {
      for (const u of updates) this.apply(u, nowMs);
    });
  }

  async deleteMatching(query: RelationshipQuery, limit?: number): Promise<number> {
    this.assertOpen();
    validateLimit(limit, 'delete');
    // Outside the savepoint: rolling it back must not drop the index again behind restore()'s back.
    sqliteCall(() => this.subjectIndex.restore());
    this.startLogging();
    return this.atomically(() => {
      const doomed = queryRows(this.stmts, query, this.revision, this.now(), { limit });
      for (const row of doomed) {
        this.markDeleted(row);
        this.logChange('DELETE', valuesOfRow(row));
      }
      return doomed.length;
    });
  }

  /** Record the commit, its metadata and schema (the change log is already written); the caller then COMMITs. */
  finish(committedAtMs: number, metadata?: string): void {
    this.assertOpen();
    this.closed = true;
    const rev = this.revision;
    sqliteCall(() => {
      this.subjectIndex.restore();
      const created = this.created; // undefined once logging: startLogging() copied its rows
      this.stmts
        .get(
          'INSERT INTO commits (revision, committed_at, created_from, created_to, metadata) ' +
            'VALUES (?, max(?, coalesce((SELECT committed_at FROM commits ORDER BY revision DESC LIMIT 1), ?)), ?, ?, ?)',
        )
        .run(rev, committedAtMs, committedAtMs, created?.first ?? null, created?.last ?? null, metadata ?? null);
      if (this.schema !== undefined)
        this.stmts.get('INSERT INTO schemas (revision, text) VALUES (?, ?)').run(rev, this.schema);
    });
  }

  close(): void {
    this.closed = true;
  }

  /**
   * Closes a transaction that will not commit but whose writes stay in the database transaction
   * until the caller undoes them (a group commit, see datastore.ts): the subject index exists again.
   */
  abandon(): void {
    this.closed = true;
    sqliteCall(() => this.subjectIndex.restore());
  }

  /** From now on write changes to the change log, beginning with those of the rows created so far. */
  private startLogging(): void {
    if (this.logging) return;
    const created = this.created;
    if (created) sqliteCall(() => copyCreated(this.stmts, this.revision, 0, created));
    this.logging = true;
    this.created = undefined;
    this.createdChanges = [];
  }

  /** The changes of a transaction whose changes are its created rows (CREATE-only batches); undefined otherwise. */
  createdRowChanges(): RelationshipChange[] | undefined {
    return this.created ? this.createdChanges : undefined;
  }

  /** Run `fn` in a savepoint: on a throw, roll back its rows and its change-log entries. */
  private atomically<T>(fn: () => T): T {
    const db = this.stmts.db;
    const mark = this.ordinal;
    sqliteCall(() => db.exec('SAVEPOINT pemba_write'));
    try {
      const result = sqliteCall(fn);
      db.exec('RELEASE pemba_write');
      return result;
    } catch (e) {
      this.ordinal = mark;
      sqliteCall(() => db.exec('ROLLBACK TO pemba_write; RELEASE pemba_write'));
      throw e;
    }
  }

  /** Carries out the shared rules' decision (common/updates.ts) on the current (undeleted) row version. */
  private apply(u: RelationshipUpdate, nowMs: number): void {
    validateOperation(u);
    const r = u.relationship;
    const current = this.stmts
      .get(SELECT_CURRENT)
      .get(r.resource.type, r.resource.id, r.relation, r.subject.type, r.subject.id, r.subject.relation) as
      RelationshipRow | undefined;
    const decision = decideUpdate(u, current, ROW_VIEW, nowMs);
    if (decision.retire) this.markDeleted(decision.retire);
    if (decision.insert) this.insert(r);
    if (decision.report) this.logChange(decision.report.operation, valuesOfRow(decision.report.version));
  }

  private insert(r: Relationship): void {
    const values = valuesOf(r);
    this.stmts.get(INSERT_ROW).run(...values, this.revision);
    this.logChange('TOUCH', values);
  }

  private logChange(operation: 'TOUCH' | 'DELETE', values: RelationshipValues): void {
    this.stmts.get(INSERT_CHANGE).run(this.revision, this.ordinal++, operation, ...values);
  }

  /** A version this transaction created is removed outright: no revision can ever see it. */
  private markDeleted(row: RelationshipRow): void {
    if (BigInt(row.created_rev) === this.revision) this.stmts.get('DELETE FROM relationships WHERE id = ?').run(row.id);
    else this.stmts.get('UPDATE relationships SET deleted_rev = ? WHERE id = ?').run(this.revision, row.id);
  }

  /** Also refuses work once the caller's signal aborted: the transaction will not commit anyway. */
  private assertOpen(): void {
    if (this.closed) throw transactionFinished();
    this.signal?.throwIfAborted();
  }
}
