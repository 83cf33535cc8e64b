/**
 * Schema warnings, against SpiceDB's own expectations: the cases, messages, lines and columns of
 * SpiceDB's pkg/development/warnings_test.go (schemas indented with tabs, one column each). Where
 * SpiceDB's case is `permission view = view` alone, which both SpiceDB's WriteSchema and Pemba refuse
 * as a cycle of aliases, the permission here is `view + viewer` (same line and column for `view`),
 * with `relation viewer` on the line above.
 */
import { describe, expect, it } from 'vitest';
import { compileSchema } from '../../src/schema/compiler.js';
import { schemaWarnings } from '../../src/schema/warnings.js';

interface Case {
  name: string;
  schema: string;
  expected?: { message: string; line: number; column: number; source: string };
}

const SPICEDB_CASES: Case[] = [
  {
    name: 'no warnings',
    schema: `definition user {}
			
			definition group {
				relation direct_member: user
				permission member = direct_member
			}

			definition document {
				relation viewer: user | group#member
				permission view = viewer
			}
			`,
  },
  {
    name: 'permission referencing itself',
    schema: `definition test {
				relation viewer: test
				permission view = view + viewer	
			}`,
    expected: {
      message:
        'Permission "view" references itself, which will cause an error to be raised due to infinite recursion (permission-references-itself)',
      line: 3,
      column: 23,
      source: 'view',
    },
  },
  {
    name: 'permission referencing itself, nested',
    schema: `definition test {
				relation viewer: test
				relation editor: test
				permission view = viewer + (editor & view)	
			}`,
    expected: {
      message:
        'Permission "view" references itself, which will cause an error to be raised due to infinite recursion (permission-references-itself)',
      line: 4,
      column: 42,
      source: 'view',
    },
  },
  {
    name: 'arrow referencing relation',
    schema: `definition group {
				relation member: user
			}
			
			definition user {}

			definition document {
				relation group: group
				permission view = group->member
			}
			`,
    expected: {
      message:
        'Arrow `group->member` under permission "view" references relation "member" on definition "group"; it is recommended to point to a permission (arrow-references-relation)',
      line: 9,
      column: 23,
      source: 'group->member',
    },
  },
  {
    name: 'arrow referencing unknown relation',
    schema: `definition group {
			}
			
			definition user {}

			definition document {
				relation group: group
				permission view = group->member
			}
			`,
    expected: {
      message:
        'Arrow `group->member` under permission "view" references relation/permission "member" that does not exist on any subject types of relation "group" (arrow-references-unreachable-relation)',
      line: 8,
      column: 23,
      source: 'group->member',
    },
  },
  {
    name: 'arrow referencing subject relation',
    schema: `definition group {
				relation direct_member: user
				permission member = direct_member
			}
			
			definition user {}

			definition document {
				relation parent_group: group#member
				permission view = parent_group->member
			}
			`,
    expected: {
      message:
        'Arrow `parent_group->member` under permission "view" references relation "parent_group" that has relation "member" on subject "group": *the subject relation will be ignored for the arrow* (arrow-walks-subject-relation)',
      line: 10,
      column: 23,
      source: 'parent_group->member',
    },
  },
  {
    name: 'all arrow referencing subject relation',
    schema: `definition group {
				relation direct_member: user
				permission member = direct_member
			}
			
			definition user {}

			definition document {
				relation parent_group: group#member
				permission view = parent_group.all(member)
			}
			`,
    expected: {
      message:
        'Arrow `parent_group.all(member)` under permission "view" references relation "parent_group" that has relation "member" on subject "group": *the subject relation will be ignored for the arrow* (arrow-walks-subject-relation)',
      line: 10,
      column: 23,
      source: 'parent_group.all(member)',
    },
  },
  {
    name: 'relation referencing its parent definition in its name',
    schema: `definition user {}

			definition document {
				relation viewer: user
				permission view_document = viewer
			}`,
    expected: {
      message:
        'Permission "view_document" references parent type "document" in its name; it is recommended to drop the suffix (relation-name-references-parent)',
      line: 5,
      column: 5,
      source: 'view_document',
    },
  },
  {
    name: 'relation referencing its parent definition in its name but warning disabled',
    schema: `definition user {}

			definition document {
				relation viewer: user

				// spicedb-ignore-warning: relation-name-references-parent
				permission view_document = viewer
			}`,
  },
  {
    name: 'permission referencing itself but warning disabled',
    schema: `definition test {
				relation viewer: test
				// spicedb-ignore-warning: permission-references-itself
				permission view = view + viewer	
			}`,
  },
  {
    name: 'arrow referencing relation but warning disabled',
    schema: `definition group {
				relation member: user
			}
			
			definition user {}

			definition document {
				relation group: group

				// spicedb-ignore-warning: arrow-references-relation
				permission view = group->member
			}
			`,
  },
  {
    name: 'permission referencing itself with wrong warning disabled',
    schema: `definition test {
				relation viewer: test
				// spicedb-ignore-warning: arrow-references-relation
				permission view = view + viewer	
			}`,
    expected: {
      message:
        'Permission "view" references itself, which will cause an error to be raised due to infinite recursion (permission-references-itself)',
      line: 4,
      column: 23,
      source: 'view',
    },
  },
  {
    name: 'arrow referencing relation in the same namespace',
    schema: `definition user {}

			definition document {
				relation parent: document
				relation viewer: user
				permission view = parent->viewer
			}
			`,
  },
];

