/**
 * What the engine learns from a compiled schema alone, computed at most once per schema: one
 * analysis object per CompiledSchema (compiled schemas are immutable and cached by text, so the
 * analysis lives exactly as long as the schema does), each part computed when first asked for.
 *
 * - usesExpiration: answers can depend on the clock (relationships with an expiration).
 * - reverse / usersetsReaching: the schema read backwards, which LookupResources walks from the
 *   subject towards resources.
 * - isMonotoneUnion: where reachability already is the answer (no intersection, exclusion, `.all()`
 *   or caveat on the way).
 * - indexableRelations: the relations the nested-group (Leopard) index keeps.
 *
 * (The compiler's own `withoutWildcard` cache, used while validating a schema, lives in compiler.ts.)
 */
import type { CompiledSchema, Rewrite } from './ir.js';
import { ELLIPSIS } from './ir.js';

export interface ArrowEdge {
  /** The resource type and permission whose rewrite holds the arrow. */
  type: string;
  relation: string;
  tupleset: string;
}

export interface ReverseSchema {
  /**
   * `type#relation` → permissions of the same type that include it (outside subtracted branches).
   * `type#...` (the object itself) → the permissions that include `self`: an object flows into them as itself.
   */
  computedBy: Map<string, string[]>;
  /** `subjectType#computedRelation` → arrows that can walk from that subject type into a resource. */
  arrowsOver: Map<string, ArrowEdge[]>;
}

export interface WalkOptions {
  /** Also visit an exclusion's subtracted branch (default true). Subtracted branches contribute no members. */
  subtracted?: boolean;
}

/**
 * Visits `rw` and its operands depth first, each node before its operands. `visit` returning false
 * skips that node's operands. With `{ subtracted: false }` an exclusion's `subtract` is not visited.
 */
export function walkRewrite(rw: Rewrite, visit: (node: Rewrite) => boolean | void, options: WalkOptions = {}): void {
  const subtracted = options.subtracted ?? true;
  const walk = (node: Rewrite): void => {
    if (visit(node) === false) return;
    switch (node.kind) {
      case 'union':
      case 'intersection':
        for (const child of node.children) walk(child);
        return;
      case 'exclusion':
        walk(node.base);
        if (subtracted) walk(node.subtract);
        return;
      default:
        return;
    }
  };
  walk(rw);
}

/** Analyses of one compiled schema; get it with analysisOf(schema). */
export class SchemaAnalysis {
  private expiring: boolean | undefined;
  private reversed: ReverseSchema | undefined;
  private indexable: ReadonlyMap<string, readonly [type: string, relation: string]> | undefined;
  private readonly reaching = new Map<string, ReadonlySet<string>>();
  private readonly monotone = new Map<string, boolean>();

  constructor(readonly schema: CompiledSchema) {}

  /** Whether any relation admits relationships with an expiration (answers then depend on the clock). */
  get usesExpiration(): boolean {
    this.expiring ??= [...this.schema.definitions.values()].some((d) =>
      [...d.relations.values()].some((r) => r.allowedSubjects.some((a) => a.expiration)),
    );
    return this.expiring;
  }

  /** The schema read backwards: which relations a userset can flow into. */
  get reverse(): ReverseSchema {
    this.reversed ??= buildReverse(this.schema);
    return this.reversed;
  }

  /**
   * The usersets (`type#relation`) from which the walk can get to `type#relation`: walking on from any
   * other userset reads relationships that cannot lead to the answer (a lookup of folders reading every
   * document in them).
   */
  usersetsReaching(type: string, relation: string): ReadonlySet<string> {
    const target = `${type}#${relation}`;
    let found = this.reaching.get(target);
    if (!found) {
      found = reachingTarget(this.schema, this.reverse, target);
      this.reaching.set(target, found);
    }
    return found;
  }

  /**
   * True when the relation's answer is exactly the reachable set: no intersection, exclusion, `.all()`
   * or caveat on the way.
   */
  isMonotoneUnion(type: string, relation: string): boolean {
    const key = `${type}#${relation}`;
    let monotone = this.monotone.get(key);
    if (monotone === undefined) {
      monotone = isMonotoneUnion(this.schema, type, relation, new Set());
      this.monotone.set(key, monotone);
    }
    return monotone;
  }

