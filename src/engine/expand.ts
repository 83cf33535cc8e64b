/**
 * Expand: the permission tree SpiceDB returns. Rewrites are expanded (computed usersets and arrows
 * are followed), while subject sets found in stored relationships are left as leaves for the caller
 * to expand further.
 */
import type { CompiledSchema, Rewrite } from '../schema/ir.js';
import type { ObjectRef, SubjectRef } from '../relationship.js';
import type { ExpandTree } from '../requests.js';
import type { RequestReader } from './request-reader.js';
import { maxDepthExceeded } from './depth.js';

export async function expand(
  schema: CompiledSchema,
  reader: RequestReader,
  resource: ObjectRef,
  relation: string,
  maxDepth: number,
): Promise<ExpandTree> {
  const userset = async (object: ObjectRef, rel: string, depth: number): Promise<ExpandTree> => {
    if (depth > maxDepth) throw maxDepthExceeded(maxDepth, `expand of ${object.type}:${object.id}#${rel}`);
    const definition = schema.definitions.get(object.type)?.relations.get(rel);
    const leaf = (subjects: SubjectRef[]): ExpandTree => ({
      kind: 'leaf', subjects, expandedObject: object, expandedRelation: rel,
    });
    if (!definition) return leaf([]);
    const node = async (rw: Rewrite): Promise<ExpandTree> => {
      const intermediate = (operation: 'union' | 'intersection' | 'exclusion', children: ExpandTree[]): ExpandTree => ({
        kind: 'intermediate', operation, children, expandedObject: object, expandedRelation: rel,
      });
      switch (rw.kind) {
        case 'nil':
          return leaf([]);
        case 'this':
          return leaf((await reader.byResource(object.type, [object.id], rel)).map((r) => r.subject));
        case 'computed':
          return userset(object, rw.relation, depth + 1);
        case 'tupleToUserset': {
          const rels = await reader.byResource(object.type, [object.id], rw.tupleset);
          const children: ExpandTree[] = [];
          const seen = new Set<string>();
          for (const r of rels) {
            const key = `${r.subject.type}:${r.subject.id}`;
            if (seen.has(key)) continue;
            seen.add(key);
            if (!schema.definitions.get(r.subject.type)?.relations.has(rw.computed)) continue;
            children.push(await userset({ type: r.subject.type, id: r.subject.id }, rw.computed, depth + 1));
          }
          return intermediate(rw.mode === 'all' ? 'intersection' : 'union', children);
        }
        case 'union':
        case 'intersection': {
          const children: ExpandTree[] = [];
          for (const c of rw.children) children.push(await node(c));
          return intermediate(rw.kind, children);
        }
        case 'exclusion':
          return intermediate('exclusion', [await node(rw.base), await node(rw.subtract)]);
      }
    };
    return node(definition.rewrite);
  };
  return userset(resource, relation, 0);
}
