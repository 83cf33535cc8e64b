/**
 * A schema change must not strand stored relationships: removing a definition, a relation or an
 * allowed subject type that relationships still use is refused, naming what is in use.
 */
import type { ReadWriteTransaction } from '../datastore/datastore.js';
import { allowedTypeInUse, definitionInUse, relationInUse } from '../errors/index.js';
import type { CompiledSchema } from './ir.js';

export async function assertNoStrandedRelationships(
  tx: ReadWriteTransaction,
  previous: CompiledSchema,
  next: CompiledSchema,
): Promise<void> {
  for (const [type, def] of previous.definitions) {
    const nextDef = next.definitions.get(type);
    if (!nextDef) {
      if ((await tx.queryRelationships({ resourceType: type }, { limit: 1 })).length > 0) {
        throw definitionInUse(type, false);
      }
      if ((await tx.queryRelationships({ subjectType: type }, { limit: 1 })).length > 0) {
        throw definitionInUse(type, true);
      }
      continue;
    }
    for (const [name, rel] of def.relations) {
      if (rel.kind !== 'relation') continue;
      const nextRel = nextDef.relations.get(name);
      if (!nextRel || nextRel.kind !== 'relation') {
        if ((await tx.queryRelationships({ resourceType: type, relation: name }, { limit: 1 })).length > 0) {
          throw relationInUse(type, name);
        }
        continue;
      }
      for (const allowed of rel.allowedSubjects) {
        const stillAllowed = nextRel.allowedSubjects.some(
          (a) => a.type === allowed.type && a.relation === allowed.relation && a.wildcard === allowed.wildcard,
        );
        if (stillAllowed) continue;
        const rels = await tx.queryRelationships({
          resourceType: type,
          relation: name,
          subjectType: allowed.type,
          subjectRelation: allowed.relation,
        });
        if (rels.some((r) => (r.subject.id === '*') === allowed.wildcard)) {
          const shown = `${allowed.type}${allowed.wildcard ? ':*' : allowed.relation === '...' ? '' : `#${allowed.relation}`}`;
          throw allowedTypeInUse(type, name, shown);
        }
      }
    }
  }
}
