/**
 * `pemba backup create|restore|parse-*` against real servers (in-process), and zed's backup
 * format: Pemba's backups read by Pemba, zed's (fixtures written by fastavro as zed lays them out:
 * test/cli/fixtures/make-zed-backups.py) restored into Pemba, and corrupt files refused clearly.
 */
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { v1 } from '@authzed/authzed-node';
import avro from 'avsc';
import { compress } from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_AVRO_SCHEMA,
  BackupWriter,
  NO_EXPIRATION_MILLIS,
  readBackup,
} from '../../src/cli/client/backup-format.js';
import { relationshipString } from '../../src/cli/client/common.js';
import { startTestServer } from '../server/harness.js';
import type { TestServer } from '../server/harness.js';
import { capture, connection, run, SCHEMA } from './client-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FIXTURES = join(import.meta.dirname, 'fixtures');

const RELATIONSHIPS = [
  'document:readme owner user:ann',
  'document:readme viewer group:eng#member',
  'document:readme viewer user:*',
  'document:readme viewer user:cal[on_level:{"required":2}]',
  'document:readme viewer user:dee[expiration:2031-02-03T04:05:06Z]',
  'document:readme banned user:eve',
  'group:eng member user:bea',
  'group:eng member group:ops#member',
  ...Array.from({ length: 1500 }, (_, i) => `document:bulk-${i} viewer user:u${i % 37}`),
];

async function server(): Promise<{
  t: TestServer;
  pemba: (args: string[], stdin?: string | Buffer) => ReturnType<typeof run>;
}> {
  const t = await startTestServer();
  const pemba = (args: string[], stdin: string | Buffer = '') =>
    run([...args, ...connection(t.endpoint)], capture(stdin));
  return { t, pemba };
}

/** Every relationship of a server, as `relationship read` prints them, sorted. */
async function everything(pemba: (args: string[]) => ReturnType<typeof run>): Promise<string[]> {
  const out: string[] = [];
  for (const type of ['document', 'group'])
    out.push(...(await pemba(['relationship', 'read', type, '--consistency-full'])).out);
  return out.sort();
}

