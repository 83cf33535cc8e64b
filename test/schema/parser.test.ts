import { describe, expect, it } from 'vitest';
import { SchemaError } from '../../src/errors/index.js';
import type { DefinitionNode, PermissionNode, RelationNode } from '../../src/schema/ast.js';
import { parseSchema } from '../../src/schema/index.js';

const errorOf = (text: string): SchemaError => {
  try {
    parseSchema(text);
  } catch (e) {
    if (e instanceof SchemaError) return e;
    throw e;
  }
  throw new Error('expected a SchemaError');
};

const firstDef = (text: string) => parseSchema(text).definitions[0];
const member = <T>(def: DefinitionNode, i: number) => def.members[i] as T;

describe('parser: structure and positions', () => {
  it('parses definitions, relations and permissions with the position of each name', () => {
    const ast = parseSchema(
      'definition user {}\n\ndefinition doc {\n  relation viewer: user\n  permission view = viewer\n}\n',
    );
    expect(ast.definitions.map((d) => [d.name, d.position, d.namePosition])).toEqual([
      ['user', { line: 1, column: 1 }, { line: 1, column: 12 }],
      ['doc', { line: 3, column: 1 }, { line: 3, column: 12 }],
    ]);
    const doc = ast.definitions[1];
    expect(member<RelationNode>(doc, 0)).toMatchObject({
      kind: 'relation',
      name: 'viewer',
      position: { line: 4, column: 3 },
      namePosition: { line: 4, column: 12 },
      types: [{ type: 'user', position: { line: 4, column: 20 }, wildcard: false, expiration: false }],
    });
    expect(member<PermissionNode>(doc, 1)).toMatchObject({
      kind: 'permission',
      name: 'view',
      namePosition: { line: 5, column: 14 },
      expression: { kind: 'ref', name: 'viewer', position: { line: 5, column: 21 } },
    });
  });

  it('accepts prefixed names with any number of segments', () => {
    const ast = parseSchema('definition tenant/user {}\ndefinition a1b/c2d/e3f {\n  relation owner: tenant/user\n}');
    expect(ast.definitions.map((d) => d.name)).toEqual(['tenant/user', 'a1b/c2d/e3f']);
    expect(member<RelationNode>(ast.definitions[1], 0).types[0].type).toBe('tenant/user');
  });

  it('parses every form of allowed subject type', () => {
    const rel = member<RelationNode>(
      firstDef(
        'use expiration\ndefinition doc {\n  relation r: user | group#member | group#... | user:* | user with cav | user with expiration | user with cav and expiration | user:* with t/cav\n}',
      ),
      0,
    );
    expect(rel.types.map(({ position, relationPosition, caveatPosition, ...t }) => t)).toEqual([
      { type: 'user', wildcard: false, expiration: false },
      { type: 'group', relation: 'member', wildcard: false, expiration: false },
      { type: 'group', relation: '...', wildcard: false, expiration: false },
      { type: 'user', wildcard: true, expiration: false },
      { type: 'user', wildcard: false, caveat: 'cav', expiration: false },
      { type: 'user', wildcard: false, expiration: true },
      { type: 'user', wildcard: false, caveat: 'cav', expiration: true },
      { type: 'user', wildcard: true, caveat: 't/cav', expiration: false },
    ]);
    expect(rel.types[1].relationPosition).toEqual({ line: 3, column: 28 });
    expect(rel.types[4].caveatPosition).toEqual({ line: 3, column: 68 });
  });

  it('reads `with expiration` as a caveat named expiration without `use expiration`', () => {
    const rel = member<RelationNode>(firstDef('definition doc {\n  relation r: user with expiration\n}'), 0);
    expect(rel.types[0]).toMatchObject({ caveat: 'expiration', expiration: false });
  });

  it('parses arrows, arrow functions, nil and parentheses', () => {
    const def = firstDef('definition doc {\n  permission p = (a->b + c.any(d)) - e.all(f) & nil\n}');
    const p = member<PermissionNode>(def, 0);
    expect(p.expression).toEqual({
      kind: 'exclusion',
      position: { line: 2, column: 36 },
      left: {
        kind: 'union',
        position: { line: 2, column: 24 },
        operands: [
          {
            kind: 'arrow',
            syntax: '->',
            tupleset: 'a',
            computed: 'b',
            position: { line: 2, column: 19 },
            tuplesetPosition: { line: 2, column: 19 },
            computedPosition: { line: 2, column: 22 },
          },
          {
            kind: 'arrow',
            syntax: 'any',
            tupleset: 'c',
            computed: 'd',
            position: { line: 2, column: 26 },
            tuplesetPosition: { line: 2, column: 26 },
            computedPosition: { line: 2, column: 32 },
          },
        ],
      },
      right: {
        kind: 'intersection',
        position: { line: 2, column: 47 },
        operands: [
          {
            kind: 'arrow',
            syntax: 'all',
            tupleset: 'e',
            computed: 'f',
            position: { line: 2, column: 38 },
            tuplesetPosition: { line: 2, column: 38 },
            computedPosition: { line: 2, column: 44 },
          },
          { kind: 'nil', position: { line: 2, column: 49 } },
        ],
      },
    });
  });

  it('continues an expression or type list after an operator at the end of a line', () => {
    const def = firstDef('definition doc {\n  relation r: user |\n    team\n  permission p = r +\n    s -\n    t\n}');
    expect(member<RelationNode>(def, 0).types.map((t) => t.type)).toEqual(['user', 'team']);
    expect(member<PermissionNode>(def, 1).expression.kind).toBe('exclusion');
  });

  it('accepts `;` as a statement end, several statements on a line, and empty statements', () => {
    const ast = parseSchema('definition user {}; definition doc { relation rel: user; permission per = rel; ; }');
    expect(ast.definitions[1].members.map((m) => (m as RelationNode).name)).toEqual(['rel', 'per']);
    expect(parseSchema('caveat c(a int) { a == 1 } definition user {}').definitions).toHaveLength(1);
  });

  it('parses caveats: parameters, generic types and the raw expression with its position', () => {
    const ast = parseSchema(
      'caveat t/cav(a int, b list<map<string>>, c any) {\n    a == 1 && "}" != c && b.size() > 0\n}',
    );
    const c = ast.caveats[0];
    expect(c.name).toBe('t/cav');
    expect(c.parameters.map((p) => [p.name, p.position, p.type.name, p.type.generics.map((g) => g.name)])).toEqual([
      ['a', { line: 1, column: 14 }, 'int', []],
      ['b', { line: 1, column: 21 }, 'list', ['map']],
      ['c', { line: 1, column: 42 }, 'any', []],
    ]);
    expect(c.parameters[1].type.generics[0].generics[0].name).toBe('string');
    expect(c.expression).toBe('a == 1 && "}" != c && b.size() > 0');
    expect(c.expressionPosition).toEqual({ line: 2, column: 5 });
  });

  it('keeps use flags, partials and partial references', () => {
    const ast = parseSchema(
      'use partial\nuse expiration\npartial p {\n  relation r: user\n}\ndefinition doc {\n  ...p\n}',
    );
    expect(ast.uses.map((u) => [u.flag, u.position])).toEqual([
      ['partial', { line: 1, column: 1 }],
      ['expiration', { line: 2, column: 1 }],
    ]);
    expect(ast.partials[0].name).toBe('p');
    expect(ast.definitions[0].members[0]).toEqual({ kind: 'partialRef', name: 'p', position: { line: 7, column: 3 } });
    expect(ast.order.map((i) => i.kind)).toEqual(['partial', 'definition']);
  });

  it('parses permission type annotations', () => {
    const p = member<PermissionNode>(firstDef('definition doc {\n  permission view: user | t/team = viewer\n}'), 0);
    expect(p.annotation).toEqual([
      { type: 'user', position: { line: 2, column: 20 } },
      { type: 't/team', position: { line: 2, column: 27 } },
    ]);
  });
});

