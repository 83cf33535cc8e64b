/**
 * zed's backup format (`zed backup create` / `zed backup restore`), so backups move both ways
 * between Pemba and SpiceDB: an Avro object container file (OCF) whose records are a union of
 *
 *   com.authzed.spicedb.backup.schema_v1       { schema_text: string }
 *   com.authzed.spicedb.backup.relationship_v1 { object_type, object_id, relation,
 *       subject_object_type, subject_object_id, subject_relation, caveat_name: string,
 *       caveat_context: bytes (a google.protobuf.Struct, protobuf-encoded),
 *       expiration: long (timestamp-millis; Go's zero time, year 1, means none) }
 *
 * The first record is the schema; the file's metadata `com.authzed.spicedb.zedtoken.v1` holds the
 * revision (ZedToken) the backup was taken at. Pemba writes blocks compressed with `deflate` (zed
 * writes `snappy`; every Avro reader, zed's included, reads both) and reads `null`, `deflate` and
 * `snappy` blocks. Records are decoded by the schema stored in the file, so older zed backups
 * (without `expiration`) read too. avsc reads and writes the container; snappyjs decompresses.
 */
import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { v1 } from '@authzed/authzed-node';
import avro from 'avsc';
import { uncompress } from 'snappyjs';
import { dateToTimestamp, timestampToDate } from '../../api/convert.js';

export const ZEDTOKEN_METADATA_KEY = 'com.authzed.spicedb.zedtoken.v1';
const NAMESPACE = 'com.authzed.spicedb.backup';
const RELATIONSHIP_RECORD = `${NAMESPACE}.relationship_v1`;
const SCHEMA_RECORD = `${NAMESPACE}.schema_v1`;
/** Go's zero time.Time as Avro timestamp-millis: what zed writes for "no expiration". */
export const NO_EXPIRATION_MILLIS = -62_135_596_800_000;

/** The writer schema Pemba stores, field for field zed's. */
export const BACKUP_AVRO_SCHEMA = [
  {
    name: RELATIONSHIP_RECORD,
    type: 'record',
    fields: [
      { name: 'object_type', type: 'string' },
      { name: 'object_id', type: 'string' },
      { name: 'relation', type: 'string' },
      { name: 'subject_object_type', type: 'string' },
      { name: 'subject_object_id', type: 'string' },
      { name: 'subject_relation', type: 'string' },
      { name: 'caveat_name', type: 'string' },
      { name: 'caveat_context', type: 'bytes' },
      { name: 'expiration', type: { type: 'long', logicalType: 'timestamp-millis' } },
    ],
  },
  { name: SCHEMA_RECORD, type: 'record', fields: [{ name: 'schema_text', type: 'string' }] },
] satisfies avro.schema.AvroSchema;

/** A file that is not a readable backup. */
export class BackupFormatError extends Error {
  override name = 'BackupFormatError';
}

/** Avro's `snappy` codec: a raw snappy block, then a big-endian CRC-32 of the uncompressed data. */
function snappyCodec(block: Buffer, cb: (error: Error | null, data?: Buffer) => void): void {
  try {
    if (block.length < 4) throw new Error('too short');
    const data = uncompress(block.subarray(0, -4));
    if (crc32(data) !== block.readUInt32BE(block.length - 4)) throw new Error('checksum mismatch');
    cb(null, data);
  } catch (error) {
    cb(error as Error);
  }
}

/** avsc's error (by its message) as a BackupFormatError. */
function formatError({ message, cause }: Error): BackupFormatError {
  if (message === 'invalid magic bytes') return new BackupFormatError('not a backup file (no Avro container header)');
  if (message === 'invalid sync marker')
    return new BackupFormatError('corrupt file: a block does not end with the sync marker');
  const unknown = /^unknown codec: (.*)$/.exec(message)?.[1];
  if (unknown !== undefined)
    return new BackupFormatError(`blocks compressed with \`${unknown}\` are not supported (null, deflate, snappy are)`);
  const codec = /^(\S+) codec decompression error$/.exec(message)?.[1];
  if (codec && cause instanceof Error) return new BackupFormatError(`corrupt ${codec} block: ${cause.message}`);
  return new BackupFormatError(`corrupt block: ${message}`);
}

