/**
 * Relationship files for `pemba import` and `pemba export`, in two formats:
 *
 * - text: one relationship string per line, as in validation files and zed
 *   (`document:readme#reader@group:eng#member[caveat:{"k":1}][expiration:2030-01-01T00:00:00Z]`);
 *   blank lines and `//` comments are skipped. A validation YAML file (.yaml/.yml) is read for its
 *   `relationships` block, with the line numbers of the YAML file.
 * - jsonl: one JSON object per line (JSON_LINES_FORMAT below).
 *
 * Reading streams line by line, so a file of millions of relationships is never held in memory
 * (YAML is the exception: it is parsed whole).
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { Relationship } from '../relationships/relationship.js';
import { formatRelationship, parseRelationship } from '../relationships/relationship-string.js';
import { ELLIPSIS } from '../schema/ir.js';
import { mapValueLines } from '../validationfile/source-map.js';

export const RELATIONSHIP_FORMATS = ['text', 'jsonl'] as const;
export type RelationshipFormat = (typeof RELATIONSHIP_FORMATS)[number];

export const JSON_LINES_FORMAT = `JSON lines: one object per line (blank lines are skipped), for example
  {"resource":{"type":"document","id":"readme"},"relation":"reader","subject":{"type":"group","id":"eng","relation":"member"}}
  {"resource":{"type":"document","id":"readme"},"relation":"reader","subject":{"type":"user","id":"ann"},
   "caveat":{"name":"on_weekdays","context":{"days":[1,2,3,4,5]}},"expiresAt":"2030-01-01T00:00:00Z"}
  (the second is one line). "subject.relation" is left out for a subject that is the object itself;
  "caveat" (with an optional "context" object) and "expiresAt" (RFC 3339) are optional.`;

/** A problem in a relationship file, at a 1-based line. */
export class RelationshipFileError extends Error {
  override name = 'RelationshipFileError';
  constructor(
    readonly path: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${path}:${line}: ${problem}`);
  }
}

export interface NumberedRelationship {
  line: number;
  relationship: Relationship;
}

/** The format named by --format, or else by the file's extension (.jsonl/.ndjson/.json: jsonl; otherwise text). */
export function formatOf(path: string | undefined, explicit?: string): RelationshipFormat {
  if (explicit !== undefined) {
    if ((RELATIONSHIP_FORMATS as readonly string[]).includes(explicit)) return explicit as RelationshipFormat;
    throw new Error(`--format must be one of ${RELATIONSHIP_FORMATS.join(', ')}, not "${explicit}"`);
  }
  return path && /\.(jsonl|ndjson|json)$/i.test(path) ? 'jsonl' : 'text';
}

const isYaml = (path: string) => /\.ya?ml$/i.test(path);

export interface ReadProgress {
  /** Bytes of the file read so far (for a progress bar against the file's size). */
  bytesRead(): number;
}

/** The relationships of a file, in order, with their line numbers; throws RelationshipFileError at the first bad line. */
export function readRelationships(
  path: string,
  format: RelationshipFormat,
): AsyncIterable<NumberedRelationship> & ReadProgress {
  if (format === 'text' && isYaml(path)) return readValidationYaml(path);
  const stream = createReadStream(path);
  const parse = format === 'jsonl' ? parseJsonRelationship : parseTextLine;
  return {
    bytesRead: () => stream.bytesRead,
    async *[Symbol.asyncIterator]() {
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      let line = 0;
      try {
        for await (const text of lines) {
          line++;
          const trimmed = text.trim();
          if (!trimmed || (format === 'text' && trimmed.startsWith('//'))) continue;
          let relationship: Relationship;
          try {
            relationship = parse(trimmed);
          } catch (error) {
            throw new RelationshipFileError(path, line, (error as Error).message);
          }
          yield { line, relationship };
        }
      } finally {
        lines.close();
        stream.destroy();
      }
    },
  };
}

// Whole-line comments only, as in validation files: ids and caveat contexts may contain `//`.
const parseTextLine = (text: string): Relationship => parseRelationship(text);

/** A validation file's `relationships` block, numbered by the YAML file's lines. */
function readValidationYaml(path: string): AsyncIterable<NumberedRelationship> & ReadProgress {
  const text = readFileSync(path, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const error = doc.errors[0];
  if (error)
    throw new RelationshipFileError(path, error.linePos?.[0].line ?? 1, `YAML: ${error.message.split('\n')[0]}`);
  const root = doc.contents;
  const node = isMap(root) ? root.get('relationships', true) : undefined;
  const value: unknown = isScalar(node) ? node.value : undefined;
  if (!isScalar(node) || typeof value !== 'string') {
    throw new RelationshipFileError(
      path,
      1,
      'a YAML file must be a validation file with a `relationships` block (a string, one relationship per line)',
    );
  }
  const origins = mapValueLines(text.split(/\r?\n/), lineCounter.linePos(node.range![0]), value);
  return {
    bytesRead: () => Buffer.byteLength(text),
    async *[Symbol.asyncIterator]() {
      const lines = value.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const trimmed = lines[i].trim();
        if (!trimmed || trimmed.startsWith('//')) continue;
        try {
          yield { line: origins[i].line, relationship: parseTextLine(trimmed) };
        } catch (error) {
          throw new RelationshipFileError(path, origins[i].line, (error as Error).message);
        }
      }
    },
  };
}

/** One relationship in the JSON lines format. */
export interface RelationshipJson {
  resource: { type: string; id: string };
  relation: string;
  subject: { type: string; id: string; relation?: string };
  caveat?: { name: string; context?: Record<string, unknown> };
  expiresAt?: string;
}

export function toRelationshipJson(r: Relationship): RelationshipJson {
  const json: RelationshipJson = {
    resource: { type: r.resource.type, id: r.resource.id },
    relation: r.relation,
    subject:
      r.subject.relation === ELLIPSIS
        ? { type: r.subject.type, id: r.subject.id }
        : { type: r.subject.type, id: r.subject.id, relation: r.subject.relation },
  };
  if (r.caveat)
    json.caveat =
      r.caveat.context && Object.keys(r.caveat.context).length > 0
        ? { name: r.caveat.name, context: r.caveat.context }
        : { name: r.caveat.name };
  if (r.expiresAt) json.expiresAt = r.expiresAt.toISOString().replace(/\.000Z$/, 'Z');
  return json;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses one JSON line; checks its shape only (names and ids are checked against the schema later). */
export function parseJsonRelationship(text: string): Relationship {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON: ${(error as Error).message}`);
  }
  const o = object(value, 'the line', ['resource', 'relation', 'subject', 'caveat', 'expiresAt']);
  const resource = object(o.resource, '"resource"', ['type', 'id']);
  const subject = object(o.subject, '"subject"', ['type', 'id', 'relation']);
  const rel: Relationship = {
    resource: { type: string(resource.type, '"resource.type"'), id: string(resource.id, '"resource.id"') },
    relation: string(o.relation, '"relation"'),
    subject: {
      type: string(subject.type, '"subject.type"'),
      id: string(subject.id, '"subject.id"'),
      relation: subject.relation === undefined ? ELLIPSIS : string(subject.relation, '"subject.relation"'),
    },
  };
  if (o.caveat !== undefined) {
    const caveat = object(o.caveat, '"caveat"', ['name', 'context']);
    rel.caveat = { name: string(caveat.name, '"caveat.name"') };
    if (caveat.context !== undefined) rel.caveat.context = object(caveat.context, '"caveat.context"');
  }
  if (o.expiresAt !== undefined) {
    const stamp = string(o.expiresAt, '"expiresAt"');
    const date = new Date(stamp);
    if (!RFC3339.test(stamp) || Number.isNaN(date.getTime())) {
      throw new Error(`"expiresAt" must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z, not "${stamp}"`);
    }
    rel.expiresAt = date;
  }
  return rel;
}

function object(value: unknown, what: string, keys?: string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${what} must be a JSON object`);
  if (keys) {
    const unknown = Object.keys(value).find((k) => !keys.includes(k));
    if (unknown !== undefined)
      throw new Error(`unknown field "${unknown}" in ${what}; expected ${keys.map((k) => `"${k}"`).join(', ')}`);
  }
  return value as Record<string, unknown>;
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${what} must be a non-empty string`);
  return value;
}

/** One line of output (without the newline). */
export function formatRelationshipLine(r: Relationship, format: RelationshipFormat): string {
  return format === 'jsonl' ? JSON.stringify(toRelationshipJson(r)) : formatRelationship(r);
}
