/**
 * Hostile schema text is refused quickly with a positioned INVALID_ARGUMENT, never a stack overflow:
 * the size and nesting limits of src/schema/limits.ts, and flat unions and intersections of any
 * length, which stay one n-ary node from the parser to the printer.
 */
import { describe, expect, it } from 'vitest';
import { PembaError, SchemaError } from '../../src/errors/index.js';
import { compileSchema, parseSchema, printSchema } from '../../src/schema/index.js';
import type { Rewrite } from '../../src/schema/ir.js';
import { MAX_NESTING_DEPTH, MAX_SCHEMA_BYTES } from '../../src/schema/limits.js';

/** Generous for a shared CI machine: each case takes milliseconds on an idle one. */
const FAST_MS = 1000;

const doc = (permission: string) =>
  `definition user {}\ndefinition doc {\n  relation aaa: user\n  relation bbb: user\n  permission ppp = ${permission}\n}`;

const names = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? 'bbb' : 'aaa'));

/** The error compiling `text` throws, and how long it took. */
function refusal(text: string): { error: PembaError; ms: number } {
  const started = performance.now();
  try {
    compileSchema(text);
  } catch (e) {
    if (!(e instanceof PembaError)) throw e;
    return { error: e, ms: performance.now() - started };
  }
  throw new Error('expected the schema to be refused');
}

function rewriteOf(text: string): Rewrite {
  return compileSchema(text).definitions.get('doc')!.relations.get('ppp')!.rewrite;
}

function depth(r: Rewrite): number {
  if (r.kind === 'exclusion') return 1 + Math.max(depth(r.base), depth(r.subtract));
  if (r.kind === 'union' || r.kind === 'intersection') return 1 + Math.max(...r.children.map(depth));
  return 1;
}

/** `aaa - (bbb & (aaa + (bbb - …)))`: every operator, nested `levels` deep. */
function mixed(levels: number): string {
  const ops = [' - ', ' & ', ' + '];
  let text = 'aaa';
  for (let i = levels - 1; i >= 1; i--) text = `${i % 2 ? 'bbb' : 'aaa'}${ops[i % 3]}(${text})`;
  return text;
}

