import { execFile } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { validateCommand } from '../src/cli/validate.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (name: string) => relative(process.cwd(), join(root, 'test/fixtures/validate', name));

async function validate(...names: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const sink = (line: string) => lines.push(line);
  const code = await validateCommand(names.map(fixture), { out: sink, err: sink });
  return { code, lines };
}

describe('pemba validate', () => {
  it('passes a file whose assertions and expected relations hold', async () => {
    const { code, lines } = await validate('pass.yaml');
    expect(lines).toEqual([
      `${fixture('pass.yaml')}: ok (6 relationships loaded, 5 assertions run, 2 expected relations validated)`,
    ]);
    expect(code).toBe(0);
  });

  it('reads schemaFile relative to the validation file', async () => {
    expect((await validate('schemafile.yaml')).code).toBe(0);
  });

  it('reports failed assertions and expected relations as FILE:LINE:COL: message', async () => {
    const { code, lines } = await validate('failing.yaml');
    const f = fixture('failing.yaml');
    expect(lines).toEqual([
      `${f}:15:7: assertTrue failed: \`document:readme#view@user:fred\`: expected HAS_PERMISSION, got NO_PERMISSION`,
      `${f}:17:7: assertFalse failed: \`document:readme#view@user:ann\`: expected NO_PERMISSION, got HAS_PERMISSION`,
      `${f}:20:7: \`document:readme#view\`: subject \`user:tom\` differs: expected \`[user:tom] is <document:readme#editor>\`, computed \`[user:tom] is <document:readme#viewer>\``,
      `${f}:21:7: \`document:readme#view\`: expected subject \`user:zed\` is not found`,
      `${f}:19:3: \`document:readme#view\`: subject \`user:ann\` is found but not listed: \`[user:ann] is <document:readme#editor>\``,
      `${f}: FAILED with 5 problems (2 relationships loaded, 3 assertions run, 1 expected relation validated)`,
    ]);
    expect(code).toBe(1);
  });

  it('maps schema errors to the line and column in the file', async () => {
    const literal = await validate('schema-error.yaml');
    expect(literal.code).toBe(1);
    expect(literal.lines[0]).toBe(
      `${fixture('schema-error.yaml')}:6:32: schema error: relation/permission \`nosuchrelation\` not found under definition \`document\``,
    );
    const folded = await validate('schema-error-folded.yaml');
    expect(folded.lines[0]).toMatch(
      new RegExp(`^${fixture('schema-error-folded.yaml')}:8:32: schema error: .*\`ghost\``),
    );
    const external = await validate('bad-schemafile.yaml');
    expect(external.lines[0]).toMatch(/bad-schema\.zed:5:30: schema error: .*`ghost`/);
    expect(external.code).toBe(1);
  });

  it('reports relationships the schema rejects, and malformed entries, at their lines', async () => {
    const bad = await validate('bad-relationship.yaml');
    expect(bad.code).toBe(1);
    expect(bad.lines.slice(0, 2)).toEqual([
      expect.stringMatching(
        /bad-relationship\.yaml:9:3: relationship `document:readme#viewer@document:other` does not fit the schema: .*not allowed/,
      ),
      expect.stringMatching(
        /bad-relationship\.yaml:10:3: relationship `document:readme#owner@user:tom` does not fit the schema: .*`owner` not found/,
      ),
    ]);
    const malformed = await validate('malformed.yaml');
    expect(malformed.code).toBe(1);
    expect(malformed.lines.map((l) => l.replace(/: .*/, ''))).toEqual([
      `${fixture('malformed.yaml')}:8:3`,
      `${fixture('malformed.yaml')}:11:7`,
      `${fixture('malformed.yaml')}:12:3`,
      fixture('malformed.yaml'),
    ]);
  });

  it('evaluates caveats: conditional without context, decided with it', async () => {
    const ok = await validate('caveat.yaml');
    expect(ok.code, ok.lines.join('\n')).toBe(0);
    const { code, lines } = await validate('caveat-fail.yaml');
    expect(code).toBe(1);
    expect(lines[0]).toBe(
      `${fixture('caveat-fail.yaml')}:16:7: assertTrue failed: \`document:readme#view@user:tom\`: expected HAS_PERMISSION, got CONDITIONAL_PERMISSION (missing context: day)`,
    );
  });

  it('validates several files and fails if any fails', async () => {
    const { code, lines } = await validate('pass.yaml', 'caveat-fail.yaml', 'nope.yaml');
    expect(code).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/nope\.yaml:1:1: cannot validate: ENOENT/));
    expect(lines.at(-1)).toBe('1 file passed, 2 failed');
  });

  it('runs as the pemba command', async () => {
    const run = (file: string) =>
      promisify(execFile)('npx', ['tsx', join(root, 'src/cli/main.ts'), 'validate', file], { cwd: root }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
    const [ok, failing] = await Promise.all([
      run('test/fixtures/validate/pass.yaml'),
      run('test/fixtures/validate/failing.yaml'),
    ]);
    expect(ok).toEqual({ code: 0, stdout: expect.stringContaining('pass.yaml: ok') });
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('test/fixtures/validate/failing.yaml:15:7: assertTrue failed');
  }, 30_000);
});