describe('pemba backup', () => {
  let source: Awaited<ReturnType<typeof server>>;
  const file = join(dir, 'full.backup');

  beforeAll(async () => {
    source = await server();
    expect((await source.pemba(['schema', 'write'], SCHEMA)).code).toBe(0);
    expect((await source.pemba(['relationship', 'create', '-b', '1000'], RELATIONSHIPS.join('\n'))).code).toBe(0);
  });
  afterAll(() => source.t.close());

  it('create writes the schema, the revision and every relationship; parse-* read them back without a server', async () => {
    const r = await source.pemba(['backup', 'create', file, '--page-limit', '100']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(
      new RegExp(
        `^backed up 1508 relationships in \\d+\\.\\d s \\([\\d,.]+/s\\), with the schema, to ${file.replace(/[.]/g, '\\.')} \\(revision \\S+\\)$`,
      ),
    );

    const schema = await run(['backup', 'parse-schema', file]);
    expect(schema.code).toBe(0);
    expect(schema.out).toEqual((await source.pemba(['schema', 'read'])).out);
    const revision = await run(['backup', 'parse-revision', file]);
    expect(revision.out[0]).toBe(r.err[0].match(/\(revision (\S+)\)$/)![1]);
    // The revision is a token the server reads at.
    const atRevision = await source.pemba([
      'relationship',
      'read',
      'group',
      '--consistency-at-exactly',
      revision.out[0],
    ]);
    expect(atRevision.out).toEqual(['group:eng member group:ops#member', 'group:eng member user:bea']);

    const rels = await run(['backup', 'parse-relationships', file]);
    expect(rels.code).toBe(0);
    expect(rels.out).toHaveLength(1508);
    expect(rels.out).toContain('document:readme#viewer@user:cal[on_level:{"required":2}]');
    expect(rels.out).toContain('document:readme#viewer@user:dee[expiration:2031-02-03T04:05:06Z]');
    expect(rels.out.map((l) => l.replace('#', ' ').replace('@', ' ')).sort()).toEqual(await everything(source.pemba));
  });

  it('restore into an empty server: the same schema and relationships', async () => {
    const target = await server();
    try {
      const r = await target.pemba(['backup', 'restore', file]);
      expect(r.code, r.err.join('\n')).toBe(0);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^restored 1508 relationships in \d+\.\d s \([\d,.]+\/s\), and the schema$/);
      expect((await target.pemba(['schema', 'read'])).out).toEqual((await source.pemba(['schema', 'read'])).out);
      expect(await everything(target.pemba)).toEqual(await everything(source.pemba));
      const check = await target.pemba([
        'permission',
        'check',
        'document:readme',
        'view',
        'user:cal',
        '--caveat-context',
        '{"level":3}',
        '--consistency-full',
      ]);
      expect(check.out).toEqual(['true']);
    } finally {
      await target.t.close();
    }
  }, 30_000);

  it('restore over existing relationships: fail (nothing restored), skip (kept as they are), touch (overwritten)', async () => {
    const target = await server();
    try {
      expect((await target.pemba(['backup', 'restore', file])).code).toBe(0);
      // Change one relationship's caveat context and delete two others.
      await target.pemba(['relationship', 'touch', 'document:readme', 'viewer', 'user:cal[on_level:{"required":9}]']);
      await target.pemba(['relationship', 'delete', 'document:bulk-7', 'viewer', 'user:u7']);
      await target.pemba(['relationship', 'delete', 'document:readme', 'banned', 'user:eve']);
      const cal = async () =>
        (await target.pemba(['relationship', 'read', 'document:readme', 'viewer', 'user:cal', '--consistency-full']))
          .out;

      const failed = await target.pemba(['backup', 'restore', file]);
      expect(failed.code).toBe(1);
      expect(failed.err[0]).toMatch(
        /^error: ALREADY_EXISTS: could not CREATE relationship `[^`]+`, as it already existed/,
      );
      expect(failed.err[1]).toBe(
        'the schema was written; no relationships were (they are restored in one transaction)',
      );
      expect((await everything(target.pemba)).length).toBe(1506);

      const skipped = await target.pemba([
        'backup',
        'restore',
        file,
        '--conflict-strategy',
        'skip',
        '--batch-size',
        '500',
      ]);
      expect(skipped.code, skipped.err.join('\n')).toBe(0);
      expect(skipped.err[0]).toMatch(
        /^restored 2 relationships in .*, and the schema; skipped 1506 that already existed$/,
      );
      expect(await cal()).toEqual(['document:readme viewer user:cal[on_level:{"required":9}]']);
      expect((await everything(target.pemba)).length).toBe(1508);

      const touched = await target.pemba(['backup', 'restore', file, '--conflict-strategy', 'touch']);
      expect(touched.code, touched.err.join('\n')).toBe(0);
      expect(touched.err[0]).toMatch(/^restored 1508 relationships in .*, and the schema$/);
      expect(await cal()).toEqual(['document:readme viewer user:cal[on_level:{"required":2}]']);
      expect(await everything(target.pemba)).toEqual(await everything(source.pemba));
    } finally {
      await target.t.close();
    }
  }, 30_000);

  it('to stdout and from stdin (-)', async () => {
    const out = await source.pemba(['backup', 'create', '-']);
    expect(out.code).toBe(0);
    expect(out.err[0]).toMatch(/^backed up 1508 relationships in .*, with the schema, to stdout \(revision \S+\)$/);
    const bytes = out.io.bytes();
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('Obj\x01');
    const target = await server();
    try {
      const r = await target.pemba(['backup', 'restore', '-'], bytes);
      expect(r.code, r.err.join('\n')).toBe(0);
      expect(await everything(target.pemba)).toEqual(await everything(source.pemba));
    } finally {
      await target.t.close();
    }
    const parsed = await run(['backup', 'parse-revision', '-'], capture(bytes));
    expect(parsed.out[0]).toMatch(/^\S+$/);
  }, 30_000);

  it('never overwrites a file; removes a partial one; clear errors for a bad file, no schema, no server', async () => {
    if (!existsSync(file)) expect((await source.pemba(['backup', 'create', file])).code).toBe(0);
    const exists = await source.pemba(['backup', 'create', file]);
    expect(exists.code).toBe(2);
    expect(exists.err).toEqual([`error: ${file} already exists: remove it or choose another name`]);

    const empty = await server();
    try {
      const noSchema = await empty.pemba(['backup', 'create', join(dir, 'none.backup')]);
      expect(noSchema).toMatchObject({
        code: 1,
        err: ['error: the server has no schema: there is nothing to back up'],
      });
      expect(existsSync(join(dir, 'none.backup'))).toBe(false);

      const text = join(dir, 'not-a-backup.txt');
      writeFileSync(text, 'document:1#viewer@user:ann\n');
      const notBackup = await empty.pemba(['backup', 'restore', text]);
      expect(notBackup).toMatchObject({
        code: 1,
        err: [`error: ${text}: not a backup file (no Avro container header)`],
      });
      const missing = await empty.pemba(['backup', 'restore', join(dir, 'missing.backup')]);
      expect(missing.code).toBe(2);
      expect(missing.err[0]).toMatch(/^error: cannot read .*missing\.backup: ENOENT/);
      expect((await empty.pemba(['schema', 'read'])).code).toBe(1); // nothing was written

      const truncated = join(dir, 'truncated.backup');
      writeFileSync(truncated, readFileSync(file).subarray(0, readFileSync(file).length - 100));
      const cut = await empty.pemba(['backup', 'restore', truncated]);
      expect(cut.code).toBe(1);
      expect(cut.err[0]).toMatch(/^error: .*truncated\.backup: (the file ends in the middle of a block|corrupt)/);
      expect(cut.err[1]).toBe('the schema was written; no relationships were (they are restored in one transaction)');
      expect((await everything(empty.pemba)).length).toBe(0);

      const strategy = await empty.pemba(['backup', 'restore', file, '--conflict-strategy', 'merge']);
      expect(strategy.code).toBe(1); // commander: invalid choice
      expect(strategy.err[0]).toMatch(/argument 'merge' is invalid. Allowed choices are fail, touch, skip/);
    } finally {
      await empty.t.close();
    }
    const down = await run(['backup', 'create', join(dir, 'down.backup'), ...connection('127.0.0.1:1')]);
    expect(down.code).toBe(1);
    expect(down.err[0]).toMatch(/^error: UNAVAILABLE: /);
    const noRevision = await run(['backup', 'parse-revision', join(dir, 'not-a-backup.txt')]);
    expect(noRevision.code).toBe(1);
  });
});

describe("zed's backups", () => {
  it.each([
    ['zed-snappy.backup', 'GhUKEzE3MTU4MDAwMDAwMDAwMDAwMDA=', 46],
    ['zed-old-deflate.backup', 'GgYKBDEyMzQ=', 45],
  ])('%s: parsed and restored', async (name, token, count) => {
    const path = join(FIXTURES, name);
    expect((await run(['backup', 'parse-revision', path])).out).toEqual([token]);
    expect((await run(['backup', 'parse-schema', path])).out[0]).toBe(SCHEMA);
    const rels = (await run(['backup', 'parse-relationships', path])).out;
    expect(rels).toHaveLength(count);
    expect(rels.slice(0, 5)).toEqual([
      'document:readme#owner@user:ann',
      'document:readme#viewer@group:eng#member',
      'document:readme#viewer@user:*',
      'document:readme#viewer@user:cal[on_level:{"required":2}]',
      'group:eng#member@user:bea',
    ]);
    if (name === 'zed-snappy.backup')
      expect(rels[5]).toBe('document:readme#viewer@user:dee[expiration:2031-02-03T04:05:06Z]');

    const target = await server();
    try {
      const r = await target.pemba(['backup', 'restore', path]);
      expect(r.code, r.err.join('\n')).toBe(0);
      expect(r.err[0]).toMatch(new RegExp(`^restored ${count} relationships in `));
      expect(await everything(target.pemba)).toEqual(rels.map((l) => l.replace('#', ' ').replace('@', ' ')).sort());
    } finally {
      await target.t.close();
    }
  });
});

describe('the backup format', () => {
  const sink = () => {
    const chunks: Buffer[] = [];
    return {
      out: new Writable({
        write(chunk: Buffer, _e, cb) {
          chunks.push(Buffer.from(chunk));
          cb();
        },
      }),
      bytes: () => Buffer.concat(chunks),
    };
  };

  it('round-trips every field, in both codecs, and zed reads (Go zero time = no expiration)', async () => {
    const rels = [
      v1.Relationship.create({
        resource: { objectType: 'document', objectId: 'a/b|c=d+e' },
        relation: 'viewer',
        subject: { object: { objectType: 'group', objectId: 'eng' }, optionalRelation: 'member' },
      }),
      v1.Relationship.create({
        resource: { objectType: 'document', objectId: 'x' },
        relation: 'viewer',
        subject: { object: { objectType: 'user', objectId: 'ünï' }, optionalRelation: '' },
        optionalCaveat: { caveatName: 'c', context: v1.PbStruct.fromJson({ n: 1.5, s: 'x', l: [null, true] }) },
        optionalExpiresAt: { seconds: '1900000000', nanos: 123_000_000 },
      }),
    ];
    for (const codec of ['deflate', 'null'] as const) {
      const s = sink();
      const writer = new BackupWriter(s.out, 'definition user {}', 'tok', { codec });
      for (let i = 0; i < 2500; i++) await writer.append(rels[i % 2]); // several blocks
      await writer.finish();
      const backup = await readBackup(Readable.from([s.bytes()]));
      expect(backup.schema).toBe('definition user {}');
      expect(backup.token).toBe('tok');
      const back: v1.Relationship[] = [];
      for await (const r of backup.relationships()) back.push(r);
      expect(back).toHaveLength(2500);
      expect(back.slice(0, 2).map(relationshipString)).toEqual([
        'document:a/b|c=d+e#viewer@group:eng#member',
        'document:x#viewer@user:ünï[c:{"n":1.5,"s":"x","l":[null,true]}][expiration:2030-03-17T17:46:40.123Z]',
      ]);
    }
    expect(new Date(NO_EXPIRATION_MILLIS).toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(JSON.stringify(BACKUP_AVRO_SCHEMA)).toContain('"name":"com.authzed.spicedb.backup.relationship_v1"');
  });

  it('a backup with no relationships is the header and the schema', async () => {
    const s = sink();
    await new BackupWriter(s.out, 'definition user {}', undefined).finish();
    const backup = await readBackup(Readable.from([s.bytes()]));
    expect(backup.token).toBeUndefined();
    const back = [];
    for await (const r of backup.relationships()) back.push(r);
    expect(back).toEqual([]);
  });

  it("snappy blocks (zed's codec): read, and the CRC-32 Avro appends to each checked", async () => {
    const write = async (crcOf: (data: Buffer) => number) => {
      const snappy = (data: Buffer, cb: (error: null, block: Buffer) => void) => {
        const crc = Buffer.alloc(4);
        crc.writeUInt32BE(crcOf(data));
        cb(null, Buffer.concat([compress(data), crc]));
      };
      const encoder = new avro.streams.BlockEncoder(BACKUP_AVRO_SCHEMA, {
        codec: 'snappy',
        codecs: { snappy },
        blockSize: 1024,
      });
      const chunks: Buffer[] = [];
      const done = (async () => {
        for await (const chunk of encoder) chunks.push(chunk as Buffer);
      })();
      encoder.write({ 'com.authzed.spicedb.backup.schema_v1': { schema_text: 'definition user {}' } });
      for (let i = 0; i < 100; i++) {
        encoder.write({
          'com.authzed.spicedb.backup.relationship_v1': {
            object_type: 'document',
            object_id: `doc-${i}`,
            relation: 'viewer',
            subject_object_type: 'user',
            subject_object_id: `user-${i % 7}`,
            subject_relation: '',
            caveat_name: '',
            caveat_context: Buffer.alloc(0),
            expiration: NO_EXPIRATION_MILLIS,
          },
        });
      }
      encoder.end();
      await done;
      return Buffer.concat(chunks);
    };
    const read = async (bytes: Buffer) => {
      const backup = await readBackup(Readable.from([bytes]));
      const out = [backup.schema];
      for await (const r of backup.relationships()) out.push(relationshipString(r));
      return out;
    };
    const rels = await read(await write((data) => crc32(data)));
    expect(rels).toHaveLength(101);
    expect(rels.slice(0, 3)).toEqual([
      'definition user {}',
      'document:doc-0#viewer@user:user-0',
      'document:doc-1#viewer@user:user-1',
    ]);
    expect(rels[100]).toBe('document:doc-99#viewer@user:user-1');
    await expect(read(await write((data) => (crc32(data) ^ 1) >>> 0))).rejects.toThrow(
      /^corrupt snappy block: checksum mismatch$/,
    );
  });

  it('refuses what is not a backup, with a reason', async () => {
    const read = (bytes: Buffer) => readBackup(Readable.from([bytes]));
    await expect(read(Buffer.from('hello'))).rejects.toThrow(/not a backup file \(no Avro container header\)/);
    await expect(read(Buffer.alloc(0))).rejects.toThrow(/not a backup file/);
    const good = readFileSync(join(FIXTURES, 'zed-snappy.backup'));
    // A flipped byte inside a block: the snappy checksum (or the decoding) catches it.
    const flipped = Buffer.from(good);
    flipped[good.length - 40] ^= 0xff;
    await expect(
      (async () => {
        const b = await read(flipped);
        for await (const _ of b.relationships());
      })(),
    ).rejects.toThrow(/corrupt|truncated|sync marker/);
    // The header alone (cut after its sync marker, bytes 0..15 in the fixture): no schema record.
    const headerEnd = good.indexOf(Buffer.from(Array.from({ length: 16 }, (_, i) => i))) + 16;
    await expect(read(good.subarray(0, headerEnd))).rejects.toThrow(/does not start with a schema record/);
    // Cut inside the header, or inside the last block; an unknown codec.
    await expect(read(good.subarray(0, headerEnd - 20))).rejects.toThrow(/the file ends in the middle of a block/);
    const cut = await read(good.subarray(0, good.length - 5));
    await expect(
      (async () => {
        for await (const _ of cut.relationships());
      })(),
    ).rejects.toThrow(/the file ends in the middle of a block/);
    // (A string's length is a zigzag varint: 6 is 0x0c, 4 is 0x08.)
    const zstd = Buffer.from(good.toString('latin1').replace('\x0csnappy', '\x08zstd'), 'latin1');
    await expect(read(zstd)).rejects.toThrow(/blocks compressed with `zstd` are not supported/);
  });

  it('streams a file', async () => {
    const backup = await readBackup(createReadStream(join(FIXTURES, 'zed-old-deflate.backup')));
    let n = 0;
    for await (const _ of backup.relationships()) n++;
    expect(n).toBe(45);
  });
});
