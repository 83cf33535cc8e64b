/**
 * Reads a validation file's YAML into a ValidationFile, keeping the file line of every relationship,
 * assertion and expectation. Problems are collected rather than thrown, so one run reports them all.
 */
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Node, Pair, Scalar, YAMLMap } from 'yaml';
import { parseObjectAndRelation, parseRelationship } from '../relationships/relationship-string.js';
import { parseAssertion } from './assertion.js';
import { parseExpectedSubject } from './expected-subject.js';
import { schemaFileSource } from './schema-file.js';
import { mapValueLines } from './source-map.js';
import type {
  Assertion,
  AssertionKind,
  ExpectedRelation,
  Problem,
  RelationshipEntry,
  SourceLocation,
  ValidationFile,
} from './types.js';

export interface ParseOptions {
  /** Reads a `schemaFile` (an absolute path), and the files it imports. */
  readFile?: (path: string) => string;
  /** Resolves symbolic links, so the imports of a `schemaFile` cannot leave its folder through one. */
  realpath?: (path: string) => string;
}

export interface ParseResult {
  file: ValidationFile;
  problems: Problem[];
}

const ASSERTION_KINDS: readonly AssertionKind[] = ['assertTrue', 'assertFalse', 'assertCaveated'];
const KEYS = ['schema', 'schemaFile', 'relationships', 'assertions', 'validation'];

