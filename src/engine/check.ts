/**
 * Check: does a subject have a relation (or permission) on an object? Evaluates the userset-rewrite
 * tree depth-first with short-circuiting, in three-valued logic (member / not / conditional on
 * caveats whose context is missing).
 *
 * Cycles in the data (group a in group b in group a) are cut: revisiting a userset that is already
 * being evaluated on the current path contributes "not a member" (see cycle-cut-memo.ts).
 *
 * On a relation of plain subjects a read asks only for the subject itself (and its wildcard), not
 * every member of a large group. When a step fans out to several objects, their first reads are
 * fetched in one batched query before the objects are evaluated one by one.
 */
import type { AllowedSubjectType, CompiledSchema, RelationDefinition, Rewrite, ArrowRewrite } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import { walkRewrite } from '../schema/analysis.js';
import type { ObjectRef, Relationship, SubjectRef } from '../relationships/relationship.js';
import { maxDepthExceeded } from '../errors/index.js';
import { RequestReader, type PerObjectQuery } from './request-reader.js';
import { usersetKey } from './dispatch-keys.js';
import { CycleCutMemo } from './cycle-cut-memo.js';
import type { CaveatEvaluator } from './caveat-evaluator.js';
import type { Dispatcher, Lane } from './dispatcher.js';
import type { NestedGroups } from './nested-group-index.js';
import type { Membership } from './membership.js';
import type { CheckTracer } from './check-trace.js';
import { and, MEMBER, not, NOT_MEMBER, or } from './membership.js';
import { subproblemAt, type RemoteDispatch, type RemoteOwner } from './remote-dispatch.js';
import { grantsDirectly, WILDCARD } from './wildcard.js';

/** A membership, plus the shallowest path depth whose cycle cut it relied on (Infinity: none). */
interface Evaluation {
  m: Membership;
  cut: number;
}

const YES: Evaluation = { m: MEMBER, cut: Infinity };
const NO: Evaluation = { m: NOT_MEMBER, cut: Infinity };

/** Sharing sub-problem answers with other requests (see dispatcher.ts). */
export interface SharedDispatch {
  dispatcher: Dispatcher;
  /** Names the revision, subject and context: everything an answer depends on besides the userset. */
  keyPrefix: string;
  /** False when answers depend on the clock (relationships with expiration): share only concurrently. */
  cacheable: boolean;
}

/** The reads of one relation's stored relationships for this subject. */
interface DirectReads {
  /** The subject itself and its type's wildcard, when the relation allows them. */
  exact?: PerObjectQuery;
  /** One query per subject-set type the relation allows (`group#member`). */
  sets: PerObjectQuery[];
  /** Every row: one query instead of exact + sets when the relation admits subject sets. */
  all: PerObjectQuery;
}

export interface CheckerOptions {
  schema: CompiledSchema;
  /** The request's view of its snapshot. */
  reader: RequestReader;
  /** Whose permissions are checked. */
  subject: SubjectRef;
  /** Evaluates caveats under the request's context. */
  caveats: CaveatEvaluator;
  /** The request's caveat context (sent along with sub-problems dispatched to other nodes). */
  context?: Record<string, unknown>;
  /** Most nested dispatches one check may need. */
  maxDepth: number;
  /** Share sub-problem answers with other requests (none: evaluate privately). */
  shared?: SharedDispatch;
  /** Answer nested-group membership from the index where it is exact. */
  index?: NestedGroups;
  /** Other nodes that own sub-problems (none: every sub-problem is evaluated here). */
  remote?: RemoteDispatch;
  /** Evaluating a sub-problem dispatched from elsewhere: its caller's path, and a lane that joins nothing. */
  dispatched?: { path: [string, number][] };
  /** Records the evaluation as SpiceDB's CheckDebugTrace tree (traced checks only, see check-trace.ts). */
  tracer?: CheckTracer;
  /** See EvaluationScope.cycleDeniesExclusion. */
  cycleDeniesExclusion?: boolean;
}

