/**
 * Transaction metadata as the datastores keep it: the JSON text of the object a commit was written
 * with (WriteOptions.metadata), so every backend gives back the same thing, JSON.parse of that text.
 */
import type { TransactionMetadata } from '../datastore.js';
import { invalidArgument } from '../../errors/index.js';

/**
 * The text to store for `metadata`; undefined when there is none. Throws INVALID_ARGUMENT for what
 * JSON cannot encode (a BigInt, a cycle): made before the transaction runs, so that fails its call alone.
 */
export function metadataText(metadata: TransactionMetadata | undefined): string | undefined {
  if (metadata === undefined) return undefined;
  try {
    return JSON.stringify(metadata);
  } catch (e) {
    throw invalidArgument(`transaction metadata is not JSON: ${(e as Error).message}`);
  }
}

/** The metadata stored as `text` (null or undefined: none). */
export function parseMetadata(text: string | null | undefined): TransactionMetadata | undefined {
  return text === null || text === undefined ? undefined : (JSON.parse(text) as TransactionMetadata);
}

/** A deep, frozen copy of `metadata` as stored (the memory datastore's watchers share it). */
export function frozenMetadata(metadata: TransactionMetadata | undefined): TransactionMetadata | undefined {
  const copy = parseMetadata(metadataText(metadata));
  return copy === undefined ? undefined : deepFreeze(copy);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
