/** A Watch stream through authzed-node whose responses a test takes as they come. */
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';

export interface WatchStream {
  /** Every response so far, in order. */
  readonly responses: v1.WatchResponse[];
  /** Resolves once the server has sent headers (the watch has taken its start revision). */
  readonly started: Promise<void>;
  /** Resolves with the responses once there are at least `n`; rejects on the stream's error or after `timeoutMs`. */
  take(n: number, timeoutMs?: number): Promise<v1.WatchResponse[]>;
  /** The stream's error, once it failed (a cancel by the test is not an error). */
  readonly error: Promise<{ code: number; details: string }>;
  cancel(): void;
}

export function openWatch(client: v1.ZedClientInterface, request: Partial<v1.WatchRequest>): WatchStream {
  const stream = client.watch(v1.WatchRequest.create(request));
  const responses: v1.WatchResponse[] = [];
  let failed: { code: number; details: string } | undefined;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  const started = new Promise<void>((resolve) => stream.on('metadata', () => resolve()));
  const error = new Promise<{ code: number; details: string }>((resolve) => {
    stream.on('error', (e: { code: number; details: string }) => {
      if (e.code === status.CANCELLED) return;
      failed = e;
      resolve(e);
      wake();
    });
  });
  stream.on('data', (r: v1.WatchResponse) => {
    responses.push(r);
    wake();
  });
  return {
    responses,
    started,
    error,
    cancel: () => stream.cancel(),
    take(n, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (failed) done(() => reject(Object.assign(new Error(failed!.details), failed)));
          else if (responses.length >= n) done(() => resolve(responses.slice()));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out with ${responses.length} of ${n} responses`))),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** A response in a comparable form: its kind, updates, metadata and which commit (by token) it is at. */
export function describeResponse(r: v1.WatchResponse, commitOf: (token: string | undefined) => unknown) {
  return {
    at: commitOf(r.changesThrough?.token),
    kind: r.isCheckpoint ? 'checkpoint' : r.schemaUpdated ? 'schema' : 'updates',
    updates: r.updates.map(
      (u) =>
        `${v1.RelationshipUpdate_Operation[u.operation]} ${u.relationship?.resource?.objectType}:${u.relationship?.resource?.objectId}#${u.relationship?.relation}@${u.relationship?.subject?.object?.objectType}:${u.relationship?.subject?.object?.objectId}`,
    ),
    metadata: r.optionalTransactionMetadata ? v1.PbStruct.toJson(r.optionalTransactionMetadata) : undefined,
    fullRevisionMetadata: r.fullRevisionMetadata.map((m) => v1.PbStruct.toJson(m)),
  };
}
