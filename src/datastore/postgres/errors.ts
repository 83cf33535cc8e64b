/**
 * Connection failures (refused, reset, server shutting down, pool timeout) become UNAVAILABLE, which
 * clients retry; the pool replaces broken connections by itself. Other errors pass through.
 */
import { datastoreUnavailable, PembaError } from '../../errors/index.js';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01', // admin_shutdown (server restarting, or the connection was terminated)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '53300', // too_many_connections
]);
const CONNECTION_MESSAGES =
  /Connection terminated|connection error|timeout exceeded when trying to connect|Client was closed|Cannot use a pool after calling end|the database system is (starting up|shutting down)/i;

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  // SQLSTATE class 08 is "connection exception".
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || /^08...$/.test(code))) return true;
  return CONNECTION_MESSAGES.test(error.message);
}

export function mapPgError(error: unknown): unknown {
  if (error instanceof PembaError || !isConnectionError(error)) return error;
  return datastoreUnavailable('PostgreSQL datastore', (error as Error).message);
}
