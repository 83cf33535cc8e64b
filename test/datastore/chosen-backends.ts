/**
 * Which backends the tests run on. PEMBA_TEST_BACKENDS (read here and nowhere else) chooses them: a
 * comma-separated subset of memory,sqlite,postgres, all of them when unset or empty, so a contributor
 * without PostgreSQL runs `PEMBA_TEST_BACKENDS=memory,sqlite npm test`. A suite of a backend not
 * chosen is skipped and says so in its name (describeBackend, itBackend); a test that asks for one at
 * run time (skipUnlessChosen, as test-backends.ts and postgres-harness.ts do) is skipped with that note.
 * PEMBA_TEST_POSTGRES says where PostgreSQL is, when postgres is chosen: a server URI without a
 * database (default postgres://postgres@127.0.0.1:5432).
 */
import { describe, it } from 'vitest';
import { getCurrentTest } from 'vitest/suite';

export const BACKENDS = ['memory', 'sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

/** The PostgreSQL server the postgres tests use (PEMBA_TEST_POSTGRES). */
export const TEST_POSTGRES_SERVER = process.env.PEMBA_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432';

const CHOSEN: ReadonlySet<Backend> = chosenBackends(process.env.PEMBA_TEST_BACKENDS);

function chosenBackends(setting: string | undefined): ReadonlySet<Backend> {
  if (setting === undefined || setting.trim() === '') return new Set(BACKENDS);
  const names = setting
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !(BACKENDS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(`PEMBA_TEST_BACKENDS names unknown backends (${unknown.join(', ')}): use a subset of ${BACKENDS}`);
  }
  return new Set(names as Backend[]);
}

/** Whether the tests of `backend` run (PEMBA_TEST_BACKENDS). */
export function isChosen(backend: Backend): boolean {
  return CHOSEN.has(backend);
}

/** Why a test of `backend` is skipped, for its name: `(postgres not in PEMBA_TEST_BACKENDS)`. */
export function notChosenNote(backend: Backend): string {
  return `(${backend} not in PEMBA_TEST_BACKENDS)`;
}

/** `describe` for a suite of `backend`: skipped, with why at the end of its name, when the backend is not chosen. */
export function describeBackend(backend: Backend, name: string, fn: () => void): void {
  const skip = !isChosen(backend);
  describe.skipIf(skip)(skip ? `${name} ${notChosenNote(backend)}` : name, fn);
}

/** `it` for a test of `backend` (or of several, all of which must be chosen), skipped likewise. */
export function itBackend(
  backends: Backend | readonly Backend[],
  name: string,
  fn: () => Promise<void>,
  timeout?: number,
): void {
  const missing = (typeof backends === 'string' ? [backends] : backends).filter((b) => !isChosen(b));
  const skip = missing.length > 0;
  it.skipIf(skip)(skip ? `${name} ${missing.map(notChosenNote).join(' ')}` : name, fn, timeout);
}

/**
 * Skips the running test, noting why, when `backend` is not chosen (for tests of files that pick
 * the backend at run time). Outside a test it throws instead.
 */
export function skipUnlessChosen(backend: Backend): void {
  if (isChosen(backend)) return;
  const test = getCurrentTest();
  if (!test) throw new Error(`${backend} is not in PEMBA_TEST_BACKENDS: open its datastores only inside tests`);
  test.context.skip(notChosenNote(backend));
}
