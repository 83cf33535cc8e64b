/**
 * OpenFGA's authorization model as its API carries it (JSON, snake_case), the shape
 * `@openfga/syntax-transformer` produces from DSL text and `@openfga/sdk` sends.
 */

/** A userset rewrite: exactly one field is set. */
export interface Userset {
  this?: Record<string, never>;
  computedUserset?: { object?: string; relation: string };
  tupleToUserset?: {
    tupleset: { object?: string; relation: string };
    computedUserset: { object?: string; relation: string };
  };
  union?: { child: Userset[] };
  intersection?: { child: Userset[] };
  difference?: { base: Userset; subtract: Userset };
}

/** One entry of a relation's type restrictions: `user`, `user:*`, `group#member`, `user with cond`. */
export interface RelationReference {
  type: string;
  relation?: string;
  wildcard?: Record<string, never>;
  condition?: string;
}

export interface RelationMetadata {
  directly_related_user_types?: RelationReference[];
  module?: string;
  source_info?: unknown;
}

export interface TypeDefinition {
  type: string;
  relations?: Record<string, Userset>;
  metadata?: { relations?: Record<string, RelationMetadata>; module?: string; source_info?: unknown } | null;
}

/** OpenFGA's condition parameter type names (`TYPE_NAME_STRING`, ...); generic types carry `generic_types`. */
export interface ConditionParamTypeRef {
  type_name: string;
  generic_types?: ConditionParamTypeRef[];
}

export interface Condition {
  name: string;
  expression: string;
  parameters?: Record<string, ConditionParamTypeRef>;
  metadata?: unknown;
}

/** What WriteAuthorizationModel takes (and ReadAuthorizationModel returns, with its id). */
export interface AuthorizationModel {
  id?: string;
  schema_version: string;
  type_definitions: TypeDefinition[];
  conditions?: Record<string, Condition>;
}

/** A tuple as the API writes and reads it: `user` is `type:id`, `type:*` or `type:id#relation`. */
export interface TupleKey {
  object: string;
  relation: string;
  user: string;
  condition?: { name: string; context?: Record<string, unknown> };
}
