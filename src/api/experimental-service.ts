/**
 * authzed.api.v1.ExperimentalService: the bulk methods older clients (and `zed` versions) still
 * call. Their messages are field-for-field those of the stable methods they became, so the stable
 * handlers serve them unchanged; the other experimental methods answer UNIMPLEMENTED.
 */
import { v1 } from '@authzed/authzed-node';
import type { ApiService } from './method.js';

export function experimentalService(permissions: ApiService, schema: ApiService): ApiService {
  return {
    type: v1.ExperimentalService,
    handlers: {
      BulkImportRelationships: permissions.handlers.ImportBulkRelationships,
      BulkExportRelationships: permissions.handlers.ExportBulkRelationships,
      BulkCheckPermission: permissions.handlers.CheckBulkPermissions,
      ExperimentalReflectSchema: schema.handlers.ReflectSchema,
    },
  };
}
