/**
 * A node-local, revision-aware copy of a durable datastore's relationships, kept from its change feed,
 * so snapshot reads are answered from memory instead of by a SQLite or PostgreSQL query.
 *
 * Exactness. The mirror is loaded at the datastore's head H (read in pages at that one snapshot),
 * then follows `watch(H)` commit by commit into multi-version rows (the memory datastore's RowStore):
 * a change at revision R retires the current version at R and adds the new one created at R. So the
 * rows equal the datastore's at every revision Q with `floor <= Q <= applied`, where `applied` is the
 * last commit applied and `floor` the oldest revision whose history is still kept (H after a load,
 * then advanced by collection). `covers(Q)` says whether Q is in that range; everything else — an
 * older revision, a newer one the feed has not delivered yet, any moment the mirror is not live — is
 * read from the datastore itself, at the same revision, so an answer never depends on which path
 * served it. Expired relationships are filtered by the same clock the datastores use.
 *
 * Memory. Every row version is counted (an estimate from its strings and a fixed overhead). History
 * older than `historyMs` is collected every second; past the budget, all history is dropped (older
 * revisions go to the datastore); if the current rows alone exceed it the mirror empties itself and
 * stops answering, reads take the datastore's path, and a new load is tried after `overBudgetRetryMs`.
 *
 * Failure. A feed error (connection lost, a collected revision after a long stall) stops the mirror
 * answering at once; it reloads from the head after a backoff. A feed that ends (the datastore
 * closed) stops it for good.
 */
import { sleep } from '../../runtime/sleep.js';
import type { Relationship } from '../../relationships/relationship.js';
import type {
  Datastore,
  QueryOptions,
  RelationshipKey,
  RelationshipQuery,
  Revision,
  StoredSchema,
} from '../datastore.js';
import { keyOf } from '../datastore.js';
import { laterTurn } from '../../runtime/next-turn.js';
import { Pacer } from '../common/pacer.js';
import { freezeOwn, sameAttributes } from '../common/relationships.js';
import type { RowVersion, Slot } from '../memory/row-store.js';
import { RowStore } from '../memory/row-store.js';

export interface RelationshipMirrorOptions {
  /** Memory budget in bytes for the rows and their history (default 1 GiB). */
  maxBytes?: number;
  /** How long superseded versions stay readable from memory, in ms (default 10 s: two quantization windows). */
  historyMs?: number;
  /** Relationships read per page while loading (default 5,000). */
  pageSize?: number;
  /** First retry delay in ms after a feed error (default 100); doubles up to 10 s. */
  retryMinMs?: number;
  /** How long after exceeding the budget a new load is tried, in ms (default 5 min). */
  overBudgetRetryMs?: number;
  /** The clock expiry is judged by: the datastore's own (default Date.now). */
  now?: () => number;
  /** Told of each feed or load error (the mirror then stops answering and reloads). */
  onError?: (error: unknown) => void;
  /** Told when the rows exceed the budget (the mirror then stops answering until a later load fits). */
  onBudgetExceeded?: (bytes: number, budget: number) => void;
}

export type RelationshipMirrorState = 'loading' | 'live' | 'over-budget' | 'stopped' | 'closed';

export interface RelationshipMirrorStats {
  state: RelationshipMirrorState;
  /** The newest revision applied, and the oldest one answered from memory. */
  revision: Revision;
  floor: Revision;
  /** Relationship keys held (current or in history). */
  rows: number;
  /** Estimated bytes held, and the budget. */
  bytes: number;
  budget: number;
  /** Reads answered from memory, and reads that went to the datastore. */
  hits: number;
  misses: number;
}

/** The memory budget when none is given: 1 GiB, about 1.6 million relationships. */
export const DEFAULT_MIRROR_BYTES = 1024 * 1024 * 1024;
/** Fixed cost of one version (its object, the relationship's objects) and of one key (its slot, index entries): measured on V8 with the GitHub-like dataset (~630 bytes per relationship). */
const VERSION_BYTES = 250;
const SLOT_BYTES = 300;
const GC_INTERVAL_MS = 1_000;
const RETRY_MAX_MS = 10_000;
/** Longest stretch of applying one commit before the event loop gets a turn. */
const SLICE_MS = 2;

