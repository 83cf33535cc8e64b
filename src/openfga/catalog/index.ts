/**
 * Opening the catalog that belongs to a datastore: SQLite's and PostgreSQL's in the datastore's own
 * file or database (through its connections), the memory datastore's in the process, one per
 * datastore. The datastore may be wrapped (mirror, instrumentation, read-only): the backend under the
 * wrappers decides.
 */
import { unwrapped } from '../../datastore/common/overridden.js';
import type { Datastore } from '../../datastore/datastore.js';
import { PostgresDatastore } from '../../datastore/postgres/datastore.js';
import { SqliteDatastore } from '../../datastore/sqlite/datastore.js';
import type { Catalog } from './catalog.js';
import { MemoryCatalog, MemoryCatalogState } from './memory-catalog.js';
import { PostgresCatalog } from './postgres-catalog.js';
import { SqliteCatalog } from './sqlite-catalog.js';

export type { Catalog, ModelRecord, Page, StoreRecord } from './catalog.js';

/** The in-process catalogs, by the datastore they belong to (the memory datastore, or a test double). */
const inProcess = new WeakMap<object, MemoryCatalogState>();

/**
 * The catalog of `datastore`. Any datastore other than SQLite's and PostgreSQL's (the memory one, a
 * test double) gets an in-process catalog, shared by every catalog opened over the same datastore.
 * Closing a catalog leaves the datastore open; closing the datastore ends the SQL catalogs' use.
 */
export async function openCatalog(datastore: Datastore): Promise<Catalog> {
  const backend = unwrapped(datastore);
  if (backend instanceof SqliteDatastore) return new SqliteCatalog(backend);
  if (backend instanceof PostgresDatastore) return new PostgresCatalog(backend);
  let state = inProcess.get(backend);
  if (!state) inProcess.set(backend, (state = new MemoryCatalogState()));
  return new MemoryCatalog(state);
}
