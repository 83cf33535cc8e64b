/**
 * Summarizes V8 .cpuprofile files (from `npm run bench -- --cpu-prof`): self time and total
 * (inclusive) time per function, heaviest first.
 *   node --import tsx bench/profile-summary.ts bench/results/profiles/CPU.*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/(node_modules\/)/, '$1')
    .replace(/^.*\/work\/main\//, '');
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
}

function summarize(path: string, top: number): void {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const hits = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  // Inclusive time: a function counts once per stack even when recursive.
  const walk = (id: number, onStack: Set<string>): number => {
    const n = byId.get(id)!;
    const key = label(n);
    self.set(key, (self.get(key) ?? 0) + (n.hitCount ?? 0));
    const fresh = !onStack.has(key);
    if (fresh) onStack.add(key);
    let sum = n.hitCount ?? 0;
    for (const c of n.children ?? []) sum += walk(c, onStack);
    if (fresh) {
      onStack.delete(key);
      total.set(key, (total.get(key) ?? 0) + sum);
    }
    return sum;
  };
  walk(p.nodes[0].id, new Set());
  const pct = (x: number) => `${((100 * x) / hits).toFixed(1).padStart(5)}%`;
  console.log(`\n${path}: ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s, ${hits} samples`);
  console.log('  self time:');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v)}  ${k}`);
  console.log('  total time:');
  for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v)}  ${k}`);
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
for (const path of args) summarize(path, top);
