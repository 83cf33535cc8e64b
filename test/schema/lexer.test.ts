import { describe, expect, it } from 'vitest';
import { SchemaError } from '../../src/errors/index.js';
import { Lexer, type Token } from '../../src/schema/lexer.js';

function lex(text: string, flags: string[] = []): Token[] {
  const lexer = new Lexer(text);
  flags.forEach((f) => lexer.enableFlag(f));
  const out: Token[] = [];
  for (;;) {
    const t = lexer.next();
    out.push(t);
    if (t.kind === 'eof') return out;
  }
}

const kinds = (text: string, flags?: string[]) =>
  lex(text, flags).map((t) => (t.kind === 'ident' || t.kind === 'keyword' ? `${t.kind}:${t.value}` : t.kind));

describe('lexer', () => {
  it('gives 1-based line and column for every token', () => {
    const tokens = lex('definition user {}\n  definition doc {\n}');
    expect(tokens.map((t) => [t.value, t.line, t.column])).toEqual([
      ['definition', 1, 1],
      ['user', 1, 12],
      ['{', 1, 17],
      ['}', 1, 18],
      ['\n', 1, 19],
      ['definition', 2, 3],
      ['doc', 2, 14],
      ['{', 2, 18],
      ['}', 3, 1],
      ['', 3, 2],
    ]);
  });

  it('ends a statement at a newline after an identifier, keyword, `}`, `)` or `*` only', () => {
    expect(kinds('a\nb')).toEqual(['ident:a', 'newline', 'ident:b', 'eof']);
    expect(kinds('nil\n')).toEqual(['keyword:nil', 'newline', 'eof']);
    expect(kinds(')\n}\n*\n')).toEqual(['rparen', 'newline', 'rbrace', 'newline', 'star', 'newline', 'eof']);
    // After an operator, `{`, `:`, `=`, `|`, `->` or `...` a newline is just whitespace.
    expect(kinds('a +\nb')).toEqual(['ident:a', 'plus', 'ident:b', 'eof']);
    expect(kinds('{\n:\n=\n|\n->\n...\n-\n&\n')).toEqual([
      'lbrace',
      'colon',
      'equals',
      'pipe',
      'arrow',
      'ellipsis',
      'minus',
      'amp',
      'eof',
    ]);
    // Only one statement end per run of blank lines.
    expect(kinds('a\n\n\nb')).toEqual(['ident:a', 'newline', 'ident:b', 'eof']);
  });

  it('treats CRLF as one line break', () => {
    const tokens = lex('a\r\n\r\nb');
    expect(tokens.map((t) => [t.kind, t.line, t.column])).toEqual([
      ['ident', 1, 1],
      ['newline', 1, 2],
      ['ident', 3, 1],
      ['eof', 3, 2],
    ]);
  });

  it('lexes the operators, including two-character ones', () => {
    expect(kinds('a->b.any(c) + d & e - f | g#h:* / ; , < >')).toEqual([
      'ident:a',
      'arrow',
      'ident:b',
      'period',
      'ident:any',
      'lparen',
      'ident:c',
      'rparen',
      'plus',
      'ident:d',
      'amp',
      'ident:e',
      'minus',
      'ident:f',
      'pipe',
      'ident:g',
      'hash',
      'ident:h',
      'colon',
      'star',
      'div',
      'semicolon',
      'comma',
      'lt',
      'gt',
      'eof',
    ]);
  });

  it('knows the base keywords and adds flag keywords only when enabled', () => {
    expect(kinds('definition caveat relation permission nil with')).toEqual([
      'keyword:definition',
      'keyword:caveat',
      'keyword:relation',
      'keyword:permission',
      'keyword:nil',
      'keyword:with',
      'eof',
    ]);
    expect(kinds('expiration and self any all use')).toEqual([
      'ident:expiration',
      'ident:and',
      'ident:self',
      'ident:any',
      'ident:all',
      'ident:use',
      'eof',
    ]);
    expect(kinds('expiration and', ['expiration'])).toEqual(['keyword:expiration', 'keyword:and', 'eof']);
    expect(kinds('self partial', ['self', 'partial'])).toEqual(['keyword:self', 'keyword:partial', 'eof']);
  });

  it('lexes identifiers with digits, underscores and unicode letters as one word', () => {
    expect(kinds('1user us_er usér')).toEqual(['ident:1user', 'ident:us_er', 'ident:usér', 'eof']);
  });

  it('attaches comments to the next token, noting which start their line', () => {
    const tokens = lex('a // trailing\n/** doc */\n// more\nb');
    expect(tokens[1].kind).toBe('newline');
    expect(tokens[1].comments.map((c) => [c.text, c.startsLine])).toEqual([['// trailing', false]]);
    expect(tokens[2].comments.map((c) => [c.text, c.line, c.endLine, c.startsLine])).toEqual([
      ['/** doc */', 2, 2, true],
      ['// more', 3, 3, true],
    ]);
  });

  it('does not end a statement inside a multi-line block comment', () => {
    expect(kinds('a /*\n*/ b')).toEqual(['ident:a', 'ident:b', 'eof']);
  });

  it('rejects an unterminated block comment at its start', () => {
    expect(() => lex('a\n  /* open')).toThrow(SchemaError);
    try {
      lex('a\n  /* open');
    } catch (e) {
      expect(e).toMatchObject({ line: 2, column: 3 });
      expect((e as Error).message).toContain('Unterminated multiline comment');
    }
  });

  it('rejects unknown characters, naming them', () => {
    try {
      lex('definition user {} $');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ line: 1, column: 20, source: '$' });
      expect((e as Error).message).toContain('unrecognized character at this location: `$`');
    }
  });

  it('lexes strings whole (CEL punctuation is tokenised so the parser can reject it)', () => {
    expect(kinds(`"a}b" 'c' == !x`)).toEqual(['string', 'string', 'other', 'other', 'ident:x', 'eof']);
    expect(() => lex('"open')).toThrow('Unterminated string');
  });

  describe('rawBody (caveat expressions)', () => {
    const body = (text: string) => {
      const lexer = new Lexer(text);
      const { text: inner, closeOffset } = lexer.rawBody(text.indexOf('{') + 1);
      const next = lexer.next();
      return { inner, closeOffset, next: next.kind };
    };

    it('stops at the matching brace, past nested braces', () => {
      expect(body('{ {"a": {"b": 1}} == m } rest')).toEqual({
        inner: ' {"a": {"b": 1}} == m ',
        closeOffset: 23,
        next: 'rbrace',
      });
    });

    it('ignores braces in strings of every quoting style and in comments', () => {
      const text = `{ a == "}" || b == '{' || c == """}}""" || d == r'\\}' // }\n}`;
      expect(body(text).inner).toBe(text.slice(1, -1));
    });

    it('honours backslash escapes in strings', () => {
      expect(body(`{ a == "\\"}" }`).inner).toBe(` a == "\\"}" `);
    });

    it('fails on a missing closing brace', () => {
      expect(() => body('{ a == 1')).toThrow('Unterminated caveat expression');
    });
  });
});
