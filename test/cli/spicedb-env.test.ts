/**
 * SpiceDB's environment variables (SPICEDB_<FLAG>) for every `pemba serve` and `pemba datastore`
 * flag, beside Pemba's own (PEMBA_<FLAG>, which wins): in-process through commander, and end to end.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { registerDatastore } from '../../src/cli/datastore.js';
import { applySpicedbEnv, spicedbEnvOf, withSpicedbEnv } from '../../src/cli/env.js';
import { registerServe } from '../../src/cli/serve.js';
import { SERVE_FLAGS, spicedbEnvName } from '../../src/server/config.js';
import { grpcError, SCHEMA } from '../server/harness.js';
import { killAll, pembaArgs, REPO, serveProcess } from '../server/serve-process.js';

afterEach(killAll);
const dir = mkdtempSync(join(tmpdir(), 'pemba-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A command with three options read from PEMBA_ZZTEST_*, parsed with `env` as the environment. */
async function parse(args: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    let seen: Record<string, unknown> = {};
    const command = new Command('t')
      .exitOverride()
      .addOption(new Option('--zztest-key <key>').env('PEMBA_ZZTEST_KEY'))
      .addOption(new Option('--zztest-window <d>').env('PEMBA_ZZTEST_WINDOW').default('24h'))
      .addOption(new Option('--zztest-flag [bool]').env('PEMBA_ZZTEST_FLAG').preset('true').default('false'))
      .addOption(
        new Option('--zztest-list <v>')
          .env('PEMBA_ZZTEST_LIST')
          .argParser((v: string, prev: unknown) => [...(Array.isArray(prev) ? prev : []), v]),
      )
      .action((opts: Record<string, unknown>) => {
        seen = opts;
      });
    withSpicedbEnv(command);
    await command.parseAsync(args, { from: 'user' });
    return seen;
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe('SPICEDB_ environment variables', () => {
  it('fill what neither the command line nor PEMBA_ set', async () => {
    expect(
      await parse([], {
        SPICEDB_ZZTEST_KEY: 'from-spicedb',
        SPICEDB_ZZTEST_WINDOW: '1d',
        SPICEDB_ZZTEST_FLAG: 'true',
        SPICEDB_ZZTEST_LIST: 'a,b',
      }),
    ).toEqual({ zztestKey: 'from-spicedb', zztestWindow: '1d', zztestFlag: 'true', zztestList: ['a,b'] });
  });

  it('lose to PEMBA_ (even an empty one) and to the command line', async () => {
    expect(await parse([], { PEMBA_ZZTEST_KEY: 'pemba', SPICEDB_ZZTEST_KEY: 'spicedb' })).toMatchObject({
      zztestKey: 'pemba',
    });
    expect(await parse([], { PEMBA_ZZTEST_KEY: '', SPICEDB_ZZTEST_KEY: 'spicedb' })).toMatchObject({
      zztestKey: '',
    });
    expect(
      await parse(['--zztest-key', 'cli', '--zztest-window', '90m'], {
        PEMBA_ZZTEST_KEY: 'pemba',
        SPICEDB_ZZTEST_KEY: 'spicedb',
        SPICEDB_ZZTEST_WINDOW: '1d',
      }),
    ).toMatchObject({ zztestKey: 'cli', zztestWindow: '90m' });
    expect(await parse([], {})).toEqual({ zztestWindow: '24h', zztestFlag: 'false' });
  });

  it('apply to options given their PEMBA_ variable only', () => {
    const command = new Command('t').addOption(new Option('--other <v>').env('OTHER_VAR'));
    applySpicedbEnv(command, { SPICEDB_OTHER_VAR: 'x' });
    expect(command.opts()).toEqual({});
  });

  it('cover every serve and datastore flag', () => {
    const program = new Command();
    const serve = registerServe(program);
    for (const flag of SERVE_FLAGS) {
      const option = serve.options.find((o) => o.long === `--${flag.name}`);
      expect(option && spicedbEnvOf(option), flag.name).toBe(spicedbEnvName(flag.name));
    }
    const datastore = registerDatastore(program);
    expect(datastore.commands.map((c) => c.name())).toEqual(['migrate', 'head', 'gc', 'repair']);
    for (const sub of datastore.commands) {
      for (const option of sub.options) expect(spicedbEnvOf(option)).toMatch(/^SPICEDB_DATASTORE_/);
    }
  });
});

describe('pemba serve with SpiceDB’s environment', () => {
  it('starts from SPICEDB_ variables alone', async () => {
    const s = await serveProcess([], {
      env: {
        SPICEDB_GRPC_PRESHARED_KEY: 'spicedb-key',
        SPICEDB_DATASTORE_ENGINE: 'memory',
        SPICEDB_DATASTORE_GC_WINDOW: '1d',
        SPICEDB_DATASTORE_READONLY: 'false',
      },
    });
    expect(s.ready).toMatchObject({ datastoreEngine: 'memory', datastoreReadOnly: false });
    const written = await s
      .client('spicedb-key')
      .promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    expect(written.writtenAt?.token).toBeTruthy();
  }, 60_000);

  it('prefers PEMBA_ when both are set', async () => {
    const s = await serveProcess([], {
      env: {
        PEMBA_GRPC_PRESHARED_KEY: 'pemba-key',
        SPICEDB_GRPC_PRESHARED_KEY: 'spicedb-key',
        PEMBA_DATASTORE_ENGINE: 'memory',
        SPICEDB_DATASTORE_ENGINE: 'postgres', // would fail the start without a URI
        SPICEDB_DATASTORE_READONLY: 'true',
      },
    });
    expect(s.ready).toMatchObject({ datastoreEngine: 'memory', datastoreReadOnly: true });
    const refused = await grpcError(s.client('spicedb-key').promises.readSchema(v1.ReadSchemaRequest.create({})));
    expect(refused.code).toBe(grpc.status.UNAUTHENTICATED);
    // The key PEMBA_ named is the one accepted; SPICEDB_DATASTORE_READONLY, set alone, applies.
    const readOnly = await grpcError(
      s.client('pemba-key').promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA })),
    );
    expect(readOnly).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'service read-only' });
  }, 60_000);
});

describe('pemba datastore with SpiceDB’s environment', () => {
  it('reads SPICEDB_DATASTORE_ENGINE and SPICEDB_DATASTORE_CONN_URI', async () => {
    const path = join(dir, 'env.db');
    const run = async (args: string[], env: Record<string, string>) => {
      const child = spawn(process.execPath, pembaArgs(['datastore', ...args]), {
        cwd: REPO,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      return { code, out };
    };
    const env = { SPICEDB_DATASTORE_ENGINE: 'sqlite', SPICEDB_DATASTORE_CONN_URI: path };
    expect(await run(['migrate'], env)).toMatchObject({ code: 0, out: expect.stringContaining('sqlite datastore') });
    const gc = await run(['gc', '--datastore-gc-window', '1d'], env);
    expect(gc).toMatchObject({ code: 0, out: expect.stringContaining('garbage collection completed') });
    const head = await run(['head'], { SPICEDB_DATASTORE_ENGINE: 'postgres' });
    expect(head).toEqual({ code: 0, out: expect.stringMatching(/^\d+\n$/) });
  }, 60_000);
});
