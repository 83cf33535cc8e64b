/**
 * A read-write transaction on one PostgreSQL connection, holding the datastore's commit lock (see
 * datastore.ts), so no other writer commits meanwhile and READ COMMITTED reads see the
 * latest state. Writes are row versions of the pending revision: invisible to snapshot readers, which
 * never read past head. A write() call costs two round trips however many updates it has: look up the
 * current versions of every key at once, decide in memory with the shared rules (common/updates.ts),
 * then one round trip that applies the result set-wise, appends the change log and sets a savepoint
 * (see SharedTransaction: all or nothing per call).
 *
 * Several transactions of a group commit run one after another in one database transaction (a
 * SharedTransaction), each as its own revision; the group's datastore writes their commits and COMMITs.
 */
import type pg from 'pg';
import type { Relationship, RelationshipUpdate } from '../../relationships/relationship.js';
import type { QueryOptions, ReadWriteTransaction, RelationshipQuery, Revision, StoredSchema } from '../datastore.js';
import { datastoreUnavailable, transactionFinished } from '../../errors/index.js';
import { validateLimit } from '../common/options.js';
import { subjectKey } from '../common/relationships.js';
import { ROW_COLUMNS } from '../common/rows.js';
import type { VersionView } from '../common/updates.js';
import { decideUpdate, validateOperation } from '../common/updates.js';
import { query } from './pool.js';
import type { RelationshipRow, RelationshipValues } from './queries.js';
import {
  arrayLiteral,
  columns,
  relationshipsSql,
  SCHEMA_AT,
  textLiteral,
  timestampText,
  toRelationship,
  valuesOf,
  valuesOfRow,
} from './queries.js';

/**
 * Inserted rows after which a transaction refreshes the table statistics itself, and again at each
 * doubling. The datastore's background ANALYZE only sees committed rows: without this, one large
 * transaction (an ImportBulk of a million rows) keeps the statistics of the table before it, the
 * planner scans every current row to look up each batch's keys, and the import turns quadratic.
 * ANALYZE inside the transaction counts its own rows.
 */
const ANALYZE_IN_TRANSACTION_AFTER = 10_000;

/** The current version of a key: stored, or inserted earlier in the same write() call. */
interface Version {
  relationship: Relationship;
  values: RelationshipValues;
  row?: RelationshipRow;
  /** Index into the call's change-log entries, of the one that inserts this version. */
  insert?: number;
}

/** A change-log entry of a write() call; `insert` when it is also a row version to insert. */
interface Entry {
  operation: 'TOUCH' | 'DELETE';
  values: RelationshipValues;
  insert: boolean;
}

const keyString = (r: Relationship) =>
  `${r.resource.type}\u0000${r.resource.id}\u0000${r.relation}\u0000${subjectKey(r.subject.type, r.subject.id, r.subject.relation)}`;
const VERSION_VIEW: VersionView<Version> = {
  expiresAtMs: (v) => v.relationship.expiresAt?.getTime(),
  relationship: (v) => v.relationship,
};

/** Row versions to retire and create, and the change log, decided before anything is written. */
class Plan {
  readonly soft: string[] = [];
  readonly hard: string[] = [];
  readonly entries: Entry[] = [];

  constructor(private readonly revision: Revision) {}

  /** A version this transaction created is removed outright: no revision can ever see it. */
  retire(v: Version): void {
    if (v.insert !== undefined) this.entries[v.insert].insert = false;
    else if (BigInt(v.row!.created_rev) === this.revision) this.hard.push(v.row!.id);
    else this.soft.push(v.row!.id);
  }

  create(r: Relationship): Version {
    const values = valuesOf(r);
    return { relationship: r, values, insert: this.entries.push({ operation: 'TOUCH', values, insert: true }) - 1 };
  }

  report(operation: 'TOUCH' | 'DELETE', values: RelationshipValues): void {
    this.entries.push({ operation, values, insert: false });
  }
}

/** The error of a member undone because one before it in its group failed (it may have read its writes). */
export function undoneWithEarlier(): Error {
  return datastoreUnavailable(
    'PostgreSQL datastore',
    'the transaction was committed with one that failed before it committed, and was undone with it; retry',
  );
}

/** A savepoint of a SharedTransaction (the n-th it set), and the member whose write set it. */
export interface Savepoint {
  readonly name: string;
  readonly n: number;
  readonly owner: number;
}

/** A write not sent yet, and the savepoint before it (its own is the newest). */
interface PendingWrite {
  text: string;
  owner: number;
  savepoint: Savepoint;
  before: Savepoint;
}

/** A write that failed after its call had returned: its member fails with `error`. */
export interface DeferredFailure {
  owner: number;
  error: unknown;
}

