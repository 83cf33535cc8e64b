/**
 * Caveat context: JSON values (stored on a relationship, or sent with a request) converted to CEL
 * values of the declared parameter types, with SpiceDB's conversions: numbers for int/uint may be
 * integral JSON numbers or numeric strings, bytes are base64, durations Go duration strings,
 * timestamps RFC 3339 strings, ipaddress a string; `any` keeps JSON's own types (numbers are doubles).
 */
import { celList, celMap, celUint, type CelValue } from '@bufbuild/cel';
import { invalidArgument } from '../errors/index.js';
import type { CaveatParameterType } from '../schema/ir.js';
import { parseGoDuration, parseRfc3339 } from './go-time.js';
import { parseIpAddress } from './ipaddress.js';
import { formatParameterType } from './types.js';
import { durationValue, ipAddressValue, timestampValue } from './values.js';
import { fromBase64 } from '../runtime/bytes.js';

export type CaveatContext = Record<string, unknown>;

/**
 * SpiceDB's default limits on context size, in bytes of the encoded protobuf Struct: what a request
 * may send (`--max-caveat-context-size`) and what a relationship may store
 * (`--max-relationship-context-size`). Enforced where requests are decoded; listed here for that layer.
 */
export const MAX_REQUEST_CONTEXT_BYTES = 4096;
export const MAX_RELATIONSHIP_CONTEXT_BYTES = 25_000;

/**
 * Defensive bound for contexts that reach evaluation without that check: JSON values (numbers,
 * strings, list items, map entries) plus string characters / 16.
 */
export const MAX_CONTEXT_WEIGHT = 200_000;

/**
 * The context the caveat of one relationship is evaluated with: the relationship's stored values win
 * over the request's (as in SpiceDB, a client cannot override what was written).
 */
export function mergeContext(
  relationshipContext: CaveatContext | undefined | null,
  requestContext: CaveatContext | undefined | null,
): CaveatContext {
  if (!requestContext) return relationshipContext ?? {};
  if (!relationshipContext) return requestContext;
  return { ...requestContext, ...relationshipContext };
}

const MIN_INT64 = -(1n << 63n);
const MAX_INT64 = (1n << 63n) - 1n;

/** Go's `%T` of a decoded JSON value, as SpiceDB's messages print it. */
function goType(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  switch (typeof v) {
    case 'number':
      return 'float64';
    case 'bigint':
      return 'int64';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'object':
      return 'map[string]interface {}';
    default:
      return typeof v;
  }
}

const goValue = (v: unknown): string =>
  v === null || v === undefined ? '<nil>' : typeof v === 'object' ? JSON.stringify(v) : String(v);

class Converter {
  private weight = 0;

  constructor(private readonly caveat: string) {}

