/**
 * authzed.api.v1.ExperimentalService: the methods older clients (and `zed` versions) still call.
 * Their messages are field-for-field those of the stable methods they became, so the stable
 * handlers serve the bulk and schema methods unchanged; the relationship counters exist only here
 * (src/api/relationship-counters.ts).
 */
import { v1 } from '@authzed/authzed-node';
import type { Pemba } from '../pemba.js';
import type { ApiService } from './method.js';
import { relationshipCounterHandlers } from './relationship-counters.js';

export function experimentalService(permissions: ApiService, schema: ApiService, pemba: Pemba): ApiService {
  return {
    type: v1.ExperimentalService,
    handlers: {
      BulkImportRelationships: permissions.handlers.ImportBulkRelationships,
      BulkExportRelationships: permissions.handlers.ExportBulkRelationships,
      BulkCheckPermission: permissions.handlers.CheckBulkPermissions,
      ExperimentalReflectSchema: schema.handlers.ReflectSchema,
      ExperimentalComputablePermissions: schema.handlers.ComputablePermissions,
      ExperimentalDependentRelations: schema.handlers.DependentRelations,
      ExperimentalDiffSchema: schema.handlers.DiffSchema,
      ...relationshipCounterHandlers(pemba),
    },
  };
}
