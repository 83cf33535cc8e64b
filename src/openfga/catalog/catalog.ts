/**
 * The OpenFGA front end's catalog: stores, their authorization models (immutable, ULID ids) and
 * assertions. Tuples are not here: they are relationships in the datastore, under the store's type
 * prefix (see ../store-prefix.ts). One implementation per backend, each kept beside the datastore it
 * belongs to (memory: in the process; SQLite: tables in the same file; PostgreSQL: tables in the same
 * database), so that every node of a fleet sees the same stores and models.
 */
import type { AuthorizationModel } from '../model/types.js';

export interface StoreRecord {
  /** A ULID. */
  id: string;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Model records may be shared (models are immutable, and cached): they are deeply frozen; copy to change one. */
export interface ModelRecord {
  /** A ULID; later models have larger ids. */
  id: string;
  storeId: string;
  /** The model as written (without `id`). */
  model: AuthorizationModel;
  createdAt: Date;
}

export interface Page {
  /** Return records strictly after this id in the listing's order. */
  after?: string;
  limit: number;
}

export interface Catalog {
  createStore(name: string): Promise<StoreRecord>;
  /** Undefined when there is no such store or it was deleted. */
  getStore(id: string): Promise<StoreRecord | undefined>;
  /** Live stores in id (creation) order; `name` filters on the exact name. */
  listStores(page: Page & { name?: string }): Promise<StoreRecord[]>;
  /** Marks the store deleted; false when it did not exist (or was already deleted). */
  deleteStore(id: string): Promise<boolean>;
  /** Rejects with a NOT_FOUND PembaError when the store does not exist (or was deleted). */
  writeModel(storeId: string, model: AuthorizationModel): Promise<ModelRecord>;
  getModel(storeId: string, modelId: string): Promise<ModelRecord | undefined>;
  /** The store's newest model. */
  latestModel(storeId: string): Promise<ModelRecord | undefined>;
  /** The store's models, newest first; `after` is a model id from the previous page. */
  listModels(storeId: string, page: Page): Promise<ModelRecord[]>;
  /** Replaces the assertions of one model (JSON values, kept as given); NOT_FOUND for an unknown store or model. */
  writeAssertions(storeId: string, modelId: string, assertions: unknown[]): Promise<void>;
  /** Empty when none were written. */
  readAssertions(storeId: string, modelId: string): Promise<unknown[]>;
  close(): Promise<void>;
}
