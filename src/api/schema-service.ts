/**
 * authzed.api.v1.SchemaService on top of Pemba: ReadSchema, WriteSchema, ReflectSchema, and the
 * schema analyses ComputablePermissions, DependentRelations and DiffSchema (SpiceDB's semantics:
 * see src/schema/reachability.ts and src/schema/schema-diff.ts).
 */
import { v1 } from '@authzed/authzed-node';
import type { Pemba } from '../pemba.js';
import { consistency, zedToken } from './convert.js';
import { invalidArgument, unknownDefinition, unknownRelation } from '../errors/index.js';
import type { ApiLimits } from './limits.js';
import { unary } from './method.js';
import type { ApiService } from './method.js';
import { reflectSchema } from './reflect-schema.js';
import { schemaAt } from './schema-at.js';
import { toApiDiff } from './schema-diff.js';
import { compileSchema } from '../schema/compiler.js';
import type { CompiledSchema, ObjectDefinition } from '../schema/ir.js';
import { computablePermissions, dependentRelations } from '../schema/reachability.js';
import type { RelationReference } from '../schema/reachability.js';
import { diffSchemas } from '../schema/schema-diff.js';

export function schemaService(pemba: Pemba, limits: ApiLimits): ApiService {
  return {
    type: v1.SchemaService,
    handlers: {
      // ReadSchemaRequest carries no consistency: read the newest schema, so a write is seen at once.
      ReadSchema: unary(v1.ReadSchemaRequest, async (): Promise<v1.ReadSchemaResponse> => {
        const { schema, token } = await pemba.readSchema({ mode: 'fully_consistent' });
        return { schemaText: schema, readAt: zedToken(token) };
      }),

      WriteSchema: unary(
        v1.WriteSchemaRequest,
        async (req, ctx): Promise<v1.WriteSchemaResponse> => {
          const bytes = Buffer.byteLength(req.schema, 'utf8');
          if (bytes > limits.maxSchemaBytes) {
            throw invalidArgument(`schema is ${bytes} bytes, more than the maximum of ${limits.maxSchemaBytes}`);
          }
          const { token } = await pemba.writeSchema(req.schema, { signal: ctx.signal });
          return { writtenAt: zedToken(token) };
        },
        { commits: true },
      ),

      ReflectSchema: unary(v1.ReflectSchemaRequest, async (req): Promise<v1.ReflectSchemaResponse> => {
        const { schema, token } = await schemaAt(pemba, consistency(req.consistency));
        return { ...reflectSchema(schema, req.optionalFilters), readAt: zedToken(token) };
      }),

      ComputablePermissions: unary(
        v1.ComputablePermissionsRequest,
        async (req): Promise<v1.ComputablePermissionsResponse> => {
          const { schema, token } = await schemaAt(pemba, consistency(req.consistency));
          const def = definitionOf(schema, req.definitionName);
          if (req.relationName && !def.relations.has(req.relationName)) {
            throw unknownRelation(req.definitionName, req.relationName);
          }
          const found = computablePermissions(
            schema,
            req.definitionName,
            req.relationName,
            req.optionalDefinitionNameFilter,
          );
          return { permissions: found.map(reference), readAt: zedToken(token) };
        },
      ),

      DependentRelations: unary(v1.DependentRelationsRequest, async (req): Promise<v1.DependentRelationsResponse> => {
        const { schema, token } = await schemaAt(pemba, consistency(req.consistency));
        const def = definitionOf(schema, req.definitionName);
        const rel = def.relations.get(req.permissionName);
        if (!rel) throw unknownRelation(req.definitionName, req.permissionName);
        if (rel.kind !== 'permission') throw notAPermission(req.permissionName);
        const found = dependentRelations(schema, req.definitionName, req.permissionName);
        return { relations: found.map(reference), readAt: zedToken(token) };
      }),

      DiffSchema: unary(v1.DiffSchemaRequest, async (req): Promise<v1.DiffSchemaResponse> => {
        const existing = await schemaAt(pemba, consistency(req.consistency));
        // Compiled on its own, not through the engine's cache: a comparison is not a schema in use.
        const comparison = { schema: compileSchema(req.comparisonSchema), text: req.comparisonSchema };
        const diffs = diffSchemas(existing, comparison).map(toApiDiff);
        return { diffs, readAt: zedToken(existing.token) };
      }),
    },
  };
}

function definitionOf(schema: CompiledSchema, name: string): ObjectDefinition {
  const def = schema.definitions.get(name);
  if (!def) throw unknownDefinition(name);
  return def;
}

const reference = (r: RelationReference): v1.ReflectionRelationReference => ({
  definitionName: r.definition,
  relationName: r.relation,
  isPermission: r.isPermission,
});

/** DependentRelations on a relation (SpiceDB's NotAPermissionError). */
const notAPermission = (name: string) =>
  invalidArgument(`the relation \`${name}\` is not a permission`, 'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION', {
    relationName: name,
  });
