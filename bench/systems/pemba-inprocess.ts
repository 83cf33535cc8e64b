/**
 * Pemba as a library in the benchmark process: the engine without any transport, over the memory
 * datastore, over SQLite (a file in a fresh temporary directory, removed on close) or over
 * PostgreSQL (a throwaway database on the local server, dropped on close).
 */
import { openDatastore } from '../../src/datastore/factory.js';
import { Pemba } from '../../src/pemba.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { Consistency } from '../../src/requests/requests.js';
import type { CheckQuery, LookupResourcesQuery, LookupSubjectsQuery } from '../datasets/dataset.js';
import type { StorageOptions } from './storage.js';
import { openBenchStorage, withMirror } from './storage.js';
import type { Engine, System } from './system.js';
import { collectGarbage, PEMBA_SYSTEMS, settleDatastore } from './system.js';

export class PembaInProcess implements System {
  private token: string | undefined;

  private constructor(
    readonly name: 'pemba' | 'pemba-sqlite' | 'pemba-postgres',
    private readonly pemba: Pemba,
    private readonly cleanup: () => Promise<void> = async () => undefined,
  ) {}

  /** The memory datastore as `Pemba.open()` makes it. */
  static async start(): Promise<PembaInProcess> {
    return new PembaInProcess('pemba', await Pemba.open());
  }

  /**
   * A durable engine with its production settings (SQLite: WAL, synchronous=FULL; PostgreSQL: the
   * default pool), opened with openDatastore as `pemba serve` does; background GC off, as nothing
   * expires here. The mirror follows `options.mirror` (Pemba's default: on).
   */
  static async startDurable(engine: Exclude<Engine, 'memory'>, options: StorageOptions = {}): Promise<PembaInProcess> {
    const storage = await openBenchStorage(engine, options);
    try {
      const datastore = await openDatastore(
        withMirror({ engine, connUri: storage.connUri, gcIntervalMs: 0 }, options.mirror),
      );
      return new PembaInProcess(
        PEMBA_SYSTEMS.inprocess[engine] as 'pemba-sqlite' | 'pemba-postgres',
        await Pemba.open({ datastore }),
        storage.cleanup,
      );
    } catch (e) {
      await storage.cleanup();
      throw e;
    }
  }

  private get consistency(): Consistency {
    return this.token ? { mode: 'at_least_as_fresh', token: this.token } : { mode: 'fully_consistent' };
  }

  async writeSchema(schema: string): Promise<void> {
    this.token = (await this.pemba.writeSchema(schema)).token;
  }

  /** ImportBulkRelationships' library form: one transaction, fed batch by batch. */
  async load(batches: Iterable<Relationship[]>): Promise<number> {
    const { token, count } = await this.pemba.importRelationships(batches);
    this.token = token;
    return count;
  }

  async check(q: CheckQuery): Promise<boolean> {
    const r = await this.pemba.check({ ...q, consistency: this.consistency });
    return r.permissionship === 'HAS_PERMISSION';
  }

  concurrentCheck(q: CheckQuery): Promise<boolean> {
    return this.check(q);
  }

  async checkBulk(qs: CheckQuery[]): Promise<boolean[]> {
    const { results } = await this.pemba.checkBulk(qs, this.consistency);
    return results.map((r) => {
      if (r.error) throw r.error;
      return r.permissionship === 'HAS_PERMISSION';
    });
  }

  async lookupResources(q: LookupResourcesQuery): Promise<number> {
    let n = 0;
    for await (const _ of this.pemba.lookupResources({ ...q, consistency: this.consistency })) n++;
    return n;
  }

  async lookupSubjects(q: LookupSubjectsQuery): Promise<number> {
    let n = 0;
    for await (const _ of this.pemba.lookupSubjects({ ...q, consistency: this.consistency })) n++;
    return n;
  }

  async touch(relationship: Relationship): Promise<void> {
    this.token = (await this.pemba.writeRelationships({ updates: [{ operation: 'TOUCH', relationship }] })).token;
  }

  settle(): Promise<void> {
    return settleDatastore(this.pemba.datastore);
  }

  async rss(): Promise<number> {
    collectGarbage();
    return process.memoryUsage().rss;
  }

  async close(): Promise<void> {
    await this.pemba.close();
    await this.cleanup();
  }
}
