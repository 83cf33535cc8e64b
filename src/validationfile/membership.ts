/**
 * The subjects an Expand tree grants, each with the object relations it was found through — what
 * zed's expected relations list. Subject sets in leaves (`group:eng#member`) are listed themselves and
 * expanded in place, so their members take part in the intersections and exclusions above them.
 *
 * Set algebra is per (subject type, subject relation); a wildcard `user:*` stands for every `user`
 * except its exclusions.
 */
import type { ObjectRef, SubjectRef } from '../relationships/relationship.js';
import type { ExpandTree } from '../requests/requests.js';
import { ELLIPSIS } from '../schema/ir.js';

export interface FoundSubject {
  subject: SubjectRef;
  /** For a wildcard: the excluded subject ids (same type and relation). */
  excluded: Set<string>;
  /** `type:id#relation` strings of the object relations the subject was found in. */
  reasons: Set<string>;
}

const subjectKey = (s: SubjectRef) => `${s.type}:${s.id}#${s.relation}`;
const wildcardKey = (s: SubjectRef) => `${s.type}:*#${s.relation}`;
const onrKey = (o: ObjectRef, relation: string) => `${o.type}:${o.id}#${relation}`;

function copy(f: FoundSubject): FoundSubject {
  return { subject: f.subject, excluded: new Set(f.excluded), reasons: new Set(f.reasons) };
}

/** Found subjects keyed by `type:id#relation`. Immutable in use: operations return new sets. */
export class MembershipSet {
  constructor(readonly subjects: Map<string, FoundSubject> = new Map()) {}

  static of(found: FoundSubject[]): MembershipSet {
    let set = new MembershipSet();
    for (const f of found) set = set.union(new MembershipSet(new Map([[subjectKey(f.subject), f]])));
    return set;
  }

  private wildcardFor(s: SubjectRef): FoundSubject | undefined {
    return this.subjects.get(wildcardKey(s));
  }

  /** Whether the set grants the (non-wildcard) subject, and through which found entry. */
  lookup(s: SubjectRef): FoundSubject | undefined {
    const exact = this.subjects.get(subjectKey(s));
    if (exact) return exact;
    const w = s.id === '*' ? undefined : this.wildcardFor(s);
    return w && !w.excluded.has(s.id) ? w : undefined;
  }

  union(other: MembershipSet): MembershipSet {
    const out = new Map<string, FoundSubject>();
    for (const f of [...this.subjects.values(), ...other.subjects.values()]) {
      const key = subjectKey(f.subject);
      const existing = out.get(key);
      if (!existing) {
        out.set(key, copy(f));
        continue;
      }
      for (const r of f.reasons) existing.reasons.add(r);
      if (f.subject.id === '*') existing.excluded = new Set([...existing.excluded].filter((x) => f.excluded.has(x)));
    }
    // A concrete subject present on either side is no longer excluded from the wildcard.
    for (const f of out.values()) {
      if (f.subject.id !== '*') continue;
      for (const x of [...f.excluded]) if (out.has(subjectKey({ ...f.subject, id: x }))) f.excluded.delete(x);
    }
    return new MembershipSet(out);
  }

  intersect(other: MembershipSet): MembershipSet {
    const out = new Map<string, FoundSubject>();
    const meet = (a: FoundSubject, b: FoundSubject) => {
      const key = subjectKey(a.subject);
      const merged = out.get(key) ?? { subject: a.subject, excluded: new Set<string>(), reasons: new Set<string>() };
      for (const r of [...a.reasons, ...b.reasons]) merged.reasons.add(r);
      if (a.subject.id === '*') merged.excluded = new Set([...a.excluded, ...b.excluded]);
      out.set(key, merged);
    };
    for (const a of this.subjects.values()) {
      if (a.subject.id === '*') {
        const w = other.wildcardFor(a.subject);
        if (w) meet(a, w);
        // Concrete subjects of the other side that this wildcard admits.
        for (const b of other.subjects.values()) {
          if (
            b.subject.id !== '*' &&
            wildcardKey(b.subject) === wildcardKey(a.subject) &&
            !a.excluded.has(b.subject.id)
          )
            meet(b, a);
        }
      } else {
        const b = other.lookup(a.subject);
        if (b) meet(a, b);
      }
    }
    return new MembershipSet(out);
  }

