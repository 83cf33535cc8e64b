/**
 * Named constructors for every error Pemba reports. A message SpiceDB clients may match on is
 * written once, here; call sites say what went wrong, not how it is worded.
 */
import { PembaError, type ErrorCode, type ErrorReason } from './pemba-error.js';

type Metadata = Record<string, string>;
const make = (code: ErrorCode) => (message: string, reason?: ErrorReason, metadata?: Metadata) =>
  new PembaError(code, message, reason, metadata);

// By status, for failures without a message of their own below.
export const invalidArgument = make('INVALID_ARGUMENT');
export const failedPrecondition = make('FAILED_PRECONDITION');
export const alreadyExists = make('ALREADY_EXISTS');
export const notFound = make('NOT_FOUND');
export const resourceExhausted = make('RESOURCE_EXHAUSTED');
export const unimplemented = make('UNIMPLEMENTED');
export const unauthenticated = make('UNAUTHENTICATED');
export const unavailable = make('UNAVAILABLE');
export const cancelled = make('CANCELLED');
export const deadlineExceeded = make('DEADLINE_EXCEEDED');
export const aborted = make('ABORTED');
export const internal = make('INTERNAL');

// Schema lookups.
export const unknownDefinition = (type: string) =>
  failedPrecondition(`object definition \`${type}\` not found`, 'ERROR_REASON_UNKNOWN_DEFINITION');
export const unknownRelation = (type: string, relation: string) =>
  failedPrecondition(
    `relation/permission \`${relation}\` not found under definition \`${type}\``,
    'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION',
  );
export const unknownCaveat = (name: string) =>
  failedPrecondition(`caveat \`${name}\` not found`, 'ERROR_REASON_UNKNOWN_CAVEAT');
export const noSchema = () =>
  failedPrecondition('No schema has been defined; please call WriteSchema to start', 'ERROR_REASON_SCHEMA_PARSE_ERROR');

// Request sizes.
export const tooManyChecks = (count: number, max: number) =>
  invalidArgument(
    `check bulk item count of ${count} is greater than maximum allowed of ${max}`,
    'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST',
  );
export const tooManyUpdates = (count: number, max: number) =>
  invalidArgument(
    `update count of ${count} is greater than maximum allowed of ${max}`,
    'ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST',
  );
export const tooManyPreconditions = (count: number, max: number) =>
  invalidArgument(
    `precondition count of ${count} is greater than maximum allowed of ${max}`,
    'ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST',
  );
export const limitTooLarge = (requested: number, max: number) =>
  invalidArgument(
    `provided limit ${requested} is greater than maximum allowed of ${max}`,
    'ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT',
    { limit_provided: String(requested), maximum_limit_allowed: String(max) },
  );

// Writes.
export const relationshipExists = (relationship: string) =>
  alreadyExists(
    `could not CREATE relationship \`${relationship}\`, as it already existed. If this is persistent, please switch to TOUCH operations or specify a precondition`,
    'ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP',
    { relationship },
  );
export const duplicateUpdate = (relationship: string) =>
  invalidArgument(
    `found more than one update with relationship \`${relationship}\` in this request; a relationship can only be specified in an update once per request`,
    'ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP',
  );
export const preconditionFailed = (operation: string, filter: unknown) =>
  failedPrecondition(
    `unable to satisfy write precondition: ${operation} ${JSON.stringify(filter)}`,
    'ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE',
  );
export const tooManyToDelete = (limit: number) =>
  failedPrecondition(
    `found more than ${limit} relationships to be deleted and partial deletion was not requested`,
    'ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE',
  );

// Evaluation.
export const maxDepthExceeded = (what: string, maxDepth: number) =>
  failedPrecondition(
    `max depth exceeded: ${what} needs more than ${maxDepth} nested dispatches; the schema or data is too deep or contains a cycle`,
    'ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED',
    { max_depth: String(maxDepth) },
  );
export const wildcardSubjectInCheck = () =>
  invalidArgument('cannot perform check on wildcard subject', 'ERROR_REASON_WILDCARD_NOT_ALLOWED');
