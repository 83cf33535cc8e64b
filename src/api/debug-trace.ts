/**
 * A check's trace (see src/engine/check-trace.ts) as authzed.api.v1.DebugInformation: the
 * `debug_trace` of CheckPermission and CheckBulkPermissions answers asked `with_tracing`, and the
 * JSON of the `io.spicedb.respmeta.debuginfo` trailer answering the legacy `io.spicedb.requestdebuginfo`
 * request header (what zed's `--explain` reads from SpiceDB before 1.30).
 */
import { v1 } from '@authzed/authzed-node';
import type { IMessageType, JsonObject } from '@protobuf-ts/runtime';
import type { CaveatTrace, CheckTrace, CheckTraceNode } from '../requests/requests.js';
import { toSubjectReference } from './convert.js';

export type DebugInformation = NonNullable<v1.CheckPermissionResponse['debugTrace']>;
type ApiTrace = NonNullable<DebugInformation['check']>;
type ApiCaveatInfo = NonNullable<ApiTrace['caveatEvaluationInfo']>;

/** The request header asking for the trace, and the response trailer carrying it, in SpiceDB's legacy form. */
export const REQUEST_DEBUG_INFO = 'io.spicedb.requestdebuginfo';
export const DEBUG_INFO_TRAILER = 'io.spicedb.respmeta.debuginfo';

/**
 * The largest trailer sent (JSON is ASCII here: characters are bytes). A bigger trace is only in the
 * answer's `debug_trace`: an HTTP/2 header block past what the client accepts (about 64 KiB for
 * grpc-js, whose calls then never end; 8 KiB for some other clients) would cost the call.
 */
export const MAX_DEBUG_INFO_TRAILER_BYTES = 48 * 1024;

/** authzed.api.v1.CheckDebugTrace.PermissionType and .Permissionship, CaveatEvalInfo.Result (not exported by authzed-node). */
const PERMISSION_TYPE = { relation: 1, permission: 2 } as const;
const PERMISSIONSHIP = { UNSPECIFIED: 0, NO_PERMISSION: 1, HAS_PERMISSION: 2, CONDITIONAL_PERMISSION: 3 } as const;
const CAVEAT_RESULT = { FALSE: 2, TRUE: 3, MISSING_SOME_CONTEXT: 4 } as const;

export function toDebugInformation(trace: CheckTrace): DebugInformation {
  return { check: toCheckDebugTrace(trace.check), schemaUsed: trace.schema };
}

function toCheckDebugTrace(n: CheckTraceNode): ApiTrace {
  const trace: ApiTrace = {
    resource: { objectType: n.resourceType, objectId: n.resourceIds.join(',') },
    permission: n.permission,
    permissionType: PERMISSION_TYPE[n.permissionType],
    subject: toSubjectReference(n.subject),
    result: PERMISSIONSHIP[n.result],
    duration: duration(n.durationMs),
    // As SpiceDB: a node with sub-problems lists them, a leaf says whether it came from a cache.
    resolution:
      n.subProblems.length > 0
        ? { oneofKind: 'subProblems', subProblems: { traces: n.subProblems.map(toCheckDebugTrace) } }
        : { oneofKind: 'wasCachedResult', wasCachedResult: n.cached },
    traceOperationId: n.traceId,
    source: n.source,
  };
  if (n.caveat) trace.caveatEvaluationInfo = toCaveatEvalInfo(n.caveat);
  return trace;
}

function toCaveatEvalInfo(c: CaveatTrace): ApiCaveatInfo {
  const info: ApiCaveatInfo = {
    expression: c.expression,
    result: CAVEAT_RESULT[c.result],
    context: v1.PbStruct.fromJson(c.context as JsonObject),
    caveatName: c.caveatName,
  };
  if (c.missingContext) info.partialCaveatInfo = { missingRequiredContext: c.missingContext };
  return info;
}

function duration(ms: number): { seconds: string; nanos: number } {
  const nanos = Math.max(0, Math.round(ms * 1e6));
  return { seconds: String(Math.floor(nanos / 1e9)), nanos: nanos % 1e9 };
}

/** The DebugInformation message type (authzed-node does not export it; CheckPermissionResponse names it). */
const debugInformationType = (() => {
  const field = v1.CheckPermissionResponse.fields.find((f) => f.localName === 'debugTrace');
  if (field?.kind !== 'message')
    throw new Error('authzed-node: CheckPermissionResponse has no debug_trace message field');
  return field.T() as IMessageType<DebugInformation>;
})();

/**
 * The trailer's value: DebugInformation in proto3 JSON, as SpiceDB marshals it, with every character
 * outside printable ASCII escaped (a gRPC metadata value allows no other).
 */
export function debugInformationJson(info: DebugInformation): string {
  return debugInformationType
    .toJsonString(info)
    .replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
