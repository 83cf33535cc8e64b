/**
 * The differences between two schemas, as SpiceDB's DiffSchema reports them (its pkg/diff):
 * definitions and caveats added or removed; per definition, its doc comment, relations and
 * permissions added or removed, permission expressions and doc comments changed, relation doc
 * comments and allowed subject types changed; per caveat, its doc comment, parameters added,
 * removed or retyped, and its expression.
 *
 * Order: SpiceDB emits the groups in this order — definitions added, definitions removed, caveats
 * added, caveats removed, then each changed definition (doc comment, relations removed, relations
 * added, permissions removed, permissions added, then per permission its expression and doc
 * comment, then per relation its doc comment, allowed types removed and allowed types added), then
 * each changed caveat (doc comment, parameters removed, parameters added, retyped parameters,
 * expression). Within a group SpiceDB iterates Go sets, so its order varies from call to call;
 * here every group is sorted by name (allowed types by their schema text).
 *
 * A permission's expression is compared as SpiceDB compares its compiled rewrite: runs of `+` (or
 * `&`) are one operation however parenthesised, a lone operand is a union of one, and `a->b` differs
 * from `a.any(b)` (SpiceDB compiles them to different messages).
 */
import type * as AST from './ast.js';
import type {
  AllowedSubjectType,
  CaveatDefinition,
  CaveatParameterType,
  CompiledSchema,
  ObjectDefinition,
  RelationDefinition,
  Rewrite,
} from './ir.js';
import { parseSchema } from './parser.js';
import { printAllowedType, printCaveatType } from './printer.js';

/** One schema of a comparison: compiled, with the text it was compiled from. */
export interface DiffSide {
  schema: CompiledSchema;
  text: string;
}

/**
 * One difference. Objects come from the comparison schema, except for what was removed, which
 * comes from the existing one (SpiceDB's choice; a subject type removed is reported with the
 * relation as it is in the comparison schema).
 */
export type SchemaDelta =
  | { kind: 'definitionAdded' | 'definitionRemoved' | 'definitionDocCommentChanged'; definition: ObjectDefinition }
  | {
      kind:
        | 'relationAdded'
        | 'relationRemoved'
        | 'relationDocCommentChanged'
        | 'permissionAdded'
        | 'permissionRemoved'
        | 'permissionDocCommentChanged'
        | 'permissionExprChanged';
      definition: string;
      relation: RelationDefinition;
    }
  | {
      kind: 'relationSubjectTypeAdded' | 'relationSubjectTypeRemoved';
      definition: string;
      relation: RelationDefinition;
      subjectType: AllowedSubjectType;
    }
  | {
      kind: 'caveatAdded' | 'caveatRemoved' | 'caveatDocCommentChanged' | 'caveatExprChanged';
      caveat: CaveatDefinition;
    }
  | {
      kind: 'caveatParameterAdded' | 'caveatParameterRemoved';
      caveat: string;
      parameter: string;
      type: CaveatParameterType;
    }
  | {
      kind: 'caveatParameterTypeChanged';
      caveat: string;
      parameter: string;
      type: CaveatParameterType;
      previousType: CaveatParameterType;
    };

export function diffSchemas(existing: DiffSide, comparison: DiffSide): SchemaDelta[] {
  const out: SchemaDelta[] = [];
  const before = existing.schema;
  const after = comparison.schema;

  for (const name of sorted(onlyIn(after.definitions, before.definitions)))
    out.push({ kind: 'definitionAdded', definition: after.definitions.get(name)! });
  for (const name of sorted(onlyIn(before.definitions, after.definitions)))
    out.push({ kind: 'definitionRemoved', definition: before.definitions.get(name)! });
  for (const name of sorted(onlyIn(after.caveats, before.caveats)))
    out.push({ kind: 'caveatAdded', caveat: after.caveats.get(name)! });
  for (const name of sorted(onlyIn(before.caveats, after.caveats)))
    out.push({ kind: 'caveatRemoved', caveat: before.caveats.get(name)! });

  const expressions = { before: expressionsOf(existing), after: expressionsOf(comparison) };
  for (const name of sorted(inBoth(before.definitions, after.definitions))) {
    out.push(...diffDefinition(before.definitions.get(name)!, after.definitions.get(name)!, expressions));
  }
  for (const name of sorted(inBoth(before.caveats, after.caveats))) {
    out.push(...diffCaveat(before.caveats.get(name)!, after.caveats.get(name)!));
  }
  return out;
}

