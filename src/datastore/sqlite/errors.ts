/** SQLite failures a client should retry (locked by another process, disk trouble) become UNAVAILABLE. */
import { datastoreUnavailable } from '../../errors/index.js';

const RETRYABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/;

export function mapSqliteError(error: unknown): unknown {
  if (
    error instanceof Error &&
    error.name === 'SqliteError' &&
    RETRYABLE.test((error as Error & { code: string }).code)
  ) {
    return datastoreUnavailable('SQLite datastore', error.message);
  }
  return error;
}

/** Runs `fn`, translating SQLite errors. */
export function sqliteCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw mapSqliteError(e);
  }
}
