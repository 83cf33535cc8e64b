/**
 * What OpenFGA checks before it accepts an authorization model (WriteAuthorizationModel): first the
 * request's protobuf rules (patterns, sizes, required fields; their codes come from OpenFGA's HTTP
 * error encoding), then its type system's NewAndValidate (code `invalid_authorization_model`), type
 * by type and relation by relation in sorted order, then the conditions. Messages follow OpenFGA's.
 *
 * Not covered: OpenFGA's model size limit in bytes, modular-model (1.2) module metadata, and the
 * proto text formatting of some messages (we print a close approximation).
 */
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../json-depth.js';
import type { CaveatDefinition } from '../../schema/ir.js';
import { OpenFgaError, type OpenFgaErrorCode } from '../errors.js';
import { compileCondition } from './conditions.js';
import type { AuthorizationModel, RelationReference, TypeDefinition, Userset } from './types.js';

/** OpenFGA's default `maxTypesPerAuthorizationModel`. */
export const MAX_TYPES_PER_MODEL = 100;

/** Go's `\s` (RE2, ASCII only) inside a character class. */
const WS = '\\t\\n\\f\\r ';
const TYPE_PATTERN = new RegExp(`^[^:#@${WS}]{1,254}$`, 'u');
const NAME_PATTERN = new RegExp(`^[^:#@${WS}]{1,50}$`, 'u');
/** The patterns as protoc-gen-validate quotes them (Go's %q). */
const TYPE_PATTERN_TEXT = '"^[^:#@\\\\s]{1,254}$"';
const NAME_PATTERN_TEXT = '"^[^:#@\\\\s]{1,50}$"';

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

const fail = (code: OpenFgaErrorCode, message: string): never => {
  throw new OpenFgaError(code, message);
};
const invalidModel = (message: string): never => fail('invalid_authorization_model', message);

/** The relation (or type) view of a model that the checks below share. */
interface Relation {
  name: string;
  rewrite: Userset;
  types: RelationReference[];
}
type Relations = Map<string, Map<string, Relation>>;

/**
 * Validates `model` as OpenFGA's WriteAuthorizationModel does; returns the caveat definitions its
 * conditions compile to. Throws OpenFgaError.
 */
export function validateModel(
  model: AuthorizationModel,
  options: { maxTypes?: number } = {},
): Map<string, CaveatDefinition> {
  validateRequest(model, options.maxTypes ?? MAX_TYPES_PER_MODEL);
  if (model.schema_version !== '1.1' && model.schema_version !== '1.2') invalidModel('invalid schema version');

  const seen = new Set<string>();
  for (const td of model.type_definitions) {
    if (seen.has(td.type)) invalidModel('an authorization model cannot contain duplicate types');
    seen.add(td.type);
  }
  const relations = relationsOf(model.type_definitions);
  validateNames(model.type_definitions);

  const conditions = new Set(Object.keys(model.conditions ?? {}));
  for (const type of [...relations.keys()].sort()) {
    for (const name of [...relations.get(type)!.keys()].sort()) {
      validateRelation(relations, conditions, type, name);
    }
  }

  const caveats = new Map<string, CaveatDefinition>();
  for (const [key, condition] of Object.entries(model.conditions ?? {})) {
    caveats.set(condition.name, compileCondition(key, condition));
  }
  return caveats;
}

// ---- the request's protobuf validation ----

