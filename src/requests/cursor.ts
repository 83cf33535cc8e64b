/**
 * Opaque pagination cursors. A cursor names the position to resume after and a fingerprint of the
 * request it came from, so a cursor replayed with different arguments is rejected, not misread.
 * Cursors are signed (HMAC-SHA256, truncated) under a key derived from the datastore's id, which
 * never leaves the server: an edited or forged cursor is refused before its contents are used, and
 * every node sharing a database, before and after restarts, accepts the others' cursors.
 */
import type { RelationshipKey } from '../datastore/datastore.js';
import { invalidCursor } from '../errors/index.js';
import { equalBytes, fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../runtime/bytes.js';
import { hmacSha256, sha256 } from '../runtime/hash.js';

const VERSION = 2;
const MAC_BYTES = 16;

export function requestFingerprint(parts: unknown): string {
  return toBase64Url(sha256(JSON.stringify(parts))).slice(0, 16);
}

export function encodeCursor(datastoreId: string, fingerprint: string, position: unknown): string {
  const payload = utf8(JSON.stringify({ v: VERSION, f: fingerprint, p: position }));
  const bytes = new Uint8Array(MAC_BYTES + payload.length);
  bytes.set(mac(datastoreId, payload));
  bytes.set(payload, MAC_BYTES);
  return toBase64Url(bytes);
}

/**
 * The position stored in `cursor`; throws INVALID_ARGUMENT if it was not issued by this datastore,
 * was issued for a different request, or (a bug, never a genuine cursor) holds no valid position.
 */
export function decodeCursor<T>(
  datastoreId: string,
  cursor: string,
  fingerprint: string,
  isPosition: (p: unknown) => p is T,
): T {
  const bytes = typeof cursor === 'string' ? fromBase64Url(cursor) : new Uint8Array(0);
  const payload = bytes.subarray(MAC_BYTES);
  // Only the exact string issued: the base64url decoder would skip stray characters.
  if (
    payload.length === 0 ||
    toBase64Url(bytes) !== cursor ||
    !equalBytes(bytes.subarray(0, MAC_BYTES), mac(datastoreId, payload))
  ) {
    throw invalidCursor('invalid cursor: it was not issued by this Pemba datastore, or it was altered');
  }
  let parsed: { v?: unknown; f?: unknown; p?: unknown } | null;
  try {
    parsed = JSON.parse(fromUtf8(payload));
  } catch {
    parsed = null;
  }
  if (parsed?.v !== VERSION || typeof parsed.f !== 'string') throw invalidCursor('malformed cursor');
  if (parsed.f !== fingerprint) {
    throw invalidCursor(
      'the cursor was issued for a different request: resend the same arguments with it, or drop it to start over',
    );
  }
  if (!isPosition(parsed.p)) throw invalidCursor('malformed cursor: it holds no valid position');
  return parsed.p;
}

/** A ReadRelationships position: the last relationship's key. */
export function isRelationshipKey(p: unknown): p is RelationshipKey {
  if (typeof p !== 'object' || p === null) return false;
  const k = p as Record<string, unknown>;
  return ['resourceType', 'resourceId', 'relation', 'subjectType', 'subjectId', 'subjectRelation'].every(
    (f) => typeof k[f] === 'string',
  );
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
const keys = new Map<string, (message: Uint8Array) => Uint8Array>();

function mac(datastoreId: string, payload: Uint8Array): Uint8Array {
  let sign = keys.get(datastoreId);
  if (!sign) {
    sign = hmacSha256(sha256(`pemba cursor key\0${datastoreId}`));
    if (keys.size >= 64) keys.clear();
    keys.set(datastoreId, sign);
  }
  return sign(payload).subarray(0, MAC_BYTES);
}
