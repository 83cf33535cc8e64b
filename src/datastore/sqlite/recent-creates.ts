/**
 * The changes of this process's recent CREATE-only commits (their created rows, in id order, as
 * stored), kept so that unfiltered watchers in this process (the relationship mirror above all) take
 * them from here rather than reading the rows back from the table: that read was about a tenth of a
 * bulk WriteRelationships' CPU with the mirror on. Commits of other processes, and ones evicted here,
 * are read from the table as before. The change objects are shared by those watchers: read-only.
 */
import type { RelationshipChange, Revision } from '../datastore.js';

/** Bounds what is held for watchers that have not read it yet; a watcher this far behind reads the table. */
const MAX_COMMITS = 64;
const MAX_CHANGES = 200_000;

export class RecentCreates {
  private readonly commits = new Map<number, readonly RelationshipChange[]>();
  private changes = 0;

  add(revision: Revision, changes: readonly RelationshipChange[]): void {
    if (changes.length > MAX_CHANGES) return;
    this.commits.set(Number(revision), changes);
    this.changes += changes.length;
    for (const [rev, c] of this.commits) {
      if (this.commits.size <= MAX_COMMITS && this.changes <= MAX_CHANGES) break;
      this.commits.delete(rev);
      this.changes -= c.length;
    }
  }

  /** Appends the changes of the commit at `revision` to `into`; false when they are not held. */
  read(revision: number, into: RelationshipChange[]): boolean {
    const held = this.commits.get(revision);
    if (!held) return false;
    for (const c of held) into.push(c);
    return true;
  }
}
