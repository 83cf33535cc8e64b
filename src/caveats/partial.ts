/**
 * Partial evaluation: the expression run with some parameters unknown, as cel-go (and so SpiceDB)
 * does it. An unknown flows through strict operations (the first unknown or error argument wins),
 * while `&&`, `||` and `?:` can decide without it (`false && unknown` is false, `unknown || error` is
 * unknown). Subtrees that read no unknown are handed to @bufbuild/cel whole; only the nodes on paths
 * to an unknown are walked here.
 */
import { celError, isCelError, type CelError, type CelValue } from '@bufbuild/cel';
import { children, type CelExpr } from './ast.js';
import type { Activation, Program } from './program.js';

/** The unknown parameters a value depends on, each occurrence (node) once, in source order. */
export class Unknown {
  constructor(readonly occurrences: readonly { id: bigint; name: string; offset: number }[]) {}

  merge(other: Unknown): Unknown {
    const seen = new Set(this.occurrences.map((o) => o.id));
    const all = [...this.occurrences, ...other.occurrences.filter((o) => !seen.has(o.id))];
    return new Unknown(all.sort((a, b) => a.offset - b.offset));
  }

  /** Parameter names as SpiceDB lists them: one per occurrence, in source order. */
  get names(): string[] {
    return this.occurrences.map((o) => o.name);
  }
}

export type PartialValue = CelValue | CelError | Unknown;

/** Comprehension variables in scope, innermost first. */
interface Scope {
  name: string;
  value: PartialValue;
  parent?: Scope;
}

function lookup(scope: Scope | undefined, name: string): Scope | undefined {
  for (let s = scope; s; s = s.parent) if (s.name === name) return s;
  return undefined;
}

export class PartialEvaluator {
  constructor(
    private readonly program: Program,
    private readonly values: ReadonlyMap<string, CelValue>,
    private readonly missing: ReadonlySet<string>,
  ) {}

  evaluate(): PartialValue {
    return this.eval(this.program.root, undefined);
  }

  private eval(e: CelExpr, scope: Scope | undefined): PartialValue {
    if (this.isKnown(e, scope)) return this.program.planOf(e)(this.activation(scope));
    const k = e.exprKind;
    switch (k.case) {
      case 'identExpr': {
        const bound = lookup(scope, k.value.name);
        if (bound) return bound.value;
        return new Unknown([{ id: e.id, name: k.value.name, offset: this.program.offsets[e.id.toString()] ?? 0 }]);
      }
      case 'callExpr':
        switch (k.value.function) {
          case '_&&_':
            return this.logical(k.value.args, scope, false);
          case '_||_':
            return this.logical(k.value.args, scope, true);
          case '_?_:_': {
            const cond = this.eval(k.value.args[0], scope);
            if (cond instanceof Unknown || isCelError(cond)) return cond;
            if (typeof cond !== 'boolean') return celError('no such overload', e.id);
            return this.eval(k.value.args[cond ? 1 : 2], scope);
          }
          case '@not_strictly_false':
            return this.eval(k.value.args[0], scope) !== false;
        }
        return this.strict(e, scope);
      case 'comprehensionExpr':
        return this.comprehension(e, scope);
      default:
        return this.strict(e, scope);
    }
  }

  /** A subtree whose every free variable has a value: @bufbuild/cel evaluates it as a whole. */
  private isKnown(e: CelExpr, scope: Scope | undefined): boolean {
    for (const v of this.program.freeVariables(e)) {
      const bound = lookup(scope, v);
      if (bound ? bound.value instanceof Unknown : this.missing.has(v)) return false;
    }
    return true;
  }

  private activation(scope: Scope | undefined): Activation {
    const act: Activation = Object.create(null);
    for (const [name, v] of this.values) act[name] = v;
    const inner: Scope[] = [];
    for (let s = scope; s; s = s.parent) inner.unshift(s);
    for (const s of inner) act[s.name] = s.value as CelValue;
    return act;
  }

  /** `&&` / `||`: a deciding operand wins; otherwise unknowns (merged) win over errors. */
  private logical(args: CelExpr[], scope: Scope | undefined, decides: boolean): PartialValue {
    let unknown: Unknown | undefined;
    let error: CelError | undefined;
    for (const arg of args) {
      const v = this.eval(arg, scope);
      if (v === decides) return decides;
      if (v instanceof Unknown) unknown = unknown ? unknown.merge(v) : v;
      else if (isCelError(v)) error ??= v;
      else if (typeof v !== 'boolean') error ??= celError('no such overload', arg.id);
    }
    return unknown ?? error ?? !decides;
  }

  /** Any other node: children left to right, the first unknown or error is the result. */
  private strict(e: CelExpr, scope: Scope | undefined): PartialValue {
    const act: Activation = Object.create(null);
    const kids = children(e);
    for (let i = 0; i < kids.length; i++) {
      const v = this.eval(kids[i], scope);
      if (v instanceof Unknown || isCelError(v)) return v;
      act[`$${i}`] = v;
    }
    return this.program.shapeOf(e)(act);
  }

  private comprehension(e: CelExpr, scope: Scope | undefined): PartialValue {
    const c = (e.exprKind as Extract<CelExpr['exprKind'], { case: 'comprehensionExpr' }>).value;
    const range = this.eval(c.iterRange!, scope);
    if (range instanceof Unknown || isCelError(range)) return range;
    let accu = this.eval(c.accuInit!, scope);
    const items = iterate(range);
    if (items === undefined) return celError('expression cannot be range of a comprehension', e.id);
    for (const item of items) {
      const inner: Scope = { name: c.iterVar, value: item, parent: { name: c.accuVar, value: accu, parent: scope } };
      const cond = this.eval(c.loopCondition!, inner);
      if (isCelError(cond)) return cond;
      if (cond !== true) break;
      accu = this.eval(c.loopStep!, inner);
    }
    return this.eval(c.result!, { name: c.accuVar, value: accu, parent: scope });
  }
}

function iterate(range: CelValue): Iterable<CelValue> | undefined {
  if (typeof range !== 'object' || range === null) return undefined;
  if (Symbol.iterator in range && 'size' in range) {
    // A CelMap iterates entries; comprehensions range over its keys.
    return 'keys' in range && typeof range.keys === 'function' ? (range.keys() as Iterable<CelValue>) : (range as Iterable<CelValue>);
  }
  return undefined;
}
