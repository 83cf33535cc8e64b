/**
 * Schema AST → IR, then the validation SpiceDB's translator and type system make before accepting a
 * schema; caveat expressions are parsed and type-checked by caveats/. Errors use SpiceDB's wording,
 * plus the position of the offending token (SpiceDB gives none for type errors).
 */
import { compileCaveat } from '../caveats/compile.js';
import { SchemaError, schemaTooDeep, schemaTooLarge } from '../errors/index.js';
import type * as AST from './ast.js';
import {
  type AllowedSubjectType,
  type CaveatDefinition,
  type CaveatParameterType,
  type CompiledSchema,
  ELLIPSIS,
  type ObjectDefinition,
  type RelationDefinition,
  type Rewrite,
  type SourcePosition,
} from './ir.js';
import { MAX_NESTING_DEPTH, MAX_SCHEMA_BYTES } from './limits.js';
import {
  DEFINITION_NAME,
  DEFINITION_PATTERN,
  RELATION_NAME,
  RELATION_PATTERN,
  SUBJECT_RELATION_NAME,
  SUBJECT_RELATION_PATTERN,
} from './names.js';
import { parseSchema } from './parser.js';
import { utf8Length } from '../runtime/bytes.js';

const fail = (message: string, at: SourcePosition, source?: string): never => {
  throw new SchemaError(message, at.line, at.column, source);
};

export function compileSchema(text: string): CompiledSchema {
  const bytes = utf8Length(text);
  if (bytes > MAX_SCHEMA_BYTES) {
    throw schemaTooLarge(bytes, MAX_SCHEMA_BYTES);
  }
  try {
    return compileAST(parseSchema(text));
  } catch (e) {
    // The limits keep every pass far from the stack's end; should one still overflow, the schema is refused, not the server.
    if (e instanceof RangeError) throw schemaTooDeep(e.message);
    throw e;
  }
}

export function compileAST(ast: AST.SchemaAST): CompiledSchema {
  const flags = new Set(ast.uses.map((u) => u.flag));
  const schema: CompiledSchema = { definitions: new Map(), caveats: new Map(), useExpiration: flags.has('expiration') };
  // Without the flag the lexer reads `self` as a name, so the parser only makes self nodes under it.
  if (flags.has('self')) schema.useSelf = true;
  validateTopLevelNames(ast);
  // A partial declared twice: the last one wins, as in SpiceDB.
  const partials = new Map(ast.partials.map((p) => [p.name, p]));
  // SpiceDB resolves every partial, used or not, so a broken one fails the schema.
  for (const p of ast.partials) expandPartials(p.members, partials, [p.name]);
  const sources = new Map<string, Map<string, AST.MemberNode>>();
  for (const item of ast.order) {
    if (item.kind === 'caveat') {
      const caveat = caveatDefinition(item);
      // Parses and type-checks the expression (SchemaError at its position); kept for evaluation.
      compileCaveat(caveat);
      schema.caveats.set(item.name, caveat);
    } else if (item.kind === 'definition') {
      const members = new Map<string, AST.MemberNode>();
      schema.definitions.set(item.name, compileDefinition(item, expandPartials(item.members, partials, []), members));
      sources.set(item.name, members);
    }
  }
  for (const def of ast.definitions) {
    const members = sources.get(def.name)!;
    for (const member of members.values()) {
      if (member.kind === 'relation') validateRelation(schema, def.name, member);
      else if (member.kind === 'permission') validatePermission(schema, def.name, member, member.expression);
    }
    refuseAliasCycles(def.name, members);
    if (flags.has('typechecking')) validateAnnotations(schema, def.name, members);
  }
  return schema;
}

// ---- names and structure ----

function validateTopLevelNames(ast: AST.SchemaAST): void {
  const partialNames = new Set(ast.partials.map((p) => p.name));
  const seen = new Set<string>();
  for (const item of ast.order) {
    if (item.kind === 'partial') continue;
    if (partialNames.has(item.name)) {
      fail(`found ${item.kind} with same name as existing partial: ${item.name}`, item.namePosition, item.name);
    }
    if (seen.has(item.name)) {
      fail(`found name reused between multiple definitions and/or caveats: ${item.name}`, item.namePosition, item.name);
    }
    seen.add(item.name);
    if (item.kind === 'definition' && !DEFINITION_NAME.test(item.name)) {
      fail(
        `error in object definition ${item.name}: validation error: name: does not match regex pattern \`${DEFINITION_PATTERN}\``,
        item.namePosition,
        item.name,
      );
    }
  }
}

