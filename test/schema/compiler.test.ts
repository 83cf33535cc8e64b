import { describe, expect, it } from 'vitest';
import { SchemaError } from '../../src/errors/index.js';
import { compileSchema, reachableSubjectTypes } from '../../src/schema/index.js';
import { ELLIPSIS } from '../../src/schema/ir.js';

const errorOf = (text: string): SchemaError => {
  try {
    compileSchema(text);
  } catch (e) {
    if (e instanceof SchemaError) return e;
    throw e;
  }
  throw new Error('expected a SchemaError');
};

describe('compiler: IR', () => {
  const schema = compileSchema(`use expiration

/** Only on Tuesdays. */
caveat tuesday(day string, allowed list<string>, limits map<list<int>>, a any, b bool, c int, d uint, e double, f bytes, g duration, h timestamp, i ipaddress) {
  day == 'tuesday' && day in allowed && size(limits) > 0 && a == b && c > 0 && d > 0 && e > 0.0 && size(f) > 0 && g > duration('1s') && h > timestamp('2020-01-01T00:00:00Z') && i.in_cidr('10.0.0.0/8')
}

definition user {}

/** A group of users. */
definition group {
  relation member: user | group#member
}

definition doc {
  // Who can read.
  relation viewer: user | user:* | group#member | group#... | user with tuesday | user with expiration | user with tuesday and expiration
  relation parent: doc
  permission view = viewer + parent->view - nil
  permission view_all = parent.all(view)
}
`);

  it('compiles relations to `this` with their allowed subject types', () => {
    const viewer = schema.definitions.get('doc')!.relations.get('viewer')!;
    expect(viewer).toMatchObject({ name: 'viewer', kind: 'relation', rewrite: { kind: 'this' }, doc: 'Who can read.' });
    expect(viewer.allowedSubjects.map(({ position, ...a }) => a)).toEqual([
      { type: 'user', relation: ELLIPSIS, wildcard: false, expiration: false },
      { type: 'user', relation: ELLIPSIS, wildcard: true, expiration: false },
      { type: 'group', relation: 'member', wildcard: false, expiration: false },
      { type: 'group', relation: ELLIPSIS, wildcard: false, expiration: false },
      { type: 'user', relation: ELLIPSIS, wildcard: false, caveat: 'tuesday', expiration: false },
      { type: 'user', relation: ELLIPSIS, wildcard: false, expiration: true },
      { type: 'user', relation: ELLIPSIS, wildcard: false, caveat: 'tuesday', expiration: true },
    ]);
    expect(viewer.allowedSubjects[2].position).toEqual({ line: 17, column: 36 });
    expect(viewer.position).toEqual({ line: 17, column: 3 });
  });

  it('compiles permissions to rewrites with no allowed subjects', () => {
    const doc = schema.definitions.get('doc')!;
    expect(doc.relations.get('view')).toMatchObject({
      kind: 'permission',
      allowedSubjects: [],
      rewrite: {
        kind: 'exclusion',
        base: {
          kind: 'union',
          children: [
            { kind: 'computed', relation: 'viewer' },
            { kind: 'tupleToUserset', tupleset: 'parent', computed: 'view', mode: 'any' },
          ],
        },
        subtract: { kind: 'nil' },
      },
    });
    expect(doc.relations.get('view_all')!.rewrite).toEqual({
      kind: 'tupleToUserset',
      tupleset: 'parent',
      computed: 'view',
      mode: 'all',
    });
    expect('doc' in doc.relations.get('view')!).toBe(false);
  });

  it('keeps definitions and relations in declaration order', () => {
    expect([...schema.definitions.keys()]).toEqual(['user', 'group', 'doc']);
    expect([...schema.definitions.get('doc')!.relations.keys()]).toEqual(['viewer', 'parent', 'view', 'view_all']);
    expect(schema.definitions.get('group')!.doc).toBe('A group of users.');
    expect(schema.useExpiration).toBe(true);
  });

  it('compiles caveats with typed parameters and the expression text', () => {
    const c = schema.caveats.get('tuesday')!;
    expect(c.doc).toBe('Only on Tuesdays.');
    expect(Object.fromEntries(c.parameters)).toEqual({
      day: { kind: 'string' },
      allowed: { kind: 'list', element: { kind: 'string' } },
      limits: { kind: 'map', value: { kind: 'list', element: { kind: 'int' } } },
      a: { kind: 'any' },
      b: { kind: 'bool' },
      c: { kind: 'int' },
      d: { kind: 'uint' },
      e: { kind: 'double' },
      f: { kind: 'bytes' },
      g: { kind: 'duration' },
      h: { kind: 'timestamp' },
      i: { kind: 'ipaddress' },
    });
    expect(c.expression.startsWith("day == 'tuesday' && day in allowed")).toBe(true);
    expect(c.position).toEqual({ line: 4, column: 1 });
    expect(c.expressionPosition).toEqual({ line: 5, column: 3 });
  });

  it('accepts an empty schema and empty definitions', () => {
    expect(compileSchema('')).toEqual({ definitions: new Map(), caveats: new Map(), useExpiration: false });
    expect(compileSchema('// nothing\n').definitions.size).toBe(0);
    expect(compileSchema('definition user {}').definitions.get('user')!.relations.size).toBe(0);
  });

  it('allows a name shared by a relation and a definition, and relations referring to their own definition', () => {
    expect(() =>
      compileSchema('definition user {}\ndefinition doc {\n  relation user: user\n  relation doc: doc#user\n}'),
    ).not.toThrow();
  });

  it('allows self-referencing permissions that are not pure aliases', () => {
    expect(() =>
      compileSchema(
        'definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view = viewer + view\n  permission both = both & viewer\n}',
      ),
    ).not.toThrow();
  });

  it('does not require an arrow target to exist on the subject types (SpiceDB treats it as empty)', () => {
    expect(() =>
      compileSchema(
        'definition user {}\ndefinition folder {}\ndefinition doc {\n  relation parent: folder | user\n  permission view = parent->nothere\n}',
      ),
    ).not.toThrow();
  });

  it('allows arrows over relations with subject relations and wildcards on other relations', () => {
    expect(() =>
      compileSchema(
        'definition user {}\ndefinition team {\n  relation member: user\n  relation pub: user:*\n}\ndefinition doc {\n  relation grp: team#member\n  permission view = grp->pub + grp.all(member)\n}',
      ),
    ).not.toThrow();
  });

  it('allows a wildcard reached through a subject relation of the same definition (SpiceDB only checks other definitions)', () => {
    expect(() =>
      compileSchema(
        'definition user {}\ndefinition group {\n  relation member: user:*\n  relation other: group#member\n}',
      ),
    ).not.toThrow();
  });

  it('reads `with expiration` as a caveat when a caveat of that name exists and the flag is off', () => {
    const s = compileSchema(
      'caveat expiration(a int) { a == 1 }\ndefinition user {}\ndefinition doc {\n  relation rrr: user with expiration\n}',
    );
    expect(s.definitions.get('doc')!.relations.get('rrr')!.allowedSubjects[0]).toMatchObject({
      caveat: 'expiration',
      expiration: false,
    });
  });

  it('ignores generics on scalar caveat types, as SpiceDB does', () => {
    expect(compileSchema('caveat c(a int<string>) { a == 1 }').caveats.get('c')!.parameters.get('a')).toEqual({
      kind: 'int',
    });
  });

  it('accepts CEL with comments, braces in strings, macros and unicode', () => {
    const s = compileSchema(
      `caveat c(a list<int>, m map<string>, s string) {\n  // leading comment\n  a.exists(x, x > 1) && m['}'] == "{" && s == 'ü' // trailing\n}`,
    );
    expect(s.caveats.get('c')!.expression).toBe(
      `// leading comment\n  a.exists(x, x > 1) && m['}'] == "{" && s == 'ü' // trailing`,
    );
  });
});

