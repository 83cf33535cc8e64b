/**
 * `--datastore-readonly`: the datastore as SpiceDB's read-only proxy makes it. Every read-write
 * transaction fails before it starts with UNAVAILABLE, message `service read-only`, ErrorInfo reason
 * ERROR_REASON_SERVICE_READ_ONLY, so every API write (WriteRelationships, DeleteRelationships,
 * WriteSchema, ImportBulkRelationships and the experimental BulkImportRelationships) fails with it
 * once its request has been checked; reads, lookups and Watch work. The guard is switched on after
 * `--datastore-bootstrap-files` are loaded, as SpiceDB loads them before it wraps the datastore.
 */
import type { Datastore } from '../datastore/datastore.js';
import { withOverrides } from '../datastore/common/overridden.js';
import { PembaError } from '../errors/index.js';
import type { ErrorReason } from '../errors/index.js';

/** SpiceDB's ErrServiceReadOnly. */
export function serviceReadOnly(): PembaError {
  return new PembaError('UNAVAILABLE', 'service read-only', 'ERROR_REASON_SERVICE_READ_ONLY' as ErrorReason);
}

export interface ReadOnlyGuard<D extends Datastore> {
  /** The datastore to hand out: writes go through until lock(), then fail. */
  datastore: D;
  lock(): void;
}

export function readOnlyGuard<D extends Datastore>(datastore: D): ReadOnlyGuard<D> {
  let locked = false;
  const readWrite: Datastore['readWrite'] = (fn, options) =>
    locked ? Promise.reject(serviceReadOnly()) : datastore.readWrite(fn, options);
  return {
    datastore: withOverrides(datastore, { readWrite }),
    lock: () => void (locked = true),
  };
}
