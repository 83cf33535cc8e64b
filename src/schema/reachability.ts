/**
 * SpiceDB's reachability graph over a compiled schema, as its SchemaService walks it for
 * ComputablePermissions (which relations and permissions a subject type can reach) and
 * DependentRelations (which relations and permissions a permission depends on).
 *
 * Each relation or permission has a graph of entrypoints, keyed by the subject it takes in:
 * - a relation: one key per allowed type (`user#...`, `group#member`), a wildcard (`user:*`) keyed
 *   by its type alone;
 * - a permission: `def#rel` for each relation or permission it names, and for an arrow
 *   `tupleset->computed` the key `type#computed` for every allowed type of the tupleset that has
 *   `computed` (the tupleset itself is recorded as used). Every operand counts, the subtracted side
 *   of an exclusion too; as in SpiceDB, a `nil` operand ends the walk of the set operation it is in.
 *
 * These answers are about the schema only, never about relationships.
 */
import type { CompiledSchema, RelationDefinition, Rewrite } from './ir.js';
import { ELLIPSIS } from './ir.js';

/** A relation or permission named in an answer. */
export interface RelationReference {
  definition: string;
  relation: string;
  isPermission: boolean;
}

interface Entrypoints {
  /** `type#relation` keys of the subjects taken in, in discovery order. */
  subjectRelations: string[];
  /** Types taken in as a wildcard. */
  wildcardTypes: Set<string>;
  /** `def#relation` of the tuplesets of arrows with at least one entrypoint. */
  tuplesets: string[];
}

/** The entrypoints of every relation and permission of one schema, built once. */
class Reachability {
  private readonly graphs = new Map<string, Entrypoints>();
  private index: { bySubject: Map<string, string[]>; byWildcard: Map<string, string[]> } | undefined;

  constructor(readonly schema: CompiledSchema) {}

  /** The entrypoints of `def#relation` (which must exist). */
  graph(def: string, relation: string): Entrypoints {
    const key = `${def}#${relation}`;
    let g = this.graphs.get(key);
    if (!g) {
      g = buildGraph(this.schema, def, this.schema.definitions.get(def)!.relations.get(relation)!);
      this.graphs.set(key, g);
    }
    return g;
  }

  /** For each subject key (and each wildcard type), the relations whose graph takes it in directly. */
  referrers(): { bySubject: Map<string, string[]>; byWildcard: Map<string, string[]> } {
    if (this.index) return this.index;
    const bySubject = new Map<string, string[]>();
    const byWildcard = new Map<string, string[]>();
    for (const def of this.schema.definitions.values()) {
      for (const rel of def.relations.values()) {
        const key = `${def.name}#${rel.name}`;
        const g = this.graph(def.name, rel.name);
        for (const s of new Set(g.subjectRelations)) push(bySubject, s, key);
        for (const t of g.wildcardTypes) push(byWildcard, t, key);
      }
    }
    this.index = { bySubject, byWildcard };
    return this.index;
  }
}

const cache = new WeakMap<CompiledSchema, Reachability>();

function reachabilityOf(schema: CompiledSchema): Reachability {
  let r = cache.get(schema);
  if (!r) cache.set(schema, (r = new Reachability(schema)));
  return r;
}

