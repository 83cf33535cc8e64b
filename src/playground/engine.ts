/**
 * The playground's engine glue: the page's four texts (schema, relationships, assertions, expected
 * relations) as one SpiceDB validation file, run by the very code `pemba validate` runs
 * (parseValidationFile + runValidationFile), with every problem mapped back to the text it is
 * about. Browser-safe (no DOM, no Node built-ins): the page bundles it, and tests run it in Node too.
 */
import { isScalar, parseDocument, type Node as YamlNode } from 'yaml';
import { SchemaError } from '../errors/index.js';
import { Pemba } from '../pemba.js';
import { parseRelationship } from '../relationships/relationship-string.js';
import type { Relationship } from '../relationships/relationship.js';
import type { CheckTrace, Permissionship } from '../requests/requests.js';
import { compileAST } from '../schema/compiler.js';
import type { CompiledSchema } from '../schema/ir.js';
import { parseSchema } from '../schema/parser.js';
import { warningsOf } from '../schema/warnings.js';
import { parseValidationFile } from '../validationfile/parse.js';
import { runValidationFile, type RunResult } from '../validationfile/run.js';
import type { Problem } from '../validationfile/types.js';

/** What the page edits; also what is saved, shared in the URL and loaded from a validation file. */
export interface PlaygroundState {
  schema: string;
  /** One relationship per line, the validation-file syntax (`doc:1#reader@user:ann[cav:{…}][expiration:…]`). */
  relationships: string;
  /** The YAML under `assertions:` (`assertTrue: [...]`, `assertFalse`, `assertCaveated`). */
  assertions: string;
  /** The YAML under `validation:` (expected relations). */
  validation: string;
}

export type Section = keyof PlaygroundState;
export const SECTIONS: readonly Section[] = ['schema', 'relationships', 'assertions', 'validation'];

/** A problem (or a passing item) at a 1-based line and column of one section's text. */
export interface Mark {
  section: Section;
  line: number;
  column: number;
  severity: 'error' | 'warning' | 'pass';
  message: string;
}

export interface RelationshipRow {
  line: number;
  text: string;
  relationship?: Relationship;
  error?: string;
}

export interface Evaluation {
  marks: Mark[];
  /** Assertions and expected-relation subjects that were run, and how many passed. */
  assertions: { run: number; passed: number };
  expected: { run: number; passed: number };
  /** Problems anywhere (parse, schema, relationships, assertions, expected relations). */
  failed: number;
  /** The compiled schema, when it compiles (for the graph). */
  schema?: CompiledSchema;
  /** The summary `pemba validate` would print after the file's name. */
  summary: string;
  /** Relationships as rows, for the table view. */
  rows: RelationshipRow[];
  /** The instance holding the schema and relationships, for the check panel; close it when done. */
  pemba?: Pemba;
}

/** The file the page runs and saves: each section at a known line, indented two spaces. */
export function toValidationYaml(state: PlaygroundState): string {
  return compose(state).text;
}

interface Composed {
  text: string;
  /** Section, first file line (1-based) and indentation of each section. */
  spans: { section: Section; from: number; to: number; indent: number }[];
}

function blockHeader(text: string): string {
  const first = text.split('\n').find((l) => l.trim() !== '');
  return first !== undefined && /^\s/.test(first) ? '|2-' : '|-';
}

function compose(state: PlaygroundState): Composed {
  const lines: string[] = [];
  const spans: Composed['spans'] = [];
  const add = (section: Section, key: string, header: string, text: string) => {
    const body = text.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
    if (body.trim() === '' && section !== 'schema') return;
    lines.push(`${key}:${header ? ` ${header}` : ''}`);
    const from = lines.length + 1;
    for (const l of body.split('\n')) lines.push(l === '' ? '' : `  ${l}`);
    spans.push({ section, from, to: lines.length, indent: 2 });
  };
  add('schema', 'schema', blockHeader(state.schema), state.schema);
  add('relationships', 'relationships', blockHeader(state.relationships), state.relationships);
  add('assertions', 'assertions', '', state.assertions);
  add('validation', 'validation', '', state.validation);
  return { text: `${lines.join('\n')}\n`, spans };
}

