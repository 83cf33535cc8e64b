/**
 * OpenFGA's continuation tokens: opaque strings the client passes back for the next page. Each names
 * the listing it belongs to (`kind`, and the store for per-store listings) and where the listing
 * resumes; one from another listing or store, or one altered, is `invalid_continuation_token`.
 *
 * Base64url of a small JSON array, built with the web platform's btoa/atob and TextEncoder only.
 */
import { OpenFgaError } from './errors.js';

export type ContinuationKind = 'stores' | 'models' | 'read' | 'changes';

export function encodeContinuation(kind: ContinuationKind, scope: string, position: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify([kind, scope, position]));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The position a token carries; undefined for an absent or empty token. `valid` checks the
 * position's shape (a token is client input).
 */
export function decodeContinuation<T>(
  token: string | undefined,
  kind: ContinuationKind,
  scope: string,
  valid: (position: unknown) => position is T,
): T | undefined {
  if (token === undefined || token === '') return undefined;
  let decoded: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token) || token.length > 4096) throw new Error('not base64url');
    const binary = atob(token.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    decoded = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalidToken();
  }
  if (!Array.isArray(decoded) || decoded.length !== 3 || decoded[0] !== kind || decoded[1] !== scope) {
    throw invalidToken();
  }
  const position: unknown = decoded[2];
  if (!valid(position)) throw invalidToken();
  return position;
}

function invalidToken(): OpenFgaError {
  return new OpenFgaError('invalid_continuation_token', 'Invalid continuation token');
}

export const isString = (p: unknown): p is string => typeof p === 'string';
