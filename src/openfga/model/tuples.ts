/**
 * OpenFGA tuples ↔ Pemba relationships, with OpenFGA's validation of tuples against a model
 * (internal/validation and pkg/tuple in OpenFGA): writes and contextual tuples are checked in full
 * (format, types and relations defined, tupleset restrictions, type restrictions, conditions);
 * deletes only for a well-formed user, as OpenFGA does; Check/Expand/ListUsers inputs for format and
 * existence of their object type, relation and user.
 */
import { validateRelationshipContext } from '../../caveats/context.js';
import { ELLIPSIS, type CaveatParameterType, type RelationDefinition } from '../../schema/ir.js';
import type { ObjectRef, Relationship, SubjectRef } from '../../relationships/relationship.js';
import { OpenFgaError } from '../errors.js';
import type { CompiledModel } from './compile.js';
import { conditionParameters } from './conditions.js';
import type { RelationReference, TupleKey, TypeDefinition, Userset } from './types.js';
import { tuplesetRelations } from './validate.js';

// pkg/tuple's patterns; Go's `\s` is ASCII whitespace only.
const WS = '\\t\\n\\f\\r ';
const OBJECT = new RegExp(`^[^:#${WS}]+:[^#:${WS}]+$`, 'u');
const USERSET = new RegExp(`^[^:#${WS}]+:[^#${WS}]+#[^:#${WS}]+$`, 'u');
const USER_ID = new RegExp(`^[^:#${WS}]+$`, 'u');
const RELATION = new RegExp(`^[^:#@${WS}]+$`, 'u');

const count = (s: string, c: string) => s.split(c).length - 1;

/** A user as OpenFGA accepts it: at most one `:` and one `#`, no whitespace. */
export function isValidUser(user: string): boolean {
  if (count(user, ':') > 1 || count(user, '#') > 1) return false;
  return user === '*' || USER_ID.test(user) || OBJECT.test(user) || USERSET.test(user);
}

const splitObject = (s: string): [string, string] => {
  const i = s.indexOf(':');
  return i < 0 ? ['', s] : [s.slice(0, i), s.slice(i + 1)];
};
const splitObjectRelation = (s: string): [string, string] => {
  const i = s.lastIndexOf('#');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
};
/** OpenFGA's IsObjectRelation: a type before `:` and a relation after `#`. */
const isObjectRelation = (s: string) => splitObject(s)[0] !== '' && splitObjectRelation(s)[1] !== '';

/** Why a tuple or its parts are refused; `code` is decided by the caller's purpose. */
class Invalid extends Error {
  constructor(
    message: string,
    /** A condition error: OpenFGA words these with the tuple's condition. */
    readonly conditional = false,
  ) {
    super(message);
  }
}

/** `type:id` → its parts; throws OpenFgaError validation_error. */
export function parseObject(text: string): ObjectRef {
  if (typeof text !== 'string' || !OBJECT.test(text)) {
    throw new OpenFgaError('validation_error', "invalid 'object' field format");
  }
  const [type, id] = splitObject(text);
  return { type, id };
}

export interface ParsedUser {
  type: string;
  /** `*` for a typed wildcard. */
  id: string;
  /** The userset relation (`group:eng#member`), absent for an object or wildcard. */
  relation?: string;
  wildcard: boolean;
}

/** `type:id`, `type:*` or `type:id#relation` → its parts; throws OpenFgaError validation_error. */
export function parseUser(text: string): ParsedUser {
  try {
    return userParts(text);
  } catch (e) {
    if (e instanceof Invalid) throw new OpenFgaError('validation_error', e.message);
    throw e;
  }
}

function userParts(text: string): ParsedUser {
  if (typeof text !== 'string' || !isValidUser(text)) throw new Invalid("the 'user' field is malformed");
  if (!OBJECT.test(text) && !isObjectRelation(text)) {
    throw new Invalid(
      "the 'user' field must be an object (e.g. document:1) or an 'object#relation' or a typed wildcard (e.g. group:*)",
    );
  }
  const [object, relation] = splitObjectRelation(text);
  const [type, id] = splitObject(object);
  if (relation && id === '*')
    throw new Invalid("the 'user' field cannot reference a typed wildcard in a userset value");
  return relation ? { type, id, relation, wildcard: false } : { type, id, wildcard: id === '*' };
}

// ---- model look-ups ----

export interface RelationInfo {
  name: string;
  /** The relation's rewrite as the model writes it. */
  rewrite: Userset;
  /** Its type restrictions (empty for relations without `this`). */
  directlyRelatedUserTypes: RelationReference[];
  /** The compiled relation (prefixed types). */
  definition: RelationDefinition;
}

interface Index {
  types: Map<string, TypeDefinition>;
  tuplesets: Map<string, Set<string>>;
  conditionParams: Map<string, Map<string, CaveatParameterType>>;
}

