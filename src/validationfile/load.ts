/** Reads a validation file (and its `schemaFile`) from disk. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseValidationFile } from './parse.js';
import type { ParseResult } from './parse.js';

export function loadValidationFile(path: string): ParseResult {
  const absolute = resolve(path);
  const text = readFileSync(absolute, 'utf8');
  const result = parseValidationFile(text, path, { readFile: (p) => readFileSync(p, 'utf8') });
  return result;
}
