/** Pemba.importRelationships under its import limits, and under the caller's signal (memory datastore). */
import { describe, expect, it } from 'vitest';
import { Pemba } from '../../src/pemba.js';
import { PembaError } from '../../src/errors/index.js';
import type { ImportLimits } from '../../src/datastore/import-watchdog.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import type { Relationship } from '../../src/relationships/relationship.js';

const SCHEMA = 'definition user {}\ndefinition doc {\n  relation reader: user\n}';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function open(importLimits: ImportLimits): Promise<Pemba> {
  const pemba = await Pemba.open({ importLimits });
  await pemba.writeSchema(SCHEMA);
  return pemba;
}

/** Batches of one relationship, `gapMs` apart; after `count` of them, waits forever (a stalled client). */
async function* batches(count: number, gapMs: number): AsyncIterable<Relationship[]> {
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(gapMs);
    yield [parseRelationship(`doc:${i}#reader@user:ann`)];
  }
  await new Promise(() => undefined);
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the import to fail');
    },
    (e: unknown) => e,
  );
}

async function stored(pemba: Pemba): Promise<number> {
  const ds = pemba.datastore;
  return (await ds.snapshot(await ds.headRevision()).queryRelationships({ resourceType: 'doc' })).length;
}

describe('importRelationships limits', () => {
  it('fails a stalled import after the idle timeout, imports nothing and frees the writer', async () => {
    const pemba = await open({ idleTimeoutMs: 50 });
    const e = await failure(pemba.importRelationships(batches(2, 10)));
    expect(e).toBeInstanceOf(PembaError);
    expect((e as PembaError).code).toBe('DEADLINE_EXCEEDED');
    expect((e as PembaError).message).toMatch(/no batch for 50 ms/);
    expect(await stored(pemba)).toBe(0);
    await pemba.importRelationships([[parseRelationship('doc:x#reader@user:ann')]]);
    expect(await stored(pemba)).toBe(1);
  });

  it('fails an import that drips batches once it has held the writer for maxLockHoldMs', async () => {
    const pemba = await open({ idleTimeoutMs: 50, maxLockHoldMs: 150 });
    const began = Date.now();
    const e = await failure(pemba.importRelationships(batches(1000, 20)));
    expect((e as PembaError).message).toMatch(/held the write lock for more than 150 ms/);
    expect(Date.now() - began).toBeLessThan(1000);
    expect(await stored(pemba)).toBe(0);
  });

  it("ends with the caller's reason when its signal aborts while waiting for a batch", async () => {
    const pemba = await open({});
    const ac = new AbortController();
    const why = new PembaError('DEADLINE_EXCEEDED', 'the call ended');
    const pending = failure(pemba.importRelationships(batches(1, 0), { signal: ac.signal }));
    await sleep(20);
    ac.abort(why);
    expect(await pending).toBe(why);
    expect(await stored(pemba)).toBe(0);
  });

  it('imports within the limits as before, from sync and async sources', async () => {
    const pemba = await open({ idleTimeoutMs: 50, maxLockHoldMs: 1000 });
    async function* finite() {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        yield [parseRelationship(`doc:a${i}#reader@user:ann`)];
      }
    }
    expect((await pemba.importRelationships(finite())).count).toBe(3);
    expect((await pemba.importRelationships([[parseRelationship('doc:s#reader@user:ann')]])).count).toBe(1);
    expect(await stored(pemba)).toBe(4);
  });
});
