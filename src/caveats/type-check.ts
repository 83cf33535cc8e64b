/**
 * Type-checking caveats, as SpiceDB does before it accepts a schema: a caveat's expression is parsed
 * and typed against its declared parameters, must result in a bool and must use every parameter.
 * Errors are SchemaErrors at their place in the schema text, worded like SpiceDB's
 * (`invalid expression for caveat \`c\`: …`).
 *
 * The CEL type checker below works on the parsed tree: @bufbuild/cel 0.6.1 ships `check()` only in an
 * unexported module (dist/esm/check.js, outside the package's "exports"), and that checker handles
 * constants and identifiers only. It follows cel-go, which SpiceDB uses: overloads with type
 * parameters, `dyn` assignable both ways, and cel-go's error messages.
 */
import { SchemaError } from '../errors/index.js';
import type { CaveatDefinition, SourcePosition } from '../schema/ir.js';
import { children, type CelExpr } from './ast.js';
import { OVERLOADS, TYPE_IDENTIFIERS, type Overload } from './overloads.js';
import { ExpressionError, parseExpression, type ParsedExpression } from './parse.js';
import { ExpressionPositions } from './positions.js';
import { T, formatType, parameterCelType, type CelT } from './types.js';

/** Parses and type-checks a caveat's expression; returns the parsed expression or throws a SchemaError. */
export function typeCheckCaveat(def: CaveatDefinition): ParsedExpression {
  const text = def.expression;
  const start: SourcePosition = def.expressionPosition ?? { line: 1, column: 1 };
  const fail = (message: string, at: SourcePosition): never => {
    throw new SchemaError(`invalid expression for caveat \`${def.name}\`: ${message}`, at.line, at.column, def.name);
  };

  let parsed: ParsedExpression;
  try {
    parsed = parseExpression(text);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    const at =
      e.line === undefined ? start : new ExpressionPositions(text, undefined, start).atLineColumn(e.line, e.column!);
    return fail(e.message, at);
  }
  const positions = new ExpressionPositions(text, parsed.sourceInfo, start);

  const variables = new Map<string, CelT>();
  for (const [name, type] of def.parameters) variables.set(name, parameterCelType(type));
  let result: CelT;
  try {
    result = typeCheckExpression(parsed.expr, variables);
  } catch (e) {
    if (!(e instanceof TypeCheckError)) throw e;
    return fail(e.message, positions.of(parsed.expr, e.exprId));
  }
  if (result.k !== 'bool') {
    fail(`caveat expression must result in a boolean value: found \`${formatType(result, true)}\``, start);
  }

  const used = namesUsed(parsed.expr);
  for (const name of def.parameters.keys()) {
    if (!used.has(name)) {
      const at = def.parameterPositions?.get(name) ?? def.position ?? start;
      throw new SchemaError(`parameter \`${name}\` for caveat \`${def.name}\` is unused`, at.line, at.column, name);
    }
  }
  return parsed;
}

/**
 * Identifier names anywhere in the tree, as SpiceDB counts parameter use: by name, whatever the
 * scope, and not in map literal keys (`{a: 1}` does not use a parameter `a`).
 */
export function namesUsed(root: CelExpr): Set<string> {
  const names = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    const k = e.exprKind;
    if (k.case === 'identExpr') names.add(k.value.name);
    else if (k.case === 'structExpr') stack.push(...k.value.entries.map((en) => en.value!));
    else stack.push(...children(e));
  }
  return names;
}

/** A type error at one node of the tree. */
export class TypeCheckError extends Error {
  constructor(
    message: string,
    readonly exprId: bigint,
  ) {
    super(message);
  }
}

/** Type-checks `root` with the given variables; returns its type or throws a TypeCheckError. */
export function typeCheckExpression(root: CelExpr, variables: ReadonlyMap<string, CelT>): CelT {
  return new TypeChecker(variables).resolved(root);
}

