/**
 * cel-go's behaviour where @bufbuild/cel 0.6.1 differs: `timestamp(int)` counts seconds, timestamp
 * accessors work in UTC arithmetic with Go's zone rules, `int(duration)` is nanoseconds,
 * `duration(int)` fails, `string()` of doubles, timestamps and durations prints as Go does, and
 * string-to-number/time conversions parse as Go does.
 */
import { celFunc, celMethod, CelScalar, celUint, objectType, type CelFunc } from '@bufbuild/cel';
import type { ReflectMessage } from '@bufbuild/protobuf/reflect';
import { DurationSchema, TimestampSchema } from '@bufbuild/protobuf/wkt';
import {
  formatDuration,
  formatGoDouble,
  formatRfc3339Nano,
  parseGoDuration,
  parseGoFloat,
  parseGoInt,
  parseRfc3339,
} from './go-time.js';
import { timeFields, type TimeFields } from './time-fields.js';
import { durationValue, timestampValue } from './values.js';

const { DOUBLE, INT, STRING, UINT } = CelScalar;
const TIMESTAMP = objectType(TimestampSchema);
const DURATION = objectType(DurationSchema);

/** CEL's timestamp range: years 1 to 9999. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

const nanosOf = (d: ReflectMessage): bigint => {
  const m = d.message as unknown as { seconds: bigint; nanos: number };
  return m.seconds * 1_000_000_000n + BigInt(m.nanos);
};

const ACCESSORS: Record<string, (f: TimeFields) => number> = {
  getFullYear: (f) => f.year,
  getMonth: (f) => f.month,
  getDayOfYear: (f) => f.dayOfYear,
  getDayOfMonth: (f) => f.day - 1,
  getDate: (f) => f.day,
  getDayOfWeek: (f) => f.dayOfWeek,
  getHours: (f) => f.hours,
  getMinutes: (f) => f.minutes,
  getSeconds: (f) => f.seconds,
  getMilliseconds: (f) => f.milliseconds,
};

function timestampAccessors(): CelFunc[] {
  return Object.entries(ACCESSORS).flatMap(([name, field]) => {
    const get = (t: ReflectMessage, zone?: string) =>
      BigInt(field(timeFields(t.message as unknown as { seconds: bigint; nanos: number }, zone)));
    return [
      celMethod(name, TIMESTAMP, [], INT, function (this: ReflectMessage) {
        return get(this);
      }),
      celMethod(name, TIMESTAMP, [STRING], INT, function (this: ReflectMessage, zone: string) {
        return get(this, zone);
      }),
    ];
  });
}

export const celGoFunctions: CelFunc[] = [
  celFunc('timestamp', [INT], TIMESTAMP, (seconds: bigint) => timestampValue({ seconds, nanos: 0 })),
  celFunc('string', [TIMESTAMP], STRING, (t: ReflectMessage) => {
    const m = t.message as unknown as { seconds: bigint; nanos: number };
    return formatRfc3339Nano({ seconds: m.seconds, nanos: m.nanos });
  }),
  celFunc('string', [DURATION], STRING, (d: ReflectMessage) => {
    const m = d.message as unknown as { seconds: bigint; nanos: number };
    return formatDuration(m.seconds, m.nanos);
  }),
  celFunc('string', [DOUBLE], STRING, formatGoDouble),
  celFunc('int', [DURATION], INT, (d: ReflectMessage) => nanosOf(d)),
  celFunc('duration', [INT], DURATION, () => {
    throw new Error(`type conversion error from 'int' to 'google.protobuf.Duration'`);
  }),
  celMethod('getMilliseconds', DURATION, [], INT, function (this: ReflectMessage) {
    return nanosOf(this) / 1_000_000n;
  }),
  ...timestampAccessors(),
  celFunc('int', [STRING], INT, (s: string) => parseGoInt(s, 'int')),
  celFunc('uint', [STRING], UINT, (s: string) => celUint(parseGoInt(s, 'uint'))),
  celFunc('double', [STRING], DOUBLE, parseGoFloat),
  celFunc('timestamp', [STRING], TIMESTAMP, (text: string) => {
    let t;
    try {
      t = parseRfc3339(text);
    } catch {
      throw new Error(`type conversion error from 'string' to 'google.protobuf.Timestamp'`);
    }
    if (t.seconds < MIN_TIMESTAMP_SECONDS || t.seconds > MAX_TIMESTAMP_SECONDS) throw new Error('timestamp overflow');
    return timestampValue(t);
  }),
  celFunc('duration', [STRING], DURATION, (text: string) => {
    try {
      return durationValue(parseGoDuration(text));
    } catch {
      throw new Error(`type conversion error from 'string' to 'google.protobuf.Duration'`);
    }
  }),
];
