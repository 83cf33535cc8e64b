/**
 * Check: does a subject have a relation (or permission) on an object? Evaluates the userset-rewrite
 * tree depth-first with short-circuiting.
 *
 * Cycles in the data (group a in group b in group a) are cut: revisiting a userset that is already
 * being evaluated on the current path contributes "not a member", which gives the least fixed point —
 * the answer a finite chain of relationships justifies. A result that relied on such a cut above its
 * own level is not memoised, because it was computed under an assumption that may not hold later.
 */
import type { CompiledSchema, Rewrite } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import type { ObjectRef, Relationship, SubjectRef } from '../relationship.js';
import type { RequestReader } from './request-reader.js';
import { maxDepthExceeded } from './depth.js';

/** `member`, plus the shallowest path depth whose cycle cut this answer relied on (Infinity: none). */
interface Evaluation {
  member: boolean;
  cut: number;
}

const YES: Evaluation = { member: true, cut: Infinity };
const NO: Evaluation = { member: false, cut: Infinity };

/** Answers checks for one subject against one snapshot; reuse it for many resources (LookupResources). */
export class Checker {
  private readonly memo = new Map<string, boolean>();
  private readonly onPath = new Map<string, number>();

  constructor(
    private readonly schema: CompiledSchema,
    private readonly reader: RequestReader,
    private readonly subject: SubjectRef,
    private readonly maxDepth: number,
  ) {}

  async check(resource: ObjectRef, relation: string): Promise<boolean> {
    return (await this.userset(resource.type, resource.id, relation, 0)).member;
  }

  private async userset(type: string, id: string, relation: string, depth: number): Promise<Evaluation> {
    const s = this.subject;
    if (type === s.type && id === s.id && relation === s.relation) return YES;
    const key = `${type}:${id}#${relation}`;
    const known = this.memo.get(key);
    if (known !== undefined) return known ? YES : NO;
    const pathDepth = this.onPath.get(key);
    if (pathDepth !== undefined) return { member: false, cut: pathDepth };
    if (depth > this.maxDepth) throw maxDepthExceeded(this.maxDepth, `check of ${key}`);
    const definition = this.schema.definitions.get(type)?.relations.get(relation);
    if (!definition) return NO;

    this.onPath.set(key, depth);
    let result: Evaluation;
    try {
      result = await this.rewrite(definition.rewrite, type, id, relation, depth);
    } finally {
      this.onPath.delete(key);
    }
    if (result.cut >= depth) {
      this.memo.set(key, result.member);
      return result.member ? YES : NO;
    }
    return result;
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
      case 'union': {
        let cut = Infinity;
        for (const child of rw.children) {
          const r = await this.rewrite(child, type, id, relation, depth);
          if (r.member) return r;
          cut = Math.min(cut, r.cut);
        }
        return { member: false, cut };
      }
      case 'intersection': {
        let cut = Infinity;
        for (const child of rw.children) {
          const r = await this.rewrite(child, type, id, relation, depth);
          cut = Math.min(cut, r.cut);
          if (!r.member) return { member: false, cut };
        }
        return { member: true, cut };
      }
      case 'exclusion': {
        const base = await this.rewrite(rw.base, type, id, relation, depth);
        if (!base.member) return base;
        const sub = await this.rewrite(rw.subtract, type, id, relation, depth);
        return { member: !sub.member, cut: Math.min(base.cut, sub.cut) };
      }
    }
  }

  /** Relationships stored on the relation: a direct match, a wildcard, or a subject set to follow. */
  private async direct(rels: Relationship[], depth: number): Promise<Evaluation> {
    const s = this.subject;
    for (const r of rels) {
      const rs = r.subject;
      if (rs.type !== s.type) continue;
      if (rs.relation === s.relation && rs.id === s.id) return YES;
      if (rs.id === '*' && s.relation === ELLIPSIS && rs.relation === ELLIPSIS) return YES;
    }
    let cut = Infinity;
    for (const r of rels) {
      const rs = r.subject;
      if (rs.relation === ELLIPSIS) continue;
      const e = await this.userset(rs.type, rs.id, rs.relation, depth + 1);
      if (e.member) return e;
      cut = Math.min(cut, e.cut);
    }
    return { member: false, cut };
  }

  private async arrow(
    rw: Extract<Rewrite, { kind: 'tupleToUserset' }>,
    type: string,
    id: string,
    depth: number,
  ): Promise<Evaluation> {
    const rels = await this.reader.byResource(type, [id], rw.tupleset);
    const seen = new Set<string>();
    let cut = Infinity;
    let any = false;
    for (const r of rels) {
      const objectKey = `${r.subject.type}:${r.subject.id}`;
      if (seen.has(objectKey)) continue;
      seen.add(objectKey);
      any = true;
      const e = await this.userset(r.subject.type, r.subject.id, rw.computed, depth + 1);
      cut = Math.min(cut, e.cut);
      if (rw.mode === 'any' && e.member) return e;
      if (rw.mode === 'all' && !e.member) return { member: false, cut };
    }
    return { member: rw.mode === 'all' && any, cut };
  }
}
