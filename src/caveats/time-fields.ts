/**
 * Calendar fields of a timestamp in a time zone, for CEL's `getFullYear()`, `getHours('Europe/Paris')`
 * and the like. Computed in UTC arithmetic (not with the process's local-time `Date`, which is what
 * @bufbuild/cel 0.6.1 does, getting years below 100 and the server's own DST gaps wrong); time zones as
 * cel-go reads them: none or `UTC` for UTC, `±HH:MM` offsets, otherwise an IANA name.
 */
import { civilFromDays, daysFromCivil, type Instant } from './go-time.js';

export interface TimeFields {
  year: number;
  /** 0-11 */
  month: number;
  /** 1-31 */
  day: number;
  /** 0 = Sunday */
  dayOfWeek: number;
  /** 0-365 */
  dayOfYear: number;
  hours: number;
  minutes: number;
  seconds: number;
  milliseconds: number;
}

export function timeFields(t: Instant, zone?: string): TimeFields {
  const local = Number(t.seconds) + offsetSeconds(t, zone);
  const days = Math.floor(local / 86_400);
  const rest = local - days * 86_400;
  const [year, month, day] = civilFromDays(days);
  return {
    year,
    month: month - 1,
    day,
    dayOfWeek: (((days + 4) % 7) + 7) % 7, // 1970-01-01 was a Thursday
    dayOfYear: days - daysFromCivil(year, 1, 1),
    hours: Math.floor(rest / 3600),
    minutes: Math.floor(rest / 60) % 60,
    seconds: rest % 60,
    milliseconds: Math.floor(t.nanos / 1e6),
  };
}

function offsetSeconds(t: Instant, zone: string | undefined): number {
  if (zone === undefined || zone === '' || zone === 'UTC') return 0;
  const colon = zone.indexOf(':');
  if (colon >= 0) {
    // cel-go: hours and minutes as Go's Atoi reads them; a leading `-` makes the whole offset negative.
    const h = zone.slice(0, colon);
    const m = zone.slice(colon + 1);
    if (!/^[+-]?\d+$/.test(h) || !/^[+-]?\d+$/.test(m)) throw new Error(`invalid time zone offset ${zone}`);
    const minutes = zone.startsWith('-') ? Number(h) * 60 - Number(m) : Number(h) * 60 + Number(m);
    return minutes * 60;
  }
  return ianaOffset(zone, t);
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone);
  if (f) return f;
  try {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
  } catch {
    throw new Error(`unknown time zone ${zone}`);
  }
  // Go's zone names are case-sensitive; Intl's are not.
  const resolved = f.resolvedOptions().timeZone;
  if (resolved !== zone && resolved.toLowerCase() === zone.toLowerCase()) throw new Error(`unknown time zone ${zone}`);
  if (formats.size > 1000) formats.clear();
  formats.set(zone, f);
  return f;
}

/** The zone's UTC offset at instant `t`, from the wall-clock time Intl reports there. */
function ianaOffset(zone: string, t: Instant): number {
  const parts: Record<string, string> = {};
  const ms = Number(t.seconds) * 1000;
  for (const p of formatFor(zone).formatToParts(new Date(ms))) parts[p.type] = p.value;
  let year = Number(parts.year);
  if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
  const wall =
    daysFromCivil(year, Number(parts.month), Number(parts.day)) * 86_400 +
    Number(parts.hour) * 3600 +
    Number(parts.minute) * 60 +
    Number(parts.second);
  return wall - Math.floor(ms / 1000);
}