/**
 * The database transaction the members of a group commit share, one member after another, and its
 * savepoints. The newest savepoint always marks the state after the last write, so a statement that
 * fails is undone by rolling back to it, and a member that fails by rolling back to the one that was
 * newest when it began; the other members' work stays. A write sets its savepoint in the same round
 * trip (several statements in one simple query, hence no parameters), releasing the one its member's
 * previous write set: the nesting stays one level per member.
 *
 * A write is not sent on its own: it goes with the next statement (the next write call's lookup, the
 * next member's, or the group's COMMIT), so a write call costs one round trip, not two. Its decisions
 * were made under the commit lock from what it looked up, so it fails only for reasons outside the
 * rules (a value PostgreSQL refuses, a lost connection). If it does, after its call returned, its
 * member fails with that error (`failure`), and the members after it, which may have read its
 * writes, retryably; the database transaction is rolled back to the savepoint before it.
 */
export class SharedTransaction {
  private count = 0;
  latest: Savepoint;
  private pending: PendingWrite | undefined;
  /** Set when a deferred write failed; the group clears it once it has undone that write's member. */
  failure: DeferredFailure | undefined;

  constructor(
    readonly client: pg.PoolClient,
    /** The savepoint the first statement set, owned by no member. */
    first: string,
  ) {
    this.latest = { name: first, n: 0, owner: -1 };
  }

  /** A statement that writes nothing; if it fails, the transaction is as before it. */
  async read<R extends pg.QueryResultRow>(text: string, values: unknown[], name?: string): Promise<pg.QueryResult<R>> {
    await this.flush();
    try {
      return await query<R>(this.client, text, values, name);
    } catch (e) {
      await this.rollbackTo(this.latest).catch(() => undefined);
      throw e;
    }
  }

  /**
   * A statement that writes nothing, sent with the pending write if there is one (then as `literal`,
   * which carries its values in the text), else as a prepared statement.
   */
  async readWithPending<R extends pg.QueryResultRow>(
    literal: () => string,
    text: string,
    values: unknown[],
    name: string,
  ): Promise<pg.QueryResult<R>> {
    if (!this.pending) return this.read<R>(text, values, name);
    return (await this.send(literal())) as unknown as pg.QueryResult<R>;
  }

  /** Statements (`;`-separated, no parameters) that `owner` runs, all or nothing, sent with the next statement. */
  async write(statements: string, owner: number): Promise<void> {
    await this.flush();
    const before = this.latest;
    const n = ++this.count;
    const savepoint = { name: `pemba_${n}`, n, owner };
    const release = before.owner === owner ? `RELEASE SAVEPOINT ${before.name}; ` : '';
    this.pending = { text: `${statements}; ${release}SAVEPOINT ${savepoint.name}`, owner, savepoint, before };
    this.latest = savepoint;
  }

  /** The group's last statements (its commits and COMMIT), sent with the pending write. */
  async commit(text: string): Promise<void> {
    await this.send(text);
  }

  /** Undoes everything after `savepoint` (which stays, as the newest); throws when that fails. */
  async rollbackTo(savepoint: Savepoint): Promise<void> {
    const p = this.pending;
    if (p && p.savepoint.n > savepoint.n) this.pending = undefined; // never sent, and undone anyway
    if (this.pending) {
      // The pending write is what `savepoint` marks, and nothing was sent after it: nothing to undo.
      this.latest = savepoint;
      return;
    }
    await query(this.client, `ROLLBACK TO SAVEPOINT ${savepoint.name}`);
    this.latest = savepoint;
  }

  /** Sends the pending write, if any, on its own. */
  private async flush(): Promise<void> {
    if (this.pending) await this.send(undefined);
  }

  /**
   * The pending write (if any) then `text`, in one round trip; the last statement's result. When it
   * fails, finds out which part did: if the write did, it is undone, and recorded as `failure`.
   */
  private async send(text: string | undefined): Promise<pg.QueryResult> {
    const p = this.pending;
    this.pending = undefined;
    if (!p) {
      try {
        return await query(this.client, text!);
      } catch (e) {
        await this.rollbackTo(this.latest).catch(() => undefined);
        throw e;
      }
    }
    let results: pg.QueryResult | pg.QueryResult[];
    try {
      results = (await query(this.client, text === undefined ? p.text : `${p.text}; ${text}`)) as
        pg.QueryResult | pg.QueryResult[];
    } catch (e) {
      // The write's savepoint exists only if the write succeeded.
      const wrote =
        text !== undefined &&
        (await query(this.client, `ROLLBACK TO SAVEPOINT ${p.savepoint.name}`).then(
          () => true,
          () => false,
        ));
      if (wrote) {
        this.latest = p.savepoint;
        throw e;
      }
      this.latest = p.before;
      this.failure ??= { owner: p.owner, error: e };
      // A transaction that cannot even roll back is lost: this fails, and so does everything after.
      await query(this.client, `ROLLBACK TO SAVEPOINT ${p.before.name}`);
      throw e;
    }
    return Array.isArray(results) ? results[results.length - 1] : results;
  }
}

