/**
 * LookupSubjects: evaluate the rewrite tree forwards from the resource, computing at each node the
 * set of subjects of the requested type (wildcards with their exclusions) and combining sets with
 * the rewrite's operators. Cycles are cut as in Check (see check.ts). A stored `T:*` stands for every
 * subject of type T, subject sets `T:x#rel` included, as in Check (see wildcard.ts).
 */
import type { CompiledSchema, Rewrite, ArrowRewrite } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import type { ObjectRef, SubjectRef } from '../relationships/relationship.js';
import type { NestedGroups } from './nested-group-index.js';
import { RequestReader } from './request-reader.js';
import { subproblemAt, type RemoteDispatch } from './remote-dispatch.js';
import { maxDepthExceeded } from '../errors/index.js';
import { CycleCutMemo } from './cycle-cut-memo.js';
import { SubjectSet } from './subject-set.js';
import type { CaveatEvaluator } from './caveat-evaluator.js';
import type { Membership } from './membership.js';
import { MEMBER, or } from './membership.js';
import { isWildcardOf } from './wildcard.js';

interface Evaluation {
  set: SubjectSet;
  cut: number;
}

export interface SubjectLookupOptions {
  schema: CompiledSchema;
  reader: RequestReader;
  subjectType: string;
  /** `...` for plain subjects. */
  subjectRelation: string;
  caveats: CaveatEvaluator;
  /** The request's caveat context (sent along with steps dispatched to other nodes). */
  context?: Record<string, unknown>;
  maxDepth: number;
  index?: NestedGroups;
  /** Other nodes that own steps to other objects (none: every step is evaluated here). */
  remote?: RemoteDispatch;
  /** Evaluating a step dispatched from elsewhere: its caller's path. */
  dispatched?: { path: [string, number][] };
  /** See EvaluationScope.cycleDeniesExclusion. */
  cycleDeniesExclusion?: boolean;
}

export class SubjectLookup {
  private readonly memo: CycleCutMemo<Evaluation>;
  private readonly schema: CompiledSchema;
  private readonly reader: RequestReader;
  private readonly subjectType: string;
  private readonly subjectRelation: string;
  private readonly caveats: CaveatEvaluator;
  private readonly maxDepth: number;
  private readonly index: NestedGroups | undefined;
  private readonly remote: RemoteDispatch | undefined;
  /** What, besides the userset, names a step's owner: the subject type and the context. */
  private readonly routeSuffix: string;

  constructor(private readonly options: SubjectLookupOptions) {
    this.memo = new CycleCutMemo(options.dispatched?.path);
    this.schema = options.schema;
    this.reader = options.reader;
    this.subjectType = options.subjectType;
    this.subjectRelation = options.subjectRelation;
    this.caveats = options.caveats;
    this.maxDepth = options.maxDepth;
    this.index = options.index;
    this.remote = options.remote;
    this.routeSuffix = options.remote
      ? `@subjects:${options.subjectType}#${options.subjectRelation}|${JSON.stringify(options.context ?? {})}`
      : '';
  }

  async lookup(resource: ObjectRef, permission: string): Promise<SubjectSet> {
    return (await this.userset(resource.type, resource.id, permission, 0)).set;
  }

  /** A step dispatched here from another node: its key is already on the path the lookup was given. */
  owned(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    return this.evaluate(type, id, relation, depth);
  }

  /**
   * `shared`: a step to another object (an arrow, a subject set), which its owner on the ring evaluates;
   * a permission's own relations are part of its evaluation.
   */
  private async userset(
    type: string,
    id: string,
    relation: string,
    depth: number,
    shared = false,
  ): Promise<Evaluation> {
    // Usersets answered from the memo read nothing: pace them here too.
    if (this.reader.due()) await this.reader.pause();
    const e = await this.evaluateUserset(type, id, relation, depth, shared);
    // A userset of the requested kind is its own subject (Check says `g#member` has `g#member`).
    if (type !== this.subjectType || relation !== this.subjectRelation || e.set.concrete.has(id)) return e;
    return { set: e.set.union(new SubjectSet(new Map([[id, MEMBER]]))), cut: e.cut };
  }

  private async evaluateUserset(
    type: string,
    id: string,
    relation: string,
    depth: number,
    shared: boolean,
  ): Promise<Evaluation> {
    const key = `${type}:${id}#${relation}`;
    return this.memo.run(
      key,
      depth,
      (cutAt) => ({ set: SubjectSet.empty(), cut: cutAt }),
      async () => {
        const owner = shared ? this.remote?.ownerOf(key + this.routeSuffix) : undefined;
        if (!owner) return this.evaluate(type, id, relation, depth);
        const path = this.memo.path();
        const problem = {
          ...subproblemAt(this.reader.snapshot, { type, id, relation, depth }, path, this.options.context),
          subjectType: this.subjectType,
          subjectRelation: this.subjectRelation,
        };
        const local = (signal: AbortSignal) =>
          new SubjectLookup({
            ...this.options,
            reader: new RequestReader(this.reader.snapshot, signal),
            dispatched: { path },
          }).owned(type, id, relation, depth);
        return owner.subjects(problem, local, this.reader.signal);
      },
    );
  }