function validateRequest(model: AuthorizationModel, maxTypes: number): void {
  // Rewrites are validated and compiled recursively: a model nested thousands deep is refused first.
  if (nestsDeeperThan(model, MAX_JSON_DEPTH)) {
    fail(
      'validation_error',
      `invalid WriteAuthorizationModelRequest: the model nests deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  const tds = model.type_definitions;
  if (!Array.isArray(tds) || tds.length === 0) {
    fail(
      'type_definitions_too_few_items',
      'invalid WriteAuthorizationModelRequest.TypeDefinitions: value must contain at least 1 item(s)',
    );
  }
  if (!['1.0', '1.1', '1.2'].includes(model.schema_version)) {
    fail(
      'validation_error',
      'invalid WriteAuthorizationModelRequest.SchemaVersion: value must be in list [1.0 1.1 1.2]',
    );
  }
  if (tds.length > maxTypes) {
    fail(
      'exceeded_entity_limit',
      `The number of type definitions in an authorization model exceeds the allowed limit of ${maxTypes}`,
    );
  }
  for (const td of tds) {
    if (typeof td?.type !== 'string' || !TYPE_PATTERN.test(td.type)) {
      fail(
        'type_invalid_pattern',
        `invalid TypeDefinition.Type: value does not match regex pattern ${TYPE_PATTERN_TEXT}`,
      );
    }
    for (const [name, rewrite] of Object.entries(td.relations ?? {})) {
      if (!NAME_PATTERN.test(name)) {
        fail(
          'relations_invalid_pattern',
          `invalid TypeDefinition.Relations["${name}"]: value does not match regex pattern ${NAME_PATTERN_TEXT}`,
        );
      }
      validateUsersetShape(rewrite);
    }
    for (const meta of Object.values(td.metadata?.relations ?? {})) {
      for (const ref of meta?.directly_related_user_types ?? []) {
        if (typeof ref?.type !== 'string' || !TYPE_PATTERN.test(ref.type)) {
          fail(
            'type_invalid_pattern',
            `invalid RelationReference.Type: value does not match regex pattern ${TYPE_PATTERN_TEXT}`,
          );
        }
        if (ref.relation && !NAME_PATTERN.test(ref.relation)) {
          fail(
            'validation_error',
            `invalid RelationReference.Relation: value does not match regex pattern ${NAME_PATTERN_TEXT}`,
          );
        }
      }
    }
  }
  const conditions = Object.entries(model.conditions ?? {});
  if (conditions.length > 25) {
    fail(
      'validation_error',
      'invalid WriteAuthorizationModelRequest.Conditions: value must contain no more than 25 pair(s)',
    );
  }
  for (const [key, c] of conditions) {
    if (!NAME_PATTERN.test(key)) {
      fail(
        'validation_error',
        `invalid WriteAuthorizationModelRequest.Conditions["${key}"]: value does not match regex pattern ${NAME_PATTERN_TEXT}`,
      );
    }
    if (typeof c?.name !== 'string' || !NAME_PATTERN.test(c.name)) {
      fail('validation_error', `invalid Condition.Name: value does not match regex pattern ${NAME_PATTERN_TEXT}`);
    }
    if (typeof c.expression !== 'string' || utf8Bytes(c.expression) > 512) {
      fail('validation_error', 'invalid Condition.Expression: value length must be at most 512 bytes');
    }
    const params = Object.keys(c.parameters ?? {});
    if (params.length > 25) {
      fail('validation_error', 'invalid Condition.Parameters: value must contain no more than 25 pair(s)');
    }
    for (const p of params) {
      if (!NAME_PATTERN.test(p)) {
        fail(
          'validation_error',
          `invalid Condition.Parameters["${p}"]: value does not match regex pattern ${NAME_PATTERN_TEXT}`,
        );
      }
    }
  }
}

/** Required fields and sizes of a rewrite tree (explicit stack: a hostile tree may be deep). */
function validateUsersetShape(root: Userset): void {
  const stack: Userset[] = [root];
  while (stack.length > 0) {
    const u = stack.pop();
    if (!u || typeof u !== 'object') continue;
    for (const ref of [u.computedUserset, u.tupleToUserset?.tupleset, u.tupleToUserset?.computedUserset]) {
      if (ref && utf8Bytes(ref.relation ?? '') > 50) {
        fail('relation_too_long', 'invalid ObjectRelation.Relation: value length must be at most 50 bytes');
      }
    }
    if (u.difference) {
      if (!u.difference.base) fail('difference_base_missing_value', 'invalid Difference.Base: value is required');
      if (!u.difference.subtract) {
        fail('subtract_base_missing_value', 'invalid Difference.Subtract: value is required');
      }
      stack.push(u.difference.base, u.difference.subtract);
    }
    stack.push(...(u.union?.child ?? []), ...(u.intersection?.child ?? []));
  }
}

// ---- the type system ----

function relationsOf(tds: TypeDefinition[]): Relations {
  const out: Relations = new Map();
  for (const td of tds) {
    const rels = new Map<string, Relation>();
    for (const [name, rewrite] of Object.entries(td.relations ?? {})) {
      rels.set(name, { name, rewrite, types: td.metadata?.relations?.[name]?.directly_related_user_types ?? [] });
    }
    out.set(td.type, rels);
  }
  return out;
}

function validateNames(tds: TypeDefinition[]): void {
  for (const td of tds) {
    if (td.type === '') invalidModel('the type name of a type definition cannot be an empty string');
    if (td.type === 'self' || td.type === 'this') invalidModel(`the definition of type '${td.type}' is invalid`);
    for (const name of Object.keys(td.relations ?? {})) {
      if (name === '') invalidModel(`type '${td.type}' defines a relation with an empty string for a name`);
      if (name === 'self' || name === 'this') {
        invalidModel(invalidRelation(td.type, name, 'self and this are reserved keywords'));
      }
    }
  }
}

const invalidRelation = (type: string, relation: string, cause: string) =>
  `the definition of relation '${relation}' in object type '${type}' is invalid: ${cause}`;

/** The kind of a rewrite node, or undefined when no field is set. */
function kindOf(u: Userset | undefined): keyof Userset | undefined {
  if (!u || typeof u !== 'object') return undefined;
  for (const k of ['this', 'computedUserset', 'tupleToUserset', 'union', 'intersection', 'difference'] as const) {
    if (u[k] !== undefined && u[k] !== null) return k;
  }
  return undefined;
}

/** Every node of a rewrite tree, depth first. */
function* walk(root: Userset): Generator<Userset> {
  const stack = [root];
  while (stack.length > 0) {
    const u = stack.pop()!;
    yield u;
    const d = u.difference;
    const kids = u.union?.child ?? u.intersection?.child ?? (d ? [d.base, d.subtract] : []);
    for (let i = kids.length - 1; i >= 0; i--) if (kids[i]) stack.push(kids[i]);
  }
}

/** A rewrite contains `this` somewhere: the relation is assignable. */
export function containsThis(rewrite: Userset): boolean {
  for (const u of walk(rewrite)) if (kindOf(u) === 'this') return true;
  return false;
}

/** Relations of `type` used as the tupleset of a tuple-to-userset anywhere in that type. */
export function tuplesetRelations(td: TypeDefinition): Set<string> {
  const out = new Set<string>();
  for (const rewrite of Object.values(td.relations ?? {})) {
    for (const u of walk(rewrite)) if (u.tupleToUserset) out.add(u.tupleToUserset.tupleset?.relation ?? '');
  }
  return out;
}

const refLabel = (type: string, relation?: string) => (relation ? `${type}#${relation}` : type);

function validateRelation(relations: Relations, conditions: Set<string>, type: string, name: string): void {
  const rel = relations.get(type)!.get(name)!;
  validateRewrite(relations, type, name, rel.rewrite);
  validateTypeRestrictions(relations, conditions, type, rel);
  const [ok, loop] = hasEntrypoints(relations, type, name, rel.rewrite, new Map());
  if (!ok) invalidModel(invalidRelation(type, name, loop ? 'potential loop' : 'no entrypoints defined'));
  if (hasCycle(relations, type, name, rel.rewrite, new Set())) {
    invalidModel(invalidRelation(type, name, 'an authorization model cannot contain a cycle'));
  }
}

function validateRewrite(relations: Relations, type: string, name: string, u: Userset): void {
  const rels = relations.get(type)!;
  switch (kindOf(u)) {
    case undefined:
      return invalidModel(invalidRelation(type, name, 'invalid userset rewrite definition'));
    case 'computedUserset': {
      const target = u.computedUserset!.relation ?? '';
      if (target === name) invalidModel(invalidRelation(type, name, 'invalid userset rewrite definition'));
      if (!rels.has(target)) invalidModel(`'${type}#${target}' relation is undefined`);
      return;
    }
    case 'tupleToUserset': {
      const tupleset = u.tupleToUserset!.tupleset?.relation ?? '';
      const ts = rels.get(tupleset);
      if (!ts) return invalidModel(`'${type}#${tupleset}' relation is undefined`);
      if (kindOf(ts.rewrite) !== 'this') {
        invalidModel(
          `the '${type}#${tupleset}' relation is referenced in at least one tupleset and thus must be a direct relation`,
        );
      }
      const computed = u.tupleToUserset!.computedUserset?.relation ?? '';
      if (!ts.types.some((t) => relations.get(t.type)?.has(computed))) {
        const listed = ts.types.map((t) => `type:"${t.type}"${t.relation ? ` relation:"${t.relation}"` : ''}`);
        invalidModel(
          `undefined relation: ${computed} does not appear as a relation in any of the directly related user types [${listed.join(' ')}]`,
        );
      }
      return;
    }
    case 'union':
    case 'intersection':
      for (const child of (u.union ?? u.intersection)!.child ?? []) validateRewrite(relations, type, name, child);
      return;
    case 'difference':
      validateRewrite(relations, type, name, u.difference!.base);
      validateRewrite(relations, type, name, u.difference!.subtract);
      return;
    default:
      return;
  }
}

function validateTypeRestrictions(relations: Relations, conditions: Set<string>, type: string, rel: Relation): void {
  const assignable = containsThis(rel.rewrite);
  if (assignable && rel.types.length === 0) {
    invalidModel(
      `the assignable relation '${rel.name}' in object type '${type}' must contain at least one relation type`,
    );
  }
  if (!assignable && rel.types.length > 0) {
    invalidModel(
      `the non-assignable relation '${rel.name}' in object type '${type}' should not contain a relation type`,
    );
  }
  let isTupleset: boolean | undefined;
  for (const ref of rel.types) {
    const notValid = () =>
      invalidModel(
        `the relation type '${refLabel(ref.type, ref.relation)}' on '${rel.name}' in object type '${type}' is not valid`,
      );
    const target = relations.get(ref.type);
    if (!target) notValid();
    if (ref.relation || ref.wildcard) {
      // A tupleset's subjects must be plain objects: neither usersets nor wildcards.
      isTupleset ??= tuplesetsOf(relations, type).has(rel.name);
      if (isTupleset) notValid();
      if (ref.relation && !target!.has(ref.relation)) notValid();
    }
    if (ref.condition && !conditions.has(ref.condition)) {
      invalidModel(`condition ${ref.condition} is undefined for relation ${rel.name}`);
    }
  }
}

function tuplesetsOf(relations: Relations, type: string): Set<string> {
  const td: TypeDefinition = { type, relations: {} };
  for (const [name, r] of relations.get(type)!) td.relations![name] = r.rewrite;
  return tuplesetRelations(td);
}

/**
 * Whether some path through the rewrite can reach a concrete object (OpenFGA's `hasEntrypoints`):
 * [found, loop] where loop says a computed relation led back to one being visited.
 */
function hasEntrypoints(
  relations: Relations,
  type: string,
  name: string,
  u: Userset,
  visited: Map<string, Set<string>>,
): [boolean, boolean] {
  const v = new Map([...visited].map(([k, s]) => [k, new Set(s)]));
  if (!v.has(type)) v.set(type, new Set());
  v.get(type)!.add(name);
  const rel = relations.get(type)?.get(name);
  if (!rel) return invalidModel(`undefined type definition for '${type}#${name}'`);
  switch (kindOf(u)) {
    case 'this':
      for (const ref of rel.types) {
        if (!ref.relation || ref.wildcard) return [true, false];
        const target = relations.get(ref.type)?.get(ref.relation);
        if (!target) return invalidModel(`undefined type definition for '${ref.type}#${ref.relation}'`);
        if (v.get(ref.type)?.has(ref.relation)) continue;
        if (hasEntrypoints(relations, ref.type, ref.relation, target.rewrite, v)[0]) return [true, false];
      }
      return [false, false];
    case 'computedUserset': {
      const computed = u.computedUserset!.relation;
      const target = relations.get(type)?.get(computed);
      if (!target) return invalidModel(`undefined type definition for '${type}#${computed}'`);
      if (v.get(type)?.has(computed)) return [false, true];
      return hasEntrypoints(relations, type, computed, target.rewrite, v);
    }
    case 'tupleToUserset': {
      const ts = relations.get(type)?.get(u.tupleToUserset!.tupleset.relation);
      if (!ts) return invalidModel(`undefined type definition for '${type}#${u.tupleToUserset!.tupleset.relation}'`);
      const computed = u.tupleToUserset!.computedUserset.relation;
      for (const ref of ts.types) {
        const target = relations.get(ref.type)?.get(computed);
        if (!target || v.get(ref.type)?.has(computed)) continue;
        if (hasEntrypoints(relations, ref.type, computed, target.rewrite, v)[0]) return [true, false];
      }
      return [false, false];
    }
    case 'union': {
      let loop = false;
      for (const child of u.union!.child ?? []) {
        const [ok, childLoop] = hasEntrypoints(relations, type, name, child, visited);
        if (ok) return [true, false];
        loop ||= childLoop;
      }
      return [false, loop];
    }
    case 'intersection':
      for (const child of u.intersection!.child ?? []) {
        const [ok, childLoop] = hasEntrypoints(relations, type, name, child, visited);
        if (!ok) return [false, childLoop];
      }
      return [true, false];
    case 'difference': {
      for (const side of [u.difference!.base, u.difference!.subtract]) {
        const [ok, loop] = hasEntrypoints(relations, type, name, side, visited);
        if (!ok) return [false, loop];
      }
      return [true, false];
    }
    default:
      return [false, false];
  }
}

/** A relation that reaches itself through computed usersets alone (OpenFGA's `HasCycle`). */
function hasCycle(relations: Relations, type: string, name: string, u: Userset, visited: Set<string>): boolean {
  visited.add(`${type}#${name}`);
  const copy = new Set(visited);
  let kids: Userset[];
  switch (kindOf(u)) {
    case 'computedUserset': {
      const computed = u.computedUserset!.relation;
      if (visited.has(`${type}#${computed}`)) return true;
      const target = relations.get(type)?.get(computed);
      return target ? hasCycle(relations, type, computed, target.rewrite, copy) : false;
    }
    case 'union':
      kids = u.union!.child ?? [];
      break;
    case 'intersection':
      kids = u.intersection!.child ?? [];
      break;
    case 'difference':
      kids = [u.difference!.base, u.difference!.subtract];
      break;
    default:
      return false;
  }
  return kids.some((child) => hasCycle(relations, type, name, child, copy));
}
