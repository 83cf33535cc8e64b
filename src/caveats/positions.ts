/**
 * Where in the schema text a caveat expression's node sits. @bufbuild/cel records character offsets
 * that differ from cel-go's for some nodes (binary operators, calls), so those are moved to where cel-go
 * (and thus SpiceDB) reports them: the operator token, or a call's opening parenthesis.
 */
import type { SourcePosition } from '../schema/ir.js';
import { children, type CelExpr, type CelSourceInfo } from './ast.js';

const BINARY = new Set([
  '_==_',
  '_!=_',
  '_<_',
  '_<=_',
  '_>_',
  '_>=_',
  '_+_',
  '_-_',
  '_*_',
  '_/_',
  '_%_',
  '@in',
  '_&&_',
  '_||_',
]);

export class ExpressionPositions {
  /** The expression as code points, since CEL columns count code points. */
  private readonly chars: string[];

  constructor(
    text: string,
    private readonly info: CelSourceInfo | undefined,
    /** Where the expression starts in the schema; absent when compiled on its own. */
    private readonly start: SourcePosition = { line: 1, column: 1 },
  ) {
    this.chars = [...text];
  }

  /** Schema position of the node `id` within `root`. */
  of(root: CelExpr, id: bigint): SourcePosition {
    const node = find(root, id);
    return this.at(node ? this.celOffset(node) : this.offset(id));
  }

  /** Schema position of a character offset into the expression. */
  at(offset: number): SourcePosition {
    let line = 0;
    let lineStart = 0;
    for (let i = 0; i < offset && i < this.chars.length; i++) {
      if (this.chars[i] === '\n') {
        line++;
        lineStart = i + 1;
      }
    }
    const column = offset - lineStart;
    return line === 0
      ? { line: this.start.line, column: this.start.column + column }
      : { line: this.start.line + line, column: column + 1 };
  }

  /** Schema position of a 1-based line and column within the expression (a parser's error location). */
  atLineColumn(line: number, column: number): SourcePosition {
    return line <= 1
      ? { line: this.start.line, column: this.start.column + column - 1 }
      : { line: this.start.line + line - 1, column };
  }

  private offset(id: bigint): number {
    return this.info?.positions[id.toString()] ?? 0;
  }

  private celOffset(e: CelExpr): number {
    const at = this.offset(e.id);
    const k = e.exprKind;
    if (k.case === 'callExpr') {
      const fn = k.value.function;
      if (BINARY.has(fn) && k.value.args.length === 2) {
        return this.operatorAfter(this.lastOffset(k.value.args[0]));
      }
      if (fn === '_?_:_') return this.find('?', this.lastOffset(k.value.args[0]));
      if (!fn.startsWith('_') && !fn.startsWith('!') && !fn.startsWith('-') && !fn.startsWith('@')) {
        return this.find('(', at);
      }
    }
    if (k.case === 'selectExpr' && k.value.testOnly) return this.find('(', at);
    return at;
  }

  /** The largest recorded offset in a subtree: a point inside its last token. */
  private lastOffset(e: CelExpr): number {
    let max = this.offset(e.id);
    for (const c of children(e)) max = Math.max(max, this.lastOffset(c));
    return max;
  }

  /** The first token after the operand token that starts at `lastToken`, past closing brackets. */
  private operatorAfter(lastToken: number): number {
    const n = this.chars.length;
    let i = lastToken;
    const c = this.chars[i];
    if (c === '"' || c === "'") i = this.closingQuote(c, i + 1) + 1;
    else if (/[\w.]/.test(c ?? '')) while (i < n && /[\w.]/.test(this.chars[i])) i++;
    else i++;
    while (i < n && /[\s)\]}]/.test(this.chars[i])) i++;
    return Math.min(i, n);
  }

  private closingQuote(quote: string, from: number): number {
    for (let i = from; i < this.chars.length; i++) {
      if (this.chars[i] === '\\') i++;
      else if (this.chars[i] === quote) return i;
    }
    return this.chars.length;
  }

  private find(ch: string, from: number): number {
    let quote: string | undefined;
    for (let i = from; i < this.chars.length; i++) {
      const c = this.chars[i];
      if (quote) {
        if (c === '\\') i++;
        else if (c === quote) quote = undefined;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === ch) return i;
    }
    return from;
  }
}

function find(root: CelExpr, id: bigint): CelExpr | undefined {
  const stack = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    if (e.id === id) return e;
    stack.push(...children(e));
  }
  return undefined;
}
