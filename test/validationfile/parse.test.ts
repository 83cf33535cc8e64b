import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseValidationFile } from '../../src/validationfile/parse.js';

const parse = (text: string, readFile?: (p: string) => string) => parseValidationFile(text, 'f.yaml', { readFile });
const lines = (text: string) => text.split('\n');

describe('parseValidationFile', () => {
  const literal = [
    '---',
    'schema: |-',
    '  definition user {}',
    '  definition doc {',
    '    relation viewer: user',
    '  }',
    'relationships: |-',
    '  // the readers',
    '  doc:1#viewer@user:tom',
    '',
    '  doc:2#viewer@user:fred',
    'assertions:',
    '  assertTrue:',
    '    - doc:1#viewer@user:tom',
    '    - \'doc:1#viewer@user:fred with {"a": [1]}\'',
    '  assertFalse:',
    '    - "doc:2#viewer@user:tom"',
    '  assertCaveated: []',
    'validation:',
    '  doc:1#viewer:',
    '    - "[user:tom] is <doc:1#viewer>"',
    '  "doc:2#viewer": []',
  ].join('\n');

  it('reads every section with source lines', () => {
    const { file, problems } = parse(literal);
    expect(problems).toEqual([]);
    expect(file.schema?.text).toBe('definition user {}\ndefinition doc {\n  relation viewer: user\n}');
    expect(file.relationships.map((r) => [r.text, r.at.line])).toEqual([
      ['doc:1#viewer@user:tom', 9],
      ['doc:2#viewer@user:fred', 11],
    ]);
    expect(file.assertions.map((a) => [a.kind, a.at.line, a.context])).toEqual([
      ['assertTrue', 14, undefined],
      ['assertTrue', 15, { a: [1] }],
      ['assertFalse', 17, undefined],
    ]);
    expect(file.assertions[1].subject).toEqual({ type: 'user', id: 'fred', relation: '...' });
    expect(file.expectedRelations.map((e) => [e.keyText, e.at.line, e.subjects.length])).toEqual([
      ['doc:1#viewer', 20, 1],
      ['doc:2#viewer', 22, 0],
    ]);
    expect(file.expectedRelations[0].subjects[0].at.line).toBe(21);
    expect(file.expectedRelations[0].subjects[0].reasons).toEqual([{ type: 'doc', id: '1', relation: 'viewer' }]);
  });

  it('maps schema positions into the file, columns included', () => {
    const { file } = parse(literal);
    expect(file.schema!.locate(3, 3)).toEqual({ path: 'f.yaml', line: 5, column: 5 });
    expect(file.schema!.locate(1, 1)).toEqual({ path: 'f.yaml', line: 3, column: 3 });
  });

  it('maps folded (>-) scalars with blank separator lines', () => {
    const text = [
      'schema: >-',
      '  definition user {}',
      '',
      '  definition doc {',
      '    relation viewer: user',
      '',
      '    permission view = viewer',
      '  }',
      'relationships: >-',
      '  doc:1#viewer@user:tom',
      '',
      '  doc:2#viewer@user:fred',
      '',
      '',
      '  doc:3#viewer@user:amy',
      'assertions: null',
    ].join('\n');
    const { file, problems } = parse(text);
    expect(problems).toEqual([]);
    expect(file.relationships.map((r) => r.at.line)).toEqual([10, 12, 15]);
    const schemaLines = file.schema!.text.split('\n');
    const view = schemaLines.findIndex((l) => l.includes('permission view')) + 1;
    expect(file.schema!.locate(view, 3).line).toBe(7);
    const close = schemaLines.findIndex((l) => l === '}') + 1;
    expect(file.schema!.locate(close, 1).line).toBe(8);
  });

  it('maps a folded line that joins several source lines to its first line', () => {
    const text = ['relationships: >', '  doc:1#viewer@user:tom', '  doc:2#viewer@user:fred', 'schema: x'].join('\n');
    const { file, problems } = parse(text);
    // Folding joins the two lines into one, which is not a valid relationship.
    expect(problems).toHaveLength(1);
    expect(problems[0].line).toBe(2);
    expect(file.relationships).toEqual([]);
  });

  it('reports bad relationships, assertions and expectations at their lines', () => {
    const text = [
      'schema: "definition user {}"',
      'relationships: |',
      '  doc:1#viewer@user:tom',
      '  doc:1#viewer@user',
      'assertions:',
      '  assertTrue:',
      '    - "doc:1#viewer"',
      '    - "doc:1#viewer@user:tom with {nope}"',
      '  assertMaybe: []',
      'validation:',
      '  doc:1:',
      '    - "[user:tom] is <doc:1#viewer>"',
      '  doc:1#viewer:',
      '    - "user:tom"',
      '    - "[user:tom] is doc:1#viewer"',
      'extra: 1',
    ].join('\n');
    const { problems } = parse(text);
    const at = problems.map((p) => [p.line, p.message]);
    expect(at).toEqual([
      [16, expect.stringContaining('unknown key `extra`')],
      [4, expect.stringContaining('needs the form type:id')],
      [7, expect.stringContaining('`@`')],
      [8, expect.stringContaining('not valid JSON')],
      [9, expect.stringContaining('unknown assertion kind `assertMaybe`')],
      [11, expect.stringContaining('type:id#relation')],
      [14, expect.stringContaining('`[subject]`')],
      [15, expect.stringContaining('<object#relation>')],
    ]);
  });

  it('reports YAML syntax errors, several documents, and schema problems', () => {
    expect(parse('schema: [unclosed\n').problems[0].message).toMatch(/^YAML/);
    const two = parse('schema: a\n---\nschema: b\n').problems;
    expect(two[0]).toMatchObject({ line: 3, message: expect.stringContaining('one YAML document') });
    expect(parse('relationships: ""\n').problems[0].message).toMatch(/missing `schema`/);
    expect(parse('schema: a\nschemaFile: b\n').problems[0]).toMatchObject({
      line: 2,
      message: expect.stringContaining('not both'),
    });
    expect(parse('').problems[0].message).toMatch(/empty/);
    expect(parse('- a\n').problems[0].message).toMatch(/mapping/);
    expect(parse('schema: a\nschema: b\n').problems[0].message).toMatch(/YAML.*unique|YAML/);
  });

  it('reads schemaFile relative to the validation file', () => {
    const read: string[] = [];
    const { file, problems } = parseValidationFile('schemaFile: ./s.zed\n', '/some/dir/v.yaml', {
      readFile: (p) => {
        read.push(p);
        return 'definition user {}';
      },
    });
    expect(problems).toEqual([]);
    expect(read).toEqual(['/some/dir/s.zed']);
    expect(file.schema!.locate(4, 2)).toEqual({ path: '/some/dir/s.zed', line: 4, column: 2 });
    const missing = parseValidationFile('schemaFile: nope.zed\n', '/d/v.yaml', {
      readFile: () => {
        throw new Error('ENOENT');
      },
    });
    expect(missing.problems[0].message).toMatch(/cannot read schemaFile `\/d\/nope.zed`: ENOENT/);
  });
});

describe('the SpiceDB conformance fixtures', () => {
  const dir = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/spicedb-conformance');
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const notice = readFileSync(join(dir, 'NOTICE.md'), 'utf8');
  const listed = new Set(
    notice.slice(notice.indexOf('use caveats or relationship expiration:')).split(/\s+/).slice(5).filter(Boolean),
  );

  it('has 73 files, 23 of them using caveats or expiration', () => {
    expect(names).toHaveLength(73);
    expect(listed.size).toBe(23);
  });

  it.each(names)('%s parses, every entry mapped to its line', (name) => {
    const path = join(dir, name);
    const text = readFileSync(path, 'utf8');
    const { file, problems } = parseValidationFile(text, path);
    expect(problems).toEqual([]);
    expect(file.schema).toBeDefined();
    for (const r of file.relationships) expect(lines(text)[r.at.line - 1]).toContain(r.text);
    for (const a of file.assertions) expect(lines(text)[a.at.line - 1]).toContain(a.text.slice(0, 20));
  });
});
