/**
 * An OpenFGA authorization model → Pemba's schema IR, after OpenFGA's own validation. Every type
 * name (definitions and allowed subject types) carries the store's prefix, so a store's tuples live
 * apart from every other store's; relation and caveat names stay as written.
 *
 * OpenFGA relations mix direct assignment and rewrites (`define viewer: [user] or editor`): a
 * relation whose rewrite contains `this` anywhere is a stored relation (kind `relation`, with its
 * type restrictions), any other is a `permission`.
 */
import {
  type AllowedSubjectType,
  type CompiledSchema,
  ELLIPSIS,
  type ObjectDefinition,
  type RelationDefinition,
  type Rewrite,
} from '../../schema/ir.js';
import { OpenFgaError } from '../errors.js';
import type { AuthorizationModel, RelationReference, Userset } from './types.js';
import { containsThis, validateModel } from './validate.js';

export interface CompiledModel {
  /** The model's id (a ULID). */
  id: string;
  /** The model as written (what ReadAuthorizationModel returns, with `id`). */
  model: AuthorizationModel;
  /** The store's type prefix (`fga_01abc/`), on every type name of `schema`. */
  prefix: string;
  schema: CompiledSchema;
}

export interface CompileOptions {
  id: string;
  typePrefix: string;
  /** OpenFGA's `maxTypesPerAuthorizationModel` (default 100). */
  maxTypes?: number;
}

/** Validates `model` as OpenFGA does and compiles it; throws OpenFgaError. */
export function compileModel(model: AuthorizationModel, options: CompileOptions): CompiledModel {
  if (!model || typeof model !== 'object') throw new OpenFgaError('validation_error', 'invalid authorization model');
  const caveats = validateModel(model, { maxTypes: options.maxTypes });
  const prefix = options.typePrefix;
  const definitions = new Map<string, ObjectDefinition>();
  for (const td of model.type_definitions) {
    const relations = new Map<string, RelationDefinition>();
    for (const [name, userset] of Object.entries(td.relations ?? {})) {
      const assignable = containsThis(userset);
      const types = td.metadata?.relations?.[name]?.directly_related_user_types ?? [];
      relations.set(name, {
        name,
        kind: assignable ? 'relation' : 'permission',
        allowedSubjects: assignable ? types.map((t) => allowedSubject(prefix, t)) : [],
        rewrite: toRewrite(userset),
      });
    }
    definitions.set(prefix + td.type, { name: prefix + td.type, relations });
  }
  const stored: AuthorizationModel = { ...model, id: options.id };
  return { id: options.id, model: stored, prefix, schema: { definitions, caveats, useExpiration: false } };
}

function allowedSubject(prefix: string, t: RelationReference): AllowedSubjectType {
  const a: AllowedSubjectType = {
    type: prefix + t.type,
    relation: t.relation ? t.relation : ELLIPSIS,
    wildcard: !!t.wildcard && !t.relation,
    expiration: false,
  };
  if (t.condition) a.caveat = t.condition;
  return a;
}

/** The rewrite tree; validation has already refused nodes with no kind. */
function toRewrite(u: Userset): Rewrite {
  if (u.this) return { kind: 'this' };
  if (u.computedUserset) return { kind: 'computed', relation: u.computedUserset.relation };
  if (u.tupleToUserset) {
    return {
      kind: 'tupleToUserset',
      tupleset: u.tupleToUserset.tupleset.relation,
      computed: u.tupleToUserset.computedUserset.relation,
      mode: 'any',
    };
  }
  if (u.union) return { kind: 'union', children: (u.union.child ?? []).map(toRewrite) };
  if (u.intersection) return { kind: 'intersection', children: (u.intersection.child ?? []).map(toRewrite) };
  if (u.difference) {
    return { kind: 'exclusion', base: toRewrite(u.difference.base), subtract: toRewrite(u.difference.subtract) };
  }
  return { kind: 'nil' };
}