/** The step of a relation's stored subject sets (`group#member`), to a tracer (computed usersets and arrows are their rewrite). */
export const SUBJECT_SETS: object = Object.freeze({ step: 'subject sets' });

/** Answers checks for one subject and context against one snapshot; reuse it for many resources. */
export class Checker {
  private readonly memo: CycleCutMemo<Evaluation>;
  private readonly lane: Lane;
  private readonly options: CheckerOptions;
  private readonly remote: RemoteDispatch | undefined;
  /** What, besides the userset, names a sub-problem's owner: the subject and the context. */
  private readonly routeSuffix: string;
  private readonly directReads = new Map<string, DirectReads>();
  private readonly leadingReads = new Map<string, PerObjectQuery[]>();
  private readonly schema: CompiledSchema;
  readonly reader: RequestReader;
  readonly subject: SubjectRef;
  private readonly caveats: CaveatEvaluator;
  private readonly maxDepth: number;
  private readonly shared: SharedDispatch | undefined;
  private readonly index: NestedGroups | undefined;
  private readonly tracer: CheckTracer | undefined;

  constructor(options: CheckerOptions) {
    this.options = options;
    this.memo = new CycleCutMemo(options.dispatched?.path);
    this.remote = options.remote;
    const s = options.subject;
    this.routeSuffix = options.remote
      ? `@${s.type}:${s.id}#${s.relation}|${JSON.stringify(options.context ?? {})}`
      : '';
    this.schema = options.schema;
    this.reader = options.reader;
    this.subject = options.subject;
    this.caveats = options.caveats;
    this.maxDepth = options.maxDepth;
    this.shared = options.shared;
    this.index = options.index;
    this.tracer = options.tracer;
    this.lane = { current: undefined, signal: this.reader.signal, private: options.dispatched !== undefined };
  }

  async check(resource: ObjectRef, relation: string): Promise<Membership> {
    return (await this.userset(resource.type, resource.id, relation, 0)).m;
  }

  /**
   * `shared`: whether this sub-problem goes through the dispatcher. Steps to another object (an arrow,
   * a subject set) and the request itself do; a permission's own relations (`computed`) are part of
   * its evaluation, so caching them too would only add entries (and garbage-collection work).
   */
  private async userset(type: string, id: string, relation: string, depth: number, shared = true): Promise<Evaluation> {
    const s = this.subject;
    if (type === s.type && id === s.id && relation === s.relation) return YES;
    // Sub-problems answered from the memo or the cache read nothing: pace them here too.
    if (this.reader.due()) await this.reader.pause();
    const key = usersetKey(type, id, relation);
    return this.memo.run(
      key,
      depth,
      (cutAt) => ({ m: NOT_MEMBER, cut: cutAt }),
      async () => {
        if (!shared) return this.evaluate(type, id, relation, depth);
        const owner = this.remote?.ownerOf(key + this.routeSuffix);
        if (owner) {
          const viaOwner = () => this.viaOwner(owner, type, id, relation, depth);
          // Identical concurrent sub-problems of this node's requests share one remote call; its answer is
          // the owner's to cache, not this node's.
          return this.shared && !this.lane.private
            ? this.shared.dispatcher.run(this.shared.keyPrefix + key, this.lane, depth, false, viaOwner)
            : viaOwner();
        }
        return this.owned(type, id, relation, depth);
      },
    );
  }

  /**
   * A sub-problem reached by a step of the evaluation (`site`: a computed userset or arrow rewrite,
   * or SUBJECT_SETS) through a relationship granting `via`; a tracer, when there is one, records it.
   */
  private sub(
    site: object,
    type: string,
    id: string,
    relation: string,
    depth: number,
    shared: boolean,
    via: Membership,
  ): Promise<Evaluation> {
    const tracer = this.tracer;
    if (!tracer) return this.userset(type, id, relation, depth, shared);
    return tracer.step(site, type, id, relation, via, () => this.userset(type, id, relation, depth, shared));
  }

