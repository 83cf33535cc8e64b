/**
 * The run-time CEL environment shared by all caveats: @bufbuild/cel's standard library with SpiceDB's
 * `in_cidr`, cel-go's behaviour where @bufbuild/cel differs (`timestamp(int)` is seconds, Go's
 * `string(timestamp)`), cost metering on operations that grow with their operands, and the two internal
 * functions compilation inserts (`@tick` in comprehension loops, `@append` for macro accumulators).
 */
import {
  celEnv,
  celFunc,
  celList,
  celMethod,
  celUint,
  CelScalar,
  isCelError,
  isCelList,
  isCelMap,
  isCelUint,
  listType,
  objectType,
  type CelEnv,
  type CelFunc,
  type CelList,
  type CelValue,
} from '@bufbuild/cel';
import type { ReflectMessage } from '@bufbuild/protobuf/reflect';
import { DurationSchema, TimestampSchema } from '@bufbuild/protobuf/wkt';
import { charge, COST_PER_NODE, MAX_VALUE_SIZE, remainingBudget } from './budget.js';
import {
  formatDuration,
  formatGoDouble,
  formatRfc3339Nano,
  parseGoDuration,
  parseGoFloat,
  parseGoInt,
  parseRfc3339,
} from './go-time.js';
import { parseIpAddress, parseIpPrefix, prefixContains } from './ipaddress.js';
import { timeFields, type TimeFields } from './time-fields.js';
import { durationValue, ipAddressText, ipRegistry, IpAddressSchema, timestampValue } from './values.js';

const { BOOL, DOUBLE, DYN, INT, STRING, UINT } = CelScalar;
const LIST = listType(DYN);
const TIMESTAMP = objectType(TimestampSchema);
const DURATION = objectType(DurationSchema);
const IP_ADDRESS = objectType(IpAddressSchema);

/** Internal function names; `@` keeps them out of reach of caveat source. */
export const TICK = '@tick';
export const APPEND = '@append';

const standard = celEnv();

/** @bufbuild/cel's own overload with this id, to wrap. */
function std(name: string, id: string): CelFunc {
  for (const f of standard.funcs.find(name) ?? []) if (f.id === id) return f;
  throw new Error(`@bufbuild/cel has no overload ${id}`);
}

/** Calls a standard overload, rethrowing its error value so the wrapper fails the same way. */
function callStd(f: CelFunc, target: CelValue | undefined, args: CelValue[]): CelValue {
  const r = f.call(0, target, args);
  if (r === undefined) throw new Error(`found no matching overload for '${f.name}'`);
  if (isCelError(r)) throw r;
  return r;
}

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

/** CEL's timestamp range: years 1 to 9999. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

const nanosOf = (d: ReflectMessage): bigint => {
  const m = d.message as unknown as { seconds: bigint; nanos: number };
  return m.seconds * 1_000_000_000n + BigInt(m.nanos);
};

const ACCESSORS: Record<string, (f: TimeFields) => number> = {
  getFullYear: (f) => f.year,
  getMonth: (f) => f.month,
  getDayOfYear: (f) => f.dayOfYear,
  getDayOfMonth: (f) => f.day - 1,
  getDate: (f) => f.day,
  getDayOfWeek: (f) => f.dayOfWeek,
  getHours: (f) => f.hours,
  getMinutes: (f) => f.minutes,
  getSeconds: (f) => f.seconds,
  getMilliseconds: (f) => f.milliseconds,
};

function timestampAccessors(): CelFunc[] {
  return Object.entries(ACCESSORS).flatMap(([name, field]) => {
    const get = (t: ReflectMessage, zone?: string) =>
      BigInt(field(timeFields(t.message as unknown as { seconds: bigint; nanos: number }, zone)));
    return [
      celMethod(name, TIMESTAMP, [], INT, function (this: ReflectMessage) {
        return get(this);
      }),
      celMethod(name, TIMESTAMP, [STRING], INT, function (this: ReflectMessage, zone: string) {
        return get(this, zone);
      }),
    ];
  });
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

const funcs: CelFunc[] = [
  celMethod('in_cidr', IP_ADDRESS, [STRING], BOOL, function (this: ReflectMessage, cidr: string) {
    let prefix;
    try {
      prefix = parseIpPrefix(cidr);
    } catch {
      throw new Error(`invalid CIDR string: \`${cidr}\``);
    }
    return prefixContains(prefix, parseIpAddress(ipAddressText(this)));
  }),

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

  // cel-go semantics where @bufbuild/cel 0.6.1 differs.
  celFunc('timestamp', [INT], TIMESTAMP, (seconds: bigint) => timestampValue({ seconds, nanos: 0 })),
  celFunc('string', [TIMESTAMP], STRING, (t: ReflectMessage) => {
    const m = t.message as unknown as { seconds: bigint; nanos: number };
    return formatRfc3339Nano({ seconds: m.seconds, nanos: m.nanos });
  }),
  celFunc('string', [DURATION], STRING, (d: ReflectMessage) => {
    const m = d.message as unknown as { seconds: bigint; nanos: number };
    return formatDuration(m.seconds, m.nanos);
  }),
  celFunc('string', [DOUBLE], STRING, formatGoDouble),
  celFunc('int', [DURATION], INT, (d: ReflectMessage) => nanosOf(d)),
  celFunc('duration', [INT], DURATION, () => {
    throw new Error(`type conversion error from 'int' to 'google.protobuf.Duration'`);
  }),
  celMethod('getMilliseconds', DURATION, [], INT, function (this: ReflectMessage) {
    return nanosOf(this) / 1_000_000n;
  }),
  ...timestampAccessors(),
  celFunc('int', [STRING], INT, (s: string) => parseGoInt(s, 'int')),
  celFunc('uint', [STRING], UINT, (s: string) => celUint(parseGoInt(s, 'uint'))),
  celFunc('double', [STRING], DOUBLE, parseGoFloat),
  celFunc('timestamp', [STRING], TIMESTAMP, (text: string) => {
    let t;
    try {
      t = parseRfc3339(text);
    } catch {
      throw new Error(`type conversion error from 'string' to 'google.protobuf.Timestamp'`);
    }
    if (t.seconds < MIN_TIMESTAMP_SECONDS || t.seconds > MAX_TIMESTAMP_SECONDS) throw new Error('timestamp overflow');
    return timestampValue(t);
  }),
  celFunc('duration', [STRING], DURATION, (text: string) => {
    try {
      return durationValue(parseGoDuration(text));
    } catch {
      throw new Error(`type conversion error from 'string' to 'google.protobuf.Duration'`);
    }
  }),
];
export const runtimeEnv: CelEnv = celEnv({ registry: ipRegistry, funcs });
