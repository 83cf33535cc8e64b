/**
 * The compiled schema: Zanzibar's namespace configuration. Every relation of every object type is a
 * userset-rewrite tree. A SpiceDB `relation` compiles to `{kind:'this'}` plus its allowed subject
 * types; a `permission` compiles to a rewrite without `this`. Nothing here forbids a relation that
 * mixes both (OpenFGA-style `viewer: [user] or editor`).
 */

/** Where in schema text something was written (1-based). */
export interface SourcePosition {
  line: number;
  column: number;
}

export type Rewrite =
  /** The relationships stored directly on this relation. */
  | { kind: 'this' }
  /** Another relation or permission of the same object (`permission view = viewer`). */
  | { kind: 'computed'; relation: string }
  /**
   * Zanzibar's tuple-to-userset: follow the relationships of `tupleset` on this object to their
   * subjects, then evaluate `computed` on each subject object. `any` is SpiceDB's `->` and `.any()`;
   * `all` is `.all()` (the subject must have `computed` on every object reached).
   */
  | { kind: 'tupleToUserset'; tupleset: string; computed: string; mode: 'any' | 'all' }
  | { kind: 'union'; children: Rewrite[] }
  | { kind: 'intersection'; children: Rewrite[] }
  | { kind: 'exclusion'; base: Rewrite; subtract: Rewrite }
  | { kind: 'nil' }
  /**
   * SpiceDB's `self` (under `use self`): the object itself, as a plain subject. `user:alice` has it on
   * `user:alice` and on no other object; a subject set (`user:alice#manager`) never has it.
   */
  | { kind: 'self' };

/** An arrow: `tupleset->computed` (any) or `tupleset.all(computed)`. */
export type ArrowRewrite = Extract<Rewrite, { kind: 'tupleToUserset' }>;

/** The relation name SpiceDB uses for "the object itself" (`user:tom` is `user:tom#...`). */
export const ELLIPSIS = '...';

/** One entry of a relation's type list: `user`, `group#member`, `user:*`, `user with cav`. */
export interface AllowedSubjectType {
  type: string;
  /** `ELLIPSIS` for a plain object type, otherwise the subject relation (`group#member`). */
  relation: string;
  /** `user:*` */
  wildcard: boolean;
  /** `with somecaveat` */
  caveat?: string;
  /** `with expiration` */
  expiration: boolean;
  position?: SourcePosition;
}

export interface RelationDefinition {
  name: string;
  /** `relation` (stores relationships) or `permission` (computed only). */
  kind: 'relation' | 'permission';
  /** Allowed subject types; empty for permissions. */
  allowedSubjects: AllowedSubjectType[];
  rewrite: Rewrite;
  /** Doc comments written immediately above, without comment markers. */
  doc?: string;
  position?: SourcePosition;
}

export interface ObjectDefinition {
  name: string;
  relations: Map<string, RelationDefinition>;
  doc?: string;
  position?: SourcePosition;
}

/** CEL-ish parameter types SpiceDB caveats support. Generic types carry their element type. */
export type CaveatParameterType =
  | { kind: 'any' | 'bool' | 'string' | 'int' | 'uint' | 'double' | 'bytes' | 'duration' | 'timestamp' | 'ipaddress' }
  | { kind: 'list'; element: CaveatParameterType }
  | { kind: 'map'; value: CaveatParameterType };

export interface CaveatDefinition {
  name: string;
  parameters: Map<string, CaveatParameterType>;
  /** The expression text between the braces, trimmed. Evaluation lives in src/caveats. */
  expression: string;
  doc?: string;
  position?: SourcePosition;
  expressionPosition?: SourcePosition;
  /** Where each parameter is declared, for errors about one. */
  parameterPositions?: ReadonlyMap<string, SourcePosition>;
  /**
   * OpenFGA's conditions: evaluated only once every parameter has a value; until then the caveat is
   * conditional on the missing ones (no partial evaluation, which could decide `x < 1 || y < 2` from x).
   */
  requireAllParameters?: true;
}

export interface CompiledSchema {
  definitions: Map<string, ObjectDefinition>;
  caveats: Map<string, CaveatDefinition>;
  /** `use expiration` was declared. */
  useExpiration: boolean;
  /** `use self` was declared (set only then, so that schemas without it compare as before). */
  useSelf?: true;
}
