/**
 * Preshared-key authentication. Several keys may be valid at once (rotation: add the new key,
 * move clients, drop the old one). Keys are compared as SHA-256 digests with timingSafeEqual, and
 * every configured key is compared on every call, so neither the length nor the position of a
 * matching key leaks through timing. Keys are never logged or put in error messages.
 */
import * as crypto from 'node:crypto';
import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthenticated } from '../errors/index.js';

/** Most authorization headers remembered as accepted (clients send the same one on every call). */
const MAX_ACCEPTED = 16;

export class PresharedKeys {
  private readonly digests: Buffer[];
  /**
   * Headers that matched a key, so the next call with the same header skips its digest. A Set lookup
   * compares a header's content only with an entry of the same hash, so its timing tells a caller
   * nothing about the keys; a header that did not match is never added.
   */
  private readonly accepted = new Set<string>();

  constructor(keys: readonly string[]) {
    const usable = keys.filter((k) => k.length > 0);
    if (usable.length === 0) throw new Error('at least one non-empty preshared key is required');
    this.digests = usable.map(digest);
  }

  get count(): number {
    return this.digests.length;
  }

  /** True if `key` is one of the configured keys. */
  matches(key: string): boolean {
    const presented = digest(key);
    let found = false;
    for (const d of this.digests) found = timingSafeEqual(d, presented) || found;
    return found;
  }

  /** Throws UNAUTHENTICATED unless `authorization` is `Bearer <a configured key>`. */
  authenticate(authorization: string | undefined): void {
    if (authorization !== undefined && this.accepted.has(authorization)) return;
    const match = /^bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
    if (!match) throw unauthenticated('missing or malformed authorization: expected `Bearer <preshared key>`');
    if (!this.matches(match[1])) throw unauthenticated('invalid preshared key');
    if (this.accepted.size >= MAX_ACCEPTED) this.accepted.clear();
    this.accepted.add(authorization!);
  }
}

/** crypto.hash (Node 20.12+): the one-shot digest, half the cost of a Hash object on every call. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;

function digest(key: string): Buffer {
  return oneShot ? oneShot('sha256', key, 'buffer') : createHash('sha256').update(key, 'utf8').digest();
}