interface Retired {
  slot: Slot;
  revision: Revision;
}

export class RelationshipMirror {
  private rows = new RowStore();
  private schemas: StoredSchema[] = [];
  private state: RelationshipMirrorState = 'loading';
  private appliedRevision: Revision = -1n;
  private floor: Revision = 0n;
  private bytes = 0;
  private slots = 0;
  /** Versions retired, in revision order: what collection looks at (O(changes), not O(rows)). */
  private retired: Retired[] = [];
  /** Versions that expire, oldest insertion first: dropped once expired (no read can see them again). */
  private expiring: { slot: Slot; version: RowVersion }[] = [];
  /** When each applied revision was applied (ascending), to find the floor `historyMs` back. */
  private appliedAt: { revision: Revision; ms: number }[] = [];
  private hits = 0;
  private misses = 0;
  private readonly waiters = new Set<{ revision: Revision; resolve: (ok: boolean) => void }>();
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;
  private readonly gcTimer: ReturnType<typeof setInterval>;
  private readonly maxBytes: number;
  private readonly historyMs: number;
  private readonly pageSize: number;
  private readonly now: () => number;

  constructor(
    private readonly datastore: Datastore,
    private readonly options: RelationshipMirrorOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MIRROR_BYTES;
    this.historyMs = options.historyMs ?? 10_000;
    this.pageSize = options.pageSize ?? 5_000;
    this.now = options.now ?? Date.now;
    this.loop = this.run();
    this.gcTimer = setInterval(() => this.collect(), GC_INTERVAL_MS);
    // Not what keeps a process alive (browsers have no unref).
    (this.gcTimer as { unref?: () => void }).unref?.();
  }

  /** Whether a read at `revision` is answered from memory right now. */
  covers(revision: Revision): boolean {
    return this.state === 'live' && revision >= this.floor && revision <= this.appliedRevision;
  }

