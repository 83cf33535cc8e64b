/**
 * ZedTokens: opaque revision tokens. Payload: a version byte, 6 bytes of SHA-256 of the datastore id
 * (enough to recognise a token from another datastore while keeping tokens ~14 characters) and the
 * revision as an unsigned LEB128 varint; base64url-encoded.
 */
import { invalidArgument } from '../errors/index.js';
import { fromBase64Url, toBase64Url } from '../runtime/bytes.js';
import { sha256 } from '../runtime/hash.js';

const VERSION = 1;
const FINGERPRINT_BYTES = 6;
/** 10 varint bytes hold 64 bits, more than any backend's revision. */
const MAX_VARINT_BYTES = 10;

/**
 * The last token encoded and the last decoded: most calls in a quantization window name the same
 * revision, and both functions are pure, so one entry each saves their work on the hot path.
 */
let lastEncoded = { datastoreId: '', revision: -1n, token: '' };
let lastDecoded = { datastoreId: '', token: '', revision: -1n };

export function encodeToken(datastoreId: string, revision: bigint): string {
  if (revision === lastEncoded.revision && datastoreId === lastEncoded.datastoreId) return lastEncoded.token;
  const token = encode(datastoreId, revision);
  lastEncoded = { datastoreId, revision, token };
  return token;
}

function encode(datastoreId: string, revision: bigint): string {
  if (revision < 0n) throw invalidArgument(`cannot encode negative revision ${revision}`);
  let varintBytes = 1;
  for (let r = revision >> 7n; r > 0n; r >>= 7n) varintBytes++;
  // Exactly sized: a subarray of a small typed array would cost more than the rest of the encoding.
  const bytes = new Uint8Array(1 + FINGERPRINT_BYTES + varintBytes);
  bytes[0] = VERSION;
  bytes.set(fingerprint(datastoreId), 1);
  let n = 1 + FINGERPRINT_BYTES;
  let r = revision;
  do {
    const low = Number(r & 0x7fn);
    r >>= 7n;
    bytes[n++] = r > 0n ? low | 0x80 : low;
  } while (r > 0n);
  return toBase64Url(bytes);
}

/** The revision in `token`; INVALID_ARGUMENT if it is malformed or was issued by another datastore. */
export function decodeToken(token: string, datastoreId: string): bigint {
  const revision = decodeOwnToken(token, datastoreId);
  if (revision === undefined) {
    throw invalidArgument(
      'consistency token was issued by a different datastore: tokens are only valid where they were issued',
    );
  }
  return revision;
}

/** The revision in `token`, or undefined when it is well-formed but was issued by another datastore; INVALID_ARGUMENT if malformed. */
export function decodeOwnToken(token: string, datastoreId: string): bigint | undefined {
  if (token === lastDecoded.token && datastoreId === lastDecoded.datastoreId) return lastDecoded.revision;
  const revision = decode(token, datastoreId);
  if (revision !== undefined) lastDecoded = { datastoreId, token, revision };
  return revision;
}

function decode(token: string, datastoreId: string): bigint | undefined {
  const malformed = () =>
    invalidArgument(`malformed consistency token \`${String(token).slice(0, 64)}\`: it was not issued by Pemba`);
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+$/.test(token)) throw malformed();
  const buf = fromBase64Url(token);
  // Indexes, not subarrays: a view of a small typed array costs more than the whole decoding.
  const first = 1 + FINGERPRINT_BYTES;
  const varintBytes = buf.length - first;
  if (buf[0] !== VERSION || varintBytes <= 0 || varintBytes > MAX_VARINT_BYTES) throw malformed();
  let revision = 0n;
  for (let i = 0; i < varintBytes; i++) {
    const byte = buf[first + i];
    if (((byte & 0x80) === 0) !== (i === varintBytes - 1)) throw malformed();
    revision |= BigInt(byte & 0x7f) << BigInt(7 * i);
  }
  // Only the canonical encoding is accepted (no padded varints, no stray base64 bits).
  if (toBase64Url(buf) !== token || (varintBytes > 1 && buf[buf.length - 1] === 0)) throw malformed();
  const expected = fingerprint(datastoreId);
  for (let i = 0; i < FINGERPRINT_BYTES; i++) if (buf[1 + i] !== expected[i]) return undefined;
  return revision;
}

/** Every token a datastore issues hashes the same id: remember the last few. */
const fingerprints = new Map<string, Uint8Array>();

function fingerprint(datastoreId: string): Uint8Array {
  let fp = fingerprints.get(datastoreId);
  if (!fp) {
    fp = sha256(datastoreId).subarray(0, FINGERPRINT_BYTES);
    if (fingerprints.size >= 64) fingerprints.clear();
    fingerprints.set(datastoreId, fp);
  }
  return fp;
}