  /**
   * A sub-problem this node owns (or was sent): through the dispatcher, which shares it with other
   * requests. Its key is already on the path: revisiting it below cuts the cycle.
   */
  async owned(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    const dispatch = this.shared;
    if (!dispatch) return this.evaluate(type, id, relation, depth);
    return dispatch.dispatcher.run(
      dispatch.keyPrefix + usersetKey(type, id, relation),
      this.lane,
      depth,
      dispatch.cacheable,
      () => this.evaluate(type, id, relation, depth),
    );
  }

  private evaluate(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    if (depth > this.maxDepth) throw maxDepthExceeded(`check of ${usersetKey(type, id, relation)}`, this.maxDepth);
    const definition = this.definition(type, relation);
    if (!definition) return Promise.resolve(NO);
    return this.rewrite(definition.rewrite, type, id, relation, depth);
  }

  /** A sub-problem another node owns: sent there, or evaluated here by a sibling when that fails or is slow. */
  private viaOwner(owner: RemoteOwner, type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    const path = this.memo.path();
    const problem = {
      ...subproblemAt(this.reader.snapshot, { type, id, relation, depth }, path, this.options.context),
      subject: this.subject,
    };
    const local = (signal: AbortSignal) =>
      new Checker({
        ...this.options,
        reader: new RequestReader(this.reader.snapshot, signal),
        dispatched: { path },
      }).owned(type, id, relation, depth);
    return owner.check(problem, local, this.reader.signal);
  }

  private definition(type: string, relation: string): RelationDefinition | undefined {
    return this.schema.definitions.get(type)?.relations.get(relation);
  }

  private async rewrite(rw: Rewrite, type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    switch (rw.kind) {
      case 'nil':
        return NO;
      case 'self': {
        // The object itself, as a plain subject (a subject set such as `user:a#manager` is not it).
        const s = this.subject;
        return s.type === type && s.id === id && s.relation === ELLIPSIS ? YES : NO;
      }
      case 'this':
        return this.direct(type, id, relation, depth);
      case 'computed':
        return this.sub(rw, type, id, rw.relation, depth + 1, false, MEMBER);
      case 'tupleToUserset':
        return this.arrow(rw, type, id, depth);
      case 'union':
      case 'intersection': {
        const union = rw.kind === 'union';
        let acc: Membership = union ? NOT_MEMBER : MEMBER;
        let cut = Infinity;
        for (const child of rw.children) {
          const r = await this.rewrite(child, type, id, relation, depth);
          cut = Math.min(cut, r.cut);
          acc = union ? or(acc, r.m) : and(acc, r.m);
          if (acc.kind === (union ? 'member' : 'not-member')) break;
        }
        return { m: acc, cut };
      }
      case 'exclusion': {
        const base = await this.rewrite(rw.base, type, id, relation, depth);
        if (base.m.kind === 'not-member') return base;
        const sub = await this.rewrite(rw.subtract, type, id, relation, depth);
        const cut = Math.min(base.cut, sub.cut);
        if (this.options.cycleDeniesExclusion && sub.cut !== Infinity && sub.m.kind === 'not-member') {
          return { m: NOT_MEMBER, cut };
        }
        return { m: and(base.m, not(sub.m)), cut };
      }
    }
  }

  /** Relationships stored on the relation: a direct match, a wildcard, or a subject set to follow. */
  private async direct(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    const nested = this.index?.at(this.reader.snapshot.revision, type, relation)?.descendants(id);
    if (nested) return this.directNested(nested, type, id, relation, depth);
    const reads = this.readsOf(type, relation);
    if (reads.sets.length === 0) {
      // Only plain subjects: read just this one (a large group's other members never leave the datastore).
      let acc: Membership = NOT_MEMBER;
      for (const r of reads.exact ? await this.reader.perObject(reads.exact, [id]) : []) {
        if (!grantsDirectly(r.subject, this.subject)) continue;
        acc = or(acc, this.caveats.of(r));
        if (acc.kind === 'member') return YES;
      }
      return { m: acc, cut: Infinity };
    }
    const rels = await this.reader.perObject(reads.all, [id]);
    let acc: Membership = NOT_MEMBER;
    for (const r of rels) {
      if (!grantsDirectly(r.subject, this.subject)) continue;
      acc = or(acc, this.caveats.of(r));
      if (acc.kind === 'member') return YES;
    }
    return this.follow(
      rels.filter((r) => r.subject.relation !== ELLIPSIS),
      acc,
      depth,
    );
  }

