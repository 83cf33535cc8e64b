/**
 * The fleet as this node sees it: the upstream addresses, a gRPC client for each, which of them answer
 * (a Hello every second; a dispatch that fails marks its node down at once) and the consistent-hash
 * ring over the nodes that do. This node is on the ring from the start; a peer joins when it answers a
 * Hello and leaves when it stops answering, so every node converges on the same ring.
 */
import * as grpc from '@grpc/grpc-js';
import { HashRing } from './ring.js';
import type { HelloReply } from './protocol.js';
import { decode, encode, HELLO_PATH } from './protocol.js';
import type { Upstream } from './upstreams.js';
import { resolveUpstreams } from './upstreams.js';

export interface Peer {
  address: string;
  nodeId: string;
  client: grpc.Client;
}

export interface PeersOptions {
  /** This node's id (random per process). */
  nodeId: string;
  /** The datastore id: a node over another database is not part of this fleet. */
  datastore: string;
  upstreams: readonly Upstream[];
  secret: string;
  /** How often peers are greeted and names resolved again, in ms (default 1000). */
  refreshMs?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

interface Known {
  address: string;
  client: grpc.Client;
  /** Set once it answered a Hello; the id changes when the node restarts. */
  nodeId?: string;
  up: boolean;
  /** This node itself, reached through one of its upstream addresses. */
  self: boolean;
}

const HELLO_TIMEOUT_MS = 1000;

/**
 * grpc-js backs off reconnecting to an address up to 120 s, and fails calls at once until the backoff
 * runs out, even once the node is back: a node down for a minute would rejoin a minute late. Keep the
 * backoff below the greeting interval, so a node that returns rejoins at the next greeting.
 */
const CLIENT_OPTIONS: grpc.ClientOptions = {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 1000,
};

export class Peers {
  private readonly known = new Map<string, Known>();
  private ringNodes: HashRing;
  private byNodeId = new Map<string, Peer>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;
  private readonly refreshMs: number;
  /** When each peer (by node id) last answered anything: a call, or a greeting. */
  private readonly heard = new Map<string, number>();
  /** A liveness greeting in flight per peer, shared by every caller that asks meanwhile. */
  private readonly probing = new Map<string, Promise<boolean>>();

  constructor(private readonly options: PeersOptions) {
    this.refreshMs = options.refreshMs ?? 1000;
    this.ringNodes = new HashRing([options.nodeId]);
  }

  /** Greets every upstream once (so the first requests already spread), then keeps refreshing. */
  async start(): Promise<void> {
    await this.refresh();
    const tick = () => {
      if (this.closed) return;
      this.refresh().finally(() => {
        if (!this.closed) this.timer = setTimeout(tick, this.refreshMs).unref();
      });
    };
    this.timer = setTimeout(tick, this.refreshMs).unref();
  }

  /** The peer owning `key`, or undefined when this node does (or no peer is up). */
  ownerOf(key: string): Peer | undefined {
    const owner = this.ringNodes.owner(key);
    return owner === this.options.nodeId ? undefined : this.byNodeId.get(owner!);
  }

  /** Node ids on the ring now (this node's included), sorted. */
  ring(): string[] {
    return [...this.ringNodes.nodes];
  }

  /** Peers up now (not this node). */
  up(): Peer[] {
    return [...this.byNodeId.values()];
  }

  /** Notes that `peer` answered (a dispatch reply). */
  heardFrom(peer: Peer): void {
    this.heard.set(peer.nodeId, performance.now());
  }

  /**
   * Whether `peer` is alive and answering: it answered anything in the last `withinMs`, or answers a
   * greeting within `withinMs` now. A node that is merely busy with long work passes; one that hangs
   * (stopped, partitioned, its event loop stuck) does not.
   */
  responsive(peer: Peer, withinMs: number): Promise<boolean> {
    const last = this.heard.get(peer.nodeId);
    if (last !== undefined && performance.now() - last < withinMs) return Promise.resolve(true);
    let probe = this.probing.get(peer.nodeId);
    if (!probe) {
      probe = hello(peer.client, this.options.secret, withinMs).then(
        (reply) => {
          const alive = reply.nodeId === peer.nodeId;
          if (alive) this.heardFrom(peer);
          return alive;
        },
        () => false,
      );
      this.probing.set(peer.nodeId, probe);
      void probe.finally(() => this.probing.delete(peer.nodeId));
    }
    return probe;
  }

