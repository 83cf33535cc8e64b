/**
 * Schema AST → IR, then the checks SpiceDB's translator and type system make before accepting a
 * schema. Errors use SpiceDB's wording, plus the position of the offending token (SpiceDB gives
 * none for type errors).
 */
import { compileCaveat as compileCaveatExpression } from '../caveats/compile.js';
import { parse as parseCel } from '@bufbuild/cel';
import { SchemaError } from '../errors.js';
import type {
  CaveatNode,
  CaveatTypeNode,
  DefinitionNode,
  ExpressionNode,
  MemberNode,
  PartialNode,
  PermissionNode,
  RelationNode,
  SchemaAST,
} from './ast.js';
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
import { Lexer } from './lexer.js';
import { parseSchema } from './parser.js';

// Patterns as SpiceDB prints them in errors; RegExp.source would escape the `/`.
const DEFINITION_PATTERN = '^([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$';
const RELATION_PATTERN = '^[a-z][a-z0-9_]{1,62}[a-z0-9]$';
const SUBJECT_RELATION_PATTERN = '^(\\.\\.\\.|[a-z][a-z0-9_]{1,62}[a-z0-9])$';
export const DEFINITION_NAME = new RegExp(DEFINITION_PATTERN);
export const RELATION_NAME = new RegExp(RELATION_PATTERN);
export const SUBJECT_RELATION_NAME = new RegExp(SUBJECT_RELATION_PATTERN);
export const namePattern = { definition: DEFINITION_PATTERN, relation: RELATION_PATTERN, subjectRelation: SUBJECT_RELATION_PATTERN };

const fail = (message: string, at: SourcePosition, source?: string): never => {
  throw new SchemaError(message, at.line, at.column, source);
};

export function compileSchema(text: string): CompiledSchema {
  return compileAST(parseSchema(text));
}

export function compileAST(ast: SchemaAST): CompiledSchema {
  const flags = new Set(ast.uses.map((u) => u.flag));
  const schema: CompiledSchema = { definitions: new Map(), caveats: new Map(), useExpiration: flags.has('expiration') };
  checkTopLevelNames(ast);
  // A partial declared twice: the last one wins, as in SpiceDB.
  const partials = new Map(ast.partials.map((p) => [p.name, p]));
  // SpiceDB resolves every partial, used or not, so a broken one fails the schema.
  for (const p of ast.partials) expandPartials(p.members, partials, [p.name]);
  const sources = new Map<string, Map<string, MemberNode>>();
  for (const item of ast.order) {
    if (item.kind === 'caveat') {
      const caveat = compileCaveat(item);
      // Type-check the CEL expression against the declared parameters (throws SchemaError with its position).
      compileCaveatExpression(caveat);
      schema.caveats.set(item.name, caveat);
    }
    else if (item.kind === 'definition') {
      const members = new Map<string, MemberNode>();
      schema.definitions.set(item.name, compileDefinition(item, expandPartials(item.members, partials, []), members));
      sources.set(item.name, members);
    }
  }
  for (const def of ast.definitions) {
    const members = sources.get(def.name)!;
    for (const member of members.values()) {
      if (member.kind === 'relation') checkRelation(schema, def.name, member);
      else if (member.kind === 'permission') checkPermission(schema, def.name, member, member.expression);
    }
    checkAliasCycles(def.name, members);
    if (flags.has('typechecking')) checkAnnotations(schema, def.name, members);
  }
  return schema;
}

// ---- names and structure ----

function checkTopLevelNames(ast: SchemaAST): void {
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

/** Splices `...partial` references in place, depth first. */
function expandPartials(members: MemberNode[], partials: Map<string, PartialNode>, stack: string[]): MemberNode[] {
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
    return expandPartials(partial.members, partials, [...stack, m.name]);
  });
}

function compileDefinition(node: DefinitionNode, members: MemberNode[], sources: Map<string, MemberNode>): ObjectDefinition {
  const relations = new Map<string, RelationDefinition>();
  for (const m of members) {
    if (m.kind === 'partialRef') continue;
    const compiled = m.kind === 'relation' ? compileRelation(m) : compilePermission(m);
    if (!RELATION_NAME.test(m.name)) {
      fail(
        `error in ${m.kind} ${m.name}: validation error: name: does not match regex pattern \`${RELATION_PATTERN}\``,
        m.namePosition,
        m.name,
      );
    }
    if (relations.has(m.name)) {
      fail(`found duplicate relation/permission name \`${m.name}\` under definition \`${node.name}\``, m.namePosition, m.name);
    }
    relations.set(m.name, compiled);
    sources.set(m.name, m);
  }
  return { name: node.name, relations, position: node.position, ...docProp(node.doc) };
}

