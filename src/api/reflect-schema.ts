/** ReflectSchema: the compiled schema as authzed.api.v1 reflection messages, with SpiceDB's prefix filters. */
import type { v1 } from '@authzed/authzed-node';
import type {
  AllowedSubjectType,
  CaveatDefinition,
  CaveatParameterType,
  CompiledSchema,
  ObjectDefinition,
  RelationDefinition,
} from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import { invalidArgument } from '../errors/index.js';

type Filter = v1.ReflectionSchemaFilter;

export function reflectSchema(
  schema: CompiledSchema,
  filters: Filter[],
): Pick<v1.ReflectSchemaResponse, 'definitions' | 'caveats'> {
  for (const f of filters) validateFilter(f);
  const definitions: v1.ReflectionDefinition[] = [];
  for (const def of schema.definitions.values()) {
    if (
      !matchesName(
        filters,
        (f) => f.optionalDefinitionNameFilter,
        def.name,
        (f) => !!f.optionalCaveatNameFilter,
      )
    )
      continue;
    definitions.push(definitionRepr(def, (rel) => relationIncluded(filters, def.name, rel)));
  }
  const caveats: v1.ReflectionCaveat[] = [];
  for (const cav of schema.caveats.values()) {
    if (
      !matchesName(
        filters,
        (f) => f.optionalCaveatNameFilter,
        cav.name,
        (f) => !!f.optionalDefinitionNameFilter,
      )
    )
      continue;
    caveats.push(caveatRepr(cav));
  }
  return { definitions, caveats };
}

/** A definition as the API reflects it: relations and permissions in schema order (those `include` keeps). */
export function definitionRepr(
  def: ObjectDefinition,
  include: (rel: RelationDefinition) => boolean = () => true,
): v1.ReflectionDefinition {
  const relations: v1.ReflectionRelation[] = [];
  const permissions: v1.ReflectionPermission[] = [];
  for (const rel of def.relations.values()) {
    if (!include(rel)) continue;
    if (rel.kind === 'permission') permissions.push(permissionRepr(def.name, rel));
    else relations.push(relationRepr(def.name, rel));
  }
  return { name: def.name, comment: comment(def.doc), relations, permissions };
}

export function relationRepr(definition: string, rel: RelationDefinition): v1.ReflectionRelation {
  return {
    name: rel.name,
    comment: comment(rel.doc),
    parentDefinitionName: definition,
    subjectTypes: rel.allowedSubjects.map(typeReference),
  };
}

export function permissionRepr(definition: string, rel: RelationDefinition): v1.ReflectionPermission {
  return { name: rel.name, comment: comment(rel.doc), parentDefinitionName: definition };
}

/** A caveat as the API reflects it; parameters sorted by name, as SpiceDB sorts them. */
export function caveatRepr(cav: CaveatDefinition): v1.ReflectionCaveat {
  return {
    name: cav.name,
    comment: comment(cav.doc),
    expression: cav.expression,
    parameters: [...cav.parameters.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((name) => caveatParameterRepr(cav.name, name, cav.parameters.get(name)!)),
  };
}

export function caveatParameterRepr(
  caveat: string,
  name: string,
  type: CaveatParameterType,
): v1.ReflectionCaveatParameter {
  return { name, type: typeName(type), parentCaveatName: caveat };
}

function validateFilter(f: Filter): void {
  if (f.optionalDefinitionNameFilter && f.optionalCaveatNameFilter) {
    throw invalidArgument('a reflection filter cannot filter on both definition and caveat names');
  }
  if ((f.optionalRelationNameFilter || f.optionalPermissionNameFilter) && !f.optionalDefinitionNameFilter) {
    throw invalidArgument('a reflection filter on relation or permission names requires a definition name filter');
  }
  if (f.optionalRelationNameFilter && f.optionalPermissionNameFilter) {
    throw invalidArgument('a reflection filter cannot filter on both relation and permission names');
  }
}

/**
 * Filters are ORed. With no filter naming this kind of thing, everything of that kind is kept —
 * unless every filter is about the other kind (a caveat-only filter selects no definitions).
 */
function matchesName(
  filters: Filter[],
  prefixOf: (f: Filter) => string,
  name: string,
  isOtherKind: (f: Filter) => boolean,
): boolean {
  if (filters.length === 0) return true;
  const relevant = filters.filter((f) => prefixOf(f));
  if (relevant.length === 0) return !filters.every(isOtherKind);
  return relevant.some((f) => name.startsWith(prefixOf(f)));
}

function relationIncluded(filters: Filter[], definition: string, rel: RelationDefinition): boolean {
  const applicable = filters.filter(
    (f) => f.optionalDefinitionNameFilter && definition.startsWith(f.optionalDefinitionNameFilter),
  );
  if (applicable.length === 0) return true;
  return applicable.some((f) => {
    if (!f.optionalRelationNameFilter && !f.optionalPermissionNameFilter) return true;
    if (rel.kind === 'relation')
      return !!f.optionalRelationNameFilter && rel.name.startsWith(f.optionalRelationNameFilter);
    return !!f.optionalPermissionNameFilter && rel.name.startsWith(f.optionalPermissionNameFilter);
  });
}

export function typeReference(t: AllowedSubjectType): v1.ReflectionTypeReference {
  // SpiceDB sets the terminal-subject member of the oneof to its zero value: present, but false.
  const typeref: v1.ReflectionTypeReference['typeref'] = t.wildcard
    ? { oneofKind: 'isPublicWildcard', isPublicWildcard: true }
    : t.relation === ELLIPSIS
      ? { oneofKind: 'isTerminalSubject', isTerminalSubject: false }
      : { oneofKind: 'optionalRelationName', optionalRelationName: t.relation };
  return { subjectDefinitionName: t.type, optionalCaveatName: t.caveat ?? '', typeref };
}

/** SpiceDB returns comments with their delimiters; Pemba keeps the text, so `//` is put back. */
function comment(doc: string | undefined): string {
  return doc
    ? doc
        .split('\n')
        .map((l) => (l ? `// ${l}` : '//'))
        .join('\n')
    : '';
}

export function typeName(t: CaveatParameterType): string {
  if (t.kind === 'list') return `list<${typeName(t.element)}>`;
  if (t.kind === 'map') return `map<${typeName(t.value)}>`;
  return t.kind;
}
