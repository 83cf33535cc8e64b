/**
 * A compiled schema as an SVG picture: a box per definition listing its relations and permissions;
 * blue arrows from a relation to the subject types it allows, grey ones from a permission to the
 * relations it names, and dashed orange ones for arrows (`parent->view`) to the relation they reach.
 * Relations a check evaluated can be highlighted (granting ones in green). Plain strings: no DOM.
 */
import type { CompiledSchema, Rewrite } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';

const W = 260;
const HEAD = 26;
const ROW = 20;
const GAP_X = 110;
const GAP_Y = 36;
const PAD = 60;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Box {
  name: string;
  x: number;
  y: number;
  rows: string[];
  h: number;
}

function references(r: Rewrite, into: { computed: string[]; arrows: { tupleset: string; computed: string }[] }) {
  switch (r.kind) {
    case 'computed':
      into.computed.push(r.relation);
      break;
    case 'tupleToUserset':
      into.arrows.push({ tupleset: r.tupleset, computed: r.computed });
      break;
    case 'union':
    case 'intersection':
      for (const c of r.children) references(c, into);
      break;
    case 'exclusion':
      references(r.base, into);
      references(r.subtract, into);
      break;
    default:
  }
  return into;
}

/** `visited`: `type#relation` → whether it granted (from a check's trace). */
export function schemaGraphSvg(schema: CompiledSchema, visited: ReadonlyMap<string, boolean> = new Map()): string {
  const defs = [...schema.definitions.values()];
  if (defs.length === 0) return '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"></svg>';
  const columns = Math.max(1, Math.ceil(Math.sqrt(defs.length)));
  const boxes = new Map<string, Box>();
  const heights = new Array<number>(columns).fill(PAD);
  defs.forEach((d, i) => {
    const col = i % columns;
    const rows = [...d.relations.keys()];
    const h = HEAD + Math.max(1, rows.length) * ROW + 6;
    boxes.set(d.name, { name: d.name, x: PAD + col * (W + GAP_X), y: heights[col], rows, h });
    heights[col] += h + GAP_Y;
  });
  const width = PAD * 2 + columns * W + (columns - 1) * GAP_X;
  const height = Math.max(...heights) + PAD;
  const rowY = (b: Box, relation: string) => {
    const i = b.rows.indexOf(relation);
    return i < 0 ? b.y + HEAD / 2 : b.y + HEAD + i * ROW + ROW / 2 + 2;
  };
  const edges: string[] = [];
  const edge = (x1: number, y1: number, x2: number, y2: number, cls: string, title: string) => {
    let d: string;
    if (Math.abs(x1 - x2) < 1) {
      // Within one box: loop out to the side.
      const out = x1 + (cls === 'computed' ? -36 : 36);
      d = `M${x1},${y1} C${out},${y1} ${out},${y2} ${x2},${y2}`;
    } else {
      const dx = Math.max(40, Math.abs(x2 - x1) / 2);
      d = `M${x1},${y1} C${x1 + (x2 > x1 ? dx : -dx)},${y1} ${x2 + (x2 > x1 ? -dx : dx)},${y2} ${x2},${y2}`;
    }
    edges.push(`<path class="edge ${cls}" d="${d}" marker-end="url(#head-${cls})"><title>${esc(title)}</title></path>`);
  };
  const towards = (from: Box, to: Box, y1: number, y2: number, cls: string, title: string) => {
    if (from === to) edge(from.x + W, y1, from.x + W, y2, cls, title);
    else if (to.x > from.x) edge(from.x + W, y1, to.x, y2, cls, title);
    else if (to.x < from.x) edge(from.x, y1, to.x + W, y2, cls, title);
    else edge(from.x + W, y1, to.x + W, y2, cls, title);
  };
  for (const d of defs) {
    const b = boxes.get(d.name)!;
    for (const rel of d.relations.values()) {
      const y = rowY(b, rel.name);
      for (const s of rel.allowedSubjects) {
        const target = boxes.get(s.type);
        if (!target) continue;
        const label = `${d.name}#${rel.name} → ${s.type}${s.wildcard ? ':*' : s.relation === ELLIPSIS ? '' : `#${s.relation}`}`;
        towards(b, target, y, rowY(target, s.relation === ELLIPSIS ? '' : s.relation), 'subject', label);
      }
      const refs = references(rel.rewrite, { computed: [], arrows: [] });
      for (const c of refs.computed)
        if (b.rows.includes(c)) edge(b.x, y, b.x, rowY(b, c), 'computed', `${d.name}#${rel.name} uses ${c}`);
      for (const a of refs.arrows) {
        const tupleset = d.relations.get(a.tupleset);
        for (const s of tupleset?.allowedSubjects ?? []) {
          const target = boxes.get(s.type);
          if (!target) continue;
          towards(
            b,
            target,
            y,
            rowY(target, a.computed),
            'arrow',
            `${d.name}#${rel.name}: ${a.tupleset}->${a.computed}`,
          );
        }
      }
    }
  }
  const parts: string[] = [];
  for (const b of boxes.values()) {
    const def = schema.definitions.get(b.name)!;
    parts.push(`<g class="definition" data-definition="${esc(b.name)}">`);
    parts.push(`<rect class="box" x="${b.x}" y="${b.y}" width="${W}" height="${b.h}" rx="6"/>`);
    parts.push(`<rect class="head" x="${b.x}" y="${b.y}" width="${W}" height="${HEAD}" rx="6"/>`);
    parts.push(`<text class="name" x="${b.x + 10}" y="${b.y + 17}">definition ${esc(b.name)}</text>`);
    b.rows.forEach((name, i) => {
      const rel = def.relations.get(name)!;
      const key = `${b.name}#${name}`;
      const seen = visited.get(key);
      const cls = `row ${rel.kind}${seen === undefined ? '' : seen ? ' visited granted' : ' visited'}`;
      const y = b.y + HEAD + i * ROW;
      const types = rel.allowedSubjects
        .map(
          (s) =>
            `${s.type}${s.wildcard ? ':*' : s.relation === ELLIPSIS ? '' : `#${s.relation}`}` +
            `${s.caveat ? ` with ${s.caveat}` : ''}${s.expiration ? (s.caveat ? ' and expiration' : ' with expiration') : ''}`,
        )
        .join(' | ');
      parts.push(`<g class="${cls}" data-relation="${esc(key)}">`);
      parts.push(`<rect x="${b.x + 2}" y="${y + 2}" width="${W - 4}" height="${ROW - 2}" rx="3"/>`);
      const text = rel.kind === 'relation' ? `relation ${name}: ${types}` : `permission ${name}`;
      const shown = text.length > 38 ? `${text.slice(0, 37)}…` : text;
      parts.push(`<text x="${b.x + 10}" y="${y + 16}">${esc(shown)}<title>${esc(text)}</title></text></g>`);
    });
    parts.push('</g>');
  }
  const marker = (cls: string) =>
    `<marker id="head-${cls}" class="head-${cls}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="schema-graph" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs>${marker('subject')}${marker('computed')}${marker('arrow')}</defs>` +
    `<g class="edges">${edges.join('')}</g>${parts.join('')}</svg>`
  );
}
