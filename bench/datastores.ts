/**
 * The datastore backends compared (issue 3's note): bulk import of 1,000,000 relationships into
 * memory, SQLite and PostgreSQL, and Check latency on a ~100,000-relationship dataset.
 *
 *   node --import tsx bench/datastores.ts                      # writes bench/results/datastores.md
 *   node --import tsx bench/datastores.ts --import-size 100000 --backends sqlite
 *   node --import tsx bench/datastores.ts --help
 *
 * Import is measured twice per backend:
 * - `pemba import FILE` (the CLI, text format) against a `pemba serve` child process: what a user
 *   gets, from the command's start (schema fetch, the checking pass over the file, the
 *   ImportBulkRelationships stream) to the server's answer; the rate is the CLI's own summary line.
 * - Pemba.importRelationships in this process (batches of 1,000 parsed relationships, one
 *   transaction): the library and datastore alone, no gRPC, no file.
 * Check latency: Pemba.check in this process, one call at a time, minimize_latency (after the
 * quantization window has passed the load), over random (document, user) pairs where half the users
 * are the document's own owner or viewer. PostgreSQL is a throwaway database on the local server.
 *
 * `npm run bench` calls measureDatastoreChecks (the Check table alone) for the targets of issue 14
 * (bench/report.ts); the dataset is bench/datasets/sharing.ts's model, which `npm run bench` also runs
 * as a dataset of its own (`sharing`). `--mirror off` turns the durable datastores' mirror off.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { v1 } from '@authzed/authzed-node';
import pg from 'pg';
import type { Datastore } from '../src/datastore/datastore.js';
import { openDatastore } from '../src/datastore/factory.js';
import { Pemba } from '../src/pemba.js';
import { SHARING_SCHEMA as SCHEMA, SharingModel as Dataset } from './datasets/sharing.js';
import type { BenchStorage } from './systems/storage.js';
import { DEFAULT_POSTGRES_SERVER, MIRROR_SUPPORTED, openBenchStorage, withMirror } from './systems/storage.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = pathToFileURL(resolve(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
const CLI = resolve(REPO, 'src/cli/main.ts');
const KEY = 'bench-datastores-key';
const BACKENDS = ['memory', 'sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface DatastoreBenchOptions {
  importSize: number;
  checkSize: number;
  checks: number;
  backends: Backend[];
  /** PostgreSQL server URI without a database. */
  postgres: string;
  /** The durable datastores' node-local mirror on (Pemba's default) or off. */
  mirror: boolean;
  output: string;
}

function parseCli(argv: string[]): DatastoreBenchOptions {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      'import-size': { type: 'string', default: '1000000' },
      'check-size': { type: 'string', default: '100000' },
      checks: { type: 'string', default: '3000' },
      backends: { type: 'string', default: BACKENDS.join(',') },
      postgres: { type: 'string', default: DEFAULT_POSTGRES_SERVER },
      mirror: { type: 'string', default: 'on' },
      output: { type: 'string', default: join(REPO, 'bench/results/datastores.md') },
      help: { type: 'boolean', default: false },
    },
  });
  if (args.help) {
    console.log(`node --import tsx bench/datastores.ts [--import-size N] [--check-size N] [--checks N]
    [--backends memory,sqlite,postgres] [--postgres postgres://user@host:port] [--mirror on|off] [--output FILE]`);
    process.exit(0);
  }
  const backends = args.backends!.split(',') as Backend[];
  for (const b of backends) if (!(BACKENDS as readonly string[]).includes(b)) throw new Error(`unknown backend ${b}`);
  if (args.mirror !== 'on' && args.mirror !== 'off') throw new Error('--mirror must be on or off');
  return {
    importSize: Number(args['import-size']),
    checkSize: Number(args['check-size']),
    checks: Number(args.checks),
    backends,
    postgres: args.postgres!,
    mirror: args.mirror === 'on',
    output: args.output!,
  };
}

