/**
 * One catalogue of errors. Each carries a gRPC-style status code (the API layer maps it to a
 * status) and, where SpiceDB sends one, the authzed.api.v1 ErrorReason name.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'ALREADY_EXISTS'
  | 'NOT_FOUND'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL';

export class PembaError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** authzed ErrorReason, e.g. ERROR_REASON_SCHEMA_PARSE_ERROR. */
    readonly reason?: string,
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
    super(
      'INVALID_ARGUMENT',
      `${message} (line ${line}, column ${column})`,
      'ERROR_REASON_SCHEMA_PARSE_ERROR',
      { line: String(line), column: String(column), ...(source ? { source_code: source } : {}) },
    );
    this.name = 'SchemaError';
  }
}

export const invalidArgument = (message: string, reason?: string, metadata?: Record<string, string>) =>
  new PembaError('INVALID_ARGUMENT', message, reason, metadata);
export const failedPrecondition = (message: string, reason?: string, metadata?: Record<string, string>) =>
  new PembaError('FAILED_PRECONDITION', message, reason, metadata);
export const alreadyExists = (message: string, reason?: string, metadata?: Record<string, string>) =>
  new PembaError('ALREADY_EXISTS', message, reason, metadata);
