/**
 * Composable schemas (schema/compose.ts): `use import` / `import "file.zed"` and `use partial` across
 * files, composed as `zed schema compile` composes them, with every error at its file, line and column.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SchemaError } from '../../src/errors/index.js';
import {
  type ComposeIO,
  SchemaCompositionError,
  compileComposed,
  compileSchemaFile,
  composeSchema,
} from '../../src/schema/compose.js';
import { compileSchema, parseSchema } from '../../src/schema/index.js';
import { warningsOf } from '../../src/schema/warnings.js';

/** Files in memory, keyed by path relative to /project. */
function memory(files: Record<string, string>): ComposeIO {
  return {
    readFile: (path) => {
      const key = Object.keys(files).find((k) => resolve('/project', k) === path);
      if (key === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return files[key];
    },
  };
}

const compile = (files: Record<string, string>, root = 'root.zed') =>
  compileSchemaFile(resolve('/project', root), memory(files)).text;

/** The error composing (or compiling) `root`, as path:line:col: detail with the path relative to /project. */
function failure(files: Record<string, string>, root = 'root.zed'): string {
  try {
    compileSchemaFile(join('/project', root), memory(files));
  } catch (e) {
    if (!(e instanceof SchemaCompositionError)) throw e;
    const { path, line, column } = e.location;
    return `${path.replace('/project/', '')}:${line}:${column}: ${e.detail}`;
  }
  throw new Error('expected the composition to fail');
}

describe('composing files', () => {
  it('merges imports and expands partials, as the documented example compiles', () => {
    expect(
      compile({
        'root.zed': `use import
use partial

import "./subjects.zed"

partial view_partial {
    relation user: user
    permission view = user
}

definition resource {
    ...view_partial

    relation organization: organization
    permission manage = organization
}
`,
        'subjects.zed': 'definition user {}\ndefinition organization {}\n',
      }),
    ).toBe(
      'definition user {}\n\ndefinition organization {}\n\ndefinition resource {\n\trelation user: user\n\tpermission view = user\n\trelation organization: organization\n\tpermission manage = organization\n}\n',
    );
  });

  it('puts every file before its importer, depth first in import order, and reads a shared file once', () => {
    // SpiceDB's many-imports fixture: the output order is caveat, teams, apps, aws, iam, okta.
    const uses = (...names: string[]) => `use import\n\n${names.map((n) => `import "${n}.zed"`).join('\n')}\n\n`;
    const files = {
      'root.zed': uses('apps', 'aws', 'caveat', 'iam', 'okta', 'teams'),
      'apps.zed': `${uses('caveat', 'teams')}definition apps {\n\trelation d_caveat: d_caveat\n\trelation teams: teams\n}\n`,
      'aws.zed': `${uses('caveat', 'teams')}definition aws {\n\trelation d_caveat: d_caveat\n\trelation teams: teams\n}\n`,
      'caveat.zed': 'definition d_caveat {}\n',
      'iam.zed': `${uses('apps', 'caveat', 'teams')}definition iam {\n\trelation apps: apps\n}\n`,
      'okta.zed': `${uses('caveat', 'teams')}definition okta {\n\trelation teams: teams\n}\n`,
      'teams.zed': `${uses('caveat')}definition teams {\n\trelation d_caveat: d_caveat\n}\n`,
    };
    const names = [...compile(files).matchAll(/^definition (\w+)/gm)].map((m) => m[1]);
    expect(names).toEqual(['d_caveat', 'teams', 'apps', 'aws', 'iam', 'okta']);
  });

  it('hoists imports written after definitions, and resolves paths from the importing file’s folder', () => {
    const files = {
      'root.zed': 'use import\n\ndefinition resource {\n  relation viewer: user\n}\n\nimport "nested/one.zed"\n',
      'nested/one.zed': 'use import\nimport "deeper/two.zed"\ndefinition group {\n  relation member: user\n}\n',
      'nested/deeper/two.zed': 'definition user {}\n',
    };
    const composed = composeSchema('/project/root.zed', memory(files));
    expect(composed.files).toEqual(['/project/root.zed', '/project/nested/one.zed', '/project/nested/deeper/two.zed']);
    expect([...compileComposed(composed).definitions.keys()]).toEqual(['user', 'group', 'resource']);
  });

  it('shares partials between files, chains of them included', () => {
    const text = compile({
      'root.zed':
        'use import\nuse partial\nimport "partials.zed"\ndefinition user {}\ndefinition doc {\n  ...editable\n}\n',
      'partials.zed':
        'use partial\npartial viewable {\n  relation viewer: user\n}\npartial editable {\n  ...viewable\n  relation editor: user\n  permission edit = editor + viewer\n}\n',
    });
    expect(text).toContain(
      'definition doc {\n\trelation viewer: user\n\trelation editor: user\n\tpermission edit = editor + viewer\n}',
    );
  });

  it('reads each file with its own use flags and compiles with all of them', () => {
    const text = compile({
      'root.zed': 'use import\nimport "user.zed"\ndefinition resource {\n  relation viewer: user\n}\n',
      'user.zed': 'use expiration\ndefinition user {\n  relation timeout: user with expiration\n}\n',
    });
    expect(text.startsWith('use expiration\n')).toBe(true);
    expect(text).toContain('relation timeout: user with expiration');
    // The root did not say `use expiration`: there, `with expiration` is not the trait.
    expect(
      failure({
        'root.zed':
          'use import\nimport "user.zed"\ndefinition resource {\n  relation viewer: user with expiration\n}\n',
        'user.zed': 'use expiration\ndefinition user {}\n',
      }),
    ).toMatch(/^root\.zed:4:/);
  });

  it('compiles a single file with partials and no imports', () => {
    expect(
      compile({ 'root.zed': 'use partial\npartial p {\n  relation rel: user\n}\ndefinition user {\n  ...p\n}\n' }),
    ).toBe('definition user {\n\trelation rel: user\n}\n');
  });

  it('keeps caveats and docs from imported files', () => {
    const text = compile({
      'root.zed':
        'use import\nimport "caveats.zed"\ndefinition user {}\ndefinition doc {\n  relation viewer: user with ip\n}\n',
      'caveats.zed': '/** on the office network */\ncaveat ip(a int) {\n  a == 1\n}\n',
    });
    expect(text).toContain('/** on the office network */\ncaveat ip(a int) {\n\ta == 1\n}');
  });
});

describe('composition errors, each at its file, line and column', () => {
  it('a missing file, at the import statement', () => {
    expect(failure({ 'root.zed': 'use import\n\ndefinition user {}\n\nimport "doesnotexist.zed"\n' })).toBe(
      'root.zed:5:1: failed to read import in schema file "doesnotexist.zed": no such file or directory',
    );
  });

  it('a missing file imported by an imported file, in that file', () => {
    expect(
      failure({
        'root.zed': 'use import\nimport "sub/a.zed"\n',
        'sub/a.zed': 'use import\n\n\n  import "b.zed"\n',
      }),
    ).toBe('sub/a.zed:4:3: failed to read import in schema file "sub/b.zed": no such file or directory');
  });

  it('an import cycle, at the import that closes it, naming the chain', () => {
    expect(
      failure({
        'root.zed': 'use import\nimport "a.zed"\n',
        'a.zed': 'use import\nimport "b.zed"\ndefinition aaa {}\n',
        'b.zed': 'use import\ndefinition bbb {}\nimport "a.zed"\n',
      }),
    ).toBe('b.zed:3:1: circular import detected: a.zed has been visited on this branch (a.zed -> b.zed -> a.zed)');
    expect(failure({ 'root.zed': 'use import\nimport "./root.zed"\n' })).toBe(
      'root.zed:2:1: circular import detected: root.zed has been visited on this branch (root.zed -> root.zed)',
    );
  });

  it('a diamond is no cycle', () => {
    expect(
      compile({
        'root.zed': 'use import\nimport "left.zed"\nimport "right.zed"\n',
        'left.zed': 'use import\nimport "user.zed"\ndefinition left {\n  relation usr: user\n}\n',
        'right.zed': 'use import\nimport "./user.zed"\ndefinition right {\n  relation usr: user\n}\n',
        'user.zed': 'definition user {}\n',
      }),
    ).toMatch(/^definition user \{\}\n\ndefinition left/);
  });

  it('an unknown partial, in the file that references it', () => {
    expect(
      failure({
        'root.zed': 'use import\nimport "user.zed"\nimport "doc.zed"\n',
        'user.zed': 'definition user {}\n',
        'doc.zed': 'use partial\n\ndefinition doc {\n  relation viewer: user\n  ...nope\n}\n',
      }),
    ).toBe('doc.zed:5:3: could not find partial reference with name nope');
  });

  it('a definition declared in two files, at the second, saying where the first is', () => {
    expect(
      failure({
        'root.zed': 'use import\nimport "left.zed"\nimport "right.zed"\n\ndefinition foo {}\n',
        'left.zed': 'definition bar {}\n',
        'right.zed': '\n\ndefinition bar {}\n',
      }),
    ).toBe(
      'right.zed:3:12: found name reused between multiple definitions and/or caveats: bar (first declared at left.zed:1:12)',
    );
    expect(
      failure({
        'root.zed': 'use import\nimport "user.zed"\ncaveat user(a int) {\n  a == 1\n}\n',
        'user.zed': 'definition user {}\n',
      }),
    ).toBe(
      'root.zed:3:8: found name reused between multiple definitions and/or caveats: user (first declared at user.zed:1:12)',
    );
  });

  it('a path that leaves its folder: `..` anywhere, or an absolute path', () => {
    expect(failure({ 'root.zed': 'use import\nimport "../user.zed"\n' })).toBe(
      "root.zed:2:1: path ../user.zed contains '..'; paths must stay within their directory and this is likely an error",
    );
    expect(failure({ 'root.zed': 'use import\nimport "a/../../user.zed"\n' })).toMatch(
      /^root\.zed:2:1: path a\/\.\.\/\.\.\/user\.zed contains '\.\.'/,
    );
    expect(failure({ 'root.zed': 'use import\nimport "/etc/user.zed"\n' })).toBe(
      'root.zed:2:1: import path /etc/user.zed does not stay within its folder',
    );
    // An imported file cannot climb back to its importer's folder either.
    expect(
      failure({ 'root.zed': 'use import\nimport "sub/a.zed"\n', 'sub/a.zed': 'use import\nimport "../root.zed"\n' }),
    ).toMatch(/^sub\/a\.zed:2:1: path \.\.\/root\.zed contains/);
  });

  it('a syntax error in an imported file, at its place in that file', () => {
    expect(
      failure({
        'root.zed': 'use import\n\n\n\nimport "doc.zed"\ndefinition user {}\n',
        'doc.zed': 'definition doc {\n  relation viewer: user\n  permission view = viewer +\n}\n',
      }),
    ).toBe('doc.zed:4:1: Expected right hand expression, found: `}`');
  });

  it('a compile error in an imported file, and a caveat error, at their places in that file', () => {
    expect(
      failure({
        'root.zed': 'use import\nimport "doc.zed"\ndefinition user {}\n',
        'doc.zed': '\ndefinition doc {\n  relation viewer: user\n  permission view = viewer + nothing\n}\n',
      }),
    ).toBe('doc.zed:4:30: relation/permission `nothing` not found under definition `doc`');
    expect(
      failure({
        'root.zed': 'use import\nimport "cav.zed"\ndefinition user {}\n',
        'cav.zed': '\n\ncaveat cav(a int) {\n  a == "x"\n}\n',
      }),
    ).toMatch(/^cav\.zed:4:5: .*found no matching overload for '_==_' applied to '\(int, string\)'/);
  });

  it('imports need `use import`, and a quoted path', () => {
    expect(failure({ 'root.zed': 'definition user {}\nimport "user.zed"\n' })).toBe(
      'root.zed:2:1: Unexpected token at root level: identifier `import`',
    );
    expect(failure({ 'root.zed': 'use import\nimport foo\n' })).toBe(
      'root.zed:2:8: Expected quote-delimited string, found identifier `foo`',
    );
    expect(failure({ 'root.zed': 'use import\nimport "a.zed" definition user {}\n' })).toBe(
      'root.zed:2:16: Expected end of statement, found keyword `definition`',
    );
  });

  it('a root file that cannot be read', () => {
    expect(() => composeSchema('/project/none.zed', memory({}))).toThrow(
      '/project/none.zed:1:1: failed to read schema file: no such file or directory',
    );
  });
});

describe('the API takes one composed schema', () => {
  it('refuses import statements as SpiceDB does, after reading the whole text', () => {
    // SpiceDB v1.54 WriteSchema: parse error in `schema`, line 3, column 1: import statements are not allowed in this context
    const refused = (text: string) => {
      try {
        compileSchema(text);
      } catch (e) {
        return e as SchemaError;
      }
      throw new Error('expected a refusal');
    };
    const e = refused('use import\ndefinition user {}\nimport "foo.zed"\n');
    expect(e).toBeInstanceOf(SchemaError);
    expect([e.message, e.line, e.column]).toEqual([
      'import statements are not allowed in this context (line 3, column 1)',
      3,
      1,
    ]);
    // SpiceDB: line 2, column 8: Expected quote-delimited string, found token TokenTypeIdentifier
    expect([refused('use import\nimport foo\ndefinition user {}\n')].map((x) => [x.line, x.column])).toEqual([[2, 8]]);
    // A syntax error after the import is reported, not the import.
    expect(refused('use import\nimport "foo.zed"\ndefinition user {\n').message).not.toContain('import statements');
    // `use import` alone is fine.
    expect(() => compileSchema('use import\ndefinition user {}\n')).not.toThrow();
  });

  it('accepts what `schema compile` prints', () => {
    const text = compile({
      'root.zed': 'use import\nuse partial\nimport "p.zed"\ndefinition user {}\ndefinition doc {\n  ...p\n}\n',
      'p.zed': 'use partial\npartial p {\n  relation viewer: user\n  permission view = viewer\n}\n',
    });
    expect([...compileSchema(text).definitions.get('doc')!.relations.keys()]).toEqual(['viewer', 'view']);
  });

  it('parses imports into the syntax tree only when asked', () => {
    const ast = parseSchema('use import\nimport "a/b.zed"\n', { imports: true });
    expect(ast.imports).toEqual([
      { kind: 'import', path: 'a/b.zed', position: { line: 2, column: 1 }, pathPosition: { line: 2, column: 8 } },
    ]);
  });
});

describe('warnings of a composed schema', () => {
  it('point into the file they are about', () => {
    const composed = composeSchema(
      '/project/root.zed',
      memory({
        'root.zed': 'use import\nimport "doc.zed"\ndefinition user {}\n',
        'doc.zed': 'definition doc {\n  relation viewer: user\n  permission view = viewer + view\n}\n',
      }),
    );
    const warnings = warningsOf(composed.ast, compileComposed(composed));
    expect(warnings.map((w) => [composed.locate(w.line, w.column), w.name])).toEqual([
      [{ path: '/project/doc.zed', line: 3, column: 30 }, 'permission-references-itself'],
    ]);
  });
});

describe('symbolic links', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pemba-compose-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  };

  it('cannot lead an import out of the root file’s folder', () => {
    write('outside/user.zed', 'definition user {}\n');
    write('project/root.zed', 'use import\nimport "link/user.zed"\n');
    symlinkSync(join(dir, 'outside'), join(dir, 'project/link'));
    let error: unknown;
    try {
      compileSchemaFile(join(dir, 'project/root.zed'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SchemaCompositionError);
    const e = error as SchemaCompositionError;
    expect(e.location).toEqual({ path: join(dir, 'project/root.zed'), line: 2, column: 1 });
    expect(e.detail).toMatch(/^import path link\/user\.zed does not stay within its folder/);
  });

  it('may point inside it', () => {
    write('inside/project/real/user.zed', 'definition user {}\n');
    write('inside/project/root.zed', 'use import\nimport "alias/user.zed"\n');
    symlinkSync(join(dir, 'inside/project/real'), join(dir, 'inside/project/alias'));
    expect(compileSchemaFile(join(dir, 'inside/project/root.zed')).text).toBe('definition user {}\n');
  });
});
