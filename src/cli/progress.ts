/**
 * Progress of a long bulk operation: on a terminal, a bar redrawn in place on stderr (a few times a
 * second, so it costs nothing); elsewhere nothing until the one-line summary, which is what logs and
 * scripts want: `imported 1000000 relationships in 42.1 s (23,700/s)`.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Progress {
  /** `count` items so far; `fraction` (0..1) of the input consumed, when known. */
  update(count: number, fraction?: number): void;
  /** Clears the bar (if any). */
  clear(): void;
}

const REDRAW_MS = 100;

export function startProgress(stream: ProgressStream, verb: string, now: () => number = Date.now): Progress {
  const started = now();
  let last = 0;
  let drawn = false;
  return {
    update(count, fraction) {
      if (!stream.isTTY) return;
      const t = now();
      if (t - last < REDRAW_MS) return;
      last = t;
      const rate = `${formatRate(count, t - started)}/s`;
      const label = `${verb} ${count.toLocaleString('en-US')} relationships  ${rate}`;
      let line = label;
      if (fraction !== undefined) {
        const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 10));
        const f = Math.min(1, Math.max(0, fraction));
        const filled = Math.round(f * width);
        line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}%  ${label}`;
      }
      stream.write(`\r${line}\x1b[K`);
      drawn = true;
    },
    clear() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/** `imported 1000000 relationships in 42.1 s (23,700/s)`. */
export function summaryLine(verb: string, count: number, ms: number): string {
  return `${verb} ${count} relationship${count === 1 ? '' : 's'} in ${(ms / 1000).toFixed(1)} s (${formatRate(count, ms)}/s)`;
}

/** Items per second to three significant figures, with thousands separators: 23,700. */
export function formatRate(count: number, ms: number): string {
  const perSecond = count / (Math.max(ms, 1) / 1000);
  if (perSecond === 0) return '0';
  if (perSecond < 1) return perSecond.toPrecision(2);
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(perSecond)) - 2);
  return (Math.round(perSecond / magnitude) * magnitude).toLocaleString('en-US');
}
