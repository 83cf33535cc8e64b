/**
 * Maps the lines of a YAML scalar's value back to the file. The `yaml` package gives a node's start
 * offset only; folded (`>`) scalars join and drop lines, so each value line is found in the source by
 * its text instead of by arithmetic.
 */

export interface LineOrigin {
  /** 1-based line in the file. */
  line: number;
  /** Add to a 1-based column within the value line to get the column in the file. */
  columnOffset: number;
}

const indentOf = (s: string) => s.length - s.trimStart().length;

/**
 * For each line of `value` (split on `\n`), where it came from. `start` is where the scalar starts
 * (its block header or opening quote), 1-based. Lines that cannot be found inherit the previous
 * origin, so a mapping is always returned.
 */
export function mapValueLines(
  fileLines: readonly string[],
  start: { line: number; col: number },
  value: string,
): LineOrigin[] {
  // The first line holds the key before the scalar: blank it out, keeping columns.
  const sourceLines = fileLines.slice();
  const first = sourceLines[start.line - 1] ?? '';
  const opening = first.slice(start.col - 1).replace(/^["']/, ' ');
  sourceLines[start.line - 1] = ' '.repeat(start.col - 1) + opening;
  const origins: LineOrigin[] = [];
  let next = start.line - 1; // 0-based index of the next source line to consider
  let last: LineOrigin = { line: start.line, columnOffset: 0 };
  for (const valueLine of value.split('\n')) {
    const wanted = valueLine.trim();
    if (!wanted) {
      origins.push(last);
      continue;
    }
    let found = -1;
    for (let i = next; i < sourceLines.length; i++) {
      const src = sourceLines[i].trim();
      if (src && wanted.startsWith(src)) {
        found = i;
        break;
      }
    }
    if (found < 0) {
      origins.push(last);
      continue;
    }
    const src = sourceLines[found];
    last = { line: found + 1, columnOffset: indentOf(src) - indentOf(valueLine) };
    origins.push(last);
    // A folded value line may span several source lines: consume them all.
    let rest = wanted.slice(src.trim().length).trim();
    next = found + 1;
    while (rest && next < sourceLines.length) {
      const more = sourceLines[next].trim();
      if (!more || !rest.startsWith(more)) break;
      rest = rest.slice(more.length).trim();
      next++;
    }
  }
  return origins;
}