const truncated = () => new BackupFormatError('the file ends in the middle of a block (truncated?)');

/** A decoded value: its record's full name and fields. */
interface AvroRecord {
  name: string;
  fields: Record<string, unknown>;
}

export interface Backup {
  /** The schema text (the first record). */
  schema: string;
  /** The revision the backup was taken at, when the file records it. */
  token?: string;
  /** The relationships after the schema, in file order (iterate once). */
  relationships(): AsyncIterable<v1.Relationship>;
  /** Stops reading (also done when relationships() finishes or is left). */
  close(): Promise<void>;
}

/** Opens a backup from its bytes: reads the header and the schema record. */
export async function readBackup(input: AsyncIterable<Buffer | string>): Promise<Backup> {
  // The input's last 16 bytes: a whole file ends with the sync marker (avsc ignores a cut-off block).
  let tail: Buffer = Buffer.alloc(0);
  let length = 0;
  async function* bytes(): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      length += b.length;
      tail = b.length >= 16 ? b.subarray(-16) : Buffer.concat([tail, b]).subarray(-16);
      yield b;
    }
  }
  const decoder = new avro.streams.BlockDecoder({
    codecs: { ...avro.streams.BlockDecoder.defaultCodecs(), snappy: snappyCodec }, // null, deflate (inflateRaw)
    // Unions always wrapped ({ name: record }), so that every record's name is known.
    parseHook: (schema) => avro.Type.forSchema(schema, { wrapUnions: true }),
  });
  let header: { type: avro.Type; meta: Record<string, Buffer>; sync: Buffer } | undefined;
  decoder.once('metadata', (type: avro.Type, _codec: string, h: { meta: Record<string, Buffer>; sync: Buffer }) => {
    header = { type, ...h };
  });
  const source = Readable.from(bytes());
  let inputError: unknown; // passed on as it is; the decoder's errors become BackupFormatErrors
  source.on('error', (error) => decoder.destroy((inputError = error)));
  decoder.on('close', () => source.destroy());
  source.pipe(decoder);
  const values = decoder[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  const close = async () => void decoder.destroy();

  async function next(): Promise<AvroRecord | undefined> {
    let result: IteratorResult<unknown>;
    try {
      result = await values.next();
    } catch (error) {
      throw error === inputError || !(error instanceof Error) ? error : formatError(error);
    }
    // No header and no error: under 4 bytes, or the right magic and then the header cut off.
    if (!header) throw length < 4 ? new BackupFormatError('not a backup file (no Avro container header)') : truncated();
    if (result.done) {
      if (!tail.equals(header.sync)) throw truncated();
      return undefined;
    }
    const [name, fields]: [string, unknown] =
      header.type.typeName === 'union:wrapped'
        ? (Object.entries(result.value ?? { null: null })[0] as [string, unknown])
        : [header.type.name ?? header.type.typeName, result.value];
    return { name, fields: typeof fields === 'object' && fields ? (fields as Record<string, unknown>) : {} };
  }

  try {
    const first = await next();
    if (!first || !isRecord(first, 'schema_v1') || typeof first.fields.schema_text !== 'string') {
      throw new BackupFormatError('the backup does not start with a schema record (is it a zed backup?)');
    }
    let used = false;
    return {
      schema: first.fields.schema_text,
      token: header?.meta[ZEDTOKEN_METADATA_KEY]?.toString('utf8') || undefined,
      async *relationships() {
        if (used) throw new Error('a backup is read once');
        used = true;
        try {
          for (let record = await next(); record; record = await next()) {
            if (!isRecord(record, 'relationship_v1'))
              throw new BackupFormatError(`unexpected record \`${record.name}\` after the schema`);
            yield toRelationship(record.fields);
          }
        } finally {
          await close();
        }
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function isRecord(record: AvroRecord, shortName: string): boolean {
  return record.name === shortName || record.name.endsWith(`.${shortName}`);
}

function text(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new BackupFormatError(`relationship field \`${field}\` is not a string`);
  return value;
}

function toRelationship(record: Record<string, unknown>): v1.Relationship {
  const rel = v1.Relationship.create({
    resource: { objectType: text(record, 'object_type'), objectId: text(record, 'object_id') },
    relation: text(record, 'relation'),
    subject: {
      object: { objectType: text(record, 'subject_object_type'), objectId: text(record, 'subject_object_id') },
      optionalRelation: text(record, 'subject_relation'),
    },
  });
  const caveatName = text(record, 'caveat_name');
  if (caveatName) {
    const bytes = record.caveat_context;
    let context: v1.PbStruct;
    try {
      context = v1.PbStruct.fromBinary(bytes instanceof Uint8Array ? bytes : new Uint8Array());
    } catch (error) {
      throw new BackupFormatError(`the caveat context of a relationship does not decode: ${(error as Error).message}`);
    }
    rel.optionalCaveat = { caveatName, context };
  }
  const expiration = record.expiration;
  if (typeof expiration === 'number' && expiration !== NO_EXPIRATION_MILLIS) {
    rel.optionalExpiresAt = dateToTimestamp(new Date(expiration));
  }
  return rel;
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface BackupWriterOptions {
  /** `deflate` (the default) or `null` (uncompressed). */
  codec?: 'deflate' | 'null';
}

/** Writes a backup: the header and the schema record first, then relationships, in blocks. */
export class BackupWriter {
  private readonly encoder: avro.streams.BlockEncoder;
  /** Settles when everything encoded has been written to the output (or either fails). */
  private readonly done: Promise<void>;
  private started = false;

  constructor(
    out: Writable,
    private readonly schema: string,
    token: string | undefined,
    options: BackupWriterOptions = {},
  ) {
    // avsc's default codecs: null, deflate (deflateRaw). `metadata` is an option its types leave out.
    const encoderOptions = {
      codec: options.codec ?? 'deflate',
      metadata: token ? { [ZEDTOKEN_METADATA_KEY]: Buffer.from(token, 'utf8') } : {},
    };
    const encoder = (this.encoder = new avro.streams.BlockEncoder(BACKUP_AVRO_SCHEMA, encoderOptions));
    this.done = (async () => {
      for await (const chunk of encoder) if (!out.write(chunk)) await once(out, 'drain');
    })();
    this.done.catch(() => undefined); // seen by append() or finish()
  }

  private async write(value: object): Promise<void> {
    if (!this.encoder.write(value)) await Promise.race([once(this.encoder, 'drain'), this.done]);
  }

  private async start(): Promise<void> {
    this.started = true;
    await this.write({ [SCHEMA_RECORD]: { schema_text: this.schema } });
  }

  async append(r: v1.Relationship): Promise<void> {
    if (!this.started) await this.start();
    const context =
      r.optionalCaveat?.caveatName && r.optionalCaveat.context ? v1.PbStruct.toBinary(r.optionalCaveat.context) : null;
    await this.write({
      [RELATIONSHIP_RECORD]: {
        object_type: r.resource?.objectType ?? '',
        object_id: r.resource?.objectId ?? '',
        relation: r.relation,
        subject_object_type: r.subject?.object?.objectType ?? '',
        subject_object_id: r.subject?.object?.objectId ?? '',
        subject_relation: r.subject?.optionalRelation ?? '',
        caveat_name: r.optionalCaveat?.caveatName ?? '',
        caveat_context: context ? Buffer.from(context.buffer, context.byteOffset, context.byteLength) : Buffer.alloc(0),
        expiration: r.optionalExpiresAt ? timestampToDate(r.optionalExpiresAt).getTime() : NO_EXPIRATION_MILLIS,
      },
    });
  }

  /** Writes what is buffered (and the header and schema, for a backup with no relationships). */
  async finish(): Promise<void> {
    if (!this.started) await this.start();
    this.encoder.end();
    await this.done;
  }
}
