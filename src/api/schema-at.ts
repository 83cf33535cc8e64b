/**
 * The schema at a request's revision, for the schema-analysis methods (ReflectSchema,
 * ComputablePermissions, DependentRelations, DiffSchema) and the relationship counters. Where
 * nothing was ever written these read an empty schema, as SpiceDB does (only ReadSchema answers
 * NOT_FOUND then): DiffSchema reports everything as added, the others fail on the definition
 * they name.
 */
import type { Pemba } from '../pemba.js';
import { resolveRevision } from '../consistency/consistency.js';
import { encodeToken } from '../consistency/zedtoken.js';
import { noSchema, PembaError } from '../errors/index.js';
import type { Consistency } from '../requests/requests.js';
import type { CompiledSchema } from '../schema/ir.js';

export interface SchemaAt {
  schema: CompiledSchema;
  /** The schema text ('' when none was written). */
  text: string;
  token: string;
}

export async function schemaAt(pemba: Pemba, consistency: Consistency | undefined): Promise<SchemaAt> {
  try {
    return await pemba.schemaAt(consistency);
  } catch (e) {
    if (!isNoSchema(e)) throw e;
    const revision = await resolveRevision(pemba.datastore, consistency);
    return { schema: emptySchema(), text: '', token: encodeToken(pemba.datastore.id, revision) };
  }
}

export const emptySchema = (): CompiledSchema => ({ definitions: new Map(), caveats: new Map(), useExpiration: false });

function isNoSchema(e: unknown): boolean {
  return e instanceof PembaError && e.code === 'NOT_FOUND' && e.message === noSchema().message;
}