function diffDefinition(
  before: ObjectDefinition,
  after: ObjectDefinition,
  expressions: { before: Map<string, string>; after: Map<string, string> },
): SchemaDelta[] {
  const out: SchemaDelta[] = [];
  const definition = after.name;
  if (before.doc !== after.doc) out.push({ kind: 'definitionDocCommentChanged', definition: after });
  const relations = { before: membersOf(before, 'relation'), after: membersOf(after, 'relation') };
  const permissions = { before: membersOf(before, 'permission'), after: membersOf(after, 'permission') };
  for (const name of sorted(onlyIn(relations.before, relations.after)))
    out.push({ kind: 'relationRemoved', definition, relation: relations.before.get(name)! });
  for (const name of sorted(onlyIn(relations.after, relations.before)))
    out.push({ kind: 'relationAdded', definition, relation: relations.after.get(name)! });
  for (const name of sorted(onlyIn(permissions.before, permissions.after)))
    out.push({ kind: 'permissionRemoved', definition, relation: permissions.before.get(name)! });
  for (const name of sorted(onlyIn(permissions.after, permissions.before)))
    out.push({ kind: 'permissionAdded', definition, relation: permissions.after.get(name)! });
  for (const name of sorted(inBoth(permissions.before, permissions.after))) {
    const old = permissions.before.get(name)!;
    const now = permissions.after.get(name)!;
    const key = `${definition}#${name}`;
    const oldExpr = expressions.before.get(key) ?? canonicalRewrite(old.rewrite);
    const newExpr = expressions.after.get(key) ?? canonicalRewrite(now.rewrite);
    if (oldExpr !== newExpr) out.push({ kind: 'permissionExprChanged', definition, relation: now });
    if (old.doc !== now.doc) out.push({ kind: 'permissionDocCommentChanged', definition, relation: now });
  }
  for (const name of sorted(inBoth(relations.before, relations.after))) {
    const old = relations.before.get(name)!;
    const now = relations.after.get(name)!;
    if (old.doc !== now.doc) out.push({ kind: 'relationDocCommentChanged', definition, relation: now });
    const oldTypes = new Map(old.allowedSubjects.map((a) => [printAllowedType(a), a]));
    const newTypes = new Map(now.allowedSubjects.map((a) => [printAllowedType(a), a]));
    for (const source of sorted(onlyIn(oldTypes, newTypes)))
      out.push({ kind: 'relationSubjectTypeRemoved', definition, relation: now, subjectType: oldTypes.get(source)! });
    for (const source of sorted(onlyIn(newTypes, oldTypes)))
      out.push({ kind: 'relationSubjectTypeAdded', definition, relation: now, subjectType: newTypes.get(source)! });
  }
  return out;
}

function diffCaveat(before: CaveatDefinition, after: CaveatDefinition): SchemaDelta[] {
  const out: SchemaDelta[] = [];
  const caveat = after.name;
  if (before.doc !== after.doc) out.push({ kind: 'caveatDocCommentChanged', caveat: after });
  for (const parameter of sorted(onlyIn(before.parameters, after.parameters)))
    out.push({ kind: 'caveatParameterRemoved', caveat, parameter, type: before.parameters.get(parameter)! });
  for (const parameter of sorted(onlyIn(after.parameters, before.parameters)))
    out.push({ kind: 'caveatParameterAdded', caveat, parameter, type: after.parameters.get(parameter)! });
  for (const parameter of sorted(inBoth(before.parameters, after.parameters))) {
    const previousType = before.parameters.get(parameter)!;
    const type = after.parameters.get(parameter)!;
    if (printCaveatType(previousType) !== printCaveatType(type))
      out.push({ kind: 'caveatParameterTypeChanged', caveat, parameter, type, previousType });
  }
  if (before.expression !== after.expression) out.push({ kind: 'caveatExprChanged', caveat: after });
  return out;
}