function buildGraph(schema: CompiledSchema, def: string, rel: RelationDefinition): Entrypoints {
  const g: Entrypoints = { subjectRelations: [], wildcardTypes: new Set(), tuplesets: [] };
  if (rel.kind === 'relation') {
    for (const a of rel.allowedSubjects) {
      if (a.wildcard) g.wildcardTypes.add(a.type);
      else g.subjectRelations.push(`${a.type}#${a.relation}`);
    }
    return g;
  }
  const relations = schema.definitions.get(def)!.relations;
  // SpiceDB's rewrite is always a set operation: a lone operand is a union of one.
  const walk = (op: Rewrite): void => {
    const operands =
      op.kind === 'union' || op.kind === 'intersection'
        ? op.children
        : op.kind === 'exclusion'
          ? [op.base, op.subtract]
          : [op];
    for (const child of operands) {
      switch (child.kind) {
        case 'computed':
          g.subjectRelations.push(`${def}#${child.relation}`);
          break;
        case 'union':
        case 'intersection':
        case 'exclusion':
          walk(child);
          break;
        case 'tupleToUserset':
          for (const a of relations.get(child.tupleset)?.allowedSubjects ?? []) {
            if (!schema.definitions.get(a.type)?.relations.has(child.computed)) continue;
            g.subjectRelations.push(`${a.type}#${child.computed}`);
            g.tuplesets.push(`${def}#${child.tupleset}`);
          }
          break;
        case 'nil':
          // SpiceDB returns here: the operands after a `nil` add no entrypoints.
          return;
        default:
          break;
      }
    }
  };
  walk(rel.rewrite);
  return g;
}

/**
 * ComputablePermissions: every relation and permission that `def#relation` (or, with no relation,
 * objects of type `def` themselves) can reach as a subject, directly or through others, sorted by
 * definition then name; `def#relation` itself is left out, as are definitions not starting with
 * `definitionPrefix`. The definition and relation must exist.
 */
export function computablePermissions(
  schema: CompiledSchema,
  def: string,
  relation: string | undefined,
  definitionPrefix = '',
): RelationReference[] {
  const r = reachabilityOf(schema);
  const { bySubject, byWildcard } = r.referrers();
  const start = `${def}#${relation || ELLIPSIS}`;
  const found = new Set<string>();
  let layer = [start];
  while (layer.length > 0) {
    const next: string[] = [];
    for (const subject of layer) {
      const type = subject.slice(0, subject.indexOf('#'));
      // A wildcard takes in every subject of its type, whatever the subject's relation.
      for (const referrer of [...(bySubject.get(subject) ?? []), ...(byWildcard.get(type) ?? [])]) {
        if (referrer === subject || found.has(referrer)) continue;
        found.add(referrer);
        next.push(referrer);
      }
    }
    layer = next;
  }
  if (relation) found.delete(`${def}#${relation}`);
  return references(schema, [...found]).filter((ref) => ref.definition.startsWith(definitionPrefix));
}

/**
 * DependentRelations: every relation and permission that `def#permission` is computed from,
 * directly or through others, sorted by definition then name (the permission itself left out).
 * It follows SpiceDB's walk: depth first over subject relations in name order, where an arrow's
 * tupleset counts as used (and so is not walked into) as soon as the arrow is met.
 */
export function dependentRelations(schema: CompiledSchema, def: string, permission: string): RelationReference[] {
  const r = reachabilityOf(schema);
  const encountered = new Set<string>();
  const stack: Array<{ keys: string[]; next: number }> = [];
  const enter = (key: string): void => {
    if (encountered.has(key)) return;
    encountered.add(key);
    const at = key.indexOf('#');
    const g = r.graph(key.slice(0, at), key.slice(at + 1));
    for (const t of g.tuplesets) encountered.add(t);
    const keys = [...new Set(g.subjectRelations)].filter((k) => !k.endsWith(`#${ELLIPSIS}`)).sort(compare);
    stack.push({ keys, next: 0 });
  };
  enter(`${def}#${permission}`);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === top.keys.length) stack.pop();
    else enter(top.keys[top.next++]);
  }
  encountered.delete(`${def}#${permission}`);
  return references(schema, [...encountered]);
}

function references(schema: CompiledSchema, keys: string[]): RelationReference[] {
  return keys
    .map((key) => {
      const at = key.indexOf('#');
      const definition = key.slice(0, at);
      const relation = key.slice(at + 1);
      const isPermission = schema.definitions.get(definition)?.relations.get(relation)?.kind === 'permission';
      return { definition, relation, isPermission };
    })
    .sort((a, b) => compare(a.definition, b.definition) || compare(a.relation, b.relation));
}

/** Go's string order (bytes; names are ASCII). */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
