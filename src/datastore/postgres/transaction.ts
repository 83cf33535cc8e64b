/**
 * A read-write transaction on one PostgreSQL connection, holding the datastore's commit lock (see
 * datastore.ts), so no other writer commits meanwhile and READ COMMITTED reads see the
 * latest state. Writes are row versions of the pending revision: invisible to snapshot readers, which
 * never read past head. A write() call costs a fixed number of round trips however many updates it
 * has: look up the current versions of every key at once, decide in memory with the shared rules
 * (common/updates.ts), then apply the result set-wise in a savepoint (all or nothing per call).
 */
import type pg from 'pg';
import type { Relationship, RelationshipUpdate } from '../../relationships/relationship.js';
import type { QueryOptions, ReadWriteTransaction, RelationshipQuery, Revision, StoredSchema } from '../datastore.js';
import { transactionFinished } from '../../errors/index.js';
import { validateLimit } from '../common/options.js';
import { subjectKey } from '../common/relationships.js';
import { ROW_COLUMNS } from '../common/rows.js';
import type { VersionView } from '../common/updates.js';
import { decideUpdate, validateOperation } from '../common/updates.js';
import { query } from './pool.js';
import type { RelationshipRow, RelationshipValues } from './queries.js';
import { columns, relationshipsSql, SCHEMA_AT, toRelationship, valuesOf, valuesOfRow } from './queries.js';

type Change = ['TOUCH' | 'DELETE', ...RelationshipValues];

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
  /** Index into the call's pending inserts. */
  insert?: number;
}

const keyString = (r: Relationship) =>
  `${r.resource.type}\u0000${r.resource.id}\u0000${r.relation}\u0000${subjectKey(r.subject.type, r.subject.id, r.subject.relation)}`;
const VERSION_VIEW: VersionView<Version> = {
  expiresAtMs: (v) => v.relationship.expiresAt?.getTime(),
  relationship: (v) => v.relationship,
};

/** Row versions to retire and create, decided before anything is written. */
class Plan {
  readonly soft: string[] = [];
  readonly hard: string[] = [];
  readonly inserts: (RelationshipValues | undefined)[] = [];
  readonly changes: Change[] = [];

  constructor(private readonly revision: Revision) {}

  /** A version this transaction created is removed outright: no revision can ever see it. */
  retire(v: Version): void {
    if (v.insert !== undefined) this.inserts[v.insert] = undefined;
    else if (BigInt(v.row!.created_rev) === this.revision) this.hard.push(v.row!.id);
    else this.soft.push(v.row!.id);
  }