describe('parser: doc comments', () => {
  const docs = (text: string) => {
    const ast = parseSchema(text);
    return {
      defs: ast.definitions.map((d) => d.doc),
      members: ast.definitions.flatMap((d) => d.members.map((m) => (m as RelationNode).doc)),
      caveats: ast.caveats.map((c) => c.doc),
    };
  };

  it('keeps /** */, /* */ and // comments directly above, without markers', () => {
    const text = [
      '/** The user. */',
      'definition user {}',
      '',
      '// line one',
      '//   indented',
      'definition doc {',
      '  /*',
      '   * multi',
      '   *',
      '   * line',
      '   */',
      '  relation viewer: user // trailing, not a doc',
      '  permission view = viewer',
      '}',
      '/** c */',
      'caveat cav(a int) { a == 1 }',
    ].join('\n');
    expect(docs(text)).toEqual({
      defs: ['The user.', 'line one\n  indented'],
      members: ['multi\n\nline', undefined],
      caveats: ['c'],
    });
  });

  it('drops comments separated from the item by a blank line, and comments after code on their line', () => {
    expect(docs('// licence header\n\ndefinition user {}').defs).toEqual([undefined]);
    expect(docs('definition a {} // about a\ndefinition bb {}').defs).toEqual([undefined, undefined]);
    expect(docs('// far\n\n// near\ndefinition user {}').defs).toEqual(['near']);
  });

  it('keeps a comment on the same line before the keyword', () => {
    expect(docs('/** inline */ definition user {}').defs).toEqual(['inline']);
  });
});

