import { describe, expect, it } from 'vitest';
import {
  equalBytes,
  fromBase64,
  fromBase64Url,
  fromUtf8,
  portableToBase64Url,
  toBase64Url,
  utf8,
  utf8Length,
} from '../../src/runtime/bytes.js';
import { nativeHashes, portableHashes } from '../../src/runtime/hash.js';

/** Deterministic pseudo-random bytes. */
function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed;
  for (let i = 0; i < length; i++) out[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

describe('runtime bytes: the same results as Buffer, without Buffer', () => {
  it('base64url round-trips every length from 0 to 300, both encoders agreeing with Buffer', () => {
    for (let n = 0; n <= 300; n++) {
      const b = bytesOf(n, n + 1);
      const expected = Buffer.from(b).toString('base64url');
      expect(portableToBase64Url(b)).toBe(expected);
      expect(toBase64Url(b)).toBe(expected);
      expect(toBase64Url(b.subarray(1))).toBe(Buffer.from(b.subarray(1)).toString('base64url'));
      expect(Buffer.from(fromBase64Url(expected)).equals(Buffer.from(b))).toBe(true);
    }
  });

  it('decodes nothing from text outside the alphabet or of an impossible length', () => {
    for (const bad of ['a', 'abcde', 'ab$c', 'ab+c', 'ab/c', 'ab=c', 'é']) expect(fromBase64Url(bad)).toHaveLength(0);
  });

  it('standard base64 and UTF-8 as Buffer does', () => {
    const text = 'plain, accentué, 中文, emoji 😀, lone surrogate \ud800 end';
    expect(Buffer.from(utf8(text)).equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(fromUtf8(utf8(text))).toBe(Buffer.from(text, 'utf8').toString('utf8'));
    expect(utf8Length(text)).toBe(Buffer.byteLength(text));
    const b = bytesOf(97, 7);
    expect(equalBytes(fromBase64(Buffer.from(b).toString('base64')), b)).toBe(true);
    expect(equalBytes(b, bytesOf(97, 8))).toBe(false);
  });
});

describe('runtime hashes', () => {
  it('node:crypto is used in Node, and gives the same bytes as the portable implementation', () => {
    expect(nativeHashes).toBeDefined();
    for (const input of ['', 'pemba', 'x'.repeat(1000)]) {
      expect(Buffer.from(nativeHashes!.sha256(input)).equals(Buffer.from(portableHashes.sha256(input)))).toBe(true);
      const key = portableHashes.sha256(`key ${input}`);
      const message = utf8(`message ${input}`);
      const sign = nativeHashes!.hmacSha256(key);
      expect(Buffer.from(sign(message)).equals(Buffer.from(portableHashes.hmacSha256(key)(message)))).toBe(true);
    }
  });

  it('match known SHA-256 and HMAC-SHA256 values (RFC 4231 case 2)', () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    expect(hex(portableHashes.sha256('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const mac = portableHashes.hmacSha256(utf8('Jefe'))(utf8('what do ya want for nothing?'));
    expect(hex(mac)).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});
