/**
 * The nesting depth bound of OpenFGA request bodies. Models, contexts and tuple conditions are walked
 * recursively after decoding (rewrites, CEL values), so a body nested thousands deep would overflow
 * the stack; it is refused first, the way OpenFGA's own decoder refuses messages past its recursion limit.
 */

/** Deepest nesting of objects and arrays a request may carry. Real models nest a few levels per rewrite. */
export const MAX_JSON_DEPTH = 100;

/** Whether `value` nests objects and arrays deeper than `max` (walked without recursion). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}
