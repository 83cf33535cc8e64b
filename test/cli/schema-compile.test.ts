/**
 * `pemba schema compile ROOT.zed [--out FILE]`: one schema from files that import each other, as
 * `zed schema compile` writes it; errors as FILE:LINE:COL: message with exit code 1.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { schemaCompileCommand } from '../../src/cli/schema.js';
import { compileSchema } from '../../src/schema/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'pemba-schema-compile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

function run(path: string, out?: string): { code: number; stdout: string; stderr: string[] } {
  let stdout = '';
  const stderr: string[] = [];
  const code = schemaCompileCommand(path, { out }, { out: (t) => (stdout += t), err: (l) => stderr.push(l) });
  return { code, stdout, stderr };
}

const ROOT = `use import
use partial

import "subjects/user.zed"
import "partials.zed"

definition document {
  ...viewable
  relation owner: user
  permission edit = owner
}
`;

const EXPECTED = `caveat business_hours(hour int) {
\thour >= 9 && hour < 17
}

definition user {}

definition document {
\trelation viewer: user | user with business_hours
\tpermission view = viewer + edit
\trelation owner: user
\tpermission edit = owner
}
`;

describe('pemba schema compile', () => {
  file('app/subjects/user.zed', 'definition user {}\n');
  file(
    'app/partials.zed',
    'use partial\n\ncaveat business_hours(hour int) {\n  hour >= 9 && hour < 17\n}\n\npartial viewable {\n  relation viewer: user | user with business_hours\n  permission view = viewer + edit\n}\n',
  );
  const rootPath = file('app/root.zed', ROOT);

  it('prints the composed schema, imports merged and partials expanded', () => {
    const { code, stdout, stderr } = run(rootPath);
    expect({ code, stderr }).toEqual({ code: 0, stderr: [] });
    expect(stdout).toBe(EXPECTED);
    // What it prints is a schema the API takes.
    expect(() => compileSchema(stdout)).not.toThrow();
  });

  it('writes it to --out', () => {
    const out = join(dir, 'compiled.zed');
    const { code, stdout } = run(rootPath, out);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toBe(EXPECTED);
  });

  it('reports an error in an imported file as FILE:LINE:COL, and writes nothing', () => {
    file('bad/root.zed', 'use import\nimport "defs.zed"\ndefinition user {}\n');
    file('bad/defs.zed', '\ndefinition doc {\n  relation viewer: usr\n}\n');
    const out = join(dir, 'bad-out.zed');
    const { code, stdout, stderr } = run(join(dir, 'bad/root.zed'), out);
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toEqual([
      `${join(dir, 'bad/defs.zed')}:3:20: could not lookup definition \`usr\` for relation \`viewer\`: object definition \`usr\` not found`,
    ]);
    expect(() => readFileSync(out)).toThrow();
  });

  it('reports a missing import, a cycle and an escaping path at the import statement', () => {
    file('missing.zed', 'use import\n\nimport "nowhere.zed"\n');
    expect(run(join(dir, 'missing.zed')).stderr).toEqual([
      `${join(dir, 'missing.zed')}:3:1: failed to read import in schema file "nowhere.zed": no such file or directory`,
    ]);
    file('cycle/a.zed', 'use import\nimport "b.zed"\n');
    file('cycle/b.zed', 'use import\ndefinition user {}\nimport "a.zed"\n');
    expect(run(join(dir, 'cycle/a.zed')).stderr).toEqual([
      `${join(dir, 'cycle/b.zed')}:3:1: circular import detected: a.zed has been visited on this branch (a.zed -> b.zed -> a.zed)`,
    ]);
    file('escape/root.zed', 'use import\nimport "../app/subjects/user.zed"\n');
    expect(run(join(dir, 'escape/root.zed')).stderr).toEqual([
      `${join(dir, 'escape/root.zed')}:2:1: path ../app/subjects/user.zed contains '..'; paths must stay within their directory and this is likely an error`,
    ]);
  });

  it('refuses an empty file and a file it cannot read', () => {
    const empty = file('empty.zed', '\n');
    expect(run(empty)).toEqual({ code: 1, stdout: '', stderr: [`${empty}: attempted to compile empty schema`] });
    const { code, stderr } = run(join(dir, 'none.zed'));
    expect(code).toBe(1);
    expect(stderr[0]).toMatch(/none\.zed: failed to read schema file: ENOENT/);
  });

  it('is registered on the command line, with paths relative to the working directory', async () => {
    // tsx from this checkout: the working directory is outside it.
    const pemba = (cwd: string) =>
      promisify(execFile)(
        join(root, 'node_modules/.bin/tsx'),
        [join(root, 'src/cli/main.ts'), 'schema', 'compile', 'root.zed'],
        { cwd },
      );
    const { stdout } = await pemba(join(dir, 'app'));
    expect(stdout).toBe(EXPECTED);
    const failed = await pemba(join(dir, 'bad')).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({
      code: 1,
      stderr:
        'defs.zed:3:20: could not lookup definition `usr` for relation `viewer`: object definition `usr` not found\n',
    });
  }, 60_000);
});
