/**
 * Catalog ids: ULIDs from one monotonic factory per process, so ids made here sort in the order they
 * were made, even within a millisecond. A store's models must sort by creation across a fleet too,
 * whose clocks differ a little: a model's id is made greater than the newest one the store has.
 */
import { incrementBase32, monotonicFactory } from 'ulid';

const next = monotonicFactory();

/** A new ULID whose time part is `nowMs`. */
export function newId(nowMs: number): string {
  return next(nowMs);
}

/** A new ULID greater than `latest` (a model id of the same store), whatever this process's clock says. */
export function idAfter(latest: string | undefined, nowMs: number): string {
  const id = next(nowMs);
  return latest !== undefined && id <= latest ? incrementBase32(latest) : id;
}
