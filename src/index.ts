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
export { Pemba, MAX_UPDATES_PER_WRITE, MAX_PRECONDITIONS_PER_WRITE } from './pemba.js';
export type { PembaOptions } from './pemba.js';
export type { NestedGroupIndexStats, BudgetExceeded } from './engine/nested-group-index.js';
export type * from './requests/requests.js';
export type * from './relationships/relationship.js';
export { PembaError, SchemaError } from './errors/index.js';
export type { ErrorCode } from './errors/index.js';
export { compileSchema, printSchema, validateRelationship } from './schema/index.js';
export type * from './schema/ir.js';
export { ELLIPSIS } from './schema/ir.js';
export { parseRelationship, formatRelationship } from './relationships/relationship-string.js';
export type * from './datastore/datastore.js';
export { createMemoryDatastore } from './datastore/memory/memory-datastore.js';
