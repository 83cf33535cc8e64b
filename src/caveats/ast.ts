/**
 * The parsed CEL syntax tree (@bufbuild/cel's protobuf `Expr`), named here without importing the
 * @bufbuild/cel-spec package, plus the few helpers every pass needs.
 */
import { parse } from '@bufbuild/cel';

export type CelExpr = ReturnType<typeof parse>['expr'];
export type CelSourceInfo = NonNullable<ReturnType<typeof parse>['sourceInfo']>;
export type ExprKind = CelExpr['exprKind'];

/** The name @bufbuild/cel's macros give their accumulator; no CEL source can spell it. */
export const ACCUMULATOR = '@result';

/** The direct subexpressions, in CEL's evaluation order (target before arguments). */
export function children(e: CelExpr): CelExpr[] {
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      return k.value.operand ? [k.value.operand] : [];
    case 'callExpr':
      return k.value.target ? [k.value.target, ...k.value.args] : k.value.args;
    case 'listExpr':
      return k.value.elements;
    case 'structExpr':
      return k.value.entries.flatMap((en) =>
        en.keyKind.case === 'mapKey' ? [en.keyKind.value, en.value!] : [en.value!],
      );
    case 'comprehensionExpr': {
      const c = k.value;
      return [c.iterRange!, c.accuInit!, c.loopCondition!, c.loopStep!, c.result!];
    }
    default:
      return [];
  }
}

/** A new node; @bufbuild/cel's planner reads only `id` and `exprKind`. */
export function makeExpr(id: bigint, exprKind: ExprKind): CelExpr {
  return { $typeName: 'cel.expr.Expr', id, exprKind } as CelExpr;
}

export const identExpr = (id: bigint, name: string): CelExpr =>
  makeExpr(id, { case: 'identExpr', value: { $typeName: 'cel.expr.Expr.Ident', name } } as ExprKind);

export const callExpr = (id: bigint, fn: string, args: CelExpr[], target?: CelExpr): CelExpr =>
  makeExpr(id, {
    case: 'callExpr',
    value: { $typeName: 'cel.expr.Expr.Call', function: fn, args, target },
  } as ExprKind);

export const intConst = (id: bigint, value: bigint): CelExpr =>
  makeExpr(id, {
    case: 'constExpr',
    value: { $typeName: 'cel.expr.Constant', constantKind: { case: 'int64Value', value } },
  } as ExprKind);

/** Deepest nesting of the tree, walked without recursion (parsed trees can be thousands deep). */
export function depthOf(root: CelExpr): number {
  let max = 0;
  const stack: [CelExpr, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [e, d] = stack.pop()!;
    if (d > max) max = d;
    for (const c of children(e)) stack.push([c, d + 1]);
  }
  return max;
}
