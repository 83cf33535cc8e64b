/**
 * authzed.api.v1 messages ↔ Pemba's library types. The API spells "unset" as the empty string and
 * "the object itself" as an empty optional_relation; Pemba uses undefined and `...` (ELLIPSIS).
 * Inputs are assumed to have passed validateMessage (required fields present, names well-formed).
 */
import { v1 } from '@authzed/authzed-node';
import type { JsonObject } from '@protobuf-ts/runtime';
import type {
  ObjectRef,
  Precondition,
  Relationship,
  RelationshipFilter,
  RelationshipUpdate,
  SubjectFilter,
  SubjectRef,
} from '../relationships/relationship.js';
import type { Consistency, ExpandTree, Permissionship } from '../requests/requests.js';
import { ELLIPSIS } from '../schema/ir.js';
import { invalidArgument } from '../errors/index.js';

type Timestamp = NonNullable<v1.Relationship['optionalExpiresAt']>;

export const objectRef = (o: v1.ObjectReference | undefined): ObjectRef => ({
  type: o?.objectType ?? '',
  id: o?.objectId ?? '',
});

export const toObjectReference = (o: ObjectRef): v1.ObjectReference => ({ objectType: o.type, objectId: o.id });

export function subjectRef(s: v1.SubjectReference | undefined): SubjectRef {
  const o = s?.object;
  return { type: o?.objectType ?? '', id: o?.objectId ?? '', relation: s?.optionalRelation || ELLIPSIS };
}

export function toSubjectReference(s: SubjectRef): v1.SubjectReference {
  return { object: toObjectReference(s), optionalRelation: s.relation === ELLIPSIS ? '' : s.relation };
}

/**
 * A caveat context (protobuf Struct) as the plain JSON object it stands for. Binary protobuf, and
 * JSON numbers too large for a double, can carry NaN and ±Infinity, which JSON (and so a stored
 * context) cannot: those are refused, naming the field. A Value with no kind set reads as null, as in SpiceDB.
 */
export function structToObject(s: v1.PbStruct | undefined): Record<string, unknown> | undefined {
  return s && structToJson(s, '');
}

function structToJson(s: v1.PbStruct, path: string): Record<string, unknown> {
  // fromEntries defines own properties, so a key such as `__proto__` stays an ordinary key.
  return Object.fromEntries(Object.entries(s.fields).map(([k, v]) => [k, valueToJson(v, path ? `${path}.${k}` : k)]));
}

function valueToJson(v: v1.PbStruct['fields'][string], path: string): unknown {
  const kind = v.kind;
  switch (kind.oneofKind) {
    case 'numberValue':
      if (!Number.isFinite(kind.numberValue)) {
        throw invalidArgument(
          `caveat context value \`${path}\` is ${kind.numberValue}, but context numbers must be finite`,
        );
      }
      return kind.numberValue;
    case 'stringValue':
      return kind.stringValue;
    case 'boolValue':
      return kind.boolValue;
    case 'structValue':
      return structToJson(kind.structValue, path);
    case 'listValue':
      return kind.listValue.values.map((x, i) => valueToJson(x, `${path}[${i}]`));
    default:
      return null;
  }
}

export function objectToStruct(o: Record<string, unknown> | undefined): v1.PbStruct | undefined {
  return o ? v1.PbStruct.fromJson(o as JsonObject) : undefined;
}

export function timestampToDate(t: Timestamp): Date {
  return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6));
}

export function dateToTimestamp(d: Date): Timestamp {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1e6 };
}

export function relationship(r: v1.Relationship): Relationship {
  const out: Relationship = { resource: objectRef(r.resource), relation: r.relation, subject: subjectRef(r.subject) };
  if (r.optionalCaveat?.caveatName) {
    out.caveat = { name: r.optionalCaveat.caveatName };
    const context = structToObject(r.optionalCaveat.context);
    if (context) out.caveat.context = context;
  }
  if (r.optionalExpiresAt) out.expiresAt = timestampToDate(r.optionalExpiresAt);
  return out;
}

export function toApiRelationship(r: Relationship): v1.Relationship {
  const out: v1.Relationship = {
    resource: toObjectReference(r.resource),
    relation: r.relation,
    subject: toSubjectReference(r.subject),
  };
  if (r.caveat) out.optionalCaveat = { caveatName: r.caveat.name, context: objectToStruct(r.caveat.context) };
  if (r.expiresAt) out.optionalExpiresAt = dateToTimestamp(r.expiresAt);
  return out;
}

export function relationshipFilter(f: v1.RelationshipFilter): RelationshipFilter {
  const out: RelationshipFilter = {};
  if (f.resourceType) out.resourceType = f.resourceType;
  if (f.optionalResourceId) out.resourceId = f.optionalResourceId;
  if (f.optionalResourceIdPrefix) out.resourceIdPrefix = f.optionalResourceIdPrefix;
  if (f.optionalRelation) out.relation = f.optionalRelation;
  const s = f.optionalSubjectFilter;
  if (s) {
    const subject: SubjectFilter = { type: s.subjectType };
    if (s.optionalSubjectId) subject.id = s.optionalSubjectId;
    // A present RelationFilter with relation "" selects direct subjects only.
    if (s.optionalRelation) subject.relation = s.optionalRelation.relation || ELLIPSIS;
    out.subject = subject;
  }
  return out;
}

