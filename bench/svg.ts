/**
 * A hand-written SVG of the latency distributions: per dataset and workload, one box plot per
 * system on a shared logarithmic axis (box p25–p75, median tick, whiskers p5–p99).
 */
import { figure } from './report.js';
import type { RunData } from './report.js';
import type { SystemName } from './systems/system.js';
import { SYSTEM_NAMES, SYSTEM_TITLES } from './systems/system.js';
import { WORKLOADS } from './workloads/index.js';

const COLORS: Record<SystemName, string> = {
  pemba: '#2a9d8f',
  'pemba-sqlite': '#3a86c8',
  'pemba-postgres': '#1d3557',
  'pemba-grpc': '#8a6fdf',
  'pemba-grpc-sqlite': '#c77dff',
  'pemba-grpc-postgres': '#5a189a',
  spicedb: '#e76f51',
};
const WIDTH = 960;
const LEFT = 250;
const RIGHT = 30;
const ROW = 13;
const GAP = 8;
const HEADER = 26;
const LEGEND_ITEM = 175;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderSvg(data: RunData): string {
  const systems = SYSTEM_NAMES.filter((s) => data.options.systems.includes(s));
  const all = data.datasets
    .flatMap((d) => WORKLOADS.flatMap((w) => systems.map((s) => figure(d, s, w.name))))
    .filter((f) => f !== undefined);
  const lo = Math.floor(Math.log10(Math.max(1e-3, Math.min(...all.map((f) => f.p5)))));
  const hi = Math.ceil(Math.log10(Math.max(...all.map((f) => f.p99), 1)));
  const x = (v: number) => LEFT + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (WIDTH - LEFT - RIGHT);

  const body: string[] = [];
  // The legend wraps, perLine systems a line.
  const perLine = Math.floor((WIDTH - LEFT) / LEGEND_ITEM);
  const legend = systems.map((s, i) => {
    const lx = LEFT + (i % perLine) * LEGEND_ITEM;
    const ly = 14 + Math.floor(i / perLine) * 18;
    return `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${COLORS[s]}"/><text x="${lx + 18}" y="${ly + 10}">${SYSTEM_TITLES[s]}</text>`;
  });
  let y = 40 + Math.floor((systems.length - 1) / perLine) * 18;
  for (const d of data.datasets) {
    body.push(`<text x="10" y="${y + 16}" font-weight="bold" font-size="13">${esc(d.title)}</text>`);
    y += HEADER;
    const top = y;
    for (const w of WORKLOADS) {
      const figs = systems.map((s) => [s, figure(d, s, w.name)] as const).filter(([, f]) => f);
      if (figs.length === 0) continue;
      body.push(`<text x="10" y="${y + (figs.length * ROW) / 2 + 4}">${esc(w.title)}</text>`);
      for (const [s, f] of figs) {
        const mid = y + ROW / 2;
        body.push(
          `<g><title>${esc(`${SYSTEM_TITLES[s]}: p50 ${f!.p50.toPrecision(3)} ms, p99 ${f!.p99.toPrecision(3)} ms`)}</title>`,
          `<line x1="${x(f!.p5)}" x2="${x(f!.p99)}" y1="${mid}" y2="${mid}" stroke="${COLORS[s]}"/>`,
          `<rect x="${x(f!.p25)}" y="${y + 2}" width="${Math.max(1, x(f!.p75) - x(f!.p25))}" height="${ROW - 4}" fill="${COLORS[s]}" fill-opacity="0.55" stroke="${COLORS[s]}"/>`,
          `<line x1="${x(f!.p50)}" x2="${x(f!.p50)}" y1="${y + 1}" y2="${y + ROW - 1}" stroke="#000" stroke-width="2"/>`,
          '</g>',
        );
        y += ROW;
      }
      y += GAP;
    }
    // Decade grid lines behind this dataset's rows.
    for (let e = lo; e <= hi; e++) {
      body.unshift(`<line x1="${x(10 ** e)}" x2="${x(10 ** e)}" y1="${top}" y2="${y}" stroke="#ddd"/>`);
    }
    y += 4;
  }
  const axis: string[] = [];
  for (let e = lo; e <= hi; e++) {
    const label = e >= 3 ? `${10 ** (e - 3)} s` : `${+(10 ** e).toPrecision(1)} ms`;
    axis.push(`<text x="${x(10 ** e)}" y="${y + 14}" text-anchor="middle">${label}</text>`);
  }
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...legend,
    ...body,
    ...axis,
    `<text x="${WIDTH - RIGHT}" y="${height - 4}" text-anchor="end" fill="#666">latency per operation (log scale); box p25–p75, tick p50, whiskers p5–p99</text>`,
    '</svg>',
    '',
  ].join('\n');
}
