/** Server-side limits on one call (SpiceDB's `--max-*` flags and their defaults). */
import { v1 } from '@authzed/authzed-node';
import { MAX_RELATIONSHIP_CONTEXT_BYTES, MAX_REQUEST_CONTEXT_BYTES } from '../caveats/index.js';
import { invalidArgument, limitTooLarge } from '../errors/index.js';
import { formatRelationship } from '../relationships/relationship-string.js';
import { DEFAULT_MAX_CHECK_BULK_ITEMS, DEFAULT_WRITE_LIMITS } from '../requests/request-validation.js';
import { relationship } from './convert.js';
import { encodedSize } from './grpc/codec.js';

export interface ApiLimits {
  maxReadRelationshipsLimit: number;
  maxLookupResourcesLimit: number;
  maxDeleteRelationshipsLimit: number;
  maxBulkExportRelationshipsLimit: number;
  /** Items in one CheckBulkPermissions request (enforced by Pemba: pass it as PembaOptions.maxCheckBulkItems). */
  maxCheckBulkItems: number;
  /** Bytes of schema text in one WriteSchema. */
  maxSchemaBytes: number;
  /** Not a limit: how often an idle Watch that asked for checkpoints gets one, in ms (--watch-api-heartbeat). */
  watchHeartbeatMs: number;
  /** Updates in one WriteRelationships (enforced by Pemba: PembaOptions.maxUpdatesPerWrite). */
  maxUpdatesPerWrite: number;
  /** Preconditions in one Write/DeleteRelationships (enforced by Pemba: PembaOptions.maxPreconditionsPerCall). */
  maxPreconditionsPerCall: number;
  /** Bytes of the caveat context a request sends (encoded protobuf Struct). */
  maxCaveatContextBytes: number;
  /** Bytes of a written relationship's caveat (name and context, encoded). */
  maxRelationshipContextBytes: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxReadRelationshipsLimit: 1000,
  maxLookupResourcesLimit: 1000,
  maxDeleteRelationshipsLimit: 1000,
  maxBulkExportRelationshipsLimit: 10_000,
  maxCheckBulkItems: DEFAULT_MAX_CHECK_BULK_ITEMS,
  maxSchemaBytes: 4 * 1024 * 1024,
  watchHeartbeatMs: 1000,
  maxUpdatesPerWrite: DEFAULT_WRITE_LIMITS.maxUpdates,
  maxPreconditionsPerCall: DEFAULT_WRITE_LIMITS.maxPreconditions,
  maxCaveatContextBytes: MAX_REQUEST_CONTEXT_BYTES,
  maxRelationshipContextBytes: MAX_RELATIONSHIP_CONTEXT_BYTES,
};

/** A requested page size above the server's maximum is refused, not silently capped (as SpiceDB does). */
export function assertWithinLimit(requested: number, maximum: number): void {
  if (requested > maximum) {
    throw limitTooLarge(requested, maximum);
  }
}

/** A request's caveat context is at most `max` bytes encoded (SpiceDB's --max-caveat-context-size). */
export function assertRequestContextSize(context: v1.PbStruct | undefined, max: number): void {
  if (!context) return;
  const size = encodedSize(v1.PbStruct, context);
  if (size > max) throw invalidArgument(`request caveat context should have less than ${max} bytes but had ${size}`);
}

/** A written relationship's caveat is at most `max` bytes encoded (SpiceDB's --max-relationship-context-size). */
export function assertRelationshipContextSize(r: v1.Relationship | undefined, max: number): void {
  if (!r?.optionalCaveat?.context) return;
  if (encodedSize(v1.ContextualizedCaveat, r.optionalCaveat) <= max) return;
  const { resource, relation, subject } = relationship(r);
  throw invalidArgument(
    `provided relationship \`${formatRelationship({ resource, relation, subject })}\` exceeded maximum allowed caveat size of ${max}`,
  );
}
