/**
 * The playground page: four editors (schema, relationships, assertions, expected relations) run as
 * one validation file on every change, with pass/fail marks; a check panel with the evaluation tree
 * and lookups; the schema as a graph; load/save YAML; the state in the URL.
 */
import { forEachDiagnostic } from '@codemirror/lint';
import type { EditorView } from '@codemirror/view';
import type { Pemba } from '../../pemba.js';
import { parseValidationFile } from '../../validationfile/parse.js';
import { runValidationFile } from '../../validationfile/run.js';
import {
  check,
  evaluate,
  fromValidationYaml,
  lintSchema,
  lookupResources,
  lookupSubjects,
  SECTIONS,
  toValidationYaml,
  type CheckInput,
  type Evaluation,
  type Found,
  type Mark,
  type PlaygroundState,
  type Section,
} from '../engine.js';
import { EXAMPLES } from '../examples.js';
import { schemaGraphSvg } from '../graph.js';
import { decodeShared, encodeState } from '../share.js';
import { createEditor, setText, showMarks } from './editors.js';
import { grantingPaths, renderPaths, renderTrace, traceRelations } from './trace.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const editors = {} as Record<Section, EditorView>;
let current: Evaluation | undefined;
let generation = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
let checked = false;
let visited = new Map<string, boolean>();
/** Resolves after the first evaluation (tests and the load-time measure wait for it). */
let markReady: () => void = () => {};
const ready = new Promise<void>((r) => (markReady = r));
let evaluations = 0;
/** When the first evaluation was shown, in ms since the navigation began. */
let readyAt: number | undefined;

function state(): PlaygroundState {
  return {
    schema: editors.schema.state.doc.toString(),
    relationships: editors.relationships.state.doc.toString(),
    assertions: editors.assertions.state.doc.toString(),
    validation: editors.validation.state.doc.toString(),
  };
}

function setState(s: PlaygroundState): void {
  for (const section of SECTIONS) setText(editors[section], s[section]);
}

function status(text: string, error = false): void {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

function scheduleEvaluation(): void {
  clearTimeout(timer);
  timer = setTimeout(() => void runEvaluation(), 120);
}

async function runEvaluation(): Promise<void> {
  const mine = ++generation;
  const s = state();
  let evaluation: Evaluation;
  try {
    evaluation = await evaluate(s);
  } catch (error) {
    status(`evaluation failed: ${(error as Error).message}`, true);
    return;
  }
  // A newer evaluation began, or the texts changed since (one is scheduled): this one is stale.
  if (mine !== generation || JSON.stringify(s) !== JSON.stringify(state())) {
    await evaluation.pemba?.close();
    return;
  }
  const previous = current;
  current = evaluation;
  await previous?.pemba?.close();
  for (const section of SECTIONS)
    if (section !== 'schema')
      showMarks(
        editors[section],
        evaluation.marks.filter((m) => m.section === section),
      );
  renderResults(evaluation);
  renderTable(evaluation);
  renderGraph();
  if (checked) await runCheck();
  else await shareInUrl();
  evaluations++;
  document.body.dataset.evaluations = String(evaluations);
  readyAt ??= performance.now();
  markReady();
}

function renderResults(e: Evaluation): void {
  const summary = $('summary');
  summary.textContent = e.summary;
  summary.className = e.failed > 0 ? 'fail' : 'pass';
  const counts = $('counts');
  counts.textContent = `assertions ${e.assertions.passed}/${e.assertions.run} · expected relations ${e.expected.passed}/${e.expected.run}`;
  const list = $('results');
  list.replaceChildren();
  const order: Record<Mark['severity'], number> = { error: 0, warning: 1, pass: 2 };
  const marks = [...e.marks].sort(
    (a, b) =>
      order[a.severity] - order[b.severity] ||
      SECTIONS.indexOf(a.section) - SECTIONS.indexOf(b.section) ||
      a.line - b.line,
  );
  for (const m of marks) {
    const li = document.createElement('li');
    li.className = `result ${m.severity === 'error' ? 'fail' : m.severity}`;
    li.dataset.section = m.section;
    li.dataset.line = String(m.line);
    const icon = m.severity === 'pass' ? '✓' : m.severity === 'error' ? '✗' : '!';
    const where = document.createElement('a');
    where.href = '#';
    where.className = 'where';
    where.textContent = `${m.section}:${m.line}:${m.column}`;
    where.addEventListener('click', (ev) => {
      ev.preventDefault();
      const view = editors[m.section];
      const line = view.state.doc.line(Math.min(m.line, view.state.doc.lines));
      view.dispatch({ selection: { anchor: line.from }, scrollIntoView: true });
      view.focus();
    });
    li.append(`${icon} `, where, ` ${m.message}`);
    list.append(li);
  }
}

function renderTable(e: Evaluation): void {
  const body = $('relationships-table').querySelector('tbody')!;
  body.replaceChildren();
  for (const row of e.rows) {
    const tr = document.createElement('tr');
    const cells: string[] = row.relationship
      ? [
          `${row.relationship.resource.type}:${row.relationship.resource.id}`,
          row.relationship.relation,
          `${row.relationship.subject.type}:${row.relationship.subject.id}${row.relationship.subject.relation === '...' ? '' : `#${row.relationship.subject.relation}`}`,
          row.relationship.caveat
            ? `${row.relationship.caveat.name}${row.relationship.caveat.context && Object.keys(row.relationship.caveat.context).length ? ` ${JSON.stringify(row.relationship.caveat.context)}` : ''}`
            : '',
          row.relationship.expiresAt ? row.relationship.expiresAt.toISOString() : '',
        ]
      : [row.text, '', '', '', row.error ?? ''];
    if (row.error) tr.className = 'fail';
    const th = document.createElement('td');
    th.textContent = String(row.line);
    tr.append(th);
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.append(td);
    }
    body.append(tr);
  }
}

