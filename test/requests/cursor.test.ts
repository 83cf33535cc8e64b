/**
 * Cursors are signed under a key derived from the datastore's id: an edited or forged cursor is
 * refused INVALID_ARGUMENT (ERROR_REASON_INVALID_CURSOR) before its contents are used, on every
 * backend alike (memory, SQLite, PostgreSQL), while a datastore's own cursors stay valid across restarts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeCursor,
  encodeCursor,
  isExportPosition,
  isRelationshipKey,
  isResourceId,
} from '../../src/requests/cursor.js';
import { SqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import { Pemba } from '../../src/pemba.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import { BACKENDS, useTestBackends } from '../datastore/test-backends.js';

const INVALID = { code: 'INVALID_ARGUMENT', reason: 'ERROR_REASON_INVALID_CURSOR' };
const KEY = {
  resourceType: 'doc',
  resourceId: 'd1',
  relation: 'reader',
  subjectType: 'user',
  subjectId: 'ann',
  subjectRelation: '...',
};

function refused(f: () => unknown) {
  expect(f).toThrow(expect.objectContaining(INVALID) as unknown as Error);
}

describe('cursor signing', () => {
  const cursor = encodeCursor('datastore-a', 'fp', KEY);

  it('decodes a cursor where it was issued, and wherever the same datastore id is (another node, a restart)', () => {
    expect(decodeCursor('datastore-a', cursor, 'fp', isRelationshipKey)).toEqual(KEY);
    expect(decodeCursor('datastore-a', encodeCursor('datastore-a', 'fp', 'd7'), 'fp', isResourceId)).toBe('d7');
    expect(
      decodeCursor('datastore-a', encodeCursor('datastore-a', 'fp', { r: '42', k: KEY }), 'fp', isExportPosition),
    ).toEqual({ r: '42', k: KEY });
  });

  it('refuses every one-character edit', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < cursor.length; i++) {
      const other = alphabet[(alphabet.indexOf(cursor[i]) + 1 + (i % 63)) % alphabet.length];
      refused(() =>
        decodeCursor('datastore-a', cursor.slice(0, i) + other + cursor.slice(i + 1), 'fp', isRelationshipKey),
      );
    }
    refused(() => decodeCursor('datastore-a', `${cursor}A`, 'fp', isRelationshipKey));
    refused(() => decodeCursor('datastore-a', `${cursor}=`, 'fp', isRelationshipKey));
    refused(() => decodeCursor('datastore-a', cursor.slice(0, -1), 'fp', isRelationshipKey));
  });

  it('refuses an edited position under the original signature, an unsigned cursor, and garbage', () => {
    const bytes = Buffer.from(cursor, 'base64url');
    const edited = Buffer.from(bytes.subarray(16).toString().replace('"d1"', '"d9"'));
    refused(() =>
      decodeCursor(
        'datastore-a',
        Buffer.concat([bytes.subarray(0, 16), edited]).toString('base64url'),
        'fp',
        isRelationshipKey,
      ),
    );
    refused(() =>
      decodeCursor(
        'datastore-a',
        Buffer.from(JSON.stringify({ v: 1, f: 'fp', p: KEY })).toString('base64url'),
        'fp',
        isRelationshipKey,
      ),
    );
    for (const garbage of ['', 'garbage', '!!!', 'A'.repeat(40)])
      refused(() => decodeCursor('datastore-a', garbage, 'fp', isRelationshipKey));
    refused(() => decodeCursor('datastore-a', 42 as unknown as string, 'fp', isRelationshipKey));
  });

  it('refuses a cursor of another datastore', () => {
    refused(() => decodeCursor('datastore-b', cursor, 'fp', isRelationshipKey));
  });

  it('refuses a genuine cursor of another request, saying so', () => {
    expect(() => decodeCursor('datastore-a', cursor, 'other', isRelationshipKey)).toThrow(
      /issued for a different request/,
    );
    refused(() => decodeCursor('datastore-a', cursor, 'other', isRelationshipKey));
  });

  it('refuses a signed cursor whose position has the wrong shape (a bug must not become INTERNAL)', () => {
    for (const p of [{ r: 'abc' }, { r: '1', k: { resourceType: 1 } }, { ...KEY, subjectId: 7 }, ['d1'], null, 3]) {
      refused(() => decodeCursor('datastore-a', encodeCursor('datastore-a', 'fp', p), 'fp', isExportPosition));
      refused(() => decodeCursor('datastore-a', encodeCursor('datastore-a', 'fp', p), 'fp', isRelationshipKey));
    }
    refused(() => decodeCursor('datastore-a', encodeCursor('datastore-a', 'fp', KEY), 'fp', isResourceId));
  });
});

const SCHEMA = `definition user {}
definition doc {
  relation reader: user
  permission view = reader
}`;
const fresh = { mode: 'fully_consistent' } as const;
const ann = { type: 'user', id: 'ann', relation: '...' };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Forgeries of `cursor` holding `position`: in the unsigned format, and under the cursor's own signature. */
function forgeries(cursor: string, position: unknown): string[] {
  const bytes = Buffer.from(cursor, 'base64url');
  let payload: { v: number; f: string; p: unknown };
  let signature = Buffer.alloc(0);
  try {
    payload = JSON.parse(bytes.toString());
  } catch {
    signature = bytes.subarray(0, 16);
    payload = JSON.parse(bytes.subarray(16).toString());
  }
  const forged = Buffer.from(JSON.stringify({ ...payload, p: position }));
  return [
    forged.toString('base64url'),
    Buffer.concat([signature.length ? signature : Buffer.alloc(16), forged]).toString('base64url'),
  ];
}

