/**
 * A consistent-hash ring: each node sits at many points (virtual nodes) on a 32-bit circle, and a key
 * belongs to the first node point at or after the key's hash. Adding or removing one of N nodes moves
 * only about 1/N of the keys, so the nodes' caches stay warm when the fleet changes.
 */

/** FNV-1a over the string's UTF-16 code units, then a final avalanche so near keys spread. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Points per node: enough that three nodes' shares are within a few percent of each other. */
const POINTS_PER_NODE = 128;

export class HashRing<N extends string = string> {
  private readonly points: Uint32Array;
  private readonly owners: N[];

  constructor(readonly nodes: readonly N[]) {
    const entries: [number, N][] = [];
    for (const node of nodes) for (let i = 0; i < POINTS_PER_NODE; i++) entries.push([hash32(`${node}#${i}`), node]);
    // Ties (vanishingly rare) break by node name, so every node builds the same ring from the same set.
    entries.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    this.points = Uint32Array.from(entries, (e) => e[0]);
    this.owners = entries.map((e) => e[1]);
  }

  /** The node owning `key`; undefined when the ring is empty. */
  owner(key: string): N | undefined {
    const n = this.points.length;
    if (n === 0) return undefined;
    const h = hash32(key);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === n ? 0 : lo];
  }
}