function membersOf(def: ObjectDefinition, kind: RelationDefinition['kind']): Map<string, RelationDefinition> {
  return new Map([...def.relations].filter(([, r]) => r.kind === kind));
}

const onlyIn = <K>(a: ReadonlyMap<K, unknown>, b: ReadonlyMap<K, unknown>): K[] =>
  [...a.keys()].filter((k) => !b.has(k));
const inBoth = <K>(a: ReadonlyMap<K, unknown>, b: ReadonlyMap<K, unknown>): K[] =>
  [...a.keys()].filter((k) => b.has(k));
/** Go's string order (bytes; names are ASCII). */
const sorted = (names: string[]): string[] => [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

// ---- permission expressions as SpiceDB compiles them ----

type SetOperation = { op: 'union' | 'intersection' | 'exclusion'; children: Operand[] };
type Operand =
  | { computed: string }
  | { tupleset: string; computed: string; fn?: 'any' | 'all' }
  | { nil: true }
  | { self: true }
  | { rewrite: SetOperation };

const expressionCache = new WeakMap<CompiledSchema, Map<string, string>>();

/** `def#permission` → its expression in canonical form, read from the schema text (partials spliced in). */
function expressionsOf(side: DiffSide): Map<string, string> {
  let map = expressionCache.get(side.schema);
  if (map) return map;
  map = new Map();
  const ast = side.text.trim() ? parseSchema(side.text) : undefined;
  if (ast) {
    const partials = new Map(ast.partials.map((p) => [p.name, p]));
    const members = (list: AST.MemberNode[], depth: number): AST.MemberNode[] =>
      list.flatMap((m) =>
        m.kind !== 'partialRef' ? [m] : depth > 64 ? [] : members(partials.get(m.name)?.members ?? [], depth + 1),
      );
    for (const def of ast.definitions) {
      for (const m of members(def.members, 0)) {
        if (m.kind === 'permission') map.set(`${def.name}#${m.name}`, JSON.stringify(setOperation(m.expression)));
      }
    }
  }
  expressionCache.set(side.schema, map);
  return map;
}

function setOperation(e: AST.ExpressionNode): SetOperation {
  switch (e.kind) {
    case 'union':
    case 'intersection':
      return { op: e.kind, children: e.operands.flatMap((o) => collapse(operand(o), e.kind)) };
    case 'exclusion':
      return { op: 'exclusion', children: [operand(e.left), operand(e.right)] };
    default:
      return { op: 'union', children: [operand(e)] };
  }
}

function operand(e: AST.ExpressionNode): Operand {
  switch (e.kind) {
    case 'ref':
      return { computed: e.name };
    case 'nil':
      return { nil: true };
    case 'self':
      return { self: true };
    case 'arrow':
      return e.syntax === '->'
        ? { tupleset: e.tupleset, computed: e.computed }
        : { tupleset: e.tupleset, computed: e.computed, fn: e.syntax };
    default:
      return { rewrite: setOperation(e) };
  }
}

/** SpiceDB's collapseOps: an operand that is the same operation contributes its operands. */
function collapse(o: Operand, kind: 'union' | 'intersection'): Operand[] {
  return 'rewrite' in o && o.rewrite.op === kind ? o.rewrite.children : [o];
}

/** The same canonical form from a compiled rewrite (which no longer tells `->` from `.any()`). */
function canonicalRewrite(rw: Rewrite): string {
  const op = (r: Rewrite): SetOperation =>
    r.kind === 'union' || r.kind === 'intersection'
      ? { op: r.kind, children: r.children.map(child) }
      : r.kind === 'exclusion'
        ? { op: 'exclusion', children: [child(r.base), child(r.subtract)] }
        : { op: 'union', children: [child(r)] };
  const child = (r: Rewrite): Operand => {
    switch (r.kind) {
      case 'computed':
        return { computed: r.relation };
      case 'tupleToUserset':
        return r.mode === 'all'
          ? { tupleset: r.tupleset, computed: r.computed, fn: 'all' }
          : { tupleset: r.tupleset, computed: r.computed };
      case 'union':
      case 'intersection':
      case 'exclusion':
        return { rewrite: op(r) };
      case 'self':
        return { self: true };
      default:
        return { nil: true };
    }
  };
  return JSON.stringify(op(rw));
}