const dir = mkdtempSync(join(tmpdir(), 'pemba-cursor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const backends = useTestBackends();

describe.each(BACKENDS)('edited cursors on %s', (backend) => {
  it('are refused INVALID_ARGUMENT by ReadRelationships, ExportBulk and LookupResources; genuine ones page on', async () => {
    const p = await Pemba.open({ datastore: await backends.open(backend) });
    try {
      await p.writeSchema(SCHEMA);
      await p.writeRelationships({
        updates: ['d1', 'd2', 'd3', 'd4'].map((d) => ({
          operation: 'TOUCH' as const,
          relationship: parseRelationship(`doc:${d}#reader@user:ann`),
        })),
      });
      const read = (cursor?: string) =>
        collect(p.readRelationships({ filter: { resourceType: 'doc' }, limit: 2, cursor, consistency: fresh }));
      const exported = (cursor?: string) => collect(p.exportRelationships({ pageSize: 2, cursor }));
      const lookup = (cursor?: string) =>
        collect(
          p.lookupResources({
            resourceType: 'doc',
            permission: 'view',
            subject: ann,
            limit: 2,
            cursor,
            consistency: fresh,
          }),
        );

      const readCursor = (await read())[1].cursor;
      expect((await read(readCursor)).map((r) => r.relationship.resource.id)).toEqual(['d3', 'd4']);
      for (const position of [{ ...KEY, resourceId: 'd3' }, { ...KEY, resourceType: 1 }, 'd1']) {
        for (const forged of forgeries(readCursor, position)) await expect(read(forged)).rejects.toMatchObject(INVALID);
      }

      const exportCursor = (await exported())[0].cursor;
      expect((await exported(exportCursor))[0].relationships.map((r) => r.resource.id)).toEqual(['d3', 'd4']);
      for (const position of [{ r: 'abc' }, { r: '1' }, { r: '99999999', k: KEY }]) {
        for (const forged of forgeries(exportCursor, position))
          await expect(exported(forged)).rejects.toMatchObject(INVALID);
      }

      const lookupCursor = (await lookup())[1].cursor;
      expect((await lookup(lookupCursor)).map((r) => r.resourceId)).toEqual(['d3', 'd4']);
      for (const position of ['d3', 5, { resourceId: 'd1' }]) {
        for (const forged of forgeries(lookupCursor, position))
          await expect(lookup(forged)).rejects.toMatchObject(INVALID);
      }
    } finally {
      await p.close();
    }
  });
});

describe('a datastore shared by several processes', () => {
  it('accepts its cursors after a restart, and refuses those of another datastore', async () => {
    const path = join(dir, 'restart.db');
    const open = () => Pemba.open({ datastore: new SqliteDatastore(path, { gcIntervalMs: 0, quantizationMs: 0 }) });
    const first = await open();
    await first.writeSchema(SCHEMA);
    await first.writeRelationships({
      updates: ['d1', 'd2', 'd3'].map((d) => ({
        operation: 'TOUCH' as const,
        relationship: parseRelationship(`doc:${d}#reader@user:ann`),
      })),
    });
    const request = { filter: { resourceType: 'doc' }, limit: 1, consistency: fresh };
    const [{ cursor }] = await collect(first.readRelationships(request));
    await first.close();

    const again = await open();
    try {
      expect(
        (await collect(again.readRelationships({ ...request, limit: 0, cursor }))).map(
          (r) => r.relationship.resource.id,
        ),
      ).toEqual(['d2', 'd3']);
    } finally {
      await again.close();
    }
    const other = await Pemba.open();
    try {
      await other.writeSchema(SCHEMA);
      await expect(collect(other.readRelationships({ ...request, cursor }))).rejects.toMatchObject(INVALID);
    } finally {
      await other.close();
    }
  });
});
