/**
 * The pieces under caveat evaluation: Go's duration and RFC 3339 syntax, netip's address and prefix
 * rules, context merging and conversion, and the shape of the API the engine uses.
 */
import { describe, expect, it } from 'vitest';
import { compileCaveat, evaluateCaveat, mergeContext, validateRelationshipContext } from '../../src/caveats/index.js';
import {
  formatDuration,
  formatGoDouble,
  formatRfc3339Nano,
  parseGoDuration,
  parseRfc3339,
} from '../../src/caveats/go-time.js';
import { formatIpAddress, parseIpAddress, parseIpPrefix, prefixContains } from '../../src/caveats/ipaddress.js';
import { timeFields } from '../../src/caveats/time-fields.js';
import { PembaError } from '../../src/errors/index.js';
import type { CaveatParameterType } from '../../src/schema/ir.js';

describe("Go's time.ParseDuration", () => {
  it.each([
    ['0', 0n],
    ['-0', 0n],
    ['1h30m', 5_400_000_000_000n],
    ['1.5h', 5_400_000_000_000n],
    ['+1s', 1_000_000_000n],
    ['-1m30s', -90_000_000_000n],
    ['.5s1s', 1_500_000_000n],
    ['1.s', 1_000_000_000n],
    ['300ms', 300_000_000n],
    ['1us', 1000n],
    ['1µs', 1000n],
    ['1μs', 1000n],
    ['7ns', 7n],
    ['2562047h47m16.854775807s', (1n << 63n) - 1n],
    ['-2562047h47m16.854775808s', -(1n << 63n)],
  ])('%s', (text, nanos) => {
    expect(parseGoDuration(text)).toBe(nanos);
  });

  it.each([
    ['', 'time: invalid duration ""'],
    ['1', 'time: missing unit in duration "1"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['1 h', 'time: unknown unit " h" in duration "1 h"'],
    ['1h-1m', 'time: unknown unit "h-" in duration "1h-1m"'],
    ['.s', 'time: invalid duration ".s"'],
    ['1S', 'time: unknown unit "S" in duration "1S"'],
    ['2562047h47m16.854775808s', 'time: invalid duration "2562047h47m16.854775808s"'],
    ['3000000h', 'time: invalid duration "3000000h"'],
  ])('rejects %j', (text, message) => {
    expect(() => parseGoDuration(text)).toThrow(message);
  });

  it("prints as cel-go's string(duration)", () => {
    expect(formatDuration(5400n, 0)).toBe('5400s');
    expect(formatDuration(1n, 500_000_000)).toBe('1.5s');
    expect(formatDuration(0n, 1)).toBe('0.000000001s');
    expect(formatDuration(-90n, 0)).toBe('-90s');
    expect(formatDuration(-1n, -500_000_000)).toBe('-1.5s');
  });
});

describe('RFC 3339 as Go parses it', () => {
  it('reads offsets, fractions (nine digits kept), year 0', () => {
    expect(parseRfc3339('2024-01-01T00:00:00Z')).toEqual({ seconds: 1_704_067_200n, nanos: 0 });
    expect(parseRfc3339('2024-01-01T01:00:00+01:00')).toEqual({ seconds: 1_704_067_200n, nanos: 0 });
    expect(parseRfc3339('2024-01-01T00:00:00.123456789123Z')).toEqual({ seconds: 1_704_067_200n, nanos: 123_456_789 });
    expect(parseRfc3339('2024-01-01T00:00:01,5Z')).toEqual({ seconds: 1_704_067_201n, nanos: 500_000_000 });
    expect(parseRfc3339('0000-01-01T00:00:00Z').seconds).toBe(-62_167_219_200n);
    expect(parseRfc3339('2024-01-01T00:00:01+24:00').seconds).toBe(1_703_980_801n); // Go does not range-check offsets
  });

  it.each([
    '2024-01-01 00:00:01Z',
    '2024-01-01T00:00:01',
    '2024-01-01t00:00:01z',
    '10000-01-01T00:00:00Z',
    '2024-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T23:59:60Z',
    '2024-01-01T00:00:01.Z',
    '2024-01-01T00:00:01+0100',
    '2024-1-01T00:00:01Z',
    '2024-01-01T00:00:01Z ',
  ])('rejects %j', (text) => {
    expect(() => parseRfc3339(text)).toThrow(/^parsing time /);
  });

  it("prints as Go's RFC3339Nano in UTC", () => {
    expect(formatRfc3339Nano({ seconds: 1_704_067_200n, nanos: 500_000_000 })).toBe('2024-01-01T00:00:00.5Z');
    expect(formatRfc3339Nano({ seconds: -62_135_596_800n, nanos: 0 })).toBe('0001-01-01T00:00:00Z');
    expect(formatRfc3339Nano({ seconds: 253_402_300_799n, nanos: 123_456_789 })).toBe('9999-12-31T23:59:59.123456789Z');
  });

  it('gives calendar fields in UTC, fixed offsets and IANA zones', () => {
    const t = parseRfc3339('2024-06-01T00:30:00Z');
    expect(timeFields(t)).toMatchObject({
      year: 2024,
      month: 5,
      day: 1,
      dayOfWeek: 6,
      dayOfYear: 152,
      hours: 0,
      minutes: 30,
    });
    expect(timeFields(t, '-01:00')).toMatchObject({ month: 4, day: 31, hours: 23 });
    expect(timeFields(t, '-00:30')).toMatchObject({ hours: 0, minutes: 0 });
    expect(timeFields(t, 'Europe/Paris')).toMatchObject({ hours: 2 }); // summer time
    expect(timeFields(parseRfc3339('2024-01-01T00:30:00Z'), 'Europe/Paris')).toMatchObject({ hours: 1 });
    expect(timeFields(parseRfc3339('0050-06-01T00:00:00Z'))).toMatchObject({ year: 50, dayOfWeek: 3 }); // proleptic Gregorian, a Wednesday
    expect(() => timeFields(t, 'europe/paris')).toThrow('unknown time zone europe/paris');
    expect(() => timeFields(t, 'Nowhere/Place')).toThrow('unknown time zone Nowhere/Place');
  });
});

it("formats doubles as Go's %g (cel-go's string(double))", () => {
  expect(
    [1, 0.1, 1e-7, 1e6, 1e5, 1234567.5, 0.0001, -1.5, 1e21, 5e-324, NaN, Infinity, -0].map(formatGoDouble),
  ).toEqual([
    '1',
    '0.1',
    '1e-07',
    '1e+06',
    '100000',
    '1.2345675e+06',
    '0.0001',
    '-1.5',
    '1e+21',
    '5e-324',
    'NaN',
    '+Inf',
    '-0',
  ]);
});

describe('IP addresses as netip reads them', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['0:0::1', '::1'],
    ['::', '::'],
    ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
  ])('%s is %s', (text, canonical) => {
    expect(formatIpAddress(parseIpAddress(text))).toBe(canonical);
  });

  it.each([
    ['010.1.2.3', 'IPv4 field has octet with leading zero'],
    ['10.1.2', 'IPv4 address too short'],
    ['1.2.3.256', 'IPv4 field has value >255'],
    ['10.1.2.3/32', 'unexpected character'],
    ['1::2::3', 'multiple :: in address'],
    ['1:2:3:4:5:6:7:8:9', 'address string too long'],
    ['fe80::1%', 'zone must be a non-empty string'],
    [' 1.2.3.4', 'unexpected character'],
  ])('rejects %s', (text, why) => {
    expect(() => parseIpAddress(text)).toThrow(why);
  });

  it('matches prefixes of the same family only', () => {
    const inPrefix = (prefix: string, ip: string) => prefixContains(parseIpPrefix(prefix), parseIpAddress(ip));
    expect(inPrefix('10.0.0.0/8', '10.1.2.3')).toBe(true);
    expect(inPrefix('10.1.2.3/8', '10.9.9.9')).toBe(true);
    expect(inPrefix('10.0.0.0/8', '11.1.2.3')).toBe(false);
    expect(inPrefix('10.0.0.0/8', '::ffff:10.1.2.3')).toBe(false);
    expect(inPrefix('::ffff:10.0.0.0/104', '10.1.2.3')).toBe(false);
    expect(inPrefix('::/0', '1.2.3.4')).toBe(false);
    expect(inPrefix('0.0.0.0/0', '1.2.3.4')).toBe(true);
    expect(inPrefix('fe80::/10', 'fe80::1%eth0')).toBe(false);
    expect(inPrefix('10.128.0.0/9', '10.127.255.255')).toBe(false);
    expect(inPrefix('10.128.0.0/9', '10.128.0.0')).toBe(true);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/08', '1.2.3.0/+24', '1.2.3.4/24%x', 'fe80::1%eth0/64']) {
      expect(() => parseIpPrefix(bad), bad).toThrow();
    }
  });
});

