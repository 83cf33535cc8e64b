/**
 * Durations and timestamps read the way SpiceDB reads them from caveat context (Go's
 * `time.ParseDuration` and `time.Parse(time.RFC3339, …)`), and printed the way cel-go prints them.
 */

const MAX_INT64 = (1n << 63n) - 1n;

const DURATION_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // µ (micro sign)
  ['\u03bcs', 1_000n], // μ (Greek mu)
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const quote = (s: string) => JSON.stringify(s);

/** Nanoseconds of a Go duration string such as `1h30m`, `-1.5s` or `300ms`; throws Go's error text. */
export function parseGoDuration(text: string): bigint {
  const invalid = () => new Error(`time: invalid duration ${quote(text)}`);
  let s = text;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let total = 0n;
  while (s !== '') {
    if (!/^[0-9.]/.test(s)) throw invalid();
    const whole = /^[0-9]*/.exec(s)![0];
    s = s.slice(whole.length);
    let fraction = '';
    let hasFraction = false;
    if (s[0] === '.') {
      fraction = /^\.([0-9]*)/.exec(s)![1];
      s = s.slice(1 + fraction.length);
      hasFraction = fraction !== '';
    }
    if (whole === '' && !hasFraction) throw invalid();
    const unitText = /^[^0-9.]*/.exec(s)![0];
    if (unitText === '') throw new Error(`time: missing unit in duration ${quote(text)}`);
    s = s.slice(unitText.length);
    const unit = DURATION_UNITS.get(unitText);
    if (unit === undefined) throw new Error(`time: unknown unit ${quote(unitText)} in duration ${quote(text)}`);
    let v = whole === '' ? 0n : BigInt(whole);
    if (v > (1n << 63n) / unit) throw invalid();
    v *= unit;
    if (hasFraction) {
      // Go scales the fraction in float64; digits past 19 do not change the result.
      const digits = fraction.slice(0, 19);
      v += BigInt(Math.floor(Number(digits) * (Number(unit) / 10 ** digits.length)));
      if (v > 1n << 63n) throw invalid();
    }
    total += v;
    if (total > 1n << 63n) throw invalid();
  }
  if (negative) return -total;
  if (total > MAX_INT64) throw invalid();
  return total;
}

export interface Instant {
  seconds: bigint;
  nanos: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 timestamp (`2024-01-01T10:00:00Z`, `…+01:00`, fractional seconds allowed). */
export function parseRfc3339(text: string): Instant {
  const m = RFC3339.exec(text);
  const bad = (why: string) => new Error(`parsing time ${quote(text)}${why}`);
  if (!m) throw bad(` as "2006-01-02T15:04:05Z07:00": cannot parse`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12) throw bad(': month out of range');
  if (day < 1 || day > daysInMonth(year, month)) throw bad(': day out of range');
  if (hour > 23) throw bad(': hour out of range');
  if (minute > 59) throw bad(': minute out of range');
  if (second > 59) throw bad(': second out of range');
  let offset = 0;
  if (m[8] !== 'Z') {
    // Go does not range-check the offset (`+24:00` and `+01:60` parse).
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    offset = (m[8][0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const days = daysFromCivil(year, month, day);
  const seconds = BigInt(days) * 86_400n + BigInt(hour * 3600 + minute * 60 + second - offset);
  // Go keeps nine digits of a longer fraction.
  const nanos = m[7] ? Number(m[7].slice(0, 9).padEnd(9, '0')) : 0;
  return { seconds, nanos };
}

/** Go's `time.RFC3339Nano` in UTC, which cel-go uses for `string(timestamp)`. */
export function formatRfc3339Nano(t: Instant): string {
  const days = Number(t.seconds >= 0n ? t.seconds / 86_400n : (t.seconds - 86_399n) / 86_400n);
  const rest = Number(t.seconds - BigInt(days) * 86_400n);
  const [y, mo, d] = civilFromDays(days);
  const two = (n: number) => String(n).padStart(2, '0');
  const frac = t.nanos === 0 ? '' : `.${String(t.nanos).padStart(9, '0').replace(/0+$/, '')}`;
  const year = y < 0 ? `-${String(-y).padStart(4, '0')}` : String(y).padStart(4, '0');
  return `${year}-${two(mo)}-${two(d)}T${two(Math.floor(rest / 3600))}:${two(Math.floor(rest / 60) % 60)}:${two(rest % 60)}${frac}Z`;
}

/** cel-go's `string(duration)`: seconds as a plain decimal, then `s` (`5400s`, `1.5s`, `-0.001s`). */
export function formatDuration(seconds: bigint, nanos: number): string {
  const total = seconds * 1_000_000_000n + BigInt(nanos);
  const abs = total < 0n ? -total : total;
  const whole = abs / 1_000_000_000n;
  const frac = String(abs % 1_000_000_000n)
    .padStart(9, '0')
    .replace(/0+$/, '');
  return `${total < 0n ? '-' : ''}${whole}${frac ? `.${frac}` : ''}s`;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

export function civilFromDays(z: number): [number, number, number] {
  z += 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

/** Go's `strconv.FormatFloat(x, 'g', -1, 64)`, cel-go's `string(double)`: `1e+06`, `0.1`, `1e-07`. */
export function formatGoDouble(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, exp] = x.toExponential().split('e');
  const e = Number(exp);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace(/^-/, '').replace('.', '');
  let text: string;
  // Shortest 'g' uses exponent form from 1e+06 up and below 1e-04.
  if (e < -4 || e >= 6) {
    text = `${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  } else if (e < 0) {
    text = `0.${'0'.repeat(-e - 1)}${digits}`;
  } else {
    text =
      digits.length > e + 1
        ? `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`
        : digits + '0'.repeat(e + 1 - digits.length);
  }
  return negative ? `-${text}` : text;
}

/** cel-go's `int(string)` / `uint(string)`: Go's strict base-10 `ParseInt` / `ParseUint`. */
export function parseGoInt(text: string, kind: 'int' | 'uint'): bigint {
  const ok = kind === 'int' ? /^[+-]?[0-9]+$/ : /^[0-9]+$/;
  const fail = () => new Error(`type conversion error from 'string' to '${kind}'`);
  if (!ok.test(text)) throw fail();
  const n = BigInt(text);
  const [min, max] = kind === 'int' ? [-(1n << 63n), (1n << 63n) - 1n] : [0n, (1n << 64n) - 1n];
  if (n < min || n > max) throw fail();
  return n;
}

/** cel-go's `double(string)`: Go's `ParseFloat`, which also reads `inf`, `infinity` and `nan`. */
export function parseGoFloat(text: string): number {
  if (/^[+-]?(inf|infinity)$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(text)) return NaN;
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text)) {
    throw new Error(`type conversion error from 'string' to 'double'`);
  }
  return Number(text);
}
