/**
 * The runnable form of a type-checked caveat expression: the tree rewritten for metering and fast
 * macros, planned once with @bufbuild/cel, plus what partial evaluation needs (free variables of each
 * node, plans of subtrees made on demand).
 */
import { plan, type CelResult, type CelValue } from '@bufbuild/cel';
import { ACCUMULATOR, callExpr, children, identExpr, intConst, makeExpr, type CelExpr, type ExprKind } from './ast.js';
import { APPEND, runtimeEnv, TICK } from './env.js';

export type Activation = Record<string, CelValue>;
export type PlanFn = (ctx: Activation) => CelResult;

export class Program {
  readonly root: CelExpr;
  readonly run: PlanFn;
  /** Parameters the expression reads, in order of first use. */
  readonly referenced: readonly string[];
  private readonly free = new Map<bigint, ReadonlySet<string>>();
  private readonly plans = new Map<bigint, PlanFn>();
  private nextId: bigint;

  constructor(
    parsed: CelExpr,
    parameters: ReadonlySet<string>,
    /** Source offsets by node id, to order missing parameters as SpiceDB does. */
    readonly offsets: Readonly<Record<string, number>>,
  ) {
    this.nextId = maxId(parsed) + 1n;
    this.root = this.instrument(parsed);
    this.run = plan(runtimeEnv, this.root) as PlanFn;
    this.referenced = [...this.freeVariables(this.root)].filter((v) => parameters.has(v));
  }

  /** Variables a subtree reads that it does not bind itself (memoized per node). */
  freeVariables(e: CelExpr): ReadonlySet<string> {
    let set = this.free.get(e.id);
    if (set) return set;
    const k = e.exprKind;
    if (k.case === 'identExpr') set = new Set([k.value.name]);
    else if (k.case === 'comprehensionExpr') {
      const c = k.value;
      const s = new Set([...this.freeVariables(c.iterRange!), ...this.freeVariables(c.accuInit!)]);
      for (const body of [c.loopCondition!, c.loopStep!]) {
        for (const v of this.freeVariables(body)) if (v !== c.iterVar && v !== c.accuVar) s.add(v);
      }
      for (const v of this.freeVariables(c.result!)) if (v !== c.accuVar) s.add(v);
      set = s;
    } else {
      const s = new Set<string>();
      for (const child of children(e)) for (const v of this.freeVariables(child)) s.add(v);
      set = s;
    }
    this.free.set(e.id, set);
    return set;
  }

  /** A plan of one subtree (evaluated on its own during partial evaluation). */
  planOf(e: CelExpr): PlanFn {
    let p = this.plans.get(e.id);
    if (!p) this.plans.set(e.id, (p = plan(runtimeEnv, e) as PlanFn));
    return p;
  }

  /**
   * A plan applying node `e`'s own operation to values given as `$0`, `$1`, … in `children(e)` order,
   * for nodes whose children partial evaluation computed itself.
   */
  shapeOf(e: CelExpr): PlanFn {
    const key = -e.id - 1n;
    let p = this.plans.get(key);
    if (!p) this.plans.set(key, (p = plan(runtimeEnv, shape(e)) as PlanFn));
    return p;
  }

  private fresh(): bigint {
    return this.nextId++;
  }

  /**
   * Copies the tree with two changes to every comprehension: its loop condition charges the cost of
   * an iteration (`@tick(cond, nodes)`), and the `@result + [x]` step of `map`/`filter` becomes
   * `@append(@result, x)`, which grows the accumulator in place instead of chaining lazy
   * concatenations (whose reads cost O(n) each).
   */
  private instrument(e: CelExpr): CelExpr {
    const k = e.exprKind;
    switch (k.case) {
      case 'selectExpr':
        return makeExpr(e.id, {
          case: 'selectExpr',
          value: { ...k.value, operand: this.instrument(k.value.operand!) },
        } as ExprKind);
      case 'callExpr': {
        const args = k.value.args.map((a) => this.instrument(a));
        const target = k.value.target ? this.instrument(k.value.target) : undefined;
        const [l, r] = args;
        if (
          k.value.function === '_+_' &&
          !target &&
          args.length === 2 &&
          l.exprKind.case === 'identExpr' &&
          l.exprKind.value.name === ACCUMULATOR &&
          r.exprKind.case === 'listExpr' &&
          r.exprKind.value.elements.length === 1
        ) {
          return callExpr(e.id, APPEND, [l, r.exprKind.value.elements[0]]);
        }
        return callExpr(e.id, k.value.function, args, target);
      }
      case 'listExpr':
        return makeExpr(e.id, {
          case: 'listExpr',
          value: { ...k.value, elements: k.value.elements.map((x) => this.instrument(x)) },
        } as ExprKind);
      case 'structExpr':
        return makeExpr(e.id, {
          case: 'structExpr',
          value: {
            ...k.value,
            entries: k.value.entries.map((en) => ({
              ...en,
              keyKind:
                en.keyKind.case === 'mapKey'
                  ? { case: 'mapKey', value: this.instrument(en.keyKind.value) }
                  : en.keyKind,
              value: this.instrument(en.value!),
            })),
          },
        } as ExprKind);
      case 'comprehensionExpr': {
        const c = k.value;
        const nodes = BigInt(flatNodes(c.loopCondition!) + flatNodes(c.loopStep!) + 1);
        const cond = callExpr(this.fresh(), TICK, [this.instrument(c.loopCondition!), intConst(this.fresh(), nodes)]);
        return makeExpr(e.id, {
          case: 'comprehensionExpr',
          value: {
            ...c,
            iterRange: this.instrument(c.iterRange!),
            accuInit: this.instrument(c.accuInit!),
            loopCondition: cond,
            loopStep: this.instrument(c.loopStep!),
            result: this.instrument(c.result!),
          },
        } as ExprKind);
      }
      default:
        return e;
    }
  }
}

/** Nodes evaluated once per iteration: nested comprehension loops are charged by their own ticks. */
function flatNodes(e: CelExpr): number {
  if (e.exprKind.case === 'comprehensionExpr') {
    const c = e.exprKind.value;
    return 1 + flatNodes(c.iterRange!) + flatNodes(c.accuInit!) + flatNodes(c.result!);
  }
  let n = 1;
  for (const c of children(e)) n += flatNodes(c);
  return n;
}

function maxId(e: CelExpr): bigint {
  let max = e.id;
  const stack = [e];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (x.id > max) max = x.id;
    stack.push(...children(x));
  }
  return max;
}

/** `e` with each direct child replaced by the variable `$i`. */
function shape(e: CelExpr): CelExpr {
  let i = 0;
  const slot = (c: CelExpr) => identExpr(c.id, `$${i++}`);
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      return makeExpr(e.id, { case: 'selectExpr', value: { ...k.value, operand: slot(k.value.operand!) } } as ExprKind);
    case 'callExpr': {
      const target = k.value.target ? slot(k.value.target) : undefined;
      return callExpr(e.id, k.value.function, k.value.args.map(slot), target);
    }
    case 'listExpr':
      return makeExpr(e.id, {
        case: 'listExpr',
        value: { ...k.value, elements: k.value.elements.map(slot) },
      } as ExprKind);
    case 'structExpr':
      return makeExpr(e.id, {
        case: 'structExpr',
        value: {
          ...k.value,
          entries: k.value.entries.map((en) => {
            const keyKind =
              en.keyKind.case === 'mapKey' ? { case: 'mapKey', value: slot(en.keyKind.value) } : en.keyKind;
            return { ...en, keyKind, value: slot(en.value!) };
          }),
        },
      } as ExprKind);
    default:
      return e;
  }
}
