/**
 * What Check sub-problems share across requests: answers cached by revision (a snapshot never
 * changes, so an answer at revision R stays right), and a table of sub-problems being computed now,
 * so identical concurrent sub-problems run once (the paper's lock table; Go's singleflight).
 *
 * Waiting on another request's computation can deadlock when the data has a cycle: request 1 computes
 * A and needs B while request 2 computes B and needs A. Each evaluation is sequential, so every
 * computation waits on at most one other at a time; before waiting, the waiter follows that chain
 * from the computation it wants to join, and computes privately instead if the chain leads back to
 * itself.
 */
import { DispatchCache, type CacheStats } from './dispatch-cache.js';
import type { Membership } from './membership.js';

export interface DispatchOptions {
  /** Budget of the cross-request answer cache in bytes (0 disables it). */
  cacheBytes: number;
  /** Join identical sub-problems already running in another request. */
  dedupe: boolean;
}

export const DEFAULT_DISPATCH_CACHE_BYTES = 64 * 1024 * 1024;

class Flight {
  /** The computation this one is blocked on now, if any. */
  waitingOn: Flight | undefined;
  /** Settles with the answer when it may be shared, undefined when it may not (or failed). */
  readonly done: Promise<Membership | undefined>;
  settle!: (m: Membership | undefined) => void;

  constructor() {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }
}

/** One sequential evaluation (one Checker): the computation it is running now. */
export interface Lane {
  current: Flight | undefined;
}

/** An answer and whether it may be reused outside the evaluation that produced it. */
export interface Outcome {
  m: Membership;
  shareable: boolean;
}

export class Dispatcher {
  readonly cache: DispatchCache<Membership>;
  private readonly flights = new Map<string, Flight>();
  private readonly dedupe: boolean;
  joined = 0;

  constructor(options: Partial<DispatchOptions> = {}) {
    this.cache = new DispatchCache(options.cacheBytes ?? DEFAULT_DISPATCH_CACHE_BYTES, sizeOfMembership);
    this.dedupe = options.dedupe ?? true;
  }

  /**
   * The answer to the sub-problem `key` (which must name the revision, subject and context): from the
   * cache, from an identical computation running elsewhere, or by running `compute` on `lane`.
   * `cacheable` says whether a shareable answer may also outlive this moment in the cache.
   */
  async run<E extends Outcome>(key: string, lane: Lane, cacheable: boolean, compute: () => Promise<E>, fromShared: (m: Membership) => E): Promise<E> {
    const cached = this.cache.maxBytes > 0 ? this.cache.get(key) : undefined;
    if (cached !== undefined) return fromShared(cached);
    if (!this.dedupe) return this.compute(key, cacheable, compute);
    const running = this.flights.get(key);
    if (running !== undefined) {
      if (leadsTo(running, lane.current)) return compute();
      const waiter = lane.current;
      if (waiter) waiter.waitingOn = running;
      let shared: Membership | undefined;
      try {
        shared = await running.done;
      } finally {
        if (waiter) waiter.waitingOn = undefined;
      }
      if (shared !== undefined) {
        this.joined++;
        return fromShared(shared);
      }
      return compute();
    }
    const own = new Flight();
    this.flights.set(key, own);
    const parent = lane.current;
    if (parent) parent.waitingOn = own;
    lane.current = own;
    let result: E | undefined;
    try {
      result = await this.compute(key, cacheable, compute);
      return result;
    } finally {
      lane.current = parent;
      if (parent) parent.waitingOn = undefined;
      this.flights.delete(key);
      own.settle(result?.shareable ? result.m : undefined);
    }
  }

  /** Whether there is anything to share (a cache or deduplication). */
  get enabled(): boolean {
    return this.dedupe || this.cache.maxBytes > 0;
  }

  stats(): CacheStats & { joined: number } {
    return { ...this.cache.stats(), joined: this.joined };
  }

  private async compute<E extends Outcome>(key: string, cacheable: boolean, compute: () => Promise<E>): Promise<E> {
    const result = await compute();
    if (cacheable && result.shareable && this.cache.maxBytes > 0) this.cache.set(key, result.m);
    return result;
  }
}

/** Whether following what `from` waits on (transitively) reaches `target`. */
function leadsTo(from: Flight, target: Flight | undefined): boolean {
  if (target === undefined) return false;
  for (let f: Flight | undefined = from; f !== undefined; f = f.waitingOn) {
    if (f === target) return true;
  }
  return false;
}

function sizeOfMembership(m: Membership): number {
  return m.kind === 'conditional' ? 32 + m.missing.reduce((n, s) => n + 16 + s.length * 2, 0) : 0;
}