  /** The CEL value of one parameter, or an INVALID_ARGUMENT error naming it and its type. */
  parameter(name: string, type: CaveatParameterType, value: unknown, prefix = true): CelValue {
    try {
      return this.convert(type, value);
    } catch (e) {
      if (e instanceof ContextTooLarge) {
        throw invalidArgument(`context for caveat \`${this.caveat}\` is too large`);
      }
      throw invalidArgument(
        `${prefix ? `type error for parameters for caveat \`${this.caveat}\`: ` : ''}could not convert context parameter \`${name}\`: ` +
          `for ${formatParameterType(type)}: ${(e as Error).message}`,
        undefined,
        { caveat_name: this.caveat, parameter: name, expected_type: formatParameterType(type) },
      );
    }
  }

  private weigh(n: number): void {
    this.weight += n;
    if (this.weight > MAX_CONTEXT_WEIGHT) throw new ContextTooLarge();
  }

  private convert(type: CaveatParameterType, v: unknown): CelValue {
    this.weigh(1);
    switch (type.kind) {
      case 'any':
        return this.json(v);
      case 'bool':
        if (typeof v !== 'boolean') throw required('bool', v);
        return v;
      case 'string':
        if (typeof v !== 'string') throw required('string', v);
        this.weigh(v.length >> 4);
        return v;
      case 'int':
        return integer(v, 'int');
      case 'uint': {
        const n = integer(v, 'uint');
        if (n < 0n) throw new Error(`a uint value is required, but found int64 value \`${n}\``);
        return celUint(n);
      }
      case 'double':
        return double(v);
      case 'bytes':
        if (typeof v !== 'string')
          throw new Error(`bytes requires a base64 unicode string, found: ${goType(v)} \`${goValue(v)}\``);
        this.weigh(v.length >> 4);
        return base64(v);
      case 'duration':
        if (typeof v !== 'string') throw new Error(`durations requires a duration string, found: ${goType(v)}`);
        try {
          return durationValue(parseGoDuration(v));
        } catch (e) {
          throw new Error(`could not parse duration string \`${v}\`: ${(e as Error).message}`);
        }
      case 'timestamp':
        if (typeof v !== 'string') {
          throw new Error(
            `timestamps requires a RFC 3339 formatted timestamp string, found: ${goType(v)} \`${goValue(v)}\``,
          );
        }
        try {
          return timestampValue(parseRfc3339(v));
        } catch (e) {
          throw new Error(`could not parse RFC 3339 formatted timestamp string \`${v}\`: ${(e as Error).message}`);
        }
      case 'ipaddress':
        if (typeof v !== 'string')
          throw new Error(`ipaddress requires an ipaddress string, found: ${goType(v)} \`${goValue(v)}\``);
        try {
          return ipAddressValue(parseIpAddress(v));
        } catch (e) {
          throw new Error(`could not parse ip address string \`${v}\`: ${(e as Error).message}`);
        }
      case 'list': {
        if (!Array.isArray(v)) throw new Error(`list requires a list, found: ${goType(v)}`);
        return celList(
          v.map((item, i) => {
            try {
              return this.convert(type.element, item);
            } catch (e) {
              if (e instanceof ContextTooLarge) throw e;
              throw new Error(
                `found an invalid value for item at index ${i}: for ${formatParameterType(type.element)}: ${(e as Error).message}`,
              );
            }
          }),
        );
      }
      case 'map': {
        if (!isPlainObject(v)) throw new Error(`map requires a map, found: ${goType(v)}`);
        const out = new Map<string, CelValue>();
        for (const [key, item] of Object.entries(v)) {
          this.weigh(1 + (key.length >> 4));
          try {
            out.set(key, this.convert(type.value, item));
          } catch (e) {
            if (e instanceof ContextTooLarge) throw e;
            throw new Error(
              `found an invalid value for key \`${key}\`: for ${formatParameterType(type.value)}: ${(e as Error).message}`,
            );
          }
        }
        return celMap(out);
      }
    }
  }

  /** `any`: JSON as CEL sees a google.protobuf.Value (numbers are doubles). */
  private json(v: unknown): CelValue {
    this.weigh(1);
    if (v === null || v === undefined) return null;
    switch (typeof v) {
      case 'number':
        return finite(v);
      case 'boolean':
        return v;
      case 'bigint':
        return Number(v);
      case 'string':
        this.weigh(v.length >> 4);
        return v;
    }
    if (Array.isArray(v)) return celList(v.map((x) => this.json(x)));
    if (isPlainObject(v)) {
      const out = new Map<string, CelValue>();
      for (const [k, x] of Object.entries(v)) out.set(k, this.json(x));
      return celMap(out);
    }
    throw new Error(`unsupported context value of type ${typeof v}`);
  }
}

class ContextTooLarge extends Error {}

/** Converts the context values of the declared parameters that are present; others are ignored. */
export function convertContext(
  caveat: string,
  parameters: ReadonlyMap<string, CaveatParameterType>,
  context: CaveatContext,
): Map<string, CelValue> {
  const converter = new Converter(caveat);
  const values = new Map<string, CelValue>();
  for (const [name, type] of parameters) {
    if (!Object.prototype.hasOwnProperty.call(context, name)) continue;
    const v = context[name];
    if (v === undefined) continue;
    values.set(name, converter.parameter(name, type, v));
  }
  return values;
}

/**
 * Checks a context about to be stored on a relationship, as SpiceDB's WriteRelationships does: every
 * key must be a parameter of the caveat and convert to its type (`unknown parameter \`k\``,
 * `could not convert context parameter \`a\`: for int: …`). Throws INVALID_ARGUMENT.
 */