describe('the nesting limit of permission expressions', () => {
  it('is a hundred levels', () => {
    expect(MAX_NESTING_DEPTH).toBe(100);
  });

  it('refuses 5,000 nested parentheses at the one past the limit', () => {
    const { error, ms } = refusal(doc(`${'('.repeat(5000)}aaa${')'.repeat(5000)}`));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      'under permission `ppp`: parentheses nest deeper than the maximum depth of 100 (line 5, column 120)',
    );
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('accepts parentheses a hundred deep', () => {
    expect(rewriteOf(doc(`${'('.repeat(100)}aaa${')'.repeat(100)}`))).toEqual({ kind: 'computed', relation: 'aaa' });
  });

  it.each([5000, 8184])('refuses a flat exclusion chain of %i operands, naming the permission and the limit', (n) => {
    const { error, ms } = refusal(doc(names(n).join(' - ')));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(
      /^under permission `ppp` under definition `doc`: expression nests deeper than the maximum depth of 100 \(line 5, column \d+\)$/,
    );
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('accepts a rewrite tree exactly at the limit and refuses one level more', () => {
    expect(depth(rewriteOf(doc(names(100).join(' - '))))).toBe(100);
    expect(refusal(doc(names(101).join(' - '))).error.message).toContain('maximum depth of 100 (line 5, column 20)');
    expect(depth(rewriteOf(doc(mixed(100))))).toBe(100);
    expect(refusal(doc(mixed(101))).error.message).toContain('expression nests deeper than the maximum depth of 100');
  });

  it('counts the levels of the rewrite tree, where `a + (b + c)` is one union', () => {
    const nested = `aaa${' + (bbb'.repeat(99)}${')'.repeat(99)}`;
    const r = rewriteOf(doc(nested));
    expect(r.kind === 'union' && r.children.length).toBe(100);
    expect(depth(r)).toBe(2);
  });
});

describe('flat unions and intersections', () => {
  it.each([
    ['union', ' + '],
    ['intersection', ' & '],
  ])('%s of 10,000 operands: one n-ary node that compiles, prints and compiles again', (kind, op) => {
    const started = performance.now();
    const text = doc(names(10_000).join(op));
    expect(parseSchema(text).definitions[1].members[2]).toMatchObject({ kind: 'permission', expression: { kind } });
    const schema = compileSchema(text);
    const r = schema.definitions.get('doc')!.relations.get('ppp')!.rewrite;
    expect(r.kind === kind && 'children' in r && r.children.length).toBe(10_000);
    const printed = printSchema(schema);
    expect(printed).toContain(`permission ppp = aaa${op}bbb${op}aaa`);
    expect(compileSchema(printed).definitions.get('doc')!.relations.get('ppp')!.rewrite).toEqual(r);
    expect(performance.now() - started).toBeLessThan(FAST_MS);
  });
});

describe('other nesting', () => {
  it('refuses caveat parameter types nested past the limit, and accepts them at it', () => {
    const type = (n: number) => `${'list<'.repeat(n - 1)}int${'>'.repeat(n - 1)}`;
    const { error, ms } = refusal(`caveat cav(x ${type(5000)}) { x == x }`);
    expect(error.message).toBe('caveat parameter type nests deeper than the maximum depth of 100 (line 1, column 514)');
    expect(ms).toBeLessThan(FAST_MS);
    expect(
      compileSchema(`caveat cav(x ${type(100)}) { x == x }`)
        .caveats.get('cav')!
        .parameters.get('x')!.kind,
    ).toBe('list');
  });

  it('refuses partial references chained past the limit', () => {
    const partials = Array.from({ length: 5000 }, (_, i) => `partial ppp${i} {\n  ...ppp${i + 1}\n}`).join('\n');
    const { error, ms } = refusal(
      `use partial\n${partials}\npartial ppp5000 {\n  relation aaa: user\n}\ndefinition user {\n  ...ppp0\n}`,
    );
    expect(error.message).toBe('partial references nest deeper than the maximum depth of 100 (line 300, column 3)');
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('follows long chains of aliases and subject relations without recursion, in linear time', () => {
    const started = performance.now();
    const aliases = Array.from({ length: 5000 }, (_, i) => `  permission ppp${i} = ppp${i + 1}`).join('\n');
    expect(() =>
      compileSchema(`definition user {\n  relation aaa: user\n${aliases}\n  permission ppp5000 = aaa\n}`),
    ).not.toThrow();
    const cycle = `definition user {\n  relation aaa: user\n${aliases}\n  permission ppp5000 = ppp0\n}`;
    expect(refusal(cycle).error.message).toMatch(
      /^under definition `user`, there exists a cycle in permissions: ppp0, ppp1, ppp10, /,
    );
    const chain = Array.from(
      { length: 5000 },
      (_, i) => `definition ddd${i} {\n  relation rel: ddd${i + 1}#rel\n}`,
    ).join('\n');
    const { error } = refusal(`${chain}\ndefinition ddd5000 {\n  relation rel: ddd5000:*\n}`);
    expect(error.message).toContain(
      'for relation `rel`: relation/permission `ddd1#rel` includes wildcard type `ddd5000` via relation `ddd5000#rel`: wildcard relations cannot be transitively included',
    );
    expect(performance.now() - started).toBeLessThan(2 * FAST_MS);
  });
});

describe('size', () => {
  it('refuses schema text over 4 MiB before reading it', () => {
    expect(MAX_SCHEMA_BYTES).toBe(4 * 1024 * 1024);
    const { error, ms } = refusal(`definition user {}\n// ${'x'.repeat(MAX_SCHEMA_BYTES)}`);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.reason).toBe('ERROR_REASON_SCHEMA_PARSE_ERROR');
    expect(error.message).toBe(
      `schema is ${MAX_SCHEMA_BYTES + 22} bytes, more than the maximum of ${MAX_SCHEMA_BYTES}`,
    );
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('refuses a caveat with a 3 MB string literal before parsing it as CEL', () => {
    const { error, ms } = refusal(`caveat cav(x string) {\n  x == "${'a'.repeat(3_000_000)}"\n}\ndefinition user {}`);
    expect(error.message).toBe(
      'invalid expression for caveat `cav`: caveat expression provided exceeds maximum allowed size of 100000 characters (line 2, column 3)',
    );
    expect(ms).toBeLessThan(FAST_MS);
  });
});

describe('caveat expressions in a schema', () => {
  it.each([
    ['a chain of 5,000 `+`', `x${' + x'.repeat(5000)} > 0`, 'x int', 1023],
    ['5,000 nested parentheses', `${'('.repeat(5000)}x${')'.repeat(5000)} > 0`, 'x int', 271],
    ['5,000 nested lists', `${'['.repeat(5000)}x${']'.repeat(5000)} == []`, 'x int', 271],
    ['a chain of 20,000 field selections', `x${'.b'.repeat(20_000)} == 1`, 'x any', 522],
    ['a chain of 3,000 conditionals', `${'x ? x : '.repeat(3000)}x`, 'x bool', 2024],
  ])('refuses %s at the token past the limit', (_what, expression, param, column) => {
    const { error, ms } = refusal(`caveat cav(${param}) { ${expression} }`);
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toBe(
      `invalid expression for caveat \`cav\`: max recursion depth exceeded: the expression nests deeper than 251 levels (line 1, column ${column})`,
    );
    expect(ms).toBeLessThan(FAST_MS);
  });
});