describe('parser: errors carry the position of the offending token', () => {
  const cases: Array<[string, string, number, number]> = [
    ['definition {}', 'Expected identifier, found `{`', 1, 12],
    ['definition caveat {}', 'Expected identifier, found keyword `caveat`', 1, 12],
    ['definition doc\n{\n}', 'Expected `{`, found end of line', 1, 15],
    ['definition doc {\n  relation viewer\n  : user\n}', 'Expected `:`, found end of line', 2, 18],
    ['definition doc {\n  relation viewer:\n}', 'Expected identifier, found `}`', 3, 1],
    ['definition doc {\n  relation nil: user\n}', 'Expected identifier, found keyword `nil`', 2, 12],
    ['definition doc {\n  relation rel: user }', 'Expected end of statement or definition, found: `}`', 2, 22],
    [
      'definition doc {\n  relation rel: user permission p = rel\n}',
      'Expected end of statement or definition, found: keyword `permission`',
      2,
      22,
    ],
    ['definition doc {\n  permission p = a\n    + b\n}', 'Expected end of statement or definition, found: `+`', 3, 5],
    ['definition doc {\n  relation r: user\n   | team\n}', 'Expected end of statement or definition, found: `|`', 3, 4],
    ['definition doc {\n  permission view =\n}', 'Expected compute expression for permission', 3, 1],
    ['definition doc {\n  permission p = a +\n}', 'Expected right hand expression, found: `}`', 3, 1],
    ['definition doc {\n  permission p = g->(m)\n}', 'Expected right hand expression, found: `(`', 2, 21],
    ['definition doc {\n  permission p = (g)->m\n}', 'Expected end of statement or definition, found: `->`', 2, 21],
    ['definition doc {\n  permission p = g->h->m\n}', 'Nested arrows not yet supported', 2, 18],
    ['definition doc {\n  permission p = g.any(h).all(m)\n}', 'Nested arrows not yet supported', 2, 18],
    [
      'definition doc {\n  permission p = g.some(m)\n}',
      "Expected 'any' or 'all' for arrow function, found: some",
      2,
      20,
    ],
    ['definition doc {\n  permission p = (a + b\n  )\n}', 'Expected `)`, found end of line', 2, 24],
    // A newline after `:` or `#` does not end the statement, so the error is at the next token.
    ['definition doc {\n  relation r: user:\n}', 'Expected `*`, found `}`', 3, 1],
    ['definition doc {\n  relation r: user#\n}', 'Expected a relation name or `...`, found `}`', 3, 1],
    ['definition doc {\n  relation r: user with\n}', 'Expected identifier, found end of line', 2, 24],
    [
      'use expiration\ndefinition doc {\n  relation r: user with expiration and cav\n}',
      'Unexpected keyword after expiration: the caveat must come before expiration, e.g. `with <caveat_name> and expiration`',
      3,
      36,
    ],
    [
      'use expiration\ndefinition doc {\n  relation r: user with cav and\n}',
      'Expected `expiration`, found end of line',
      3,
      32,
    ],
    [
      'definition doc {\n  relation r: user with cav and expiration\n}',
      'Expected end of statement or definition, found: identifier `and`',
      2,
      29,
    ],
    ['definition user {}\n}', 'Unexpected token at root level: `}`', 2, 1],
    ['relation foo: bar', 'Unexpected token at root level: keyword `relation`', 1, 1],
    ['definition user {', 'Expected end of statement or definition, found: end of input', 1, 18],
    [
      'use foo\ndefinition user {}',
      'Unknown use flag: `foo`. Options are: expiration, import, partial, self, typechecking',
      1,
      5,
    ],
    ['definition user {}\nuse expiration', '`use` expressions must be declared before any definition', 2, 5],
    ['caveat c(a int) { a == 1 }\nuse expiration', '`use` expressions must be declared before any definition', 2, 5],
    ['use import\nimport "x.zed"', 'import statements are not allowed in this context', 2, 1],
    ['partial p {}', 'Unexpected token at root level: identifier `partial`', 1, 1],
    ['caveat cav() { true }', 'Expected identifier, found `)`', 1, 12],
    ['caveat cav(with int) { true }', 'Expected identifier, found keyword `with`', 1, 12],
    ['caveat cav(a int,\n  b int\n) { a == b }', 'Expected `)`, found end of line', 2, 8],
    ['caveat cav(a int) { }', 'missing caveat expression for caveat `cav`', 1, 21],
    ['caveat cav(a int) a == 1', 'Expected `{`, found identifier `a`', 1, 19],
    ['caveat cav(a list<int) { true }', 'Expected `>`, found `)`', 1, 22],
    ['definition doc {\n  permission view: user:* = viewer\n}', 'Expected `=`, found `:`', 2, 24],
    ['definition doc {\n  ...p\n}', 'Expected end of statement or definition, found: `...`', 2, 3],
    ['use self\ndefinition doc {\n  relation self: user\n}', 'Expected identifier, found keyword `self`', 3, 12],
  ];

  it.each(cases)('%j', (text, message, line, column) => {
    const e = errorOf(text);
    expect(e.message).toContain(message);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.message).toMatch(new RegExp(`\\(line ${line}, column ${column}\\)$`));
    expect(e.code).toBe('INVALID_ARGUMENT');
  });

  it('names the offending token in the error metadata', () => {
    expect(errorOf('definition caveat {}').source).toBe('caveat');
    expect(errorOf('use bogus').source).toBe('bogus');
  });
});
