/**
 * The catalog of the memory datastore: in the process, gone with it. Its state belongs to the
 * datastore (see openCatalog), so every catalog opened over one datastore sees the same stores.
 * Models and assertions are kept as JSON text, as the SQL catalogs keep them, so a caller's later
 * change to what it wrote changes nothing here.
 */
import type { AuthorizationModel } from '../model/types.js';
import type { Catalog, ModelRecord, Page, StoreRecord } from './catalog.js';
import { idAfter, newId } from './ids.js';
import { frozenRecord, modelJson } from './model-cache.js';
import { unknownModel, unknownStore } from './not-found.js';

interface StoreEntry {
  record: StoreRecord;
  /** Ascending by id (which is creation order). */
  models: ModelRecord[];
  /** JSON text by model id. */
  assertions: Map<string, string>;
}

/** The catalog's contents: live stores by id, in id order (ids are made increasing). */
export class MemoryCatalogState {
  readonly stores = new Map<string, StoreEntry>();
}

export class MemoryCatalog implements Catalog {
  constructor(private readonly state = new MemoryCatalogState()) {}

  async createStore(name: string): Promise<StoreRecord> {
    const now = Date.now();
    const id = newId(now);
    const record = { id, name, createdAt: new Date(now), updatedAt: new Date(now) };
    this.state.stores.set(id, { record, models: [], assertions: new Map() });
    return copyStore(record);
  }

  async getStore(id: string): Promise<StoreRecord | undefined> {
    const entry = this.state.stores.get(id);
    return entry && copyStore(entry.record);
  }

  async listStores(page: Page & { name?: string }): Promise<StoreRecord[]> {
    const out: StoreRecord[] = [];
    for (const { record } of this.state.stores.values()) {
      if (out.length >= page.limit) break;
      if (page.after !== undefined && record.id <= page.after) continue;
      if (page.name !== undefined && record.name !== page.name) continue;
      out.push(copyStore(record));
    }
    return out;
  }

  async deleteStore(id: string): Promise<boolean> {
    return this.state.stores.delete(id);
  }

  async writeModel(storeId: string, model: AuthorizationModel): Promise<ModelRecord> {
    const entry = this.live(storeId);
    const now = Date.now();
    const id = idAfter(entry.models[entry.models.length - 1]?.id, now);
    const record = frozenRecord({
      id,
      storeId,
      model: JSON.parse(modelJson(model)) as AuthorizationModel,
      createdAt: new Date(now),
    });
    entry.models.push(record);
    return record;
  }

  async getModel(storeId: string, modelId: string): Promise<ModelRecord | undefined> {
    return this.state.stores.get(storeId)?.models.find((m) => m.id === modelId);
  }

  async latestModel(storeId: string): Promise<ModelRecord | undefined> {
    return this.state.stores.get(storeId)?.models.at(-1);
  }

  async listModels(storeId: string, page: Page): Promise<ModelRecord[]> {
    const models = this.state.stores.get(storeId)?.models ?? [];
    const out: ModelRecord[] = [];
    for (let i = models.length - 1; i >= 0 && out.length < page.limit; i--) {
      if (page.after === undefined || models[i].id < page.after) out.push(models[i]);
    }
    return out;
  }

  async writeAssertions(storeId: string, modelId: string, assertions: unknown[]): Promise<void> {
    const entry = this.live(storeId);
    if (!entry.models.some((m) => m.id === modelId)) throw unknownModel(storeId, modelId);
    entry.assertions.set(modelId, JSON.stringify(assertions));
  }

  async readAssertions(storeId: string, modelId: string): Promise<unknown[]> {
    const text = this.state.stores.get(storeId)?.assertions.get(modelId);
    return text === undefined ? [] : (JSON.parse(text) as unknown[]);
  }

  /** The state belongs to the datastore, which outlives a catalog. */
  async close(): Promise<void> {}

  private live(storeId: string): StoreEntry {
    const entry = this.state.stores.get(storeId);
    if (!entry) throw unknownStore(storeId);
    return entry;
  }
}

function copyStore(r: StoreRecord): StoreRecord {
  return { id: r.id, name: r.name, createdAt: new Date(r.createdAt), updatedAt: new Date(r.updatedAt) };
}
