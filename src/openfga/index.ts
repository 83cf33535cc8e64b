/**
 * The OpenFGA front end: OpenFGA's API (stores, authorization models, tuples, Check, BatchCheck,
 * Expand, ListObjects, ListUsers, assertions) over Pemba's engine and datastore. The service layer
 * takes and returns OpenFGA's HTTP JSON bodies; http.ts serves it.
 *
 * @example
 * const datastore = openMemoryDatastore();
 * const catalog = await openCatalog(datastore); // from './catalog/index.js'
 * const service = new OpenFgaService({ datastore, engine: await Engine.open(datastore), catalog });
 * const { id } = await service.createStore({ name: 'demo' });
 */
export {
  OpenFgaService,
  DEFAULT_OPENFGA_LIMITS,
  OPENFGA_MAX_DEPTH,
  MAX_TUPLES_PER_WRITE,
  MAX_CHECKS_PER_BATCH_CHECK,
  asOpenFgaError,
  type OpenFgaLimits,
  type OpenFgaServiceOptions,
  type CallOptions,
  type QueryParams,
} from './service.js';
export { OpenFgaError, OPENFGA_ERROR_CODES, type OpenFgaErrorCode } from './errors.js';
// openCatalog (catalog/index.ts) reaches the SQL backends, so it is imported from there, not here.
export type { Catalog, ModelRecord, StoreRecord } from './catalog/catalog.js';
export { compileModel, type AuthorizationModel, type CompiledModel, type TupleKey } from './model/index.js';
export { storeTypePrefix } from './store-prefix.js';
export { ModelSnapshot, allowedByModel } from './snapshot.js';
