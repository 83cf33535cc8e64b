/** `pemba validate` on OpenFGA store test files (`.fga.yaml`, the format of `fga model test`). */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateCommand } from '../../src/cli/validate.js';
import { isFgaStoreFile, parseCsvTuples } from '../../src/cli/validate-fga.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

async function validate(...files: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const output = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
  const code = await validateCommand(files.map(fixture), output);
  return { code, lines };
}

describe('pemba validate: OpenFGA store test files', () => {
  it('recognises store files by suffix or content', () => {
    expect(isFgaStoreFile('x/anything.fga.yaml')).toBe(true);
    expect(isFgaStoreFile(fixture('store-tests.yaml'))).toBe(true);
    expect(isFgaStoreFile('v.yaml', 'schema: "definition user {}"\nrelationships: ""\n')).toBe(false);
    expect(isFgaStoreFile('v.yaml', 'model: |\n  model\n    schema 1.1\n  type user\n')).toBe(true);
    expect(isFgaStoreFile('v.yaml', 'tests: []\n')).toBe(true);
    expect(isFgaStoreFile('schema.zed')).toBe(false);
  });

  it('passes a file whose assertions hold (inline, CSV, JSON and conditional tuples; check, list_objects, list_users)', async () => {
    const { code, lines } = await validate('passing.fga.yaml');
    expect(lines.join('\n')).toMatch(
      /passing\.fga\.yaml: ok \(OpenFGA: 4 tests, \d+ tuples loaded, 18 assertions run\)/,
    );
    expect(code).toBe(0);
  });

  it('reads model_file and tuple_files, and files recognised by content', async () => {
    const { code, lines } = await validate('model-file.fga.yaml', 'store-tests.yaml');
    expect(lines.join('\n'), lines.join('\n')).toContain('2 files passed, 0 failed');
    expect(code).toBe(0);
  });

  it('reports every assertion that does not hold, naming the test and the assertion, at its line', async () => {
    const { code, lines } = await validate('failing.fga.yaml');
    const text = lines.join('\n');
    expect(code).toBe(1);
    expect(text).toMatch(
      /failing\.fga\.yaml:21:11: wrong check: check document:1#viewer@user:anne: expected false, got true/,
    );
    expect(text).toMatch(
      /failing\.fga\.yaml:\d+:\d+: wrong lists: list_objects document#viewer@user:anne: expected \[document:2\], got \[document:1\]/,
    );
    expect(text).toMatch(
      /wrong lists: list_users document:1#owner \(user_filter user\): expected \[user:bob\], got \[user:anne\]/,
    );
    expect(text).toMatch(/unknown relation: check document:1#editor@user:anne: failed: /);
    expect(text).toMatch(/failing\.fga\.yaml: FAILED with 4 problems/);
    expect(text).not.toMatch(/owner: true.*expected/);
  });

  it('reports an invalid model at the model', async () => {
    const { code, lines } = await validate('bad-model.fga.yaml');
    expect(code).toBe(1);
    expect(lines.join('\n')).toMatch(/bad-model\.fga\.yaml:1:1: invalid model: /);
  });

  it('counts OpenFGA and SpiceDB files together', async () => {
    const { code, lines } = await validate('passing.fga.yaml', 'failing.fga.yaml');
    expect(code).toBe(1);
    expect(lines.at(-1)).toBe('1 file passed, 1 failed');
  });

  it("parses fga's CSV tuples (quoted fields, conditions, usersets)", () => {
    const csv =
      'user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context\n' +
      'group,eng,member,viewer,document,"a,b",,\r\n' +
      'user,ann,,viewer,document,1,in_range,"{""x"": 1, ""y"": [1,2]}"\n';
    expect(parseCsvTuples(csv, 't.csv')).toEqual([
      { user: 'group:eng#member', relation: 'viewer', object: 'document:a,b' },
      {
        user: 'user:ann',
        relation: 'viewer',
        object: 'document:1',
        condition: { name: 'in_range', context: { x: 1, y: [1, 2] } },
      },
    ]);
    expect(() => parseCsvTuples('user,relation\nuser:a,viewer\n', 'bad.csv')).toThrow(/user_type/);
  });
});