/** A problem of the composed file, at its place in one section (the file's first line: the schema's). */
function locate(
  composed: Composed,
  p: { line: number; column: number },
): { section: Section; line: number; column: number } {
  for (const s of composed.spans) {
    if (p.line >= s.from && p.line <= s.to)
      return { section: s.section, line: p.line - s.from + 1, column: Math.max(1, p.column - s.indent) };
  }
  // A key line (`assertions:`) or beyond: the section that follows, else the schema.
  const next = composed.spans.find((s) => s.from > p.line);
  return next ? { section: next.section, line: 1, column: 1 } : { section: 'schema', line: 1, column: 1 };
}

/** The schema's own errors and warnings, positioned in its text: what the editor shows while typing. */
export function lintSchema(text: string): Mark[] {
  try {
    const ast = parseSchema(text);
    const compiled = compileAST(ast);
    return warningsOf(ast, compiled).map((w) => ({
      section: 'schema',
      line: w.line,
      column: w.column,
      severity: 'warning',
      message: w.message,
    }));
  } catch (error) {
    if (error instanceof SchemaError) {
      const message = error.message.replace(/ \(line \d+, column \d+\)$/, '');
      return [{ section: 'schema', line: error.line, column: error.column, severity: 'error', message }];
    }
    return [{ section: 'schema', line: 1, column: 1, severity: 'error', message: (error as Error).message }];
  }
}

/** The relationships text as rows: each line's relationship, or why it does not parse. */
export function relationshipRows(text: string): RelationshipRow[] {
  const rows: RelationshipRow[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (!t || t.startsWith('//')) return;
    try {
      rows.push({ line: i + 1, text: t, relationship: parseRelationship(t) });
    } catch (error) {
      rows.push({ line: i + 1, text: t, error: (error as Error).message });
    }
  });
  return rows;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Runs the state as `pemba validate` runs a file: parse problems stop it before anything runs; then
 * the schema, relationships, assertions and expected relations, each problem a failure. Every
 * assertion and expected subject without a problem is a pass.
 */
export async function evaluate(state: PlaygroundState): Promise<Evaluation> {
  const composed = compose(state);
  const marks: Mark[] = [];
  const mark = (p: Problem, severity: Mark['severity']) => {
    marks.push({ ...locate(composed, p), severity, message: p.message });
  };
  const rows = relationshipRows(state.relationships);
  const { file, problems } = parseValidationFile(composed.text, 'playground.yaml');
  const evaluation: Evaluation = {
    marks,
    assertions: { run: 0, passed: 0 },
    expected: { run: 0, passed: 0 },
    failed: 0,
    summary: '',
    rows,
  };
  if (problems.length > 0) {
    for (const p of problems) mark(p, 'error');
    evaluation.failed = problems.length;
    evaluation.summary = `FAILED with ${plural(problems.length, 'problem')}`;
    return evaluation;
  }
  const pemba = await Pemba.open();
  let run: RunResult;
  try {
    run = await runValidationFile(file, { pemba });
  } catch (error) {
    await pemba.close();
    mark({ path: '', line: 1, column: 1, message: `cannot validate: ${(error as Error).message}` }, 'error');
    evaluation.failed = 1;
    evaluation.summary = 'FAILED with 1 problem';
    return evaluation;
  }
  evaluation.pemba = pemba;
  for (const w of run.warnings) mark(w, 'warning');
  for (const p of run.problems) mark(p, 'error');
  const failedAt = new Set(run.problems.map((p) => `${p.line}:${p.column}`));
  const failedLines = new Set(run.problems.map((p) => p.line));
  if (run.schema) {
    try {
      evaluation.schema = compileAST(parseSchema(file.schema!.text));
    } catch {
      // Reported by the run.
    }
  }
  if (run.assertionsRun > 0) {
    for (const a of file.assertions) {
      evaluation.assertions.run++;
      if (failedAt.has(`${a.at.line}:${a.at.column}`)) continue;
      evaluation.assertions.passed++;
      mark({ ...a.at, message: `${a.kind} holds: ${a.text}` }, 'pass');
    }
  }
  if (run.expectedRelationsValidated > 0) {
    for (const e of file.expectedRelations) {
      for (const s of e.subjects) {
        evaluation.expected.run++;
        if (failedLines.has(s.at.line)) continue;
        evaluation.expected.passed++;
        mark({ ...s.at, message: `as expected: ${s.text}` }, 'pass');
      }
    }
  }
  evaluation.failed = run.problems.length;
  const detail =
    `${plural(run.relationshipsLoaded, 'relationship')} loaded, ${plural(run.assertionsRun, 'assertion')} run, ` +
    `${plural(run.expectedRelationsValidated, 'expected relation')} validated`;
  const warned = run.warnings.length > 0 ? plural(run.warnings.length, 'warning') : '';
  evaluation.summary =
    run.problems.length > 0
      ? `FAILED with ${[plural(run.problems.length, 'problem'), warned].filter(Boolean).join(' and ')} (${detail})`
      : `ok${warned ? ` with ${warned}` : ''} (${detail})`;
  return evaluation;
}

