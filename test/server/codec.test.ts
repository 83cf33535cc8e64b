/**
 * The gRPC codec (src/api/grpc/codec.ts) against the generated types' own toBinary/fromBinary: the
 * same bytes for every message, the same messages back, and the same refusals of malformed input.
 */
import { describe, expect, it } from 'vitest';
import { v1 } from '@authzed/authzed-node';
import type { IMessageType } from '@protobuf-ts/runtime';
import { decodeMessage, encodedSize, encodeMessage } from '../../src/api/grpc/codec.js';
import { RpcStatus, packErrorInfo } from '../../src/api/rpc-status.js';

const ref = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
const subject = (type: string, id: string, optionalRelation = '') =>
  v1.SubjectReference.create({ object: ref(type, id), optionalRelation });
const struct = (fields: Record<string, unknown>) => v1.PbStruct.fromJson(fields as never);

/** A small deterministic generator, so a failure names its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const ALPHABET = [
  'a',
  'z',
  '0',
  '_',
  '/',
  '|',
  '-',
  '=',
  '+',
  '*',
  ' ',
  'é',
  'ß',
  '中',
  '😀',
  '\u0000',
  '\u007f',
  '\u0080',
];
function text(r: () => number, max = 24): string {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

function relationship(r: () => number): v1.Relationship {
  const rel = v1.Relationship.create({
    resource: ref(text(r), text(r)),
    relation: text(r),
    subject: subject(text(r), text(r), r() < 0.3 ? text(r) : ''),
  });
  if (r() < 0.4)
    rel.optionalCaveat = v1.ContextualizedCaveat.create({
      caveatName: text(r),
      context: struct({ n: r() * 1e6 - 5e5, s: text(r), b: r() < 0.5, l: [1, 'two', null, { x: -0.5 }] }),
    });
  if (r() < 0.4)
    rel.optionalExpiresAt = {
      seconds: String(Math.floor((r() - 0.5) * 2 ** 40)),
      nanos: Math.floor(r() * 1e9),
    };
  return rel;
}

/** Encodes with both codecs and decodes with both, expecting the same bytes and messages. */
function roundTrip<T extends object>(type: IMessageType<T>, message: T): void {
  const expected = Buffer.from(type.toBinary(message));
  const encoded = encodeMessage(type, message);
  expect(Buffer.isBuffer(encoded)).toBe(true);
  expect(encoded.equals(expected)).toBe(true);
  expect(encodedSize(type, message)).toBe(expected.length);
  expect(decodeMessage(type, encoded)).toEqual(type.fromBinary(expected));
}

