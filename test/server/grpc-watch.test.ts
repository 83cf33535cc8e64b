/** WatchService end to end through authzed-node: ordering, filters, and resume without gaps or repeats. */
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relText, SCHEMA, startTestServer, update } from './harness.js';
import type { TestServer } from './harness.js';

let t: TestServer;
let p: v1.ZedPromiseClientInterface;
let start: string;

beforeAll(async () => {
  t = await startTestServer();
  p = t.client.promises;
  start = (await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }))).writtenAt!.token;
});

afterAll(async () => {
  await t?.close();
});

/** Opens a Watch and resolves with the first `n` responses (then cancels), or rejects with the stream's error. */
function watch(
  request: Partial<v1.WatchRequest>,
  n: number,
  timeoutMs = 5000,
): { done: Promise<v1.WatchResponse[]>; started: Promise<void> } {
  const stream = t.client.watch(v1.WatchRequest.create(request));
  const got: v1.WatchResponse[] = [];
  const started = new Promise<void>((resolve) => stream.on('metadata', () => resolve()));
  const done = new Promise<v1.WatchResponse[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.cancel();
      reject(new Error(`timed out with ${got.length} of ${n} responses`));
    }, timeoutMs);
    stream.on('data', (r: v1.WatchResponse) => {
      got.push(r);
      if (got.length === n) {
        clearTimeout(timer);
        stream.cancel();
        resolve(got);
      }
    });
    stream.on('error', (e: { code: number }) => {
      clearTimeout(timer);
      if (e.code !== status.CANCELLED) reject(e);
    });
  });
  return { done, started };
}

const write = async (...updates: v1.RelationshipUpdate[]) =>
  (await p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates }))).writtenAt!.token;

const summary = (r: v1.WatchResponse) =>
  r.updates.map((u) => `${v1.RelationshipUpdate_Operation[u.operation]} ${relText(u.relationship)}`);

describe('Watch', () => {
  let tokens: string[];
  let all: v1.WatchResponse[];

  beforeAll(async () => {
    tokens = [
      await write(update('TOUCH', 'doc:w1#reader@user:a')),
      await write(update('TOUCH', 'doc:w2#reader@user:b'), update('TOUCH', 'group:g#member@user:c')),
      await write(update('DELETE', 'doc:w1#reader@user:a')),
      await write(update('TOUCH', 'group:g#member@user:d')),
    ];
    all = await watch({ optionalStartCursor: { token: start } }, 4).done;
  });

  it('streams every change after the start token, in revision order, one response per revision', () => {
    expect(all.map(summary)).toEqual([
      ['TOUCH doc:w1#reader@user:a'],
      ['TOUCH doc:w2#reader@user:b', 'TOUCH group:g#member@user:c'],
      ['DELETE doc:w1#reader@user:a'],
      ['TOUCH group:g#member@user:d'],
    ]);
    expect(all.map((r) => r.changesThrough?.token)).toEqual(tokens);
  });

  it('resumes from the last token seen: nothing missed, nothing twice', async () => {
    for (let i = 0; i < all.length - 1; i++) {
      const rest = await watch({ optionalStartCursor: all[i].changesThrough }, all.length - 1 - i).done;
      expect(rest.map(summary)).toEqual(all.slice(i + 1).map(summary));
    }
  });

  it('filters by object type and by relationship filter', async () => {
    const groups = await watch({ optionalStartCursor: { token: start }, optionalObjectTypes: ['group'] }, 2).done;
    expect(groups.map(summary)).toEqual([['TOUCH group:g#member@user:c'], ['TOUCH group:g#member@user:d']]);
    const byFilter = await watch(
      {
        optionalStartCursor: { token: start },
        optionalRelationshipFilters: [v1.RelationshipFilter.create({ resourceType: 'doc', optionalResourceId: 'w1' })],
      },
      2,
    ).done;
    expect(byFilter.map(summary)).toEqual([['TOUCH doc:w1#reader@user:a'], ['DELETE doc:w1#reader@user:a']]);
  });

  it('watches from now when no token is given', async () => {
    const w = watch({}, 1);
    // The server answers headers once the watch has taken its start revision.
    await w.started;
    const token = await write(update('TOUCH', 'doc:now#reader@user:n'));
    const [first] = await w.done;
    expect(summary(first)).toEqual(['TOUCH doc:now#reader@user:n']);
    expect(first.changesThrough?.token).toBe(token);
  });

  it('refuses object types together with relationship filters, and a bad token', async () => {
    await expect(
      watch(
        {
          optionalObjectTypes: ['doc'],
          optionalRelationshipFilters: [v1.RelationshipFilter.create({ resourceType: 'doc' })],
        },
        1,
      ).done,
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(watch({ optionalStartCursor: { token: 'bogus' } }, 1).done).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });
});
