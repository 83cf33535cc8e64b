/**
 * Syntax tree of a schema as written, before name resolution. A run of `+` (or `&`) is one n-ary
 * node, so a long flat union is not a deep tree; `-` stays binary and left-associative. Every node
 * keeps the position of the token that names it, so compile errors can point at it.
 */
import type { SourcePosition } from './ir.js';

export interface SchemaAST {
  uses: UseFlagNode[];
  definitions: DefinitionNode[];
  caveats: CaveatNode[];
  partials: PartialNode[];
  /** Top-level items in source order. */
  order: Array<DefinitionNode | CaveatNode | PartialNode>;
  /**
   * `import "path"` statements (`use import`), read only when parsing for composition
   * (schema/compose.ts); the API refuses them.
   */
  imports?: ImportNode[];
}

/** `import "path/file.zed"`: a file whose definitions, caveats and partials join this schema. */
export interface ImportNode {
  kind: 'import';
  /** The path as written, without its quotes. */
  path: string;
  /** The `import` keyword. */
  position: SourcePosition;
  pathPosition: SourcePosition;
}

export interface UseFlagNode {
  kind: 'use';
  flag: string;
  position: SourcePosition;
}

export interface DefinitionNode {
  kind: 'definition';
  name: string;
  /** The `definition` keyword. */
  position: SourcePosition;
  namePosition: SourcePosition;
  members: MemberNode[];
  doc?: string;
}

/** `partial name { … }` (`use partial`): members spliced into definitions by `...name`. */
export interface PartialNode {
  kind: 'partial';
  name: string;
  position: SourcePosition;
  namePosition: SourcePosition;
  members: MemberNode[];
  doc?: string;
}

export interface PartialRefNode {
  kind: 'partialRef';
  name: string;
  position: SourcePosition;
}

export type MemberNode = RelationNode | PermissionNode | PartialRefNode;

export interface RelationNode {
  kind: 'relation';
  name: string;
  position: SourcePosition;
  namePosition: SourcePosition;
  types: TypeRefNode[];
  doc?: string;
}

/** One `|`-separated entry of a relation's type list. */
export interface TypeRefNode {
  type: string;
  position: SourcePosition;
  /** `#member` or `#...`; absent for a plain type. */
  relation?: string;
  relationPosition?: SourcePosition;
  wildcard: boolean;
  caveat?: string;
  caveatPosition?: SourcePosition;
  expiration: boolean;
}

export interface PermissionNode {
  kind: 'permission';
  name: string;
  position: SourcePosition;
  namePosition: SourcePosition;
  /** `permission view: user | team = …` (checked under `use typechecking`). */
  annotation?: Array<{ type: string; position: SourcePosition }>;
  expression: ExpressionNode;
  doc?: string;
}

export type ExpressionNode =
  | { kind: 'ref'; name: string; position: SourcePosition }
  | { kind: 'nil'; position: SourcePosition }
  | { kind: 'self'; position: SourcePosition }
  | {
      kind: 'arrow';
      /** `->` and `.any()` are the same operation; `.all()` differs. */
      syntax: '->' | 'any' | 'all';
      tupleset: string;
      tuplesetPosition: SourcePosition;
      computed: string;
      computedPosition: SourcePosition;
      position: SourcePosition;
    }
  | {
      kind: 'union' | 'intersection';
      /** Two or more, in source order. */
      operands: ExpressionNode[];
      /** The first operator token. */
      position: SourcePosition;
    }
  | {
      kind: 'exclusion';
      left: ExpressionNode;
      right: ExpressionNode;
      /** The operator token. */
      position: SourcePosition;
    };

export interface CaveatNode {
  kind: 'caveat';
  name: string;
  position: SourcePosition;
  namePosition: SourcePosition;
  parameters: CaveatParameterNode[];
  /** Body text between the braces, trimmed. */
  expression: string;
  expressionPosition: SourcePosition;
  doc?: string;
}

export interface CaveatParameterNode {
  name: string;
  position: SourcePosition;
  type: CaveatTypeNode;
}

export interface CaveatTypeNode {
  name: string;
  position: SourcePosition;
  generics: CaveatTypeNode[];
}