const indexes = new WeakMap<CompiledModel, Index>();

function indexOf(compiled: CompiledModel): Index {
  let index = indexes.get(compiled);
  if (!index) {
    const types = new Map(compiled.model.type_definitions.map((td) => [td.type, td]));
    const conditionParams = new Map(
      Object.values(compiled.model.conditions ?? {}).map((c) => [c.name, conditionParameters(c)]),
    );
    index = { types, tuplesets: new Map(), conditionParams };
    indexes.set(compiled, index);
  }
  return index;
}

/** The type definition of `type` (unprefixed), if the model has it. */
export function typeOf(compiled: CompiledModel, type: string): TypeDefinition | undefined {
  return indexOf(compiled).types.get(type);
}

/** The relation `relation` of `type` (unprefixed), if the model has it. */
export function relationOf(compiled: CompiledModel, type: string, relation: string): RelationInfo | undefined {
  const td = typeOf(compiled, type);
  const rewrite = td?.relations?.[relation];
  if (!td || !rewrite || !Object.prototype.hasOwnProperty.call(td.relations, relation)) return undefined;
  return {
    name: relation,
    rewrite,
    directlyRelatedUserTypes: td.metadata?.relations?.[relation]?.directly_related_user_types ?? [],
    definition: compiled.schema.definitions.get(compiled.prefix + type)!.relations.get(relation)!,
  };
}

function isTupleset(compiled: CompiledModel, type: string, relation: string): boolean {
  const index = indexOf(compiled);
  let set = index.tuplesets.get(type);
  if (!set) index.tuplesets.set(type, (set = tuplesetRelations(typeOf(compiled, type)!)));
  return set.has(relation);
}

// ---- validation ----

/** OpenFGA's ValidateUserObjectRelation: user, object, then relation. */
function validateUserObjectRelation(
  compiled: CompiledModel,
  key: { object: string; relation: string; user?: string },
): { resource: ObjectRef; user?: ParsedUser } {
  let user: ParsedUser | undefined;
  if (key.user !== undefined) {
    user = userParts(key.user);
    if (!typeOf(compiled, user.type)) throw new Invalid(`type '${user.type}' not found`);
    if (user.relation && !relationOf(compiled, user.type, user.relation)) {
      throw new Invalid(`relation '${user.type}#${user.relation}' not found`);
    }
  }
  if (typeof key.object !== 'string' || !OBJECT.test(key.object)) throw new Invalid("invalid 'object' field format");
  const [type, id] = splitObject(key.object);
  if (id === '*') throw new Invalid("the 'object' field cannot reference a typed wildcard");
  if (!typeOf(compiled, type)) throw new Invalid(`type '${type}' not found`);
  if (typeof key.relation !== 'string' || !RELATION.test(key.relation)) {
    throw new Invalid("the 'relation' field is malformed");
  }
  if (!relationOf(compiled, type, key.relation)) throw new Invalid(`relation '${type}#${key.relation}' not found`);
  return { resource: { type, id }, user };
}

/** The tupleset, type-restriction and condition checks of OpenFGA's ValidateTupleForRead. */
function validateAgainstModel(compiled: CompiledModel, tuple: TupleKey, type: string, user: ParsedUser): void {
  if (isTupleset(compiled, type, tuple.relation)) {
    if (user.wildcard) {
      throw new Invalid(`unexpected wildcard relationship with tupleset relation '${type}#${tuple.relation}'`);
    }
    if (user.relation) {
      throw new Invalid(`unexpected user '${tuple.user}' with tupleset relation '${type}#${tuple.relation}'`);
    }
  }
  const restrictions = relationOf(compiled, type, tuple.relation)!.directlyRelatedUserTypes;
  const matches = (r: RelationReference) =>
    r.type === user.type &&
    (user.relation ? r.relation === user.relation : user.wildcard ? !!r.wildcard : !r.relation && !r.wildcard);
  if (!restrictions.some(matches)) {
    throw new Invalid(
      user.relation
        ? `'${user.type}#${user.relation}' is not an allowed type restriction for '${type}#${tuple.relation}'`
        : user.wildcard
          ? `the typed wildcard '${tuple.user}' is not an allowed type restriction for '${type}#${tuple.relation}'`
          : `type '${user.type}' is not an allowed type restriction for '${type}#${tuple.relation}'`,
    );
  }

  const condition = tuple.condition;
  if (!condition) {
    if (!restrictions.some((r) => matches(r) && !r.condition)) throw new Invalid('condition is missing', true);
    return;
  }
  const params = indexOf(compiled).conditionParams.get(condition.name);
  if (!params) throw new Invalid('undefined condition', true);
  // As OpenFGA: the condition must be allowed for the user's type (whatever its relation or wildcard).
  if (!restrictions.some((r) => r.type === user.type && r.condition === condition.name)) {
    throw new Invalid('invalid condition for type restriction', true);
  }
  const context = condition.context;
  if (context && Object.keys(context).length > 0) {
    if (params.size === 0) throw new Invalid('no parameters defined for the condition', true);
    for (const key of Object.keys(context)) {
      if (!params.has(key)) throw new Invalid(`found invalid context parameter: ${key}`, true);
    }
    try {
      validateRelationshipContext({ name: condition.name, parameters: params }, context);
    } catch (e) {
      throw new Invalid(`failed to convert context parameter: ${(e as Error).message}`, true);
    }
  }
}