  /**
   * `direct` for a nested-group relation the index answers: the subject is in `id` if it is directly
   * in `id` or in any group nested in it. Its direct groups come from the subject index (one read
   * per request, Leopard's MEMBER2GROUP); the nesting itself needs no reads or recursion.
   */
  private async directNested(
    nested: ReadonlySet<string>,
    type: string,
    id: string,
    relation: string,
    depth: number,
  ): Promise<Evaluation> {
    const reads = this.readsOf(type, relation);
    let acc: Membership = NOT_MEMBER;
    if (reads.exact) {
      for (const r of await this.reader.query(reads.exact)) {
        if (r.resource.id !== id && !nested.has(r.resource.id)) continue;
        if (!grantsDirectly(r.subject, this.subject)) continue;
        acc = or(acc, this.caveats.of(r));
        if (acc.kind === 'member') return YES;
      }
    }
    const others = reads.sets.filter((q) => q.subjectType !== type || q.subjectRelation !== relation);
    const groups = nested.has(id) ? [...nested] : [id, ...nested];
    let cut = Infinity;
    for (const q of others) {
      const e = await this.follow(await this.reader.perObject(q, groups), acc, depth);
      cut = Math.min(cut, e.cut);
      acc = e.m;
      if (acc.kind === 'member') break;
    }
    return { m: acc, cut };
  }

  /** Subject-set relationships, each evaluated in turn, or-ed into `acc`. */
  private async follow(rels: readonly Relationship[], acc: Membership, depth: number): Promise<Evaluation> {
    let cut = Infinity;
    this.prefetch(rels, (r) => r.subject.relation);
    for (const r of rels) {
      const granted = this.caveats.of(r);
      if (granted.kind === 'not-member') continue;
      const rs = r.subject;
      const e = await this.sub(SUBJECT_SETS, rs.type, rs.id, rs.relation, depth + 1, true, granted);
      cut = Math.min(cut, e.cut);
      acc = or(acc, and(granted, e.m));
      if (acc.kind === 'member') return { m: acc, cut };
    }
    return { m: acc, cut };
  }

  private async arrow(rw: ArrowRewrite, type: string, id: string, depth: number): Promise<Evaluation> {
    const rels = await this.reader.byResource(type, [id], rw.tupleset);
    const all = rw.mode === 'all';
    const perObject = new Map<string, { subject: SubjectRef; via: Membership }>();
    for (const r of rels) {
      const key = `${r.subject.type}:${r.subject.id}`;
      const prev = perObject.get(key);
      perObject.set(key, { subject: r.subject, via: prev ? or(prev.via, this.caveats.of(r)) : this.caveats.of(r) });
    }
    if (perObject.size > 1) this.prefetch(rels, () => rw.computed);
    // `.all()`: at least one object, and every one reached grants — through its relationship's
    // caveat too (SpiceDB counts a relationship whose caveat fails as a failing branch, not as absent).
    let acc: Membership = all ? (perObject.size > 0 ? MEMBER : NOT_MEMBER) : NOT_MEMBER;
    let cut = Infinity;
    for (const { subject, via } of perObject.values()) {
      if (acc.kind === (all ? 'not-member' : 'member')) break;
      if (via.kind === 'not-member') {
        if (all) acc = NOT_MEMBER;
        continue;
      }
      const e = await this.sub(rw, subject.type, subject.id, rw.computed, depth + 1, true, via);
      cut = Math.min(cut, e.cut);
      acc = all ? and(acc, and(via, e.m)) : or(acc, and(via, e.m));
    }
    return { m: acc, cut };
  }

