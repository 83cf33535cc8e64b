/**
 * Hostile caveats and contexts are stopped in bounded time: comprehension iterations, concatenation,
 * comparisons and regular expressions are charged against a cost budget, built values have a maximum
 * size, and contexts a maximum weight and only finite numbers. Real caveats stay far below the limits.
 */
import { describe, expect, it } from 'vitest';
import {
  compileCaveat,
  DEFAULT_COST_LIMIT,
  evaluateCaveat,
  MAX_CONTEXT_WEIGHT,
  validateRelationshipContext,
  type CaveatResult,
} from '../../src/caveats/index.js';
import { PembaError } from '../../src/errors/index.js';
import type { CaveatParameterType } from '../../src/schema/ir.js';

function params(spec: string): Map<string, CaveatParameterType> {
  const type = (t: string): CaveatParameterType => {
    const g = /^(\w+)<(.*)>$/.exec(t);
    if (!g) return { kind: t } as CaveatParameterType;
    return g[1] === 'list' ? { kind: 'list', element: type(g[2]) } : { kind: 'map', value: type(g[2]) };
  };
  return new Map(
    spec.split(/,\s*(?![^<]*>)/).map((p) => {
      const [name, t] = p.trim().split(/\s+/);
      return [name, type(t)] as const;
    }),
  );
}

const run = (spec: string, expression: string, context: Record<string, unknown>, costLimit?: number): CaveatResult =>
  evaluateCaveat(compileCaveat({ name: 'cav', parameters: params(spec), expression }), context, { costLimit });

/** The error evaluation throws, and how long it took to give up. */
function stopped(
  spec: string,
  expression: string,
  context: Record<string, unknown>,
): { error: PembaError; ms: number } {
  const started = performance.now();
  try {
    const r = run(spec, expression, context);
    throw new Error(`expected evaluation to stop, got ${JSON.stringify(r)}`);
  } catch (e) {
    if (!(e instanceof PembaError)) throw e;
    return { error: e, ms: performance.now() - started };
  }
}

/** A list as large as a relationship's 25000-byte context can hold. */
const LIST = Array.from({ length: 2500 }, (_, i) => i);
const TEXT = 'ab'.repeat(12_500);
/** Generous: the budget stops these in tens of milliseconds on an idle machine; CI machines are not idle. */
const BOUND_MS = 3000;

