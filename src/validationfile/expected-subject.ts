/**
 * Entries of a validation file's `validation` block (zed's "expected relations"):
 *
 *   [user:tom] is <document:1#viewer>/<document:1#editor>
 *   [group:eng#member] is <document:1#viewer>
 *   [user:* - {user:a, user:b}] is <document:1#viewer>
 *   [user:tom[...]] is <document:1#viewer>      (caveated: maybe a member)
 *
 * The `is …` part may be left out; then the entry names the subject only.
 */
import { invalidArgument } from '../errors/index.js';
import type { ObjectAndRelation } from '../relationships/relationship-string.js';
import {
  formatObjectAndRelation,
  formatSubject,
  parseObjectAndRelation,
  parseSubject,
} from '../relationships/relationship-string.js';
import type { ExpectedSubject, ExpectedSubjectRef } from './types.js';

const CAVEAT_MARK = '[...]';

function fail(text: string, problem: string): never {
  throw invalidArgument(`invalid expected subject \`${text}\`: ${problem}`);
}

function subjectRef(text: string, part: string): ExpectedSubjectRef {
  const trimmed = part.trim();
  const caveated = trimmed.endsWith(CAVEAT_MARK);
  const bare = caveated ? trimmed.slice(0, -CAVEAT_MARK.length) : trimmed;
  if (!bare) fail(text, 'missing subject');
  try {
    return { ...parseSubject(bare), caveated };
  } catch (error) {
    fail(text, (error as Error).message);
  }
}

/** Index of the `]` closing the `[` at `open`, allowing nested `[...]`. */
function closingBracket(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '[') depth++;
    else if (text[i] === ']' && --depth === 0) return i;
  }
  return -1;
}

export function parseExpectedSubject(text: string): Omit<ExpectedSubject, 'at'> {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) fail(text, 'expected `[subject]` at the start');
  const close = closingBracket(trimmed, 0);
  if (close < 0) fail(text, 'unclosed `[`');
  const inner = trimmed.slice(1, close);

  const minus = inner.indexOf(' - ');
  const subject = subjectRef(text, minus < 0 ? inner : inner.slice(0, minus));
  let excluded: ExpectedSubjectRef[] = [];
  if (minus >= 0) {
    if (subject.id !== '*') fail(text, 'only a wildcard can have exclusions');
    const set = inner.slice(minus + 3).trim();
    if (!set.startsWith('{') || !set.endsWith('}')) fail(text, 'exclusions must be written `{subject, subject}`');
    excluded = set
      .slice(1, -1)
      .split(',')
      .map((s) => subjectRef(text, s));
  }

  const rest = trimmed.slice(close + 1).trim();
  if (!rest) return { text, subject, excluded };
  if (!rest.startsWith('is ')) fail(text, 'expected `is <object#relation>` after the subject');
  const list = rest.slice(3).trim();
  if (!/^<[^<>]+>(\/<[^<>]+>)*$/.test(list))
    fail(text, `expected \`<object#relation>\` entries joined by \`/\`, found \`${list}\``);
  const reasons: ObjectAndRelation[] = [];
  for (const [, onr] of list.matchAll(/<([^<>]+)>/g)) {
    try {
      reasons.push(parseObjectAndRelation(onr));
    } catch (error) {
      fail(text, (error as Error).message);
    }
  }
  return { text, subject, excluded, reasons };
}

export function formatExpectedSubjectRef(s: ExpectedSubjectRef): string {
  return formatSubject(s) + (s.caveated ? CAVEAT_MARK : '');
}

/** The canonical text of an entry, as zed writes it. */
export function formatExpectedSubject(e: Omit<ExpectedSubject, 'at' | 'text'>): string {
  let subject = formatExpectedSubjectRef(e.subject);
  if (e.excluded.length > 0) subject += ` - {${e.excluded.map(formatExpectedSubjectRef).join(', ')}}`;
  const reasons = e.reasons ? ` is ${e.reasons.map((r) => `<${formatObjectAndRelation(r)}>`).join('/')}` : '';
  return `[${subject}]${reasons}`;
}