describe('schema warnings (SpiceDB warnings_test.go cases)', () => {
  it.each(SPICEDB_CASES)('$name', ({ schema, expected }) => {
    const warnings = schemaWarnings(schema).map(({ message, line, column, source }) => ({
      message,
      line,
      column,
      source,
    }));
    expect(warnings).toEqual(expected ? [expected] : []);
  });
});

describe('schema warnings', () => {
  it('names a relation (not a permission) that ends with its definition name', () => {
    const [w] = schemaWarnings('definition user {}\ndefinition org {\n  relation parent_org: org\n}');
    expect(w).toMatchObject({
      name: 'relation-name-references-parent',
      message: expect.stringMatching(/^Relation "parent_org" references parent type "org"/),
      line: 3,
      column: 3,
    });
  });

  it('writes `.any()` arrows as written, and reports several warnings in SpiceDB order', () => {
    const schema = `definition user {}

definition group {
  relation member: user
}

definition document {
  relation parent: group#member
  permission view = parent.any(member) + parent->nothing
}`;
    expect(schemaWarnings(schema).map((w) => `${w.line}:${w.column} ${w.name} ${w.source}`)).toEqual([
      '9:21 arrow-references-relation parent.any(member)',
      '9:21 arrow-walks-subject-relation parent.any(member)',
      '9:42 arrow-references-unreachable-relation parent->nothing',
      '9:42 arrow-walks-subject-relation parent->nothing',
    ]);
  });

  it('points into the partial that declares a member', () => {
    const schema = `use partial

partial viewable {
  permission view = view + viewer
}

definition document {
  relation viewer: document
  ...viewable
}`;
    expect(schemaWarnings(schema)).toEqual([
      expect.objectContaining({ name: 'permission-references-itself', line: 4, column: 21 }),
    ]);
  });

  it('compiles the schema exactly as before: warnings are computed only when asked for', () => {
    const schema = 'definition test {\n  relation viewer: test\n  permission view = view + viewer\n}';
    expect(() => compileSchema(schema)).not.toThrow();
    expect(compileSchema(schema)).not.toHaveProperty('warnings');
  });

  it('throws the schema error for an invalid schema', () => {
    expect(() => schemaWarnings('definition doc {\n  relation reader: nope\n}')).toThrow(/nope/);
  });
});
