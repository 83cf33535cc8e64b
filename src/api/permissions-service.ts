/** authzed.api.v1.PermissionsService on top of Pemba. */
import { v1 } from '@authzed/authzed-node';
import type { Pemba } from '../pemba.js';
import * as c from './convert.js';
import { toFailure, toRpcStatus } from './errors.js';
import {
  DEBUG_INFO_TRAILER,
  debugInformationJson,
  MAX_DEBUG_INFO_TRAILER_BYTES,
  REQUEST_DEBUG_INFO,
  toDebugInformation,
} from './debug-trace.js';
import { unimplemented } from '../errors/index.js';
import { assertRelationshipContextSize, assertRequestContextSize, assertWithinLimit } from './limits.js';
import type { ApiLimits } from './limits.js';
import { clientStream, serverStream, unary } from './method.js';
import type { ApiService } from './method.js';

export function permissionsService(pemba: Pemba, limits: ApiLimits): ApiService {
  return {
    type: v1.PermissionsService,
    handlers: {
      CheckPermission: unary(v1.CheckPermissionRequest, async (req, ctx): Promise<v1.CheckPermissionResponse> => {
        assertRequestContextSize(req.context, limits.maxCaveatContextBytes);
        // SpiceDB's legacy request header asks for the trace too (zed's --explain before SpiceDB 1.30).
        const legacyDebug = ctx.header?.(REQUEST_DEBUG_INFO) !== undefined;
        const r = await pemba.check({
          signal: ctx.signal,
          resource: c.objectRef(req.resource),
          permission: req.permission,
          subject: c.subjectRef(req.subject),
          context: c.structToObject(req.context),
          consistency: c.consistency(req.consistency),
          trace: req.withTracing || legacyDebug,
        });
        const response: v1.CheckPermissionResponse = {
          checkedAt: c.zedToken(r.token),
          permissionship: c.checkPermissionship(r.permissionship),
          partialCaveatInfo: c.partialCaveatInfo(r.missingContext),
        };
        if (r.trace) {
          // In the answer, as SpiceDB 1.30 and later; for the legacy header also in SpiceDB's earlier trailer.
          response.debugTrace = toDebugInformation(r.trace);
          const json = legacyDebug ? debugInformationJson(response.debugTrace) : '';
          if (json && json.length <= MAX_DEBUG_INFO_TRAILER_BYTES) (ctx.trailers ??= {})[DEBUG_INFO_TRAILER] = json;
        }
        return response;
      }),

      // The item limit (limits.maxCheckBulkItems) is Pemba's own: the server opens it with that limit.
      CheckBulkPermissions: unary(
        v1.CheckBulkPermissionsRequest,
        async (req, ctx): Promise<v1.CheckBulkPermissionsResponse> => {
          for (const i of req.items) assertRequestContextSize(i.context, limits.maxCaveatContextBytes);
          const items = req.items.map((i) => ({
            resource: c.objectRef(i.resource),
            permission: i.permission,
            subject: c.subjectRef(i.subject),
            context: c.structToObject(i.context),
          }));
          const { results, token } = await pemba.checkBulk(items, c.consistency(req.consistency), {
            signal: ctx.signal,
            trace: req.withTracing,
          });
          const pairs = results.map((r, i): v1.CheckBulkPermissionsPair => ({
            request: req.items[i],
            response: r.error
              ? { oneofKind: 'error', error: toRpcStatus(toFailure(r.error)) }
              : {
                  oneofKind: 'item',
                  item: {
                    permissionship: c.checkPermissionship(r.permissionship),
                    partialCaveatInfo: c.partialCaveatInfo(r.missingContext),
                    debugTrace: r.trace && toDebugInformation(r.trace),
                  },
                },
          }));
          return { checkedAt: c.zedToken(token), pairs };
        },
      ),

      ExpandPermissionTree: unary(
        v1.ExpandPermissionTreeRequest,
        async (req, ctx): Promise<v1.ExpandPermissionTreeResponse> => {
          const { tree, token } = await pemba.expand({
            signal: ctx.signal,
            resource: c.objectRef(req.resource),
            permission: req.permission,
            consistency: c.consistency(req.consistency),
          });
          return { expandedAt: c.zedToken(token), treeRoot: c.toApiTree(tree) };
        },
      ),

      LookupResources: serverStream(
        v1.LookupResourcesRequest,
        async function* (req, ctx): AsyncIterable<v1.LookupResourcesResponse> {
          assertWithinLimit(req.optionalLimit, limits.maxLookupResourcesLimit);
          const results = pemba.lookupResources({
            signal: ctx.signal,
            resourceType: req.resourceObjectType,
            permission: req.permission,
            subject: c.subjectRef(req.subject),
            context: c.structToObject(req.context),
            ...c.page(req),
          });
          for await (const r of results) {
            yield {
              lookedUpAt: c.zedToken(r.token),
              resourceObjectId: r.resourceId,
              permissionship: c.lookupPermissionship(r.permissionship),
              partialCaveatInfo: c.partialCaveatInfo(r.missingContext),
              afterResultCursor: c.cursor(r.cursor),
            };
          }
        },
      ),

      LookupSubjects: serverStream(
        v1.LookupSubjectsRequest,
        async function* (req, ctx): AsyncIterable<v1.LookupSubjectsResponse> {
          if (req.optionalConcreteLimit) {
            throw unimplemented('optional_concrete_limit is not supported by LookupSubjects');
          }
          // SpiceDB bounds the context here and in the checks, not in LookupResources.
          assertRequestContextSize(req.context, limits.maxCaveatContextBytes);
          const withoutWildcards = req.wildcardOption === v1.LookupSubjectsRequest_WildcardOption.EXCLUDE_WILDCARDS;
          const results = pemba.lookupSubjects({
            signal: ctx.signal,
            resource: c.objectRef(req.resource),
            permission: req.permission,
            subjectType: req.subjectObjectType,
            subjectRelation: req.optionalSubjectRelation || undefined,
            context: c.structToObject(req.context),
            consistency: c.consistency(req.consistency),
          });
          for await (const r of results) {
            if (withoutWildcards && r.subject.id === '*') continue;
            const resolved = (s: typeof r.subject): v1.ResolvedSubject => ({
              subjectObjectId: s.id,
              permissionship: c.lookupPermissionship(s.permissionship),
              partialCaveatInfo: c.partialCaveatInfo(s.missingContext),
            });
            const subject = resolved(r.subject);
            // The deprecated top-level fields are still filled: older clients read them.
            yield {
              lookedUpAt: c.zedToken(r.token),
              subject,
              excludedSubjects: r.excludedSubjects.map(resolved),
              subjectObjectId: subject.subjectObjectId,
              excludedSubjectIds: r.excludedSubjects.map((s) => s.id),
              permissionship: subject.permissionship,
              partialCaveatInfo: subject.partialCaveatInfo,
            };
          }
        },
      ),

      ReadRelationships: serverStream(
        v1.ReadRelationshipsRequest,
        async function* (req, ctx): AsyncIterable<v1.ReadRelationshipsResponse> {
          assertWithinLimit(req.optionalLimit, limits.maxReadRelationshipsLimit);
          const results = pemba.readRelationships({
            signal: ctx.signal,
            filter: c.relationshipFilter(req.relationshipFilter!),
            ...c.page(req),
          });
          for await (const r of results) {
            yield {
              readAt: c.zedToken(r.token),
              relationship: c.toApiRelationship(r.relationship),
              afterResultCursor: c.cursor(r.cursor),
            };
          }
        },
      ),

      WriteRelationships: unary(
        v1.WriteRelationshipsRequest,
        async (req, ctx): Promise<v1.WriteRelationshipsResponse> => {
          for (const u of req.updates)
            assertRelationshipContextSize(u.relationship, limits.maxRelationshipContextBytes);
          const { token } = await pemba.writeRelationships({
            signal: ctx.signal,
            updates: req.updates.map(c.relationshipUpdate),
            preconditions: req.optionalPreconditions.map(c.precondition),
            metadata: c.structToObject(req.optionalTransactionMetadata),
          });
          return { writtenAt: c.zedToken(token) };
        },
        { commits: true },
      ),

      DeleteRelationships: unary(
        v1.DeleteRelationshipsRequest,
        async (req, ctx): Promise<v1.DeleteRelationshipsResponse> => {
          assertWithinLimit(req.optionalLimit, limits.maxDeleteRelationshipsLimit);
          const r = await pemba.deleteRelationships({
            signal: ctx.signal,
            filter: c.relationshipFilter(req.relationshipFilter!),
            preconditions: req.optionalPreconditions.map(c.precondition),
            limit: req.optionalLimit || undefined,
            allowPartialDeletions: req.optionalAllowPartialDeletions,
            metadata: c.structToObject(req.optionalTransactionMetadata),
          });
          return {
            deletedAt: c.zedToken(r.token),
            deletionProgress: r.partial
              ? v1.DeleteRelationshipsResponse_DeletionProgress.PARTIAL
              : v1.DeleteRelationshipsResponse_DeletionProgress.COMPLETE,
            relationshipsDeletedCount: String(r.deletedCount),
          };
        },
        { commits: true },
      ),

      ImportBulkRelationships: clientStream(
        v1.ImportBulkRelationshipsRequest,
        async (requests, ctx): Promise<v1.ImportBulkRelationshipsResponse> => {
          async function* batches() {
            for await (const r of requests) {
              for (const rel of r.relationships) assertRelationshipContextSize(rel, limits.maxRelationshipContextBytes);
              yield r.relationships.map(c.relationship);
            }
          }
          const { count } = await pemba.importRelationships(batches(), { signal: ctx.signal });
          return { numLoaded: String(count) };
        },
        { bulk: true, commits: true },
      ),

      ExportBulkRelationships: serverStream(
        v1.ExportBulkRelationshipsRequest,
        async function* (req, ctx): AsyncIterable<v1.ExportBulkRelationshipsResponse> {
          assertWithinLimit(req.optionalLimit, limits.maxBulkExportRelationshipsLimit);
          const pages = pemba.exportRelationships({
            signal: ctx.signal,
            consistency: c.consistency(req.consistency),
            cursor: req.optionalCursor?.token,
            pageSize: req.optionalLimit || undefined,
            filter: req.optionalRelationshipFilter && c.relationshipFilter(req.optionalRelationshipFilter),
          });
          for await (const page of pages) {
            yield {
              afterResultCursor: c.cursor(page.cursor),
              relationships: page.relationships.map(c.toApiRelationship),
            };
          }
        },
        { bulk: true },
      ),
    },
  };
}
