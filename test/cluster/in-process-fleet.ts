/**
 * A dispatch fleet inside one process: several engines over one datastore, each sending the sub-problems
 * another owns on a consistent-hash ring to that engine, through the wire format (JSON both ways), as
 * `pemba serve --dispatch-cluster-enabled` nodes do over gRPC. What it isolates is the engine's side of
 * dispatch: paths, depths, cycle cuts, caveat contexts and errors crossing nodes.
 */
import type { Datastore } from '../../src/datastore/datastore.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import type { RemoteDispatch, RemoteOwner } from '../../src/engine/remote-dispatch.js';
import { subproblemEvaluator, type SubproblemEvaluator } from '../../src/cluster/evaluate.js';
import { HashRing } from '../../src/cluster/ring.js';
import type { ErrorReply } from '../../src/cluster/protocol.js';
import { KINDS } from '../../src/cluster/protocol.js';
import { dispatchedError, PembaError } from '../../src/errors/index.js';
import { Pemba, type PembaOptions } from '../../src/pemba.js';

export interface InProcessFleet {
  /** Node 0, which the test talks to. */
  pemba: Pemba;
  /** Sub-problems sent to another node. */
  remote: number;
  close(): Promise<void>;
}

const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

export async function openInProcessFleet(
  datastore: Datastore,
  size = 3,
  options: Omit<PembaOptions, 'datastore'> = {},
): Promise<InProcessFleet> {
  const ids = Array.from({ length: size }, (_, i) => `node-${i}`);
  const ring = new HashRing(ids);
  const evaluators: SubproblemEvaluator[] = [];
  const fleet = { remote: 0 } as InProcessFleet;
  /** Through the wire format both ways, as the dispatch port does; errors the evaluation raises cross as replies. */
  async function send<P, O>(
    kind: (typeof KINDS)['check' | 'subjects'],
    owner: string,
    problem: P,
    signal: AbortSignal | undefined,
  ): Promise<O> {
    fleet.remote++;
    const k = kind as unknown as {
      toMessage(d: string, p: P): unknown;
      fromMessage(m: unknown): P;
      toReply(o: O): unknown;
      fromReply(r: unknown): O;
    };
    const evaluator = evaluators[ids.indexOf(owner)];
    const evaluate = (kind.method === 'Check' ? evaluator.check : evaluator.subjects) as (
      p: P,
      s: AbortSignal,
    ) => Promise<O>;
    let reply: unknown;
    try {
      const outcome = await evaluate(
        k.fromMessage(wire(k.toMessage(datastore.id, problem))),
        signal ?? new AbortController().signal,
      );
      reply = k.toReply(outcome);
    } catch (e) {
      if (!(e instanceof PembaError)) throw e;
      reply = { error: { code: e.code, message: e.message, reason: e.reason, metadata: e.metadata } };
    }
    const back = wire(reply) as ErrorReply | object;
    if ('error' in back)
      throw dispatchedError(back.error.code, back.error.message, back.error.reason, back.error.metadata);
    return k.fromReply(back);
  }
  const dispatchFor = (self: string): RemoteDispatch => ({
    ownerOf(key): RemoteOwner | undefined {
      const owner = ring.owner(key)!;
      if (owner === self) return undefined;
      return {
        check: (problem, _local, signal) => send(KINDS.check, owner, problem, signal),
        subjects: (problem, _local, signal) => send(KINDS.subjects, owner, problem, signal),
      };
    },
  });
  const engineOptions: EngineOptions = options;
  const pemba = await Pemba.open({ ...options, datastore, remoteDispatch: dispatchFor(ids[0]) });
  evaluators.push(subproblemEvaluator(datastore, pemba.engine));
  const others: Engine[] = [];
  for (const id of ids.slice(1)) {
    const engine = await Engine.open(datastore, { ...engineOptions, remoteDispatch: dispatchFor(id) });
    others.push(engine);
    evaluators.push(subproblemEvaluator(datastore, engine));
  }
  fleet.pemba = pemba;
  fleet.close = async () => {
    for (const e of others) await e.close();
    await pemba.close();
  };
  return fleet;
}
