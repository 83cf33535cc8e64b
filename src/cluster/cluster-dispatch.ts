/**
 * Sub-problems sent to the node that owns them on the ring (see engine/remote-dispatch.ts).
 * A remote dispatch has a deadline and never fails the request: a transport failure (the node died, is
 * leaving, refused the secret) takes the owner off the ring and evaluates here instead; an owner that
 * stops answering anything (hung, partitioned) gets a local evaluation raced against it, and the first
 * answer wins. Errors the evaluation raises on the owner (depth exceeded, a failing caveat) are the
 * answer and are raised here.
 */
import * as grpc from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import { dispatchedError } from '../errors/index.js';
import { injectTraceContext, withSpan } from '../observability/tracing.js';
import type { RemoteDispatch, RemoteOwner } from '../engine/remote-dispatch.js';
import type { Peer, Peers } from './peers.js';
import type { ErrorReply } from './protocol.js';
import { decode, encode, KINDS, SERVICE } from './protocol.js';

export type DispatchKind = 'local' | 'remote' | 'remote_failed' | 'hedged';

export interface ClusterDispatchOptions {
  peers: Peers;
  datastore: string;
  secret: string;
  /** How long an owner may take before a local evaluation is raced against it, in ms. */
  hedgeDelayMs: number;
  /** Longest one remote dispatch may take, in ms (the request's own deadline may end it sooner). */
  timeoutMs: number;
  /** Told how each remote-owned sub-problem was answered (metrics). */
  onDispatch?: (kind: DispatchKind) => void;
}

/** What a span says about a sub-problem. */
interface Named {
  type: string;
  id: string;
  relation: string;
  depth: number;
}

/** A remote call that did not reach an answer (as opposed to an error the owner's evaluation raised). */
class TransportFailure extends Error {}

export class ClusterDispatch implements RemoteDispatch {
  private readonly owners = new WeakMap<Peer, RemoteOwner>();

  constructor(private readonly options: ClusterDispatchOptions) {}

  ownerOf(key: string): RemoteOwner | undefined {
    const peer = this.options.peers.ownerOf(key);
    if (!peer) {
      this.options.onDispatch?.('local');
      return undefined;
    }
    let owner = this.owners.get(peer);
    if (!owner) {
      const { check, subjects } = KINDS;
      owner = {
        check: (problem, local, signal) =>
          this.dispatch(
            peer,
            check.method,
            check.toMessage(this.options.datastore, problem),
            problem,
            check.fromReply,
            local,
            signal,
          ),
        subjects: (problem, local, signal) =>
          this.dispatch(
            peer,
            subjects.method,
            subjects.toMessage(this.options.datastore, problem),
            problem,
            subjects.fromReply,
            local,
            signal,
          ),
      };
      this.owners.set(peer, owner);
    }
    return owner;
  }

  private async dispatch<R, O>(
    peer: Peer,
    method: string,
    message: unknown,
    problem: Named,
    fromReply: (reply: R) => O,
    local: (signal: AbortSignal) => Promise<O>,
    signal: AbortSignal | undefined,
  ): Promise<O> {
    const { onDispatch, hedgeDelayMs } = this.options;
    const remoteAbort = new AbortController();
    const remoteSignal = signal ? AbortSignal.any([signal, remoteAbort.signal]) : remoteAbort.signal;
    const remote = this.send(peer, method, message, problem, fromReply, remoteSignal);
    let first = await Promise.race([settle(remote), delay(hedgeDelayMs, signal)]);
    // A sub-problem may take its owner long (a deep tree, many reads): keep waiting while the owner is
    // alive, and evaluate here too only once it stops answering anything (hung, partitioned). Hedging
    // every slow answer would duplicate the work of the sub-problems that are slow for a reason.
    while (first === 'late') {
      const alive = await Promise.race([settle(remote), this.options.peers.responsive(peer, hedgeDelayMs * 4)]);
      if (alive === false) break;
      first = alive === true ? await Promise.race([settle(remote), delay(hedgeDelayMs, signal)]) : alive;
    }
    if (first === 'late') {
      // An owner that stopped answering: evaluate here too; whichever answers first wins, and the other is stopped.
      onDispatch?.('hedged');
      const localAbort = new AbortController();
      const here = local(signal ? AbortSignal.any([signal, localAbort.signal]) : localAbort.signal);
      try {
        return await firstAnswer(remote, here);
      } finally {
        remoteAbort.abort();
        localAbort.abort();
      }
    }
    if (first.ok) {
      onDispatch?.('remote');
      return first.value;
    }
    if (!(first.error instanceof TransportFailure)) throw first.error;
    signal?.throwIfAborted();
    onDispatch?.('remote_failed');
    this.options.peers.markDown(peer);
    return local(signal ?? new AbortController().signal);
  }

  /** One remote call in its span; rejects with TransportFailure unless answered, with the owner's error if it raised one. */
  private async send<R, O>(
    peer: Peer,
    method: string,
    message: unknown,
    problem: Named,
    fromReply: (reply: R) => O,
    signal: AbortSignal,
  ): Promise<O> {
    const attributes = {
      'pemba.dispatch.peer': peer.address,
      'pemba.dispatch.userset': `${problem.type}:${problem.id}#${problem.relation}`,
      'pemba.dispatch.depth': problem.depth,
    };
    const name = method === 'Check' ? 'dispatch.check' : 'dispatch.lookup_subjects';
    const reply = await withSpan(
      name,
      attributes,
      () => this.call<R>(peer, method, message, signal),
      undefined,
      SpanKind.CLIENT,
    );
    if (typeof reply === 'object' && reply !== null && 'error' in reply) {
      const e = reply.error;
      throw dispatchedError(e.code, e.message, e.reason, e.metadata);
    }
    return fromReply(reply as R);
  }

  /** The gRPC call: the secret and the active trace context in its metadata, its deadline, cancelled by `signal`. */
  private call<R>(peer: Peer, method: string, message: unknown, signal: AbortSignal): Promise<R | ErrorReply> {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${this.options.secret}`);
    for (const [k, v] of Object.entries(injectTraceContext<Record<string, string>>({}))) metadata.set(k, v);
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new TransportFailure('aborted before sending'));
      const call = peer.client.makeUnaryRequest(
        `/${SERVICE}/${method}`,
        encode,
        (b: Buffer) => decode<R | ErrorReply>(b),
        message,
        metadata,
        { deadline: Date.now() + this.options.timeoutMs },
        (err, reply) => {
          signal.removeEventListener('abort', cancel);
          if (err || !reply) return reject(new TransportFailure(err?.message ?? 'no reply'));
          this.options.peers.heardFrom(peer);
          resolve(reply);
        },
      );
      const cancel = () => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
    });
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** Resolves 'late' after `ms` (never when the request ends first: the remote call ends with it). */
function delay(ms: number, signal: AbortSignal | undefined): Promise<'late'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('late'), ms);
    signal?.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
}

/**
 * The first of the remote and the local answer; a remote transport failure waits for the local one, and
 * an error either raises (the evaluation's own) is the answer.
 */
function firstAnswer<O>(remote: Promise<O>, here: Promise<O>): Promise<O> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const win = (v: O) => {
      if (settled) return;
      settled = true;
      resolve(v);
    };
    const lose = (e: unknown) => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    remote.then(win, (e: unknown) => {
      if (!(e instanceof TransportFailure)) lose(e);
    });
    here.then(win, lose);
  });
}
