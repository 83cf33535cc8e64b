/**
 * A check's trace as a collapsible tree (nested <details>), in the shape `zed permission check
 * --explain` prints: each relation or permission evaluated, its answer, the caveat it rests on, and
 * the subject reached at the leaves that grant.
 */
import type { SubjectRef } from '../../relationships/relationship.js';
import type { CheckTraceNode } from '../../requests/requests.js';

const ICON: Record<CheckTraceNode['result'], string> = {
  HAS_PERMISSION: '✓',
  NO_PERMISSION: '⨉',
  CONDITIONAL_PERMISSION: '?',
  UNSPECIFIED: '·',
};

const CLASS: Record<CheckTraceNode['result'], string> = {
  HAS_PERMISSION: 'has',
  NO_PERMISSION: 'no',
  CONDITIONAL_PERMISSION: 'conditional',
  UNSPECIFIED: 'unspecified',
};

const subjectText = (s: SubjectRef) => `${s.type}:${s.id}${s.relation === '...' ? '' : `#${s.relation}`}`;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The text of a node's line, as the terminal tree prints it (the tests read it). */
export function traceLabel(n: CheckTraceNode): string {
  return `${ICON[n.result]} ${n.resourceType}:${n.resourceIds.join(',')} ${n.permission} (${n.permissionType})`;
}

export function renderTrace(n: CheckTraceNode): HTMLElement {
  const details = el('details', `trace-node ${CLASS[n.result]}`);
  details.open = true;
  details.dataset.relation = `${n.resourceType}#${n.permission}`;
  const summary = el('summary', 'trace-label');
  summary.append(el('span', 'trace-icon', ICON[n.result]), ' ');
  summary.append(el('span', 'trace-object', `${n.resourceType}:${n.resourceIds.join(',')}`), ' ');
  summary.append(el('span', 'trace-relation', n.permission), ' ');
  summary.append(el('span', 'trace-kind', `(${n.permissionType})`));
  if (n.durationMs > 0) summary.append(' ', el('span', 'trace-duration', `${n.durationMs.toFixed(2)} ms`));
  details.append(summary);
  if (n.caveat) {
    const c = n.caveat;
    const box = el('div', `trace-caveat caveat-${c.result.toLowerCase()}`);
    box.append(el('span', 'trace-caveat-name', `caveat ${c.caveatName || '(expression)'}`), ': ');
    box.append(el('code', '', c.expression), ` → ${c.result}`);
    if (Object.keys(c.context).length) box.append(' with ', el('code', '', JSON.stringify(c.context)));
    if (c.missingContext?.length) box.append(` (missing: ${c.missingContext.join(', ')})`);
    details.append(box);
  }
  for (const child of n.subProblems) details.append(renderTrace(child));
  if (n.subProblems.length === 0 && n.result === 'HAS_PERMISSION')
    details.append(el('div', 'trace-subject', subjectText(n.subject)));
  return details;
}

/** Every `type#relation` the trace evaluated, and those that granted (for the graph's highlighting). */
export function traceRelations(n: CheckTraceNode, into = new Map<string, boolean>()): Map<string, boolean> {
  const key = `${n.resourceType}#${n.permission}`;
  into.set(key, (into.get(key) ?? false) || n.result === 'HAS_PERMISSION' || n.result === 'CONDITIONAL_PERMISSION');
  for (const c of n.subProblems) traceRelations(c, into);
  return into;
}

/**
 * The ways the check was granted, each a path through the data from the resource to the subject:
 * `document:roadmap#view → folder:engineering#view → folder:engineering#viewer → user:dave`. At most
 * `limit` paths; none when it was denied.
 */
export function grantingPaths(n: CheckTraceNode, limit = 3): string[][] {
  const granted = (x: CheckTraceNode) => x.result === 'HAS_PERMISSION' || x.result === 'CONDITIONAL_PERMISSION';
  const paths: string[][] = [];
  const walk = (x: CheckTraceNode, prefix: string[]) => {
    if (paths.length >= limit || !granted(x)) return;
    const here = [
      ...prefix,
      `${x.resourceType}:${x.resourceIds.join(',')}#${x.permission}${x.caveat ? ` [${x.caveat.caveatName || 'caveat'}]` : ''}`,
    ];
    const children = x.subProblems.filter(granted);
    if (children.length === 0) {
      paths.push([...here, subjectText(x.subject)]);
      return;
    }
    for (const c of children) walk(c, here);
  };
  walk(n, []);
  return paths;
}

/** The paths as rows of chips joined by arrows. */
export function renderPaths(paths: string[][]): HTMLElement {
  const box = el('div', 'paths');
  for (const path of paths) {
    const row = el('div', 'path');
    path.forEach((step, i) => {
      if (i > 0) row.append(el('span', 'path-arrow', '→'));
      row.append(el('span', i === path.length - 1 ? 'path-step path-subject' : 'path-step', step));
    });
    box.append(row);
  }
  return box;
}
