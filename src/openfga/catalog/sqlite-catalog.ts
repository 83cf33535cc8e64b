/**
 * The catalog of the SQLite datastore: tables in the same file (migration 4), read on the
 * datastore's reader connection and written on its writer between its group commits (sideRead,
 * sideWrite), so other processes using the file see every change as soon as it commits. Only parsed
 * models are kept in memory (model-cache.ts).
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatastore } from '../../datastore/sqlite/datastore.js';
import type { AuthorizationModel } from '../model/types.js';
import type { Catalog, ModelRecord, Page, StoreRecord } from './catalog.js';
import { idAfter, newId } from './ids.js';
import { ModelCache, modelJson } from './model-cache.js';
import { unknownModel, unknownStore } from './not-found.js';

type Db = BetterSqlite3.Database;

interface StoreRow {
  id: string;
  name: string;
  created_at: number;
  updated_at: number;
}

interface ModelRow {
  id: string;
  created_at: number;
}

const LIVE_STORE = 'SELECT 1 FROM openfga_stores WHERE id = ? AND deleted_at IS NULL';
const LATEST_ID = 'SELECT max(id) FROM openfga_models WHERE store_id = ?';

export class SqliteCatalog implements Catalog {
  private readonly models = new ModelCache();
  /** Prepared statements by connection and SQL text. */
  private readonly statements = new WeakMap<Db, Map<string, BetterSqlite3.Statement>>();

  constructor(private readonly datastore: SqliteDatastore) {}

  async createStore(name: string): Promise<StoreRecord> {
    const now = Date.now();
    const id = newId(now);
    await this.write((db) =>
      this.stmt(db, 'INSERT INTO openfga_stores (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)').run(
        id,
        name,
        now,
        now,
      ),
    );
    return { id, name, createdAt: new Date(now), updatedAt: new Date(now) };
  }

  async getStore(id: string): Promise<StoreRecord | undefined> {
    const row = this.read(
      (db) =>
        this.stmt(
          db,
          'SELECT id, name, created_at, updated_at FROM openfga_stores WHERE id = ? AND deleted_at IS NULL',
        ).get(id) as StoreRow | undefined,
    );
    return row && storeRecord(row);
  }

  async listStores(page: Page & { name?: string }): Promise<StoreRecord[]> {
    // Two statements, so that a name lookup uses the index on names.
    const byName = page.name === undefined ? '' : 'AND name = @name ';
    const rows = this.read(
      (db) =>
        this.stmt(
          db,
          `SELECT id, name, created_at, updated_at FROM openfga_stores WHERE deleted_at IS NULL ${byName}` +
            'AND id > @after ORDER BY id LIMIT @limit',
        ).all({
          after: page.after ?? '',
          limit: page.limit,
          ...(page.name !== undefined && { name: page.name }),
        }) as StoreRow[],
    );
    return rows.map(storeRecord);
  }

  async deleteStore(id: string): Promise<boolean> {
    const deleted = await this.write((db) => {
      const now = Date.now();
      const { changes } = this.stmt(
        db,
        'UPDATE openfga_stores SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL',
      ).run(now, now, id);
      if (changes === 0) return false;
      this.stmt(db, 'DELETE FROM openfga_models WHERE store_id = ?').run(id);
      this.stmt(db, 'DELETE FROM openfga_assertions WHERE store_id = ?').run(id);
      return true;
    });
    if (deleted) this.models.forgetStore(id);
    return deleted;
  }

  async writeModel(storeId: string, model: AuthorizationModel): Promise<ModelRecord> {
    const json = modelJson(model);
    const now = Date.now();
    const id = await this.write((db) => {
      if (!this.stmt(db, LIVE_STORE).get(storeId)) throw unknownStore(storeId);
      const latest = this.stmt(db, LATEST_ID).pluck().get(storeId) as string | null;
      const id = idAfter(latest ?? undefined, now);
      this.stmt(db, 'INSERT INTO openfga_models (store_id, id, model_json, created_at) VALUES (?, ?, ?, ?)').run(
        storeId,
        id,
        json,
        now,
      );
      return id;
    });
    return this.models.record(storeId, id, json, new Date(now));
  }

  async getModel(storeId: string, modelId: string): Promise<ModelRecord | undefined> {
    return this.read((db) => {
      const row = this.stmt(db, 'SELECT id, created_at FROM openfga_models WHERE store_id = ? AND id = ?').get(
        storeId,
        modelId,
      ) as ModelRow | undefined;
      return row && this.modelRecord(db, storeId, row);
    });
  }

  async latestModel(storeId: string): Promise<ModelRecord | undefined> {
    return this.read((db) => {
      const row = this.stmt(
        db,
        'SELECT id, created_at FROM openfga_models WHERE store_id = ? ORDER BY id DESC LIMIT 1',
      ).get(storeId) as ModelRow | undefined;
      return row && this.modelRecord(db, storeId, row);
    });
  }

  async listModels(storeId: string, page: Page): Promise<ModelRecord[]> {
    return this.read((db) => {
      const rows = (
        page.after === undefined
          ? this.stmt(db, 'SELECT id, created_at FROM openfga_models WHERE store_id = ? ORDER BY id DESC LIMIT ?').all(
              storeId,
              page.limit,
            )
          : this.stmt(
              db,
              'SELECT id, created_at FROM openfga_models WHERE store_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
            ).all(storeId, page.after, page.limit)
      ) as ModelRow[];
      return rows.map((row) => this.modelRecord(db, storeId, row));
    });
  }

  async writeAssertions(storeId: string, modelId: string, assertions: unknown[]): Promise<void> {
    const json = JSON.stringify(assertions);
    await this.write((db) => {
      if (!this.stmt(db, LIVE_STORE).get(storeId)) throw unknownStore(storeId);
      if (!this.stmt(db, 'SELECT 1 FROM openfga_models WHERE store_id = ? AND id = ?').get(storeId, modelId))
        throw unknownModel(storeId, modelId);
      this.stmt(
        db,
        'INSERT INTO openfga_assertions (store_id, model_id, assertions_json) VALUES (?, ?, ?) ' +
          'ON CONFLICT (store_id, model_id) DO UPDATE SET assertions_json = excluded.assertions_json',
      ).run(storeId, modelId, json);
    });
  }

  async readAssertions(storeId: string, modelId: string): Promise<unknown[]> {
    const text = this.read(
      (db) =>
        this.stmt(db, 'SELECT assertions_json FROM openfga_assertions WHERE store_id = ? AND model_id = ?')
          .pluck()
          .get(storeId, modelId) as string | undefined,
    );
    return text === undefined ? [] : (JSON.parse(text) as unknown[]);
  }

  /** The connection is the datastore's, closed with it. */
  async close(): Promise<void> {}

  /** A model's record: the cached one, or parsed from its JSON (read in the same read transaction). */
  private modelRecord(db: Db, storeId: string, row: ModelRow): ModelRecord {
    const known = this.models.get(storeId, row.id);
    if (known) return known;
    const json = this.stmt(db, 'SELECT model_json FROM openfga_models WHERE store_id = ? AND id = ?')
      .pluck()
      .get(storeId, row.id) as string;
    return this.models.record(storeId, row.id, json, new Date(row.created_at));
  }

  private read<T>(fn: (db: Db) => T): T {
    return this.datastore.sideRead(fn);
  }

  private write<T>(fn: (db: Db) => T): Promise<T> {
    return this.datastore.sideWrite(fn);
  }

  private stmt(db: Db, sql: string): BetterSqlite3.Statement {
    let cache = this.statements.get(db);
    if (!cache) this.statements.set(db, (cache = new Map()));
    let stmt = cache.get(sql);
    if (!stmt) cache.set(sql, (stmt = db.prepare(sql)));
    return stmt;
  }
}

function storeRecord(row: StoreRow): StoreRecord {
  return { id: row.id, name: row.name, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) };
}
