/**
 * Tokenizer for SpiceDB's schema language. Pull-based so the parser can switch keyword sets when it
 * reads a `use` flag and can take a caveat body as raw text.
 *
 * Statement ends follow SpiceDB: a newline right after an identifier, keyword, `}`, `)` or `*` is a
 * (synthetic) semicolon; any other newline is whitespace, so an expression continues after `+ -
 * & | ->` at the end of a line, but not before an operator at the start of the next.
 */
import { SchemaError } from '../errors/index.js';

export type TokenKind =
  | 'ident'
  | 'keyword'
  | 'string'
  | 'lbrace'
  | 'rbrace'
  | 'lparen'
  | 'rparen'
  | 'pipe'
  | 'plus'
  | 'minus'
  | 'amp'
  | 'div'
  | 'equals'
  | 'colon'
  | 'semicolon'
  /** A newline that ends a statement. */
  | 'newline'
  | 'arrow'
  | 'hash'
  | 'ellipsis'
  | 'star'
  | 'period'
  | 'comma'
  | 'lt'
  | 'gt'
  /** CEL punctuation that is never valid outside a caveat body (`!`, `[`, `==`, …). */
  | 'other'
  | 'eof';

export interface Comment {
  text: string;
  line: number;
  column: number;
  endLine: number;
  /** Only whitespace and comments precede it on its line. */
  startsLine: boolean;
}

export interface Token {
  kind: TokenKind;
  value: string;
  line: number;
  column: number;
  offset: number;
  /** Comments between the previous token and this one. */
  comments: Comment[];
}

const BASE_KEYWORDS = ['definition', 'caveat', 'relation', 'permission', 'nil', 'with'];

/** Words a `use` flag turns into keywords (SpiceDB's flaggable lexer). */
export const FLAG_KEYWORDS: Record<string, string[]> = {
  expiration: ['expiration', 'and'],
  import: ['import'],
  partial: ['partial'],
  self: ['self'],
  typechecking: ['typechecking'],
};

const STATEMENT_ENDERS = new Set<TokenKind>(['ident', 'keyword', 'rbrace', 'rparen', 'star']);

const SINGLE: Record<string, TokenKind> = {
  '{': 'lbrace',
  '}': 'rbrace',
  '(': 'lparen',
  ')': 'rparen',
  '+': 'plus',
  '#': 'hash',
  '*': 'star',
  ':': 'colon',
  ';': 'semicolon',
  ',': 'comma',
  '?': 'other',
  '[': 'other',
  ']': 'other',
  '%': 'other',
};

const isWordChar = (c: string) => /[\p{L}\p{Nd}_]/u.test(c);

export class Lexer {
  private pos = 0;
  private line: number;
  private column = 1;
  private lastKind: TokenKind = 'newline';
  /** A token (not a comment) has been read on the current line. */
  private lineHasCode = false;
  private readonly keywords = new Set(BASE_KEYWORDS);

  /** `firstLine` numbers the first line (1 by default; composition gives each file its own range). */
  constructor(
    readonly input: string,
    private readonly firstLine = 1,
  ) {
    this.line = firstLine;
  }

  enableFlag(flag: string): void {
    for (const k of FLAG_KEYWORDS[flag] ?? []) this.keywords.add(k);
  }

  isKeyword(word: string): boolean {
    return this.keywords.has(word);
  }

  next(): Token {
    const comments: Comment[] = [];
    for (;;) {
      const c = this.input[this.pos];
      if (c === undefined) return this.make('eof', '', this.here(), comments);
      if (c === ' ' || c === '\t') {
        this.advance(1);
        continue;
      }
      if (c === '\n' || c === '\r') {
        const at = this.here();
        this.advance(c === '\r' && this.input[this.pos + 1] === '\n' ? 2 : 1);
        if (STATEMENT_ENDERS.has(this.lastKind)) return this.make('newline', '\n', at, comments);
        continue;
      }
      if (c === '/' && (this.input[this.pos + 1] === '/' || this.input[this.pos + 1] === '*')) {
        comments.push(this.comment());
        continue;
      }
      return this.token(comments);
    }
  }

