/** DiffSchema's answer: each schema difference as an authzed.api.v1 ReflectionSchemaDiff. */
import type { v1 } from '@authzed/authzed-node';
import type { SchemaDelta } from '../schema/schema-diff.js';
import {
  caveatParameterRepr,
  caveatRepr,
  definitionRepr,
  permissionRepr,
  relationRepr,
  typeName,
  typeReference,
} from './reflect-schema.js';

type Diff = v1.ReflectionSchemaDiff['diff'];

export function toApiDiff(d: SchemaDelta): v1.ReflectionSchemaDiff {
  // The oneof's member is named as the delta's kind, and holds what payloadOf makes of it.
  return { diff: { oneofKind: d.kind, [d.kind]: payloadOf(d) } as Diff };
}

function payloadOf(d: SchemaDelta) {
  switch (d.kind) {
    case 'definitionAdded':
    case 'definitionRemoved':
    case 'definitionDocCommentChanged':
      return definitionRepr(d.definition);
    case 'relationAdded':
    case 'relationRemoved':
    case 'relationDocCommentChanged':
      return relationRepr(d.definition, d.relation);
    case 'relationSubjectTypeAdded':
    case 'relationSubjectTypeRemoved':
      return { relation: relationRepr(d.definition, d.relation), changedSubjectType: typeReference(d.subjectType) };
    case 'permissionAdded':
    case 'permissionRemoved':
    case 'permissionDocCommentChanged':
    case 'permissionExprChanged':
      return permissionRepr(d.definition, d.relation);
    case 'caveatAdded':
    case 'caveatRemoved':
    case 'caveatDocCommentChanged':
    case 'caveatExprChanged':
      return caveatRepr(d.caveat);
    case 'caveatParameterAdded':
    case 'caveatParameterRemoved':
      return caveatParameterRepr(d.caveat, d.parameter, d.type);
    case 'caveatParameterTypeChanged':
      return { parameter: caveatParameterRepr(d.caveat, d.parameter, d.type), previousType: typeName(d.previousType) };
  }
}
