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
  /** Callers waiting for this answer; most computations have none, so no promise is made up front. */
  private waiters: ((m: Membership | undefined) => void)[] | undefined;

  /**
   * Resolves with the answer when it may be shared, undefined when it may not (or failed); rejects
   * with the signal's reason if the waiter's own request aborts first.
   */
  join(signal: AbortSignal | undefined): Promise<Membership | undefined> {
    if (!signal) return new Promise((resolve) => (this.waiters ??= []).push(resolve));
    return new Promise((resolve, reject) => {
      signal.throwIfAborted();
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      (this.waiters ??= []).push((m) => {
        signal.removeEventListener('abort', onAbort);
        resolve(m);
      });
    });
  }

  settle(m: Membership | undefined): void {
    if (this.waiters) for (const resolve of this.waiters) resolve(m);
  }
}

/** One sequential evaluation (one Checker): the computation it is running now. */
export interface Lane {
  current: Flight | undefined;
  /** The request's signal: it stops waiting for another request's computation too. */
  signal?: AbortSignal;
  /**
   * Neither joins nor offers computations (it still reads and fills the cache): the lane of a sub-problem
   * dispatched from another node, whose waits this node cannot see, so joining could deadlock across nodes.
   */
  private?: boolean;
}

/**
 * An answer and the shallowest path depth whose cycle cut it relied on (Infinity: none). Computed at
 * depth d, it may be reused elsewhere only if it relied on no cut above d.
 */
export interface Outcome {
  m: Membership;
  cut: number;
}

export class Dispatcher {
  readonly cache: DispatchCache<Membership>;
  private readonly flights = new Map<string, Flight>();
  private readonly dedupe: boolean;
  /** Short, never reused names for long key prefixes (revision, subject, context). */
  private readonly prefixes = new Map<string, string>();
  private nextPrefix = 0;
  joined = 0;

  constructor(options: Partial<DispatchOptions> = {}) {
    this.cache = new DispatchCache(options.cacheBytes ?? DEFAULT_DISPATCH_CACHE_BYTES, sizeOfMembership);
    this.dedupe = options.dedupe ?? true;
  }

  /**
   * The answer to the sub-problem `key` (which must name the revision, subject and context), computed
   * at path depth `depth`: from the cache, from an identical computation running elsewhere, or by
   * running `compute` on `lane`. `cacheable` says whether a shareable answer may also outlive this
   * moment in the cache.
   */
  async run(
    key: string,
    lane: Lane,
    depth: number,
    cacheable: boolean,
    compute: () => Promise<Outcome>,
  ): Promise<Outcome> {
    const caching = cacheable && this.cache.maxBytes > 0;
    if (caching) {
      const m = this.cache.get(key);
      if (m !== undefined) return { m, cut: Infinity };
    }
    if (!this.dedupe || lane.private) {
      const result = await compute();
      if (caching && result.cut >= depth) this.cache.set(key, result.m);
      return result;
    }
    const running = this.flights.get(key);
    if (running !== undefined) {
      if (leadsTo(running, lane.current)) return compute();
      const waiter = lane.current;
      if (waiter) waiter.waitingOn = running;
      let shared: Membership | undefined;
      try {
        shared = await running.join(lane.signal);
      } finally {
        if (waiter) waiter.waitingOn = undefined;
      }
      if (shared === undefined) return compute();
      this.joined++;
      return { m: shared, cut: Infinity };
    }
    const own = new Flight();
    this.flights.set(key, own);
    const parent = lane.current;
    if (parent) parent.waitingOn = own;
    lane.current = own;
    let shareable: Membership | undefined;
    try {
      const result = await compute();
      if (result.cut >= depth) {
        shareable = result.m;
        if (caching) this.cache.set(key, result.m);
      }
      return result;
    } finally {
      lane.current = parent;
      if (parent) parent.waitingOn = undefined;
      this.flights.delete(key);
      own.settle(shareable);
    }
  }

  /**
   * A short stand-in for `prefix` in keys: keys are hashed on every lookup, and most of their length
   * would be the prefix. Names are never reused, so forgetting them only costs cache hits.
   */
  keyPrefix(prefix: string): string {
    let short = this.prefixes.get(prefix);
    if (short === undefined) {
      if (this.prefixes.size >= 10_000) this.prefixes.clear();
      short = `${(this.nextPrefix++).toString(36)}|`;
      this.prefixes.set(prefix, short);
    }
    return short;
  }

  /** Whether there is anything to share (a cache or deduplication). */
  get enabled(): boolean {
    return this.dedupe || this.cache.maxBytes > 0;
  }

  stats(): CacheStats & { joined: number } {
    return { ...this.cache.stats(), joined: this.joined };
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