export function parseValidationFile(text: string, path: string, options: ParseOptions = {}): ParseResult {
  const lineCounter = new LineCounter();
  const fileLines = text.split(/\r?\n/);
  const file: ValidationFile = { path, relationships: [], assertions: [], expectedRelations: [] };
  const problems: Problem[] = [];
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { path, line, column: col };
  };
  const nodeAt = (node: Node | null | undefined, fallback: SourceLocation): SourceLocation =>
    node?.range ? at(node.range[0]) : fallback;
  const problem = (where: SourceLocation, message: string) => problems.push({ ...where, message });
  const top: SourceLocation = { path, line: 1, column: 1 };

  const documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true });
  const docs = Array.isArray(documents) ? documents : [];
  // Only the first YAML error: after one mistake (an unclosed quote, a tab) the parser's later
  // errors are mostly that same mistake seen again further down.
  const yamlError = docs.flatMap((d) => d.errors)[0];
  if (yamlError) {
    const pos = yamlError.linePos?.[0];
    const message = yamlError.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    problem(pos ? { path, line: pos.line, column: pos.col } : top, `YAML: ${message}`);
    return { file, problems };
  }
  const nonEmpty = docs.filter((d) => d.contents !== null);
  if (nonEmpty.length > 1) {
    problem(nodeAt(nonEmpty[1].contents, top), 'a validation file must hold one YAML document, found several');
    return { file, problems };
  }
  const root = nonEmpty[0]?.contents;
  if (!root) {
    problem(top, 'the file is empty: expected `schema` or `schemaFile`, `relationships` and `assertions`');
    return { file, problems };
  }
  if (!isMap(root)) {
    problem(nodeAt(root, top), 'expected a YAML mapping with `schema`, `relationships`, `assertions` and `validation`');
    return { file, problems };
  }

  const entries = new Map<string, Pair<unknown, unknown>>();
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!KEYS.includes(key)) {
      problem(nodeAt(pair.key as Node, top), `unknown key \`${key}\`; expected one of ${KEYS.join(', ')}`);
      continue;
    }
    entries.set(key, pair);
  }
  const valueOf = (key: string) => entries.get(key)?.value as Node | null | undefined;
  const keyAt = (key: string) => nodeAt(entries.get(key)?.key as Node, top);

  /** A string-valued key, or a problem. `null` (written `key:` or `key: null`) reads as absent. */
  const stringValue = (key: string): Scalar | undefined => {
    const node = valueOf(key);
    if (node === undefined || node === null || (isScalar(node) && node.value === null)) return undefined;
    if (isScalar(node) && typeof node.value === 'string') return node;
    problem(nodeAt(node, keyAt(key)), `\`${key}\` must be a string`);
    return undefined;
  };

  // schema / schemaFile
  const schema = stringValue('schema');
  const schemaFile = stringValue('schemaFile');
  if (schema && schemaFile) problem(keyAt('schemaFile'), 'give either `schema` or `schemaFile`, not both');
  if (schema) {
    const start = lineCounter.linePos(schema.range![0]);
    const origins = mapValueLines(fileLines, start, schema.value as string);
    file.schema = {
      text: schema.value as string,
      locate: (line, column) => {
        const origin = origins[line - 1] ?? origins[origins.length - 1] ?? { line: start.line, columnOffset: 0 };
        return { path, line: origin.line, column: column + origin.columnOffset };
      },
    };
  } else if (schemaFile) {
    const schemaPath = resolve(dirname(path), schemaFile.value as string);
    const read =
      options.readFile ??
      (() => {
        throw new Error('no file reader');
      });
    let text: string | undefined;
    try {
      text = read(schemaPath);
    } catch (error) {
      problem(nodeAt(schemaFile, top), `cannot read schemaFile \`${schemaPath}\`: ${(error as Error).message}`);
    }
    if (text !== undefined) {
      // Imports are resolved from the schema file's folder, wherever the validation file is.
      const loaded = schemaFileSource(schemaPath, text, { readFile: read, realpath: options.realpath });
      if (loaded.problem) problems.push(loaded.problem);
      else file.schema = loaded.source;
    }
  } else if (!entries.has('schema') && !entries.has('schemaFile')) {
    problem(top, 'missing `schema` (or `schemaFile`)');
  }

  // relationships: one per line; blank lines and // comments are skipped
  const relationships = stringValue('relationships');
  if (relationships) {
    const start = lineCounter.linePos(relationships.range![0]);
    const value = relationships.value as string;
    const origins = mapValueLines(fileLines, start, value);
    value.split('\n').forEach((line, i) => {
      const trimmed = line.trim();
      if (!trimmed || trimmed.startsWith('//')) return;
      const origin = origins[i];
      const where = {
        path,
        line: origin.line,
        column: line.length - line.trimStart().length + 1 + origin.columnOffset,
      };
      try {
        file.relationships.push({
          text: trimmed,
          relationship: parseRelationship(trimmed),
          at: where,
        } satisfies RelationshipEntry);
      } catch (error) {
        problem(where, (error as Error).message);
      }
    });
  }

  // assertions: assertTrue / assertFalse / assertCaveated lists
  const assertions = valueOf('assertions');
  if (assertions && !(isScalar(assertions) && assertions.value === null)) {
    if (!isMap(assertions)) {
      problem(
        nodeAt(assertions, keyAt('assertions')),
        '`assertions` must map assertTrue / assertFalse / assertCaveated to lists',
      );
    } else {
      for (const pair of (assertions as YAMLMap).items) {
        const kind = isScalar(pair.key) ? String(pair.key.value) : '';
        const keyWhere = nodeAt(pair.key as Node, top);
        if (!(ASSERTION_KINDS as readonly string[]).includes(kind)) {
          problem(keyWhere, `unknown assertion kind \`${kind}\`; expected ${ASSERTION_KINDS.join(', ')}`);
          continue;
        }
        for (const item of stringList(pair.value as Node | null, keyWhere, `\`${kind}\``)) {
          try {
            file.assertions.push({
              kind: kind as AssertionKind,
              text: item.text,
              ...parseAssertion(item.text),
              at: item.at,
            } satisfies Assertion);
          } catch (error) {
            problem(item.at, (error as Error).message);
          }
        }
      }
    }
  }

  // validation: map of object#relation → list of expected subjects
  const validation = valueOf('validation');
  if (validation && !(isScalar(validation) && validation.value === null)) {
    if (!isMap(validation)) {
      problem(
        nodeAt(validation, keyAt('validation')),
        '`validation` must map `type:id#relation` to lists of expected subjects',
      );
    } else {
      for (const pair of (validation as YAMLMap).items) {
        const keyText = isScalar(pair.key) ? String(pair.key.value) : '';
        const keyWhere = nodeAt(pair.key as Node, top);
        let expected: ExpectedRelation;
        try {
          expected = { keyText, resource: parseObjectAndRelation(keyText), subjects: [], at: keyWhere };
        } catch (error) {
          problem(keyWhere, (error as Error).message);
          continue;
        }
        for (const item of stringList(pair.value as Node | null, keyWhere, `\`${keyText}\``)) {
          try {
            expected.subjects.push({ ...parseExpectedSubject(item.text), at: item.at });
          } catch (error) {
            problem(item.at, (error as Error).message);
          }
        }
        file.expectedRelations.push(expected);
      }
    }
  }
  return { file, problems };

  function stringList(
    node: Node | null,
    where: SourceLocation,
    what: string,
  ): Array<{ text: string; at: SourceLocation }> {
    if (node === null || (isScalar(node) && node.value === null)) return [];
    if (!isSeq(node)) {
      problem(nodeAt(node, where), `${what} must be a list of strings`);
      return [];
    }
    const items: Array<{ text: string; at: SourceLocation }> = [];
    for (const item of node.items) {
      const itemWhere = nodeAt(item as Node, where);
      if (isScalar(item) && typeof item.value === 'string') items.push({ text: item.value, at: itemWhere });
      else if (isMap(item)) {
        // `- doc:1#view@user:a with {"n": 1}` reads as a mapping because of the `: ` in it.
        problem(itemWhere, `${what}: each entry must be a string; quote an entry that contains \`: \``);
      } else problem(itemWhere, `${what}: each entry must be a string`);
    }
    return items;
  }
}
