/**
 * The catalog of the PostgreSQL datastore: tables in the same database (migration 3), used through
 * the datastore's primary pool, so every node of a fleet sees every change as soon as it commits.
 * Nothing that changes is kept in the process: which stores exist, which models a store has and
 * its latest are asked of the database every time; only parsed models are kept (model-cache.ts),
 * so a model's JSON crosses the network once per node.
 *
 * Races between nodes: writeModel locks the store's row (FOR UPDATE) before it reads the newest
 * model id and inserts, so a store's model ids increase in commit order, and a store being deleted
 * either waits for the model or refuses it; deleteStore deletes the models after its UPDATE has taken
 * that lock, in a statement of its own (a newer snapshot), so no model of a deleted store remains.
 */
import type pg from 'pg';
import type { PostgresDatastore } from '../../datastore/postgres/datastore.js';
import { query, withClient } from '../../datastore/postgres/pool.js';
import type { AuthorizationModel } from '../model/types.js';
import type { Catalog, ModelRecord, Page, StoreRecord } from './catalog.js';
import { idAfter, newId } from './ids.js';
import { ModelCache, modelJson } from './model-cache.js';
import { unknownModel, unknownStore } from './not-found.js';

interface StoreRow {
  id: string;
  name: string;
  created_at: Date;
  updated_at: Date;
}

interface ModelRow {
  id: string;
  created_at: Date;
}

/** SQLSTATE foreign_key_violation: assertions of a model deleted meanwhile. */
const FOREIGN_KEY_VIOLATION = '23503';

export class PostgresCatalog implements Catalog {
  private readonly models = new ModelCache();

  constructor(private readonly datastore: PostgresDatastore) {}

  async createStore(name: string): Promise<StoreRecord> {
    const now = new Date();
    const id = newId(now.getTime());
    await this.pool((pool) =>
      query(pool, 'INSERT INTO openfga_stores (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)', [
        id,
        name,
        now,
      ]),
    );
    return { id, name, createdAt: now, updatedAt: new Date(now) };
  }

  async getStore(id: string): Promise<StoreRecord | undefined> {
    const { rows } = await this.pool((pool) =>
      query<StoreRow>(
        pool,
        'SELECT id, name, created_at, updated_at FROM openfga_stores WHERE id = $1 AND deleted_at IS NULL',
        [id],
      ),
    );
    return rows[0] && storeRecord(rows[0]);
  }

  async listStores(page: Page & { name?: string }): Promise<StoreRecord[]> {
    const values: unknown[] = [page.after ?? '', page.limit];
    const byName = page.name === undefined ? '' : `AND name = $${values.push(page.name)} `;
    const { rows } = await this.pool((pool) =>
      query<StoreRow>(
        pool,
        `SELECT id, name, created_at, updated_at FROM openfga_stores WHERE deleted_at IS NULL ${byName}` +
          'AND id > $1 ORDER BY id LIMIT $2',
        values,
      ),
    );
    return rows.map(storeRecord);
  }

  async deleteStore(id: string): Promise<boolean> {
    const deleted = await this.transaction(async (client) => {
      const { rowCount } = await query(
        client,
        'UPDATE openfga_stores SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL',
        [id, new Date()],
      );
      if (rowCount === 0) return false;
      // Their assertions go with them (ON DELETE CASCADE).
      await query(client, 'DELETE FROM openfga_models WHERE store_id = $1', [id]);
      return true;
    });
    if (deleted) this.models.forgetStore(id);
    return deleted;
  }

  async writeModel(storeId: string, model: AuthorizationModel): Promise<ModelRecord> {
    const json = modelJson(model);
    const now = new Date();
    const id = await this.transaction(async (client) => {
      const live = await query(client, 'SELECT 1 FROM openfga_stores WHERE id = $1 AND deleted_at IS NULL FOR UPDATE', [
        storeId,
      ]);
      if (live.rowCount === 0) throw unknownStore(storeId);
      // A statement after the lock: it sees every model committed before the lock was granted.
      const { rows } = await query<{ latest: string | null }>(
        client,
        'SELECT max(id) AS latest FROM openfga_models WHERE store_id = $1',
        [storeId],
      );
      const id = idAfter(rows[0].latest ?? undefined, now.getTime());
      await query(client, 'INSERT INTO openfga_models (store_id, id, model_json, created_at) VALUES ($1, $2, $3, $4)', [
        storeId,
        id,
        json,
        now,
      ]);
      return id;
    });
    return this.models.record(storeId, id, json, now);
  }