/**
 * The newest committed schema as the transaction's first statement found it: `null` when none was
 * ever written, the stored schema when the datastore had it already, undefined when it must be read.
 */
export interface SchemaHint {
  newest: StoredSchema | null | undefined;
  /** Called with what the transaction read from the database (committed data). */
  read(stored: StoredSchema | undefined): void;
}

export class PostgresTransaction implements ReadWriteTransaction {
  private schema: string | undefined;
  private closed = false;
  /** Change-log entries written so far (the next one's ordinal). */
  private ordinal = 0;
  /** Row versions this transaction inserted (for the datastore's statistics upkeep). */
  inserted = 0;
  private analyzeAt = ANALYZE_IN_TRANSACTION_AFTER;

  constructor(
    private readonly db: SharedTransaction,
    /** This transaction's place in its group (whose savepoints it may release). */
    private readonly member: number,
    readonly revision: Revision,
    private readonly now: () => number,
    private readonly signal?: AbortSignal,
    /** What the datastore knows of the newest committed schema, and whom to tell when it is read. */
    private readonly schemas?: SchemaHint,
  ) {}

  async queryRelationships(q: RelationshipQuery, options?: QueryOptions): Promise<Relationship[]> {
    this.assertOpen();
    return (await this.rows(q, options)).map(toRelationship);
  }

  async readSchema(): Promise<StoredSchema | undefined> {
    this.assertOpen();
    if (this.schema !== undefined) return { text: this.schema, revision: this.revision };
    const newest = this.schemas?.newest;
    if (newest !== undefined) return newest ?? undefined;
    const { rows } = await this.step(() =>
      this.db.read<{ revision: string; text: string }>(SCHEMA_AT, [String(this.revision)]),
    );
    const stored = rows[0] && { text: rows[0].text, revision: BigInt(rows[0].revision) };
    this.schemas?.read(stored);
    return stored;
  }

  async writeSchema(text: string): Promise<void> {
    this.assertOpen();
    // Written with the group's COMMIT, as a literal: one PostgreSQL refuses fails here, alone.
    textLiteral(text);
    this.schema = text;
  }

  async write(updates: readonly RelationshipUpdate[]): Promise<void> {
    this.assertOpen();
    // Before the round trip to look the keys up.
    for (const u of updates) validateOperation(u);
    if (updates.length === 0) return;
    const nowMs = this.now();
    const state = await this.currentVersions(updates.map((u) => u.relationship));
    const plan = new Plan(this.revision);
    for (const u of updates) {
      const key = keyString(u.relationship);
      const decision = decideUpdate(u, state.get(key), VERSION_VIEW, nowMs);
      if (decision.retire) {
        plan.retire(decision.retire);
        state.delete(key);
      }
      if (decision.insert) state.set(key, plan.create(u.relationship));
      if (decision.report) plan.report(decision.report.operation, decision.report.version.values);
    }
    this.assertOpen();
    await this.apply(plan);
  }

  async deleteMatching(q: RelationshipQuery, limit?: number): Promise<number> {
    this.assertOpen();
    validateLimit(limit, 'delete');
    const doomed = await this.rows(q, { limit });
    const plan = new Plan(this.revision);
    for (const row of doomed) {
      const values = valuesOfRow(row);
      plan.retire({ relationship: toRelationship(row), values, row });
      plan.report('DELETE', values);
    }
    this.assertOpen();
    await this.apply(plan);
    return doomed.length;
  }

  /**
   * Ends the transaction: its rows and change log are written; the schema it wrote (if any) is
   * returned, for the datastore to record with the commit.
   */
  finish(): { schema: string | undefined } {
    this.assertOpen();
    this.closed = true;
    return { schema: this.schema };
  }

  close(): void {
    this.closed = true;
  }

  private async rows(q: RelationshipQuery, options?: QueryOptions): Promise<RelationshipRow[]> {
    const sql = relationshipsSql(q, this.revision, this.now(), options);
    return sql ? (await this.step(() => this.db.read<RelationshipRow>(sql.text, sql.values))).rows : [];
  }

