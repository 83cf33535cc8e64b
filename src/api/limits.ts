/** Server-side limits on one call (SpiceDB's `--max-*` flags and their defaults). */
import { limitTooLarge } from '../errors/index.js';
import { DEFAULT_MAX_CHECK_BULK_ITEMS } from '../requests/request-validation.js';

export interface ApiLimits {
  maxReadRelationshipsLimit: number;
  maxLookupResourcesLimit: number;
  maxDeleteRelationshipsLimit: number;
  maxBulkExportRelationshipsLimit: number;
  /** Items in one CheckBulkPermissions request (enforced by Pemba: pass it as PembaOptions.maxCheckBulkItems). */
  maxCheckBulkItems: number;
  /** Bytes of schema text in one WriteSchema. */
  maxSchemaBytes: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxReadRelationshipsLimit: 1000,
  maxLookupResourcesLimit: 1000,
  maxDeleteRelationshipsLimit: 1000,
  maxBulkExportRelationshipsLimit: 10_000,
  maxCheckBulkItems: DEFAULT_MAX_CHECK_BULK_ITEMS,
  maxSchemaBytes: 4 * 1024 * 1024,
};

/** A requested page size above the server's maximum is refused, not silently capped (as SpiceDB does). */
export function assertWithinLimit(requested: number, maximum: number): void {
  if (requested > maximum) {
    throw limitTooLarge(requested, maximum);
  }
}
