/**
 * `--datastore-engine` → a Datastore. Each engine registers one opener; durable engines add theirs
 * here as they arrive.
 */
import type { Datastore } from '../datastore/datastore.js';
import { createMemoryDatastore } from '../datastore/memory/memory-datastore.js';

export interface DatastoreOptions {
  /** `--datastore-conn-uri`: where a durable engine keeps its data. */
  connUri?: string;
}

type Opener = (options: DatastoreOptions) => Promise<Datastore>;

const ENGINES: Record<string, Opener> = {
  memory: async () => createMemoryDatastore(),
};

export const DATASTORE_ENGINES = Object.keys(ENGINES);

export async function openDatastore(engine: string, options: DatastoreOptions = {}): Promise<Datastore> {
  const open = Object.hasOwn(ENGINES, engine) ? ENGINES[engine] : undefined;
  if (!open) {
    throw new Error(`unknown datastore engine "${engine}": supported engines are ${DATASTORE_ENGINES.join(', ')}`);
  }
  return open(options);
}
