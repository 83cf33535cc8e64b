/**
 * The playground's CodeMirror editors: SpiceDB schema and relationship highlighting (small stream
 * languages), YAML for assertions and expected relations, inline diagnostics and a gutter of
 * pass/fail marks set from each evaluation.
 */
import { basicSetup } from 'codemirror';
import { yaml } from '@codemirror/lang-yaml';
import { StreamLanguage, type StringStream } from '@codemirror/language';
import { lintGutter, linter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { EditorState, RangeSet, StateEffect, StateField, type Extension, type Text } from '@codemirror/state';
import { EditorView, GutterMarker, gutter } from '@codemirror/view';
import type { Mark } from '../engine.js';

const KEYWORDS = new Set([
  'definition',
  'relation',
  'permission',
  'caveat',
  'use',
  'import',
  'partial',
  'with',
  'and',
  'expiration',
  'nil',
  'self',
  'any',
  'all',
]);
const CEL_TYPES = new Set([
  'int',
  'uint',
  'bool',
  'string',
  'double',
  'bytes',
  'duration',
  'timestamp',
  'ipaddress',
  'list',
  'map',
  'any',
]);

interface SchemaState {
  comment: boolean;
  /** After `definition`/`caveat`: the next name is a type's. */
  naming: boolean;
  /** After `relation x:` up to the line's end: names are subject types. */
  types: boolean;
  /** Inside a caveat's parameter list. */
  params: number;
}

/** SpiceDB's schema language, token by token. */
export const schemaLanguage = StreamLanguage.define<SchemaState>({
  name: 'spicedb',
  startState: () => ({ comment: false, naming: false, types: false, params: 0 }),
  token(stream: StringStream, state: SchemaState) {
    if (stream.sol()) state.types = false;
    if (state.comment) {
      if (stream.skipTo('*/')) {
        stream.match('*/');
        state.comment = false;
      } else stream.skipToEnd();
      return 'comment';
    }
    if (stream.eatSpace()) return null;
    if (stream.match('//')) {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.match('/*')) {
      state.comment = true;
      return 'comment';
    }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'(?:[^'\\]|\\.)*'?/)) return 'string';
    if (stream.match(/^\d+(\.\d+)?/)) return 'number';
    if (stream.match('->') || stream.match(/^[+&\-|=]/) || stream.match(/^[<>!]=?/)) return 'operator';
    if (stream.match(/^[a-z_][a-zA-Z0-9_/]*/)) {
      const word = stream.current();
      if (state.naming) {
        state.naming = false;
        return 'typeName';
      }
      if (word === 'definition' || word === 'caveat') {
        state.naming = true;
        return 'keyword';
      }
      if (KEYWORDS.has(word)) return 'keyword';
      if (state.types) return 'typeName';
      if (state.params > 0 && CEL_TYPES.has(word)) return 'typeName';
      return 'variableName';
    }
    const ch = stream.next();
    if (ch === ':' && !state.params) state.types = true;
    if (ch === '(') state.params++;
    if (ch === ')') state.params = Math.max(0, state.params - 1);
    if (ch === '#') {
      stream.match(/^[a-z_][a-zA-Z0-9_]*/);
      return 'propertyName';
    }
    return 'punctuation';
  },
  languageData: { commentTokens: { line: '//', block: { open: '/*', close: '*/' } } },
});

