/**
 * A schema read from a file (`schemaFile:` or a bare `.zed`). A file that imports others (`use
 * import`) is composed with them as `zed validate` composes it, imports resolved from the schema
 * file's own folder; every position then names the file it is in.
 */
import { SchemaError } from '../errors/index.js';
import { type ComposeIO, SchemaCompositionError, composeSchema } from '../schema/compose.js';
import { parseSchema } from '../schema/parser.js';
import type { Problem, SchemaSource } from './types.js';

/**
 * The schema of the file at `path` whose text is `text`. A file without imports is used as it is
 * (errors are found when it is compiled); a file with imports is composed now, so a missing or
 * cyclic import, or a syntax error in an imported file, comes back as a problem.
 */
export function schemaFileSource(
  path: string,
  text: string,
  io: ComposeIO,
): { source: SchemaSource; problem?: undefined } | { source?: undefined; problem: Problem } {
  const plain: SchemaSource = { text, locate: (line, column) => ({ path, line, column }) };
  let imports: number;
  try {
    imports = parseSchema(text, { imports: true }).imports?.length ?? 0;
  } catch (error) {
    // Reported, with its position, when the schema is compiled.
    if (error instanceof SchemaError) return { source: plain };
    throw error;
  }
  if (imports === 0) return { source: plain };
  try {
    const composed = composeSchema(path, io, text);
    return { source: { text, locate: composed.locate, composed } };
  } catch (error) {
    if (!(error instanceof SchemaCompositionError)) throw error;
    return { problem: { ...error.location, message: `schema error: ${error.detail}` } };
  }
}
