/**
 * Recursive-descent parser for SpiceDB's schema language. Syntax only: names are resolved and
 * validated by the compiler. Throws SchemaError at the first error, with SpiceDB's wording where it
 * has one. Operator chains are read in loops; only parentheses and generic types recurse, and both
 * stop at MAX_NESTING_DEPTH, so no text can exhaust the stack.
 */
import { SchemaError } from '../errors/index.js';
import type {
  CaveatNode,
  CaveatParameterNode,
  CaveatTypeNode,
  DefinitionNode,
  ExpressionNode,
  ImportNode,
  MemberNode,
  PartialNode,
  PermissionNode,
  RelationNode,
  SchemaAST,
  TypeRefNode,
  UseFlagNode,
} from './ast.js';
import type { SourcePosition } from './ir.js';
import { type Comment, FLAG_KEYWORDS, Lexer, type Token, type TokenKind, describeToken } from './lexer.js';
import { MAX_NESTING_DEPTH } from './limits.js';

export interface ParseOptions {
  /**
   * Read `import "path"` statements (under `use import`) into `SchemaAST.imports`, for composition
   * (schema/compose.ts). Off by default: like SpiceDB's WriteSchema, the API refuses them.
   */
  imports?: boolean;
  /** The number of the text's first line (default 1): composition numbers each file's lines apart. */
  firstLine?: number;
}

export function parseSchema(text: string, options: ParseOptions = {}): SchemaAST {
  return new Parser(text, options).parseFile();
}

const pos = (t: Token): SourcePosition => ({ line: t.line, column: t.column });

