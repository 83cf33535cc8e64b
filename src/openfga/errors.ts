/**
 * OpenFGA's errors: a code name (`validation_error`), its numeric code (2000) and the HTTP status its
 * HTTP API answers with. Over HTTP the body is `{"code": name, "message": message}`.
 */

/**
 * OpenFGA's error codes, as openfga/api's errors_ignore.proto numbers them (ErrorCode, AuthErrorCode,
 * UnprocessableContentErrorCode, NotFoundErrorCode, InternalErrorCode), with the HTTP status the
 * grpc-gateway answers each with.
 */
export const OPENFGA_ERROR_CODES = {
  validation_error: [2000, 400],
  authorization_model_not_found: [2001, 400],
  authorization_model_resolution_too_complex: [2002, 400],
  invalid_write_input: [2003, 400],
  cannot_allow_duplicate_tuples_in_one_request: [2004, 400],
  cannot_allow_duplicate_types_in_one_request: [2005, 400],
  cannot_allow_multiple_references_to_one_relation: [2006, 400],
  invalid_continuation_token: [2007, 400],
  invalid_tuple_set: [2008, 400],
  invalid_check_input: [2009, 400],
  invalid_expand_input: [2010, 400],
  unsupported_user_set: [2011, 400],
  invalid_object_format: [2012, 400],
  write_failed_due_to_invalid_input: [2017, 400],
  authorization_model_assertions_not_found: [2018, 400],
  latest_authorization_model_not_found: [2020, 400],
  type_not_found: [2021, 400],
  relation_not_found: [2022, 400],
  empty_relation_definition: [2023, 400],
  invalid_user: [2025, 400],
  invalid_tuple: [2027, 400],
  unknown_relation: [2028, 400],
  store_id_invalid_length: [2030, 400],
  assertions_too_many_items: [2033, 400],
  id_too_long: [2034, 400],
  authorization_model_id_too_long: [2036, 400],
  tuple_key_value_not_specified: [2037, 400],
  tuple_keys_too_many_or_too_few_items: [2038, 400],
  page_size_invalid: [2039, 400],
  param_missing_value: [2040, 400],
  difference_base_missing_value: [2041, 400],
  subtract_base_missing_value: [2042, 400],
  object_too_long: [2043, 400],
  relation_too_long: [2044, 400],
  type_definitions_too_few_items: [2045, 400],
  type_invalid_length: [2046, 400],
  type_invalid_pattern: [2047, 400],
  relations_too_few_items: [2048, 400],
  relations_too_long: [2049, 400],
  relations_invalid_pattern: [2050, 400],
  object_invalid_pattern: [2051, 400],
  query_string_type_continuation_token_mismatch: [2052, 400],
  exceeded_entity_limit: [2053, 400],
  invalid_contextual_tuple: [2054, 400],
  duplicate_contextual_tuple: [2055, 400],
  invalid_authorization_model: [2056, 400],
  unsupported_schema_version: [2057, 400],
  /** The request was cancelled (newer OpenFGA versions; older ones answered `cancelled` 4003). */
  cancelled: [2058, 400],
  // Authentication (AuthErrorCode)
  unauthenticated: [1500, 401],
  bearer_token_missing: [1010, 401],
  auth_failed_invalid_bearer_token: [1005, 401],
  forbidden: [1600, 403],
  // Throttling (UnprocessableContentErrorCode)
  throttled_timeout_error: [3500, 422],
  // Not found (NotFoundErrorCode)
  undefined_endpoint: [5000, 404],
  store_id_not_found: [5002, 404],
  unimplemented: [5004, 501],
  // Internal (InternalErrorCode)
  internal_error: [4000, 500],
  /** OpenFGA before `cancelled` 2058; answered as `cancelled` (HTTP 499, the client is gone anyway). */
  cancelled_internal: [4003, 499],
  deadline_exceeded: [4004, 504],
  already_exists: [4005, 409],
  resource_exhausted: [4006, 429],
  failed_precondition: [4007, 400],
  aborted: [4008, 409],
  out_of_range: [4009, 400],
  unavailable: [4010, 503],
  data_loss: [4011, 500],
} as const satisfies Record<string, readonly [number, number]>;

export type OpenFgaErrorCode = keyof typeof OPENFGA_ERROR_CODES;

export class OpenFgaError extends Error {
  override readonly name = 'OpenFgaError';

  constructor(
    readonly code: OpenFgaErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The numeric code (2000 for `validation_error`), as OpenFGA's test cases name errors. */
  get numericCode(): number {
    return OPENFGA_ERROR_CODES[this.code][0];
  }

  get httpStatus(): number {
    return OPENFGA_ERROR_CODES[this.code][1];
  }

  /** The HTTP body OpenFGA answers with. */
  toJSON(): { code: string; message: string } {
    return { code: this.code === 'cancelled_internal' ? 'cancelled' : this.code, message: this.message };
  }
}