function renderGraph(): void {
  const holder = $('graph');
  if (current?.schema) holder.innerHTML = schemaGraphSvg(current.schema, visited);
  else holder.textContent = 'The schema does not compile yet.';
}

function checkInput(): CheckInput {
  return {
    resource: $<HTMLInputElement>('check-resource').value,
    permission: $<HTMLInputElement>('check-permission').value,
    subject: $<HTMLInputElement>('check-subject').value,
    context: $<HTMLTextAreaElement>('check-context').value,
  };
}

function foundList(found: Found[], prefix: string): string {
  if (found.length === 0) return '(none)';
  return found
    .map((f) => {
      const tag =
        f.permissionship === 'CONDITIONAL_PERMISSION'
          ? ` (caveated: needs ${f.missingContext?.join(', ') ?? '?'})`
          : '';
      return `${prefix}${f.id}${tag}`;
    })
    .join(', ');
}

/** The state and the check panel's inputs, in the address bar (replacing the entry: no history per keystroke). */
async function shareInUrl(): Promise<string> {
  history.replaceState(null, '', `#${await encodeState(state(), checkInput())}`);
  return location.href;
}

function setCheckInput(c: CheckInput): void {
  $<HTMLInputElement>('check-resource').value = c.resource;
  $<HTMLInputElement>('check-permission').value = c.permission;
  $<HTMLInputElement>('check-subject').value = c.subject;
  $<HTMLTextAreaElement>('check-context').value = c.context ?? '';
}

async function runCheck(): Promise<void> {
  checked = true;
  await shareInUrl();
  const answer = $('check-answer');
  const tree = $('check-tree');
  const input = checkInput();
  if (!input.resource.trim() && !input.permission.trim() && !input.subject.trim()) {
    answer.textContent = '';
    tree.replaceChildren();
    return;
  }
  const pemba: Pemba | undefined = current?.pemba;
  if (!pemba) {
    answer.className = 'answer error';
    answer.textContent = 'Fix the problems first: nothing could be loaded.';
    tree.replaceChildren();
    return;
  }
  try {
    const outcome = await check(pemba, input);
    const words: Record<string, string> = {
      HAS_PERMISSION: 'yes: has permission',
      NO_PERMISSION: 'no permission',
      CONDITIONAL_PERMISSION: `caveated: missing context ${outcome.missingContext?.join(', ') ?? ''}`,
    };
    answer.className = `answer ${outcome.permissionship.toLowerCase()}`;
    answer.textContent = `${input.resource.trim()}#${input.permission.trim()}@${input.subject.trim()}: ${words[outcome.permissionship] ?? outcome.permissionship}`;
    tree.replaceChildren();
    if (outcome.trace) {
      const paths = grantingPaths(outcome.trace.check);
      if (paths.length > 0) tree.append(renderPaths(paths));
      tree.append(renderTrace(outcome.trace.check));
      visited = traceRelations(outcome.trace.check);
    }
    const resources = await lookupResources(pemba, input);
    const subjects = await lookupSubjects(pemba, input);
    const resourceType = input.resource.trim().split(':')[0];
    const subjectType = input.subject.trim().split(':')[0];
    $('lookup-resources').textContent =
      `${resourceType} objects ${input.subject.trim()} can ${input.permission.trim()}: ${foundList(resources, `${resourceType}:`)}`;
    $('lookup-subjects').textContent =
      `${subjectType} subjects with ${input.permission.trim()} on ${input.resource.trim()}: ${foundList(subjects, `${subjectType}:`)}`;
  } catch (error) {
    answer.className = 'answer error';
    answer.textContent = (error as Error).message;
    tree.replaceChildren();
    $('lookup-resources').textContent = '';
    $('lookup-subjects').textContent = '';
    visited = new Map();
  }
  renderGraph();
}

