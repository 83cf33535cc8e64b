/**
 * Opaque pagination cursors. A cursor names the position to resume after and a fingerprint of the
 * request it came from, so a cursor replayed with different arguments is rejected, not misread.
 * Cursors are signed (HMAC-SHA256, truncated) under a key derived from the datastore's id, which
 * never leaves the server: an edited or forged cursor is refused before its contents are used, and
 * every node sharing a database, before and after restarts, accepts the others' cursors.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { RelationshipKey } from './datastore/datastore.js';
import { invalidArgument } from './errors.js';

const VERSION = 2;
const MAC_BYTES = 16;
const REASON = 'ERROR_REASON_INVALID_CURSOR';

export function requestFingerprint(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);
}

export function encodeCursor(datastoreId: string, fingerprint: string, position: unknown): string {
  const payload = Buffer.from(JSON.stringify({ v: VERSION, f: fingerprint, p: position }));
  return Buffer.concat([mac(datastoreId, payload), payload]).toString('base64url');
}

/**
 * The position stored in `cursor`; throws INVALID_ARGUMENT if it was not issued by this datastore,
 * was issued for a different request, or (a bug, never a genuine cursor) holds no valid position.
 */
export function decodeCursor<T>(datastoreId: string, cursor: string, fingerprint: string, isPosition: (p: unknown) => p is T): T {
  const bytes = typeof cursor === 'string' ? Buffer.from(cursor, 'base64url') : Buffer.alloc(0);
  const payload = bytes.subarray(MAC_BYTES);
  // Only the exact string issued: the base64url decoder would skip stray characters.
  if (payload.length === 0 || bytes.toString('base64url') !== cursor || !timingSafeEqual(bytes.subarray(0, MAC_BYTES), mac(datastoreId, payload))) {
    throw invalidArgument('invalid cursor: it was not issued by this Pemba datastore, or it was altered', REASON);
  }
  let parsed: { v?: unknown; f?: unknown; p?: unknown } | null;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    parsed = null;
  }
  if (parsed?.v !== VERSION || typeof parsed.f !== 'string') throw invalidArgument('malformed cursor', REASON);
  if (parsed.f !== fingerprint) {
    throw invalidArgument(
      'the cursor was issued for a different request: resend the same arguments with it, or drop it to start over',
      REASON,
    );
  }
  if (!isPosition(parsed.p)) throw invalidArgument('malformed cursor: it holds no valid position', REASON);
  return parsed.p;
}

/** A ReadRelationships position: the last relationship's key. */
export function isRelationshipKey(p: unknown): p is RelationshipKey {
  if (typeof p !== 'object' || p === null) return false;
  const k = p as Record<string, unknown>;
  return ['resourceType', 'resourceId', 'relation', 'subjectType', 'subjectId', 'subjectRelation'].every((f) => typeof k[f] === 'string');
}

/** A LookupResources position: the last resource id. */
export function isResourceId(p: unknown): p is string {
  return typeof p === 'string';
}

/** An ExportBulkRelationships position: the revision exported and the last key exported at it. */
export function isExportPosition(p: unknown): p is { r: string; k?: RelationshipKey } {
  if (typeof p !== 'object' || p === null) return false;
  const { r, k } = p as Record<string, unknown>;
  return typeof r === 'string' && /^\d{1,20}$/.test(r) && (k === undefined || isRelationshipKey(k));
}

/** Every cursor a datastore issues is signed under the same key: remember the last few. */
const keys = new Map<string, Buffer>();

function mac(datastoreId: string, payload: Buffer): Buffer {
  let key = keys.get(datastoreId);
  if (!key) {
    key = createHash('sha256').update(`pemba cursor key\0${datastoreId}`).digest();
    if (keys.size >= 64) keys.clear();
    keys.set(datastoreId, key);
  }
  return createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES);
}