/** Splices `...partial` references in place, depth first, at most MAX_NESTING_DEPTH partials deep. */
function expandPartials(
  members: AST.MemberNode[],
  partials: Map<string, AST.PartialNode>,
  stack: string[],
): AST.MemberNode[] {
  return members.flatMap((m) => {
    if (m.kind !== 'partialRef') return [m];
    const partial = partials.get(m.name);
    if (!partial) return fail(`could not find partial reference with name ${m.name}`, m.position, m.name);
    if (stack.includes(m.name)) {
      return fail(
        `could not resolve partials: [${[...stack, m.name].join(', ')}]. this may indicate a circular reference`,
        m.position,
        m.name,
      );
    }
    if (stack.length >= MAX_NESTING_DEPTH) {
      return fail(`partial references nest deeper than the maximum depth of ${MAX_NESTING_DEPTH}`, m.position, m.name);
    }
    return expandPartials(partial.members, partials, [...stack, m.name]);
  });
}

function compileDefinition(
  node: AST.DefinitionNode,
  members: AST.MemberNode[],
  sources: Map<string, AST.MemberNode>,
): ObjectDefinition {
  const relations = new Map<string, RelationDefinition>();
  for (const m of members) {
    if (m.kind === 'partialRef') continue;
    const compiled = m.kind === 'relation' ? compileRelation(m) : compilePermission(m, node.name);
    if (!RELATION_NAME.test(m.name)) {
      fail(
        `error in ${m.kind} ${m.name}: validation error: name: does not match regex pattern \`${RELATION_PATTERN}\``,
        m.namePosition,
        m.name,
      );
    }
    if (relations.has(m.name)) {
      fail(
        `found duplicate relation/permission name \`${m.name}\` under definition \`${node.name}\``,
        m.namePosition,
        m.name,
      );
    }
    relations.set(m.name, compiled);
    sources.set(m.name, m);
  }
  return { name: node.name, relations, position: node.position, ...docProp(node.doc) };
}

function compileRelation(node: AST.RelationNode): RelationDefinition {
  const allowedSubjects = node.types.map((t): AllowedSubjectType => {
    const relation = t.relation ?? ELLIPSIS;
    if (!SUBJECT_RELATION_NAME.test(relation)) {
      fail(
        `invalid type relation \`${t.type}#${relation}\`: validation error: relation: does not match regex pattern \`${SUBJECT_RELATION_PATTERN}\``,
        t.relationPosition ?? t.position,
        relation,
      );
    }
    const a: AllowedSubjectType = {
      type: t.type,
      relation,
      wildcard: t.wildcard,
      expiration: t.expiration,
      position: t.position,
    };
    if (t.caveat !== undefined) a.caveat = t.caveat;
    return a;
  });
  return {
    name: node.name,
    kind: 'relation',
    allowedSubjects,
    rewrite: { kind: 'this' },
    position: node.position,
    ...docProp(node.doc),
  };
}

function compilePermission(node: AST.PermissionNode, defName: string): RelationDefinition {
  const tooDeep = (at: SourcePosition): never =>
    fail(
      `under permission \`${node.name}\` under definition \`${defName}\`: expression nests deeper than the maximum depth of ${MAX_NESTING_DEPTH}`,
      at,
      node.name,
    );
  const rewrite = toRewrite(node.expression, tooDeep, 1);
  return {
    name: node.name,
    kind: 'permission',
    allowedSubjects: [],
    rewrite,
    position: node.position,
    ...docProp(node.doc),
  };
}

/**
 * The rewrite tree of an expression, refused past MAX_NESTING_DEPTH levels: the engine recurses
 * over it on every request. Unions and intersections flatten into one n-ary node (both are
 * associative, so `a + (b + c)` is one level); exclusion stays binary.
 */