/** A validation file's text as the page's state; `problems` names what the page cannot take. */
export function fromValidationYaml(text: string): { state: PlaygroundState; problems: string[] } {
  const doc = parseDocument(text);
  const problems = doc.errors.map((e) => e.message.split('\n')[0]);
  const state: PlaygroundState = { schema: '', relationships: '', assertions: '', validation: '' };
  const str = (key: string) => {
    const v = doc.get(key);
    return typeof v === 'string' ? v : '';
  };
  state.schema = str('schema');
  state.relationships = str('relationships');
  if (doc.has('schemaFile') && !doc.has('schema'))
    problems.push('`schemaFile` cannot be read in the browser: paste the schema into the file as `schema`');
  state.assertions = nodeText(text, doc.get('assertions', true) as YamlNode | undefined);
  state.validation = nodeText(text, doc.get('validation', true) as YamlNode | undefined);
  return { state, problems };
}

/** A YAML node's source text, whole lines, dedented (its comments kept). */
function nodeText(text: string, node: YamlNode | undefined): string {
  if (!node?.range || (isScalar(node) && node.value === null)) return '';
  const start = text.lastIndexOf('\n', node.range[0] - 1) + 1;
  const lines = text.slice(start, node.range[1]).replace(/\s+$/, '').split(/\r?\n/);
  const indents = lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut)).join('\n');
}

/** A check from the panel: `doc:1`, `view`, `user:ann` or `group:eng#member`, optional context JSON. */
export interface CheckInput {
  resource: string;
  permission: string;
  subject: string;
  context?: string;
}

export interface CheckOutcome {
  permissionship: Permissionship;
  missingContext?: string[];
  trace?: CheckTrace;
}

function parseInput(input: CheckInput) {
  const rel = parseRelationship(`${input.resource.trim()}#${input.permission.trim()}@${input.subject.trim()}`);
  let context: Record<string, unknown> | undefined;
  if (input.context?.trim()) {
    const parsed = JSON.parse(input.context) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('the context must be a JSON object');
    context = parsed as Record<string, unknown>;
  }
  return { resource: rel.resource, permission: rel.relation, subject: rel.subject, context };
}

const FULL = { mode: 'fully_consistent' } as const;

export async function check(pemba: Pemba, input: CheckInput): Promise<CheckOutcome> {
  const q = parseInput(input);
  const r = await pemba.check({ ...q, consistency: FULL, trace: true });
  return { permissionship: r.permissionship, missingContext: r.missingContext, trace: r.trace };
}

export interface Found {
  id: string;
  permissionship: Permissionship;
  missingContext?: string[];
}

/** The resources of the resource's type the subject has the permission on. */
export async function lookupResources(pemba: Pemba, input: CheckInput): Promise<Found[]> {
  const q = parseInput(input);
  const found: Found[] = [];
  for await (const r of pemba.lookupResources({
    resourceType: q.resource.type,
    permission: q.permission,
    subject: q.subject,
    context: q.context,
    consistency: FULL,
  }))
    found.push({ id: r.resourceId, permissionship: r.permissionship, missingContext: r.missingContext });
  return found.sort((a, b) => a.id.localeCompare(b.id));
}

/** The subjects of the subject's type (and relation) that have the permission on the resource. */
export async function lookupSubjects(pemba: Pemba, input: CheckInput): Promise<Found[]> {
  const q = parseInput(input);
  const found: Found[] = [];
  for await (const r of pemba.lookupSubjects({
    resource: q.resource,
    permission: q.permission,
    subjectType: q.subject.type,
    subjectRelation: q.subject.relation,
    context: q.context,
    consistency: FULL,
  })) {
    const s = r.subject;
    found.push({ id: s.id, permissionship: s.permissionship, missingContext: s.missingContext });
  }
  return found.sort((a, b) => a.id.localeCompare(b.id));
}