  private async evaluate(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    const key = `${type}:${id}#${relation}`;
    if (depth > this.maxDepth) throw maxDepthExceeded(`lookup of subjects of ${key}`, this.maxDepth);
    const definition = this.schema.definitions.get(type)?.relations.get(relation);
    if (!definition) return { set: SubjectSet.empty(), cut: Infinity };
    return this.rewrite(definition.rewrite, type, id, relation, depth);
  }

  private async rewrite(rw: Rewrite, type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    switch (rw.kind) {
      case 'nil':
        return { set: SubjectSet.empty(), cut: Infinity };
      case 'self':
        // The object itself, when plain subjects of its type are asked for (as Check answers; see
        // docs/compatibility.md for SpiceDB's lookup, which lists it whatever the type asked).
        return {
          set:
            type === this.subjectType && this.subjectRelation === ELLIPSIS
              ? new SubjectSet(new Map([[id, MEMBER]]))
              : SubjectSet.empty(),
          cut: Infinity,
        };
      case 'this':
        return this.direct(type, id, relation, depth);
      case 'computed':
        return this.userset(type, id, rw.relation, depth + 1);
      case 'tupleToUserset':
        return this.arrow(rw, type, id, depth);
      case 'union':
      case 'intersection': {
        let acc: SubjectSet | undefined;
        let cut = Infinity;
        for (const child of rw.children) {
          const e = await this.rewrite(child, type, id, relation, depth);
          cut = Math.min(cut, e.cut);
          acc = acc === undefined ? e.set : rw.kind === 'union' ? acc.union(e.set) : acc.intersect(e.set);
          if (rw.kind === 'intersection' && acc.isEmpty()) break;
        }
        return { set: acc ?? SubjectSet.empty(), cut };
      }
      case 'exclusion': {
        const base = await this.rewrite(rw.base, type, id, relation, depth);
        if (base.set.isEmpty()) return base;
        const sub = await this.rewrite(rw.subtract, type, id, relation, depth);
        const cut = Math.min(base.cut, sub.cut);
        if (this.options.cycleDeniesExclusion && sub.cut !== Infinity) return { set: SubjectSet.empty(), cut };
        return { set: base.set.subtract(sub.set), cut };
      }
    }
  }

  /**
   * Relationships stored on the relation. For a nested-group relation the index answers, the rows of
   * `id` and of every group nested in it are read in one query and the nesting edges are not followed.
   */
  private async direct(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    const nested = this.index?.at(this.reader.snapshot.revision, type, relation)?.descendants(id);
    const groups = nested && nested.size > 0 ? [...new Set([id, ...nested])] : [id];
    const isEdge = (s: SubjectRef) => nested !== undefined && s.type === type && s.relation === relation;
    const rels = await this.reader.byResource(type, groups, relation);
    const found = new Map<string, Membership>();
    let wildcard: Membership | undefined;
    for (const r of rels) {
      const s = r.subject;
      const all = isWildcardOf(s, this.subjectType);
      if (!all && (s.type !== this.subjectType || s.relation !== this.subjectRelation)) continue;
      const granted = this.caveats.of(r);
      if (granted.kind === 'not-member') continue;
      if (all) wildcard = wildcard ? or(wildcard, granted) : granted;
      else found.set(s.id, or(found.get(s.id) ?? granted, granted));
    }
    const sets = [new SubjectSet(found, wildcard ? { membership: wildcard, excluded: new Map() } : null)];
    let cut = Infinity;
    for (const r of rels) {
      const s = r.subject;
      if (s.relation === ELLIPSIS || isEdge(s)) continue;
      const granted = this.caveats.of(r);
      if (granted.kind === 'not-member') continue;
      const e = await this.userset(s.type, s.id, s.relation, depth + 1, true);
      cut = Math.min(cut, e.cut);
      sets.push(e.set.restrict(granted));
    }
    return { set: await SubjectSet.unionAll(sets, this.reader), cut };
  }

  private async arrow(rw: ArrowRewrite, type: string, id: string, depth: number): Promise<Evaluation> {
    const rels = await this.reader.byResource(type, [id], rw.tupleset);
    const perObject = new Map<string, { type: string; id: string; via: Membership }>();
    for (const r of rels) {
      const key = `${r.subject.type}:${r.subject.id}`;
      const granted = this.caveats.of(r);
      const prev = perObject.get(key);
      perObject.set(key, { type: r.subject.type, id: r.subject.id, via: prev ? or(prev.via, granted) : granted });
    }
    const sets: SubjectSet[] = [];
    let cut = Infinity;
    for (const o of perObject.values()) {
      if (o.via.kind === 'not-member') {
        if (rw.mode === 'all') return { set: SubjectSet.empty(), cut };
        continue;
      }
      const e = await this.userset(o.type, o.id, rw.computed, depth + 1, true);
      cut = Math.min(cut, e.cut);
      sets.push(e.set.restrict(o.via));
    }
    if (rw.mode === 'any') return { set: await SubjectSet.unionAll(sets, this.reader), cut };
    return { set: sets.length === 0 ? SubjectSet.empty() : sets.reduce((acc, set) => acc.intersect(set)), cut };
  }
}
