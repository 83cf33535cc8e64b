/**
 * Reads a validation file (and its `schemaFile`), or a bare schema file, from disk, with the schema
 * files they import (`use import`).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseValidationFile } from './parse.js';
import type { ParseResult } from './parse.js';
import { schemaFileSource } from './schema-file.js';

const readFile = (p: string) => readFileSync(p, 'utf8');

export function loadValidationFile(path: string): ParseResult {
  const absolute = resolve(path);
  const text = readFileSync(absolute, 'utf8');
  return parseValidationFile(text, path, { readFile, realpath: realpathSync });
}

/** A bare schema (`.zed`), as `zed validate schema.zed` takes, rather than a YAML validation file. */
export function isSchemaFile(path: string): boolean {
  return extname(path).toLowerCase() === '.zed';
}

/**
 * A bare schema file as a validation file holding only its schema (positions are the file's own, or
 * those of the files it imports).
 */
export function loadSchemaFile(path: string): ParseResult {
  const text = readFileSync(resolve(path), 'utf8');
  const loaded = schemaFileSource(path, text, { readFile, realpath: realpathSync });
  return {
    file: { path, schema: loaded.source, relationships: [], assertions: [], expectedRelations: [] },
    problems: loaded.problem ? [loaded.problem] : [],
  };
}