  /**
   * The current (undeleted) version of each distinct relationship, by key, in one round trip. One
   * index lookup per key, whatever the statistics say (LATERAL … LIMIT 1: the unique index holds at
   * most one current version per key): as a join, the planner guesses one match in all and merges
   * with a full scan of an index instead, 200 ms for 1,000 keys among 100,000 rows instead of 2 ms.
   */
  private async currentVersions(rels: Relationship[]): Promise<Map<string, Version>> {
    const keys = [...new Map(rels.map((r) => [keyString(r), r] as const)).values()];
    const cols = columns(
      keys.map((r) => valuesOf(r).slice(0, 6)),
      6,
    );
    const sql = (arrays: string[]) =>
      `SELECT r.* FROM unnest(${arrays.join(', ')}) AS k(rt, ri, rel, st, si, sr)
       CROSS JOIN LATERAL (
         SELECT ${ROW_COLUMNS} FROM relationships
         WHERE resource_type = k.rt AND resource_id = k.ri AND relation = k.rel AND subject_type = k.st
           AND subject_id = k.si AND subject_relation = k.sr AND deleted_rev IS NULL
         LIMIT 1
       ) r`;
    const { rows } = await this.step(() =>
      this.db.readWithPending<RelationshipRow>(
        () => sql(cols.map((c) => arrayLiteral(c as string[], 'text[]'))),
        sql(cols.map((_, i) => `$${i + 1}::text[]`)),
        cols,
        'pemba_current_versions',
      ),
    );
    const state = new Map<string, Version>();
    for (const row of rows) {
      const relationship = toRelationship(row);
      state.set(keyString(relationship), { relationship, values: valuesOfRow(row), row });
    }
    return state;
  }

  /**
   * One round trip: retire (before inserting: the unique index allows one current version per key),
   * then insert the new versions and append the change log in one statement from the same arrays.
   */
  private async apply(plan: Plan): Promise<void> {
    const { soft, hard, entries } = plan;
    if (soft.length + hard.length + entries.length === 0) return;
    const rev = String(this.revision);
    const statements: string[] = [];
    if (soft.length)
      statements.push(
        `UPDATE relationships SET deleted_rev = ${rev} WHERE id = ANY(${arrayLiteral(soft, 'bigint[]')})`,
      );
    if (hard.length) statements.push(`DELETE FROM relationships WHERE id = ANY(${arrayLiteral(hard, 'bigint[]')})`);
    let inserts = 0;
    for (const e of entries) if (e.insert) inserts++;
    if (entries.length) {
      const cols = columns(
        entries.map((e) => e.values),
        9,
      ) as (string | null)[][];
      const arrays = [
        ...cols.slice(0, 7).map((c) => arrayLiteral(c, 'text[]')),
        arrayLiteral(cols[7], 'jsonb[]'),
        arrayLiteral((cols[8] as unknown as (Date | null)[]).map(timestampText), 'timestamptz[]'),
        arrayLiteral(
          entries.map((e) => e.operation),
          'text[]',
        ),
        arrayLiteral(
          entries.map((e) => (e.insert ? 't' : 'f')),
          'boolean[]',
        ),
      ];
      const v = 'rt, ri, rel, st, si, sr, cn, cc, ea';
      const insert = inserts
        ? `, i AS (INSERT INTO relationships (resource_type, resource_id, relation, subject_type, subject_id,
             subject_relation, caveat_name, caveat_context, expires_at, created_rev) SELECT ${v}, ${rev} FROM v WHERE ins)`
        : '';
      statements.push(
        `WITH v AS (SELECT * FROM unnest(${arrays.join(', ')}) WITH ORDINALITY AS t(${v}, op, ins, n))${insert}
         INSERT INTO changes (revision, ordinal, operation, resource_type, resource_id, relation, subject_type,
           subject_id, subject_relation, caveat_name, caveat_context, expires_at)
         SELECT ${rev}, ${this.ordinal} + n - 1, op, ${v} FROM v`,
      );
    }
    const analyze = this.inserted + inserts >= this.analyzeAt;
    if (analyze) statements.push('ANALYZE relationships');
    await this.step(() => this.db.write(statements.join('; '), this.member));
    this.ordinal += entries.length;
    this.inserted += inserts;
    if (analyze) this.analyzeAt = this.inserted * 2;
  }

  /**
   * Also refuses work once the caller's signal aborted, or a write of this transaction or of one
   * before it in the group failed after its call had returned: it will not commit anyway.
   */
  private assertOpen(): void {
    if (this.closed) throw transactionFinished();
    this.signal?.throwIfAborted();
    const failure = this.db.failure;
    if (failure) throw failure.owner === this.member ? failure.error : undoneWithEarlier();
  }

  /** Runs a step on the database; one that failed because an earlier member's write did fails retryably. */
  private async step<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      const failure = this.db.failure;
      throw failure && failure.owner !== this.member ? undoneWithEarlier() : e;
    }
  }
}
