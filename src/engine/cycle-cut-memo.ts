/**
 * Per-request memo for recursive evaluation over data that may contain cycles. Revisiting a key that
 * is still being evaluated on the current path yields the caller's "cycle" value (the least fixed
 * point: what a finite chain justifies), tagged with the depth of the cut. A result that relied on a
 * cut above its own level is returned but not remembered, since that assumption may not hold later.
 */
export class CycleCutMemo<E extends { cut: number }> {
  private readonly memo = new Map<string, E>();
  private readonly onPath: Map<string, number>;

  /** `path`: keys already being evaluated above this memo's first key (a dispatched sub-problem's caller's path). */
  constructor(path: Iterable<[string, number]> = []) {
    this.onPath = new Map(path);
  }

  /** The keys being evaluated now, outermost first, with their depths. */
  path(): [string, number][] {
    return [...this.onPath];
  }

  async run(key: string, depth: number, cycle: (cutAt: number) => E, compute: () => Promise<E>): Promise<E> {
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    const cutAt = this.onPath.get(key);
    if (cutAt !== undefined) return cycle(cutAt);
    this.onPath.set(key, depth);
    let result: E;
    try {
      result = await compute();
    } finally {
      this.onPath.delete(key);
    }
    if (result.cut < depth) return result;
    const settled = result.cut === Infinity ? result : { ...result, cut: Infinity };
    this.memo.set(key, settled);
    return settled;
  }
}
