/**
 * A read-write transaction. Transactions run one at a time, so writes go straight into the row
 * store as versions of the pending revision (head + 1): snapshot readers never read past head, so
 * they cannot see them. Every mutation is recorded in an undo log, and a transaction that throws is
 * rolled back — as a SQL backend's INSERT/UPDATE of created_rev/deleted_rev would be by the database.
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
import { freezeCopy } from '../common/relationships.js';
import type { VersionView } from '../common/updates.js';
import { decideUpdate, validateOperation } from '../common/updates.js';
import type { CommitLog } from './commit-log.js';
import type { RowStore, RowVersion } from './row-store.js';
import { Slot } from './row-store.js';

const VERSION_VIEW: VersionView<RowVersion> = {
  expiresAtMs: (v) => v.expiresAtMs,
  relationship: (v) => v.relationship,
};

/** A slot that had a version pushed (a bare slot: no allocation per created row), or a version marked deleted. */
type Undo = Slot | { slot: Slot; deleted: RowVersion };

export class MemoryTransaction implements ReadWriteTransaction {
  readonly changes: RelationshipChange[] = [];
  schema: string | undefined;
  private readonly undo: Undo[] = [];
  private closed = false;

  constructor(
    private readonly rows: RowStore,
    private readonly log: CommitLog,
    readonly revision: Revision,
    private readonly now: () => number,
    private readonly signal?: AbortSignal,
  ) {}

  async queryRelationships(query: RelationshipQuery, options?: QueryOptions): Promise<Relationship[]> {
    this.assertOpen();
    return this.rows.query(query, this.revision, this.now(), options);
  }

  async readSchema(): Promise<StoredSchema | undefined> {
    this.assertOpen();
    return this.schema !== undefined
      ? { text: this.schema, revision: this.revision }
      : this.log.schemaAt(this.revision);
  }

  async writeSchema(text: string): Promise<void> {
    this.assertOpen();
    this.schema = text;
  }

  /** All or nothing per call: a CREATE conflict undoes this call's earlier updates too. */
  async write(updates: readonly RelationshipUpdate[]): Promise<void> {
    this.assertOpen();
    const mark = this.undo.length;
    const changesMark = this.changes.length;
    try {
      const nowMs = this.now();
      for (const u of updates) this.apply(u, nowMs);
    } catch (e) {
      this.rollback(mark);
      this.changes.length = changesMark;
      throw e;
    }
  }

  async deleteMatching(query: RelationshipQuery, limit?: number): Promise<number> {
    this.assertOpen();
    validateLimit(limit, 'delete');
    const nowMs = this.now();
    const doomed = this.rows.query(query, this.revision, nowMs, { limit });
    for (const r of doomed) this.apply({ operation: 'DELETE', relationship: r }, nowMs);
    return doomed.length;
  }

  /** Undo every mutation after `mark` (all of them by default), newest first. */
  rollback(mark = 0): void {
    while (this.undo.length > mark) {
      const u = this.undo.pop()!;
      if (u instanceof Slot) {
        u.versions.pop();
        if (u.versions.length === 0) this.rows.removeSlot(u);
      } else {
        u.deleted.deletedRev = undefined;
      }
    }
  }

  /** Drop versions this transaction both created and deleted: no revision can ever see them. */
  finish(): void {
    for (const u of this.undo) {
      if (!(u instanceof Slot) && u.deleted.createdRev === this.revision) {
        u.slot.versions = u.slot.versions.filter((v) => v !== u.deleted);
        if (u.slot.versions.length === 0) this.rows.removeSlot(u.slot);
      }
    }
    this.close();
  }

  close(): void {
    this.closed = true;
  }

  /** Carries out the shared rules' decision (common/updates.ts) on the relationship's slot. */
  private apply(u: RelationshipUpdate, nowMs: number): void {
    validateOperation(u);
    const slot = u.operation === 'DELETE' ? this.rows.slotFor(u.relationship) : this.rows.ensureSlot(u.relationship);
    const decision = decideUpdate(u, slot?.current(), VERSION_VIEW, nowMs);
    if (decision.retire) this.markDeleted(slot!, decision.retire);
    if (decision.insert) this.insert(slot!, u.relationship);
    const { report } = decision;
    if (report) this.changes.push({ operation: report.operation, relationship: report.version.relationship });
  }

  private insert(slot: Slot, r: Relationship): void {
    const relationship = freezeCopy(r);
    // Every field set, in one order: one object shape for all versions, and no spread temporary.
    const pushed: RowVersion = {
      relationship,
      createdRev: this.revision,
      deletedRev: undefined,
      expiresAtMs: relationship.expiresAt?.getTime(),
    };
    slot.add(pushed);
    this.undo.push(slot);
    this.changes.push({ operation: 'TOUCH', relationship });
  }

  private markDeleted(slot: Slot, deleted: RowVersion): void {
    deleted.deletedRev = this.revision;
    this.undo.push({ slot, deleted });
  }

  /** Also refuses work once the caller's signal aborted: the transaction will not commit anyway. */
  private assertOpen(): void {
    if (this.closed) throw transactionFinished();
    this.signal?.throwIfAborted();
  }
}
