/**
 * The warnings SpiceDB's development tooling (`zed validate`, the language server, the playground)
 * gives about a valid schema, with its names and wording (SpiceDB pkg/development/warningdefs.go):
 *
 * - relation-name-references-parent: a relation or permission whose name ends with its definition's
 *   name (`permission view_document` under `definition document`).
 * - permission-references-itself: a permission that uses itself (`permission view = viewer + view`).
 * - arrow-references-relation: an arrow that ends at a relation of another definition, rather than
 *   a permission (`group->member` where `member` is a relation of `group`).
 * - arrow-references-unreachable-relation: an arrow that ends at a name no subject type of its left
 *   side has (`parent->viewer` when no type `parent` allows has `viewer`): it is always empty.
 * - arrow-walks-subject-relation: an arrow whose left side allows a subject relation
 *   (`relation parent: group#member`): the arrow ignores the subject relation.
 *
 * A comment `// spicedb-ignore-warning: NAME` on a relation or permission silences that warning there.
 * Only `pemba validate` asks for warnings: compiling a schema for the API never computes them.
 */
import type * as AST from './ast.js';
import { compileAST } from './compiler.js';
import { type CompiledSchema, ELLIPSIS, type SourcePosition } from './ir.js';
import { parseSchema } from './parser.js';

export type SchemaWarningName =
  | 'relation-name-references-parent'
  | 'permission-references-itself'
  | 'arrow-references-relation'
  | 'arrow-references-unreachable-relation'
  | 'arrow-walks-subject-relation';

export interface SchemaWarning {
  name: SchemaWarningName;
  /** SpiceDB's message, ending with ` (name)`. */
  message: string;
  /** Where in the schema text (1-based), as SpiceDB places it. */
  line: number;
  column: number;
  /** The text the warning is about: a relation name, a permission name or an arrow. */
  source: string;
}

/** The warnings of a schema, in SpiceDB's order. Throws a SchemaError if the schema is invalid. */
export function schemaWarnings(text: string): SchemaWarning[] {
  const ast = parseSchema(text);
  return warningsOf(ast, compileAST(ast));
}

/** Go's %q for the names a schema allows (plain ASCII identifiers). */
const q = (s: string) => JSON.stringify(s);

export function warningsOf(ast: AST.SchemaAST, schema: CompiledSchema): SchemaWarning[] {
  const partials = new Map(ast.partials.map((p) => [p.name, p]));
  const warnings: SchemaWarning[] = [];
  for (const def of ast.definitions) {
    for (const member of expand(def.members, partials)) {
      const ignored = ignoredWarnings(member.doc);
      const warn = (name: SchemaWarningName, message: string, at: SourcePosition, source: string) => {
        if (!ignored.has(name)) warnings.push({ name, message: `${message} (${name})`, ...at, source });
      };
      if (member.name.endsWith(def.name)) {
        const kind = member.kind === 'permission' ? 'Permission' : 'Relation';
        warn(
          'relation-name-references-parent',
          `${kind} ${q(member.name)} references parent type ${q(def.name)} in its name; it is recommended to drop the suffix`,
          member.position,
          member.name,
        );
      }
      if (member.kind === 'permission') walkExpression(member.expression, schema, def.name, member.name, warn);
    }
  }
  return warnings;
}

type Warn = (name: SchemaWarningName, message: string, at: SourcePosition, source: string) => void;

function walkExpression(
  e: AST.ExpressionNode,
  schema: CompiledSchema,
  defName: string,
  perm: string,
  warn: Warn,
): void {
  switch (e.kind) {
    case 'ref':
      if (e.name === perm) {
        warn(
          'permission-references-itself',
          `Permission ${q(perm)} references itself, which will cause an error to be raised due to infinite recursion`,
          e.position,
          perm,
        );
      }
      return;
    case 'arrow':
      arrowWarnings(e, schema, defName, perm, warn);
      return;
    case 'union':
    case 'intersection':
      for (const operand of e.operands) walkExpression(operand, schema, defName, perm, warn);
      return;
    case 'exclusion':
      walkExpression(e.left, schema, defName, perm, warn);
      walkExpression(e.right, schema, defName, perm, warn);
      return;
    default:
      return;
  }
}

function arrowWarnings(
  e: Extract<AST.ExpressionNode, { kind: 'arrow' }>,
  schema: CompiledSchema,
  defName: string,
  perm: string,
  warn: Warn,
): void {
  const tupleset = schema.definitions.get(defName)?.relations.get(e.tupleset);
  if (!tupleset) return;
  const arrow = e.syntax === '->' ? `${e.tupleset}->${e.computed}` : `${e.tupleset}.${e.syntax}(${e.computed})`;
  const subjects = tupleset.allowedSubjects;
  const target = (type: string) => schema.definitions.get(type)?.relations.get(e.computed);

  // Arrows within one definition (`parent->viewer` on a tree of documents) are left alone.
  const toRelation = subjects.find((a) => a.type !== defName && target(a.type)?.kind === 'relation');
  if (toRelation) {
    warn(
      'arrow-references-relation',
      `Arrow \`${arrow}\` under permission ${q(perm)} references relation ${q(e.computed)} on definition ${q(toRelation.type)}; it is recommended to point to a permission`,
      e.position,
      arrow,
    );
  }
  if (!subjects.some((a) => target(a.type) !== undefined)) {
    warn(
      'arrow-references-unreachable-relation',
      `Arrow \`${arrow}\` under permission ${q(perm)} references relation/permission ${q(e.computed)} that does not exist on any subject types of relation ${q(e.tupleset)}`,
      e.position,
      arrow,
    );
  }
  const subjectSet = subjects.find((a) => a.relation !== ELLIPSIS);
  if (subjectSet) {
    warn(
      'arrow-walks-subject-relation',
      `Arrow \`${arrow}\` under permission ${q(perm)} references relation ${q(e.tupleset)} that has relation ${q(subjectSet.relation)} on subject ${q(subjectSet.type)}: *the subject relation will be ignored for the arrow*`,
      e.position,
      arrow,
    );
  }
}

/** A definition's relations and permissions with `...partial` references spliced in, in order. */
function expand(
  members: readonly AST.MemberNode[],
  partials: ReadonlyMap<string, AST.PartialNode>,
): Array<AST.RelationNode | AST.PermissionNode> {
  return members.flatMap((m) =>
    m.kind === 'partialRef' ? expand(partials.get(m.name)?.members ?? [], partials) : [m],
  );
}

const IGNORE = 'spicedb-ignore-warning:';

/** The warnings silenced by `// spicedb-ignore-warning: NAME` comments above a member. */
function ignoredWarnings(doc: string | undefined): Set<string> {
  const names = new Set<string>();
  for (const line of doc?.split('\n') ?? []) {
    const trimmed = line.trim();
    if (trimmed.startsWith(IGNORE)) names.add(trimmed.slice(IGNORE.length).trim());
  }
  return names;
}
