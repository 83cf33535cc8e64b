/**
 * The `commits` handler option: the transport awaits such a handler's outcome past an abort (here
 * the server's request timeout) instead of answering the abort reason at once, so a write that
 * committed is answered OK and one that stopped is answered with its own error.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientStream, unary } from '../../src/api/method.js';
import type { CallContext } from '../../src/api/method.js';
import { post, serveFakes, sleep } from './fake-services.js';
import type { FakeServer } from './fake-services.js';

const TIMEOUT_MS = 100;

/** Waits for the abort, then "commits" for 50 ms more (ignoring the signal) and succeeds — or stops at the abort. */
async function write(ctx: CallContext, finishesCommit: boolean): Promise<v1.WriteRelationshipsResponse> {
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  if (!finishesCommit) throw ctx.signal.reason;
  await sleep(50);
  return v1.WriteRelationshipsResponse.create({ writtenAt: { token: 'committed' } });
}

let fakes: FakeServer;
let plain: FakeServer;

beforeAll(async () => {
  // WriteRelationships commits when its request says so (an optional precondition on type "commit"); ImportBulk always does.
  const commitsIf = (req: v1.WriteRelationshipsRequest) => req.optionalPreconditions.length > 0;
  const services = (commits: boolean) => [
    {
      type: v1.PermissionsService,
      handlers: {
        WriteRelationships: unary(v1.WriteRelationshipsRequest, (req, ctx) => write(ctx, commitsIf(req)), { commits }),
        ImportBulkRelationships: clientStream(
          v1.ImportBulkRelationshipsRequest,
          async (requests, ctx) => {
            let n = 0;
            for await (const r of requests) n += r.relationships.length;
            await write(ctx, true);
            return v1.ImportBulkRelationshipsResponse.create({ numLoaded: String(n) });
          },
          { commits },
        ),
      },
    },
  ];
  fakes = await serveFakes(services(true), TIMEOUT_MS);
  plain = await serveFakes(services(false), TIMEOUT_MS);
});

afterAll(async () => {
  await fakes?.close();
  await plain?.close();
});

const committing = v1.WriteRelationshipsRequest.create({
  optionalPreconditions: [{ operation: v1.Precondition_Operation.MUST_MATCH, filter: { resourceType: 'commit' } }],
});
const stopping = v1.WriteRelationshipsRequest.create();

function importBulk(client: v1.ZedClientInterface): Promise<v1.ImportBulkRelationshipsResponse> {
  return new Promise((resolve, reject) => {
    const stream = client.importBulkRelationships((err, value) => (err ? reject(err) : resolve(value!)));
    stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: [] }));
    stream.end();
  });
}

describe('a handler that commits', () => {
  it('over gRPC: is answered OK when it committed after the deadline, with its own error when it stopped', async () => {
    expect((await fakes.client.promises.writeRelationships(committing)).writtenAt?.token).toBe('committed');
    await expect(fakes.client.promises.writeRelationships(stopping)).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
    });
    expect((await importBulk(fakes.client)).numLoaded).toBe('0');
  });

  it('over HTTP: likewise', async () => {
    const ok = await post(fakes.httpBase, '/v1/relationships/write', v1.WriteRelationshipsRequest.toJson(committing));
    expect(ok.status).toBe(200);
    expect((await ok.json()).writtenAt.token).toBe('committed');
    const stopped = await post(fakes.httpBase, '/v1/relationships/write', {});
    expect(stopped.status).toBe(504);
    expect((await stopped.json()).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const imported = await post(fakes.httpBase, '/v1/relationships/importbulk', '{"relationships": []}');
    expect(imported.status).toBe(200);
  });

  it('without the option, the transport answers the abort at once, whatever the handler then does', async () => {
    await expect(plain.client.promises.writeRelationships(committing)).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
    });
    await expect(importBulk(plain.client)).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect(
      (await post(plain.httpBase, '/v1/relationships/write', v1.WriteRelationshipsRequest.toJson(committing))).status,
    ).toBe(504);
  });
});
