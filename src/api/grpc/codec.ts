/**
 * The binary codec of the gRPC API: the generated protobuf-ts message types (their field walk and
 * wire layout), written through protobufjs's Writer and read through protobuf-ts's BinaryReader with
 * a faster decoding of ASCII strings. Same bytes, same messages, same errors as the types' own
 * toBinary/fromBinary (test/server/codec.test.ts); the server encodes every answer and streamed result
 * and decodes every request, and protobuf-ts's own writer spent most of that in small typed arrays
 * and TextEncoder (a LookupResources result: 12 µs against 1.2 µs; a 100-item CheckBulk answer:
 * 1.26 ms against 0.08 ms).
 */
import { BinaryReader, PbLong, PbULong } from '@protobuf-ts/runtime';
import type {
  BinaryReadOptions,
  BinaryWriteOptions,
  IBinaryWriter,
  IMessageType,
  WireType,
} from '@protobuf-ts/runtime';
import protobuf from 'protobufjs/minimal.js';

type Long64 = string | number | bigint;
/** What protobufjs's Writer takes for a 64-bit value: the two 32-bit halves (LongBits.from reads them). */
const halves = (l: { lo: number; hi: number }) => ({ low: l.lo, high: l.hi, unsigned: false }) as unknown as number;

/** protobuf-ts's writer interface over protobufjs's Writer (a Buffer-backed one in Node). */
class ProtobufjsWriter implements IBinaryWriter {
  private w = protobuf.Writer.create();

  finish(): Uint8Array {
    const bytes = this.w.finish();
    this.w = protobuf.Writer.create();
    return bytes;
  }
  fork(): this {
    this.w.fork();
    return this;
  }
  join(): this {
    this.w.ldelim();
    return this;
  }
  tag(fieldNo: number, type: WireType): this {
    this.w.uint32(((fieldNo << 3) | type) >>> 0);
    return this;
  }
  /** Bytes already encoded (a message's unknown fields), copied as they are. */
  raw(chunk: Uint8Array): this {
    (this.w as unknown as RawPush)._push(copyRaw, chunk.length, chunk);
    return this;
  }
  uint32(value: number): this {
    this.w.uint32(value);
    return this;
  }
  int32(value: number): this {
    this.w.int32(value);
    return this;
  }
  sint32(value: number): this {
    this.w.sint32(value);
    return this;
  }
  fixed32(value: number): this {
    this.w.fixed32(value);
    return this;
  }
  sfixed32(value: number): this {
    this.w.sfixed32(value);
    return this;
  }
  bool(value: boolean): this {
    this.w.bool(value);
    return this;
  }
  float(value: number): this {
    this.w.float(value);
    return this;
  }
  double(value: number): this {
    this.w.double(value);
    return this;
  }
  bytes(value: Uint8Array): this {
    this.w.bytes(value);
    return this;
  }
  string(value: string): this {
    // protobufjs writes a lone surrogate as it stands (not UTF-8); TextEncoder writes U+FFFD for it.
    const text = value as unknown as WellFormed;
    this.w.string(text.isWellFormed() ? value : text.toWellFormed());
    return this;
  }
  int64(value: Long64): this {
    this.w.int64(halves(PbLong.from(value)));
    return this;
  }
  sint64(value: Long64): this {
    this.w.sint64(halves(PbLong.from(value)));
    return this;
  }
  sfixed64(value: Long64): this {
    this.w.sfixed64(halves(PbLong.from(value)));
    return this;
  }
  uint64(value: Long64): this {
    this.w.uint64(halves(PbULong.from(value)));
    return this;
  }
  fixed64(value: Long64): this {
    this.w.fixed64(halves(PbULong.from(value)));
    return this;
  }
}

/** ES2024's string methods (Node 20 has them; the compiler's library here is ES2022). */
interface WellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** protobufjs's own way to append an operation to a writer (what its bytes() uses). */
interface RawPush {
  _push(fn: (value: Uint8Array, buf: Uint8Array, pos: number) => void, len: number, value: Uint8Array): void;
}
const copyRaw = (value: Uint8Array, buf: Uint8Array, pos: number) => buf.set(value, pos);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * protobuf-ts's reader, with strings that are all ASCII (nearly every type, id, relation and token)
 * taken straight from the bytes; any other goes through the same strict UTF-8 decoder as before, so
 * malformed UTF-8 is refused as it was.
 */
class AsciiFastReader extends BinaryReader {
  /** The reader's own bytes (protobuf-ts keeps its reference private). */
  private readonly input: Uint8Array;

  constructor(bytes: Uint8Array) {
    super(bytes, strictUtf8);
    this.input = bytes;
  }

  override string(): string {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    if (end > this.len) throw new RangeError('premature EOF');
    const buf = this.input;
    let i = start;
    while (i < end && buf[i] < 0x80) i++;
    if (i === end && Buffer.isBuffer(buf)) return buf.toString('latin1', start, end);
    return strictUtf8.decode(buf.subarray(start, end));
  }
}

const WRITE: Partial<BinaryWriteOptions> = { writerFactory: () => new ProtobufjsWriter() };
const READ: Partial<BinaryReadOptions> = { readerFactory: (bytes) => new AsciiFastReader(bytes) };

/** `message` in the wire format, as a Buffer (no copy when protobufjs gave one). */
export function encodeMessage<T extends object>(type: IMessageType<T>, message: T): Buffer {
  const bytes = type.toBinary(message, WRITE);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeMessage<T extends object>(type: IMessageType<T>, bytes: Uint8Array): T {
  return type.fromBinary(bytes, READ);
}

/** The encoded size of `message`. */
export function encodedSize<T extends object>(type: IMessageType<T>, message: T): number {
  return type.toBinary(message, WRITE).length;
}
