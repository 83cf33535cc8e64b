/**
 * The one error class. Every failure Pemba means to report carries a gRPC status name (the API
 * maps it to a status) and, where SpiceDB sends one, an authzed.api.v1 ErrorReason. Anything else
 * thrown is a bug and surfaces as INTERNAL. Build errors with the named constructors in catalogue.ts.
 */

/** gRPC status names (OK excluded). */
export type ErrorCode =
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

/** The authzed.api.v1 ErrorReason values Pemba sends. */
export type ErrorReason =
  | 'ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP'
  | 'ERROR_REASON_CANNOT_UPDATE_PERMISSION'
  | 'ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT'
  | 'ERROR_REASON_INVALID_CURSOR'
  | 'ERROR_REASON_INVALID_FILTER'
  | 'ERROR_REASON_INVALID_SUBJECT_TYPE'
  | 'ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED'
  | 'ERROR_REASON_SCHEMA_PARSE_ERROR'
  | 'ERROR_REASON_SCHEMA_TYPE_ERROR'
  | 'ERROR_REASON_SERVICE_READ_ONLY'
  | 'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST'
  | 'ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST'
  | 'ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE'
  | 'ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST'
  | 'ERROR_REASON_TRANSACTION_METADATA_TOO_LARGE'
  | 'ERROR_REASON_UNKNOWN_CAVEAT'
  | 'ERROR_REASON_UNKNOWN_DEFINITION'
  | 'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION'
  | 'ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP'
  | 'ERROR_REASON_WILDCARD_NOT_ALLOWED'
  | 'ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE';

export class PembaError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly reason?: ErrorReason,
    readonly metadata: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'PembaError';
  }
}

/** A schema that does not parse or type-check. Position is 1-based. */
export class SchemaError extends PembaError {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    /** The offending name or token. */
    readonly source?: string,
  ) {
    super('INVALID_ARGUMENT', `${message} (line ${line}, column ${column})`, 'ERROR_REASON_SCHEMA_PARSE_ERROR', {
      line: String(line),
      column: String(column),
      ...(source ? { source_code: source } : {}),
    });
    this.name = 'SchemaError';
  }
}
