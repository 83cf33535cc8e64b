/**
 * Parsing a caveat's CEL text with @bufbuild/cel. Its parser recurses once per level of nesting (a
 * few hundred parentheses, a long `.f()` chain or a string literal of a few hundred kilobytes
 * exhaust the stack) and reads text of any size, so the text is vetted first, in one linear scan,
 * against the limits cel-go applies (and so SpiceDB): its size, and how deep it nests.
 */
import { parse } from '@bufbuild/cel';
import { depthOf } from './ast.js';
import { utf8Length } from '../runtime/bytes.js';

/**
 * SpiceDB's limit on a caveat expression, in bytes of its trimmed text (cel-go's own limit is the
 * same number of code points, so bytes decide).
 */
export const MAX_EXPRESSION_SIZE = 100_000;

/**
 * Deepest expression tree accepted. cel-go stops at a recursion depth of 250 (a chain of 249 `+`
 * under a comparison passes in SpiceDB, 250 does not); deeper trees would also exhaust the stack of
 * recursive passes. Brackets may nest 250 deep (cel-go counts parentheses too).
 */
export const MAX_EXPRESSION_DEPTH = 251;

export type ParsedExpression = ReturnType<typeof parse>;

/** Why an expression was refused; `line` and `column` (1-based, in code points) are within its text. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }
}

const TOO_DEEP = `max recursion depth exceeded: the expression nests deeper than ${MAX_EXPRESSION_DEPTH} levels`;

/** The parsed expression, or an ExpressionError: over the size limit, nested too deep, or not CEL. */
export function parseExpression(text: string): ParsedExpression {
  if (utf8Length(text.trim()) > MAX_EXPRESSION_SIZE) {
    throw new ExpressionError(
      `caveat expression provided exceeds maximum allowed size of ${MAX_EXPRESSION_SIZE} characters`,
    );
  }
  validateNesting(text);
  let parsed: ParsedExpression;
  try {
    // @bufbuild/cel's parser needs a line break after a `//` comment that ends the input.
    parsed = parse(text.slice(text.lastIndexOf('\n') + 1).includes('//') ? `${text}\n` : text);
  } catch (e) {
    // The scan keeps nesting well inside the stack; this is the last resort (e.g. a huge literal deep in brackets).
    if (e instanceof RangeError)
      throw new ExpressionError(
        'max recursion depth exceeded: the expression is too large or too deeply nested to parse',
      );
    const message = e instanceof Error ? e.message : String(e);
    const m = /^<input>:(\d+):(\d+): ([\s\S]*)$/.exec(message);
    throw m
      ? new ExpressionError(`Syntax error: ${m[3]}`, Number(m[1]), Number(m[2]))
      : new ExpressionError(`Syntax error: ${message}`);
  }
  if (depthOf(parsed.expr) > MAX_EXPRESSION_DEPTH) throw new ExpressionError(TOO_DEEP);
  return parsed;
}

/**
 * Chains at one bracket level. Each builds a left-deep (or, for `?:`, right-deep) tree whose depth
 * is at least the chain's length + 1, so a chain of MAX_EXPRESSION_DEPTH operators is certainly too
 * deep; `&&` and `||` chains are balanced by the parser and do not count.
 */
interface Level {
  conditional: number;
  relation: number;
  additive: number;
  multiplicative: number;
  /** `.f`, `.f()` and `[i]` after an operand. */
  member: number;
}

const level = (): Level => ({ conditional: 0, relation: 0, additive: 0, multiplicative: 0, member: 0 });

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /0[xX][0-9a-fA-F]+[uU]?|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[uU]?|\.\d+(?:[eE][+-]?\d+)?/y;
const STRING_PREFIX = /^(?:[bB]?[rR]|[rR][bB]|[bB])$/;
const RELATIONS = ['==', '!=', '<=', '>='];

