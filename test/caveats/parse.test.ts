/**
 * Caveat text is vetted before @bufbuild/cel parses it: over 100,000 bytes, brackets nested past
 * the recursion limit and chains of operators that build too deep a tree are refused at once, at the
 * offending token, while the scan never refuses what the depth check after parsing would accept.
 */
import { describe, expect, it } from 'vitest';
import { ExpressionError, MAX_EXPRESSION_DEPTH, parseExpression } from '../../src/caveats/parse.js';

const FAST_MS = 1000;
const TOO_DEEP = `max recursion depth exceeded: the expression nests deeper than ${MAX_EXPRESSION_DEPTH} levels`;

/** The error parsing `text` throws, and how long it took. */
function refusal(text: string): { error: ExpressionError; ms: number } {
  const started = performance.now();
  try {
    parseExpression(text);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    return { error: e, ms: performance.now() - started };
  }
  throw new Error('expected the expression to be refused');
}

describe('before parsing', () => {
  it('refuses text over 100,000 bytes, however it is made', () => {
    for (const text of [`x == "${'a'.repeat(3_000_000)}"`, `x == "${'é'.repeat(50_001)}"`, `${'('.repeat(200_000)}`]) {
      const { error, ms } = refusal(text);
      expect(error.message).toBe('caveat expression provided exceeds maximum allowed size of 100000 characters');
      expect(error.line).toBeUndefined();
      expect(ms).toBeLessThan(FAST_MS);
    }
  });

  it.each([
    ['parentheses', (n: number) => `${'('.repeat(n)}x${')'.repeat(n)}`, 251],
    ['lists', (n: number) => `${'['.repeat(n)}x${']'.repeat(n)}`, 251],
    ['maps', (n: number) => `${'{1: '.repeat(n)}x${'}'.repeat(n)}`, 1001],
    ['calls', (n: number) => `${'f('.repeat(n)}x${')'.repeat(n)}`, 502],
    ['unclosed brackets', (n: number) => '('.repeat(n), 251],
  ])('refuses %s nested past 250 at the bracket that crosses it', (_what, make, column) => {
    expect(() => parseExpression(make(250))).not.toThrow(TOO_DEEP);
    const { error, ms } = refusal(make(5000));
    expect(error.message).toBe(TOO_DEEP);
    expect([error.line, error.column]).toEqual([1, column]);
    expect(ms).toBeLessThan(FAST_MS);
  });

  it.each([
    ['`+`', (n: number) => `x${' + x'.repeat(n)}`, 1003],
    ['`-` and `+`', (n: number) => `x${' - x + x'.repeat(n / 2)}`, 1003],
    ['`*`', (n: number) => `x${' * x'.repeat(n)}`, 1003],
    ['comparisons', (n: number) => `x${' == x'.repeat(n)}`, 1253],
    ['`in`', (n: number) => `x${' in x'.repeat(n)}`, 1253],
    ['conditionals', (n: number) => `${'x ? x : '.repeat(n)}x`, 2003],
    ['field selections', (n: number) => `x${'.b'.repeat(n)}`, 502],
    ['method calls', (n: number) => `x${'.f()'.repeat(n)}`, 1002],
    ['indexes', (n: number) => `x${'[0]'.repeat(n)}`, 752],
  ])('refuses a chain of 5,000 %s at the operator that crosses the limit', (_what, make, column) => {
    const { error, ms } = refusal(make(5000));
    expect(error.message).toBe(TOO_DEEP);
    expect([error.line, error.column]).toEqual([1, column]);
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('counts columns in code points and lines from 1', () => {
    const { error } = refusal(`'é' == 'é' &&\n  ${'('.repeat(300)}x${')'.repeat(300)}`);
    expect([error.line, error.column]).toEqual([2, 253]);
  });
});

describe('what the scan lets through', () => {
  it.each([
    ['long `&&` and `||` chains, which the parser balances', `x${' && x || x'.repeat(4000)}`],
    ['chains split by commas', `[${Array.from({ length: 400 }, () => 'x + x').join(', ')}]`],
    ['chains restarted inside brackets', `${Array.from({ length: 300 }, () => '(x + x)').join(' && ')}`],
    ['brackets and operators inside strings', `x == "${'(['.repeat(5000)} + - * ? :" && x == '${')'.repeat(5000)}'`],
    [
      'triple-quoted and raw strings',
      `x == """a " ' ${'('.repeat(3000)}""" && x == r'\\' && x == '''${'['.repeat(3000)}'''`,
    ],
    ['brackets in comments', `x == 1 // ${'('.repeat(5000)}\n&& x == 2`],
    ['negations, which collapse', `${'-'.repeat(5000)}x == ${'!'.repeat(5000)}x`],
    ['numbers with dots and exponents', `x${' + 1.5e-3'.repeat(249)} > 0.5`],
  ])('%s', (_what, text) => {
    expect(() => parseExpression(text)).not.toThrow();
  });

  it('leaves the exact depth to the check after parsing (249 chained `+` under a comparison pass, 250 do not)', () => {
    expect(() => parseExpression(`x${' + x'.repeat(249)} > 0`)).not.toThrow();
    const { error } = refusal(`x${' + x'.repeat(250)} > 0`);
    expect(error.message).toBe(TOO_DEEP);
    expect(error.line).toBeUndefined();
  });

  it("turns the parser's own stack overflow into a refusal", () => {
    // A 99 kB literal takes most of a default stack to parse, so with a tenth of the stack left it overflows.
    const { error, ms } = withLittleStack(() => refusal(`x == "${'a'.repeat(99_000)}"`));
    expect(error.message).toBe(
      'max recursion depth exceeded: the expression is too large or too deeply nested to parse',
    );
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('reports syntax errors where the parser found them', () => {
    const { error } = refusal('x == 1 &&\n  x == /* c */ 1');
    expect(error.message).toMatch(/^Syntax error: /);
    expect(error.line).toBe(2);
  });
});

/** Runs `f` with about a tenth of the stack left, whatever the stack's size. */
function withLittleStack<T>(f: () => T): T {
  let deepest = 0;
  const probe = (n: number): number => (deepest = n) + probe(n + 1);
  try {
    probe(0);
  } catch {
    // The stack's end.
  }
  const descend = (n: number): T => (n === 0 ? f() : descend(n - 1));
  return descend(Math.floor(deepest * 0.9));
}