describe('compiler: partials (use partial)', () => {
  it('splices partial members where they are referenced, wherever the partial is declared', () => {
    const s = compileSchema(`use partial
definition user {}
definition doc {
  relation owner: user
  ...viewable
  permission edit = owner
}
partial viewable {
  relation viewer: user
  ...base
  permission view = viewer + owner
}
partial base {
  relation banned: user
}`);
    expect([...s.definitions.get('doc')!.relations.keys()]).toEqual(['owner', 'viewer', 'banned', 'view', 'edit']);
    expect(s.definitions.has('viewable')).toBe(false);
  });

  it('lets the last of two same-named partials win, as SpiceDB does', () => {
    const s = compileSchema(
      'use partial\npartial aaa {\n  relation first: user\n}\npartial aaa {\n  relation second: user\n}\ndefinition user {}\ndefinition doc {\n  ...aaa\n}',
    );
    expect([...s.definitions.get('doc')!.relations.keys()]).toEqual(['second']);
  });

  it('only type-checks partial members where they are used', () => {
    expect(() =>
      compileSchema('use partial\ndefinition user {}\npartial p {\n  relation viewer: nothere\n}'),
    ).not.toThrow();
    const e = errorOf(
      'use partial\ndefinition user {}\npartial p {\n  relation viewer: nothere\n}\ndefinition doc {\n  ...p\n}',
    );
    expect(e.message).toContain('could not lookup definition `nothere`');
    expect([e.line, e.column]).toEqual([4, 20]);
  });
});