describe('the cost budget', () => {
  it.each([
    ['nested comprehensions', 'l list<int>', 'l.all(x, l.all(y, l.all(z, x + y + z >= 0)))', { l: LIST }],
    ['nested map macros', 'l list<int>', 'l.map(x, l.map(y, l.map(z, x))).size() > 0', { l: LIST }],
    [
      'repeated string concatenation',
      's string',
      '[1,2,3,4,5,6,7,8].all(i, [1,2,3,4,5,6,7,8].all(j, [1,2,3,4,5,6,7,8].all(k, [1,2,3,4,5,6,7,8].all(m, (s + s + s + s + s + s + s + s).size() > 0))))',
      { s: TEXT },
    ],
    [
      'a regular expression over a long text',
      's string, p string',
      's.matches(p)',
      { s: 'a'.repeat(25_000), p: `(x+x+)+y|${'a'.repeat(4000)}` },
    ],
    ['regular expressions in a loop', 'l list<int>, s string', "l.all(x, !s.matches('(a|b)*c'))", { l: LIST, s: TEXT }],
    ['deep equality of large nested lists', 'l list<int>', 'l.map(x, l) == l.map(y, l)', { l: LIST }],
    ['list equality in a loop', 'l list<int>, m list<int>', 'l.all(x, l == m)', { l: LIST, m: LIST }],
    ['list search in a loop', 'l list<int>, m list<int>', 'l.all(x, (x + 5000) in m == false)', { l: LIST, m: LIST }],
    ['string building in a loop', 'l list<int>, s string', 'l.all(x, s + s != s)', { l: LIST, s: TEXT }],
    [
      'nested comprehensions under partial evaluation',
      'l list<int>, b int',
      'l.all(x, l.all(y, l.all(z, x + y + z >= b)))',
      { l: LIST },
    ],
  ])('stops %s', (_what, spec, expression, context) => {
    const { error, ms } = stopped(spec, expression, context);
    expect(error.code).toBe('RESOURCE_EXHAUSTED');
    expect(error.message).toBe(`evaluation error for caveat cav: cost limit of ${DEFAULT_COST_LIMIT} exceeded`);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('fails even when `||` would have absorbed the exhausted branch', () => {
    const { error } = stopped('l list<int>', 'l.all(x, l.all(y, l.all(z, x + y + z >= 0))) || true', { l: LIST });
    expect(error.code).toBe('RESOURCE_EXHAUSTED');
  });

  it('is configurable per evaluation', () => {
    expect(run('l list<int>', 'l.all(x, x >= 0)', { l: LIST }, 1_000_000)).toEqual({ kind: 'true' });
    expect(() => run('l list<int>', 'l.all(x, x >= 0)', { l: LIST }, 1000)).toThrow('cost limit of 1000 exceeded');
  });

  it('leaves room for real caveats over the largest contexts', () => {
    const started = performance.now();
    expect(run('l list<int>', 'l.all(x, x >= 0) && l.exists(x, x == 2499)', { l: LIST })).toEqual({ kind: 'true' });
    expect(run('l list<int>', 'l.map(x, x * 2).filter(y, y % 3 == 0).size() == 834', { l: LIST })).toEqual({
      kind: 'true',
    });
    expect(run('l list<string>, s string', 'l.exists(x, s.startsWith(x))', { l: LIST.map(String), s: TEXT })).toEqual({
      kind: 'false',
    });
    expect(
      run('l list<int>, m list<int>', 'l.exists(x, m.exists(y, x == y + 40))', {
        l: LIST.slice(0, 50),
        m: LIST.slice(0, 50),
      }),
    ).toEqual({ kind: 'true' });
    expect(run('s string', "s.matches('^(ab)+$') && size(s) == 25000", { s: TEXT })).toEqual({ kind: 'true' });
    expect(performance.now() - started).toBeLessThan(BOUND_MS);
  });
});

describe('value and context sizes', () => {
  it('refuses to build a string, bytes or list over a million elements', () => {
    const sum = Array.from({ length: 50 }, () => 's').join(' + ');
    const { error } = stopped('s string', `(${sum}).size() > 0`, { s: TEXT });
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('evaluation error for caveat cav: caveat value exceeds the maximum size of 1000000');
  });

  it('refuses a context too large to be a real one, before evaluating', () => {
    const started = performance.now();
    expect(() => run('l list<int>', 'l.size() > 0', { l: new Array(MAX_CONTEXT_WEIGHT).fill(1) })).toThrow(
      'context for caveat `cav` is too large',
    );
    expect(() => run('l any', 'l.size() > 0', { l: new Array(MAX_CONTEXT_WEIGHT).fill([1]) })).toThrow('too large');
    expect(performance.now() - started).toBeLessThan(BOUND_MS);
  });

  it('accepts the largest contexts SpiceDB stores', () => {
    expect(run('l list<int>', 'l.size() == 2500', { l: LIST })).toEqual({ kind: 'true' });
    expect(run('s string', 'size(s) == 25000', { s: TEXT })).toEqual({ kind: 'true' });
  });
});

describe('numbers in a context', () => {
  const NON_FINITE = [NaN, Infinity, -Infinity];

  it.each([
    ['d double', 'd > 0.0', (n: number) => ({ d: n }), 'for double: a finite number is required'],
    ['a any', 'a == a', (n: number) => ({ a: n }), 'for any: a finite number is required'],
    [
      'l list<double>',
      'l.size() > 0',
      (n: number) => ({ l: [1, n] }),
      'found an invalid value for item at index 1: for double: a finite number is required',
    ],
    ['m map<any>', 'm.size() > 0', (n: number) => ({ m: { k: [n] } }), 'for any: a finite number is required'],
    ['i int', 'i > 0', (n: number) => ({ i: n }), 'for int: a int value is required, but found numeric value'],
  ])('refuses NaN and ±Infinity for %s, naming the parameter', (spec, expression, context, message) => {
    const name = spec.split(' ')[0];
    for (const n of NON_FINITE) {
      const { error } = stopped(spec, expression, context(n));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(`could not convert context parameter \`${name}\`: `);
      expect(error.message).toContain(message);
      expect(error.message).toContain(String(n));
    }
  });

  it('refuses them in a context to be stored, which is kept as JSON (where NaN would turn into null)', () => {
    const cav = compileCaveat({ name: 'cav', parameters: params('d double, a any'), expression: 'd > 0.0 && a == a' });
    for (const n of NON_FINITE) {
      expect(() => validateRelationshipContext(cav, { d: n })).toThrow(
        `could not convert context parameter \`d\`: for double: a finite number is required, but found \`${n}\``,
      );
      expect(() => validateRelationshipContext(cav, { a: { x: n } })).toThrow(
        'could not convert context parameter `a`',
      );
    }
    expect(() => validateRelationshipContext(cav, { d: 1.5, a: { x: 1e308 } })).not.toThrow();
  });

  it('still reads the strings `inf` and `-inf` as infinities for a double, as SpiceDB does', () => {
    expect(run('d double', 'd > 1e308', { d: 'inf' })).toEqual({ kind: 'true' });
    expect(run('d double', 'd < -1e308', { d: '-inf' })).toEqual({ kind: 'true' });
  });
});
