/**
 * The engine's side of dispatching sub-problems to other nodes (Zanzibar §3.2.5): a check of one
 * userset for one subject, or the subjects of one type in one userset (a LookupSubjects step), at one
 * revision, that a consistent-hash ring may assign to another node. The engine says what the
 * sub-problem is and how to evaluate it here; the cluster (src/cluster/) decides who owns it, sends
 * it, hedges and falls back.
 *
 * A sub-problem carries the caller's evaluation path (the usersets being evaluated above it, with
 * their depths), so the owner cuts cycles and counts depth exactly as the caller would have: the
 * answer, and the depth of any cycle cut it relied on, are the same on every node.
 */
import type { Revision, SnapshotReader } from '../datastore/datastore.js';
import type { SubjectRef } from '../relationships/relationship.js';
import type { Membership } from './membership.js';
import type { SubjectSet } from './subject-set.js';

/** What every sub-problem names: `relation` on `type:id`, at `depth` below the request, at `revision`. */
export interface Subproblem {
  revision: Revision;
  /** Read the primary only, as the request does (fully_consistent), never a read replica. */
  primary?: boolean;
  type: string;
  id: string;
  relation: string;
  context?: Record<string, unknown>;
  depth: number;
  /** The usersets (`type:id#relation`) on the evaluation path, this one included, with their depths. */
  path: [key: string, depth: number][];
}

/** Whether `subject` is in the userset. */
export interface CheckSubproblem extends Subproblem {
  subject: SubjectRef;
}

/** The subjects of `subjectType` (`subjectRelation`, `...` for plain ones) in the userset. */
export interface SubjectsSubproblem extends Subproblem {
  subjectType: string;
  subjectRelation: string;
}

/** An answer and the shallowest path depth whose cycle cut it relied on (Infinity: none). */
export interface SubproblemOutcome {
  m: Membership;
  cut: number;
}

export interface SubjectsOutcome {
  set: SubjectSet;
  cut: number;
}

export interface RemoteDispatch {
  /**
   * The node that owns the sub-problem named by `key`, when it is another node (undefined: this one). The
   * key names the userset, the subject (or subject type) and the context, not the revision, so a
   * sub-problem keeps its owner as the data changes.
   */
  ownerOf(key: string): RemoteOwner | undefined;
}

/**
 * Sending a sub-problem to its owner. `local` evaluates it here instead (on failure, a slow owner, or
 * an owner that left the ring). Errors the evaluation itself raises (depth exceeded, a caveat that
 * fails) are thrown as they would be here.
 */
export interface RemoteOwner {
  check(
    problem: CheckSubproblem,
    local: (signal: AbortSignal) => Promise<SubproblemOutcome>,
    signal: AbortSignal | undefined,
  ): Promise<SubproblemOutcome>;
  subjects(
    problem: SubjectsSubproblem,
    local: (signal: AbortSignal) => Promise<SubjectsOutcome>,
    signal: AbortSignal | undefined,
  ): Promise<SubjectsOutcome>;
}

/** The common part of a sub-problem, read at `snapshot` (its revision, and whether it reads the primary only). */
export function subproblemAt(
  snapshot: SnapshotReader,
  usersetOf: { type: string; id: string; relation: string; depth: number },
  path: [string, number][],
  context: Record<string, unknown> | undefined,
): Subproblem {
  const { type, id, relation, depth } = usersetOf;
  return { revision: snapshot.revision, primary: snapshot.primary, type, id, relation, context, depth, path };
}