  create(r: Relationship): Version {
    const values = valuesOf(r);
    this.changes.push(['TOUCH', ...values]);
    return { relationship: r, values, insert: this.inserts.push(values) - 1 };
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
  /** The change log of this transaction, written at commit. */
  private readonly changes: Change[] = [];
  private schema: string | undefined;
  private closed = false;
  /** Row versions this transaction inserted (for the datastore's statistics upkeep). */
  inserted = 0;
  private analyzeAt = ANALYZE_IN_TRANSACTION_AFTER;

  constructor(
    private readonly client: pg.PoolClient,
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
    const { rows } = await query<{ revision: string; text: string }>(this.client, SCHEMA_AT, [String(this.revision)]);
    const stored = rows[0] && { text: rows[0].text, revision: BigInt(rows[0].revision) };
    this.schemas?.read(stored);
    return stored;
  }

  async writeSchema(text: string): Promise<void> {
    this.assertOpen();
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
      if (decision.report) plan.changes.push([decision.report.operation, ...decision.report.version.values]);
    }
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
      plan.changes.push(['DELETE', ...values]);
    }
    await this.apply(plan);
    return doomed.length;
  }

  /** Record the commit, its change log and schema in one statement; the caller then COMMITs. */
  async finish(committedAtMs: number): Promise<void> {
    this.assertOpen();
    this.closed = true;
    const ops = this.changes.map((c) => c[0]);
    const cols = columns(
      this.changes.map((c) => c.slice(1)),
      9,
    );
    await query(
      this.client,
      `WITH c AS (
         INSERT INTO commits (revision, committed_at)
         VALUES ($1, GREATEST($2::timestamptz, (SELECT committed_at FROM commits ORDER BY revision DESC LIMIT 1)))
       ), ch AS (
         INSERT INTO changes (revision, ordinal, operation, resource_type, resource_id, relation, subject_type, subject_id,
           subject_relation, caveat_name, caveat_context, expires_at)
         SELECT $1, n - 1, op, rt, ri, rel, st, si, sr, cn, cc, ea
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
           $12::jsonb[], $13::timestamptz[]) WITH ORDINALITY AS t(op, rt, ri, rel, st, si, sr, cn, cc, ea, n)
       )
       INSERT INTO schemas (revision, text) SELECT $1, $3::text WHERE $3::text IS NOT NULL`,
      [String(this.revision), new Date(committedAtMs), this.schema ?? null, ops, ...cols],
    );
  }

  close(): void {
    this.closed = true;
  }

  private async rows(q: RelationshipQuery, options?: QueryOptions): Promise<RelationshipRow[]> {
    const sql = relationshipsSql(q, this.revision, this.now(), options);
    return sql ? (await query<RelationshipRow>(this.client, sql.text, sql.values)).rows : [];
  }

  /** The current (undeleted) version of each distinct relationship, by key, in one round trip. */
  private async currentVersions(rels: Relationship[]): Promise<Map<string, Version>> {
    const keys = [...new Map(rels.map((r) => [keyString(r), r] as const)).values()];
    const cols = columns(
      keys.map((r) => valuesOf(r).slice(0, 6)),
      6,
    );
    const { rows } = await query<RelationshipRow>(
      this.client,
      `SELECT ${ROW_COLUMNS.split(', ')
        .map((c) => `r.${c}`)
        .join(', ')}
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS k(rt, ri, rel, st, si, sr)
       JOIN relationships r ON r.resource_type = k.rt AND r.resource_id = k.ri AND r.relation = k.rel
         AND r.subject_type = k.st AND r.subject_id = k.si AND r.subject_relation = k.sr AND r.deleted_rev IS NULL`,
      cols,
    );
    const state = new Map<string, Version>();
    for (const row of rows) {
      const relationship = toRelationship(row);
      state.set(keyString(relationship), { relationship, values: valuesOfRow(row), row });
    }
    return state;
  }

  /** Retire before inserting: the unique index allows one current version per key. */
  private async apply(plan: Plan): Promise<void> {
    const inserts = plan.inserts.filter((v): v is RelationshipValues => v !== undefined);
    if (plan.soft.length + plan.hard.length + inserts.length > 0) {
      const rev = String(this.revision);
      await query(this.client, 'SAVEPOINT pemba_write');
      try {
        if (plan.soft.length)
          await query(this.client, 'UPDATE relationships SET deleted_rev = $1 WHERE id = ANY($2::bigint[])', [
            rev,
            plan.soft,
          ]);
        if (plan.hard.length)
          await query(this.client, 'DELETE FROM relationships WHERE id = ANY($1::bigint[])', [plan.hard]);
        if (inserts.length) {
          await query(
            this.client,
            `INSERT INTO relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
               caveat_name, caveat_context, expires_at, created_rev)
             SELECT *, $10::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
               $7::text[], $8::jsonb[], $9::timestamptz[])`,
            [...columns(inserts, 9), rev],
          );
        }
        await query(this.client, 'RELEASE SAVEPOINT pemba_write');
        this.inserted += inserts.length;
        if (this.inserted >= this.analyzeAt) {
          this.analyzeAt = this.inserted * 2;
          await query(this.client, 'ANALYZE relationships');
        }
      } catch (e) {
        await this.client.query('ROLLBACK TO SAVEPOINT pemba_write').catch(() => undefined);
        throw e;
      }
    }
    this.changes.push(...plan.changes);
  }

  /** Also refuses work once the caller's signal aborted: the transaction will not commit anyway. */
  private assertOpen(): void {
    if (this.closed) throw transactionFinished();
    this.signal?.throwIfAborted();
  }
}