function compileRelation(node: RelationNode): RelationDefinition {
  const allowedSubjects = node.types.map((t): AllowedSubjectType => {
    const relation = t.relation ?? ELLIPSIS;
    if (!SUBJECT_RELATION_NAME.test(relation)) {
      fail(
        `invalid type relation \`${t.type}#${relation}\`: validation error: relation: does not match regex pattern \`${SUBJECT_RELATION_PATTERN}\``,
        t.relationPosition ?? t.position,
        relation,
      );
    }
    const a: AllowedSubjectType = { type: t.type, relation, wildcard: t.wildcard, expiration: t.expiration, position: t.position };
    if (t.caveat !== undefined) a.caveat = t.caveat;
    return a;
  });
  return { name: node.name, kind: 'relation', allowedSubjects, rewrite: { kind: 'this' }, position: node.position, ...docProp(node.doc) };
}

function compilePermission(node: PermissionNode): RelationDefinition {
  const rewrite = toRewrite(node.expression);
  return { name: node.name, kind: 'permission', allowedSubjects: [], rewrite, position: node.position, ...docProp(node.doc) };
}

/** Unions and intersections flatten into one n-ary node (both are associative); exclusion stays binary. */
function toRewrite(e: ExpressionNode): Rewrite {
  switch (e.kind) {
    case 'ref':
      return { kind: 'computed', relation: e.name };
    case 'nil':
      return { kind: 'nil' };
    case 'self':
      return fail('`self` is not supported by Pemba (its schema IR has no self rewrite)', e.position, 'self');
    case 'arrow':
      return { kind: 'tupleToUserset', tupleset: e.tupleset, computed: e.computed, mode: e.syntax === 'all' ? 'all' : 'any' };
    case 'exclusion':
      return { kind: 'exclusion', base: toRewrite(e.left), subtract: toRewrite(e.right) };
    case 'union':
    case 'intersection': {
      const children = [e.left, e.right].flatMap((c) => {
        const r = toRewrite(c);
        return (r.kind === 'union' || r.kind === 'intersection') && r.kind === e.kind ? r.children : [r];
      });
      return { kind: e.kind, children };
    }
  }
}

/** `{doc}` when there is one, so compiled objects carry no `doc: undefined` key. */
const docProp = (doc: string | undefined): { doc?: string } => (doc === undefined ? {} : { doc });

// ---- caveats ----

const SCALAR_TYPES = ['any', 'bool', 'string', 'int', 'uint', 'double', 'bytes', 'duration', 'timestamp', 'ipaddress'] as const;

function compileCaveat(node: CaveatNode): CaveatDefinition {
  const parameters = new Map<string, CaveatParameterType>();
  for (const p of node.parameters) {
    if (parameters.has(p.name)) fail(`duplicate parameter \`${p.name}\` defined on caveat \`${node.name}\``, p.position, p.name);
    parameters.set(p.name, caveatType(p.type, (why, at, source) =>
      fail(`invalid type for caveat parameter \`${p.name}\` on caveat \`${node.name}\`: ${why}`, at, source),
    ));
  }
  checkCaveatExpression(node);
  return {
    name: node.name,
    parameters,
    expression: node.expression,
    position: node.position,
    expressionPosition: node.expressionPosition,
    ...docProp(node.doc),
  };
}

