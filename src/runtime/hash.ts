/**
 * SHA-256 and HMAC-SHA256, synchronous, anywhere. In Node they are node:crypto's (native, about twice
 * as fast: a cursor is signed for every streamed result), found at run time through
 * process.getBuiltinModule so that nothing imports a Node built-in; elsewhere @noble/hashes (pure JS).
 * Both give the same bytes (tested).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { utf8 } from './bytes.js';

type Bytes = Uint8Array | string;
export interface Hashes {
  sha256(data: Bytes): Uint8Array;
  /** A keyed HMAC-SHA256 (the key is prepared once). */
  hmacSha256(key: Uint8Array): (message: Uint8Array) => Uint8Array;
}

const bytes = (data: Bytes) => (typeof data === 'string' ? utf8(data) : data);

export const portableHashes: Hashes = {
  sha256: (data) => nobleSha256(bytes(data)),
  hmacSha256(key) {
    const keyed = hmac.create(nobleSha256, key);
    return (message) => keyed.clone().update(message).digest();
  },
};

function nodeHashes(): Hashes | undefined {
  if (typeof process !== 'object' || typeof process?.getBuiltinModule !== 'function') return undefined;
  const crypto = process.getBuiltinModule('node:crypto');
  if (!crypto) return undefined;
  return {
    sha256: (data) => crypto.createHash('sha256').update(data).digest(),
    hmacSha256: (key) => (message) => crypto.createHmac('sha256', key).update(message).digest(),
  };
}

export const nativeHashes: Hashes | undefined = nodeHashes();

const chosen = nativeHashes ?? portableHashes;
export const sha256 = chosen.sha256;
export const hmacSha256 = chosen.hmacSha256;