  /**
   * True once the mirror covers `revision` (it may be a commit the feed has not delivered yet),
   * false after `timeoutMs`, or at once when it cannot come to cover it.
   */
  caughtUp(revision: Revision, timeoutMs: number): Promise<boolean> {
    if (this.covers(revision)) return Promise.resolve(true);
    if (this.state !== 'live' || revision < this.floor || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      const waiter = {
        revision,
        resolve: (ok: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(ok);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Whether the mirror has applied `revision` (a commit of the datastore). */
  applied(revision: Revision): boolean {
    return revision >= 0n && revision <= this.appliedRevision;
  }

  /** Relationships at `revision` (which `covers` must have accepted, in the same turn). */
  query(query: RelationshipQuery, revision: Revision, options?: QueryOptions): Relationship[] {
    this.hits++;
    return this.rows.query(query, revision, this.now(), options);
  }

  /** The schema at `revision` (covered, as for query). */
  schemaAt(revision: Revision): StoredSchema | undefined {
    for (let i = this.schemas.length - 1; i >= 0; i--) if (this.schemas[i].revision <= revision) return this.schemas[i];
    return undefined;
  }

  /**
   * The datastore collected the revisions before `oldest`: they are no longer answered from memory
   * either (a read there gets the datastore's own error).
   */
  raiseFloor(oldest: Revision): void {
    if (this.state === 'live' && oldest > this.floor) this.collect(oldest - 1n, oldest);
  }

  /** A read that went to the datastore. */
  missed(): void {
    this.misses++;
  }

  stats(): RelationshipMirrorStats {
    return {
      state: this.state,
      revision: this.appliedRevision,
      floor: this.floor,
      rows: this.slots,
      bytes: this.bytes,
      budget: this.maxBytes,
      hits: this.hits,
      misses: this.misses,
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    clearInterval(this.gcTimer);
    this.abort.abort();
    await this.loop;
    this.clear();
  }

  // --- loading and following the feed ----------------------------------------------------------

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let delay = this.options.retryMinMs ?? 100;
    while (!signal.aborted) {
      try {
        if (await this.load()) {
          delay = this.options.retryMinMs ?? 100;
          for await (const commit of this.datastore.watch(this.appliedRevision, signal)) {
            if (signal.aborted) return;
            await this.apply(commit.revision, commit.changes, commit.schema);
            if (this.state !== 'live') break;
          }
          if (signal.aborted) return;
          if (this.state === 'live') {
            // The feed ended without close(): the datastore closed. Nothing more will come.
            this.clear();
            this.setState('stopped');
            return;
          }
        }
      } catch (e) {
        if (signal.aborted) return;
        this.clear();
        this.setState('loading');
        this.options.onError?.(e);
      }
      const wait = this.state === 'over-budget' ? (this.options.overBudgetRetryMs ?? 300_000) : delay;
      await sleep(wait, signal);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  /** Read every relationship at the head; false when they do not fit the budget. */
  private async load(): Promise<boolean> {
    this.clear();
    this.setState('loading');
    const head = await this.datastore.headRevision();
    const snapshot = this.datastore.snapshot(head, { primary: true });
    const schema = await snapshot.readSchema();
    if (schema) this.schemas = [schema];
    let after: RelationshipKey | undefined;
    for (;;) {
      const page = await snapshot.queryRelationships({}, { limit: this.pageSize, ...(after ? { after } : {}) });
      if (this.abort.signal.aborted) return false;
      for (const r of page) this.insert(this.rows.ensureSlot(r), r, head);
      if (this.bytes > this.maxBytes) return this.overBudget();
      if (page.length < this.pageSize) break;
      after = keyOf(page[page.length - 1]);
      // SQLite's pages arrive without a turn of the event loop: let other callers run between them.
      await laterTurn();
    }
    this.appliedRevision = head;
    this.floor = head;
    this.appliedAt = [{ revision: head, ms: Date.now() }];
    this.setState('live');
    return true;
  }

  /**
   * Apply one commit. A large one (an import) is applied in slices, the event loop running between
   * them: reads meanwhile are at revisions before this one, which its half-applied versions (created
   * and retired at this revision) do not change.
   */
  private async apply(
    revision: Revision,
    changes: readonly { operation: 'TOUCH' | 'DELETE'; relationship: Relationship }[],
    schema: string | undefined,
  ): Promise<void> {
    const pacer = new Pacer(SLICE_MS);
    for (let i = 0; i < changes.length; i++) {
      if ((i & 255) === 255) {
        await pacer.pace();
        if (this.state !== 'live') return;
      }
      const { operation, relationship: r } = changes[i];
      const slot = operation === 'DELETE' ? this.rows.slotFor(r) : this.rows.ensureSlot(r);
      if (!slot) continue;
      const current = slot.current();
      // A TOUCH that changes nothing keeps the version (SpiceDB's feed reports such TOUCHes too).
      if (operation === 'TOUCH' && current && sameAttributes(current.relationship, r)) continue;
      if (current) {
        current.deletedRev = revision;
        this.retired.push({ slot, revision });
      }
      if (operation === 'TOUCH') this.insert(slot, r, revision);
    }
    if (schema !== undefined) this.schemas.push(Object.freeze({ text: schema, revision }));
    this.appliedRevision = revision;
    this.appliedAt.push({ revision, ms: Date.now() });
    if (this.bytes > this.maxBytes) {
      this.collect(revision);
      if (this.bytes > this.maxBytes) {
        this.overBudget();
        return;
      }
    }
    for (const w of [...this.waiters]) if (w.revision <= revision) w.resolve(true);
  }

  private insert(slot: Slot, r: Relationship, revision: Revision): void {
    if (slot.versions.length === 0) {
      this.slots++;
      this.bytes += SLOT_BYTES + 2 * keyLength(slot);
    }
    // The feed's objects are this watcher's own: frozen, not copied.
    const relationship = freezeOwn(r);
    const version: RowVersion = {
      relationship,
      createdRev: revision,
      deletedRev: undefined,
      expiresAtMs: relationship.expiresAt?.getTime(),
    };
    slot.add(version);
    this.bytes += versionBytes(relationship);
    if (version.expiresAtMs !== undefined) this.expiring.push({ slot, version });
  }

  // --- memory ----------------------------------------------------------------------------------

  /**
   * Drop history no longer served: versions retired at or before the new floor (the newest revision
   * applied `historyMs` ago, or `upTo`), and versions that have expired (no read can see them again).
   */
  private collect(upTo?: Revision, atLeast: Revision = 0n): void {
    if (this.state !== 'live') return;
    const cutoff = Date.now() - this.historyMs;
    let floor = atLeast > this.floor ? atLeast : this.floor;
    let i = 0;
    while (
      i < this.appliedAt.length &&
      (this.appliedAt[i].ms <= cutoff || this.appliedAt[i].revision <= (upTo ?? -1n))
    ) {
      const { revision } = this.appliedAt[i++];
      if (revision > floor) floor = revision;
    }
    // Keep the entry the floor came from: the next collection starts there.
    if (i > 1) this.appliedAt.splice(0, i - 1);
    if (floor > this.floor) {
      this.floor = floor;
      let n = 0;
      while (n < this.retired.length && this.retired[n].revision <= floor) this.prune(this.retired[n++].slot, floor);
      if (n > 0) this.retired.splice(0, n);
    }
    const nowMs = this.now();
    if (this.expiring.some((e) => e.version.expiresAtMs! <= nowMs)) {
      const keep: typeof this.expiring = [];
      for (const e of this.expiring) {
        if (e.version.expiresAtMs! > nowMs) keep.push(e);
        else this.dropVersion(e.slot, e.version);
      }
      this.expiring = keep;
    }
  }

  /** Versions of `slot` retired at or before `floor`. */
  private prune(slot: Slot, floor: Revision): void {
    const doomed = slot.versions.filter((v) => v.deletedRev !== undefined && v.deletedRev <= floor);
    for (const v of doomed) this.dropVersion(slot, v);
  }

  private dropVersion(slot: Slot, version: RowVersion): void {
    const at = slot.versions.indexOf(version);
    if (at < 0) return;
    slot.versions.splice(at, 1);
    this.bytes -= versionBytes(version.relationship);
    if (slot.versions.length === 0) this.dropSlot(slot);
  }

  private dropSlot(slot: Slot): void {
    this.rows.removeSlot(slot);
    this.slots--;
    this.bytes -= SLOT_BYTES + 2 * keyLength(slot);
  }

  private overBudget(): false {
    const bytes = this.bytes;
    this.clear();
    this.setState('over-budget');
    this.options.onBudgetExceeded?.(bytes, this.maxBytes);
    return false;
  }

  private clear(): void {
    this.rows = new RowStore();
    this.schemas = [];
    this.retired = [];
    this.expiring = [];
    this.appliedAt = [];
    this.bytes = 0;
    this.slots = 0;
    this.appliedRevision = -1n;
    this.floor = 0n;
  }

  private setState(state: RelationshipMirrorState): void {
    if (this.state === 'closed') return;
    this.state = state;
    // Whoever waits for a revision is told now when the mirror cannot come to cover it.
    if (state !== 'live') for (const w of [...this.waiters]) w.resolve(false);
  }
}

function keyLength(k: RelationshipKey): number {
  return (
    k.resourceType.length +
    k.resourceId.length +
    k.relation.length +
    k.subjectType.length +
    k.subjectId.length +
    k.subjectRelation.length
  );
}

function versionBytes(r: Relationship): number {
  let bytes = VERSION_BYTES + 2 * (r.resource.id.length + r.subject.id.length);
  if (r.caveat)
    bytes += 64 + 2 * (r.caveat.name.length + (r.caveat.context ? JSON.stringify(r.caveat.context).length : 0));
  return bytes;
}
