/**
 * Check: does a subject have a relation (or permission) on an object? Evaluates the userset-rewrite
 * tree depth-first with short-circuiting, in three-valued logic (member / not / conditional on
 * caveats whose context is missing).
 *
 * Cycles in the data (group a in group b in group a) are cut: revisiting a userset that is already
 * being evaluated on the current path contributes "not a member" (see cycle-cut-memo.ts).
 */
import type { CompiledSchema, Rewrite } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import type { ObjectRef, Relationship, SubjectRef } from '../relationship.js';
import type { RequestReader } from './request-reader.js';
import { maxDepthExceeded } from './depth.js';
import { CycleCutMemo } from './cycle-cut-memo.js';
import type { CaveatEvaluator } from './caveat-evaluator.js';
import type { Membership } from './membership.js';
import { and, MEMBER, not, NOT_MEMBER, or } from './membership.js';

/** A membership, plus the shallowest path depth whose cycle cut it relied on (Infinity: none). */
interface Evaluation {
  m: Membership;
  cut: number;
}

const YES: Evaluation = { m: MEMBER, cut: Infinity };
const NO: Evaluation = { m: NOT_MEMBER, cut: Infinity };

/** Answers checks for one subject and context against one snapshot; reuse it for many resources. */
export class Checker {
  private readonly memo = new CycleCutMemo<Evaluation>();

  constructor(
    private readonly schema: CompiledSchema,
    private readonly reader: RequestReader,
    private readonly subject: SubjectRef,
    private readonly caveats: CaveatEvaluator,
    private readonly maxDepth: number,
  ) {}

  async check(resource: ObjectRef, relation: string): Promise<Membership> {
    return (await this.userset(resource.type, resource.id, relation, 0)).m;
  }

  private async userset(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    const s = this.subject;
    if (type === s.type && id === s.id && relation === s.relation) return YES;
    const key = `${type}:${id}#${relation}`;
    return this.memo.run(key, depth, (cutAt) => ({ m: NOT_MEMBER, cut: cutAt }), async () => {
      if (depth > this.maxDepth) throw maxDepthExceeded(this.maxDepth, `check of ${key}`);
      const definition = this.schema.definitions.get(type)?.relations.get(relation);
      return definition ? this.rewrite(definition.rewrite, type, id, relation, depth) : NO;
    });
  }

  private async rewrite(rw: Rewrite, type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    switch (rw.kind) {
      case 'nil':
        return NO;
      case 'this':
        return this.direct(await this.reader.byResource(type, [id], relation), depth);
      case 'computed':
        return this.userset(type, id, rw.relation, depth + 1);
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
        return { m: and(base.m, not(sub.m)), cut: Math.min(base.cut, sub.cut) };
      }
    }
  }

  /** Relationships stored on the relation: a direct match, a wildcard, or a subject set to follow. */
  private async direct(rels: Relationship[], depth: number): Promise<Evaluation> {
    const s = this.subject;
    let acc: Membership = NOT_MEMBER;
    for (const r of rels) {
      const rs = r.subject;
      if (rs.type !== s.type) continue;
      const matches = (rs.relation === s.relation && rs.id === s.id) ||
        (rs.id === '*' && s.relation === ELLIPSIS && rs.relation === ELLIPSIS);
      if (matches) {
        acc = or(acc, this.caveats.of(r));
        if (acc.kind === 'member') return YES;
      }
    }
    let cut = Infinity;
    for (const r of rels) {
      const rs = r.subject;
      if (rs.relation === ELLIPSIS) continue;
      const granted = this.caveats.of(r);
      if (granted.kind === 'not-member') continue;
      const e = await this.userset(rs.type, rs.id, rs.relation, depth + 1);
      cut = Math.min(cut, e.cut);
      acc = or(acc, and(granted, e.m));
      if (acc.kind === 'member') return { m: acc, cut };
    }
    return { m: acc, cut };
  }

  private async arrow(
    rw: Extract<Rewrite, { kind: 'tupleToUserset' }>,
    type: string,
    id: string,
    depth: number,
  ): Promise<Evaluation> {
    const rels = await this.reader.byResource(type, [id], rw.tupleset);
    const all = rw.mode === 'all';
    const perObject = new Map<string, { subject: SubjectRef; via: Membership }>();
    for (const r of rels) {
      const key = `${r.subject.type}:${r.subject.id}`;
      const prev = perObject.get(key);
      perObject.set(key, { subject: r.subject, via: prev ? or(prev.via, this.caveats.of(r)) : this.caveats.of(r) });
    }
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
      const e = await this.userset(subject.type, subject.id, rw.computed, depth + 1);
      cut = Math.min(cut, e.cut);
      acc = all ? and(acc, and(via, e.m)) : or(acc, and(via, e.m));
    }
    return { m: acc, cut };
  }
}