describe('gRPC codec', () => {
  it('writes the same bytes and reads the same messages as the generated types, for random relationships', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const updates = Array.from({ length: 1 + Math.floor(r() * 5) }, () =>
        v1.RelationshipUpdate.create({ operation: 1 + Math.floor(r() * 3), relationship: relationship(r) }),
      );
      roundTrip(
        v1.WriteRelationshipsRequest,
        v1.WriteRelationshipsRequest.create({
          updates,
          optionalTransactionMetadata: r() < 0.3 ? struct({ k: text(r) }) : undefined,
        }),
      );
      roundTrip(
        v1.ReadRelationshipsResponse,
        v1.ReadRelationshipsResponse.create({
          readAt: { token: text(r) },
          relationship: updates[0].relationship,
          afterResultCursor: { token: text(r, 90) },
        }),
      );
    }
  });

  it('covers every kind of field the API answers with', () => {
    const token = { token: 'GhUKEzE3NjUwMDAwMDAwMDAwMDAwMDA=' };
    const item = v1.CheckBulkPermissionsRequestItem.create({
      resource: ref('document', 'doc1'),
      permission: 'view',
      subject: subject('user', 'ünïcode😀'),
      context: struct({ n: -0, big: 1e300, tiny: -1e-300, list: [true, false, null] }),
    });
    roundTrip(
      v1.CheckBulkPermissionsResponse,
      v1.CheckBulkPermissionsResponse.create({
        checkedAt: token,
        pairs: [
          v1.CheckBulkPermissionsPair.create({
            request: item,
            response: {
              oneofKind: 'item',
              item: v1.CheckBulkPermissionsResponseItem.create({
                permissionship: v1.CheckPermissionResponse_Permissionship.CONDITIONAL_PERMISSION,
                partialCaveatInfo: { missingRequiredContext: ['a', 'b'] },
              }),
            },
          }),
          v1.CheckBulkPermissionsPair.create({
            request: item,
            response: { oneofKind: 'error', error: RpcStatus.create({ code: 3, message: 'bad' }) },
          }),
        ],
      }),
    );
    roundTrip(
      v1.LookupResourcesResponse,
      v1.LookupResourcesResponse.create({
        lookedUpAt: token,
        resourceObjectId: 'lr-1',
        permissionship: v1.LookupPermissionship.HAS_PERMISSION,
        afterResultCursor: { token: 'x'.repeat(300) },
      }),
    );
    // 64-bit fields at their limits (int64 seconds, uint64 counts).
    for (const seconds of ['0', '1', '-1', '9223372036854775807', '-9223372036854775808'])
      roundTrip(
        v1.Relationship,
        v1.Relationship.create({
          resource: ref('a', 'b'),
          relation: 'r',
          subject: subject('u', 'x'),
          optionalExpiresAt: { seconds, nanos: 999_999_999 },
        }),
      );
    for (const relationshipCount of ['0', '1', '4294967296', '18446744073709551615'])
      roundTrip(
        v1.ExperimentalCountRelationshipsResponse,
        v1.ExperimentalCountRelationshipsResponse.create({
          counterResult: { oneofKind: 'readCounterValue', readCounterValue: { relationshipCount, readAt: token } },
        }),
      );
    roundTrip(
      RpcStatus,
      RpcStatus.create({
        code: 9,
        message: 'é',
        details: [packErrorInfo({ reason: 'R', domain: 'd', metadata: { k: 'v' } })],
      }),
    );
    roundTrip(v1.WriteSchemaResponse, v1.WriteSchemaResponse.create({}));
    // Lone surrogates (a JSON body over the gateway can carry them) are written as U+FFFD, as TextEncoder does.
    for (const odd of ['\ud800', 'a\udc00b', '\ud83d', 'x'.repeat(50) + '\ud800'])
      roundTrip(v1.ReadRelationshipsResponse, v1.ReadRelationshipsResponse.create({ readAt: { token: odd } }));
  });

  it('writes back the unknown fields a request carried', () => {
    const known = Buffer.from(v1.ObjectReference.toBinary(ref('document', 'doc1')));
    // Field 15, length-delimited, "hi"; field 14, varint 300.
    const withUnknown = Buffer.concat([known, Buffer.from([0x7a, 2, 0x68, 0x69, 0x70, 0xac, 0x02])]);
    const decoded = decodeMessage(v1.ObjectReference, withUnknown);
    expect(decoded).toEqual(v1.ObjectReference.fromBinary(withUnknown));
    expect(encodeMessage(v1.ObjectReference, decoded).equals(Buffer.from(v1.ObjectReference.toBinary(decoded)))).toBe(
      true,
    );
    expect(encodeMessage(v1.ObjectReference, decoded).equals(withUnknown)).toBe(true);
  });

  it('refuses what the generated types refuse: malformed UTF-8 and truncated messages', () => {
    const good = Buffer.from(v1.ObjectReference.toBinary(ref('document', 'doc1')));
    const badUtf8 = Buffer.from(good);
    badUtf8[badUtf8.length - 1] = 0xff;
    expect(() => v1.ObjectReference.fromBinary(badUtf8)).toThrow();
    expect(() => decodeMessage(v1.ObjectReference, badUtf8)).toThrow(TypeError);
    for (let cut = 1; cut < good.length; cut++) {
      const truncated = good.subarray(0, cut);
      let expected: unknown;
      try {
        expected = v1.ObjectReference.fromBinary(truncated);
      } catch (error) {
        expected = error;
      }
      if (expected instanceof Error)
        expect(() => decodeMessage(v1.ObjectReference, truncated)).toThrow(expected.message);
      else expect(decodeMessage(v1.ObjectReference, truncated)).toEqual(expected);
    }
  });

  it('reads messages from a plain Uint8Array as well as from a Buffer', () => {
    const message = v1.SubjectReference.create({ object: ref('user', 'ascii-and-ü'), optionalRelation: 'member' });
    const bytes = v1.SubjectReference.toBinary(message);
    expect(decodeMessage(v1.SubjectReference, new Uint8Array(bytes))).toEqual(message);
    expect(decodeMessage(v1.SubjectReference, Buffer.from(bytes))).toEqual(message);
  });
});
