/**
 * Parsed models by id. Models are immutable, so a node may keep them (what it must not keep is
 * which models a store has, or which is its latest: that is asked of the database every time).
 * Records handed out are deeply frozen and shared: callers must copy before changing one.
 */
import type { AuthorizationModel } from '../model/types.js';
import type { ModelRecord } from './catalog.js';

/** Enough for the models in use; a miss costs one JSON parse (and, for SQL, one small read). */
const DEFAULT_CAPACITY = 512;

export class ModelCache {
  /** Least recently used first (a Map keeps insertion order). */
  private readonly entries = new Map<string, ModelRecord>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  get(storeId: string, id: string): ModelRecord | undefined {
    const key = `${storeId}/${id}`;
    const record = this.entries.get(key);
    if (record) {
      this.entries.delete(key);
      this.entries.set(key, record);
    }
    return record;
  }

  /** The record for a stored row, parsed (and kept) unless it is already here. */
  record(storeId: string, id: string, modelJson: string, createdAt: Date): ModelRecord {
    const known = this.get(storeId, id);
    if (known) return known;
    const record = frozenRecord({ id, storeId, model: JSON.parse(modelJson) as AuthorizationModel, createdAt });
    this.entries.set(`${storeId}/${id}`, record);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return record;
  }

  /** Forgets a deleted store's models. */
  forgetStore(storeId: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(`${storeId}/`)) this.entries.delete(key);
  }
}

/** The model's JSON text as stored: without `id` (the record carries it). */
export function modelJson(model: AuthorizationModel): string {
  const { id, ...rest } = model;
  return JSON.stringify(rest);
}

export function frozenRecord(record: ModelRecord): ModelRecord {
  deepFreeze(record.model);
  return Object.freeze(record);
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}
