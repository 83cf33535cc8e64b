/** SHA-256 and HMAC-SHA256 that run anywhere (pure JS, synchronous), from @noble/hashes. */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { utf8 } from './bytes.js';

export const sha256 = (data: Uint8Array | string): Uint8Array =>
  nobleSha256(typeof data === 'string' ? utf8(data) : data);

/** A keyed HMAC-SHA256: the key schedule is done once, each message costs one clone. */
export function hmacSha256(key: Uint8Array): (message: Uint8Array) => Uint8Array {
  const keyed = hmac.create(nobleSha256, key);
  return (message) => keyed.clone().update(message).digest();
}