const tupleText = (t: { object: string; relation: string; user?: string }) =>
  `${t.object}#${t.relation}@${t.user ?? ''}`;

function conditionText(t: TupleKey): string {
  return t.condition ? `name:"${t.condition.name}"` : '<nil>';
}

/**
 * A tuple → the relationship the engine stores (prefixed types; `condition` → caveat), after
 * OpenFGA's validation for `purpose`. Errors: `validation_error` for writes and deletes,
 * `invalid_tuple` for contextual tuples (as Check, ListObjects and ListUsers answer).
 */
export function tupleToRelationship(
  compiled: CompiledModel,
  tuple: TupleKey,
  purpose: 'write' | 'contextual' | 'delete',
): Relationship {
  const code = purpose === 'contextual' ? 'invalid_tuple' : 'validation_error';
  try {
    let resource: ObjectRef;
    let user: ParsedUser;
    if (purpose === 'delete') {
      // OpenFGA checks only the user's form on deletes; a tuple that cannot exist deletes nothing.
      if (typeof tuple.user !== 'string' || !isValidUser(tuple.user))
        throw new Invalid("the 'user' field is malformed");
      user = userParts(tuple.user);
      if (typeof tuple.object !== 'string' || !OBJECT.test(tuple.object)) {
        throw new Invalid("invalid 'object' field format");
      }
      const [type, id] = splitObject(tuple.object);
      resource = { type, id };
    } else {
      const checked = validateUserObjectRelation(compiled, tuple);
      resource = checked.resource;
      user = checked.user!;
      validateAgainstModel(compiled, tuple, resource.type, user);
    }
    const r: Relationship = {
      resource: { type: compiled.prefix + resource.type, id: resource.id },
      relation: tuple.relation,
      subject: { type: compiled.prefix + user.type, id: user.id, relation: user.relation ?? ELLIPSIS },
    };
    if (tuple.condition && purpose !== 'delete') {
      r.caveat = tuple.condition.context
        ? { name: tuple.condition.name, context: tuple.condition.context }
        : { name: tuple.condition.name };
    }
    return r;
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    const shown = e.conditional ? `${tupleText(tuple)} (condition ${conditionText(tuple)})` : tupleText(tuple);
    throw new OpenFgaError(code, `Invalid tuple '${shown}'. Reason: ${e.message}`);
  }
}

/** A stored type name without its store's prefix. */
export function unprefixed(prefix: string, type: string): string {
  return type.startsWith(prefix) ? type.slice(prefix.length) : type;
}

/** A stored subject as OpenFGA writes a user: `type:id` or `type:id#relation`, prefix stripped. */
export function userText(prefix: string, s: SubjectRef): string {
  const user = `${unprefixed(prefix, s.type)}:${s.id}`;
  return s.relation === ELLIPSIS ? user : `${user}#${s.relation}`;
}

/** A stored relationship → the tuple OpenFGA's API shows (prefix stripped; caveat → condition). */
export function relationshipToTuple(prefix: string, r: Relationship): TupleKey {
  const tuple: TupleKey = {
    object: `${unprefixed(prefix, r.resource.type)}:${r.resource.id}`,
    relation: r.relation,
    user: userText(prefix, r.subject),
  };
  if (r.caveat) {
    tuple.condition = r.caveat.context ? { name: r.caveat.name, context: r.caveat.context } : { name: r.caveat.name };
  }
  return tuple;
}

export interface CheckedTupleKey {
  resource: ObjectRef;
  relation: string;
  /** Absent when the input had no user (Expand). */
  subject?: SubjectRef;
}

/**
 * The object, relation and (optional) user of a Check, Expand or ListUsers request, validated as
 * OpenFGA does (`validation_error`) and prefixed for the engine.
 */
export function checkTupleKey(
  compiled: CompiledModel,
  key: { object: string; relation: string; user?: string },
): CheckedTupleKey {
  try {
    const { resource, user } = validateUserObjectRelation(compiled, key);
    const out: CheckedTupleKey = {
      resource: { type: compiled.prefix + resource.type, id: resource.id },
      relation: key.relation,
    };
    if (user) {
      out.subject = { type: compiled.prefix + user.type, id: user.id, relation: user.relation ?? ELLIPSIS };
    }
    return out;
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    throw new OpenFgaError('validation_error', e.message);
  }
}