function toRewrite(e: AST.ExpressionNode, tooDeep: (at: SourcePosition) => never, depth: number): Rewrite {
  if (depth > MAX_NESTING_DEPTH) tooDeep(e.position);
  switch (e.kind) {
    case 'ref':
      return { kind: 'computed', relation: e.name };
    case 'nil':
      return { kind: 'nil' };
    case 'self':
      return { kind: 'self' };
    case 'arrow':
      return {
        kind: 'tupleToUserset',
        tupleset: e.tupleset,
        computed: e.computed,
        mode: e.syntax === 'all' ? 'all' : 'any',
      };
    case 'exclusion':
      return {
        kind: 'exclusion',
        base: toRewrite(e.left, tooDeep, depth + 1),
        subtract: toRewrite(e.right, tooDeep, depth + 1),
      };
    case 'union':
    case 'intersection': {
      const children = e.operands.flatMap((c) => {
        const r = toRewrite(c, tooDeep, c.kind === e.kind ? depth : depth + 1);
        return r.kind === e.kind ? r.children : [r];
      });
      return { kind: e.kind, children };
    }
  }
}

/** `{doc}` when there is one, so compiled objects carry no `doc: undefined` key. */
const docProp = (doc: string | undefined): { doc?: string } => (doc === undefined ? {} : { doc });

// ---- caveats ----

const SCALAR_TYPES = [
  'any',
  'bool',
  'string',
  'int',
  'uint',
  'double',
  'bytes',
  'duration',
  'timestamp',
  'ipaddress',
] as const;

function caveatDefinition(node: AST.CaveatNode): CaveatDefinition {
  const parameters = new Map<string, CaveatParameterType>();
  for (const p of node.parameters) {
    if (parameters.has(p.name))
      fail(`duplicate parameter \`${p.name}\` defined on caveat \`${node.name}\``, p.position, p.name);
    parameters.set(
      p.name,
      caveatType(p.type, (why, at, source) =>
        fail(`invalid type for caveat parameter \`${p.name}\` on caveat \`${node.name}\`: ${why}`, at, source),
      ),
    );
  }
  return {
    name: node.name,
    parameters,
    expression: node.expression,
    position: node.position,
    expressionPosition: node.expressionPosition,
    parameterPositions: new Map(node.parameters.map((p) => [p.name, p.position])),
    ...docProp(node.doc),
  };
}

function caveatType(
  t: AST.CaveatTypeNode,
  bad: (why: string, at: SourcePosition, source: string) => never,
): CaveatParameterType {
  const arity = (n: number) => {
    if (t.generics.length !== n)
      bad(`type \`${t.name}\` requires ${n} generic types; found ${t.generics.length}`, t.position, t.name);
  };
  // SpiceDB ignores generics on scalar types (`int<string>` is `int`).
  if ((SCALAR_TYPES as readonly string[]).includes(t.name)) {
    return { kind: t.name as (typeof SCALAR_TYPES)[number] };
  }
  if (t.name === 'list') {
    arity(1);
    return { kind: 'list', element: caveatType(t.generics[0], bad) };
  }
  if (t.name === 'map') {
    arity(1);
    return { kind: 'map', value: caveatType(t.generics[0], bad) };
  }
  return bad(`unknown type \`${t.name}\``, t.position, t.name);
}

// ---- references, wildcards and alias cycles ----

const typeLabel = (a: { type: string; relation: string; wildcard: boolean; caveat?: string; expiration: boolean }) => {
  let s = a.wildcard ? `${a.type}:*` : a.relation === ELLIPSIS ? a.type : `${a.type}#${a.relation}`;
  if (a.caveat) s += ` with ${a.caveat}`;
  if (a.expiration) s += a.caveat ? ' and expiration' : ' with expiration';
  return s;
};