function caveatType(t: CaveatTypeNode, bad: (why: string, at: SourcePosition, source: string) => never): CaveatParameterType {
  const arity = (n: number) => {
    if (t.generics.length !== n) bad(`type \`${t.name}\` requires ${n} generic types; found ${t.generics.length}`, t.position, t.name);
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

/**
 * The caveat body must parse as CEL, refer only to its parameters and use every one of them, as
 * SpiceDB requires. Typing the expression is left to caveat evaluation.
 */
function checkCaveatExpression(node: CaveatNode): void {
  const at = (line: number, column: number): SourcePosition => ({
    line: node.expressionPosition.line + line - 1,
    column: line === 1 ? node.expressionPosition.column + column - 1 : column,
  });
  // CEL has `//` comments but no block comments, so only line comments are blanked.
  const text = new Lexer(node.expression).withoutComments({ block: false });
  let parsed: ReturnType<typeof parseCel>;
  try {
    parsed = parseCel(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const m = /^<input>:(\d+):(\d+): ([\s\S]*)$/.exec(message);
    return fail(
      `invalid expression for caveat \`${node.name}\`: ${m ? m[3] : message}`,
      m ? at(Number(m[1]), Number(m[2])) : node.expressionPosition,
      node.name,
    );
  }
  const params = new Set(node.parameters.map((p) => p.name));
  const used = new Set<string>();
  const undeclared = findUndeclared(parsed.expr, params, used);
  if (undeclared) {
    const offset = parsed.sourceInfo?.positions[undeclared.id.toString()] ?? 0;
    const before = [...text].slice(0, offset).join('').split('\n');
    fail(
      `invalid expression for caveat \`${node.name}\`: undeclared reference to '${undeclared.name}'`,
      at(before.length, before[before.length - 1].length + 1),
      undeclared.name,
    );
  }
  for (const p of node.parameters) {
    if (!used.has(p.name)) fail(`parameter \`${p.name}\` for caveat \`${node.name}\` is unused`, p.position, p.name);
  }
  const result = obviousNonBool(parsed.expr);
  if (result) {
    fail(
      `invalid expression for caveat \`${node.name}\`: caveat expression must result in a boolean value: found \`${result}\``,
      node.expressionPosition,
      node.name,
    );
  }
}

const ARITHMETIC = new Set(['_+_', '_-_', '_*_', '_/_', '_%_', '-_']);

/** The kind of value an expression certainly produces when that is not a bool (no full type check). */
function obviousNonBool(e: CelExpr): string | undefined {
  const k = e.exprKind;
  if (k.case === 'listExpr') return 'list';
  if (k.case === 'structExpr') return 'map';
  if (k.case === 'constExpr' && k.value.constantKind.case !== 'boolValue') return k.value.constantKind.case?.replace(/Value$/, '');
  if (k.case === 'callExpr' && ARITHMETIC.has(k.value.function)) return 'number';
  return undefined;
}

/** Names CEL declares itself (type identifiers such as in `type(x) == int`). */
const CEL_BUILTIN_IDENTS = new Set(['bool', 'bytes', 'double', 'dyn', 'int', 'list', 'map', 'null_type', 'string', 'type', 'uint', 'google']);

type CelExpr = ReturnType<typeof parseCel>['expr'];

/**
 * Walks a parsed CEL expression, recording which parameters it uses; returns the first identifier
 * that is neither a parameter, a comprehension variable in scope, nor a CEL builtin.
 */
function findUndeclared(e: CelExpr | undefined, scope: Set<string>, used: Set<string>): { name: string; id: bigint } | undefined {
  const k = e?.exprKind;
  switch (k?.case) {
    case 'identExpr':
      if (scope.has(k.value.name)) used.add(k.value.name);
      else if (!CEL_BUILTIN_IDENTS.has(k.value.name)) return { name: k.value.name, id: e!.id };
      return undefined;
    case 'selectExpr':
      return findUndeclared(k.value.operand, scope, used);
    case 'callExpr':
      return first([k.value.target, ...k.value.args], (c) => findUndeclared(c, scope, used));
    case 'listExpr':
      return first(k.value.elements, (c) => findUndeclared(c, scope, used));
    case 'structExpr':
      return first(k.value.entries.flatMap((en) => [en.keyKind.case === 'mapKey' ? en.keyKind.value : undefined, en.value]), (c) =>
        findUndeclared(c, scope, used),
      );
    case 'comprehensionExpr': {
      const c = k.value;
      const inner = new Set([...scope, c.iterVar, c.iterVar2, c.accuVar].filter(Boolean));
      return (
        first([c.iterRange, c.accuInit], (x) => findUndeclared(x, scope, used)) ??
        first([c.loopCondition, c.loopStep, c.result], (x) => findUndeclared(x, inner, used))
      );
    }
    default:
      return undefined;
  }
}

function first<T, R>(items: T[], f: (item: T) => R | undefined): R | undefined {
  for (const item of items) {
    const r = f(item);
    if (r !== undefined) return r;
  }
  return undefined;
}

// ---- type checks ----

const typeLabel = (a: { type: string; relation: string; wildcard: boolean; caveat?: string; expiration: boolean }) => {
  let s = a.wildcard ? `${a.type}:*` : a.relation === ELLIPSIS ? a.type : `${a.type}#${a.relation}`;
  if (a.caveat) s += ` with ${a.caveat}`;
  if (a.expiration) s += a.caveat ? ' and expiration' : ' with expiration';
  return s;
};

function checkRelation(schema: CompiledSchema, defName: string, node: RelationNode): void {
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
        fail(`relation/permission \`${a.relation}\` not found under definition \`${a.type}\``, t.relationPosition!, a.relation);
      }
      // SpiceDB only checks subject relations of other definitions here.
      const wildcard = a.type === defName ? undefined : findWildcard(schema, a.type, a.relation, new Set());
      if (wildcard) {
        fail(
          `for relation \`${node.name}\`: relation/permission \`${a.type}#${a.relation}\` includes wildcard type \`${wildcard.type}\` via relation \`${wildcard.via}\`: wildcard relations cannot be transitively included`,
          t.position,
          `${a.type}#${a.relation}`,
        );
      }
    }
    if (a.caveat !== undefined && !schema.caveats.has(a.caveat)) {
      const hint = a.caveat === 'expiration' && !schema.useExpiration ? ' (to use relationship expiration, add `use expiration` at the top of the schema)' : '';
      fail(
        `could not lookup caveat \`${a.caveat}\` for relation \`${node.name}\`: caveat with name \`${a.caveat}\` not found${hint}`,
        t.caveatPosition!,
        a.caveat,
      );
    }
    const label = typeLabel(a);
    if (seen.has(label)) {
      fail(`found duplicate allowed subject type \`${label}\` on relation \`${node.name}\` under definition \`${defName}\``, t.position, label);
    }
    seen.add(label);
  });
}

