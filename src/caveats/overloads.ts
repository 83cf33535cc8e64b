/**
 * The functions a caveat may call, with their static signatures: CEL's standard library as SpiceDB's
 * cel-go environment declares it (no string extensions, no cross-type numeric comparisons), plus
 * SpiceDB's `ipaddress.in_cidr(string)`.
 */
import { T, type CelT } from './types.js';

export interface Overload {
  /** The receiver of a method call (`x.f()`); absent for global functions and operators. */
  target?: CelT;
  args: CelT[];
  result: CelT;
}

const A = T.param('A');
const B = T.param('B');
const { int, uint, double, bool, string, bytes, timestamp, duration, ipaddress } = T;

const fn = (args: CelT[], result: CelT): Overload => ({ args, result });
const method = (target: CelT, args: CelT[], result: CelT): Overload => ({ target, args, result });

const ORDERED = [bool, int, uint, double, string, bytes, timestamp, duration];
const comparison = ORDERED.map((t) => fn([t, t], bool));

const TIMESTAMP_ACCESSORS = [
  'getFullYear',
  'getMonth',
  'getDayOfYear',
  'getDayOfMonth',
  'getDate',
  'getDayOfWeek',
  'getHours',
  'getMinutes',
  'getSeconds',
  'getMilliseconds',
];
const DURATION_ACCESSORS = ['getHours', 'getMinutes', 'getSeconds', 'getMilliseconds'];

const table: Record<string, Overload[]> = {
  '!_': [fn([bool], bool)],
  '-_': [fn([int], int), fn([double], double)],
  '_==_': [fn([A, A], bool)],
  '_!=_': [fn([A, A], bool)],
  '_<_': comparison,
  '_<=_': comparison,
  '_>_': comparison,
  '_>=_': comparison,
  '_+_': [
    fn([int, int], int),
    fn([uint, uint], uint),
    fn([double, double], double),
    fn([string, string], string),
    fn([bytes, bytes], bytes),
    fn([T.list(A), T.list(A)], T.list(A)),
    fn([timestamp, duration], timestamp),
    fn([duration, timestamp], timestamp),
    fn([duration, duration], duration),
  ],
  '_-_': [
    fn([int, int], int),
    fn([uint, uint], uint),
    fn([double, double], double),
    fn([timestamp, timestamp], duration),
    fn([timestamp, duration], timestamp),
    fn([duration, duration], duration),
  ],
  '_*_': [fn([int, int], int), fn([uint, uint], uint), fn([double, double], double)],
  '_/_': [fn([int, int], int), fn([uint, uint], uint), fn([double, double], double)],
  '_%_': [fn([int, int], int), fn([uint, uint], uint)],
  '_[_]': [fn([T.list(A), int], A), fn([T.map(A, B), A], B)],
  '@in': [fn([A, T.list(A)], bool), fn([A, T.map(A, B)], bool)],
  '_?_:_': [fn([bool, A, A], A)],
  '@not_strictly_false': [fn([bool], bool)],
  size: [
    fn([string], int),
    fn([bytes], int),
    fn([T.list(A)], int),
    fn([T.map(A, B)], int),
    method(string, [], int),
    method(bytes, [], int),
    method(T.list(A), [], int),
    method(T.map(A, B), [], int),
  ],
  matches: [fn([string, string], bool), method(string, [string], bool)],
  contains: [method(string, [string], bool)],
  startsWith: [method(string, [string], bool)],
  endsWith: [method(string, [string], bool)],
  type: [fn([A], T.type(A))],
  dyn: [fn([A], T.dyn)],
  int: [
    fn([int], int),
    fn([uint], int),
    fn([double], int),
    fn([string], int),
    fn([timestamp], int),
    fn([duration], int),
  ],
  uint: [fn([uint], uint), fn([int], uint), fn([double], uint), fn([string], uint)],
  double: [fn([double], double), fn([int], double), fn([uint], double), fn([string], double)],
  string: [
    fn([string], string),
    fn([bool], string),
    fn([int], string),
    fn([uint], string),
    fn([double], string),
    fn([bytes], string),
    fn([timestamp], string),
    fn([duration], string),
  ],
  bytes: [fn([bytes], bytes), fn([string], bytes)],
  bool: [fn([bool], bool), fn([string], bool)],
  duration: [fn([duration], duration), fn([string], duration), fn([int], duration)],
  timestamp: [fn([timestamp], timestamp), fn([string], timestamp), fn([int], timestamp)],
  in_cidr: [method(ipaddress, [string], bool)],
};
for (const name of TIMESTAMP_ACCESSORS) table[name] = [method(timestamp, [], int), method(timestamp, [string], int)];
for (const name of DURATION_ACCESSORS) table[name].push(method(duration, [], int));

export const OVERLOADS: ReadonlyMap<string, readonly Overload[]> = new Map(Object.entries(table));

/** Identifiers that name types (`type(x) == int`). */
export const TYPE_IDENTIFIERS: ReadonlyMap<string, CelT> = new Map([
  ['int', int],
  ['uint', uint],
  ['double', double],
  ['bool', bool],
  ['string', string],
  ['bytes', bytes],
  ['null_type', T.null],
  ['dyn', T.dyn],
  ['type', T.type(T.dyn)],
  ['list', T.list(T.dyn)],
  ['map', T.map(T.dyn, T.dyn)],
  ['google.protobuf.Timestamp', timestamp],
  ['google.protobuf.Duration', duration],
]);