function validateRelation(schema: CompiledSchema, defName: string, node: AST.RelationNode): void {
  const rel = schema.definitions.get(defName)!.relations.get(node.name)!;
  const seen = new Set<string>();
  rel.allowedSubjects.forEach((a, i) => {
    const t = node.types[i];
    const subjectDef = schema.definitions.get(a.type);
    if (!subjectDef) {
      fail(
        `could not lookup definition \`${a.type}\` for relation \`${node.name}\`: object definition \`${a.type}\` not found`,
        t.position,
        a.type,
      );
    }
    if (a.relation !== ELLIPSIS) {
      if (!subjectDef!.relations.has(a.relation)) {
        fail(
          `relation/permission \`${a.relation}\` not found under definition \`${a.type}\``,
          t.relationPosition!,
          a.relation,
        );
      }
      // SpiceDB only checks subject relations of other definitions here.
      const wildcard = a.type === defName ? undefined : findWildcard(schema, a.type, a.relation);
      if (wildcard) {
        fail(
          `for relation \`${node.name}\`: relation/permission \`${a.type}#${a.relation}\` includes wildcard type \`${wildcard.type}\` via relation \`${wildcard.via}\`: wildcard relations cannot be transitively included`,
          t.position,
          `${a.type}#${a.relation}`,
        );
      }
    }
    if (a.caveat !== undefined && !schema.caveats.has(a.caveat)) {
      const hint =
        a.caveat === 'expiration' && !schema.useExpiration
          ? ' (to use relationship expiration, add `use expiration` at the top of the schema)'
          : '';
      fail(
        `could not lookup caveat \`${a.caveat}\` for relation \`${node.name}\`: caveat with name \`${a.caveat}\` not found${hint}`,
        t.caveatPosition!,
        a.caveat,
      );
    }
    const label = typeLabel(a);
    if (seen.has(label)) {
      fail(
        `found duplicate allowed subject type \`${label}\` on relation \`${node.name}\` under definition \`${defName}\``,
        t.position,
        label,
      );
    }
    seen.add(label);
  });
}

/** Relations (`def#rel`) known to reach no wildcard, per schema. */
const withoutWildcard = new WeakMap<CompiledSchema, Set<string>>();

/**
 * The first wildcard type a relation admits, directly or through subject relations (`group#member`),
 * depth first with an explicit stack (chains of subject relations can be long). Every caller fails
 * on a wildcard found, so the relations a search passes are remembered as reaching none: the whole
 * schema is searched at most once.
 */
function findWildcard(
  schema: CompiledSchema,
  defName: string,
  relName: string,
): { type: string; via: string } | undefined {
  let seen = withoutWildcard.get(schema);
  if (!seen) withoutWildcard.set(schema, (seen = new Set()));
  const stack: Array<{ key: string; subjects: AllowedSubjectType[]; next: number }> = [];
  const enter = (def: string, rel: string) => {
    const key = `${def}#${rel}`;
    if (seen.has(key)) return;
    seen.add(key);
    stack.push({ key, subjects: schema.definitions.get(def)?.relations.get(rel)?.allowedSubjects ?? [], next: 0 });
  };
  enter(defName, relName);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === top.subjects.length) {
      stack.pop();
      continue;
    }
    const a = top.subjects[top.next++];
    if (a.wildcard) return { type: a.type, via: top.key };
    if (a.relation !== ELLIPSIS) enter(a.type, a.relation);
  }
  return undefined;
}

function validatePermission(
  schema: CompiledSchema,
  defName: string,
  perm: AST.PermissionNode,
  e: AST.ExpressionNode,
): void {
  const relations = schema.definitions.get(defName)!.relations;
  const notFound = (name: string, at: SourcePosition) =>
    fail(`relation/permission \`${name}\` not found under definition \`${defName}\``, at, name);
  switch (e.kind) {
    case 'ref':
      if (!relations.has(e.name)) notFound(e.name, e.position);
      return;
    case 'arrow': {
      const tupleset = relations.get(e.tupleset);
      if (!tupleset) return notFound(e.tupleset, e.tuplesetPosition);
      if (tupleset.kind === 'permission') {
        fail(
          `under permission \`${perm.name}\` under definition \`${defName}\`: permissions cannot be used on the left hand side of an arrow (found \`${e.tupleset}\`)`,
          e.tuplesetPosition,
          e.tupleset,
        );
      }
      const wildcard = findWildcard(schema, defName, e.tupleset);
      if (wildcard) {
        fail(
          `for arrow under permission \`${perm.name}\`: relation \`${defName}#${e.tupleset}\` includes wildcard type \`${wildcard.type}\` via relation \`${wildcard.via}\`: wildcard relations cannot be used on the left side of arrows`,
          e.tuplesetPosition,
          e.tupleset,
        );
      }
      // SpiceDB does not require the right side to exist on any subject type: missing is empty.
      return;
    }
    case 'union':
    case 'intersection':
      for (const operand of e.operands) validatePermission(schema, defName, perm, operand);
      return;
    case 'exclusion':
      validatePermission(schema, defName, perm, e.left);
      validatePermission(schema, defName, perm, e.right);
      return;
    default:
      return;
  }
}

