/**
 * The OpenFGA front end's service layer: every operation of OpenFGA's API, taking and returning the
 * JSON bodies of its HTTP API (snake_case, as `@openfga/sdk` sends and reads them). Request bodies
 * arrive as `unknown` and are validated here, so the HTTP adapter only routes, authenticates and
 * serialises. Failures are OpenFgaError (see errors.ts); anything else is an internal error.
 *
 * SKELETON: the operations are being implemented; the signatures are the contract the HTTP adapter uses.
 */
import type { Datastore } from '../datastore/datastore.js';
import type { Engine } from '../engine/engine.js';
import type { Catalog } from './catalog/catalog.js';
import { OpenFgaError } from './errors.js';

export interface OpenFgaLimits {
  /** ListObjects' result cap (OpenFGA's default 1,000); 0: no cap. */
  listObjectsMaxResults: number;
  /** ListObjects' deadline in ms (OpenFGA's default 3,000): past it, the results found so far; 0: none. */
  listObjectsDeadlineMs: number;
  /** ListUsers' result cap (default 1,000); 0: no cap. */
  listUsersMaxResults: number;
  /** ListUsers' deadline in ms (default 3,000); 0: none. */
  listUsersDeadlineMs: number;
}

export interface OpenFgaServiceOptions {
  datastore: Datastore;
  engine: Engine;
  catalog: Catalog;
  limits?: Partial<OpenFgaLimits>;
}

export interface CallOptions {
  /** The call's deadline or cancellation. */
  signal?: AbortSignal;
}

/** Query-string parameters of the GET listings, as strings (absent when not given). */
export type QueryParams = Readonly<Record<string, string | undefined>>;

type Json = Record<string, unknown>;

export class OpenFgaService {
  constructor(readonly options: OpenFgaServiceOptions) {}

  /** POST /stores → 201 */
  createStore(body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(body, options);
  }
  /** GET /stores?page_size&continuation_token&name */
  listStores(query: QueryParams, options?: CallOptions): Promise<Json> {
    return unimplemented(query, options);
  }
  /** GET /stores/{store_id} */
  getStore(storeId: string, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, options);
  }
  /** DELETE /stores/{store_id} → 204 (also deletes the store's tuples) */
  deleteStore(storeId: string, options?: CallOptions): Promise<void> {
    return unimplemented(storeId, options);
  }
  /** POST /stores/{store_id}/authorization-models → 201 {authorization_model_id} */
  writeAuthorizationModel(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /** GET /stores/{store_id}/authorization-models?page_size&continuation_token */
  readAuthorizationModels(storeId: string, query: QueryParams, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, query, options);
  }
  /** GET /stores/{store_id}/authorization-models/{id} */
  readAuthorizationModel(storeId: string, modelId: string, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, modelId, options);
  }
  /** POST /stores/{store_id}/write */
  write(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /** POST /stores/{store_id}/read */
  read(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /** GET /stores/{store_id}/changes?type&page_size&continuation_token&start_time */
  readChanges(storeId: string, query: QueryParams, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, query, options);
  }
  /** POST /stores/{store_id}/check */
  check(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /** POST /stores/{store_id}/batch-check */
  batchCheck(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /** POST /stores/{store_id}/expand */
  expand(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /** POST /stores/{store_id}/list-objects */
  listObjects(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /**
   * POST /stores/{store_id}/streamed-list-objects: one `{object}` per result as found. Request errors
   * are thrown before the first item (so the HTTP adapter can still answer with an error status).
   */
  streamedListObjects(storeId: string, body: unknown, options?: CallOptions): Promise<AsyncIterable<{ object: string }>> {
    return unimplemented(storeId, body, options);
  }
  /** POST /stores/{store_id}/list-users */
  listUsers(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, body, options);
  }
  /** PUT /stores/{store_id}/assertions/{authorization_model_id} → 204 */
  writeAssertions(storeId: string, modelId: string, body: unknown, options?: CallOptions): Promise<void> {
    return unimplemented(storeId, modelId, body, options);
  }
  /** GET /stores/{store_id}/assertions/{authorization_model_id} */
  readAssertions(storeId: string, modelId: string, options?: CallOptions): Promise<Json> {
    return unimplemented(storeId, modelId, options);
  }
}

function unimplemented(...args: unknown[]): Promise<never> {
  void args;
  return Promise.reject(new OpenFgaError('unimplemented', 'not implemented yet'));
}