  async getModel(storeId: string, modelId: string): Promise<ModelRecord | undefined> {
    const [record] = await this.readModels(storeId, 'AND id = $2 LIMIT 1', [modelId]);
    return record;
  }

  async latestModel(storeId: string): Promise<ModelRecord | undefined> {
    const [record] = await this.readModels(storeId, 'ORDER BY id DESC LIMIT 1', []);
    return record;
  }

  async listModels(storeId: string, page: Page): Promise<ModelRecord[]> {
    return page.after === undefined
      ? this.readModels(storeId, 'ORDER BY id DESC LIMIT $2', [page.limit])
      : this.readModels(storeId, 'AND id < $3 ORDER BY id DESC LIMIT $2', [page.limit, page.after]);
  }

  async writeAssertions(storeId: string, modelId: string, assertions: unknown[]): Promise<void> {
    const json = JSON.stringify(assertions);
    let rowCount: number | null;
    try {
      ({ rowCount } = await this.pool((pool) =>
        query(
          pool,
          `INSERT INTO openfga_assertions (store_id, model_id, assertions_json)
           SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM openfga_stores WHERE id = $1 AND deleted_at IS NULL)
             AND EXISTS (SELECT 1 FROM openfga_models WHERE store_id = $1 AND id = $2)
           ON CONFLICT (store_id, model_id) DO UPDATE SET assertions_json = excluded.assertions_json`,
          [storeId, modelId, json],
        ),
      ));
    } catch (e) {
      if ((e as { code?: unknown }).code === FOREIGN_KEY_VIOLATION) throw unknownModel(storeId, modelId);
      throw e;
    }
    if (rowCount === 0) throw (await this.getStore(storeId)) ? unknownModel(storeId, modelId) : unknownStore(storeId);
  }

  async readAssertions(storeId: string, modelId: string): Promise<unknown[]> {
    const { rows } = await this.pool((pool) =>
      query<{ assertions_json: string }>(
        pool,
        'SELECT assertions_json FROM openfga_assertions WHERE store_id = $1 AND model_id = $2',
        [storeId, modelId],
      ),
    );
    return rows.length === 0 ? [] : (JSON.parse(rows[0].assertions_json) as unknown[]);
  }

  /** The pool is the datastore's, closed with it. */
  async close(): Promise<void> {}

  /**
   * The store's models that `tail` selects (after `WHERE store_id = $1`; its parameters from $2), as
   * records: one round trip for their ids, then one for the JSON of those not cached yet.
   */
  private async readModels(storeId: string, tail: string, values: unknown[]): Promise<ModelRecord[]> {
    const { rows } = await this.pool((pool) =>
      query<ModelRow>(pool, `SELECT id, created_at FROM openfga_models WHERE store_id = $1 ${tail}`, [
        storeId,
        ...values,
      ]),
    );
    const missing = rows.filter((row) => this.models.get(storeId, row.id) === undefined).map((row) => row.id);
    const json = new Map<string, string>();
    if (missing.length > 0) {
      const fetched = await this.pool((pool) =>
        query<{ id: string; model_json: string }>(
          pool,
          'SELECT id, model_json FROM openfga_models WHERE store_id = $1 AND id = ANY($2::text[])',
          [storeId, missing],
        ),
      );
      for (const row of fetched.rows) json.set(row.id, row.model_json);
    }
    const records: ModelRecord[] = [];
    for (const row of rows) {
      const known = this.models.get(storeId, row.id);
      const text = json.get(row.id);
      // A model deleted (with its store) between the two reads is left out.
      if (known) records.push(known);
      else if (text !== undefined) records.push(this.models.record(storeId, row.id, text, row.created_at));
    }
    return records;
  }

  private pool<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
    return this.datastore.withPrimary(fn);
  }

  /** `fn` in a transaction on a connection of its own. */
  private transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.pool((pool) =>
      withClient(pool, async (client) => {
        await query(client, 'BEGIN');
        try {
          const result = await fn(client);
          await query(client, 'COMMIT');
          return result;
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw e;
        }
      }),
    );
  }
}

function storeRecord(row: StoreRow): StoreRecord {
  return { id: row.id, name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
}