/** Operators from loosest to tightest, as SpiceDB binds them: `a - b & c + d` is `a - (b & (c + d))`. */
const BINARY: Array<{ token: TokenKind; kind: 'exclusion' | 'intersection' | 'union' }> = [
  { token: 'minus', kind: 'exclusion' },
  { token: 'amp', kind: 'intersection' },
  { token: 'plus', kind: 'union' },
];

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  private readonly flags = new Set<string>();
  /** The permission being read and its open parentheses, for the nesting limit. */
  private permission = '';
  private parentheses = 0;

  constructor(
    text: string,
    private readonly options: ParseOptions = {},
  ) {
    this.lexer = new Lexer(text, options.firstLine);
    this.tok = this.lexer.next();
  }

  parseFile(): SchemaAST {
    const ast: SchemaAST = { uses: [], definitions: [], caveats: [], partials: [], order: [] };
    let seenDefinition = false;
    for (;;) {
      while (this.isTerminator()) this.advance();
      if (this.at('eof')) {
        // Like SpiceDB, the whole file is parsed before an import is refused, so a syntax error anywhere wins.
        const refused = this.options.imports ? undefined : ast.imports?.[0];
        if (refused) {
          const { line, column } = refused.position;
          throw new SchemaError('import statements are not allowed in this context', line, column, 'import');
        }
        return ast;
      }
      if (this.at('ident') && this.tok.value === 'use') {
        ast.uses.push(this.parseUse(seenDefinition));
      } else if (this.isKeyword('definition')) {
        seenDefinition = true;
        const d = this.parseDefinition();
        ast.definitions.push(d);
        ast.order.push(d);
      } else if (this.isKeyword('caveat')) {
        seenDefinition = true;
        const c = this.parseCaveat();
        ast.caveats.push(c);
        ast.order.push(c);
      } else if (this.isKeyword('partial')) {
        // Like SpiceDB, a partial does not close the window for `use` flags.
        const p = this.parsePartial();
        ast.partials.push(p);
        ast.order.push(p);
      } else if (this.isKeyword('import')) {
        (ast.imports ??= []).push(this.parseImport());
      } else {
        throw this.error(`Unexpected token at root level: ${describeToken(this.tok)}`);
      }
    }
  }

  // ---- top level ----

  private parseUse(afterDefinition: boolean): UseFlagNode {
    const useTok = this.advance();
    const flagTok = this.tok;
    if (flagTok.kind !== 'ident' && flagTok.kind !== 'keyword') throw this.expected('a use flag');
    if (!(flagTok.value in FLAG_KEYWORDS)) {
      throw this.error(
        `Unknown use flag: \`${flagTok.value}\`. Options are: ${Object.keys(FLAG_KEYWORDS).join(', ')}`,
        flagTok,
      );
    }
    this.lexer.enableFlag(flagTok.value);
    this.flags.add(flagTok.value);
    this.advance();
    if (afterDefinition) throw this.error('`use` expressions must be declared before any definition', flagTok);
    return { kind: 'use', flag: flagTok.value, position: pos(useTok) };
  }

  private parseDefinition(): DefinitionNode {
    const kw = this.advance();
    const { name, position: namePosition } = this.parseTypePath();
    return { kind: 'definition', name, position: pos(kw), namePosition, members: this.parseBody(), doc: docOf(kw) };
  }

  /** `import "path"`: a double-quoted path, then the end of the statement. */
  private parseImport(): ImportNode {
    const kw = this.advance();
    const t = this.tok;
    if (t.kind !== 'string' || !/^"[^"]*"$/.test(t.value)) throw this.expected('quote-delimited string');
    this.advance();
    const path = t.value.slice(1, -1);
    if (!path.trim()) throw this.error('the import path is empty', t);
    // A string does not end a statement at a newline by itself (lexer.ts): the next token must.
    if (!this.isTerminator() && !this.at('eof') && this.tok.line === t.line) {
      throw this.error(`Expected end of statement, found ${describeToken(this.tok)}`);
    }
    return { kind: 'import', path, position: pos(kw), pathPosition: pos(t) };
  }

  private parsePartial(): PartialNode {
    const kw = this.advance();
    const { name, position: namePosition } = this.parseTypePath();
    return { kind: 'partial', name, position: pos(kw), namePosition, members: this.parseBody(), doc: docOf(kw) };
  }

  /** `{ member ; member ; … }` where each member ends with `;` or a newline. */
  private parseBody(): MemberNode[] {
    this.expect('lbrace', '`{`');
    const members: MemberNode[] = [];
    for (;;) {
      if (this.at('rbrace')) {
        this.advance();
        return members;
      }
      if (this.isKeyword('relation')) members.push(this.parseRelation());
      else if (this.isKeyword('permission')) members.push(this.parsePermission());
      else if (this.at('ellipsis') && this.flags.has('partial')) {
        const at = this.advance();
        const name = this.parseTypePath().name;
        members.push({ kind: 'partialRef', name, position: pos(at) });
      }
      if (!this.isTerminator()) {
        throw this.error(`Expected end of statement or definition, found: ${describeToken(this.tok)}`);
      }
      this.advance();
    }
  }

  private parseRelation(): RelationNode {
    const kw = this.advance();
    const nameTok = this.expectIdent();
    this.expect('colon', '`:`');
    const types: TypeRefNode[] = [this.parseTypeRef()];
    while (this.at('pipe')) {
      this.advance();
      types.push(this.parseTypeRef());
    }
    return {
      kind: 'relation',
      name: nameTok.value,
      position: pos(kw),
      namePosition: pos(nameTok),
      types,
      doc: docOf(kw),
    };
  }

  /** `type`, `type#rel`, `type#...`, `type:*`, each optionally `with cav`, `with expiration`, `with cav and expiration`. */
  private parseTypeRef(): TypeRefNode {
    const { name, position } = this.parseTypePath();
    const ref: TypeRefNode = { type: name, position, wildcard: false, expiration: false };
    if (this.at('colon')) {
      this.advance();
      this.expect('star', '`*`');
      ref.wildcard = true;
    } else if (this.at('hash')) {
      this.advance();
      if (!this.at('ident') && !this.at('ellipsis')) throw this.expected('a relation name or `...`');
      ref.relationPosition = pos(this.tok);
      ref.relation = this.advance().value;
    }
    if (!this.isKeyword('with')) return ref;
    this.advance();
    if (!this.isKeyword('expiration')) {
      const cav = this.parseTypePath();
      ref.caveat = cav.name;
      ref.caveatPosition = cav.position;
      if (!this.isKeyword('and')) return ref;
      this.advance();
      if (!this.isKeyword('expiration')) throw this.expected('`expiration`');
    }
    this.advance();
    ref.expiration = true;
    if (this.isKeyword('and')) {
      throw this.error(
        'Unexpected keyword after expiration: the caveat must come before expiration, e.g. `with <caveat_name> and expiration`',
      );
    }
    return ref;
  }

  private parsePermission(): PermissionNode {
    const kw = this.advance();
    const nameTok = this.expectIdent();
    let annotation: PermissionNode['annotation'];
    if (this.at('colon')) {
      this.advance();
      annotation = [this.parseTypePath()].map((p) => ({ type: p.name, position: p.position }));
      while (this.at('pipe')) {
        this.advance();
        const p = this.parseTypePath();
        annotation.push({ type: p.name, position: p.position });
      }
    }
    this.expect('equals', '`=`');
    if (this.isTerminator() || this.at('rbrace') || this.at('eof')) {
      throw this.error('Expected compute expression for permission');
    }
    this.permission = nameTok.value;
    const expression = this.parseBinary(0);
    return {
      kind: 'permission',
      name: nameTok.value,
      position: pos(kw),
      namePosition: pos(nameTok),
      annotation,
      expression,
      doc: docOf(kw),
    };
  }

  // ---- permission expressions ----

  /** The operators of `level` and tighter: `-` folds to the left, a run of `+` or `&` is one node. */
  private parseBinary(level: number): ExpressionNode {
    if (level === BINARY.length) return this.parseOperand();
    const { token, kind } = BINARY[level];
    const first = this.parseBinary(level + 1);
    if (kind === 'exclusion') {
      let left = first;
      while (this.at(token)) {
        const op = this.advance();
        left = { kind, left, right: this.parseBinary(level + 1), position: pos(op) };
      }
      return left;
    }
    if (!this.at(token)) return first;
    const position = pos(this.tok);
    const operands = [first];
    while (this.at(token)) {
      this.advance();
      operands.push(this.parseBinary(level + 1));
    }
    return { kind, operands, position };
  }

  /** An identifier, arrow, `nil`, `self` or parenthesised expression. */
  private parseOperand(): ExpressionNode {
    const t = this.tok;
    if (t.kind === 'lparen') {
      if (this.parentheses === MAX_NESTING_DEPTH) {
        throw this.error(
          `under permission \`${this.permission}\`: parentheses nest deeper than the maximum depth of ${MAX_NESTING_DEPTH}`,
        );
      }
      this.parentheses++;
      this.advance();
      const inner = this.parseBinary(0);
      this.expect('rparen', '`)`');
      this.parentheses--;
      return inner;
    }
    if (this.isKeyword('nil')) return { kind: 'nil', position: pos(this.advance()) };
    if (this.isKeyword('self')) return { kind: 'self', position: pos(this.advance()) };
    if (t.kind !== 'ident') throw this.error(`Expected right hand expression, found: ${describeToken(t)}`);
    this.advance();
    let node: ExpressionNode;
    if (this.at('arrow')) {
      this.advance();
      if (!this.at('ident')) throw this.error(`Expected right hand expression, found: ${describeToken(this.tok)}`);
      const right = this.advance();
      node = arrow('->', t, right);
    } else if (this.at('period')) {
      this.advance();
      const fn = this.expectIdent();
      if (fn.value !== 'any' && fn.value !== 'all') {
        throw this.error(`Expected 'any' or 'all' for arrow function, found: ${fn.value}`, fn);
      }
      this.expect('lparen', '`(`');
      const right = this.expectIdent();
      this.expect('rparen', '`)`');
      node = arrow(fn.value, t, right);
    } else {
      return { kind: 'ref', name: t.value, position: pos(t) };
    }
    if (this.at('arrow') || this.at('period')) throw this.error('Nested arrows not yet supported', t);
    return node;
  }

  // ---- caveats ----

  private parseCaveat(): CaveatNode {
    const kw = this.advance();
    const { name, position: namePosition } = this.parseTypePath();
    this.expect('lparen', '`(`');
    const parameters: CaveatParameterNode[] = [];
    for (;;) {
      const p = this.expectIdent();
      parameters.push({ name: p.value, position: pos(p), type: this.parseCaveatType() });
      if (!this.at('comma')) break;
      this.advance();
    }
    this.expect('rparen', '`)`');
    if (!this.at('lbrace')) throw this.expected('`{`');
    const open = this.tok;
    const body = this.lexer.rawBody(open.offset + 1);
    this.tok = this.lexer.next();
    const expression = body.text.trim();
    if (!expression) throw this.error(`missing caveat expression for caveat \`${name}\``);
    const expressionPosition = positionAfter(open, body.text.slice(0, body.text.length - body.text.trimStart().length));
    this.expect('rbrace', '`}`');
    return {
      kind: 'caveat',
      name,
      position: pos(kw),
      namePosition,
      parameters,
      expression,
      expressionPosition,
      doc: docOf(kw),
    };
  }

  /** `int`, `list<string>`, `map<list<int>>`: generic arity is the compiler's business. */
  private parseCaveatType(depth = 1): CaveatTypeNode {
    if (depth > MAX_NESTING_DEPTH) {
      throw this.error(`caveat parameter type nests deeper than the maximum depth of ${MAX_NESTING_DEPTH}`);
    }
    const t = this.expectIdent();
    const node: CaveatTypeNode = { name: t.value, position: pos(t), generics: [] };
    if (!this.at('lt')) return node;
    this.advance();
    node.generics.push(this.parseCaveatType(depth + 1));
    while (this.at('comma')) {
      this.advance();
      node.generics.push(this.parseCaveatType(depth + 1));
    }
    this.expect('gt', '`>`');
    return node;
  }

  // ---- helpers ----

  /** `name` or `prefix/name` (any number of segments). */
  private parseTypePath(): { name: string; position: SourcePosition } {
    const first = this.expectIdent();
    const segments = [first.value];
    while (this.at('div')) {
      this.advance();
      segments.push(this.expectIdent().value);
    }
    return { name: segments.join('/'), position: pos(first) };
  }

  /** A method, not a field test, so TypeScript does not narrow the token across `advance()`. */
  private at(kind: TokenKind): boolean {
    return this.tok.kind === kind;
  }

  private isKeyword(word: string): boolean {
    return this.at('keyword') && this.tok.value === word;
  }

  private isTerminator(): boolean {
    return this.at('semicolon') || this.at('newline');
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = this.lexer.next();
    return t;
  }

  private expect(kind: TokenKind, what: string): Token {
    if (this.tok.kind !== kind) throw this.expected(what);
    return this.advance();
  }

  private expectIdent(): Token {
    if (!this.at('ident')) throw this.expected('identifier');
    return this.advance();
  }

  private expected(what: string): SchemaError {
    return this.error(`Expected ${what}, found ${describeToken(this.tok)}`);
  }

  private error(message: string, at: Token = this.tok): SchemaError {
    return new SchemaError(message, at.line, at.column, at.value || undefined);
  }
}

