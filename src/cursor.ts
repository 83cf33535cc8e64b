/**
 * Opaque pagination cursors. A cursor names the position to resume after and a fingerprint of the
 * request it came from, so a cursor replayed with different arguments is rejected, not misread.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from './errors.js';

export function requestFingerprint(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);
}

export function encodeCursor(fingerprint: string, position: unknown): string {
  return Buffer.from(JSON.stringify({ v: 1, f: fingerprint, p: position })).toString('base64url');
}

/** The position stored in `cursor`; throws INVALID_ARGUMENT if it is malformed or from another request. */
export function decodeCursor<T>(cursor: string, fingerprint: string): T {
  let parsed: { v?: unknown; f?: unknown; p?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('malformed cursor: it was not issued by Pemba', 'ERROR_REASON_INVALID_CURSOR');
  }
  if (parsed?.v !== 1 || typeof parsed.f !== 'string' || parsed.p === undefined) {
    throw invalidArgument('malformed cursor: it was not issued by Pemba', 'ERROR_REASON_INVALID_CURSOR');
  }
  if (parsed.f !== fingerprint) {
    throw invalidArgument(
      'the cursor was issued for a different request: resend the same arguments with it, or drop it to start over',
      'ERROR_REASON_INVALID_CURSOR',
    );
  }
  return parsed.p as T;
}