/** `pemba serve` on the storage; resolves with its endpoint once ready. */
async function serve(storage: BenchStorage, mirror: boolean) {
  const flags = [
    '--grpc-addr',
    '127.0.0.1:0',
    '--grpc-preshared-key',
    KEY,
    '--log-format',
    'json',
    '--datastore-engine',
    storage.engine,
  ];
  if (storage.connUri) flags.push('--datastore-conn-uri', storage.connUri);
  if (!mirror && MIRROR_SUPPORTED) flags.push('--datastore-mirror-enabled', 'false');
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'serve', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes('pemba is listening'));
      if (line) resolveReady(JSON.parse(line) as Record<string, unknown>);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pemba serve exited with ${code}:\n${output}`)));
  });
  return {
    endpoint: String(ready.grpcAddr),
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

interface ImportResult {
  backend: Backend;
  relationships: number;
  seconds: number;
  perSecond: number;
  summary?: string;
}

async function cliImport(backend: Backend, file: string, o: DatastoreBenchOptions): Promise<ImportResult> {
  const storage = await openBenchStorage(backend, { postgresServer: o.postgres });
  const server = await serve(storage, o.mirror);
  try {
    const client = v1.NewClient(KEY, server.endpoint, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
    await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    client.close();
    const started = performance.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', TSX, CLI, 'import', '--endpoint', server.endpoint, '--insecure', '--token', KEY, file],
      { maxBuffer: 1 << 20 },
    );
    const seconds = (performance.now() - started) / 1000;
    const summary = stdout.trim();
    const m = /^imported (\d+) relationships in ([\d.]+) s/.exec(summary);
    if (!m) throw new Error(`unexpected output from pemba import: ${summary}`);
    const n = Number(m[1]);
    return {
      backend,
      relationships: n,
      seconds: Number(m[2]),
      perSecond: n / Number(m[2]),
      summary: `${summary} (process wall time ${seconds.toFixed(1)} s)`,
    };
  } finally {
    await server.stop();
    await storage.cleanup();
  }
}

async function libraryImport(backend: Backend, data: Dataset, o: DatastoreBenchOptions): Promise<ImportResult> {
  const storage = await openBenchStorage(backend, { postgresServer: o.postgres });
  const pemba = await Pemba.open({
    datastore: await openDatastore(
      withMirror({ engine: backend, connUri: storage.connUri, gcIntervalMs: 0 }, o.mirror),
    ),
  });
  try {
    await pemba.writeSchema(SCHEMA);
    const started = performance.now();
    const { count } = await pemba.importRelationships(data.batches());
    const seconds = (performance.now() - started) / 1000;
    return { backend, relationships: count, seconds, perSecond: count / seconds };
  } finally {
    await pemba.close();
    await storage.cleanup();
  }
}

export interface CheckResult {
  backend: Backend;
  checks: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  has: number;
  readsPerCheck: number;
}

/** A tiny seeded PRNG (mulberry32), so every backend gets the same queries. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `datastore` seen through a proxy that counts its snapshots' relationship queries. Nothing is
 * assigned to the datastore itself: it may be a proxy of another (the mirror's is), where an
 * assignment would land on the datastore inside and count (or recurse into) the mirror's own reads.
 */
function countingReads(datastore: Datastore): { datastore: Datastore; reads: number } {
  const counter = { datastore, reads: 0 };
  const snapshot: Datastore['snapshot'] = (revision, options) => {
    const s = datastore.snapshot(revision, options);
    const queryRelationships: typeof s.queryRelationships = (q, o) => {
      counter.reads++;
      return s.queryRelationships(q, o);
    };
    return forwarding(s, { queryRelationships });
  };
  counter.datastore = forwarding(datastore, { snapshot });
  return counter;
}

/** A proxy of `target` with `overrides`; every other method is the target's, called on the target. */
function forwarding<T extends object>(target: T, overrides: Partial<T>): T {
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, key) {
      if (key in overrides) return overrides[key as keyof T];
      const v: unknown = Reflect.get(t, key, t);
      if (typeof v !== 'function') return v;
      if (!bound.has(key)) bound.set(key, (v as (...a: unknown[]) => unknown).bind(t));
      return bound.get(key);
    },
  });
}

async function checkLatency(
  backend: Backend,
  data: Dataset,
  checkCount: number,
  options: { postgres: string; mirror: boolean },
): Promise<CheckResult> {
  const storage = await openBenchStorage(backend, { postgresServer: options.postgres });
  const quantizationMs = 1000;
  const datastore = await openDatastore(
    withMirror({ engine: backend, connUri: storage.connUri, gcIntervalMs: 0, quantizationMs }, options.mirror),
  ).catch(async (e: unknown) => {
    await storage.cleanup();
    throw e;
  });
  // Count relationship queries (to the datastore's snapshots, whatever answers them there): on
  // PostgreSQL without a node-local copy each is a round trip, which is most of a Check's time.
  const counter = countingReads(datastore);
  const pemba = await Pemba.open({ datastore: counter.datastore });
  try {
    await pemba.writeSchema(SCHEMA);
    await pemba.importRelationships(data.batches());
    // minimize_latency reads the revision current at the start of the quantization window: let the load be in it.
    await new Promise((r) => setTimeout(r, 2 * quantizationMs + 100));
    const random = rng(42);
    const int = (n: number) => Math.floor(random() * n);
    const run = async () => {
      const d = int(data.documents);
      const pick = random();
      const u = pick < 0.25 ? data.owner(d) : pick < 0.5 ? data.viewer(d) : int(data.users);
      const r = await pemba.check({
        resource: { type: 'document', id: `d${d}` },
        permission: 'view',
        subject: { type: 'user', id: `u${u}`, relation: '...' },
      });
      return r.permissionship === 'HAS_PERMISSION';
    };
    for (let i = 0; i < 200; i++) await run(); // warm-up
    const ms: number[] = [];
    let has = 0;
    counter.reads = 0;
    for (let i = 0; i < checkCount; i++) {
      const t = performance.now();
      if (await run()) has++;
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    const at = (p: number) => ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)];
    return {
      backend,
      checks: ms.length,
      p50: at(50),
      p95: at(95),
      p99: at(99),
      mean: ms.reduce((a, b) => a + b, 0) / ms.length,
      has: has / ms.length,
      readsPerCheck: counter.reads / ms.length,
    };
  } finally {
    await pemba.close();
    await storage.cleanup();
  }
}

export interface DatastoreChecks {
  /** Relationships in the dataset. */
  size: number;
  documents: number;
  checks: CheckResult[];
  mirror: boolean;
}

/**
 * The Check table alone (no import): `checks` sequential Pemba.check calls in this process on
 * `checkSize` relationships, per backend, each on fresh storage (dropped after). Called by
 * `npm run bench` for issue 14's targets.
 */
export async function measureDatastoreChecks(options: {
  backends?: Backend[];
  checkSize: number;
  checks: number;
  postgres?: string;
  mirror?: boolean;
  log?: (line: string) => void;
}): Promise<DatastoreChecks> {
  const log = options.log ?? ((line: string) => console.error(line));
  const small = new Dataset(options.checkSize);
  for (const _ of small.lines()); // sets small.documents
  const checks: CheckResult[] = [];
  const mirror = options.mirror ?? true;
  for (const b of options.backends ?? BACKENDS) {
    log(`${b}: ${options.checks} checks on ${options.checkSize} relationships…`);
    checks.push(
      await checkLatency(b, small, options.checks, { postgres: options.postgres ?? DEFAULT_POSTGRES_SERVER, mirror }),
    );
    const c = checks.at(-1)!;
    log(
      `  p50 ${c.p50.toFixed(3)} ms, p99 ${c.p99.toFixed(3)} ms, ${c.readsPerCheck.toFixed(1)} relationship queries per Check`,
    );
  }
  return { size: options.checkSize, documents: small.documents, checks, mirror };
}

async function main(o: DatastoreBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pemba-bench-datastores-'));
  const started = new Date();
  const load = loadavg();
  try {
    const big = new Dataset(o.importSize);
    const file = join(dir, 'relationships.txt');
    const out = createWriteStream(file);
    for (const line of big.lines()) if (!out.write(`${line}\n`)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    console.error(`dataset: ${o.importSize} relationships (${big.documents} documents) in ${file}`);

    const cli: ImportResult[] = [];
    const lib: ImportResult[] = [];
    for (const b of o.backends) {
      console.error(`${b}: pemba import…`);
      cli.push(await cliImport(b, file, o));
      console.error(`  ${cli.at(-1)!.summary}`);
      console.error(`${b}: Pemba.importRelationships…`);
      lib.push(await libraryImport(b, new Dataset(o.importSize), o));
      console.error(`  ${Math.round(lib.at(-1)!.perSecond)}/s`);
    }
    const small = new Dataset(o.checkSize);
    const { checks } = await measureDatastoreChecks({ ...o, backends: o.backends });
    for (const _ of small.lines()); // sets small.documents
    const pgVersion = o.backends.includes('postgres') ? await postgresVersion(o.postgres) : undefined;
    const md = report({ started, load, cli, lib, checks, small, pgVersion, options: o });
    mkdirSync(dirname(o.output), { recursive: true });
    writeFileSync(o.output, md);
    console.error(`wrote ${o.output}`);
    console.log(md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresVersion(server: string): Promise<string> {
  const c = new pg.Client({ connectionString: `${server}/postgres` });
  await c.connect();
  const { rows } = await c.query<{ server_version: string }>('SHOW server_version');
  await c.end();
  return rows[0].server_version;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** Three significant figures: the run-to-run noise is larger than that. */
const sig3 = (n: number) => fmt(Number(n.toPrecision(3)));
const ms = (n: number) => (n < 1 ? n.toFixed(3) : n.toFixed(2));

function report(r: {
  started: Date;
  load: number[];
  cli: ImportResult[];
  lib: ImportResult[];
  checks: CheckResult[];
  small: Dataset;
  pgVersion?: string;
  options: DatastoreBenchOptions;
}): string {
  const { importSize, checkSize } = r.options;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# Datastore backends: bulk import and Check latency',
    '',
    `Run ${r.started.toISOString()} by \`node --import tsx bench/datastores.ts\` on ${cpus().length} × ${cpu}, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}${r.pgVersion ? `, PostgreSQL ${r.pgVersion} (local, default settings)` : ''}; ` +
      `load average at start ${r.load.map((x) => x.toFixed(2)).join(' / ')}` +
      (MIRROR_SUPPORTED ? `; datastore mirror ${r.options.mirror ? 'on' : 'off'}.` : '.'),
    '',
    `## Bulk import of ${fmt(importSize)} relationships`,
    '',
    '| Backend | `pemba import` (CLI → `pemba serve`) | rel/s | Pemba.importRelationships (in process) | rel/s |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...r.cli.map((c, i) => {
      const l = r.lib[i];
      return `| ${c.backend} | ${c.seconds.toFixed(1)} s | ${sig3(c.perSecond)} | ${l.seconds.toFixed(1)} s | ${sig3(l.perSecond)} |`;
    }),
    '',
    "`pemba import`: the CLI's own summary (its whole run: fetching the schema, checking every line of the",
    'text file, then streaming it in ImportBulkRelationships messages of 1,000; one transaction on the',
    'server). In process: parsed relationships in batches of 1,000, one transaction, no gRPC.',
    '',
    `## Check latency on ${fmt(checkSize)} relationships`,
    '',
    `${fmt(r.checks[0]?.checks ?? 0)} sequential Pemba.check calls in process (minimize_latency), \`document#view\` =`,
    '`(viewer + owner + parent->view) - banned` over a folder tree and nested groups; random documents,',
    `half of the users the document's owner or viewer (${r.checks[0] ? (r.checks[0].has * 100).toFixed(0) : '?'}% of answers HAS_PERMISSION).`,
    '',
    '| Backend | p50 | p95 | p99 | mean | relationship queries per Check |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...r.checks.map(
      (c) =>
        `| ${c.backend} | ${ms(c.p50)} ms | ${ms(c.p95)} ms | ${ms(c.p99)} ms | ${ms(c.mean)} ms | ${c.readsPerCheck.toFixed(1)} |`,
    ),
    '',
    `Dataset (both sizes): ${fmt(r.small.users)} users at ${fmt(r.small.size)} relationships (one per 10 relationships), groups of 20`,
    'users nested in chains of 5, a 4-ary folder tree each folder shared with a group, documents with a',
    'folder, an owner and a viewer, every third a viewer group, every twentieth a banned user.',
    '',
  ];
  return lines.join('\n');
}

// Run as a script (not when imported by run.ts).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(parseCli(process.argv.slice(2)));
}
