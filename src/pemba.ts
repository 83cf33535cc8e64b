/**
 * Pemba: the library entry point. Wires a datastore, the schema and the engine behind one object
 * whose methods mirror SpiceDB's PermissionsService and SchemaService.
 */
import type { Datastore } from './datastore/datastore.js';
import type {
  CheckRequest, CheckResult, DeleteRelationshipsRequest, DeleteRelationshipsResult, ExpandRequest, ExpandTree,
  LookupResourcesRequest, LookupResourcesResult, LookupSubjectsRequest, LookupSubjectsResult,
  ReadRelationshipsRequest, ReadRelationshipsResult, WriteRelationshipsRequest, Consistency,
} from './requests.js';

export interface PembaOptions {
  /** Defaults to a new in-memory datastore. */
  datastore?: Datastore;
  /** Maximum dispatch depth of one query (default 50). */
  maxDepth?: number;
}

export class Pemba {
  static async open(options: PembaOptions = {}): Promise<Pemba> {
    throw new Error('TODO');
  }
  async writeSchema(schema: string): Promise<{ token: string }> { throw new Error('TODO'); }
  async readSchema(consistency?: Consistency): Promise<{ schema: string; token: string }> { throw new Error('TODO'); }
  async writeRelationships(request: WriteRelationshipsRequest): Promise<{ token: string }> { throw new Error('TODO'); }
  async deleteRelationships(request: DeleteRelationshipsRequest): Promise<DeleteRelationshipsResult> { throw new Error('TODO'); }
  readRelationships(request: ReadRelationshipsRequest): AsyncIterable<ReadRelationshipsResult> { throw new Error('TODO'); }
  async check(request: CheckRequest): Promise<CheckResult> { throw new Error('TODO'); }
  async expand(request: ExpandRequest): Promise<{ tree: ExpandTree; token: string }> { throw new Error('TODO'); }
  lookupResources(request: LookupResourcesRequest): AsyncIterable<LookupResourcesResult> { throw new Error('TODO'); }
  lookupSubjects(request: LookupSubjectsRequest): AsyncIterable<LookupSubjectsResult> { throw new Error('TODO'); }
  async close(): Promise<void> { throw new Error('TODO'); }
}