function arrow(syntax: '->' | 'any' | 'all', left: Token, right: Token): ExpressionNode {
  return {
    kind: 'arrow',
    syntax,
    tupleset: left.value,
    tuplesetPosition: pos(left),
    computed: right.value,
    computedPosition: pos(right),
    position: pos(left),
  };
}

/** Where text resumes after the token `t` and the whitespace `lead` (counted locally: schemas hold many caveats). */
function positionAfter(t: Token, lead: string): SourcePosition {
  const lines = lead.split(/\r\n|\r|\n/);
  const last = lines[lines.length - 1];
  return lines.length === 1
    ? { line: t.line, column: t.column + t.value.length + last.length }
    : { line: t.line + lines.length - 1, column: last.length + 1 };
}

/**
 * The doc of an item: the unbroken run of comments ending on the line above it (or on its own
 * line), each on a line of its own, without comment markers.
 */
export function docOf(t: Token): string | undefined {
  const picked: Comment[] = [];
  let nextLine = t.line;
  for (let i = t.comments.length - 1; i >= 0; i--) {
    const c = t.comments[i];
    if (!c.startsLine || c.endLine < nextLine - 1) break;
    picked.unshift(c);
    nextLine = c.line;
  }
  const lines = picked.flatMap(stripComment);
  while (lines.length && !lines[0]) lines.shift();
  while (lines.length && !lines[lines.length - 1]) lines.pop();
  return lines.length ? lines.join('\n') : undefined;
}

function stripComment(c: Comment): string[] {
  if (c.text.startsWith('//')) return [c.text.slice(2).replace(/^ /, '').trimEnd()];
  const inner = c.text.slice(c.text.startsWith('/**') && c.text.length > 4 ? 3 : 2, -2);
  return inner.split(/\r?\n|\r/).map((l, i) => (i === 0 ? l.trim() : l.trimStart().replace(/^\* ?/, '').trimEnd()));
}
