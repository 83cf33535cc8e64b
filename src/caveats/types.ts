/**
 * Static CEL types as the caveat type checker sees them, printed the way cel-go prints them (SpiceDB's
 * error messages quote these names).
 */
import type { CaveatParameterType } from '../schema/ir.js';

export type PrimitiveKind =
  | 'int'
  | 'uint'
  | 'double'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'null'
  | 'dyn'
  | 'timestamp'
  | 'duration'
  | 'ipaddress'
  /** The type of an expression that already failed to check: assignable everywhere, so one mistake makes one error. */
  | 'error';

export type CelT =
  | { k: PrimitiveKind }
  | { k: 'list'; e: CelT }
  | { k: 'map'; key: CelT; v: CelT }
  /** The type of a type value (`int`, `type(x)`). */
  | { k: 'type'; t: CelT }
  /** A type variable, bound while resolving overloads (`[]` is `list(var)`). */
  | { k: 'var'; id: number }
  /** An overload's type parameter, replaced by a fresh variable at each use. */
  | { k: 'param'; name: string };

const prim = (k: PrimitiveKind): CelT => ({ k });
export const T = {
  int: prim('int'),
  uint: prim('uint'),
  double: prim('double'),
  bool: prim('bool'),
  string: prim('string'),
  bytes: prim('bytes'),
  null: prim('null'),
  dyn: prim('dyn'),
  timestamp: prim('timestamp'),
  duration: prim('duration'),
  ipaddress: prim('ipaddress'),
  error: prim('error'),
  list: (e: CelT): CelT => ({ k: 'list', e }),
  map: (key: CelT, v: CelT): CelT => ({ k: 'map', key, v }),
  type: (t: CelT): CelT => ({ k: 'type', t }),
  param: (name: string): CelT => ({ k: 'param', name }),
};

/**
 * The CEL type of a declared parameter. SpiceDB declares `uint` parameters as CEL `int` (while binding
 * unsigned values at run time), so `count < 10` type-checks and `count < 10u` does not; we copy that.
 */
export function parameterCelType(p: CaveatParameterType): CelT {
  switch (p.kind) {
    case 'any':
      return T.dyn;
    case 'uint':
      return T.int;
    case 'list':
      return T.list(parameterCelType(p.element));
    case 'map':
      return T.map(T.string, parameterCelType(p.value));
    default:
      return T[p.kind];
  }
}

/** `list<map<int>>`: the declared type as written in schema (for conversion errors). */
export function formatParameterType(p: CaveatParameterType): string {
  if (p.kind === 'list') return `list<${formatParameterType(p.element)}>`;
  if (p.kind === 'map') return `map<${formatParameterType(p.value)}>`;
  return p.kind;
}

/**
 * cel-go's spelling: `list(int)`, `map(string, dyn)`, `IPAddress`, `null`, `type(int)`. Checker errors
 * call the well-known types `timestamp` and `duration`; an expression's output type (`protoNames`) uses
 * their protobuf names.
 */
export function formatType(t: CelT, protoNames = false): string {
  switch (t.k) {
    case 'list':
      return `list(${formatType(t.e, protoNames)})`;
    case 'map':
      return `map(${formatType(t.key, protoNames)}, ${formatType(t.v, protoNames)})`;
    case 'type':
      return `type(${formatType(t.t, protoNames)})`;
    case 'ipaddress':
      return 'IPAddress';
    case 'timestamp':
      return protoNames ? 'google.protobuf.Timestamp' : 'timestamp';
    case 'duration':
      return protoNames ? 'google.protobuf.Duration' : 'duration';
    case 'var':
    case 'param':
    case 'error':
      return 'dyn';
    default:
      return t.k;
  }
}
