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

const reaching = new WeakMap<CompiledSchema, Map<string, ReadonlySet<string>>>();

/**
 * The usersets (`type#relation`) from which the walk can get to `type#relation`: walking on from any
 * other userset reads relationships that cannot lead to the answer (a lookup of folders reading every
 * document in them).
 */
export function usersetsReaching(schema: CompiledSchema, type: string, relation: string): ReadonlySet<string> {
  let bySchema = reaching.get(schema);
  if (!bySchema) reaching.set(schema, (bySchema = new Map()));
  const target = `${type}#${relation}`;
  let found = bySchema.get(target);
  if (!found) {
    // Edges backwards: each userset to the usersets that flow into it (stored subjects, computed, arrows).
    const feeders = new Map<string, string[]>();
    const add = (from: string, to: string) => {
      const list = feeders.get(to);
      if (list) list.push(from);
      else feeders.set(to, [from]);
    };
    const reverse = reverseSchema(schema);
    for (const def of schema.definitions.values()) {
      for (const rel of def.relations.values()) {
        for (const a of rel.allowedSubjects) add(`${a.type}#${a.relation}`, `${def.name}#${rel.name}`);
      }
    }
    for (const [from, permissions] of reverse.computedBy) {
      const on = from.slice(0, from.lastIndexOf('#'));
      for (const p of permissions) add(from, `${on}#${p}`);
    }
    for (const [from, edges] of reverse.arrowsOver) for (const e of edges) add(from, `${e.type}#${e.relation}`);
    const seen = new Set<string>([target]);
    const todo = [target];
    for (let k = todo.pop(); k !== undefined; k = todo.pop()) {
      for (const from of feeders.get(k) ?? []) {
        if (!seen.has(from)) {
          seen.add(from);
          todo.push(from);
        }
      }
    }
    found = seen;
    bySchema.set(target, found);
  }
  return found;
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
