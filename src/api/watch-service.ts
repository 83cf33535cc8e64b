/**
 * authzed.api.v1.WatchService: every change after a token (or from now), in revision order, as
 * SpiceDB sends it. Per commit: its wanted relationship updates (with the commit's transaction
 * metadata), then with WATCH_KIND_INCLUDE_SCHEMA_UPDATES a schema_updated response if it wrote the
 * schema, then with WATCH_KIND_INCLUDE_CHECKPOINTS a checkpoint (is_checkpoint, no updates) at its
 * revision, whether or not any of its changes passed the filters. With checkpoints, an idle watch
 * also sends one every heartbeat (`--watch-api-heartbeat`). Relationship updates are always
 * included, whatever the kinds asked for (as in SpiceDB).
 */
import { v1 } from '@authzed/authzed-node';
import type { Pemba } from '../pemba.js';
import { objectToStruct, relationshipFilter, toApiUpdate, zedToken } from './convert.js';
import { invalidArgument } from '../errors/index.js';
import { DEFAULT_LIMITS } from './limits.js';
import { serverStream } from './method.js';
import type { ApiService } from './method.js';

export interface WatchServiceOptions {
  /** With checkpoints asked for, the longest an idle watch stays silent, in ms (default 1 s, as SpiceDB's). */
  heartbeatMs?: number;
}

export function watchService(pemba: Pemba, options: WatchServiceOptions = {}): ApiService {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_LIMITS.watchHeartbeatMs;
  return {
    type: v1.WatchService,
    handlers: {
      Watch: serverStream(
        v1.WatchRequest,
        async function* (req, ctx): AsyncIterable<v1.WatchResponse> {
          const kinds = req.optionalUpdateKinds;
          // SpiceDB refuses both only when relationship updates are among the kinds named (no kinds
          // names them); otherwise it applies both, ANDed.
          const relationshipKind =
            kinds.length === 0 ||
            kinds.includes(v1.WatchKind.UNSPECIFIED) ||
            kinds.includes(v1.WatchKind.INCLUDE_RELATIONSHIP_UPDATES);
          if (relationshipKind && req.optionalObjectTypes.length > 0 && req.optionalRelationshipFilters.length > 0) {
            throw invalidArgument('cannot specify both object types and relationship filters');
          }
          const events = pemba.watch({
            afterToken: req.optionalStartCursor?.token,
            objectTypes: req.optionalObjectTypes,
            filters: req.optionalRelationshipFilters.map(relationshipFilter),
            schemaUpdates: kinds.includes(v1.WatchKind.INCLUDE_SCHEMA_UPDATES),
            checkpoints: kinds.includes(v1.WatchKind.INCLUDE_CHECKPOINTS),
            heartbeatMs,
            signal: ctx.signal,
          });
          for await (const e of events) {
            const metadata = objectToStruct(e.metadata);
            yield {
              updates: e.changes.map((ch) => toApiUpdate(ch.operation, ch.relationship)),
              changesThrough: zedToken(e.token),
              ...(metadata ? { optionalTransactionMetadata: metadata } : {}),
              schemaUpdated: e.schemaUpdated === true,
              isCheckpoint: e.checkpoint === true,
              fullRevisionMetadata: metadata ? [metadata] : [],
            };
          }
        },
        { longLived: true },
      ),
    },
  };
}
