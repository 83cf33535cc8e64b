/**
 * Pemba as a library in the benchmark process: the engine without any transport, over the memory
 * datastore or over SQLite (a file in a fresh temporary directory, removed on close).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatastore } from '../../src/datastore/factory.js';
import { Pemba } from '../../src/pemba.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { Consistency } from '../../src/requests/requests.js';
import type { CheckQuery, LookupResourcesQuery, LookupSubjectsQuery } from '../datasets/dataset.js';
import type { System } from './system.js';
import { collectGarbage } from './system.js';

export class PembaInProcess implements System {
  private token: string | undefined;

  private constructor(
    readonly name: 'pemba' | 'pemba-sqlite',
    private readonly pemba: Pemba,
    private readonly cleanup = () => {},
  ) {}

  static async start(): Promise<PembaInProcess> {
    return new PembaInProcess('pemba', await Pemba.open());
  }

  /** SQLite with its production settings (WAL, synchronous=FULL); background GC off, as nothing expires here. */
  static async startSqlite(): Promise<PembaInProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'pemba-bench-'));
    const datastore = await openDatastore({ engine: 'sqlite', connUri: join(dir, 'bench.db'), gcIntervalMs: 0 });
    return new PembaInProcess('pemba-sqlite', await Pemba.open({ datastore }), () =>
      rmSync(dir, { recursive: true, force: true }),
    );
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

  async rss(): Promise<number> {
    collectGarbage();
    return process.memoryUsage().rss;
  }

  async close(): Promise<void> {
    await this.pemba.close();
    this.cleanup();
  }
}
