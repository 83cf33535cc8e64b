/**
 * Loading a stream of relationships into a running server, for `pemba import` and `pemba backup
 * restore`, in one of three modes:
 *
 * - create: ImportBulkRelationships, one transaction: a relationship that already exists fails the
 *   whole load and nothing is written.
 * - touch: WriteRelationships with TOUCH, a batch per call: existing relationships are overwritten
 *   (their caveat and expiration replaced by the file's), new ones created.
 * - skip: WriteRelationships with CREATE, a batch per call; when a batch meets relationships that
 *   already exist, those are looked up, left as they are (not overwritten), and the rest created.
 *
 * touch and skip commit each batch on its own, so a failure midway leaves the earlier batches
 * written; both are idempotent, so running the same load again completes it.
 */
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';

export const LOAD_MODES = ['create', 'touch', 'skip'] as const;
export type LoadMode = (typeof LOAD_MODES)[number];

export interface LoadOptions {
  mode: LoadMode;
  /** Relationships per message (create) or per WriteRelationships call (touch, skip). */
  batchSize: number;
  /** After each batch: relationships handled so far (written or skipped). */
  onProgress?(count: number): void;
}

export interface LoadResult {
  /** Relationships created or touched. */
  written: number;
  /** Relationships left alone because they already existed (skip). */
  skipped: number;
}

export async function loadRelationships(
  client: v1.ZedClientInterface,
  source: AsyncIterable<v1.Relationship>,
  options: LoadOptions,
): Promise<LoadResult> {
  return options.mode === 'create' ? importAll(client, source, options) : writeBatches(client, source, options);
}

async function importAll(
  client: v1.ZedClientInterface,
  source: AsyncIterable<v1.Relationship>,
  options: LoadOptions,
): Promise<LoadResult> {
  const call = openImport(client);
  let batch: v1.Relationship[] = [];
  let sent = 0;
  try {
    for await (const relationship of source) {
      batch.push(relationship);
      if (batch.length < options.batchSize) continue;
      await call.send(batch);
      sent += batch.length;
      batch = [];
      options.onProgress?.(sent);
    }
    if (batch.length > 0) await call.send(batch);
  } catch (error) {
    call.cancel();
    await call.result.catch(() => undefined);
    throw error;
  }
  const { numLoaded } = await call.finish();
  return { written: Number(numLoaded), skipped: 0 };
}

/** `type:id#relation@type:id#relation`: what makes a relationship the same one. */
export function relationshipKey(r: v1.Relationship): string {
  const s = r.subject;
  return `${r.resource?.objectType}:${r.resource?.objectId}#${r.relation}@${s?.object?.objectType}:${s?.object?.objectId}#${s?.optionalRelation ?? ''}`;
}

async function writeBatches(
  client: v1.ZedClientInterface,
  source: AsyncIterable<v1.Relationship>,
  options: LoadOptions,
): Promise<LoadResult> {
  const result: LoadResult = { written: 0, skipped: 0 };
  let batch = new Map<string, v1.Relationship>();
  const flush = async () => {
    if (batch.size === 0) return;
    const relationships = [...batch.values()];
    batch = new Map();
    if (options.mode === 'touch') {
      await write(client, v1.RelationshipUpdate_Operation.TOUCH, relationships);
      result.written += relationships.length;
    } else {
      const { written, skipped } = await createSkippingExisting(client, relationships);
      result.written += written;
      result.skipped += skipped;
    }
    options.onProgress?.(result.written + result.skipped);
  };
  for await (const relationship of source) {
    const key = relationshipKey(relationship);
    // A request may name a relationship once: a repeat goes in the next batch, so it applies after the first.
    if (batch.has(key)) await flush();
    batch.set(key, relationship);
    if (batch.size >= options.batchSize) await flush();
  }
  await flush();
  return result;
}

function write(
  client: v1.ZedClientInterface,
  operation: v1.RelationshipUpdate_Operation,
  relationships: v1.Relationship[],
): Promise<v1.WriteRelationshipsResponse> {
  return client.promises.writeRelationships(
    v1.WriteRelationshipsRequest.create({
      updates: relationships.map((relationship) => ({ operation, relationship })),
    }),
  );
}

const isAlreadyExists = (error: unknown) => (error as Partial<grpc.ServiceError>).code === grpc.status.ALREADY_EXISTS;

/** Creates the batch's relationships that do not exist yet (a concurrent writer may race: retried). */
async function createSkippingExisting(client: v1.ZedClientInterface, batch: v1.Relationship[]): Promise<LoadResult> {
  let pending = batch;
  let skipped = 0;
  for (let attempt = 0; ; attempt++) {
    if (pending.length === 0) return { written: 0, skipped };
    try {
      await write(client, v1.RelationshipUpdate_Operation.CREATE, pending);
      return { written: pending.length, skipped };
    } catch (error) {
      if (!isAlreadyExists(error) || attempt >= 5) throw error;
    }
    const existing = await existingKeys(client, pending);
    skipped += existing.size;
    pending = pending.filter((r) => !existing.has(relationshipKey(r)));
  }
}

const LOOKUP_CONCURRENCY = 16;

/** Which of these relationships exist now (one exact read each, a few at a time). */
async function existingKeys(client: v1.ZedClientInterface, relationships: v1.Relationship[]): Promise<Set<string>> {
  const found = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < relationships.length) {
      const r = relationships[next++];
      const rows = await client.promises.readRelationships(
        v1.ReadRelationshipsRequest.create({
          consistency: { requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } },
          relationshipFilter: {
            resourceType: r.resource?.objectType ?? '',
            optionalResourceId: r.resource?.objectId ?? '',
            optionalRelation: r.relation,
            optionalSubjectFilter: {
              subjectType: r.subject?.object?.objectType ?? '',
              optionalSubjectId: r.subject?.object?.objectId ?? '',
              optionalRelation: { relation: r.subject?.optionalRelation ?? '' },
            },
          },
          optionalLimit: 1,
        }),
      );
      if (rows.length > 0) found.add(relationshipKey(r));
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOOKUP_CONCURRENCY, relationships.length) }, worker));
  return found;
}

export interface ImportCall {
  /** Writes one batch, waiting while the transport's buffer is full. */
  send(relationships: v1.Relationship[]): Promise<void>;
  /** Ends the stream and waits for the server's answer. */
  finish(): Promise<v1.ImportBulkRelationshipsResponse>;
  cancel(): void;
  result: Promise<v1.ImportBulkRelationshipsResponse>;
}

/** An ImportBulkRelationships call (one transaction: the server commits when the stream ends). */
export function openImport(client: v1.ZedClientInterface): ImportCall {
  let stream!: grpc.ClientWritableStream<v1.ImportBulkRelationshipsRequest>;
  const result = new Promise<v1.ImportBulkRelationshipsResponse>((resolve, reject) => {
    stream = client.importBulkRelationships((error, response) => (error ? reject(error) : resolve(response!)));
  });
  // An early answer is an error (the server stopped reading): send() rethrows it.
  let failure: unknown;
  result.catch((error: unknown) => {
    failure = error;
  });
  const failed = result.then(
    () => undefined,
    () => undefined,
  );
  return {
    async send(relationships) {
      if (failure) throw failure;
      if (!stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships }))) {
        await Promise.race([new Promise((resolve) => stream.once('drain', resolve)), failed]);
      }
      if (failure) throw failure;
    },
    finish() {
      stream.end();
      return result;
    },
    cancel: () => stream.cancel(),
    result,
  };
}
