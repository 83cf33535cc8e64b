/**
 * Keyless senders for keyless-flood.reliability.ts, run as their own process (so their CPU does not
 * stall the test's event loop, where the authenticated Checks are timed):
 *
 *   node --import tsx flood-worker.ts ENDPOINT SENDERS DURATION_MS MESSAGE_BYTES
 *
 * SENDERS WriteRelationships callers, half without an authorization header and half with a wrong
 * key, each sending its next ~MESSAGE_BYTES message as soon as the previous one is answered, for
 * DURATION_MS. The message is encoded once. Prints one JSON line: calls, status counts, bytes.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';

const [endpoint, sendersArg, durationArg, bytesArg] = process.argv.slice(2);
const senders = Number(sendersArg);
const durationMs = Number(durationArg);
const targetBytes = Number(bytesArg);

// Many small updates (~110 bytes each; more than the 1,000 a write may carry, but a server that
// decodes before it authenticates pays for every one of them before it finds out).
const updateOf = (i: number) =>
  v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.TOUCH,
    relationship: {
      resource: { objectType: 'doc', objectId: `document_${i}_`.padEnd(36, 'r') },
      relation: 'reader',
      subject: { object: { objectType: 'user', objectId: `user_${i}_`.padEnd(36, 's') }, optionalRelation: '' },
    },
  });
const perUpdate = v1.WriteRelationshipsRequest.toBinary(
  v1.WriteRelationshipsRequest.create({ updates: [updateOf(0)] }),
).length;
const message = Buffer.from(
  v1.WriteRelationshipsRequest.toBinary(
    v1.WriteRelationshipsRequest.create({
      updates: Array.from({ length: Math.ceil(targetBytes / perUpdate) }, (_, i) => updateOf(i)),
    }),
  ),
);

const PATH = '/authzed.api.v1.PermissionsService/WriteRelationships';
const counts: Record<string, number> = {};
let calls = 0;
const end = Date.now() + durationMs;

async function sender(n: number): Promise<void> {
  // Each sender on its own connection, as separate attackers would be.
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const metadata = new grpc.Metadata();
  if (n % 2 === 1) metadata.set('authorization', 'Bearer not-the-key');
  while (Date.now() < end) {
    const code = await new Promise<number>((resolve) => {
      client.makeUnaryRequest(
        PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        message,
        metadata,
        { deadline: Date.now() + 30_000 },
        (err) => resolve(err ? err.code : grpc.status.OK),
      );
    });
    calls++;
    const name = grpc.status[code] ?? String(code);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  client.close();
}

await Promise.all(Array.from({ length: senders }, (_, n) => sender(n)));
console.log(JSON.stringify({ calls, counts, messageBytes: message.length }));