  subtract(other: MembershipSet): MembershipSet {
    const out = new Map<string, FoundSubject>();
    for (const a of this.subjects.values()) {
      if (a.subject.id !== '*') {
        if (!other.lookup(a.subject)) out.set(subjectKey(a.subject), copy(a));
        continue;
      }
      const w = other.wildcardFor(a.subject);
      if (w) {
        // Everyone minus everyone-but-X leaves X, less what the left wildcard already excluded.
        for (const x of w.excluded) {
          const s = { ...a.subject, id: x };
          if (!a.excluded.has(x) && !other.subjects.has(subjectKey(s))) {
            out.set(subjectKey(s), { subject: s, excluded: new Set(), reasons: new Set(a.reasons) });
          }
        }
        continue;
      }
      const kept = copy(a);
      for (const b of other.subjects.values()) {
        if (wildcardKey(b.subject) === wildcardKey(a.subject)) kept.excluded.add(b.subject.id);
      }
      out.set(subjectKey(a.subject), kept);
    }
    return new MembershipSet(out);
  }
}

export type ExpandFn = (resource: ObjectRef, relation: string) => Promise<ExpandTree>;

/**
 * Computes the membership of object relations by expanding them fully: Expand trees, with every
 * subject set in a leaf expanded recursively. Cycles contribute nothing where they close.
 */
export class MembershipResolver {
  private readonly done = new Map<string, MembershipSet>();
  private readonly inProgress = new Set<string>();

  constructor(
    private readonly expand: ExpandFn,
    private readonly maxDepth = 50,
  ) {}

  async membership(resource: ObjectRef, relation: string): Promise<MembershipSet> {
    return (await this.resolve(resource, relation, 0)).set;
  }

  private async resolve(
    resource: ObjectRef,
    relation: string,
    depth: number,
  ): Promise<{ set: MembershipSet; cut: boolean }> {
    const key = onrKey(resource, relation);
    const known = this.done.get(key);
    if (known) return { set: known, cut: false };
    if (this.inProgress.has(key)) return { set: new MembershipSet(), cut: true };
    if (depth > this.maxDepth) throw new Error(`expanding ${key} needs more than ${this.maxDepth} nested subject sets`);
    this.inProgress.add(key);
    try {
      const result = await this.tree(await this.expand(resource, relation), depth);
      // A result that relied on a cut cycle may be incomplete elsewhere: only keep complete ones.
      if (!result.cut) this.done.set(key, result.set);
      return result;
    } finally {
      this.inProgress.delete(key);
    }
  }

  private async tree(node: ExpandTree, depth: number): Promise<{ set: MembershipSet; cut: boolean }> {
    if (node.kind === 'leaf') {
      const reason = onrKey(node.expandedObject, node.expandedRelation);
      let set = MembershipSet.of(
        node.subjects.map((s) => ({ subject: s, excluded: new Set<string>(), reasons: new Set([reason]) })),
      );
      let cut = false;
      for (const s of node.subjects) {
        if (s.relation === ELLIPSIS) continue;
        const inner = await this.resolve({ type: s.type, id: s.id }, s.relation, depth + 1);
        set = set.union(inner.set);
        cut ||= inner.cut;
      }
      return { set, cut };
    }
    const children: MembershipSet[] = [];
    let cut = false;
    for (const child of node.children) {
      const r = await this.tree(child, depth);
      children.push(r.set);
      cut ||= r.cut;
    }
    if (children.length === 0) return { set: new MembershipSet(), cut };
    const [first, ...rest] = children;
    const combine = (a: MembershipSet, b: MembershipSet) =>
      node.operation === 'union' ? a.union(b) : node.operation === 'intersection' ? a.intersect(b) : a.subtract(b);
    return { set: rest.reduce(combine, first), cut };
  }
}