  /**
   * Before evaluating, on the subjects of `rels`, the relation `relationOf` names, read the first rows
   * of those objects in one query per (subject type, relation) shared by two or more of them.
   */
  private prefetch(rels: readonly Relationship[], relationOf: (r: Relationship) => string): void {
    if (rels.length < 2) return;
    const groups = new Map<string, { type: string; relation: string; ids: string[] }>();
    for (const r of rels) {
      const relation = relationOf(r);
      const key = `${r.subject.type}#${relation}`;
      const group = groups.get(key);
      if (group) group.ids.push(r.subject.id);
      else groups.set(key, { type: r.subject.type, relation, ids: [r.subject.id] });
    }
    for (const { type, relation, ids } of groups.values()) {
      if (ids.length < 2) continue;
      for (const q of this.firstReads(type, relation)) this.reader.prefetch(q, ids);
    }
  }

  private readsOf(type: string, relation: string): DirectReads {
    const key = `${type}#${relation}`;
    let reads = this.directReads.get(key);
    if (!reads) {
      const allowed = this.definition(type, relation)?.allowedSubjects ?? [];
      const sets = new Map<string, PerObjectQuery>();
      for (const a of allowed) {
        if (a.relation === ELLIPSIS) continue;
        sets.set(`${a.type}#${a.relation}`, {
          resourceType: type,
          relation,
          subjectType: a.type,
          subjectRelation: a.relation,
        });
      }
      reads = {
        exact: this.exactRead(type, relation, allowed),
        sets: [...sets.values()],
        all: { resourceType: type, relation },
      };
      this.directReads.set(key, reads);
    }
    return reads;
  }

  /** The read of the subject itself and of its type's wildcard (which grants subject sets too), where allowed. */
  private exactRead(
    type: string,
    relation: string,
    allowed: readonly AllowedSubjectType[],
  ): PerObjectQuery | undefined {
    const s = this.subject;
    const wildcard = allowed.some((a) => a.type === s.type && a.wildcard);
    const exact = allowed.some((a) => a.type === s.type && !a.wildcard && a.relation === s.relation);
    if (!wildcard && !exact) return undefined;
    const read = { resourceType: type, relation, subjectType: s.type };
    if (s.relation === ELLIPSIS) return { ...read, subjectIds: [s.id, WILDCARD], subjectRelation: ELLIPSIS };
    if (!wildcard) return { ...read, subjectIds: [s.id], subjectRelation: s.relation };
    if (!exact) return { ...read, subjectIds: [WILDCARD], subjectRelation: ELLIPSIS };
    // `user:x#manager` and `user:*` differ in subject relation: read any, `grantsDirectly` filters.
    return { ...read, subjectIds: [s.id, WILDCARD] };
  }

  /** The reads evaluating `relation` on an object starts with (every branch of a union; an exclusion's base). */
  private firstReads(type: string, relation: string): PerObjectQuery[] {
    const key = `${type}#${relation}`;
    let reads = this.leadingReads.get(key);
    if (!reads) {
      reads = [];
      const out = reads;
      const seen = new Set<string>([key]);
      // Leaves outside subtracted branches: every branch of a union, an exclusion's base.
      const visit = (root: Rewrite, rel: string): void =>
        walkRewrite(
          root,
          (rw) => {
            switch (rw.kind) {
              case 'this': {
                // The index answers this relation from one read of the subject's groups, not per object.
                if (this.index?.at(this.reader.snapshot.revision, type, rel)) return;
                const d = this.readsOf(type, rel);
                if (d.sets.length > 0) out.push(d.all);
                else if (d.exact) out.push(d.exact);
                return;
              }
              case 'computed': {
                const k = `${type}#${rw.relation}`;
                const def = this.definition(type, rw.relation);
                if (def && !seen.has(k)) {
                  seen.add(k);
                  visit(def.rewrite, rw.relation);
                }
                return;
              }
              case 'tupleToUserset':
                out.push({ resourceType: type, relation: rw.tupleset });
                return;
              default:
                return;
            }
          },
          { subtracted: false },
        );
      const def = this.definition(type, relation);
      if (def) visit(def.rewrite, relation);
      this.leadingReads.set(key, reads);
    }
    return reads;
  }
}
