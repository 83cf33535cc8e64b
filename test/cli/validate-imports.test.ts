/**
 * `pemba validate` on composable schemas: a validation file's `schemaFile`, or a bare `.zed`, that
 * imports other files (`use import`) is composed as `zed validate` composes it, imports resolved from
 * the schema file's folder, and every problem names the file, line and column it is about.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateCommand } from '../../src/cli/validate.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-validate-imports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

async function validate(paths: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const sink = (line: string) => lines.push(line);
  const code = await validateCommand(paths, { out: sink, err: sink });
  return { code, lines };
}

// The layout of zed's sibling-folders case: schemas in one folder, tests in another.
file(
  'schema/root.zed',
  `use import
use partial

import "./domain.zed"
import "shared/viewable.zed"

definition user {}
`,
);
file(
  'schema/domain.zed',
  `use partial

definition document {
  ...viewable
  relation owner: user
  permission edit = owner
}
`,
);
file(
  'schema/shared/viewable.zed',
  `use partial

partial viewable {
  relation viewer: user
  permission view = viewer + edit
}
`,
);

describe('pemba validate follows schemaFile imports', () => {
  it('runs relationships, assertions and expected relations against the composed schema', async () => {
    const path = file(
      'tests/ok.yaml',
      `schemaFile: ../schema/root.zed
relationships: |-
  document:d#viewer@user:ann
  document:d#owner@user:bob
assertions:
  assertTrue:
    - document:d#view@user:ann
    - document:d#view@user:bob
  assertFalse:
    - document:d#edit@user:ann
validation:
  document:d#view:
    - "[user:ann] is <document:d#viewer>"
    - "[user:bob] is <document:d#owner>"
`,
    );
    expect(await validate([path])).toEqual({
      code: 0,
      lines: [`${path}: ok (2 relationships loaded, 3 assertions run, 1 expected relation validated)`],
    });
  });

  it('reports failed assertions and relationships the composed schema refuses at their YAML lines', async () => {
    const path = file(
      'tests/fail.yaml',
      `schemaFile: ../schema/root.zed
relationships: |-
  document:d#viewer@user:ann
  document:d#editor@user:bob
assertions:
  assertTrue:
    - document:d#edit@user:ann
`,
    );
    const { code, lines } = await validate([path]);
    expect(code).toBe(1);
    expect(lines[0]).toMatch(
      new RegExp(`^${path}:4:3: relationship \`document:d#editor@user:bob\` does not fit the schema`),
    );
    expect(lines.at(-1)).toMatch(/FAILED with 1 problem/);
  });

  it('reports a schema error in an imported file at that file, line and column', async () => {
    file('broken/root.zed', 'use import\nimport "defs.zed"\ndefinition user {}\n');
    const defs = file(
      'broken/defs.zed',
      '\n\ndefinition doc {\n  relation viewer: user\n  permission view = viewr\n}\n',
    );
    const path = file('broken/v.yaml', 'schemaFile: root.zed\nrelationships: ""\n');
    expect(await validate([path])).toEqual({
      code: 1,
      lines: [
        `${defs}:5:21: schema error: relation/permission \`viewr\` not found under definition \`doc\``,
        `${path}: FAILED with 1 problem (0 relationships loaded, 0 assertions run, 0 expected relations validated)`,
      ],
    });
  });

  it('reports a syntax error in an imported file at that file, line and column', async () => {
    file('syntax/root.zed', 'use import\n\n\nimport "defs.zed"\ndefinition user {}\n');
    const defs = file('syntax/defs.zed', 'definition doc {\n  relation viewer user\n}\n');
    const path = file('syntax/v.yaml', 'schemaFile: root.zed\n');
    const { code, lines } = await validate([path]);
    expect(code).toBe(1);
    expect(lines[0]).toMatch(new RegExp(`^${defs}:2:19: schema error: Expected \`:\``));
  });

  it('reports a missing import, a cycle and a path leaving the folder at the import statement', async () => {
    const missing = file('missing/root.zed', 'use import\ndefinition user {}\n\nimport "nowhere.zed"\n');
    const v1 = file('missing/v.yaml', 'schemaFile: root.zed\n');
    expect((await validate([v1])).lines[0]).toBe(
      `${missing}:4:1: schema error: failed to read import in schema file "nowhere.zed": no such file or directory`,
    );
    file('cycle/root.zed', 'use import\nimport "a.zed"\n');
    const a = file('cycle/a.zed', 'use import\n\nimport "root.zed"\n');
    const v2 = file('cycle/v.yaml', 'schemaFile: root.zed\n');
    expect((await validate([v2])).lines[0]).toBe(
      `${a}:3:1: schema error: circular import detected: root.zed has been visited on this branch (root.zed -> a.zed -> root.zed)`,
    );
    const escape = file('escape/root.zed', 'use import\nimport "../schema/domain.zed"\n');
    const v3 = file('escape/v.yaml', 'schemaFile: root.zed\n');
    expect((await validate([v3])).lines[0]).toMatch(
      new RegExp(`^${escape}:2:1: schema error: path \\.\\./schema/domain\\.zed contains '\\.\\.'`),
    );
  });

  it('points warnings at the imported file they are about', async () => {
    file('warn/root.zed', 'use import\nimport "defs.zed"\ndefinition user {}\n');
    const defs = file(
      'warn/defs.zed',
      'definition doc {\n  relation viewer: user\n  permission view = viewer + view\n}\n',
    );
    const path = file('warn/v.yaml', 'schemaFile: root.zed\n');
    const { code, lines } = await validate([path]);
    expect(code).toBe(0);
    expect(lines[0]).toMatch(
      new RegExp(`^${defs}:3:30: warning: Permission "view" references itself.*\\(permission-references-itself\\)$`),
    );
  });

  it('refuses imports in an inline schema block, as SpiceDB does', async () => {
    const path = file('inline.yaml', 'schema: |-\n  use import\n  import "schema/domain.zed"\n  definition user {}\n');
    const { code, lines } = await validate([path]);
    expect(code).toBe(1);
    expect(lines[0]).toBe(`${path}:3:3: schema error: import statements are not allowed in this context`);
  });
});

describe('pemba validate on a bare root schema file', () => {
  it('composes its imports', async () => {
    const path = join(dir, 'schema/root.zed');
    expect(await validate([path])).toEqual({
      code: 0,
      lines: [`${path}: ok (schema only: 2 definitions, 0 caveats)`],
    });
  });

  it('reports a duplicate definition across files at the second, naming the first', async () => {
    file('dup/root.zed', 'use import\nimport "user.zed"\n\ndefinition user {}\n');
    file('dup/user.zed', 'definition user {}\n');
    const path = join(dir, 'dup/root.zed');
    expect((await validate([path])).lines[0]).toBe(
      `${path}:4:12: schema error: found name reused between multiple definitions and/or caveats: user (first declared at user.zed:1:12)`,
    );
  });
});
