/**
 * Validation files (zed's YAML: `schema` or `schemaFile`, and `relationships`) loaded into a Pemba
 * instance: `pemba serve`'s --datastore-bootstrap-files and `pemba serve-testing`'s --load-configs.
 * Assertions and expected relations are not run.
 */
import { SchemaError } from '../errors/index.js';
import type { Pemba } from '../pemba.js';
import { formatRelationship } from '../relationships/relationship-string.js';
import { loadValidationFile } from '../validationfile/load.js';
import type { RelationshipEntry, SchemaSource } from '../validationfile/types.js';

/** The files' schema and relationships, read once. */
export interface ValidationData {
  files: string[];
  schema?: string;
  /** Where a line of `schema` came from, when one file holds the whole schema. */
  locate?: SchemaSource['locate'];
  relationships: RelationshipEntry[];
}

/**
 * Reads and parses the files. Their schemas are joined (each file may hold part of the schema, as
 * SpiceDB allows) and their relationships deduplicated. A file that cannot be read or does not parse
 * is an Error that starts with `flag` and names each problem by file:line.
 */
export function readValidationFiles(paths: readonly string[], flag: string): ValidationData {
  const schemas: SchemaSource[] = [];
  const unique = new Map<string, RelationshipEntry>();
  for (const path of paths) {
    let parsed;
    try {
      parsed = loadValidationFile(path);
    } catch (error) {
      throw new Error(`${flag}: cannot read ${path}: ${(error as Error).message}`);
    }
    if (parsed.problems.length > 0) {
      const problems = parsed.problems.map((p) => `  ${p.path}:${p.line}: ${p.message}`).join('\n');
      throw new Error(`${flag}: ${path} is not a valid validation file:\n${problems}`);
    }
    if (parsed.file.schema?.text.trim()) schemas.push(parsed.file.schema);
    for (const r of parsed.file.relationships) unique.set(formatRelationship(r.relationship), r);
  }
  return {
    files: [...paths],
    schema: schemas.length > 0 ? schemas.map((s) => s.text).join('\n\n') : undefined,
    locate: schemas.length === 1 ? schemas[0].locate : undefined,
    relationships: [...unique.values()],
  };
}

export interface WriteValidationOptions {
  /** Starts the errors that name a refused schema or relationship. */
  flag: string;
  /** Relationships per WriteRelationships. */
  batchSize: number;
  /** Ends the load: an error after it aborts is passed on as it is. */
  signal?: AbortSignal;
  /** Called before each batch (it may throw to stop the load). */
  beforeBatch?: () => void;
}

/**
 * Writes the schema, then the relationships (TOUCH, so loading twice changes nothing). A refused
 * schema, or the first relationship of a refused batch that is refused on its own, is an Error
 * naming where in the files it is.
 */
export async function writeValidationData(
  pemba: Pemba,
  data: ValidationData,
  { flag, batchSize, signal, beforeBatch }: WriteValidationOptions,
): Promise<void> {
  if (data.schema !== undefined) {
    try {
      await pemba.writeSchema(data.schema, { signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      if (error instanceof SchemaError && data.locate) {
        const at = data.locate(error.line, error.column);
        throw new Error(`${flag}: ${at.path}:${at.line}: ${error.message}`);
      }
      throw new Error(`${flag}: the schema of ${data.files.join(', ')}: ${(error as Error).message}`);
    }
  }
  const entries = data.relationships;
  const touch = (list: RelationshipEntry[]) =>
    pemba.writeRelationships({
      updates: list.map((e) => ({ operation: 'TOUCH', relationship: e.relationship })),
      signal,
    });
  for (let i = 0; i < entries.length; i += batchSize) {
    beforeBatch?.();
    const batch = entries.slice(i, i + batchSize);
    try {
      await touch(batch);
    } catch (error) {
      if (signal?.aborted) throw error;
      // Name the culprit: the first relationship of the batch refused on its own.
      for (const e of batch) {
        try {
          await touch([e]);
        } catch (single) {
          throw new Error(`${flag}: ${e.at.path}:${e.at.line}: \`${e.text}\`: ${(single as Error).message}`);
        }
      }
      throw error;
    }
  }
}