describe('context', () => {
  it("lets the relationship's stored values win over the request's", () => {
    expect(mergeContext({ a: 1, b: 2 }, { b: 3, c: 4 })).toEqual({ a: 1, b: 2, c: 4 });
    expect(mergeContext(undefined, { c: 4 })).toEqual({ c: 4 });
    expect(mergeContext({ a: 1 }, null)).toEqual({ a: 1 });
    expect(mergeContext(undefined, undefined)).toEqual({});
  });

  const caveat = (spec: [string, CaveatParameterType][], expression: string) =>
    compileCaveat({ name: 'cav', parameters: new Map(spec), expression });

  it('converts nested lists and maps item by item, naming the bad item', () => {
    const c = caveat(
      [['m', { kind: 'map', value: { kind: 'list', element: { kind: 'uint' } } }]],
      'm.a[1] == 2 && m.b.size() == 0',
    );
    expect(evaluateCaveat(c, { m: { a: [1, '2'], b: [] } })).toEqual({ kind: 'true' });
    expect(() => evaluateCaveat(c, { m: { a: [1, -2] } })).toThrow(
      'type error for parameters for caveat `cav`: could not convert context parameter `m`: for map<list<uint>>: ' +
        'found an invalid value for key `a`: for list<uint>: found an invalid value for item at index 1: for uint: ' +
        'a uint value is required, but found int64 value `-2`',
    );
  });

  it('reports the parameter and its declared type as error metadata', () => {
    const c = caveat([['t', { kind: 'timestamp' }]], "t > timestamp('2024-01-01T00:00:00Z')");
    try {
      evaluateCaveat(c, { t: 1_700_000_000 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PembaError);
      expect((e as PembaError).code).toBe('INVALID_ARGUMENT');
      expect((e as PembaError).metadata).toEqual({ caveat_name: 'cav', parameter: 't', expected_type: 'timestamp' });
    }
  });

  it('reads bytes as standard, padded base64', () => {
    const c = caveat([['e', { kind: 'bytes' }]], "e == b'abc'");
    expect(evaluateCaveat(c, { e: 'YWJj' })).toEqual({ kind: 'true' });
    expect(evaluateCaveat(c, { e: 'YWJj\r\n' })).toEqual({ kind: 'true' });
    for (const bad of ['abc', 'YQ', 'YQ=', '-_8=', 'YQ==YQ=='])
      expect(() => evaluateCaveat(c, { e: bad }), bad).toThrow('base64');
  });

  it('checks a context to be stored as SpiceDB does on write', () => {
    const c = caveat([['a', { kind: 'int' }]], 'a == 1');
    expect(() => validateRelationshipContext(c, { a: 1 })).not.toThrow();
    expect(() => validateRelationshipContext(c, undefined)).not.toThrow();
    // SpiceDB (WriteRelationships), word for word:
    expect(() => validateRelationshipContext(c, { zz: 1 })).toThrow('unknown parameter `zz`');
    expect(() => validateRelationshipContext(c, { a: 'x' })).toThrow(
      'could not convert context parameter `a`: for int: a int64 value is required, but found invalid string value `x`',
    );
    expect(() => validateRelationshipContext(c, { a: 1.5 })).toThrow(
      /^could not convert context parameter `a`: for int: a int value is required, but found numeric value `1.5`$/,
    );
  });

  it('gives `any` parameters JSON types (numbers are doubles)', () => {
    const c = caveat([['a', { kind: 'any' }]], 'type(a) == double && a == 1 && a < 2u');
    expect(evaluateCaveat(c, { a: 1 })).toEqual({ kind: 'true' });
  });

  it('binds uint parameters as unsigned values typed int, as SpiceDB does', () => {
    const c = caveat([['b', { kind: 'uint' }]], 'b > 1 && type(b) == uint');
    expect(evaluateCaveat(c, { b: '18446744073709551615' })).toEqual({ kind: 'true' }); // saturates to 2^63-1
    expect(() => evaluateCaveat(caveat([['b', { kind: 'uint' }]], 'b + 1 == 2'), { b: 1 })).toThrow(
      'evaluation error for caveat cav: no such overload',
    );
  });
});

describe('the API', () => {
  it('compiles once and evaluates many times', () => {
    const c = compileCaveat({
      name: 'ip_allowed',
      parameters: new Map<string, CaveatParameterType>([
        ['ip', { kind: 'ipaddress' }],
        ['cidrs', { kind: 'list', element: { kind: 'string' } }],
      ]),
      expression: 'cidrs.exists(c, ip.in_cidr(c))',
    });
    expect(c.name).toBe('ip_allowed');
    expect(c.referencedParameters).toEqual(['cidrs', 'ip']);
    const cidrs = ['10.0.0.0/8', '192.168.0.0/16'];
    expect(evaluateCaveat(c, { ip: '192.168.1.1', cidrs })).toBe(evaluateCaveat(c, { ip: '10.0.0.1', cidrs }));
    expect(evaluateCaveat(c, { ip: '172.16.0.1', cidrs })).toEqual({ kind: 'false' });
    expect(evaluateCaveat(c, { cidrs })).toEqual({ kind: 'missing', missing: ['ip'] });
    expect(evaluateCaveat(c, { cidrs: [] })).toEqual({ kind: 'false' }); // decided without ip
    expect(evaluateCaveat(c, undefined)).toEqual({ kind: 'missing', missing: ['cidrs'] });
  });

  it('evaluates a simple caveat in microseconds', () => {
    const c = compileCaveat({ name: 'cav', parameters: new Map([['a', { kind: 'int' }]]), expression: 'a == 42' });
    const context = { a: 42 };
    for (let i = 0; i < 1000; i++) evaluateCaveat(c, context);
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) evaluateCaveat(c, context);
    expect((performance.now() - started) / 10_000).toBeLessThan(0.1); // ms per evaluation
  });
});
