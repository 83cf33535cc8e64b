/**
 * Byte helpers for code that must run in browsers and edge runtimes as well as Node: web standards
 * (TextEncoder, TextDecoder, atob) everywhere, and Node's native Buffer where there is one —
 * found on globalThis, never imported — because a token or cursor is coded on every call and every
 * streamed result, and TextEncoder costs ten times Buffer's there.
 */
const NodeBuffer = (globalThis as { Buffer?: typeof import('node:buffer').Buffer }).Buffer;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const utf8: (text: string) => Uint8Array = NodeBuffer
  ? (text) => NodeBuffer.from(text, 'utf8')
  : (text) => encoder.encode(text);
export const fromUtf8: (bytes: Uint8Array) => string = NodeBuffer
  ? (bytes) => NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  : (bytes) => decoder.decode(bytes);

/** Bytes of `text` in UTF-8, without encoding it. */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Decodes standard base64; the caller has checked the alphabet and padding. */
export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const URL_DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) URL_DIGIT[URL_ALPHABET.charCodeAt(i)] = i;

/**
 * base64url without padding (RFC 4648 §5). Tokens and cursors are encoded on every call and every
 * streamed result: Buffer's native encoder in Node, a table-driven one elsewhere (btoa's detour
 * through strings shows).
 */
export const toBase64Url: (bytes: Uint8Array) => string = NodeBuffer
  ? (bytes) =>
      // V8 keeps small typed arrays on its heap, and `.buffer` would first move them off it (~1 µs).
      bytes.length <= 64
        ? portableToBase64Url(bytes)
        : NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
  : portableToBase64Url;

/** The table-driven encoder (exported for the test that compares it with Buffer's). */
export function portableToBase64Url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += URL_ALPHABET[n >> 18] + URL_ALPHABET[(n >> 12) & 63] + URL_ALPHABET[(n >> 6) & 63] + URL_ALPHABET[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    out += URL_ALPHABET[n >> 18] + URL_ALPHABET[(n >> 12) & 63];
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += URL_ALPHABET[n >> 18] + URL_ALPHABET[(n >> 12) & 63] + URL_ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/**
 * Decodes base64url; like Buffer's decoder it is lenient about the bits after the last whole byte
 * (callers that need the canonical form re-encode and compare). Characters outside the alphabet, or
 * a length no encoding has, yield an empty result.
 */
export function fromBase64Url(text: string): Uint8Array {
  if (text.length % 4 === 1) return new Uint8Array(0);
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? URL_DIGIT[c] : -1;
    if (d < 0) return new Uint8Array(0);
    value = ((value << 6) | d) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
