/**
 * The package as a user gets it: `npm pack` (which runs `prepare`, the build), installed into a
 * scratch project, then a small TypeScript program of the user's, type-checked against the package's
 * declarations and run by a plain `node`, imports `pemba`, `pemba/sqlite` and `pemba/postgres` and uses
 * each (memory, a SQLite file reopened, a throwaway PostgreSQL database), and the `pemba` bin runs.
 *
 * Offline and fast: the package is packed from a copy of the sources (so the build neither sees
 * nor touches this checkout's dist/), and the scratch project is installed by `npm ci --offline
 * --ignore-scripts` from a lock file derived from this repository's (its production entries, whose
 * tarballs `npm ci` left in npm's cache). better-sqlite3's install script would download or compile
 * its native addon, so the addon this checkout built is copied in instead: same version, same machine.
 * Needs PostgreSQL on 127.0.0.1:5432 (or PEMBA_TEST_POSTGRES), as the datastore tests do.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isChosen, notChosenNote } from '../datastore/chosen-backends.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER = process.env.PEMBA_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432';
const run = promisify(execFile);

interface LockEntry {
  version?: string;
  resolved?: string;
  dev?: boolean;
  link?: boolean;
  name?: string;
}

interface PackageJson {
  name: string;
  version: string;
  license?: string;
  dependencies?: Record<string, string>;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
}

/** The environment for child commands, without what an enclosing `npm test` exported for its own project. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.has(k.toLowerCase())),
  );
  delete env.INIT_CWD;
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

async function sh(cmd: string, args: string[], cwd: string, env = childEnv()): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    const output = `${err.stdout ?? ''}\n${err.stderr ?? ''}`;
    throw new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} failed: ${err.message}\n${output}`);
  }
}

/** A copy of what the package is built from, with this checkout's node_modules for the build tools. */
function stage(dir: string): void {
  mkdirSync(dir);
  const files = ['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json'];
  for (const f of files) {
    if (existsSync(join(REPO, f))) copyFileSync(join(REPO, f), join(dir, f));
  }
  cpSync(join(REPO, 'src'), join(dir, 'src'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
}

/**
 * The scratch project's package.json and lock file: pemba from the tarball, and this repository's
 * locked production packages, each with its registry URL (npm finds the tarball in its cache by
 * the integrity hash).
 */
async function writeScratchProject(dir: string, tarball: string, pkg: PackageJson): Promise<void> {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const registry = (await sh('npm', ['config', 'get', 'registry'], dir)).trim().replace(/\/$/, '');
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'scratch', dependencies: { [pkg.name]: spec } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: spec,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || entry.dev || entry.link) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = entry.resolved ?? `${registry}/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
    packages[path] = { ...entry, resolved };
  }
  const manifest = { name: 'scratch', private: true, type: 'module', dependencies: { [pkg.name]: spec } };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  const lockfile = { name: 'scratch', lockfileVersion: 3, requires: true, packages };
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lockfile, null, 2));
}

/** The user's program: each public entry point, used as the README shows. */
const USER_PROGRAM = `
import { join } from 'node:path';
import { Pemba, PembaError, openMemoryDatastore, parseRelationship } from 'pemba';
import type { CheckRequest, Datastore, Permissionship } from 'pemba';
import { openSqliteDatastore } from 'pemba/sqlite';
import type { SqliteDatastoreOptions } from 'pemba/sqlite';
import { migratePostgresDatastore, openPostgresDatastore } from 'pemba/postgres';
import type { PostgresDatastoreOptions } from 'pemba/postgres';

const SCHEMA = \`definition user {}
definition document {
  relation reader: user
  permission read = reader
}\`;
const results: Record<string, unknown> = {};

async function check(pemba: Pemba, id: string): Promise<Permissionship> {
  const request: CheckRequest = {
    resource: { type: 'document', id: 'readme' }, permission: 'read', subject: { type: 'user', id, relation: '...' },
    consistency: { mode: 'fully_consistent' },
  };
  return (await pemba.check(request)).permissionship;
}

/** Writes the schema and alice's relationship, then checks alice and bob. */
async function session(pemba: Pemba): Promise<Permissionship[]> {
  await pemba.writeSchema(SCHEMA);
  await pemba.writeRelationships({
    updates: [{ operation: 'TOUCH', relationship: parseRelationship('document:readme#reader@user:alice') }],
  });
  return [await check(pemba, 'alice'), await check(pemba, 'bob')];
}

/** A session, then the datastore closed, reopened and checked again. */
async function roundTrip(open: () => Datastore | Promise<Datastore>): Promise<Permissionship[]> {
  const first = await Pemba.open({ datastore: await open() });
  const answers = await session(first);
  await first.close();
  const second = await Pemba.open({ datastore: await open() });
  answers.push(await check(second, 'alice'), await check(second, 'bob'));
  await second.close();
  return answers;
}

const memory = await Pemba.open({ datastore: openMemoryDatastore() });
results.memory = await session(memory);
try {
  await memory.writeSchema('definition user {');
} catch (e) {
  results.memoryBadSchema = e instanceof PembaError ? e.code : String(e);
}
await memory.close();

const sqliteOptions: SqliteDatastoreOptions = { gcIntervalMs: 0 };
const file = join(process.cwd(), 'pemba.db');
results.sqlite = await roundTrip(() => openSqliteDatastore(file, sqliteOptions));

const uri = process.env.PEMBA_PACK_POSTGRES_URI;
if (uri) {
  const postgresOptions: PostgresDatastoreOptions = { gcIntervalMs: 0, maxConnections: 2 };
  const migrated = await migratePostgresDatastore(uri);
  results.postgresMigration = { from: migrated.from, to: migrated.to };
  results.postgres = await roundTrip(() => openPostgresDatastore(uri, postgresOptions));
}

const deep: string = 'pemba/dist/pemba.js';
results.deepImport = await import(deep).then(() => 'allowed', (e: { code?: string }) => e.code);

console.log(JSON.stringify(results));
`;

const VALIDATION_FILE = `schema: |-
  definition user {}
  definition document {
    relation reader: user
    permission read = reader
  }
relationships: |-
  document:readme#reader@user:alice
assertions:
  assertTrue:
    - document:readme#read@user:alice
  assertFalse:
    - document:readme#read@user:bob
`;

/** PostgreSQL's part runs when postgres is among PEMBA_TEST_BACKENDS (the default). */
const withPostgres = isChosen('postgres');

describe('the packed package, installed in a scratch project', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pemba-pack-'));
  const app = join(tmp, 'app');
  const database = `pemba_pack_${randomBytes(6).toString('hex')}`;
  let packedFiles: string[] = [];
  let pkg: PackageJson;

  beforeAll(async () => {
    const stageDir = join(tmp, 'stage');
    stage(stageDir);
    pkg = JSON.parse(readFileSync(join(stageDir, 'package.json'), 'utf8')) as PackageJson;
    const packed = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', tmp], stageDir)) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    packedFiles = packed[0].files.map((f) => f.path);

    mkdirSync(app);
    const tarball = join(tmp, packed[0].filename);
    await writeScratchProject(app, tarball, pkg);
    const install = ['ci', '--ignore-scripts', '--no-audit', '--no-fund'];
    // Offline first; if npm's cache lacks a tarball (node_modules restored without it), the registry may have it.
    await sh('npm', [...install, '--offline'], app).catch(() => sh('npm', [...install, '--prefer-offline'], app));
    const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
    mkdirSync(dirname(join(app, addon)), { recursive: true });
    copyFileSync(join(REPO, addon), join(app, addon));

    if (!withPostgres) return;
    const server = new pg.Client({ connectionString: `${SERVER}/postgres`, connectionTimeoutMillis: 5000 });
    await server.connect();
    try {
      await server.query(`CREATE DATABASE ${database}`);
    } finally {
      await server.end();
    }
  }, 300_000);

  afterAll(async () => {
    if (!withPostgres) return rmSync(tmp, { recursive: true, force: true });
    const server = new pg.Client({ connectionString: `${SERVER}/postgres`, connectionTimeoutMillis: 5000 });
    try {
      await server.connect();
      await server.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    } finally {
      await server.end();
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('holds the built entry points and declarations, not the sources or tests', () => {
    const expected = [
      'package.json',
      'README.md',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/sqlite.js',
      'dist/sqlite.d.ts',
      'dist/postgres.js',
      'dist/postgres.d.ts',
      'dist/cli/main.js',
    ];
    for (const f of expected) {
      expect(packedFiles, f).toContain(f);
    }
    const others = packedFiles.filter((f) => !f.startsWith('dist/') && !/^(package\.json|README\.md|LICENSE)$/.test(f));
    expect(others).toEqual([]);
  });

  const runs = `type-checks a user's program against pemba, pemba/sqlite and pemba/postgres, and runs it`;
  it(
    withPostgres ? runs : `${runs} ${notChosenNote('postgres')}: postgres part left out`,
    async () => {
      writeFileSync(join(app, 'user.ts'), USER_PROGRAM);
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: false,
            outDir: 'out',
            rootDir: '.',
            types: ['node'],
          },
          files: ['user.ts'],
        }),
      );
      await sh(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
      const uri = `${SERVER}/${database}`;
      const env = childEnv(withPostgres ? { PEMBA_PACK_POSTGRES_URI: uri } : {});
      const stdout = await sh(process.execPath, ['out/user.js'], app, env);
      const results = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      const twice = ['HAS_PERMISSION', 'NO_PERMISSION', 'HAS_PERMISSION', 'NO_PERMISSION'];
      expect(results.memory).toEqual(twice.slice(0, 2));
      expect(results.memoryBadSchema).toBe('INVALID_ARGUMENT');
      expect(results.sqlite).toEqual(twice);
      if (withPostgres) {
        expect(results.postgresMigration).toMatchObject({ from: 0 });
        expect(results.postgres).toEqual(twice);
      }
      expect(results.deepImport).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    },
    120_000,
  );

  it('installs the pemba command', async () => {
    const bin = join(app, 'node_modules/.bin/pemba');
    expect((await sh(bin, ['--version'], app)).trim()).toBe(pkg.version);
    expect(await sh(bin, ['--help'], app)).toMatch(/serve[\s\S]*validate|validate[\s\S]*serve/);
    writeFileSync(join(app, 'readme.yaml'), VALIDATION_FILE);
    await sh(bin, ['validate', 'readme.yaml'], app);
  }, 60_000);
});