class TypeChecker {
  private readonly subst = new Map<number, CelT>();
  /** Type variables bound, in order, so a failed overload's bindings can be undone. */
  private readonly trail: number[] = [];
  private nextVar = 0;
  /** Comprehension variables, innermost last. */
  private readonly scopes: Map<string, CelT>[] = [];

  constructor(private readonly variables: ReadonlyMap<string, CelT>) {}

  resolved(e: CelExpr): CelT {
    return this.substitute(this.typeOf(e));
  }

  private typeOf(e: CelExpr): CelT {
    const k = e.exprKind;
    switch (k.case) {
      case 'constExpr':
        return constType(k.value.constantKind.case);
      case 'identExpr':
        return this.ident(k.value.name, e.id);
      case 'selectExpr': {
        const qualified = this.qualifiedType(e);
        if (qualified) return qualified;
        const operand = this.walk(this.typeOf(k.value.operand!));
        if (operand.k === 'map') return k.value.testOnly ? T.bool : operand.v;
        if (operand.k === 'dyn' || operand.k === 'var' || operand.k === 'error')
          return k.value.testOnly ? T.bool : T.dyn;
        // cel-go's wording for SpiceDB's opaque type.
        if (operand.k === 'ipaddress') throw new TypeCheckError(`unexpected failed resolution of 'IPAddress'`, e.id);
        throw new TypeCheckError(
          `type '${formatType(this.substitute(operand))}' does not support field selection`,
          e.id,
        );
      }
      case 'callExpr':
        return this.call(e);
      case 'listExpr': {
        let elem: CelT | undefined;
        for (const el of k.value.elements) elem = this.join(elem, this.typeOf(el));
        return T.list(elem ?? this.fresh());
      }
      case 'structExpr':
        return this.struct(e);
      case 'comprehensionExpr':
        return this.comprehension(e);
      default:
        throw new TypeCheckError('unsupported expression', e.id);
    }
  }

