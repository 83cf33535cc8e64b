/**
 * pino, as `--log-format json` (one JSON object per line) or `console` (one readable line per
 * record), on stderr so stdout stays free for tools. Credentials are redacted wherever they appear.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type LogFormat = 'json' | 'console';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const REDACT = [
  'authorization',
  '*.authorization',
  'presharedKeys',
  '*.presharedKeys',
  'grpcPresharedKey',
  '*.grpcPresharedKey',
];

export function createLogger(level: LogLevel, format: LogFormat, out: NodeJS.WritableStream = process.stderr): Logger {
  const options = { level, base: { service: 'pemba' }, redact: { paths: REDACT, censor: '[redacted]' } };
  return pino(options, format === 'json' ? (out as DestinationStream) : consoleStream(out));
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRC', 20: 'DBG', 30: 'INF', 40: 'WRN', 50: 'ERR', 60: 'FTL' };

/** Turns pino's JSON lines into `time LVL message key=value …`. */
function consoleStream(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const { time, level, msg, service: _service, pid: _pid, hostname: _hostname, ...rest } = record;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const when = new Date(Number(time)).toISOString();
      out.write(`${when} ${LEVEL_NAMES[Number(level)] ?? level} ${String(msg ?? '')}${fields ? ' ' + fields : ''}\n`);
    },
  };
}
