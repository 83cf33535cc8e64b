/**
 * Shared by check-trace.test.ts (the library) and server/debug-trace.test.ts (the API): a schema and
 * relationships exercising arrows (batched, through an alias, `.all()`), intersections, exclusions,
 * caveats (direct, through subject sets and arrows, combined), wildcards and nested groups, checks
 * whose trace trees Pemba and the real SpiceDB should draw alike, and both trees in one comparable
 * text form.
 *
 * What the form leaves out differs by nature: durations, trace ids, sources, and the order of
 * sub-problems (SpiceDB evaluates a node's sub-problems concurrently and lists them as they finish;
 * the form sorts them). A combined caveat expression's operands are sorted too (their order follows
 * the same race), with the `__i` suffixes SpiceDB gives shared parameter names by that order.
 *
 * The checks avoid what differs by design: Pemba evaluates a union's branches (and a batch's
 * objects) in turn and stops at the first that grants, where SpiceDB races them; so the checks
 * here are negative, conditional, or reach their answer through a single branch.
 */
import { v1 } from '@authzed/authzed-node';
import type { CheckTraceNode } from '../../src/requests/requests.js';

export const SCHEMA = `caveat onday(day int, allowed int) {
  day == allowed
}

caveat flag(on bool) {
  on
}

definition user {}

definition group {
  relation member: user | user with onday | group#member | group#member with flag
}

definition folder {
  relation viewer: user | group#member
  relation owner: user
  permission view = viewer + owner
  permission read = viewer
}

definition doc {
  relation parent: folder | folder with flag
  relation viewer: user | user:* | user with onday | group#member
  relation editor: user | user with flag
  relation banned: user
  permission edit = editor
  permission view = viewer + edit + parent->view
  permission inherited = parent->read
  permission both = viewer & editor
  permission allowed = viewer - banned
  permission every = parent.all(view)
}`;

export const RELATIONSHIPS = [
  // Nested groups: eng ⊇ core ⊇ infra ∋ ann.
  'doc:groups#viewer@group:eng#member',
  'group:eng#member@group:core#member',
  'group:core#member@group:infra#member',
  'group:infra#member@user:ann',
  // Arrows to two folders.
  'doc:arrow#parent@folder:f1',
  'doc:arrow#parent@folder:f2',
  'folder:f1#owner@user:bob',
  'folder:f2#viewer@user:ann',
  // Intersection, exclusion, wildcard.
  'doc:both#viewer@user:ann',
  'doc:both#editor@user:ann',
  'doc:ex#viewer@user:*',
  'doc:ex#banned@user:eve',
  // Caveats: direct, on an arrow, through a subject set, combined.
  'doc:cav#viewer@user:ann[onday:{"allowed":3}]',
  'doc:cav2#parent@folder:f3[flag]',
  'folder:f3#viewer@user:dan',
  'doc:cav3#viewer@group:cg#member',
  'group:cg#member@user:cat[onday:{"allowed":2}]',
  'doc:cav4#viewer@user:ann[onday:{"allowed":3}]',
  'doc:cav4#editor@user:ann[flag]',
];

export interface TraceCase {
  name: string;
  resource: string;
  permission: string;
  subject: string;
  context?: Record<string, unknown>;
  /** The check's answer. */
  answer: 'HAS_PERMISSION' | 'NO_PERMISSION' | 'CONDITIONAL_PERMISSION';
}

export const CASES: TraceCase[] = [
  {
    name: 'nested groups, found',
    resource: 'doc:groups',
    permission: 'viewer',
    subject: 'user:ann',
    answer: 'HAS_PERMISSION',
  },
  {
    name: 'nested groups, not found',
    resource: 'doc:groups',
    permission: 'view',
    subject: 'user:zed',
    answer: 'NO_PERMISSION',
  },
  {
    name: 'arrow to a batch of folders',
    resource: 'doc:arrow',
    permission: 'view',
    subject: 'user:zed',
    answer: 'NO_PERMISSION',
  },
  {
    name: 'arrow through an alias, mixed batch',
    resource: 'doc:arrow',
    permission: 'inherited',
    subject: 'user:ann',
    answer: 'HAS_PERMISSION',
  },
  { name: '.all() arrow', resource: 'doc:arrow', permission: 'every', subject: 'user:bob', answer: 'NO_PERMISSION' },
  { name: 'alias at the top', resource: 'doc:both', permission: 'edit', subject: 'user:ann', answer: 'HAS_PERMISSION' },
  { name: 'intersection', resource: 'doc:both', permission: 'both', subject: 'user:ann', answer: 'HAS_PERMISSION' },
  {
    name: 'exclusion through a wildcard',
    resource: 'doc:ex',
    permission: 'allowed',
    subject: 'user:bob',
    answer: 'HAS_PERMISSION',
  },
  {
    name: 'exclusion, excluded',
    resource: 'doc:ex',
    permission: 'allowed',
    subject: 'user:eve',
    answer: 'NO_PERMISSION',
  },
  {
    name: 'caveat missing context',
    resource: 'doc:cav',
    permission: 'view',
    subject: 'user:ann',
    answer: 'CONDITIONAL_PERMISSION',
  },
  {
    name: 'caveat true',
    resource: 'doc:cav',
    permission: 'view',
    subject: 'user:ann',
    context: { day: 3 },
    answer: 'HAS_PERMISSION',
  },
  {
    name: 'caveat false',
    resource: 'doc:cav',
    permission: 'view',
    subject: 'user:ann',
    context: { day: 4 },
    answer: 'NO_PERMISSION',
  },
  {
    name: 'caveat on an arrow',
    resource: 'doc:cav2',
    permission: 'inherited',
    subject: 'user:dan',
    answer: 'CONDITIONAL_PERMISSION',
  },
  {
    name: 'caveat in a nested group',
    resource: 'doc:cav3',
    permission: 'viewer',
    subject: 'user:cat',
    answer: 'CONDITIONAL_PERMISSION',
  },
  {
    name: 'caveats combined',
    resource: 'doc:cav4',
    permission: 'both',
    subject: 'user:ann',
    context: { day: 3 },
    answer: 'CONDITIONAL_PERMISSION',
  },
];