export function toApiRelationshipFilter(f: RelationshipFilter): v1.RelationshipFilter {
  return {
    resourceType: f.resourceType ?? '',
    optionalResourceId: f.resourceId ?? '',
    optionalResourceIdPrefix: f.resourceIdPrefix ?? '',
    optionalRelation: f.relation ?? '',
    optionalSubjectFilter: f.subject && {
      subjectType: f.subject.type,
      optionalSubjectId: f.subject.id ?? '',
      optionalRelation:
        f.subject.relation === undefined
          ? undefined
          : { relation: f.subject.relation === ELLIPSIS ? '' : f.subject.relation },
    },
  };
}

export function precondition(p: v1.Precondition): Precondition {
  const operation = p.operation === v1.Precondition_Operation.MUST_MATCH ? 'MUST_MATCH' : 'MUST_NOT_MATCH';
  return { operation, filter: relationshipFilter(p.filter!) };
}

const UPDATE_OPERATIONS = {
  [v1.RelationshipUpdate_Operation.CREATE]: 'CREATE',
  [v1.RelationshipUpdate_Operation.TOUCH]: 'TOUCH',
  [v1.RelationshipUpdate_Operation.DELETE]: 'DELETE',
} as const;

export function relationshipUpdate(u: v1.RelationshipUpdate): RelationshipUpdate {
  const operation = UPDATE_OPERATIONS[u.operation as keyof typeof UPDATE_OPERATIONS];
  if (!operation) throw invalidArgument(`unknown relationship update operation ${u.operation}`);
  return { operation, relationship: relationship(u.relationship!) };
}

export function toApiUpdate(operation: 'TOUCH' | 'DELETE', r: Relationship): v1.RelationshipUpdate {
  const op = operation === 'TOUCH' ? v1.RelationshipUpdate_Operation.TOUCH : v1.RelationshipUpdate_Operation.DELETE;
  return { operation: op, relationship: toApiRelationship(r) };
}

export function consistency(c: v1.Consistency | undefined): Consistency | undefined {
  const r = c?.requirement;
  switch (r?.oneofKind) {
    case 'minimizeLatency':
      return { mode: 'minimize_latency' };
    case 'fullyConsistent':
      return { mode: 'fully_consistent' };
    case 'atLeastAsFresh':
      return { mode: 'at_least_as_fresh', token: r.atLeastAsFresh.token };
    case 'atExactSnapshot':
      return { mode: 'at_exact_snapshot', token: r.atExactSnapshot.token };
    default:
      return undefined;
  }
}

export const zedToken = (token: string): v1.ZedToken => ({ token });
export const cursor = (token: string): v1.Cursor => ({ token });

const CHECK_PERMISSIONSHIP: Record<Permissionship, v1.CheckPermissionResponse_Permissionship> = {
  HAS_PERMISSION: v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
  NO_PERMISSION: v1.CheckPermissionResponse_Permissionship.NO_PERMISSION,
  CONDITIONAL_PERMISSION: v1.CheckPermissionResponse_Permissionship.CONDITIONAL_PERMISSION,
};
export const checkPermissionship = (p: Permissionship) => CHECK_PERMISSIONSHIP[p];

export function lookupPermissionship(p: Permissionship): v1.LookupPermissionship {
  return p === 'CONDITIONAL_PERMISSION'
    ? v1.LookupPermissionship.CONDITIONAL_PERMISSION
    : v1.LookupPermissionship.HAS_PERMISSION;
}

export function partialCaveatInfo(missing: string[] | undefined): v1.PartialCaveatInfo | undefined {
  return missing && missing.length > 0 ? { missingRequiredContext: missing } : undefined;
}

const TREE_OPERATIONS = {
  union: v1.AlgebraicSubjectSet_Operation.UNION,
  intersection: v1.AlgebraicSubjectSet_Operation.INTERSECTION,
  exclusion: v1.AlgebraicSubjectSet_Operation.EXCLUSION,
} as const;

export function toApiTree(t: ExpandTree): v1.PermissionRelationshipTree {
  const base = { expandedObject: toObjectReference(t.expandedObject), expandedRelation: t.expandedRelation };
  if (t.kind === 'leaf') {
    return { ...base, treeType: { oneofKind: 'leaf', leaf: { subjects: t.subjects.map(toSubjectReference) } } };
  }
  return {
    ...base,
    treeType: {
      oneofKind: 'intermediate',
      intermediate: { operation: TREE_OPERATIONS[t.operation], children: t.children.map(toApiTree) },
    },
  };
}

/** A paged read's consistency, page size and resume point (limit 0 means none). */
export function page(req: { consistency?: v1.Consistency; optionalLimit: number; optionalCursor?: v1.Cursor }): {
  consistency?: Consistency;
  limit?: number;
  cursor?: string;
} {
  return {
    consistency: consistency(req.consistency),
    limit: req.optionalLimit || undefined,
    cursor: req.optionalCursor?.token,
  };
}