/**
 * A permission that is just another name (`permission a = b`) is an alias; SpiceDB rejects aliases
 * that never reach a relation. Other self references (`view = viewer + view`) are allowed.
 */
function refuseAliasCycles(defName: string, members: Map<string, AST.MemberNode>): void {
  const aliases = new Map<string, string>();
  for (const m of members.values()) {
    if (m.kind === 'permission' && m.expression.kind === 'ref') aliases.set(m.name, m.expression.name);
  }
  // Whether following aliases from a name ends at something that is not an alias; each chain is walked once.
  const resolves = new Map<string, boolean>();
  for (const start of aliases.keys()) {
    const path = new Set<string>();
    let name = start;
    let ends: boolean;
    for (;;) {
      const known = resolves.get(name);
      if (known !== undefined || !aliases.has(name) || path.has(name)) {
        ends = known ?? !aliases.has(name);
        break;
      }
      path.add(name);
      name = aliases.get(name)!;
    }
    for (const p of path) resolves.set(p, ends);
  }
  const unresolved = [...aliases.keys()].filter((name) => !resolves.get(name));
  if (unresolved.length) {
    const first = members.get(unresolved[0]) as AST.PermissionNode;
    fail(
      `under definition \`${defName}\`, there exists a cycle in permissions: ${[...unresolved].sort().join(', ')}`,
      first.namePosition,
      first.name,
    );
  }
}

// ---- `use typechecking` ----

/** Under `use typechecking`, a permission's declared subject types must cover every type it can reach. */
function validateAnnotations(schema: CompiledSchema, defName: string, members: Map<string, AST.MemberNode>): void {
  for (const m of members.values()) {
    if (m.kind !== 'permission' || !m.annotation) continue;
    const declared = m.annotation.map((a) => a.type);
    for (const type of reachableSubjectTypes(schema, defName, m.name)) {
      if (!declared.includes(type)) {
        fail(
          `incomplete type annotation on relation \`${m.name}\` in definition \`${defName}\`: \`${type}\` found as reachable type, but not contained in provided set [${declared.map((d) => `\`${d}\``).join(', ')}]`,
          m.annotation[0].position,
          m.name,
        );
      }
    }
  }
}

/** Object types of the subjects a relation or permission can produce, in discovery order. */
export function reachableSubjectTypes(schema: CompiledSchema, defName: string, relName: string): string[] {
  const found = new Set<string>();
  const seen = new Set<string>();
  const visit = (def: string, rel: string) => {
    const key = `${def}#${rel}`;
    if (seen.has(key)) return;
    seen.add(key);
    const r = schema.definitions.get(def)?.relations.get(rel);
    if (!r) return;
    if (r.kind === 'relation') {
      for (const a of r.allowedSubjects) {
        if (a.relation === ELLIPSIS) found.add(a.type);
        else visit(a.type, a.relation);
      }
    }
    walk(def, r.rewrite);
  };
  const walk = (def: string, rw: Rewrite): void => {
    switch (rw.kind) {
      case 'computed':
        return visit(def, rw.relation);
      case 'tupleToUserset':
        for (const a of schema.definitions.get(def)?.relations.get(rw.tupleset)?.allowedSubjects ?? [])
          visit(a.type, rw.computed);
        return;
      case 'union':
      case 'intersection':
        return rw.children.forEach((c) => walk(def, c));
      case 'exclusion':
        // SpiceDB counts the subtracted side too.
        walk(def, rw.base);
        return walk(def, rw.subtract);
      default:
        return;
    }
  };
  visit(defName, relName);
  return [...found];
}