/** One node of either trace, reduced to what both should agree on. */
interface Shape {
  resourceType: string;
  ids: string[];
  permission: string;
  permissionType: string;
  subject: string;
  result: string;
  caveat?: { expression: string; result: string; context: Record<string, unknown>; missing: string[]; name: string };
  /** A leaf's cached flag (undefined for a node with sub-problems). */
  cached?: boolean;
  children: Shape[];
}

const API_PERMISSIONSHIP = ['UNSPECIFIED', 'NO_PERMISSION', 'HAS_PERMISSION', 'CONDITIONAL_PERMISSION'];
const API_PERMISSION_TYPE = ['UNSPECIFIED', 'relation', 'permission'];
const API_CAVEAT_RESULT = ['UNSPECIFIED', 'UNEVALUATED', 'FALSE', 'TRUE', 'MISSING_SOME_CONTEXT'];

type ApiTrace = NonNullable<NonNullable<v1.CheckPermissionResponse['debugTrace']>['check']>;

const subjectText = (type: string, id: string, relation: string) =>
  `${type}:${id}${relation && relation !== '...' ? `#${relation}` : ''}`;

/** An authzed.api.v1.CheckDebugTrace (SpiceDB's or Pemba's server's) as a Shape. */
export function apiShape(t: ApiTrace): Shape {
  const info = t.caveatEvaluationInfo;
  const r = t.resolution;
  return {
    resourceType: t.resource!.objectType,
    ids: t.resource!.objectId.split(','),
    permission: t.permission,
    permissionType: API_PERMISSION_TYPE[t.permissionType],
    subject: subjectText(t.subject!.object!.objectType, t.subject!.object!.objectId, t.subject!.optionalRelation),
    result: API_PERMISSIONSHIP[t.result],
    caveat: info && {
      expression: info.expression,
      result: API_CAVEAT_RESULT[info.result],
      context: info.context ? (v1.PbStruct.toJson(info.context) as Record<string, unknown>) : {},
      missing: info.partialCaveatInfo?.missingRequiredContext ?? [],
      name: info.caveatName,
    },
    cached: r.oneofKind === 'wasCachedResult' ? r.wasCachedResult : undefined,
    children: r.oneofKind === 'subProblems' ? r.subProblems.traces.map(apiShape) : [],
  };
}

/** A library trace node as a Shape. */
export function libraryShape(t: CheckTraceNode): Shape {
  return {
    resourceType: t.resourceType,
    ids: t.resourceIds,
    permission: t.permission,
    permissionType: t.permissionType,
    subject: subjectText(t.subject.type, t.subject.id, t.subject.relation),
    result: t.result,
    caveat: t.caveat && {
      expression: t.caveat.expression,
      result: t.caveat.result,
      context: t.caveat.context,
      missing: t.caveat.missingContext ?? [],
      name: t.caveat.caveatName,
    },
    cached: t.subProblems.length === 0 ? t.cached : undefined,
    children: t.subProblems.map(libraryShape),
  };
}

/**
 * A combined expression with its operands sorted and the `__i` renaming dropped: `(b) && (a__1)`
 * reads `(a) && (b)`. A single caveat's expression is kept as is.
 */
function canonicalExpression(expression: string, name: string): string {
  if (name) return expression;
  const bare = expression.replace(/__\d+\b/g, '');
  for (const op of [' && ', ' || ']) {
    const parts = bare.split(op);
    if (parts.length > 1) return parts.sort().join(op);
  }
  return bare;
}

function canonicalContext(context: Record<string, unknown>): string {
  return JSON.stringify(
    Object.entries(context)
      .map(([k, v]) => [k.replace(/__\d+$/, ''), v])
      .sort(),
  );
}

/** A Shape as indented text, sub-problems sorted. */
export function render(s: Shape, indent = ''): string {
  let line = `${indent}${s.resourceType}:${[...s.ids].sort().join(',')}#${s.permission} (${s.permissionType}) ${s.result} for ${s.subject}`;
  if (s.cached !== undefined) line += ` cached=${s.cached}`;
  if (s.caveat) {
    const c = s.caveat;
    line += ` caveat ${c.name || '(combined)'} \`${canonicalExpression(c.expression, c.name)}\` ${c.result}`;
    line += ` context=${canonicalContext(c.context)} missing=${JSON.stringify([...c.missing].sort())}`;
  }
  const children = s.children.map((c) => render(c, `${indent}  `)).sort();
  return [line, ...children].join('\n');
}

/** `doc:1` → ObjectReference; `user:ann` or `group:eng#member` → SubjectReference. */
export const objectOf = (text: string) => {
  const [objectType, objectId] = text.split(':');
  return v1.ObjectReference.create({ objectType, objectId });
};
export const subjectOf = (text: string) => {
  const [object, optionalRelation = ''] = text.split('#');
  return v1.SubjectReference.create({ object: objectOf(object), optionalRelation });
};
