/** Number formatting for the report. */

/** Milliseconds with three significant digits (0.0412, 1.23, 29.4, 1,130). */
export function ms(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toPrecision(3);
}

export function count(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3);
}

export function mib(bytes: number | undefined): string {
  return bytes === undefined ? '–' : `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MiB`;
}

/** A ratio such as 0.0123 or 45.6 (×). */
export function ratio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x) || x === 0) return '–';
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3);
}

export function duration(msTotal: number): string {
  const s = Math.round(msTotal / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
