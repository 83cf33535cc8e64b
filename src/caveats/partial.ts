/**
 * Partial evaluation: the expression run with some parameters unknown, as cel-go (and so SpiceDB)
 * does it. An unknown flows through strict operations (the first unknown or error argument wins),
 * while `&&`, `||` and `?:` can decide without it (`false && unknown` is false, `unknown || error` is
 * unknown). Subtrees that read no unknown are handed to @bufbuild/cel whole; only the nodes on paths
 * to an unknown are walked here.
 */
import { celError, isCelError, type CelError, type CelValue } from '@bufbuild/cel';
import { children, type CelExpr } from './ast.js';
import { charge, COST_PER_NODE } from './budget.js';
import type { Activation, Program } from './program.js';

/** Extra units per node and iteration of a comprehension walked here rather than by @bufbuild/cel. */
const PARTIAL_OVERHEAD = 4 * COST_PER_NODE;

/** The node count compilation put into a loop condition's `@tick(cond, nodes)`. */
function tickNodes(cond: CelExpr): number {
  const k = cond.exprKind;
  if (k.case !== 'callExpr') return 1;
  const n = k.value.args[1]?.exprKind;
  return n?.case === 'constExpr' && n.value.constantKind.case === 'int64Value' ? Number(n.value.constantKind.value) : 1;
}

/** The unknown parameters a value depends on, each occurrence (node) once, in source order. */
export class Unknown {
  constructor(readonly occurrences: readonly { id: bigint; name: string; offset: number }[]) {}

  merge(other: Unknown): Unknown {
    if (other === this) return this;
    const added = other.occurrences.filter((o) => !this.occurrences.some((p) => p.id === o.id));
    if (added.length === 0) return this; // the usual case in a loop: the same reads again
    return new Unknown([...this.occurrences, ...added].sort((a, b) => a.offset - b.offset));
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
  /** Parameters and the known variables of this scope chain, for @bufbuild/cel (made on first use). */
  activation?: Activation;
}

function lookup(scope: Scope | undefined, name: string): Scope | undefined {
  for (let s = scope; s; s = s.parent) if (s.name === name) return s;
  return undefined;
}

export class PartialEvaluator {
  private readonly base: Activation = Object.create(null);
  /** The Unknown of each read of a missing parameter, made once. */
  private readonly reads = new Map<bigint, Unknown>();

  constructor(
    private readonly program: Program,
    values: ReadonlyMap<string, CelValue>,
    private readonly missing: ReadonlySet<string>,
  ) {
    for (const [name, v] of values) this.base[name] = v;
  }

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
        let unknown = this.reads.get(e.id);
        if (!unknown) {
          unknown = new Unknown([{ id: e.id, name: k.value.name, offset: this.program.offsets[e.id.toString()] ?? 0 }]);
          this.reads.set(e.id, unknown);
        }
        return unknown;
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
    if (!scope) return this.base;
    if (!scope.activation) {
      // Inherits the outer scopes' variables through the prototype chain.
      scope.activation = Object.create(this.activation(scope.parent)) as Activation;
      if (!(scope.value instanceof Unknown)) scope.activation[scope.name] = scope.value as CelValue;
    }
    return scope.activation;
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
    // This walk costs several times what @bufbuild/cel's loop does; charge for it on top of `@tick`.
    const overhead = PARTIAL_OVERHEAD * tickNodes(c.loopCondition!);
    for (const item of items) {
      charge(overhead);
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
    return 'keys' in range && typeof range.keys === 'function'
      ? (range.keys() as Iterable<CelValue>)
      : (range as Iterable<CelValue>);
  }
  return undefined;
}