describe('compiler: use typechecking', () => {
  const base = 'use typechecking\ndefinition user {}\ndefinition team {\n  relation member: user\n}\n';
  it('accepts annotations that cover every reachable subject type', () => {
    expect(() =>
      compileSchema(
        `${base}definition doc {\n  relation viewer: user | team#member\n  relation parent: team\n  permission view: user = viewer + parent->member\n}`,
      ),
    ).not.toThrow();
  });

  it('rejects an annotation that misses a reachable type, via either side of an exclusion', () => {
    const e = errorOf(
      `${base}definition doc {\n  relation viewer: user\n  relation banned: team\n  permission view: user = viewer - banned\n}`,
    );
    expect(e.message).toContain(
      'incomplete type annotation on relation `view` in definition `doc`: `team` found as reachable type, but not contained in provided set [`user`]',
    );
    expect([e.line, e.column]).toEqual([9, 20]);
  });

  it('ignores annotations without the flag', () => {
    expect(() =>
      compileSchema(
        'definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view: nothere = viewer\n}',
      ),
    ).not.toThrow();
  });

  it('computes reachable subject types through subject relations, arrows and permissions', () => {
    const s = compileSchema(
      'definition user {}\ndefinition bot {}\ndefinition app {}\ndefinition team {\n  relation member: user | bot\n}\ndefinition doc {\n  relation viewer: team#member | team | app:*\n  relation parent: doc\n  permission view = viewer + parent->view\n}',
    );
    expect(reachableSubjectTypes(s, 'doc', 'view').sort()).toEqual(['app', 'bot', 'team', 'user']);
  });
});