  /** Takes a peer off the ring after a failed dispatch, until it answers a Hello again. */
  markDown(peer: Peer): void {
    const k = this.known.get(peer.address);
    if (k?.up && k.nodeId === peer.nodeId) {
      k.up = false;
      this.options.log?.warn({ peer: peer.address, nodeId: peer.nodeId }, 'dispatch peer left the ring (failed call)');
      this.rebuild();
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const k of this.known.values()) k.client.close();
    this.known.clear();
    this.byNodeId.clear();
  }

  private refresh(): Promise<void> {
    return (this.refreshing ??= this.refreshOnce().finally(() => (this.refreshing = undefined)));
  }

  private async refreshOnce(): Promise<void> {
    const addresses = await resolveUpstreams(this.options.upstreams);
    if (this.closed) return;
    for (const address of addresses) {
      if (!this.known.has(address)) {
        const client = new grpc.Client(address, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
        this.known.set(address, { address, client, up: false, self: false });
      }
    }
    for (const [address, k] of this.known) {
      if (!addresses.includes(address)) {
        k.client.close();
        this.known.delete(address);
      }
    }
    await Promise.all([...this.known.values()].filter((k) => !k.self).map((k) => this.greet(k)));
    if (!this.closed) this.rebuild();
  }

  private async greet(k: Known): Promise<void> {
    let reply: HelloReply | undefined;
    try {
      reply = await hello(k.client, this.options.secret);
    } catch {
      reply = undefined;
    }
    const wasUp = k.up;
    if (reply?.nodeId === this.options.nodeId) {
      k.self = true;
      k.up = false;
      k.client.close();
      return;
    }
    if (reply && reply.datastore !== this.options.datastore) {
      if (!wasUp && k.nodeId !== reply.nodeId) {
        this.options.log?.warn(
          { peer: k.address, datastore: reply.datastore },
          'dispatch upstream serves another datastore: not dispatching to it',
        );
      }
      k.nodeId = reply.nodeId;
      k.up = false;
      return;
    }
    k.up = reply !== undefined;
    if (reply) {
      k.nodeId = reply.nodeId;
      this.heard.set(reply.nodeId, performance.now());
    }
    if (k.up !== wasUp) {
      this.options.log?.info(
        { peer: k.address, nodeId: k.nodeId },
        k.up ? 'dispatch peer joined the ring' : 'dispatch peer left the ring (no answer)',
      );
    }
  }

  private rebuild(): void {
    const byNodeId = new Map<string, Peer>();
    for (const k of this.known.values()) {
      if (!k.up || k.self || !k.nodeId) continue;
      // The same object while the peer stays (callers key per-peer state by it).
      const kept = this.byNodeId.get(k.nodeId);
      byNodeId.set(
        k.nodeId,
        kept?.client === k.client ? kept : { address: k.address, nodeId: k.nodeId, client: k.client },
      );
    }
    const ids = [this.options.nodeId, ...byNodeId.keys()].sort();
    const same = ids.length === this.ringNodes.nodes.length && ids.every((id, i) => id === this.ringNodes.nodes[i]);
    this.byNodeId = byNodeId;
    if (!same) this.ringNodes = new HashRing(ids);
  }
}

function hello(client: grpc.Client, secret: string, timeoutMs = HELLO_TIMEOUT_MS): Promise<HelloReply> {
  return new Promise((resolve, reject) => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${secret}`);
    client.makeUnaryRequest(
      HELLO_PATH,
      encode,
      (b: Buffer) => decode<HelloReply>(b),
      {},
      metadata,
      { deadline: Date.now() + timeoutMs },
      (err, reply) => (err || !reply ? reject(err ?? new Error('no reply')) : resolve(reply)),
    );
  });
}
