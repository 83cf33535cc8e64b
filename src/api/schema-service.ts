/** authzed.api.v1.SchemaService on top of Pemba (ReadSchema, WriteSchema, ReflectSchema). */
import { v1 } from '@authzed/authzed-node';
import type { Pemba } from '../pemba.js';
import { consistency, zedToken } from './convert.js';
import { invalidArgument } from '../errors/index.js';
import type { ApiLimits } from './limits.js';
import { unary } from './method.js';
import type { ApiService } from './method.js';
import { reflectSchema } from './reflect-schema.js';

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
        const { schema, token } = await pemba.schemaAt(consistency(req.consistency));
        return { ...reflectSchema(schema, req.optionalFilters), readAt: zedToken(token) };
      }),
    },
  };
}