function loadYaml(text: string, name: string): void {
  const { state: loaded, problems } = fromValidationYaml(text);
  setState(loaded);
  status(problems.length ? `${name}: ${problems.join('; ')}` : `loaded ${name}`, problems.length > 0);
}

function loadExample(id: string): void {
  const example = EXAMPLES.find((e) => e.id === id);
  if (!example) return;
  setState(example.state);
  setCheckInput(example.check);
  status(`example: ${example.title}`);
}

/** A validation file's text, run in this page's engine exactly as `pemba validate` runs it. */
async function validateYaml(text: string, path = 'file.yaml') {
  const { file, problems } = parseValidationFile(text, path);
  if (problems.length > 0) return { problems, relationshipsLoaded: 0, assertionsRun: 0, expectedRelationsValidated: 0 };
  const run = await runValidationFile(file);
  return {
    problems: run.problems,
    relationshipsLoaded: run.relationshipsLoaded,
    assertionsRun: run.assertionsRun,
    expectedRelationsValidated: run.expectedRelationsValidated,
  };
}

async function main(): Promise<void> {
  const shared = await decodeShared(location.hash);
  const initial = shared?.state ?? EXAMPLES[0].state;
  const onChange = () => scheduleEvaluation();
  editors.schema = createEditor({
    parent: $('schema-editor'),
    kind: 'schema',
    doc: initial.schema,
    onChange,
    lint: lintSchema,
  });
  editors.relationships = createEditor({
    parent: $('relationships-editor'),
    kind: 'relationships',
    doc: initial.relationships,
    onChange,
  });
  editors.assertions = createEditor({
    parent: $('assertions-editor'),
    kind: 'yaml',
    doc: initial.assertions,
    onChange,
  });
  editors.validation = createEditor({
    parent: $('validation-editor'),
    kind: 'yaml',
    doc: initial.validation,
    onChange,
  });
  if (shared?.check) setCheckInput(shared.check);
  else if (!shared) setCheckInput(EXAMPLES[0].check);

  const examples = $<HTMLSelectElement>('examples');
  for (const e of EXAMPLES) {
    const option = document.createElement('option');
    option.value = e.id;
    option.textContent = e.title;
    examples.append(option);
  }
  examples.addEventListener('change', () => {
    loadExample(examples.value);
    examples.value = '';
  });
  $('check-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void runCheck();
  });
  const fileInput = $<HTMLInputElement>('file');
  $('load').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', async () => {
    const f = fileInput.files?.[0];
    if (f) loadYaml(await f.text(), f.name);
    fileInput.value = '';
  });
  $('save').addEventListener('click', () => {
    const blob = new Blob([toValidationYaml(state())], { type: 'application/yaml' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'playground.yaml';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
  $('share').addEventListener('click', async () => {
    const url = await shareInUrl();
    try {
      await navigator.clipboard.writeText(url);
      status('link copied to the clipboard');
    } catch {
      status('the link is in the address bar');
    }
  });
  for (const tab of document.querySelectorAll<HTMLButtonElement>('[data-view]')) {
    tab.addEventListener('click', () => {
      const table = tab.dataset.view === 'table';
      $('relationships-editor').hidden = table;
      $('relationships-table').hidden = !table;
      for (const t of document.querySelectorAll<HTMLButtonElement>('[data-view]'))
        t.classList.toggle('active', t === tab);
    });
  }
  window.addEventListener('hashchange', async () => {
    const s = await decodeShared(location.hash);
    if (s?.check) setCheckInput(s.check);
    if (s && JSON.stringify(s.state) !== JSON.stringify(state())) setState(s.state);
  });
  await runEvaluation();
  await runCheck();
}

/** For tests and the console: the page's state and engine. */
declare global {
  interface Window {
    playground: {
      ready: Promise<void>;
      state: () => PlaygroundState;
      setState: (s: PlaygroundState) => void;
      loadYaml: (text: string, name: string) => void;
      toYaml: () => string;
      validateYaml: typeof validateYaml;
      evaluations: () => number;
      readyAt: () => number | undefined;
      diagnostics: (section: Section) => { line: number; column: number; severity: string; message: string }[];
    };
  }
}

window.playground = {
  ready,
  state,
  setState,
  loadYaml,
  toYaml: () => toValidationYaml(state()),
  validateYaml,
  evaluations: () => evaluations,
  readyAt: () => readyAt,
  diagnostics: (section) => {
    const view = editors[section];
    const found: { line: number; column: number; severity: string; message: string }[] = [];
    forEachDiagnostic(view.state, (d, from) => {
      const line = view.state.doc.lineAt(from);
      found.push({ line: line.number, column: from - line.from + 1, severity: d.severity, message: d.message });
    });
    return found;
  },
};

void main().catch((error: unknown) => {
  status(`the playground failed to start: ${(error as Error).message}`, true);
  throw error;
});