describe('compiler: errors name the offender and point at it', () => {
  const cases: Array<[string, string, string, number, number]> = [
    // [description, schema, message, line, column]
    [
      'invalid definition name',
      'definition us {}',
      'error in object definition us: validation error: name: does not match regex pattern `^([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$`',
      1,
      12,
    ],
    ['invalid prefix segment', 'definition a/user {}', 'error in object definition a/user', 1, 12],
    ['uppercase name', 'definition User {}', 'error in object definition User', 1, 12],
    ['name too long', `definition ${'a'.repeat(65)} {}`, `error in object definition ${'a'.repeat(65)}`, 1, 12],
    [
      'invalid relation name',
      'definition user {}\ndefinition doc {\n  relation Viewer: user\n}',
      'error in relation Viewer: validation error: name: does not match regex pattern `^[a-z][a-z0-9_]{1,62}[a-z0-9]$`',
      3,
      12,
    ],
    [
      'invalid permission name',
      'definition doc {\n  permission v_ = nil\n}',
      'error in permission v_: validation error',
      2,
      14,
    ],
    [
      'invalid subject relation',
      'definition user {}\ndefinition doc {\n  relation viewer: user#ab\n}',
      'invalid type relation `user#ab`: validation error: relation: does not match regex pattern',
      3,
      25,
    ],
    [
      'duplicate definition',
      'definition user {}\ndefinition user {}',
      'found name reused between multiple definitions and/or caveats: user',
      2,
      12,
    ],
    [
      'caveat and definition share a name',
      'caveat user(a int) { a == 1 }\ndefinition user {}',
      'found name reused between multiple definitions and/or caveats: user',
      2,
      12,
    ],
    [
      'duplicate caveat',
      'caveat cav(a int) { a == 1 }\ncaveat cav(a int) { a == 1 }',
      'found name reused between multiple definitions and/or caveats: cav',
      2,
      8,
    ],
    [
      'duplicate relation',
      'definition user {}\ndefinition doc {\n  relation viewer: user\n  relation viewer: user\n}',
      'found duplicate relation/permission name `viewer` under definition `doc`',
      4,
      12,
    ],
    [
      'relation and permission share a name',
      'definition user {}\ndefinition doc {\n  relation viewer: user\n  permission viewer = viewer\n}',
      'found duplicate relation/permission name `viewer` under definition `doc`',
      4,
      14,
    ],
    [
      'duplicate caveat parameter',
      'caveat cav(a int, a string) { a == 1 }',
      'duplicate parameter `a` defined on caveat `cav`',
      1,
      19,
    ],
    [
      'unknown caveat parameter type',
      'caveat cav(a foo) { a == 1 }',
      'invalid type for caveat parameter `a` on caveat `cav`: unknown type `foo`',
      1,
      14,
    ],
    [
      'list without element type',
      'caveat cav(a list) { a == 1 }',
      'invalid type for caveat parameter `a` on caveat `cav`: type `list` requires 1 generic types; found 0',
      1,
      14,
    ],
    [
      'map with two types',
      'caveat cav(a map<string, int>) { a == 1 }',
      'type `map` requires 1 generic types; found 2',
      1,
      14,
    ],
    [
      'unknown nested type',
      'caveat cav(a list<foo>) { a == 1 }',
      'invalid type for caveat parameter `a` on caveat `cav`: unknown type `foo`',
      1,
      19,
    ],
    [
      'unused caveat parameter',
      'caveat cav(a int, b int) { a == 1 }',
      'parameter `b` for caveat `cav` is unused',
      1,
      19,
    ],
    [
      'caveat parameter used only as a field name',
      'caveat cav(m map<int>, b int) { m.b == 1 }',
      'parameter `b` for caveat `cav` is unused',
      1,
      24,
    ],
    ['invalid CEL', 'caveat cav(a int) {\n  a ==\n}', 'invalid expression for caveat `cav`', 2, 5],
    [
      'undefined subject type',
      'definition doc {\n  relation viewer: user\n}',
      'could not lookup definition `user` for relation `viewer`: object definition `user` not found',
      2,
      20,
    ],
    [
      'undefined subject relation',
      'definition user {}\ndefinition group {\n  relation member: user\n}\ndefinition doc {\n  relation viewer: group#foo\n}',
      'relation/permission `foo` not found under definition `group`',
      6,
      26,
    ],
    [
      'undefined caveat',
      'definition user {}\ndefinition doc {\n  relation viewer: user with nocav\n}',
      'could not lookup caveat `nocav` for relation `viewer`: caveat with name `nocav` not found',
      3,
      30,
    ],
    [
      '`with expiration` without `use expiration`',
      'definition user {}\ndefinition doc {\n  relation viewer: user with expiration\n}',
      'could not lookup caveat `expiration` for relation `viewer`: caveat with name `expiration` not found (to use relationship expiration, add `use expiration`',
      3,
      30,
    ],
    [
      'duplicate allowed type',
      'definition user {}\ndefinition doc {\n  relation viewer: user#... | user\n}',
      'found duplicate allowed subject type `user` on relation `viewer` under definition `doc`',
      3,
      31,
    ],
    [
      'duplicate wildcard',
      'definition user {}\ndefinition doc {\n  relation viewer: user:* | user:*\n}',
      'found duplicate allowed subject type `user:*`',
      3,
      29,
    ],
    [
      'duplicate caveated type',
      'caveat cav(a int) { a == 1 }\ndefinition user {}\ndefinition doc {\n  relation viewer: user with cav | user with cav\n}',
      'found duplicate allowed subject type `user with cav`',
      4,
      36,
    ],
    [
      'transitive wildcard',
      'definition user {}\ndefinition group {\n  relation member: user | user:*\n}\ndefinition doc {\n  relation viewer: group#member\n}',
      'for relation `viewer`: relation/permission `group#member` includes wildcard type `user` via relation `group#member`: wildcard relations cannot be transitively included',
      6,
      20,
    ],
    [
      'deeply transitive wildcard',
      'definition user {}\ndefinition group {\n  relation member: group#manager | user\n  relation manager: group#member | user:*\n}\ndefinition doc {\n  relation viewer: group#member\n}',
      'includes wildcard type `user` via relation `group#manager`',
      7,
      20,
    ],
    [
      'undefined relation in a permission',
      'definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view = viewer + editor\n}',
      'relation/permission `editor` not found under definition `doc`',
      4,
      30,
    ],
    [
      'definition name used as a relation',
      'definition user {}\ndefinition doc {\n  permission view = user\n}',
      'relation/permission `user` not found under definition `doc`',
      3,
      21,
    ],
    [
      'undefined arrow tupleset',
      'definition doc {\n  permission view = parent->view\n}',
      'relation/permission `parent` not found under definition `doc`',
      2,
      21,
    ],
    [
      'undefined arrow-function tupleset',
      'definition doc {\n  permission view = nil + parent.all(view)\n}',
      'relation/permission `parent` not found under definition `doc`',
      2,
      27,
    ],
    [
      'permission on the left of an arrow',
      'definition doc {\n  relation parent: doc\n  permission par = parent\n  permission view = par->view\n}',
      'under permission `view` under definition `doc`: permissions cannot be used on the left hand side of an arrow (found `par`)',
      4,
      21,
    ],
    [
      'wildcard on the left of an arrow',
      'definition user {}\ndefinition doc {\n  relation viewer: user | user:*\n  permission view = viewer->foo\n}',
      'for arrow under permission `view`: relation `doc#viewer` includes wildcard type `user` via relation `doc#viewer`: wildcard relations cannot be used on the left side of arrows',
      4,
      21,
    ],
    [
      'wildcard behind a subject relation on the left of an arrow',
      'definition user {}\ndefinition doc {\n  relation pub: user:*\n  relation grp: doc#pub\n  permission view = grp.any(viewer)\n}',
      'relation `doc#grp` includes wildcard type `user` via relation `doc#pub`',
      5,
      21,
    ],
    [
      'alias to itself',
      'definition doc {\n  permission view = view\n}',
      'under definition `doc`, there exists a cycle in permissions: view',
      2,
      14,
    ],
    [
      'alias to itself in parentheses',
      'definition doc {\n  permission view = ((view))\n}',
      'there exists a cycle in permissions: view',
      2,
      14,
    ],
    [
      'alias cycle, names sorted, including aliases into it',
      'definition doc {\n  permission ccc = aaa\n  permission aaa = bbb\n  permission bbb = aaa\n}',
      'under definition `doc`, there exists a cycle in permissions: aaa, bbb, ccc',
      2,
      14,
    ],
    [
      'missing partial',
      'use partial\ndefinition doc {\n  ...nothere\n}',
      'could not find partial reference with name nothere',
      3,
      3,
    ],
    [
      'circular partials, even unused',
      'use partial\npartial aaa {\n  ...bbb\n}\npartial bbb {\n  ...aaa\n}',
      'could not resolve partials: [aaa, bbb, aaa]. this may indicate a circular reference',
      6,
      3,
    ],
    [
      'caveat named like a partial',
      'use partial\npartial cav {}\ncaveat cav(a int) { a == 1 }',
      'found caveat with same name as existing partial: cav',
      3,
      8,
    ],
    [
      'definition named like a partial',
      'use partial\npartial user {}\ndefinition user {}',
      'found definition with same name as existing partial: user',
      3,
      12,
    ],
    [
      'duplicate from a partial',
      'use partial\ndefinition user {}\npartial p {\n  relation viewer: user\n}\ndefinition doc {\n  relation viewer: user\n  ...p\n}',
      'found duplicate relation/permission name `viewer` under definition `doc`',
      4,
      12,
    ],
  ];

  it.each(cases)('%s', (_, text, message, line, column) => {
    const e = errorOf(text);
    expect(e.message).toContain(message);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.source).toBeTruthy();
  });
});
