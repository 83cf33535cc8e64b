/**
 * The history of commits: when each revision was committed, what it changed (the change feed) and
 * the schema versions. A SQL backend mirrors this as a transactions table (revision, timestamp), a
 * changes table (revision, ordinal, operation, relationship) and a schema table (revision, text).
 */
import type { RevisionChanges, Revision, StoredSchema } from '../datastore.js';

export interface Commit extends RevisionChanges {
  /** Commit time in epoch ms; non-decreasing in revision order. */
  time: number;
}

export class CommitLog {
  /** Retained commits, consecutive revisions, ascending. */
  private commits: Commit[] = [];
  /** Schema versions, ascending; the newest one at or before `oldestReadable` is always kept. */
  private schemas: StoredSchema[] = [];
  private _head: Revision = 0n;
  private _oldestReadable: Revision = 0n;

  get head(): Revision {
    return this._head;
  }

  /** Revisions below this were garbage collected and can no longer be read. */
  get oldestReadable(): Revision {
    return this._oldestReadable;
  }

  get lastCommitTime(): number {
    return this.commits[this.commits.length - 1]?.time ?? -Infinity;
  }

  append(commit: Commit): void {
    this.commits.push(commit);
    if (commit.schema !== undefined)
      this.schemas.push(Object.freeze({ text: commit.schema, revision: commit.revision }));
    this._head = commit.revision;
  }

  schemaAt(revision: Revision): StoredSchema | undefined {
    for (let i = this.schemas.length - 1; i >= 0; i--) if (this.schemas[i].revision <= revision) return this.schemas[i];
    return undefined;
  }

  /**
   * The newest retained revision committed at or before `timeMs`; undefined when every retained
   * commit is newer (or there are none).
   */
  revisionAt(timeMs: number): Revision | undefined {
    let lo = 0;
    let hi = this.commits.length; // first index with time > timeMs
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.commits[mid].time <= timeMs) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : this.commits[lo - 1].revision;
  }

  /** Commits after `revision`, or undefined when some of them were already collected. */
  after(revision: Revision): Commit[] | undefined {
    const first = this.commits[0]?.revision ?? this._head + 1n;
    if (revision + 1n < first && revision < this._head) return undefined;
    return this.commits.slice(Math.max(0, Number(revision + 1n - first)));
  }

  /** Forget commits and schema versions older than `boundary`, which becomes the oldest readable revision. */
  collect(boundary: Revision): number {
    if (boundary <= this._oldestReadable) return 0;
    const drop = this.commits.findIndex((c) => c.revision >= boundary);
    const dropped = drop < 0 ? this.commits.length : drop;
    this.commits.splice(0, dropped);
    let keep = 0;
    while (keep + 1 < this.schemas.length && this.schemas[keep + 1].revision <= boundary) keep++;
    this.schemas.splice(0, keep);
    this._oldestReadable = boundary;
    return dropped;
  }
}
