import { PembaError } from '../errors/index.js';

export const DEFAULT_MAX_DEPTH = 50;

/** Thrown when a query needs more nested dispatches than allowed (SpiceDB answers FAILED_PRECONDITION). */
export function maxDepthExceeded(maxDepth: number, what: string): PembaError {
  return new PembaError(
    'FAILED_PRECONDITION',
    `max depth exceeded: ${what} needs more than ${maxDepth} nested dispatches; the schema or data is too deep or contains a cycle`,
    'ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED',
    { max_depth: String(maxDepth) },
  );
}
