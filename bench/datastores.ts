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
import { migrateDatastore, openDatastore } from '../src/datastore/factory.js';
import { Pemba } from '../src/pemba.js';
import { parseRelationship } from '../src/relationships/relationship-string.js';
import type { Relationship } from '../src/relationships/relationship.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = pathToFileURL(resolve(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
const CLI = resolve(REPO, 'src/cli/main.ts');
const KEY = 'bench-datastores-key';
const BACKENDS = ['memory', 'sqlite', 'postgres'] as const;
type Backend = (typeof BACKENDS)[number];

const { values: args } = parseArgs({
  options: {
    'import-size': { type: 'string', default: '1000000' },
    'check-size': { type: 'string', default: '100000' },
    checks: { type: 'string', default: '3000' },
    backends: { type: 'string', default: BACKENDS.join(',') },
    postgres: { type: 'string', default: process.env.PEMBA_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432' },
    output: { type: 'string', default: join(REPO, 'bench/results/datastores.md') },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`node --import tsx bench/datastores.ts [--import-size N] [--check-size N] [--checks N]
    [--backends memory,sqlite,postgres] [--postgres postgres://user@host:port] [--output FILE]`);
  process.exit(0);
}
const importSize = Number(args['import-size']);
const checkSize = Number(args['check-size']);
const checkCount = Number(args.checks);
const backends = args.backends!.split(',') as Backend[];
for (const b of backends) if (!(BACKENDS as readonly string[]).includes(b)) throw new Error(`unknown backend ${b}`);

const SCHEMA = `definition user {}

definition group {
  relation member: user | group#member
}

definition folder {
  relation parent: folder
  relation viewer: user | group#member
  permission view = viewer + parent->view
}

definition document {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member
  relation banned: user
  permission view = (viewer + owner + parent->view) - banned
}`;

/**
 * A document-sharing dataset of exactly `n` distinct relationships: groups of 20 users (nested in
 * chains of 5), a 4-ary folder tree each shared with a group, and documents with a folder, an owner,
 * a viewer, every third a viewer group and every twentieth a banned user.
 */
class Dataset {
  readonly users: number;
  readonly groups: number;
  readonly folders: number;
  documents = 0;

  constructor(readonly size: number) {
    this.users = Math.max(100, Math.floor(size / 10));
    this.groups = Math.max(10, Math.floor(size / 500));
    this.folders = Math.max(10, Math.floor(size / 50));
  }

  owner = (d: number) => (d * 7919) % this.users;
  viewer = (d: number) => (d * 104_729 + 13) % this.users;

  /** Exactly `size` lines (the documents go on until then). */
  *lines(): Generator<string> {
    let n = 0;
    if (this.size <= 0) return;
    for (const line of this.all()) {
      yield line;
      if (++n === this.size) return;
    }
  }

  private *all(): Generator<string> {
    for (let g = 0; g < this.groups; g++) {
      for (let k = 0; k < 20; k++) yield `group:g${g}#member@user:u${(g * 20 + k) % this.users}`;
      if (g % 5 !== 4 && g + 1 < this.groups) yield `group:g${g}#member@group:g${g + 1}#member`;
    }
    for (let f = 0; f < this.folders; f++) {
      if (f > 0) yield `folder:f${f}#parent@folder:f${Math.floor((f - 1) / 4)}`;
      yield `folder:f${f}#viewer@group:g${f % this.groups}#member`;
    }
    for (let d = 0; ; d++) {
      this.documents = d + 1;
      yield `document:d${d}#parent@folder:f${d % this.folders}`;
      yield `document:d${d}#owner@user:u${this.owner(d)}`;
      yield `document:d${d}#viewer@user:u${this.viewer(d)}`;
      if (d % 3 === 0) yield `document:d${d}#viewer@group:g${(d * 31) % this.groups}#member`;
      if (d % 20 === 0) yield `document:d${d}#banned@user:u${(d * 17 + 5) % this.users}`;
    }
  }

  *batches(size = 1000): Generator<Relationship[]> {
    let batch: Relationship[] = [];
    for (const line of this.lines()) {
      batch.push(parseRelationship(line));
      if (batch.length === size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }
}

/** A throwaway PostgreSQL database, migrated; dropped by the returned cleanup. */
async function throwawayPostgres(): Promise<{ uri: string; drop(): Promise<void> }> {
  const name = `pemba_bench_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: `${args.postgres}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const uri = `${args.postgres}/${name}`;
  await migrateDatastore({ engine: 'postgres', connUri: uri });
  return {
    uri,
    async drop() {
      const c = new pg.Client({ connectionString: `${args.postgres}/postgres` });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

interface Storage {
  engine: Backend;
  uri?: string;
  cleanup(): Promise<void>;
}

async function freshStorage(backend: Backend, dir: string, label: string): Promise<Storage> {
  if (backend === 'memory') return { engine: backend, cleanup: async () => undefined };
  if (backend === 'sqlite') {
    const path = join(dir, `${label}.db`);
    return {
      engine: backend,
      uri: path,
      cleanup: async () => {
        for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
      },
    };
  }
  const db = await throwawayPostgres();
  return { engine: backend, uri: db.uri, cleanup: () => db.drop() };
}

/** `pemba serve` on the storage; resolves with its endpoint once ready. */
async function serve(storage: Storage) {
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
  if (storage.uri) flags.push('--datastore-conn-uri', storage.uri);
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

async function cliImport(backend: Backend, file: string, dir: string): Promise<ImportResult> {
  const storage = await freshStorage(backend, dir, 'cli-import');
  const server = await serve(storage);
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

async function libraryImport(backend: Backend, data: Dataset, dir: string): Promise<ImportResult> {
  const storage = await freshStorage(backend, dir, 'lib-import');
  const pemba = await Pemba.open({
    datastore: await openDatastore({ engine: backend, connUri: storage.uri, gcIntervalMs: 0 }),
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

interface CheckResult {
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

async function checkLatency(backend: Backend, data: Dataset, dir: string): Promise<CheckResult> {
  const storage = await freshStorage(backend, dir, 'checks');
  const quantizationMs = 1000;
  const datastore = await openDatastore({ engine: backend, connUri: storage.uri, gcIntervalMs: 0, quantizationMs });
  // Count relationship queries: on PostgreSQL each is a round trip, which is most of a Check's time.
  let reads = 0;
  const snapshot = datastore.snapshot.bind(datastore);
  datastore.snapshot = (revision) => {
    const s = snapshot(revision);
    return {
      ...s,
      queryRelationships: (q, o) => {
        reads++;
        return s.queryRelationships(q, o);
      },
    };
  };
  const pemba = await Pemba.open({ datastore });
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
    reads = 0;
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
      readsPerCheck: reads / ms.length,
    };
  } finally {
    await pemba.close();
    await storage.cleanup();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pemba-bench-datastores-'));
  const started = new Date();
  const load = loadavg();
  try {
    const big = new Dataset(importSize);
    const file = join(dir, 'relationships.txt');
    const out = createWriteStream(file);
    for (const line of big.lines()) if (!out.write(`${line}\n`)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    console.error(`dataset: ${importSize} relationships (${big.documents} documents) in ${file}`);

    const cli: ImportResult[] = [];
    const lib: ImportResult[] = [];
    const checks: CheckResult[] = [];
    for (const b of backends) {
      console.error(`${b}: pemba import…`);
      cli.push(await cliImport(b, file, dir));
      console.error(`  ${cli.at(-1)!.summary}`);
      console.error(`${b}: Pemba.importRelationships…`);
      lib.push(await libraryImport(b, new Dataset(importSize), dir));
      console.error(`  ${Math.round(lib.at(-1)!.perSecond)}/s`);
    }
    const small = new Dataset(checkSize);
    for (const _ of small.lines()); // sets small.documents
    for (const b of backends) {
      console.error(`${b}: ${checkCount} checks on ${checkSize} relationships…`);
      checks.push(await checkLatency(b, small, dir));
      const c = checks.at(-1)!;
      console.error(`  p50 ${c.p50.toFixed(3)} ms, p95 ${c.p95.toFixed(3)} ms`);
    }
    const pgVersion = backends.includes('postgres') ? await postgresVersion() : undefined;
    const md = report({ started, load, cli, lib, checks, small, pgVersion });
    mkdirSync(dirname(args.output!), { recursive: true });
    writeFileSync(args.output!, md);
    console.error(`wrote ${args.output}`);
    console.log(md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresVersion(): Promise<string> {
  const c = new pg.Client({ connectionString: `${args.postgres}/postgres` });
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
}): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# Datastore backends: bulk import and Check latency',
    '',
    `Run ${r.started.toISOString()} by \`node --import tsx bench/datastores.ts\` on ${cpus().length} × ${cpu}, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}${r.pgVersion ? `, PostgreSQL ${r.pgVersion} (local, default settings)` : ''}; ` +
      `load average at start ${r.load.map((x) => x.toFixed(2)).join(' / ')}.`,
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

await main();