/** Relationships: `type:id#relation@type:id#relation[caveat:{…}][expiration:…]`, `//` comments. */
const relationshipLanguage = StreamLanguage.define<{ part: number; bracket: boolean }>({
  name: 'relationships',
  startState: () => ({ part: 0, bracket: false }),
  token(stream, state) {
    if (stream.sol()) state.part = 0;
    if (stream.eatSpace()) return null;
    if (stream.match('//')) {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.eat('[')) {
      stream.match(/^[^\]]*\]?/);
      return 'string';
    }
    if (stream.eat('@')) {
      state.part = 2;
      return 'operator';
    }
    if (stream.eat('#')) {
      stream.match(/^[^@[\s]*/);
      return 'propertyName';
    }
    if (stream.eat(':')) {
      stream.match(/^[^#@[\s]*/);
      return 'string';
    }
    if (stream.match(/^[^:#@[\s]+/)) return 'typeName';
    stream.next();
    return null;
  },
});

class ResultMarker extends GutterMarker {
  constructor(
    readonly ok: boolean,
    readonly message: string,
  ) {
    super();
  }
  override eq(other: ResultMarker): boolean {
    return other.ok === this.ok && other.message === this.message;
  }
  override toDOM(): Node {
    const span = document.createElement('span');
    span.className = this.ok ? 'mark mark-pass' : 'mark mark-fail';
    span.textContent = this.ok ? '✓' : '✗';
    span.title = this.message;
    return span;
  }
}

const setMarks = StateEffect.define<Mark[]>();

function lineStart(doc: Text, line: number): number {
  return doc.line(Math.min(Math.max(1, line), doc.lines)).from;
}

const marksField = StateField.define<RangeSet<GutterMarker>>({
  create: () => RangeSet.empty,
  update(value, tr) {
    let next = value.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setMarks)) continue;
      const byLine = new Map<number, ResultMarker>();
      for (const m of e.value) {
        if (m.severity === 'warning') continue;
        const from = lineStart(tr.state.doc, m.line);
        const prior = byLine.get(from);
        // A failure on a line wins over a pass.
        if (!prior || (prior.ok && m.severity === 'error'))
          byLine.set(from, new ResultMarker(m.severity === 'pass', m.message));
      }
      next = RangeSet.of([...byLine.entries()].sort((a, b) => a[0] - b[0]).map(([from, marker]) => marker.range(from)));
    }
    return next;
  },
});

const marksGutter = [
  marksField,
  gutter({ class: 'cm-result-gutter', markers: (view) => view.state.field(marksField) }),
];

/** A diagnostic at a 1-based line and column (clamped into the text). */
export function diagnosticAt(doc: Text, m: Mark): Diagnostic {
  const line = doc.line(Math.min(Math.max(1, m.line), doc.lines));
  const from = Math.min(line.from + Math.max(0, m.column - 1), line.to);
  // Underline the word at the position, or the rest of the line.
  const rest = doc.sliceString(from, line.to);
  const word = /^[\w:#@.*-]+/.exec(rest)?.[0].length ?? 0;
  const to = word > 0 ? from + word : line.to > from ? line.to : from;
  return {
    from,
    to,
    severity: m.severity === 'warning' ? 'warning' : 'error',
    message: m.message,
  };
}

/** Shows an evaluation's marks in an editor: failures and warnings as diagnostics, all in the gutter. */
export function showMarks(view: EditorView, marks: Mark[]): void {
  const diagnostics = marks.filter((m) => m.severity !== 'pass').map((m) => diagnosticAt(view.state.doc, m));
  view.dispatch(setDiagnostics(view.state, diagnostics), { effects: setMarks.of(marks) });
}

export type EditorKind = 'schema' | 'relationships' | 'yaml';

export function createEditor(options: {
  parent: HTMLElement;
  kind: EditorKind;
  doc: string;
  onChange: () => void;
  /** The schema editor's own linter: errors while typing, without waiting for the evaluation. */
  lint?: (text: string) => Mark[];
}): EditorView {
  const extensions: Extension[] = [
    basicSetup,
    EditorView.updateListener.of((u) => {
      if (u.docChanged) options.onChange();
    }),
    EditorState.tabSize.of(2),
  ];
  if (options.kind === 'schema') extensions.push(schemaLanguage);
  else if (options.kind === 'relationships') extensions.push(relationshipLanguage);
  else extensions.push(yaml());
  if (options.lint) {
    const lint = options.lint;
    extensions.push(
      linter((view) => lint(view.state.doc.toString()).map((m) => diagnosticAt(view.state.doc, m)), { delay: 150 }),
      lintGutter(),
    );
  } else {
    extensions.push(marksGutter);
  }
  return new EditorView({ parent: options.parent, doc: options.doc, extensions });
}

/** Replaces an editor's text (one transaction, undoable). */
export function setText(view: EditorView, text: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}
