/**
 * What the SQL backends' migrations (sqlite/, postgres/) report alike: the result of migrating, and
 * the refusal of a database migrated by a newer Pemba.
 */
import { failedPrecondition } from '../../errors/index.js';

export interface MigrationResult {
  from: number;
  to: number;
  datastoreId: string;
}

/** FAILED_PRECONDITION for a database (`where`) migrated by a newer Pemba, whose tables this one does not know. */
export function newerSchema(where: string, found: number, known: number) {
  return failedPrecondition(
    `${where} has datastore schema version ${found}, newer than this Pemba knows (${known}): upgrade Pemba to use it`,
  );
}