export function validateRelationshipContext(
  caveat: { readonly name: string; readonly parameters: ReadonlyMap<string, CaveatParameterType> },
  context: CaveatContext | undefined | null,
): void {
  if (!context) return;
  const converter = new Converter(caveat.name);
  for (const [name, value] of Object.entries(context)) {
    const type = caveat.parameters.get(name);
    if (!type) {
      throw invalidArgument(`unknown parameter \`${name}\``, undefined, { caveat_name: caveat.name, parameter: name });
    }
    converter.parameter(name, type, value, false);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function required(kind: string, v: unknown): Error {
  return new Error(`a ${kind} value is required, but found ${goType(v)} \`${goValue(v)}\``);
}

/**
 * An integer from a JSON number or numeric string, as SpiceDB reads it: any decimal notation whose
 * value is whole (`"1.0"`, `"1e3"`), saturated to the int64 range.
 */
function integer(v: unknown, kind: 'int' | 'uint'): bigint {
  if (typeof v === 'bigint') return clamp(v);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`a ${kind} value is required, but found numeric value \`${v}\``);
    return clamp(BigInt(v));
  }
  if (typeof v !== 'string')
    throw new Error(
      `a ${kind === 'int' ? 'int64' : 'uint64'} value is required, but found ${goType(v)} \`${goValue(v)}\``,
    );
  const whole = decimalToBigInt(v);
  if (whole === 'invalid')
    throw new Error(
      `a ${kind === 'int' ? 'int64' : 'uint64'} value is required, but found invalid string value \`${v}\``,
    );
  if (whole === 'fraction') throw new Error(`a ${kind} value is required, but found numeric value \`${v}\``);
  return clamp(whole);
}

const clamp = (n: bigint) => (n > MAX_INT64 ? MAX_INT64 : n < MIN_INT64 ? MIN_INT64 : n);

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

function decimalToBigInt(s: string): bigint | 'invalid' | 'fraction' {
  if (/^[+-]?[Ii]nf$/.test(s)) return 'fraction';
  const m = DECIMAL.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return 'invalid';
  const digits = (m[2] + (m[3] ?? '')).replace(/^0+(?=\d)/, '');
  const exponent = Number(m[4] ?? 0) - (m[3] ?? '').length;
  let n: bigint;
  if (/^0*$/.test(digits)) return 0n;
  if (exponent >= 0) {
    // Beyond int64 either way: saturate without building a huge number.
    if (digits.length + exponent > 40) return m[1] === '-' ? MIN_INT64 : MAX_INT64;
    n = BigInt(digits) * 10n ** BigInt(exponent);
  } else {
    const cut = digits.length + exponent;
    if (!/^0*$/.test(digits.slice(Math.max(0, cut)))) return 'fraction';
    n = cut <= 0 ? 0n : BigInt(digits.slice(0, cut));
  }
  return m[1] === '-' ? -n : n;
}

/**
 * A JSON number: NaN and ±Infinity are not one, and a stored context (kept as JSON) would turn them
 * into null. The strings `inf` and `-inf` still give a double parameter its infinities, as in SpiceDB.
 */
function finite(n: number): number {
  if (!Number.isFinite(n)) throw new Error(`a finite number is required, but found \`${n}\``);
  return n;
}

function double(v: unknown): number {
  if (typeof v === 'number') return finite(v);
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'string') throw new Error(`a float64 value is required, but found ${goType(v)} \`${goValue(v)}\``);
  if (/^[+-]?[Ii]nf$/.test(v)) return v.startsWith('-') ? -Infinity : Infinity;
  const m = DECIMAL.exec(v);
  if (!m || (m[2] === '' && (m[3] ?? '') === ''))
    throw new Error(`a float64 value is required, but found invalid string value \`${v}\``);
  return Number(v);
}

/** Go's base64.StdEncoding: padded, standard alphabet; line breaks are ignored. */
function base64(s: string): Uint8Array {
  const clean = s.replace(/[\r\n]/g, '');
  const bad = /[^A-Za-z0-9+/=]/.exec(clean);
  if (bad || clean.length % 4 !== 0 || /=[^=]/.test(clean) || /={3,}$/.test(clean)) {
    const at = bad ? bad.index : clean.length;
    throw new Error(`bytes requires a base64 encoded string: illegal base64 data at input byte ${at}`);
  }
  return fromBase64(clean);
}
