/**
 * The core differential test, with Pemba reached through `pemba serve`'s gRPC API instead of the
 * library: random schemas and relationships, every Check / LookupResources / LookupSubjects
 * answered by real SpiceDB and by the Pemba server, compared. Pemba's side is driven by the very
 * client code the oracle uses for SpiceDB (the same authzed-node calls and normalisation), pointed
 * at one long-running Pemba server that is reloaded case after case, as a real client would.
 *
 *   PEMBA_GRPC_DIFF_SEEDS=50 npx vitest run test/server/differential-grpc.test.ts
 */
import { v1 } from '@authzed/authzed-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILING, formatReport, runCase } from '../differential/compare.js';
import type { CaseResult } from '../differential/compare.js';
import type { Answer, Engine, Query } from '../differential/engines.js';
import { normalise } from '../differential/engines.js';
import { generateCase } from '../differential/generator.js';
import type { PembaEngine } from '../differential/pemba-engine.js';
import { SpiceDBOracle } from '../differential/spicedb-oracle.js';
import { fullyConsistent, startTestServer, subj } from './harness.js';
import type { TestServer } from './harness.js';

const SEEDS = Number(process.env.PEMBA_GRPC_DIFF_SEEDS ?? 4);
const FIRST = Number(process.env.PEMBA_GRPC_DIFF_FIRST_SEED ?? 101);

/** The oracle's client code over a Pemba server: it only needs permissions() and schema() clients. */
function oracleOver(client: v1.ZedClientInterface): SpiceDBOracle {
  const db = { permissions: () => client, schema: () => client, watch: () => client, close: () => undefined };
  return new (SpiceDBOracle as unknown as new (db: unknown) => SpiceDBOracle)(db);
}

/** Pemba-over-gRPC in the Pemba seat of runCase: load and run through the oracle's code, paging through cursors. */
class GrpcPemba implements Engine {
  readonly name = 'Pemba (gRPC)';
  private readonly oracle: SpiceDBOracle;
  private previousTypes: string[] = [];

  constructor(private readonly client: v1.ZedClientInterface) {
    this.oracle = oracleOver(client);
  }

  async load(schema: string, relationships: Parameters<Engine['load']>[1]): Promise<void> {
    const types = [...schema.matchAll(/definition\s+([a-z0-9_/]+)/g)].map((m) => m[1]);
    await this.oracle.load(schema, relationships, this.previousTypes);
    this.previousTypes = types;
  }

  run(q: Query): Promise<Answer> {
    return this.oracle.run(q);
  }

  async pagedLookupResources(q: Extract<Query, { kind: 'lookupResources' }>, limit: number): Promise<Answer> {
    const ids: string[] = [];
    let cursor: v1.Cursor | undefined;
    for (;;) {
      const page = await this.client.promises.lookupResources(
        v1.LookupResourcesRequest.create({
          consistency: fullyConsistent(),
          resourceObjectType: q.resourceType,
          permission: q.permission,
          subject: subj(q.subject.type, q.subject.id, q.subject.relation === '...' ? '' : q.subject.relation),
          optionalLimit: limit,
          optionalCursor: cursor,
        }),
      );
      ids.push(
        ...page.map(
          (r) =>
            `${r.resourceObjectId}${r.permissionship === v1.LookupPermissionship.CONDITIONAL_PERMISSION ? '?' : ''}`,
        ),
      );
      if (page.length < limit) break;
      cursor = page[page.length - 1].afterResultCursor;
    }
    return { ok: true, value: normalise(ids) };
  }
}

describe('differential through gRPC: SpiceDB vs pemba serve', () => {
  let spicedb: SpiceDBOracle;
  let server: TestServer;
  let pemba: GrpcPemba;
  const results: CaseResult[] = [];

  beforeAll(async () => {
    spicedb = await SpiceDBOracle.start();
    server = await startTestServer();
    pemba = new GrpcPemba(server.client);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    spicedb?.close();
    const queries = results.reduce((s, r) => s + r.queries, 0);
    const agreed = results.reduce((s, r) => s + r.agreed, 0);
    console.log(`differential through gRPC: ${results.length} cases, ${queries} queries, ${agreed} agreed`);
  }, 30_000);

  for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
    it(`seed ${seed}`, async () => {
      let result: CaseResult | undefined;
      for (let attempt = 0; attempt < 5 && !result; attempt++) {
        const r = await runCase(generateCase(seed, attempt), spicedb, pemba as unknown as PembaEngine, { pageSize: 2 });
        if (r.rejectedBySpiceDB === undefined) result = r;
      }
      expect(result, 'SpiceDB rejected every generated schema').toBeDefined();
      results.push(result!);
      const bad = result!.discrepancies.filter((d) => FAILING.has(d.kind));
      if (bad.length > 0)
        throw new Error(
          `Pemba (over gRPC) disagrees with SpiceDB\n${formatReport({ ...result!, discrepancies: bad }, FAILING)}`,
        );
      expect(result!.queries).toBeGreaterThan(0);
    }, 180_000);
  }
});
