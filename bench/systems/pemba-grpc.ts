/**
 * Pemba's gRPC server in a child process, called through the unmodified `@authzed/authzed-node`
 * client over one plaintext HTTP/2 connection on loopback, as an application would. The server
 * runs on the memory datastore, on SQLite or on PostgreSQL (storage of its own, removed on close).
 */
import { SERVE_NODE_FLAGS } from '../../src/server/node-flags.js';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { v1 } from '@authzed/authzed-node';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { CheckQuery, LookupResourcesQuery, LookupSubjectsQuery } from '../datasets/dataset.js';
import { BENCH_KEY } from './pemba-server-protocol.js';
import type { ServerCommand, ServerMessage, ServerOptions } from './pemba-server-protocol.js';
import type { System, SystemName } from './system.js';
import { PEMBA_SYSTEMS } from './system.js';
import * as req from './v1-requests.js';

export class PembaGrpc implements System {
  private token: string | undefined;

  private constructor(
    readonly name: SystemName,
    private readonly server: ChildProcess,
    private readonly client: v1.ZedClientInterface,
  ) {}

  /** `execArgv` is passed to the server process (e.g. --cpu-prof when profiling). */
  static async start(execArgv: string[] = [], options: ServerOptions = { engine: 'memory' }): Promise<PembaGrpc> {
    const server = fork(new URL('./pemba-server-process.ts', import.meta.url), [JSON.stringify(options)], {
      execArgv: ['--import', 'tsx', '--expose-gc', ...SERVE_NODE_FLAGS, ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await nextMessage(server);
    if (ready.type !== 'ready') throw new Error('the Pemba server did not start');
    const client = v1.NewClient(BENCH_KEY, `127.0.0.1:${ready.port}`, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    return new PembaGrpc(PEMBA_SYSTEMS.grpc[options.engine], server, client);
  }

  private get p() {
    return this.client.promises;
  }

  async writeSchema(schema: string): Promise<void> {
    const r = await this.p.writeSchema(v1.WriteSchemaRequest.create({ schema }));
    this.token = r.writtenAt?.token;
  }

  /** ImportBulkRelationships: one client stream, one message per batch, honouring backpressure. */
  async load(batches: Iterable<Relationship[]>): Promise<number> {
    let done!: Promise<v1.ImportBulkRelationshipsResponse>;
    const stream = await new Promise<ReturnType<v1.ZedClientInterface['importBulkRelationships']>>((resolveStream) => {
      done = new Promise((resolve, reject) => {
        resolveStream(this.client.importBulkRelationships((err, value) => (err ? reject(err) : resolve(value!))));
      });
    });
    let resourceType = '';
    for (const batch of batches) {
      resourceType ||= batch[0]?.resource.type ?? '';
      const ok = stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: batch.map(req.relationship) }));
      if (!ok) await once(stream, 'drain');
    }
    stream.end();
    const response = await done;
    // The import's response carries no token: a fully consistent read names the head revision, which has it.
    const read = await this.p.readRelationships(
      v1.ReadRelationshipsRequest.create({
        consistency: req.freshAs(undefined),
        relationshipFilter: v1.RelationshipFilter.create({ resourceType }),
        optionalLimit: 1,
      }),
    );
    this.token = read[0]?.readAt?.token;
    return Number(response.numLoaded);
  }

  async check(q: CheckQuery): Promise<boolean> {
    return req.isAllowed(await this.p.checkPermission(req.checkRequest(q, this.token)));
  }

  concurrentCheck(q: CheckQuery): Promise<boolean> {
    return this.check(q);
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

  async settle(): Promise<void> {
    this.server.send({ type: 'settle' } satisfies ServerCommand);
    const m = await nextMessage(this.server);
    if (m.type !== 'settled') throw new Error('unexpected message from the Pemba server');
  }

  async rss(): Promise<number> {
    this.server.send({ type: 'rss' } satisfies ServerCommand);
    const m = await nextMessage(this.server);
    if (m.type !== 'rss') throw new Error('unexpected message from the Pemba server');
    return m.rss;
  }

  async close(): Promise<void> {
    this.client.close();
    const exited = once(this.server, 'exit');
    this.server.send({ type: 'close' } satisfies ServerCommand);
    await exited;
  }
}

function nextMessage(child: ChildProcess): Promise<ServerMessage> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the Pemba server exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as ServerMessage);
    });
  });
}