  /**
   * The text of a caveat body, from just after its `{` to the matching `}` (strings and comments
   * may contain braces). Leaves the lexer on that `}`.
   */
  rawBody(start: number): { text: string; closeOffset: number } {
    this.seek(start);
    let depth = 1;
    while (this.pos < this.input.length) {
      const c = this.input[this.pos];
      if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        const text = this.input.slice(start, this.pos);
        return { text, closeOffset: this.pos };
      } else if (c === '"' || c === "'") {
        this.skipString();
        continue;
      } else if (c === '/' && (this.input[this.pos + 1] === '/' || this.input[this.pos + 1] === '*')) {
        this.comment();
        continue;
      }
      this.advance(1);
    }
    throw new SchemaError('Unterminated caveat expression: missing `}`', this.line, this.column, '{');
  }

  /** Moves to an earlier-scanned offset (line/column recomputed). */
  seek(offset: number): void {
    if (offset < this.pos) {
      this.pos = 0;
      this.line = this.firstLine;
      this.column = 1;
    }
    while (this.pos < offset) this.advance(1);
    this.lastKind = 'lbrace';
  }

  private here() {
    return { line: this.line, column: this.column, offset: this.pos };
  }

  private make(
    kind: TokenKind,
    value: string,
    at: { line: number; column: number; offset: number },
    comments: Comment[],
  ): Token {
    this.lastKind = kind;
    if (kind !== 'newline') this.lineHasCode = true;
    return { kind, value, ...at, comments };
  }

  private advance(n: number): void {
    for (let i = 0; i < n && this.pos < this.input.length; i++) {
      const c = this.input[this.pos++];
      if (c === '\n' || (c === '\r' && this.input[this.pos] !== '\n')) {
        this.lineHasCode = false;
        this.line++;
        this.column = 1;
      } else if (c !== '\r') this.column++;
    }
  }

  private comment(): Comment {
    const at = this.here();
    const startsLine = !this.lineHasCode;
    const start = this.pos;
    if (this.input[this.pos + 1] === '/') {
      while (this.pos < this.input.length && this.input[this.pos] !== '\n' && this.input[this.pos] !== '\r')
        this.advance(1);
    } else {
      const end = this.input.indexOf('*/', this.pos + 2);
      if (end < 0) throw new SchemaError('Unterminated multiline comment', at.line, at.column, '/*');
      this.advance(end + 2 - this.pos);
    }
    return {
      text: this.input.slice(start, this.pos),
      line: at.line,
      column: at.column,
      endLine: this.line,
      startsLine,
    };
  }

  /** Skips a CEL string literal (quotes, triple quotes, backslash escapes). */
  private skipString(): void {
    const at = this.here();
    const q = this.input[this.pos];
    const triple = this.input.startsWith(q.repeat(3), this.pos);
    const close = triple ? q.repeat(3) : q;
    let wordStart = this.pos;
    while (wordStart > 0 && isWordChar(this.input[wordStart - 1])) wordStart--;
    const raw = /^([bB]?[rR]|[rR][bB])$/.test(this.input.slice(wordStart, this.pos));
    this.advance(close.length);
    while (this.pos < this.input.length) {
      const c = this.input[this.pos];
      if (c === '\\' && !raw) {
        this.advance(2);
        continue;
      }
      if (this.input.startsWith(close, this.pos)) {
        this.advance(close.length);
        return;
      }
      if (!triple && (c === '\n' || c === '\r')) break;
      this.advance(1);
    }
    throw new SchemaError('Unterminated string', at.line, at.column, q);
  }

  private token(comments: Comment[]): Token {
    const at = this.here();
    const c = this.input[this.pos];
    const two = this.input.slice(this.pos, this.pos + 2);
    const emit = (kind: TokenKind, len: number) => {
      const value = this.input.slice(this.pos, this.pos + len);
      this.advance(len);
      return this.make(kind, value, at, comments);
    };
    if (isWordChar(c)) {
      let end = this.pos;
      while (end < this.input.length && isWordChar(this.input[end])) end++;
      const word = this.input.slice(this.pos, end);
      return emit(this.keywords.has(word) ? 'keyword' : 'ident', word.length);
    }
    if (two === '->') return emit('arrow', 2);
    if (this.input.startsWith('...', this.pos)) return emit('ellipsis', 3);
    if (['||', '&&', '==', '!=', '<=', '>='].includes(two)) return emit('other', 2);
    if (c === '|') return emit('pipe', 1);
    if (c === '&') return emit('amp', 1);
    if (c === '-') return emit('minus', 1);
    if (c === '=') return emit('equals', 1);
    if (c === '/') return emit('div', 1);
    if (c === '.') return emit('period', 1);
    if (c === '<') return emit('lt', 1);
    if (c === '>') return emit('gt', 1);
    if (c === '!') return emit('other', 1);
    if (c === '"' || c === "'") {
      this.skipString();
      return this.make('string', this.input.slice(at.offset, this.pos), at, comments);
    }
    const kind = SINGLE[c];
    if (kind) return emit(kind, 1);
    const cp = String.fromCodePoint(this.input.codePointAt(this.pos)!);
    throw new SchemaError(`unrecognized character at this location: \`${cp}\``, at.line, at.column, cp);
  }
}

/** How a token reads in an error message. */
export function describeToken(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of input';
    case 'newline':
      return 'end of line';
    case 'ident':
      return `identifier \`${t.value}\``;
    case 'keyword':
      return `keyword \`${t.value}\``;
    default:
      return `\`${t.value}\``;
  }
}
