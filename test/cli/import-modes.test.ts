/**
 * `pemba import --mode create|touch|skip` against a real server (in-process): what happens to
 * relationships that already exist, repeats within the file, batches, and errors midway.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { importCommand } from '../../src/cli/import.js';
import type { ImportOptions } from '../../src/cli/import.js';
import { KEY, startTestServer } from '../server/harness.js';
import type { TestServer } from '../server/harness.js';
import { capture, connection, run, SCHEMA } from './client-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-import-modes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), progress: { write: () => true } },
  };
}

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const FIRST = [
  'document:1#viewer@user:ann',
  'document:1#viewer@user:bob[on_level:{"required":1}]',
  'document:2#owner@user:ann',
  'group:eng#member@user:cy',
];
// Two already there (bob with another context), three new, and one repeated within the file.
const SECOND = [
  'document:1#viewer@user:ann',
  'document:1#viewer@user:bob[on_level:{"required":5}]',
  'document:3#viewer@user:dee',
  'document:3#viewer@group:eng#member',
  'document:3#viewer@user:dee',
  'group:eng#member@user:eve',
];

describe('pemba import --mode', () => {
  let t: TestServer;
  let opts: ImportOptions;
  const all = async () => {
    const out: string[] = [];
    for (const type of ['document', 'group'])
      out.push(
        ...(await run(['relationship', 'read', type, '--consistency-full', ...connection(t.endpoint)], capture())).out,
      );
    return out;
  };

  beforeEach(async () => {
    t = await startTestServer({ writeRelationshipsMaxUpdatesPerCall: '3' });
    await run(['schema', 'write', ...connection(t.endpoint)], capture(SCHEMA));
    opts = { endpoint: t.endpoint, token: KEY, insecure: true };
    const c = io();
    expect(await importCommand(file('first.txt', FIRST), opts, c.io), c.err.join('\n')).toBe(0);
  });
  afterEach(() => t.close());

  it('create (the default): a relationship that exists fails the import, and nothing is imported', async () => {
    const c = io();
    expect(await importCommand(file('second.txt', SECOND), { ...opts, mode: 'create' }, c.io)).toBe(1);
    expect(c.err[0]).toMatch(/^error: ALREADY_EXISTS: could not CREATE relationship `document:1#viewer@user:ann`/);
    expect(c.err[1]).toBe('nothing was imported (an import is one transaction)');
    expect(await all()).toHaveLength(4);
  });

  it('skip: creates the new ones, leaves existing ones as they are (even with another caveat)', async () => {
    const c = io();
    expect(
      await importCommand(file('second.txt', SECOND), { ...opts, mode: 'skip', batchSize: 3 }, c.io),
      c.err.join('\n'),
    ).toBe(0);
    // The repeat of document:3#viewer@user:dee is created once, then found existing.
    expect(c.out).toHaveLength(1);
    expect(c.out[0]).toMatch(/^imported 3 relationships in \d+\.\d s \([\d,.]+\/s\); skipped 3 that already existed$/);
    expect(await all()).toEqual([
      'document:1 viewer user:ann',
      'document:1 viewer user:bob[on_level:{"required":1}]',
      'document:2 owner user:ann',
      'document:3 viewer group:eng#member',
      'document:3 viewer user:dee',
      'group:eng member user:cy',
      'group:eng member user:eve',
    ]);
    // Idempotent: again, everything is skipped.
    const again = io();
    expect(await importCommand(join(dir, 'second.txt'), { ...opts, mode: 'skip', batchSize: 2 }, again.io)).toBe(0);
    expect(again.out[0]).toMatch(/^imported 0 relationships in .*; skipped 6 that already existed$/);
  });

  it('touch: creates the new ones and overwrites existing ones', async () => {
    const c = io();
    expect(
      await importCommand(file('second.txt', SECOND), { ...opts, mode: 'touch', batchSize: 3 }, c.io),
      c.err.join('\n'),
    ).toBe(0);
    expect(c.out[0]).toMatch(/^touched 6 relationships in \d+\.\d s \([\d,.]+\/s\)$/);
    expect(await all()).toEqual([
      'document:1 viewer user:ann',
      'document:1 viewer user:bob[on_level:{"required":5}]',
      'document:2 owner user:ann',
      'document:3 viewer group:eng#member',
      'document:3 viewer user:dee',
      'group:eng member user:cy',
      'group:eng member user:eve',
    ]);
  });

  it('touch and skip commit batch by batch: an error midway says what was written and how to finish', async () => {
    // The server takes at most 3 updates per WriteRelationships.
    const c = io();
    expect(await importCommand(file('second.txt', SECOND), { ...opts, mode: 'touch', batchSize: 4 }, c.io)).toBe(1);
    expect(c.err[0]).toMatch(/^error: INVALID_ARGUMENT: .*(3|4)/);
    expect(c.err[1]).toBe(
      '0 relationships were written before the error (with --mode touch each batch commits on its own); importing the file again with --mode touch completes it',
    );
    const skip = io();
    expect(await importCommand(join(dir, 'second.txt'), { ...opts, mode: 'skip', batchSize: 4 }, skip.io)).toBe(1);
    expect(skip.err[1]).toMatch(/^0 relationships were written or skipped before the error/);
  });

  it('a bad line is still reported before anything is written, and a bad --mode is refused', async () => {
    const c = io();
    const bad = file('bad.txt', ['document:9#viewer@user:new', 'document:9#nope@user:x']);
    expect(await importCommand(bad, { ...opts, mode: 'touch' }, c.io)).toBe(1);
    expect(c.err).toEqual([
      `${bad}:2: relation/permission \`nope\` not found under definition \`document\``.replace(/^/, 'error: '),
      'nothing was imported',
    ]);
    expect(await all()).toHaveLength(4);
    const m = io();
    expect(await importCommand(bad, { ...opts, mode: 'upsert' }, m.io)).toBe(2);
    expect(m.err).toEqual(['error: --mode must be one of create, touch, skip, not "upsert"']);
  });
});