/**
 * One pass over the text, skipping string literals and comments, that refuses brackets nested
 * MAX_EXPRESSION_DEPTH deep and operator chains of MAX_EXPRESSION_DEPTH operators, at the token
 * that crosses the limit. Counts are lower bounds on the depth of the parsed tree, so nothing the
 * depth check after parsing would accept is refused here (parentheses aside, as in cel-go).
 */
function validateNesting(text: string): void {
  const levels: Level[] = [level()];
  let current = levels[0];
  /** The previous token ends an operand, so `-` is binary and `.`, `[` are postfix. */
  let operandEnd = false;
  const count = (key: keyof Level, at: number, resets: Array<keyof Level>) => {
    for (const k of resets) current[k] = 0;
    if (++current[key] >= MAX_EXPRESSION_DEPTH) tooDeep(text, at);
    operandEnd = false;
  };
  const LOWER: Array<keyof Level> = ['relation', 'additive', 'multiplicative', 'member'];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
      continue;
    }
    if (c === '"' || c === "'") {
      i = skipString(text, i, false);
      operandEnd = true;
      continue;
    }
    NUMBER.lastIndex = i;
    if (!operandEnd && NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      operandEnd = true;
      continue;
    }
    IDENT.lastIndex = i;
    if (IDENT.test(text)) {
      const word = text.slice(i, IDENT.lastIndex);
      i = IDENT.lastIndex;
      if (word === 'in' && operandEnd) count('relation', i - 2, ['additive', 'multiplicative', 'member']);
      else if ((text[i] === '"' || text[i] === "'") && STRING_PREFIX.test(word)) {
        i = skipString(text, i, /[rR]/.test(word));
        operandEnd = true;
      } else operandEnd = true;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      for (const k of LOWER) current[k] = 0;
      operandEnd = false;
      i += 2;
      continue;
    }
    if (RELATIONS.includes(two)) {
      count('relation', i, ['additive', 'multiplicative', 'member']);
      i += 2;
      continue;
    }
    i++;
    switch (c) {
      case '(':
      case '[':
      case '{':
        if (c === '[' && operandEnd) count('member', i - 1, []);
        if (levels.length >= MAX_EXPRESSION_DEPTH) tooDeep(text, i - 1);
        levels.push((current = level()));
        operandEnd = false;
        break;
      case ')':
      case ']':
      case '}':
        if (levels.length > 1) levels.pop();
        current = levels[levels.length - 1];
        operandEnd = true;
        break;
      case '.':
        if (operandEnd) count('member', i - 1, []);
        operandEnd = false;
        break;
      case '<':
      case '>':
        count('relation', i - 1, ['additive', 'multiplicative', 'member']);
        break;
      case '+':
      case '-':
        // A `-` that starts an operand is a negation, which does not chain.
        if (operandEnd) count('additive', i - 1, ['multiplicative', 'member']);
        operandEnd = false;
        break;
      case '*':
      case '/':
      case '%':
        count('multiplicative', i - 1, ['member']);
        break;
      case '?':
        count('conditional', i - 1, LOWER);
        break;
      case ':':
        for (const k of LOWER) current[k] = 0;
        operandEnd = false;
        break;
      case ',':
        current = levels[levels.length - 1] = level();
        operandEnd = false;
        break;
      default:
        operandEnd = false;
    }
  }
}

/** The offset just past the string literal whose quote is at `i`, or where it breaks off unterminated. */
function skipString(text: string, i: number, raw: boolean): number {
  const q = text[i];
  const close = text.startsWith(q.repeat(3), i) ? q.repeat(3) : q;
  let j = i + close.length;
  while (j < text.length) {
    if (text[j] === '\\' && !raw) j += 2;
    else if (text.startsWith(close, j)) return j + close.length;
    else if (close.length === 1 && (text[j] === '\n' || text[j] === '\r')) return j;
    else j++;
  }
  return text.length;
}

function tooDeep(text: string, offset: number): never {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  const line = before.split('\n').length;
  throw new ExpressionError(TOO_DEEP, line, [...before.slice(lineStart)].length + 1);
}
