/** Every authzed.api.v1 service Pemba serves, over one Pemba instance. */
import type { Pemba } from '../pemba.js';
import { experimentalService } from './experimental-service.js';
import type { ApiLimits } from './limits.js';
import type { ApiService } from './method.js';
import { permissionsService } from './permissions-service.js';
import { schemaService } from './schema-service.js';
import { watchService } from './watch-service.js';

export function apiServices(pemba: Pemba, limits: ApiLimits): ApiService[] {
  const permissions = permissionsService(pemba, limits);
  const schema = schemaService(pemba, limits);
  return [
    permissions,
    schema,
    watchService(pemba, { heartbeatMs: limits.watchHeartbeatMs }),
    experimentalService(permissions, schema, pemba),
  ];
}
