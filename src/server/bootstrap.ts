/**
 * `--datastore-bootstrap-files`: validation files (zed's YAML: `schema` or `schemaFile`, and
 * `relationships`) written into the datastore when the server starts, with SpiceDB's rules:
 *
 * - a datastore that has a schema already refuses the start ("cannot apply bootstrap data: …"),
 *   unless `--datastore-bootstrap-overwrite`, which first deletes every relationship (one
 *   transaction) and then writes the files' schema over the stored one;
 * - the files' schemas are joined into one schema, written once; their relationships are TOUCHed
 *   500 at a time (so loading twice changes nothing); `assertions` and `validation` are not run;
 * - the whole load must finish within `--datastore-bootstrap-timeout`.
 *
 * The files are read and parsed before the datastore is opened, so a file that does not parse stops
 * the start at once, naming the file and line.
 */
import type { Logger } from 'pino';
import type { Pemba } from '../pemba.js';
import type { Datastore } from '../datastore/datastore.js';
import type { BootstrapConfig } from './config.js';
import { readValidationFiles, writeValidationData } from './validation-files.js';
import type { ValidationData } from './validation-files.js';

/** Relationships per WriteRelationships (SpiceDB loads validation files 500 at a time). */
const BATCH = 500;

const FLAG = '--datastore-bootstrap-files';

/** Reads and parses the files; a file that cannot be read or does not parse is an Error naming file:line. */
export function readBootstrapFiles(paths: readonly string[]): ValidationData {
  return readValidationFiles(paths, FLAG);
}

export interface BootstrapOptions extends Omit<BootstrapConfig, 'files'> {
  /** Most updates one WriteRelationships may carry (--write-relationships-max-updates-per-call). */
  maxUpdatesPerWrite: number;
  log: Logger;
}

/**
 * Loads `data` through `pemba` (whose datastore must still accept writes). Resolves once every
 * relationship is written; rejects, naming the cause, when the datastore is not empty (without
 * overwrite), a file's content is refused, or the timeout passes.
 */
export async function applyBootstrap(pemba: Pemba, data: ValidationData, options: BootstrapOptions): Promise<void> {
  const timeout = new AbortController();
  const deadline = options.timeoutMs > 0 ? Date.now() + options.timeoutMs : Infinity;
  const expire = () =>
    timeout.abort(
      new Error(
        `${FLAG}: the bootstrap data was not written within --datastore-bootstrap-timeout (${options.timeoutMs} ms); raise it for large files`,
      ),
    );
  // The timer ends a write waiting on I/O; the checks between writes catch loads that never wait.
  const timer = deadline < Infinity ? setTimeout(expire, options.timeoutMs) : undefined;
  const check = () => {
    if (Date.now() >= deadline) expire();
    timeout.signal.throwIfAborted();
  };
  try {
    await load(pemba, data, options, timeout.signal, check);
  } catch (error) {
    if (timeout.signal.aborted) throw timeout.signal.reason as Error;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function load(
  pemba: Pemba,
  data: ValidationData,
  options: BootstrapOptions,
  signal: AbortSignal,
  check: () => void,
) {
  const { log } = options;
  const datastore: Datastore = pemba.datastore;
  const head = datastore.snapshot(await datastore.headRevision(), { primary: true });
  const stored = await head.readSchema();
  const hasData = !!stored?.text.trim() || (await head.queryRelationships({}, { limit: 1 })).length > 0;
  if (hasData) {
    if (!options.overwrite) {
      throw new Error(
        'cannot apply bootstrap data: schema or tuples already exist in the datastore. Delete existing data or set the flag --datastore-bootstrap-overwrite=true',
      );
    }
    log.info({}, 'deleting existing data before applying bootstrap data (this may take a bit)');
    const { result: deleted } = await datastore.readWrite((tx) => tx.deleteMatching({}), { signal });
    log.info({ deleted }, 'deleted existing data before applying bootstrap data');
  }
  log.info({ files: data.files }, 'initializing datastore from bootstrap files');
  check();
  await writeValidationData(pemba, data, {
    flag: FLAG,
    batchSize: Math.max(1, Math.min(BATCH, options.maxUpdatesPerWrite)),
    signal,
    beforeBatch: check,
  });
  log.info(
    { files: data.files, relationships: data.relationships.length },
    'completed datastore initialization from bootstrap files',
  );
}
