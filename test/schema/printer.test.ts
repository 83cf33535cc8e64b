import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileSchema, printSchema } from '../../src/schema/index.js';
import type { CompiledSchema } from '../../src/schema/ir.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/spicedb-conformance', import.meta.url));

/** The IR as plain data without source positions, which printing cannot preserve. */
function withoutPositions(value: unknown): unknown {
  if (value instanceof Map) return [...value].map(([k, v]) => [k, withoutPositions(v)]);
  if (Array.isArray(value)) return value.map(withoutPositions);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !['position', 'expressionPosition', 'parameterPositions'].includes(k))
        .map(([k, v]) => [k, withoutPositions(v)]),
    );
  }
  return value;
}

function expectRoundTrip(text: string): CompiledSchema {
  const compiled = compileSchema(text);
  const printed = printSchema(compiled);
  const again = compileSchema(printed);
  expect(withoutPositions(again)).toEqual(withoutPositions(compiled));
  // Printing is a fixed point after one round.
  expect(printSchema(again)).toBe(printed);
  return compiled;
}

describe('printSchema', () => {
  it('prints canonical text', () => {
    const text = `use expiration
definition user {}
/** Tuesday only. */
caveat tuesday(day string, seen list<map<int>>) {
    day == 'tuesday' && size(seen) > 0
}
// A group.
definition team {
  relation member: user | team#member
}
definition tenant/doc {
  relation viewer: user | user:* | team#member | user with tuesday | user with expiration | user with tuesday and expiration
  relation parent: tenant/doc
  /**
   * Readers.
   *
   *   Indented.
   */
  permission view = viewer + parent->view - nil & viewer
  permission all = parent.all(view) + parent.any(view)
}`;
    expect(printSchema(compileSchema(text))).toBe(`use expiration

/** Tuesday only. */
caveat tuesday(day string, seen list<map<int>>) {
\tday == 'tuesday' && size(seen) > 0
}

definition user {}

/** A group. */
definition team {
\trelation member: user | team#member
}

definition tenant/doc {
\trelation viewer: user | user:* | team#member | user with tuesday | user with expiration | user with tuesday and expiration
\trelation parent: tenant/doc

\t/**
\t * Readers.
\t *
\t *   Indented.
\t */
\tpermission view = (viewer + parent->view) - (nil & viewer)
\tpermission all = parent.all(view) + parent->view
}
`);
  });

  it('round-trips doc comments of every shape', () => {
    const s = expectRoundTrip(`/** one line */
definition user {}
// line
//   indented line
//
// after blank
definition team {
  /* has a */ /* two on a line */
  relation member: user
  // mentions */ in the text
  relation other: user
  /** *starred* */
  permission view = member
}`);
    const team = s.definitions.get('team')!;
    expect(team.doc).toBe('line\n  indented line\n\nafter blank');
    expect(team.relations.get('member')!.doc).toBe('has a\ntwo on a line');
    expect(team.relations.get('other')!.doc).toBe('mentions */ in the text');
    expect(team.relations.get('view')!.doc).toBe('*starred*');
    expect(printSchema(s)).toContain('\t// mentions */ in the text\n\trelation other: user');
  });

  it('round-trips caveat expressions with comments, braces in strings and several lines', () => {
    const s = expectRoundTrip(`caveat c(a map<int>, b string) {
  // why
  a['}'] == 1 &&
    b == "{" // end
}`);
    expect(s.caveats.get('c')!.expression).toBe(`// why\n  a['}'] == 1 &&\n    b == "{" // end`);
  });

  it('round-trips every precedence shape', () => {
    for (const expr of [
      'a - b - c',
      'a - (b - c)',
      'a - b + c',
      '(a - b) + c',
      'a + b & c',
      'a & b + c',
      'a - b & c',
      '(a & b) - c',
      'a & (b - c)',
      'nil',
      'nil + a',
    ]) {
      const names = expr.replace(/\b([abc])\b/g, '$1$1$1');
      expectRoundTrip(
        `definition user {}\ndefinition doc {\n  relation aaa: user\n  relation bbb: user\n  relation ccc: user\n  permission ppp = ${names}\n}`,
      );
    }
  });

  it('prints partial expansions as plain members and drops use flags the IR does not keep', () => {
    const s = expectRoundTrip(
      'use partial\nuse typechecking\ndefinition user {}\npartial p {\n  relation viewer: user\n}\ndefinition doc {\n  ...p\n  permission view: user = viewer\n}',
    );
    expect(printSchema(s)).toBe(
      'definition user {}\n\ndefinition doc {\n\trelation viewer: user\n\tpermission view = viewer\n}\n',
    );
  });

  describe('round-trips every SpiceDB conformance fixture schema', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml'));
    it('has fixtures', () => expect(files.length).toBeGreaterThan(50));
    it.each(files)('%s', (file) => {
      const { schema } = parse(readFileSync(join(FIXTURES, file), 'utf8')) as { schema: string };
      const compiled = expectRoundTrip(schema);
      expect(compiled.definitions.size).toBeGreaterThan(0);
    });
  });
});
