/**
 * Where a store's tuples live in the shared datastore: every type name of the store's models is
 * prefixed with the store's own prefix (`fga_01hx…/document`), so stores never see each other's tuples,
 * caches and index entries, and deleting a store deletes exactly the relationships under its prefix.
 * The prefix is SpiceDB-shaped (`name/`), so the SpiceDB API can reach a store's tuples when its type
 * names are valid SpiceDB names too.
 */

/** The type prefix of a store (its ULID, lower-cased). */
export function storeTypePrefix(storeId: string): string {
  return `fga_${storeId.toLowerCase()}/`;
}
