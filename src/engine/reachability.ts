/**
 * The schema read backwards: which relations a userset can flow into. LookupResources walks these
 * edges from the subject towards resources.
 */
import type { CompiledSchema, Rewrite } from '../schema/ir.js';

export interface ArrowEdge {
  /** The resource type and permission whose rewrite holds the arrow. */
  type: string;
  relation: string;
  tupleset: string;
}

export interface ReverseSchema {
  /** `type#relation` → permissions of the same type that include it (outside subtracted branches). */
  computedBy: Map<string, string[]>;
  /** `subjectType#computedRelation` → arrows that can walk from that subject type into a resource. */
  arrowsOver: Map<string, ArrowEdge[]>;
}

const cache = new WeakMap<CompiledSchema, ReverseSchema>();

export function reverseSchema(schema: CompiledSchema): ReverseSchema {
  let reverse = cache.get(schema);
  if (!reverse) {
    reverse = build(schema);
    cache.set(schema, reverse);
  }
  return reverse;
}

function build(schema: CompiledSchema): ReverseSchema {
  const computedBy = new Map<string, string[]>();
  const arrowsOver = new Map<string, ArrowEdge[]>();
  const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  for (const def of schema.definitions.values()) {
    for (const rel of def.relations.values()) {
      visit(rel.rewrite, (leaf) => {
        if (leaf.kind === 'computed') push(computedBy, `${def.name}#${leaf.relation}`, rel.name);
        if (leaf.kind === 'tupleToUserset') {
          const tupleset = def.relations.get(leaf.tupleset);
          const subjectTypes = new Set(tupleset?.allowedSubjects.map((a) => a.type) ?? []);
          for (const st of subjectTypes) {
            push(arrowsOver, `${st}#${leaf.computed}`, { type: def.name, relation: rel.name, tupleset: leaf.tupleset });
          }
        }
      });
    }
  }
  return { computedBy, arrowsOver };
}

/** Leaves that can contribute members (subtracted branches cannot). */
function visit(rw: Rewrite, leaf: (rw: Rewrite) => void): void {
  switch (rw.kind) {
    case 'union':
    case 'intersection':
      rw.children.forEach((c) => visit(c, leaf));
      return;
    case 'exclusion':
      visit(rw.base, leaf);
      return;
    default:
      leaf(rw);
  }
}

/**
 * True when the relation's answer is exactly the reachable set: no intersection, exclusion, `.all()`
 * or caveat on the way.
 */
export function isMonotoneUnion(schema: CompiledSchema, type: string, relation: string, seen = new Set<string>()): boolean {
  const key = `${type}#${relation}`;
  if (seen.has(key)) return true;
  seen.add(key);
  const rel = schema.definitions.get(type)?.relations.get(relation);
  if (!rel) return true;
  const ok = (rw: Rewrite): boolean => {
    switch (rw.kind) {
      case 'union':
        return rw.children.every(ok);
      case 'intersection':
      case 'exclusion':
        return false;
      case 'computed':
        return isMonotoneUnion(schema, type, rw.relation, seen);
      case 'tupleToUserset': {
        if (rw.mode === 'all') return false;
        const ts = schema.definitions.get(type)?.relations.get(rw.tupleset);
        return (ts?.allowedSubjects ?? []).every((a) => !a.caveat && isMonotoneUnion(schema, a.type, rw.computed, seen));
      }
      case 'this': {
        return rel.allowedSubjects.every(
          (a) => !a.caveat && (a.relation === '...' || isMonotoneUnion(schema, a.type, a.relation, seen)),
        );
      }
      default:
        return true;
    }
  };
  return ok(rel.rewrite);
}
