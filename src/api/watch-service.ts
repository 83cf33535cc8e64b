/** authzed.api.v1.WatchService: every change after a token (or from now), in revision order. */
import { v1 } from '@authzed/authzed-node';
import type { Pemba } from '../pemba.js';
import { relationshipFilter, toApiUpdate, zedToken } from './convert.js';
import { invalidArgument } from '../errors/index.js';
import { serverStream } from './method.js';
import type { ApiService } from './method.js';

export function watchService(pemba: Pemba): ApiService {
  return {
    type: v1.WatchService,
    handlers: {
      Watch: serverStream(
        v1.WatchRequest,
        async function* (req, ctx): AsyncIterable<v1.WatchResponse> {
          if (req.optionalObjectTypes.length > 0 && req.optionalRelationshipFilters.length > 0) {
            throw invalidArgument('cannot specify both object types and relationship filters');
          }
          const events = pemba.watch({
            afterToken: req.optionalStartCursor?.token,
            objectTypes: req.optionalObjectTypes,
            filters: req.optionalRelationshipFilters.map(relationshipFilter),
            signal: ctx.signal,
          });
          for await (const e of events) {
            yield {
              updates: e.changes.map((ch) => toApiUpdate(ch.operation, ch.relationship)),
              changesThrough: zedToken(e.token),
              schemaUpdated: false,
              isCheckpoint: false,
              fullRevisionMetadata: [],
            };
          }
        },
        { longLived: true },
      ),
    },
  };
}