/** The first wildcard type a relation admits, directly or through subject relations (`group#member`). */
function findWildcard(
  schema: CompiledSchema,
  defName: string,
  relName: string,
  seen: Set<string>,
): { type: string; via: string } | undefined {
  const key = `${defName}#${relName}`;
  if (seen.has(key)) return undefined;
  seen.add(key);
  const rel = schema.definitions.get(defName)?.relations.get(relName);
  for (const a of rel?.allowedSubjects ?? []) {
    if (a.wildcard) return { type: a.type, via: key };
    if (a.relation !== ELLIPSIS) {
      const found = findWildcard(schema, a.type, a.relation, seen);
      if (found) return found;
    }
  }
  return undefined;
}

function checkPermission(schema: CompiledSchema, defName: string, perm: PermissionNode, e: ExpressionNode): void {
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
      const wildcard = findWildcard(schema, defName, e.tupleset, new Set());
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
    case 'exclusion':
      checkPermission(schema, defName, perm, e.left);
      checkPermission(schema, defName, perm, e.right);
      return;
    default:
      return;
  }
}

/**
 * A permission that is just another name (`permission a = b`) is an alias; SpiceDB rejects aliases
 * that never reach a relation. Other self references (`view = viewer + view`) are allowed.
 */
function checkAliasCycles(defName: string, members: Map<string, MemberNode>): void {
  const unresolved = new Map<string, string>();
  for (const m of members.values()) {
    if (m.kind === 'permission' && m.expression.kind === 'ref') unresolved.set(m.name, m.expression.name);
  }
  while (unresolved.size) {
    const resolved = [...unresolved].filter(([, target]) => !unresolved.has(target)).map(([name]) => name);
    if (!resolved.length) {
      const names = [...unresolved.keys()].sort();
      const first = members.get([...unresolved.keys()][0]) as PermissionNode;
      fail(`under definition \`${defName}\`, there exists a cycle in permissions: ${names.join(', ')}`, first.namePosition, first.name);
    }
    for (const name of resolved) unresolved.delete(name);
  }
}

// ---- `use typechecking` ----

/** Under `use typechecking`, a permission's declared subject types must cover every type it can reach. */
function checkAnnotations(schema: CompiledSchema, defName: string, members: Map<string, MemberNode>): void {
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
        for (const a of schema.definitions.get(def)?.relations.get(rw.tupleset)?.allowedSubjects ?? []) visit(a.type, rw.computed);
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