  private ident(name: string, id: bigint): CelT {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = this.scopes[i].get(name);
      if (t) return t;
    }
    const v = this.variables.get(name);
    if (v) return v;
    const type = TYPE_IDENTIFIERS.get(name);
    if (type) return T.type(type);
    throw new TypeCheckError(`undeclared reference to '${name}' (in container '')`, id);
  }

  /** `google.protobuf.Timestamp`: a select chain that spells a type name rather than field accesses. */
  private qualifiedType(e: CelExpr): CelT | undefined {
    const parts: string[] = [];
    let cur: CelExpr | undefined = e;
    while (cur?.exprKind.case === 'selectExpr' && !cur.exprKind.value.testOnly) {
      parts.unshift(cur.exprKind.value.field);
      cur = cur.exprKind.value.operand;
    }
    if (cur?.exprKind.case !== 'identExpr') return undefined;
    const root = cur.exprKind.value.name;
    if (this.variables.has(root) || this.scopes.some((s) => s.has(root))) return undefined;
    const type = TYPE_IDENTIFIERS.get([root, ...parts].join('.'));
    return type ? T.type(type) : undefined;
  }

  private call(e: CelExpr): CelT {
    const call = e.exprKind.value as Extract<CelExpr['exprKind'], { case: 'callExpr' }>['value'];
    const name = call.function;
    if (name === '_&&_' || name === '_||_') {
      for (const arg of call.args) this.expect(arg, T.bool);
      return T.bool;
    }
    const overloads = OVERLOADS.get(name);
    const target = call.target ? this.typeOf(call.target) : undefined;
    const args = call.args.map((a) => this.typeOf(a));
    if (!overloads) throw new TypeCheckError(`undeclared reference to '${name}' (in container '')`, e.id);

    // Try every overload, undoing its type-variable bindings; then redo the first that fits.
    let first: Overload | undefined;
    let result: CelT | undefined;
    for (const o of overloads) {
      if ((o.target === undefined) !== (target === undefined) || o.args.length !== args.length) continue;
      const mark = this.trail.length;
      const r = this.tryOverload(o, target, args);
      if (r) {
        const resolved = this.substitute(r);
        if (!first) {
          first = o;
          result = resolved;
        } else if (!sameType(result!, resolved)) {
          result = T.dyn; // several overloads fit (dyn arguments) with different results
        }
      }
      this.undo(mark);
    }
    if (!first) {
      const shown = `(${args.map((a) => formatType(this.substitute(a))).join(', ')})`;
      throw new TypeCheckError(
        `found no matching overload for '${name}' applied to '${target ? `${formatType(this.substitute(target))}.` : ''}${shown}'`,
        e.id,
      );
    }
    const r = this.tryOverload(first, target, args)!;
    return result!.k === 'dyn' && this.substitute(r).k !== 'dyn' ? T.dyn : r;
  }

  private tryOverload(o: Overload, target: CelT | undefined, args: CelT[]): CelT | undefined {
    const params = new Map<string, CelT>();
    const inst = (t: CelT) => this.instantiate(t, params);
    if (o.target && target && !this.assignable(inst(o.target), target)) return undefined;
    for (let i = 0; i < args.length; i++) if (!this.assignable(inst(o.args[i]), args[i])) return undefined;
    return inst(o.result);
  }

  private undo(mark: number): void {
    while (this.trail.length > mark) this.subst.delete(this.trail.pop()!);
  }

  /** Whether a value of type `actual` may be passed where `want` is expected, binding type variables. */
  private assignable(want: CelT, actual: CelT): boolean {
    const w = this.walk(want);
    const a = this.walk(actual);
    if (w.k === 'var') {
      if (!(a.k === 'var' && a.id === w.id)) this.bind(w.id, a);
      return true;
    }
    if (a.k === 'var') {
      this.bind(a.id, w);
      return true;
    }
    if (w.k === 'dyn' || a.k === 'dyn' || w.k === 'error' || a.k === 'error') return true;
    if (w.k === 'type' && a.k === 'type') return true;
    // Message types are nullable: `timestamp_param == null` type-checks.
    if (a.k === 'null' && (w.k === 'timestamp' || w.k === 'duration' || w.k === 'ipaddress')) return true;
    if (w.k !== a.k) return false;
    if (w.k === 'list' && a.k === 'list') return this.assignable(w.e, a.e);
    if (w.k === 'map' && a.k === 'map') return this.assignable(w.key, a.key) && this.assignable(w.v, a.v);
    return true;
  }

  private bind(id: number, t: CelT): void {
    this.subst.set(id, t);
    this.trail.push(id);
  }

  private struct(e: CelExpr): CelT {
    const s = e.exprKind.value as Extract<CelExpr['exprKind'], { case: 'structExpr' }>['value'];
    if (s.messageName === '') {
      let key: CelT | undefined;
      let value: CelT | undefined;
      for (const en of s.entries) {
        if (en.keyKind.case === 'mapKey') key = this.join(key, this.typeOf(en.keyKind.value));
        value = this.join(value, this.typeOf(en.value!));
      }
      return T.map(key ?? this.fresh(), value ?? this.fresh());
    }
    const type = TYPE_IDENTIFIERS.get(s.messageName.replace(/^\./, ''));
    if (!type || (type.k !== 'timestamp' && type.k !== 'duration')) {
      throw new TypeCheckError(`undeclared reference to '${s.messageName}' (in container '')`, e.id);
    }
    for (const en of s.entries) {
      const field = en.keyKind.case === 'fieldKey' ? en.keyKind.value : '';
      if (field !== 'seconds' && field !== 'nanos')
        throw new TypeCheckError(`undefined field '${field}'`, en.value?.id ?? e.id);
      this.expect(en.value!, T.int);
    }
    return type;
  }

  private comprehension(e: CelExpr): CelT {
    const c = e.exprKind.value as Extract<CelExpr['exprKind'], { case: 'comprehensionExpr' }>['value'];
    const range = this.walk(this.typeOf(c.iterRange!));
    let iter: CelT;
    if (range.k === 'list') iter = range.e;
    else if (range.k === 'map') iter = range.key;
    else if (range.k === 'dyn' || range.k === 'var' || range.k === 'error') iter = T.dyn;
    else {
      throw new TypeCheckError(
        `expression of type '${formatType(this.substitute(range))}' cannot be range of a comprehension (must be list, map, or dynamic)`,
        c.iterRange!.id,
      );
    }
    const accu = this.typeOf(c.accuInit!);
    this.scopes.push(new Map([[c.accuVar, accu]]));
    this.scopes.push(new Map([[c.iterVar, iter]]));
    this.expect(c.loopCondition!, T.bool);
    this.expect(c.loopStep!, accu);
    this.scopes.pop();
    const result = this.typeOf(c.result!);
    this.scopes.pop();
    return result;
  }

  /** cel-go's "expected type 'bool' but found 'int'". */
  private expect(e: CelExpr, want: CelT): void {
    const got = this.typeOf(e);
    if (!this.assignable(want, got)) {
      throw new TypeCheckError(
        `expected type '${formatType(this.substitute(want))}' but found '${formatType(this.substitute(got))}'`,
        e.id,
      );
    }
  }

  /** The element type of a list or map literal: the common type, or dyn when elements differ. */
  private join(prev: CelT | undefined, cur: CelT): CelT {
    if (prev === undefined) return cur;
    const a = this.walk(prev);
    const b = this.walk(cur);
    if (a.k === 'var') return b;
    if (b.k === 'var') return a;
    if (sameType(this.substitute(a), this.substitute(b))) return a;
    if (a.k === 'list' && b.k === 'list') return T.list(this.join(a.e, b.e));
    if (a.k === 'map' && b.k === 'map') return T.map(this.join(a.key, b.key), this.join(a.v, b.v));
    return T.dyn;
  }

  private fresh(): CelT {
    return { k: 'var', id: this.nextVar++ };
  }

  private instantiate(t: CelT, params: Map<string, CelT>): CelT {
    switch (t.k) {
      case 'param': {
        let v = params.get(t.name);
        if (!v) params.set(t.name, (v = this.fresh()));
        return v;
      }
      case 'list':
        return T.list(this.instantiate(t.e, params));
      case 'map':
        return T.map(this.instantiate(t.key, params), this.instantiate(t.v, params));
      case 'type':
        return T.type(this.instantiate(t.t, params));
      default:
        return t;
    }
  }

  private walk(t: CelT): CelT {
    return walk(t, this.subst);
  }

  private substitute(t: CelT): CelT {
    const w = this.walk(t);
    switch (w.k) {
      case 'list':
        return T.list(this.substitute(w.e));
      case 'map':
        return T.map(this.substitute(w.key), this.substitute(w.v));
      case 'type':
        return T.type(this.substitute(w.t));
      default:
        return w;
    }
  }
}

function walk(t: CelT, s: Map<number, CelT>): CelT {
  while (t.k === 'var') {
    const bound = s.get(t.id);
    if (!bound) return t;
    t = bound;
  }
  return t;
}

function sameType(a: CelT, b: CelT): boolean {
  return formatType(a) === formatType(b) && a.k === b.k;
}

function constType(kind: string | undefined): CelT {
  switch (kind) {
    case 'boolValue':
      return T.bool;
    case 'int64Value':
      return T.int;
    case 'uint64Value':
      return T.uint;
    case 'doubleValue':
      return T.double;
    case 'stringValue':
      return T.string;
    case 'bytesValue':
      return T.bytes;
    case 'nullValue':
      return T.null;
    case 'durationValue':
      return T.duration;
    case 'timestampValue':
      return T.timestamp;
    default:
      return T.dyn;
  }
}