  /**
   * The relations the nested-group index can keep, keyed `type#relation`: a `relation` R of type T
   * that is exactly its stored tuples (no other rewrite) and whose allowed subjects include `T#R`
   * itself, with no caveat and no expiration.
   */
  get indexableRelations(): ReadonlyMap<string, readonly [type: string, relation: string]> {
    this.indexable ??= findIndexable(this.schema);
    return this.indexable;
  }
}

const analyses = new WeakMap<CompiledSchema, SchemaAnalysis>();

/** The schema's analysis object, made once per compiled schema. */
export function analysisOf(schema: CompiledSchema): SchemaAnalysis {
  let analysis = analyses.get(schema);
  if (!analysis) analyses.set(schema, (analysis = new SchemaAnalysis(schema)));
  return analysis;
}

function buildReverse(schema: CompiledSchema): ReverseSchema {
  const computedBy = new Map<string, string[]>();
  const arrowsOver = new Map<string, ArrowEdge[]>();
  for (const def of schema.definitions.values()) {
    for (const rel of def.relations.values()) {
      // Leaves that can contribute members (subtracted branches cannot).
      walkRewrite(
        rel.rewrite,
        (leaf) => {
          if (leaf.kind === 'computed') push(computedBy, `${def.name}#${leaf.relation}`, rel.name);
          if (leaf.kind === 'self') push(computedBy, `${def.name}#${ELLIPSIS}`, rel.name);
          if (leaf.kind === 'tupleToUserset') {
            const tupleset = def.relations.get(leaf.tupleset);
            const subjectTypes = new Set(tupleset?.allowedSubjects.map((a) => a.type) ?? []);
            for (const st of subjectTypes) {
              push(arrowsOver, `${st}#${leaf.computed}`, {
                type: def.name,
                relation: rel.name,
                tupleset: leaf.tupleset,
              });
            }
          }
        },
        { subtracted: false },
      );
    }
  }
  return { computedBy, arrowsOver };
}

function reachingTarget(schema: CompiledSchema, reverse: ReverseSchema, target: string): ReadonlySet<string> {
  // Edges backwards: each userset to the usersets that flow into it (stored subjects, computed, arrows).
  const feeders = new Map<string, string[]>();
  const add = (from: string, to: string) => push(feeders, to, from);
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
  return seen;
}

/** `seen`: relations already on the way (a cycle adds nothing a union does not already have). */
function isMonotoneUnion(schema: CompiledSchema, type: string, relation: string, seen: Set<string>): boolean {
  const key = `${type}#${relation}`;
  if (seen.has(key)) return true;
  seen.add(key);
  const rel = schema.definitions.get(type)?.relations.get(relation);
  if (!rel) return true;
  let ok = true;
  walkRewrite(rel.rewrite, (rw) => {
    if (!ok) return false;
    switch (rw.kind) {
      case 'intersection':
      case 'exclusion':
        ok = false;
        return false;
      case 'computed':
        ok = isMonotoneUnion(schema, type, rw.relation, seen);
        return;
      case 'tupleToUserset': {
        if (rw.mode === 'all') {
          ok = false;
          return;
        }
        const ts = schema.definitions.get(type)?.relations.get(rw.tupleset);
        ok = (ts?.allowedSubjects ?? []).every((a) => !a.caveat && isMonotoneUnion(schema, a.type, rw.computed, seen));
        return;
      }
      case 'this':
        ok = rel.allowedSubjects.every(
          (a) => !a.caveat && (a.relation === ELLIPSIS || isMonotoneUnion(schema, a.type, a.relation, seen)),
        );
        return;
      default:
        return;
    }
  });
  return ok;
}

function findIndexable(schema: CompiledSchema): Map<string, readonly [string, string]> {
  const out = new Map<string, readonly [string, string]>();
  for (const [type, def] of schema.definitions) {
    for (const [name, rel] of def.relations) {
      // Only the stored tuples (SpiceDB's relations always; an OpenFGA relation may add a rewrite, as
      // `[user, team#member] or owner`, and a nested group's owners are then members too: not indexable).
      if (rel.kind !== 'relation' || rel.rewrite.kind !== 'this') continue;
      const self = rel.allowedSubjects.filter((s) => s.type === type && s.relation === name && !s.wildcard);
      // `T#R` must be allowed plainly, and not also `T#R with ...` (that would let edges carry conditions).
      if (self.length > 0 && self.every((s) => s.caveat === undefined && !s.expiration)) {
        out.set(`${type}#${name}`, [type, name]);
      }
    }
  }
  return out;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
