/**
 * Pemba's public library API: Google's Zanzibar, speaking SpiceDB's schema language.
 *
 * @example
 * import { Pemba, parseRelationship } from 'pemba';
 * const pemba = await Pemba.open();
 * await pemba.writeSchema('definition user {}\ndefinition doc {\n  relation reader: user\n  permission read = reader\n}');
 * await pemba.writeRelationships({ updates: [{ operation: 'TOUCH', relationship: parseRelationship('doc:readme#reader@user:ann') }] });
 * const r = await pemba.check({ resource: { type: 'doc', id: 'readme' }, permission: 'read',
 *   subject: { type: 'user', id: 'ann', relation: '...' } });
 * r.permissionship; // 'HAS_PERMISSION'
 */
export { Pemba, MAX_UPDATES_PER_WRITE, MAX_PRECONDITIONS_PER_WRITE, DEFAULT_MAX_CHECK_BULK_ITEMS } from './pemba.js';
export type { PembaOptions } from './pemba.js';
export type { NestedGroupIndexStats, BudgetExceeded } from './engine/nested-group-index.js';
/** The engine behind the facade, for front ends that bring their own API (the answers are memberships). */
export { Engine } from './engine/engine.js';
export type {
  EngineOptions,
  CheckQuery,
  ExpandQuery,
  LookupResourcesQuery,
  LookupSubjectsQuery,
  FoundSubject,
  BulkAnswer,
} from './engine/engine.js';
export type { Membership } from './engine/membership.js';
export type * from './requests/requests.js';
export type * from './relationships/relationship.js';
export { PembaError, SchemaError } from './errors/index.js';
export type { ErrorCode, ErrorReason } from './errors/index.js';
export { compileSchema, printSchema, validateRelationship } from './schema/index.js';
export type * from './schema/ir.js';
export { ELLIPSIS } from './schema/ir.js';
export { parseRelationship, formatRelationship } from './relationships/relationship-string.js';
export type * from './datastore/datastore.js';
export { openMemoryDatastore, createMemoryDatastore } from './datastore/memory/datastore.js';
export { mirrorDatastore } from './datastore/mirror/mirrored-datastore.js';
export type { Mirrored, MirrorOptions } from './datastore/mirror/mirrored-datastore.js';
export type { RelationshipMirrorStats, RelationshipMirrorState } from './datastore/mirror/relationship-mirror.js';
