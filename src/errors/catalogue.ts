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
// A write to a read-only port (serve-testing) or datastore (--datastore-readonly), as SpiceDB answers it.
export const serviceReadOnly = () => unavailable('service read-only', 'ERROR_REASON_SERVICE_READ_ONLY');
// ReadSchema before any WriteSchema (every other call reads an empty schema then).
export const noSchema = () => notFound('no schema has been defined; please call WriteSchema to start');

// Request sizes.
export const tooManyChecks = (count: number, max: number) =>
  invalidArgument(
    `check bulk item count of ${count} is greater than maximum allowed of ${max}`,
    'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST',
  );
export const tooManyUpdates = (count: number, max: number) =>
  invalidArgument(
    `too many updates (${count}) for WriteRelationships call (maximum: ${max}); consider using ImportBulkRelationships API instead`,
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
export const transactionMetadataTooLarge = (size: number, max: number) =>
  invalidArgument(
    `metadata size of ${size} is greater than maximum allowed of ${max}`,
    'ERROR_REASON_TRANSACTION_METADATA_TOO_LARGE',
    { metadata_byte_size: String(size), maximum_allowed_metadata_byte_size: String(max) },
  );
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

// Schema.
export const schemaTooLarge = (bytes: number, max: number) =>
  invalidArgument(`schema is ${bytes} bytes, more than the maximum of ${max}`, 'ERROR_REASON_SCHEMA_PARSE_ERROR');
export const schemaTooDeep = (detail: string) =>
  invalidArgument(`schema is too large or too deeply nested to compile: ${detail}`, 'ERROR_REASON_SCHEMA_PARSE_ERROR');
// A schema change that would strand stored relationships (SpiceDB answers INVALID_ARGUMENT, naming the
// first relationship in the way). `relationship` is that relationship, written as SpiceDB writes it.
const strandedMetadata = (operation: string, relationship: string, fields: Metadata) => ({
  ...fields,
  operation,
  relationship,
});
export const definitionInUse = (type: string, relationship: string, asSubject = false) =>
  invalidArgument(
    `cannot delete object definition \`${type}\`, as at least one relationship ${asSubject ? 'references it as part of a subject' : 'exists under it'}: ${relationship}`,
    'ERROR_REASON_SCHEMA_TYPE_ERROR',
    strandedMetadata('delete_object_definition', relationship, { resource_type: type }),
  );
export const relationInUse = (type: string, relation: string, relationship: string, asSubject = false) =>
  invalidArgument(
    `cannot delete relation \`${relation}\` in object definition \`${type}\`, as at least one relationship ${asSubject ? 'references it as part of a subject' : 'exists under it'}: ${relationship}`,
    'ERROR_REASON_SCHEMA_TYPE_ERROR',
    strandedMetadata(asSubject ? 'delete_relation_reverse_check' : 'delete_relation', relationship, {
      resource_type: type,
      relation,
    }),
  );
/** `allowedType` as the schema writes it: `user`, `user:*`, `group#member`, `user with cav and expiration`. */
export const allowedTypeInUse = (type: string, relation: string, allowedType: string, relationship: string) =>
  invalidArgument(
    `cannot remove allowed type \`${allowedType}\` from relation \`${relation}\` in object definition \`${type}\`, as a relationship exists with it: ${relationship}`,
    'ERROR_REASON_SCHEMA_TYPE_ERROR',
    strandedMetadata('remove_allowed_type', relationship, {
      resource_type: type,
      relation,
      allowed_type: allowedType,
    }),
  );
// A caveat change that would make the context stored with relationships mistyped (refused with or without data).
export const caveatParameterRemoved = (caveat: string, parameter: string) =>
  invalidArgument(
    `cannot remove parameter \`${parameter}\` on caveat \`${caveat}\``,
    'ERROR_REASON_SCHEMA_TYPE_ERROR',
    {
      caveat_name: caveat,
      parameter_name: parameter,
      operation: 'remove_parameter',
    },
  );
export const caveatParameterRetyped = (caveat: string, parameter: string) =>
  invalidArgument(
    `cannot change the type of parameter \`${parameter}\` on caveat \`${caveat}\``,
    'ERROR_REASON_SCHEMA_TYPE_ERROR',
    { caveat_name: caveat, parameter_name: parameter, operation: 'change_parameter_type' },
  );
// A relationship the schema does not allow; `relation` is `type#relation`, subject types as printed in schema.
export const writeToPermission = (type: string, permission: string) =>
  invalidArgument(
    `cannot write a relationship to permission \`${permission}\` under definition \`${type}\``,
    'ERROR_REASON_CANNOT_UPDATE_PERMISSION',
  );
export const caveatRequired = (subjectType: string, relation: string, caveats: string[]) =>
  invalidArgument(
    `subjects of type \`${subjectType}\` are not allowed on relation \`${relation}\` without one of the following caveats: ${caveats.join(', ')}`,
    'ERROR_REASON_INVALID_SUBJECT_TYPE',
  );
export const subjectTypeNotAllowed = (
  subjectType: string,
  relation: string,
  allowed: string[],
  suggestions: string[],
  wildcard: boolean,
) => {
  const quoted = (types: string[], separator: string) => types.map((t) => `\`${t}\``).join(separator);
  const hint = suggestions.length ? `; did you mean ${quoted(suggestions, ' or ')}?` : '';
  return invalidArgument(
    `subjects of type \`${subjectType}\` are not allowed on relation \`${relation}\`${hint} (allowed subject types: ${quoted(allowed, ', ')})`,
    wildcard ? 'ERROR_REASON_WILDCARD_NOT_ALLOWED' : 'ERROR_REASON_INVALID_SUBJECT_TYPE',
  );
};
export const wildcardResource = () =>
  invalidArgument(
    'resource object id `*` is not allowed: wildcards are only valid as subjects',
    'ERROR_REASON_WILDCARD_NOT_ALLOWED',
  );
export const wildcardSubjectWithRelation = (type: string, relation: string) =>
  invalidArgument(
    `wildcard subject \`${type}:*\` cannot have a relation (found \`#${relation}\`)`,
    'ERROR_REASON_WILDCARD_NOT_ALLOWED',
  );

// Requests.
export const invalidFilter = (message: string) => invalidArgument(message, 'ERROR_REASON_INVALID_FILTER');
export const invalidCursor = (message: string) => invalidArgument(message, 'ERROR_REASON_INVALID_CURSOR');

// Datastores: every backend raises these alike.
export const datastoreUnavailable = (what: string, cause: string) =>
  unavailable(`the ${what} is unavailable: ${cause}`);
export const closedDatastore = () => unavailable('the datastore is closed');
export const transactionFinished = () =>
  internal('the transaction has already finished: use it only inside its readWrite callback');
export const negativeRevision = (revision: bigint) =>
  invalidArgument(`invalid revision ${revision}: revisions are never negative`);
export const futureRevision = (revision: bigint, head: bigint) =>
  failedPrecondition(`revision ${revision} is in the future: the newest revision is ${head}`);
export const expiredRevision = (revision: bigint, oldest: bigint) =>
  failedPrecondition(
    `revision ${revision} has expired: it was garbage collected (the oldest readable revision is ${oldest}); retry with a newer consistency token`,
  );

/** An error another node's evaluation of a dispatched sub-problem raised, raised again here as it was. */
export const dispatchedError = (code: ErrorCode, message: string, reason?: ErrorReason, metadata?: Metadata) =>
  make(code)(message, reason, metadata);
