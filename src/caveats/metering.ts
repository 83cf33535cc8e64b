/**
 * Cost metering inside CEL: overloads that charge the budget before doing work that grows with their
 * operands (concatenation, equality, ordering and search of long values, regular expressions), and
 * the two internal functions compilation inserts: `@tick` in comprehension loop conditions and
 * `@append` for the accumulator of `map`/`filter`.
 */
import {
  celFunc,
  celList,
  celMethod,
  CelScalar,
  isCelList,
  isCelMap,
  listType,
  type CelFunc,
  type CelList,
  type CelValue,
} from '@bufbuild/cel';
import { charge, COST_PER_NODE, MAX_VALUE_SIZE, remainingBudget } from './budget.js';
import { callStd, std } from './std.js';

const { BOOL, DYN, INT, STRING } = CelScalar;
const LIST = listType(DYN);

/** Internal function names; `@` keeps them out of reach of caveat source. */
export const TICK = '@tick';
export const APPEND = '@append';

/** Units per list item or map entry that equality or `in` may visit (measured at about 40 ns). */
const ITEM_COST = 4;

/**
 * What comparing or searching a value may cost: its string length / 16, or its items (nested ones
 * included), counted only as far as the remaining budget so that counting stays cheap too.
 */
function sizeCost(v: CelValue): number {
  if (typeof v === 'string' || v instanceof Uint8Array) return v.length >> 4;
  if (!isCelList(v) && !isCelMap(v)) return 0;
  const cap = remainingBudget() / ITEM_COST + 1;
  let items = 0;
  const stack: CelValue[] = [v];
  while (stack.length > 0 && items < cap) {
    const x = stack.pop()!;
    if (!isCelList(x) && !isCelMap(x)) continue;
    items += x.size;
    for (const item of isCelList(x) ? x : x.values()) {
      if (isCelList(item) || isCelMap(item)) stack.push(item);
      if (items >= cap) break;
    }
  }
  return items * ITEM_COST;
}

/** Code points, as CEL's `size(string)` counts (@bufbuild/cel spreads the string into an array). */
function codePoints(s: string): bigint {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return BigInt(n);
}

const lengthOf = (v: CelValue): number =>
  typeof v === 'string' ? v.length : v instanceof Uint8Array ? v.length : isCelList(v) ? v.size : 0;

function capped<V extends CelValue>(v: V): V {
  if (lengthOf(v) > MAX_VALUE_SIZE) throw new Error(`caveat value exceeds the maximum size of ${MAX_VALUE_SIZE}`);
  return v;
}

/** Wraps a standard overload so that it first charges `cost(args)`. */
function metered(name: string, id: string, cost: (target: CelValue | undefined, args: CelValue[]) => number): CelFunc {
  const f = std(name, id);
  const impl = function (this: CelValue | undefined, ...args: CelValue[]) {
    charge(cost(this, args));
    return callStd(f, this, args);
  };
  return f.target
    ? celMethod(name, f.target, f.arguments, f.result, impl as never)
    : celFunc(name, f.arguments, f.result, impl as never);
}

const minSize = (_t: unknown, [l, r]: CelValue[]) => Math.min(sizeCost(l), sizeCost(r));
const targetLength = (t: CelValue | undefined) => lengthOf(t!) >> 4;

/** Lists the `@append` accumulator owns (safe to grow in place: nothing else can see them). */
const ownedLists = new WeakMap<CelList, CelValue[]>();

const matchesStd = std('matches', 'string.matches(string)');
const concatLists = std('_+_', '_+_(list,list)');
function matches(text: string, pattern: string): boolean {
  charge(((text.length + 1) * (pattern.length + 1)) >> 1);
  return callStd(matchesStd, text, [pattern]) as boolean;
}

export const meteringFunctions: CelFunc[] = [
  celFunc(TICK, [DYN, INT], DYN, (cond: CelValue, nodes: bigint) => {
    charge(Number(nodes) * COST_PER_NODE);
    return cond;
  }),
  celFunc(APPEND, [LIST, DYN], LIST, (list: CelList, item: CelValue) => {
    charge(1);
    const owned = ownedLists.get(list);
    if (owned) {
      capped(list);
      owned.push(item);
      return list;
    }
    const items = [...list, item];
    const grown = celList(items);
    ownedLists.set(grown, items);
    return grown;
  }),

  // Concatenation builds values: charge their size and bound it.
  celFunc('_+_', [STRING, STRING], STRING, (l: string, r: string) => {
    charge((l.length + r.length) >> 4);
    return capped(l + r);
  }),
  metered('_+_', '_+_(bytes,bytes)', (_t, [l, r]) => lengthOf(l) + lengthOf(r)),
  celFunc('_+_', [LIST, LIST], LIST, (l: CelList, r: CelList) => {
    charge(l.size + r.size);
    return capped(callStd(concatLists, undefined, [l, r]) as CelList);
  }),

  // Work proportional to the operands.
  metered('_==_', '_==_(dyn,dyn)', minSize),
  metered('_!=_', '_!=_(dyn,dyn)', minSize),
  ...['_<_', '_<=_', '_>_', '_>=_'].flatMap((op) => [
    metered(op, `${op}(string,string)`, minSize),
    metered(op, `${op}(bytes,bytes)`, minSize),
  ]),
  metered('@in', '@in(dyn,list)', (_t, [, list]) => sizeCost(list)),
  celFunc('size', [STRING], INT, (text: string) => {
    charge(text.length >> 3);
    return codePoints(text);
  }),
  celMethod('size', STRING, [], INT, function (this: string) {
    charge(this.length >> 3);
    return codePoints(this);
  }),
  metered('contains', 'string.contains(string)', targetLength),
  metered('startsWith', 'string.startsWith(string)', targetLength),
  metered('endsWith', 'string.endsWith(string)', targetLength),
  celMethod('matches', STRING, [STRING], BOOL, function (this: string, pattern: string) {
    return matches(this, pattern);
  }),
  celFunc('matches', [STRING, STRING], BOOL, (text: string, pattern: string) => matches(text, pattern)),
];
