/**
 * `pemba validate` output: FILE:LINE:COL for every problem, bare `.zed` schema files, one report
 * per YAML mistake, and SpiceDB's schema warnings (reported, not failing, unless --fail-on-warn).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { validateCommand, type ValidateOptions } from '../../src/cli/validate.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'pemba-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function validate(paths: string[], options?: ValidateOptions): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const sink = (line: string) => lines.push(line);
  const code = await validateCommand(paths, { out: sink, err: sink }, options);
  return { code, lines };
}

const WARNING_SCHEMA = `definition user {}

definition group {
  relation member: user
}

definition document {
  relation group: group
  relation viewer: user
  permission view = viewer + group->member
  permission view_document = viewer
}
`;

describe('pemba validate: positions', () => {
  it('prints FILE:LINE:COL for a relationship that does not fit the schema, saying so', async () => {
    const path = file(
      'strand.yaml',
      `schema: |-
  caveat cav(a int) {
    a == 1
  }

  definition user {}

  definition document {
    relation reader: user with cav
  }
relationships: |-
  document:x#reader@user:ok[cav]
    document:x#reader@user:plain
assertions:
  assertTrue: []
`,
    );
    const { code, lines } = await validate([path]);
    expect(code).toBe(1);
    expect(lines[0]).toBe(
      `${path}:13:5: relationship \`document:x#reader@user:plain\` does not fit the schema: subjects of type \`user\` are not allowed on relation \`document#reader\` without one of the following caveats: cav`,
    );
    expect(lines[1]).toMatch(/strand\.yaml: FAILED with 1 problem/);
  });

  it('puts the column of a schema error in the position, not in the message', async () => {
    const path = file(
      'schema-error.yaml',
      'schema: |-\n  definition user {}\n  definition doc {\n    relation reader: nope\n  }\n',
    );
    const { lines } = await validate([path]);
    expect(lines[0]).toBe(
      `${path}:4:22: schema error: could not lookup definition \`nope\` for relation \`reader\`: object definition \`nope\` not found`,
    );
  });

  it('names a file it cannot read at 1:1', async () => {
    const { code, lines } = await validate([join(dir, 'missing.yaml')]);
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/missing\.yaml:1:1: cannot validate: ENOENT/);
  });
});

describe('pemba validate: bare schema files', () => {
  it('validates a .zed file alone and reports what it defines', async () => {
    const path = file(
      'ok.zed',
      'caveat c(a int) {\n  a == 1\n}\n\ndefinition user {}\n\ndefinition doc {\n  relation reader: user | user with c\n  permission read = reader\n}\n',
    );
    expect(await validate([path])).toEqual({
      code: 0,
      lines: [`${path}: ok (schema only: 2 definitions, 1 caveat)`],
    });
  });

  it('reports a schema error in a .zed file at its line and column', async () => {
    const path = file('bad.zed', 'definition user {}\n\ndefinition doc {\n  permission read = nothing\n}\n');
    const { code, lines } = await validate([path]);
    expect(code).toBe(1);
    expect(lines).toEqual([
      `${path}:4:21: schema error: relation/permission \`nothing\` not found under definition \`doc\``,
      `${path}: FAILED with 1 problem`,
    ]);
  });

  it('reports a .zed syntax error once', async () => {
    const path = file('syntax.zed', 'definition user {\n  relation\n}\n');
    const { lines } = await validate([path]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${path.replace(/[.]/g, '\\.')}:\\d+:\\d+: schema error: `));
  });
});

describe('pemba validate: YAML mistakes', () => {
  it('reports an unclosed quote once, at its position, without repeating the position in the message', async () => {
    const path = file(
      'quote.yaml',
      'schema: "definition user {}\nrelationships: ""\nassertions:\n  assertTrue:\n    - "document:1#reader@user:a\n',
    );
    const { code, lines } = await validate([path]);
    expect(code).toBe(1);
    expect(lines).toEqual([`${path}:1:28: YAML: Missing closing "quote`, `${path}: FAILED with 1 problem`]);
  });

  it('reports a tab in the indentation once', async () => {
    const path = file('tab.yaml', 'schema: |-\n\tdefinition user {}\nrelationships: ""\n');
    const { lines } = await validate([path]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/tab\.yaml:2:1: YAML: /);
    expect(lines[0]).not.toMatch(/at line/);
  });

  it('tells to quote an assertion that YAML read as a mapping', async () => {
    const path = file(
      'colon.yaml',
      'schema: |-\n  definition user {}\n  definition doc {\n    relation reader: user\n  }\nassertions:\n  assertTrue:\n    - doc:1#reader@user:a with {"a": 1}\n',
    );
    const { lines } = await validate([path]);
    expect(lines[0]).toBe(
      `${path}:8:7: \`assertTrue\`: each entry must be a string; quote an entry that contains \`: \``,
    );
  });
});

describe('pemba validate: schema warnings', () => {
  it('prints warnings at their line and column and still passes', async () => {
    const path = file('warn.zed', WARNING_SCHEMA);
    const { code, lines } = await validate([path]);
    expect(code).toBe(0);
    expect(lines).toEqual([
      `${path}:10:30: warning: Arrow \`group->member\` under permission "view" references relation "member" on definition "group"; it is recommended to point to a permission (arrow-references-relation)`,
      `${path}:11:3: warning: Permission "view_document" references parent type "document" in its name; it is recommended to drop the suffix (relation-name-references-parent)`,
      `${path}: ok with 2 warnings (schema only: 3 definitions, 0 caveats)`,
    ]);
  });

  it('maps warnings of a schema inside a validation file to the file', async () => {
    const indented = WARNING_SCHEMA.trimEnd()
      .split('\n')
      .map((l) => (l ? `  ${l}` : l))
      .join('\n');
    const path = file(
      'warn.yaml',
      `schema: |-\n${indented}\nrelationships: |-\n  document:d#viewer@user:u\nassertions:\n  assertTrue:\n    - document:d#view@user:u\n`,
    );
    const { code, lines } = await validate([path]);
    expect(code).toBe(0);
    expect(lines.slice(0, 2).map((l) => l.slice(0, l.indexOf(': warning:')))).toEqual([
      `${path}:11:32`,
      `${path}:12:5`,
    ]);
    expect(lines[2]).toBe(
      `${path}: ok with 2 warnings (1 relationship loaded, 1 assertion run, 0 expected relations validated)`,
    );
  });

  it('points warnings of a schemaFile at that file', async () => {
    const schema = file('external.zed', WARNING_SCHEMA);
    const path = file(
      'external.yaml',
      'schemaFile: external.zed\nrelationships: ""\nassertions:\n  assertFalse:\n    - document:d#view@user:u\n',
    );
    const { code, lines } = await validate([path]);
    expect(code).toBe(0);
    expect(lines[0]).toMatch(new RegExp(`^${schema.replace(/[.]/g, '\\.')}:10:30: warning: `));
  });

  it('honours spicedb-ignore-warning comments', async () => {
    const path = file(
      'ignored.zed',
      WARNING_SCHEMA.replace(
        '  permission view_document',
        '  // spicedb-ignore-warning: relation-name-references-parent\n  permission view_document',
      ),
    );
    const { lines } = await validate([path]);
    expect(lines.filter((l) => l.includes('warning:'))).toHaveLength(1);
  });

  it('fails on warnings with --fail-on-warn', async () => {
    const path = file('strict.zed', WARNING_SCHEMA);
    const { code, lines } = await validate([path], { failOnWarn: true });
    expect(code).toBe(1);
    expect(lines.at(-1)).toBe(`${path}: FAILED with 2 warnings (schema only: 3 definitions, 0 caveats)`);
  });

  it('takes --fail-on-warn on the command line', async () => {
    const path = file('cli.zed', WARNING_SCHEMA);
    const run = (...args: string[]) =>
      promisify(execFile)('npx', ['tsx', join(root, 'src/cli/main.ts'), 'validate', ...args], { cwd: root }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
    const [lenient, strict] = await Promise.all([run(path), run('--fail-on-warn', path)]);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toContain(`${path}:10:30: warning: Arrow`);
    expect(strict.code).toBe(1);
  }, 30_000);
});
